"""Markdown tables for the run reports: one cell format for every number the reports print."""
import math

import numpy


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
