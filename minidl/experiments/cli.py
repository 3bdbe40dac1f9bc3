"""The ``minidl`` command: one subcommand per experiment, and ``minidl reproduce NAME`` for the papers.

An experiment module defines ``EXPERIMENT`` (see minidl.experiments.engine). Every option has help text
showing its default.
Flags are checked before any work or file: a user's mistake exits with status 2 and one line saying what
to change, no traceback and no usage block. A module whose optional dependency is missing still gets its
subcommand, which parses its flags and names the extra to install.
"""
import argparse
import importlib
import sys

from minidl import __version__
from minidl.experiments import engine

EXPERIMENTS = [
    "minidl.experiments.onenow",
    "minidl.experiments.digits",
    "minidl.experiments.spectrum",
    "minidl.experiments.edjm",
]

# `minidl reproduce NAME`: the papers' findings, each a report with figures and a table.
REPRODUCTIONS = {
    "dropout-conditioning": "minidl.experiments.spectrum",
    "edjm": "minidl.experiments.edjm",
    "gradient-perturbation": "minidl.experiments.gradient_perturbation",
    "init-perturbation": "minidl.experiments.init_perturbation",
    "normalized-loss": "minidl.experiments.normalized_loss",
    "pruning": "minidl.experiments.pruning_curves",
    "low-rank": "minidl.experiments.low_rank",
}


# the extra that installs each optional dependency
EXTRAS = {"ray": "cluster", "cupy": "gpu", "torch": "test"}

def _add_experiment(commands, name, module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        sub = commands.add_parser(name, help=f"(unavailable: {error})")
        engine.add_run_options(sub, name)
        sub.set_defaults(run=_unavailable(name, error), unavailable=True)
        return
    experiment = module.EXPERIMENT
    sub = commands.add_parser(name, help=experiment.help.replace("%", "%%"), description=experiment.help,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    engine.add_arguments(sub, experiment)
    sub.set_defaults(run=lambda args: engine.main(experiment, args))


def _unavailable(name, error):
    missing = (getattr(error, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(missing)
    install = f"pip install 'minidl[{extra}]'" if extra else f"pip install {missing or 'the missing package'}"

    def run(args):
        raise engine.UsageError(f"a dependency is missing ({error}); {install}")
    return run


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (its subcommands' too) whose error is one line: the command, the problem, and
    where the options are listed; exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="minidl", description="minidl experiments")
    parser.add_argument("--version", action="version", version=f"minidl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in EXPERIMENTS:
        _add_experiment(commands, module_name.rsplit(".", 1)[-1], module_name)
    reproduce = commands.add_parser("reproduce", help="reproduce a paper's finding (--list names them)")
    reproduce.add_argument("--list", action="store_true", help="list the reproductions and exit")
    names = reproduce.add_subparsers(dest="name", metavar="NAME")
    for name, module_name in REPRODUCTIONS.items():
        _add_experiment(names, name, module_name)
    reproduce.set_defaults(run=_list_or_ask(reproduce))
    return parser


def _list_or_ask(parser):
    def run(args):
        if not args.list:
            parser.error("name a reproduction, or use --list")
        for name, module_name in REPRODUCTIONS.items():
            try:
                module = importlib.import_module(module_name)
                summary = module.EXPERIMENT.help
            except ImportError as error:
                summary = f"(unavailable: {error})"
            print(f"{name:<24} {summary}")
    return run


def main(argv=None):
    """Run the command line ``argv``; 0 on success, 2 (with one line on stderr) on a user's mistake, 130 on
    Ctrl-C."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    command = " ".join(filter(None, ["minidl", args.command, getattr(args, "name", None)]))
    if unknown and not getattr(args, "unavailable", False):    # only its module knows its own flags
        _Parser(prog=command).error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "list", False) and getattr(args, "name", None):
        _Parser(prog="minidl reproduce").error(f"--list lists the reproductions; give it or {args.name}, not both")
    try:
        args.run(args)
    except engine.UsageError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:      # Ctrl-C: every finished trial is stored whole, so no traceback is needed
        print(f"\n{command}: interrupted; the same command resumes from the stored trials", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
