"""The experiment engine: settings, trials over conditions x seeds, resumable storage, one finishing step.

Writing an experiment
---------------------
An experiment module keeps only its science and ends with one ``EXPERIMENT = engine.Experiment(...)``;
the ``minidl`` command (cli.py, EXPERIMENTS or REPRODUCTIONS) finds it and gives it a subcommand. The
parts, all keyword arguments of :class:`Experiment`:

``name``, ``help``
    The subcommand's name and one-line help.
``settings``
    A tuple of :class:`Setting`, one per flag: ``Setting("epochs", 300, "training epochs",
    check=positive)`` becomes ``--epochs`` with type int (from the default; give ``type=`` when the
    default is None or a list), help text ending "(default: 300; --quick: 40)", ``choices=`` and
    ``nargs="*"`` as in argparse. ``check`` is :func:`positive`, :func:`nonnegative`, :func:`probability`
    or any function value -> None or the problem ("must be ..."), applied to each item of a list. Every
    float must be finite. The engine adds ``seed`` (first seed, default 0) and ``seeds`` (how many,
    default ``Experiment.seeds``), and ``settings["quick"]``, True under --quick. Not settings (they do
    not change results): --out, --quick, --no-progress, --workers, --address, --gpus-per-trial.
    ``check=`` on the Experiment takes settings -> None or a problem, for checks across settings.
``quick``
    ``{name: value}``, the QUICK preset (a smoke run of about a minute). :func:`resolve` is the one place
    it is applied: defaults, then QUICK under --quick, then every flag given on the command line, so
    ``--quick --epochs 5`` runs 5 epochs. Everything is checked before any work or file.
``conditions(settings) -> list of dict``
    The conditions compared, each a small JSON-able dict, e.g. ``{"env": "normal", "rate": 0.25}``.
    The runner runs each with every seed ``seed, seed + 1, ..., seed + seeds - 1`` (condition-major).
    Or give ``plan(settings) -> list of (condition, seed)`` instead, when some conditions run at other
    seeds (onenow runs dropout and its policy study at the first seed only). Exactly one of the two.
``trial(settings, condition, seed) -> records``
    A pure, module-level function (Ray workers import it by name): it draws every random number from
    ``seed`` and the settings (``minidl.manual_seed(seed)``, ``numpy.random.default_rng(seed)``), writes
    no file, prints nothing, shows no progress bar, and returns JSON-able records: dicts, lists, str,
    int, float, bool, None (convert NumPy arrays with ``.tolist()`` and NumPy scalars with float()).
    Keep wall-clock times out of records (the engine times each trial itself). Floats are stored
    exactly, NaN and infinity included, so stored and fresh records are the same bits.
``finish(settings, trials) -> Results``
    Builds everything the reader sees from the stored trials only. ``trials`` is a list of
    :class:`Trial` (``condition``, ``seed``, ``records``, ``seconds``) in plan order; :func:`select`
    picks those whose condition matches, e.g. ``select(trials, env="sine", rate=0.5)``. It returns
    :class:`Results`:

    - ``title``; ``paper``: citation key and sections, "[Dworakowski 2019, sec. 5.4]" ('' for none);
    - ``claims``: :class:`minidl.experiments.stats.Claim` objects from ``stats.paired`` (two conditions,
      values in the same seed order), ``stats.one_sample`` (against a number from the paper) or
      ``stats.ordering`` (several conditions), always with ``smoke=settings["quick"]``, and a null
      control (``control=`` another Claim) where the statistic might agree by construction;
    - ``tables``: :class:`Table` (file name, caption, rows as dicts, ``{column: meaning}`` for every
      column, in that order; ``in_report=True`` also prints it in report.md);
    - ``figures``: :class:`Figure` (file name, caption, matplotlib figure, ``shows``:
      ``one_seed(seed)`` or ``over_seeds(n)``, appended to the figure's title);
    - ``summary``: a JSON-able dict of headline numbers; ``notes``: how the run differs from the paper.

The engine then writes (:func:`finish_run`) the CSV files, the PNG figures, summary.json (experiment,
settings, smoke_run, claims, summary, trial_seconds), README.md (every file and column) and, last,
report.md (a smoke-run banner on quick runs, settings, the claims with n, mean effect, 95 % interval
and test, tables, figures, departures). report.md depends on the stored records alone, never on timing.

Running
-------
:func:`run` stores each finished trial at once, atomically, as ``trials/<condition>,seed=<S>.json``
in the run folder, beside ``settings.json``. Run the same command again and finished trials are read
back, not recomputed: a sweep killed at any moment resumes and ends with the same report.md bytes. A
folder holding another run (other experiment or settings), or files of something else, is refused
with :class:`UsageError`; the command line prints it as one line and exits with status 2. The progress
bar counts trials and shows only on a terminal, never with --no-progress. ``--workers N`` runs trials in
N processes on a local Ray (``minidl[cluster]``), ``--address HOST:PORT`` or RAY_ADDRESS on a Ray
cluster, each trial with one BLAS thread and, under MINIDL_BACKEND=cupy, ``--gpus-per-trial`` of a GPU;
records are the same bits as the serial run's. In a notebook or test: ``settings = settings_of(EXPERIMENT,
quick=True, epochs=5)`` then ``run(EXPERIMENT, settings, folder)``.
"""
import argparse
import importlib.util
import json
import math
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field

from minidl.experiments import stats
from minidl.experiments.output import RunFolder
from minidl.experiments.report import markdown_table

SETTINGS_FILE = "settings.json"
TRIALS = "trials"
_UNSET = object()


class UsageError(ValueError):
    """A user's mistake (a bad flag, a folder holding another run): one line saying what to change."""


# --------------------------------------------------------------------- checks of a setting's value
def positive(value):
    """Check: a number > 0."""
    return None if value > 0 else "must be positive"


def nonnegative(value):
    """Check: a number >= 0."""
    return None if value >= 0 else "must be 0 or more"


def probability(value):
    """Check: a number in [0, 1)."""
    return None if 0 <= value < 1 else "must be in [0, 1)"


@dataclass(frozen=True)
class Setting:
    """One setting and its flag ``--name-with-dashes``.

    name: a Python identifier; default: its value without --quick (its type gives the flag's type unless
    ``type`` is given; None needs ``type``); help: what it means, with units; check: a function
    value -> None or the problem ("must be positive"), applied to each value of a list; choices: the
    allowed values; nargs: "*" or "+" for a list. A bool setting gets --name and --no-name.
    """
    name: str
    default: object
    help: str
    type: type = None
    check: object = None
    choices: tuple = None
    nargs: str = None

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def kind(self):
        if self.type is not None:
            return self.type
        value = self.default[0] if isinstance(self.default, (list, tuple)) and self.default else self.default
        if value is None or isinstance(value, (list, tuple)):
            raise ValueError(f"Setting {self.name!r}: give a type; it cannot be taken from {self.default!r}")
        return type(value)


@dataclass(frozen=True)
class Trial:
    """One stored trial: its condition (dict), seed (int), the records its trial function returned, and
    the wall seconds it took (for the summary; never in report.md, which must not depend on timing)."""
    condition: dict
    seed: int
    records: object
    seconds: float = math.nan


@dataclass(frozen=True)
class Table:
    """A CSV file of the run: name ("epochs.csv"), what one row is, the rows (dicts) and a description of
    every column ({column: meaning}); ``in_report`` also renders it as a Markdown table in report.md."""
    name: str
    caption: str
    rows: list
    columns: dict
    in_report: bool = False


@dataclass(frozen=True)
class Figure:
    """A PNG file of the run: name, caption, the matplotlib figure, and which seeds it shows
    (:func:`one_seed` or :func:`over_seeds`), added to its title."""
    name: str
    caption: str
    figure: object
    shows: str


@dataclass(frozen=True)
class Results:
    """What :func:`finish_run` writes: see the module docstring. ``paper`` names the paper by its key
    and the sections reproduced, e.g. "[Dworakowski 2019, sec. 5.4, figs. 14-17]" (empty: no paper)."""
    title: str
    paper: str = ""
    claims: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """An experiment for the engine: see the module docstring for each part."""
    name: str
    help: str
    settings: tuple
    quick: dict
    trial: object
    finish: object
    conditions: object = None
    seeds: int = 5
    plan: object = None
    check: object = None

    def __post_init__(self):
        names = [s.name for s in self.all_settings()]
        unknown = set(self.quick) - set(names)
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"Experiment {self.name!r}: QUICK names unknown settings {sorted(unknown)} "
                             f"or a setting is declared twice")
        if (self.conditions is None) == (self.plan is None):
            raise ValueError(f"Experiment {self.name!r}: give conditions or plan, exactly one of them")

    def all_settings(self):
        return (Setting("seed", 0, "first seed; trials use seed, seed + 1, ...", check=nonnegative),
                Setting("seeds", self.seeds, "number of seeds per condition", check=positive)) + \
            tuple(self.settings)

    def trials(self, settings):
        """The (condition, seed) pairs of a run, in order."""
        if self.plan is not None:
            return list(self.plan(settings))
        seeds = range(settings["seed"], settings["seed"] + settings["seeds"])
        return [(condition, seed) for condition in self.conditions(settings) for seed in seeds]


def one_seed(seed):
    """Figure.shows for a figure of one seed's trials."""
    return f"seed {seed}"


def over_seeds(n):
    """Figure.shows for a figure of means over seeds."""
    return f"mean over {n} seeds" if n != 1 else "one seed"


def select(trials, **condition):
    """The trials whose condition has every given key = value, in plan order."""
    return [t for t in trials if all(t.condition.get(key) == value for key, value in condition.items())]


# --------------------------------------------------------------------- command line
def add_arguments(parser, experiment):
    """Add the experiment's flags (each with help and default) and the run options to ``parser``."""
    for setting in experiment.all_settings():
        quick = f"; --quick: {experiment.quick[setting.name]}" if setting.name in experiment.quick else ""
        default = setting.default if setting.nargs is None else " ".join(map(str, setting.default))
        text = f"{setting.help} (default: {default if default not in (None, '') else 'none'}{quick})"
        text = text.replace("%", "%%")  # argparse formats help text with %: "1 %" is text, not a format
        if setting.kind is bool:          # --name / --no-name
            parser.add_argument(setting.flag, dest=setting.name, action=argparse.BooleanOptionalAction,
                                default=_UNSET, help=text)
            continue
        parser.add_argument(setting.flag, dest=setting.name, type=setting.kind, default=_UNSET,
                            choices=setting.choices, nargs=setting.nargs, help=text)
    add_run_options(parser, experiment.name)


def add_run_options(parser, name):
    """The options every subcommand shares (also used by the modules not yet on the engine)."""
    parser.add_argument("--out", default=f"runs/{name}", help="results folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of under a minute; explicit flags still win (default: off)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar (default: shown when output is a terminal)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes running trials; above 1 runs them on a local Ray, pip install "
                             "'minidl[cluster]' (default: %(default)s, in this process)")
    parser.add_argument("--address", default=None,
                        help="HOST:PORT of a Ray cluster to run the trials on (default: RAY_ADDRESS, "
                             "else none)")
    parser.add_argument("--gpus-per-trial", type=float, default=1.0,
                        help="share of a GPU each trial asks Ray for under MINIDL_BACKEND=cupy "
                             "(default: %(default)s)")


def resolve(experiment, args):
    """The run's settings: defaults, then QUICK under --quick, then every explicit flag; then checked.

    Raises:
        UsageError: naming the flag, what it must be and what came.
    """
    settings = {}
    for setting in experiment.all_settings():
        value = getattr(args, setting.name, _UNSET)
        if value is _UNSET:
            value = experiment.quick.get(setting.name, setting.default) if args.quick else setting.default
        settings[setting.name] = _checked(setting, value)
    settings["quick"] = bool(args.quick)
    problem = experiment.check(settings) if experiment.check is not None else None
    if problem:
        raise UsageError(problem)
    return settings


def _checked(setting, value):
    """The value in its canonical form (a list for nargs, each item of the setting's type), checked."""
    if value is None and setting.default is None:
        return None
    if (setting.nargs is not None) != isinstance(value, (list, tuple)):
        raise UsageError(f"{setting.flag} must be {'a list' if setting.nargs else 'a single value'}, got "
                         f"{value!r}")
    items = [_typed(setting, item) for item in (value if setting.nargs else [value])]
    for item in items:
        problem = None
        if isinstance(item, float) and not math.isfinite(item):
            problem = "must be a finite number"
        elif setting.check is not None and item is not None:
            problem = setting.check(item)
        if problem:
            raise UsageError(f"{setting.flag} {problem}, got {item!r}")
    return items if setting.nargs else items[0]


def _typed(setting, item):
    """``item`` as the setting's type: an int where a float is expected becomes a float; None only for a
    setting whose default is None; anything else of another type (a str, a bool, a NumPy scalar that
    settings.json cannot hold) is refused."""
    kind = setting.kind
    if item is None and setting.default is None:
        return None
    if kind is float and isinstance(item, (int, float)) and not isinstance(item, bool):
        return float(item)
    if type(item) is kind or (kind not in (int, float, bool) and isinstance(item, kind)):
        return item
    raise UsageError(f"{setting.flag} must be of type {kind.__name__}, got {item!r} "
                     f"({type(item).__name__})")


def check_run_options(args):
    """Check --workers, --address and --gpus-per-trial before any work; Ray must be there if asked for.

    Raises:
        UsageError: naming the option and the fix (the ``minidl[cluster]`` extra when Ray is missing).
    """
    if args.workers < 1:
        raise UsageError(f"--workers must be 1 or more, got {args.workers}")
    if not (math.isfinite(args.gpus_per_trial) and args.gpus_per_trial > 0):
        raise UsageError(f"--gpus-per-trial must be a positive number, got {args.gpus_per_trial}")
    if _ray_wanted(args.workers, _address(args.address)) and importlib.util.find_spec("ray") is None:
        raise UsageError("--workers above 1 and --address need Ray: pip install 'minidl[cluster]'")
    problem = _address(args.address) and _unanswered(_address(args.address))
    if problem:
        raise UsageError(problem)


def _unanswered(address):
    """The problem when nothing listens at a HOST:PORT address (Ray would retry for minutes), else None;
    other forms ("auto", "ray://HOST:PORT") are left to Ray."""
    host, colon, port = address.rpartition(":")
    if "://" in address or not colon or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        return (f"--address {address} (or RAY_ADDRESS): nothing answers there ({error.strerror or error}); "
                f"start the head with `ray start --head --port {port}` or leave --address out")
    return None


def main(experiment, args):
    """Run ``experiment`` from parsed command-line ``args`` and return the run folder's summary dict."""
    settings = resolve(experiment, args)
    check_run_options(args)
    summary = run(experiment, settings, args.out, workers=args.workers, address=args.address,
                  gpus_per_trial=args.gpus_per_trial, progress=args.progress)
    print(f"{experiment.name}: {stats.summary_line(summary['claims'])} "
          f"Report: {os.path.join(os.path.abspath(args.out), 'report.md')}" if summary["claims"] else
          f"{experiment.name}: wrote {os.path.abspath(args.out)}")
    return summary


# --------------------------------------------------------------------- running trials
def run(experiment, settings, out, workers=1, address=None, gpus_per_trial=1.0, progress=True):
    """Run every trial not yet stored in ``out``, store each at once, then finish the run.

    Returns the summary.json content, with the Claim objects under "claims".

    Raises:
        UsageError: when ``out`` holds a run with other settings, or files of something else.
    """
    plan = _checked_plan(experiment, settings)
    folder = _claim_folder(out, experiment, settings)
    todo = [(condition, seed) for condition, seed in plan if _load(folder, condition, seed) is None]
    from tqdm import tqdm
    bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc=experiment.name, unit="trial",
               disable=not (progress and sys.stderr.isatty()))
    address = _address(address)
    results = _on_ray(experiment, settings, todo, workers, address, gpus_per_trial) \
        if _ray_wanted(workers, address) else \
        ((condition, seed, _timed(experiment.trial, settings, condition, seed)) for condition, seed in todo)
    for condition, seed, (records, seconds) in results:
        stored = {"condition": condition, "seed": seed, "records": records, "seconds": seconds}
        try:
            text = json.dumps(stored, indent=1)
        except TypeError as error:
            raise TypeError(f"run: the records of {experiment.name}'s trial {condition} seed {seed} are not "
                            f"JSON-able ({error}); return dicts, lists, str, int, float, bool or None") from None
        folder.text(_trial_name(condition, seed), text + "\n")
        bar.update()
    bar.close()
    return finish_run(experiment, settings, folder)


def _checked_plan(experiment, settings):
    """The run's (condition, seed) pairs, each stored under its own file name.

    Raises:
        UsageError: when the settings give no trial at all.
        ValueError: when two trials would share a file (the same condition and seed twice, or conditions
            whose names differ only in characters a file name cannot hold).
    """
    plan = experiment.trials(settings)
    if not plan:
        raise UsageError("these settings give no trial to run")
    names = [_trial_name(condition, seed) for condition, seed in plan]
    if len(set(names)) != len(names):
        raise ValueError(f"run: {experiment.name} plans trials that share a file name: "
                         f"{sorted({n for n in names if names.count(n) > 1})[:3]}")
    return plan


def _claim_folder(out, experiment, settings):
    """The RunFolder for this run: new, or holding this same run (same experiment and settings)."""
    path = os.path.abspath(os.fspath(out))
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{path} is a file, not a folder; give an empty or new --out")
    wanted = {"experiment": experiment.name, "settings": settings}
    stored = os.path.join(path, SETTINGS_FILE)
    if os.path.isfile(stored):
        found = _read_json(stored, ("experiment", "settings"))
        if found != json.loads(json.dumps(wanted)):
            raise UsageError(f"{path} holds a run with other settings ({_difference(found, wanted)}); "
                             f"give another --out, or the same flags to resume it")
        return RunFolder(path)
    if os.path.isdir(path) and any(not name.startswith(".") for name in os.listdir(path)):
        raise UsageError(f"{path} holds files but no {SETTINGS_FILE}; give an empty or new --out")
    try:
        folder = RunFolder(path)
        folder.json(SETTINGS_FILE, wanted)
    except OSError as error:
        raise UsageError(f"cannot write into {path} ({error.strerror or error}); give a writable --out") from None
    return folder


def _difference(found, wanted):
    if found.get("experiment") != wanted["experiment"]:
        return f"experiment {found.get('experiment')!r} there, {wanted['experiment']!r} here"
    there, here = found.get("settings", {}), json.loads(json.dumps(wanted["settings"]))
    keys = [key for key in dict.fromkeys(list(here) + list(there)) if here.get(key) != there.get(key)]
    return ", ".join(f"{key}: {there.get(key)!r} there, {here.get(key)!r} here" for key in keys)


def _trial_name(condition, seed):
    parts = [f"{key}={value}" for key, value in condition.items()] + [f"seed={seed}"]
    return os.path.join(TRIALS, re.sub(r"[^A-Za-z0-9=.,_+-]", "_", ",".join(parts)) + ".json")


def _load(folder, condition, seed):
    """The stored Trial of (condition, seed), or None when it has not finished."""
    path = folder.file(_trial_name(condition, seed))
    if not os.path.isfile(path):
        return None
    stored = _read_json(path, ("condition", "seed", "records"))
    if stored["condition"] != json.loads(json.dumps(condition)) or stored["seed"] != seed:
        raise UsageError(f"{path} holds the trial {stored['condition']} seed {stored['seed']}, not "
                         f"{condition} seed {seed}; give a new --out")
    return Trial(stored["condition"], stored["seed"], stored["records"], stored.get("seconds", math.nan))


def _read_json(path, keys):
    """The dict stored in ``path``, which must hold ``keys``.

    Raises:
        UsageError: when the file is not JSON, or not a dict with those keys (edited or of another tool).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            found = json.load(stream)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise UsageError(f"{path} is not a JSON file of a minidl run ({error}); give another --out, or "
                         f"delete the file") from None
    if not isinstance(found, dict) or not all(key in found for key in keys):
        raise UsageError(f"{path} is not a file of a minidl run (expected a JSON object with "
                         f"{', '.join(keys)}); give another --out, or delete the file")
    return found


def _address(address):
    return address or os.environ.get("RAY_ADDRESS") or None


def _ray_wanted(workers, address):
    return workers > 1 or address is not None


def _on_ray(experiment, settings, todo, workers, address, gpus_per_trial):
    """Yield (condition, seed, records) as the trials finish on Ray, one BLAS thread each."""
    import ray
    from minidl import backend
    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        if address is not None:
            ray.init(address=address, logging_level="ERROR")
        else:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        options = {"num_cpus": 1}
        if backend.name == "cupy":
            options["num_gpus"] = gpus_per_trial
        remote = ray.remote(_single_threaded).options(**options)
        pending = {remote.remote(experiment.trial, settings, condition, seed): (condition, seed)
                   for condition, seed in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            condition, seed = pending.pop(done[0])
            yield condition, seed, ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _single_threaded(trial, settings, condition, seed):
    """A trial on one CPU: one BLAS thread and one thread per copy (Ray gives each trial one CPU)."""
    from threadpoolctl import threadpool_limits
    from minidl.nn import parallel
    with threadpool_limits(limits=1), parallel.limited(1):
        return _timed(trial, settings, condition, seed)


def _timed(trial, settings, condition, seed):
    """(records, wall seconds) of one trial."""
    started = time.perf_counter()
    records = trial(settings, condition, seed)
    return records, time.perf_counter() - started


# --------------------------------------------------------------------- finishing
def stored_trials(experiment, settings, folder):
    """Every planned trial as stored in ``folder`` (a RunFolder), in plan order.

    Raises:
        UsageError: when a planned trial has not been stored.
    """
    trials = [_load(folder, condition, seed) for condition, seed in experiment.trials(settings)]
    missing = sum(trial is None for trial in trials)
    if missing:
        raise UsageError(f"{folder.path} lacks {missing} trials; run the same command again to finish them")
    return trials


def finish_run(experiment, settings, folder):
    """Build the run's files from its stored trials only: tables, figures, summary.json, README.md and,
    last, report.md. Returns summary.json's content with the Claim objects under "claims"."""
    trials = stored_trials(experiment, settings, folder)
    results = experiment.finish(settings, trials)
    for table in results.tables:
        undescribed = [c for row in table.rows for c in row if c not in table.columns]
        if undescribed:
            raise ValueError(f"finish_run: {table.name} has columns without a description: "
                             f"{sorted(set(undescribed))}")
        folder.csv(table.name, [{c: row.get(c) for c in table.columns} for row in table.rows])
    for figure in results.figures:
        title = figure.figure.get_suptitle()
        figure.figure.suptitle(f"{title} ({figure.shows})" if title else figure.shows)
        folder.figure(figure.name, figure.figure)
    summary = {"experiment": experiment.name, "settings": settings, "smoke_run": settings["quick"],
               "claims": [claim.as_dict() for claim in results.claims], "summary": results.summary,
               "trial_seconds": sum(trial.seconds for trial in trials)}
    folder.json("summary.json", summary)
    folder.text("README.md", _readme(experiment, results))
    folder.text("report.md", _report(experiment, settings, results))
    return dict(summary, claims=list(results.claims))


SMOKE_BANNER = ("> **Smoke run** (--quick): sizes too small to judge the paper's claims. The numbers "
                "below show that the run works; no claim is judged.")


def _report(experiment, settings, results):
    lines = [f"# {results.title}", ""]
    if settings["quick"]:
        lines += [SMOKE_BANNER, ""]
    if results.paper:
        lines += [f"Reproduces: {results.paper}", ""]
    lines += ["## Settings", ""]
    lines += [f"- {key}: {value}" for key, value in settings.items()]
    if results.claims:
        lines += ["", "## Does the paper's finding hold here?", "",
                  stats.summary_line(results.claims) + " Each claim is a Student-t test at 95 % over "
                  "seeds, of a difference paired by seed or of one condition against a reference value "
                  "(each line names its test); a claim holds only when its interval excludes zero in the "
                  "paper's direction.", ""]
        lines += [claim.line() for claim in results.claims]
    for table in (t for t in results.tables if t.in_report):
        lines += ["", f"## {table.caption}", "", markdown_table(table.rows, list(table.columns))]
    if results.figures:
        lines += ["", "## Figures"]
        for figure in results.figures:
            lines += ["", f"![{figure.caption}]({figure.name})", "", f"*{figure.caption} ({figure.shows}).*"]
    if results.notes:
        lines += ["", "## How this run differs from the paper", ""]
        lines += [f"- {note}" for note in results.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _readme(experiment, results):
    lines = [f"# {experiment.name}: the files of this run", "", experiment.help, "",
             f"- `{SETTINGS_FILE}`: the experiment's name and every setting of the run; a later run into "
             "this folder must have the same ones (it then resumes).",
             f"- `{TRIALS}/`: one JSON file per finished trial: its condition, seed, records and wall seconds; every "
             "other file is built from these alone.",
             "- `summary.json`: the settings, the claims (verdict, n, mean effect, 95 % interval, test, "
             "null control), the summary numbers and trial_seconds, the wall time of all trials summed.",
             "- `report.md`: the report: claims, tables, figures, departures from the paper.",
             "- `README.md`: this file."]
    for figure in results.figures:
        lines.append(f"- `{figure.name}`: {figure.caption} ({figure.shows}).")
    for table in results.tables:
        lines.append(f"- `{table.name}`: {table.caption} Columns:")
        lines += [f"    - `{column}`: {meaning}" for column, meaning in table.columns.items()]
    return "\n".join(lines) + "\n"


def settings_of(experiment, **changes):
    """The default settings of ``experiment`` with ``changes`` (for tests and notebooks), checked.

    Raises:
        UsageError: for a name that is no setting of ``experiment``, or a value of the wrong type or
            range (as :func:`resolve`).
    """
    unknown = sorted(set(changes) - {"quick"} - {s.name for s in experiment.all_settings()})
    if unknown:
        raise UsageError(f"settings_of: {experiment.name} has no settings {unknown}")
    args = argparse.Namespace(quick=changes.pop("quick", False), **changes)
    return resolve(experiment, args)


__all__ = ["Experiment", "Setting", "Trial", "Table", "Figure", "Results", "UsageError", "positive",
           "nonnegative", "probability", "one_seed", "over_seeds", "select", "add_arguments", "resolve",
           "run", "finish_run", "stored_trials", "settings_of", "main"]
