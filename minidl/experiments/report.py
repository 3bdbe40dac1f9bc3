"""report.md of a reproduction: what was run, what came out, and whether the paper's finding holds here.

Every ``minidl reproduce NAME`` run ends with :func:`write_report`, which writes report.md into the run's
folder (atomically, through RunFolder, and last, after the figures and tables it links to, so an
interrupted run leaves no report that points at missing files). The report has a title, the paper and
the sections reproduced, the settings, one or more tables, the figures, and the section
"Does the paper's finding hold here?" with one line per claim: holds, does not hold or inconclusive,
with the numbers measured here.
"""
import math
import os
from dataclasses import dataclass

import numpy

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
FINDINGS_HEADING = "## Does the paper's finding hold here?"


@dataclass(frozen=True)
class Claim:
    """One finding of the paper and what this run says about it.

    statement: what the paper found, in a sentence; verdict: one of VERDICTS; evidence: the numbers
    measured here that decide the verdict.
    """
    statement: str
    verdict: str
    evidence: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"Claim: verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def as_dict(self):
        return {"statement": self.statement, "verdict": self.verdict, "evidence": self.evidence}


def judge(margin, tolerance=0.0):
    """The verdict on a claim measured as a signed margin (positive where the paper's finding holds).

    holds when margin > tolerance, does not hold when margin < -tolerance, inconclusive in between or
    when either is NaN (for example a tolerance from a single seed's spread, which is undefined).
    """
    margin, tolerance = float(margin), float(tolerance)
    if math.isnan(margin) or math.isnan(tolerance):
        return INCONCLUSIVE
    if margin > tolerance:
        return HOLDS
    if margin < -tolerance:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def standard_error(values):
    """std(values, ddof=1) / sqrt(n), the standard error of their mean; NaN for fewer than two values.

    Differences paired by seed (the same initialization and data order with and without a change) give
    the noise level against which their mean is judged: ``judge(mean, 2 * standard_error(d))``.
    """
    values = numpy.asarray(values, dtype=numpy.float64)
    if values.size < 2:
        return math.nan
    return float(values.std(ddof=1) / math.sqrt(values.size))


def describe_noise(noise, digits=3):
    """A noise level as text: its value, or why there is none (a spread needs two seeds)."""
    return "undefined with one seed" if math.isnan(noise) else f"{noise:.{digits}g}"


def cell(value, digits=4):
    """A value as table text: floats with ``digits`` significant digits, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, (bool, numpy.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, numpy.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows, columns=None, digits=4):
    """A Markdown table of a list of dicts; columns default to the union of their keys, in order."""
    if not rows:
        raise ValueError("markdown_table: got no rows")
    columns = list(dict.fromkeys(key for row in rows for key in row)) if columns is None else list(columns)
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c), digits) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def render(title, paper, settings, tables, figures, claims, notes=()):
    """The text of report.md (see :func:`write_report` for the arguments)."""
    if not claims:
        raise ValueError("render: a report needs at least one claim to judge")
    lines = [f"# {title}", "", f"Reproduces: {paper}", "", "## Settings", ""]
    lines += [f"- {key}: {cell(value)}" for key, value in settings.items()]
    lines += ["", "## Results", ""]
    for caption, rows in tables:
        lines += [caption, "", markdown_table(rows), ""]
    if figures:
        lines += ["## Figures", ""]
        for name, caption in figures:
            lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    counts = {verdict: sum(c.verdict == verdict for c in claims) for verdict in VERDICTS}
    lines += [FINDINGS_HEADING, "",
              f"{counts[HOLDS]} of {len(claims)} hold, {counts[DOES_NOT_HOLD]} do not, "
              f"{counts[INCONCLUSIVE]} inconclusive.", ""]
    lines += [f"- **{c.verdict}**: {c.statement} Here: {c.evidence}" for c in claims]
    if notes:
        lines += ["", "## How this run differs from the paper", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write_report(folder, title, paper, settings, tables, figures, claims, notes=()):
    """Write report.md into ``folder`` (a RunFolder) and return its path. Call it last.

    Args:
        folder: the run's RunFolder; every figure must already be written there.
        title: the report's title.
        paper: the paper and the sections, tables and figures reproduced (papers/NNN_... file name).
        settings: {name: value} of the run (epochs, seeds, widths, ...).
        tables: a list of (caption, rows), rows a list of dicts (one Markdown table each).
        figures: a list of (file name in the folder, caption).
        claims: a list of :class:`Claim`, one per finding of the paper.
        notes: how this run differs from the paper (data set, sizes, ...), one string each.

    Raises:
        ValueError: when a figure named is not in the folder, or there is no claim.
    """
    missing = [name for name, _ in figures if not os.path.isfile(folder.file(name))]
    if missing:
        raise ValueError(f"write_report: the figures {missing} are not in {folder.path}; write them first")
    return folder.text("report.md", render(title, paper, settings, tables, figures, claims, notes))
