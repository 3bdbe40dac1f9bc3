"""The ``minidl`` command: one subcommand per experiment module.

Each experiment module defines NAME, HELP, ``add_arguments(parser)`` and ``run(args)``; every
subcommand also takes --out, --seed, --quick and --no-progress.
"""
import argparse
import importlib
import sys

EXPERIMENTS = ["minidl.experiments.digits"]


def build_parser():
    parser = argparse.ArgumentParser(prog="minidl", description="minidl experiments")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in EXPERIMENTS:
        module = importlib.import_module(module_name)
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        sub.add_argument("--out", default=f"runs/{module.NAME}", help="results folder")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--quick", action="store_true", help="a small run, under a minute")
        sub.add_argument("--no-progress", dest="progress", action="store_false",
                         help="hide progress bars")
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
