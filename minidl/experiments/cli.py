"""The ``minidl`` command: one subcommand per experiment, and ``minidl reproduce NAME`` for the papers.

An experiment module defines NAME, HELP, ``add_arguments(parser)`` and ``run(args)``; every subcommand
also takes --out, --seed, --quick and --no-progress. A module whose optional dependency is missing (say
gymnasium for the market simulations) still gets its subcommand, which then explains what to install.
"""
import argparse
import importlib
import sys

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


def _add_experiment(commands, name, module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        sub = commands.add_parser(name, help=f"(unavailable: {error})")
        sub.add_argument("ignored", nargs=argparse.REMAINDER)
        sub.set_defaults(run=_unavailable(name, error))
        return
    sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
    sub.add_argument("--out", default=f"runs/{name}", help="results folder (default runs/NAME)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--quick", action="store_true", help="a small run, under a minute")
    sub.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    module.add_arguments(sub)
    sub.set_defaults(run=module.run)


def _unavailable(name, error):
    def run(args):
        raise SystemExit(f"minidl {name}: a dependency is missing ({error}); install the extras with "
                         f"pip install 'minidl[rl]'")
    return run


def build_parser():
    parser = argparse.ArgumentParser(prog="minidl", description="minidl experiments")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in EXPERIMENTS:
        _add_experiment(commands, module_name.rsplit(".", 1)[1], module_name)
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
                summary = importlib.import_module(module_name).HELP
            except ImportError as error:
                summary = f"(unavailable: {error})"
            print(f"{name:<24} {summary}")
    return run


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
