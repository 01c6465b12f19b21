"""`training-console export RUN [--merge] [--to DIR] [--checkpoint final|best|checkpoint-N] [--push-to-hub ORG/NAME]`

The work is console/tools/export.py's (also runnable as `python -m console.tools.export`, as the console's runs
screen does).
"""
from __future__ import annotations

from console.cli.args import add_runs_dir

COMMAND = "export"


def add_parser(sub) -> None:
    from console.tools.export import arguments

    p = sub.add_parser(COMMAND, help="export a run's adapter, its adapter merged into the base (--merge), or its "
                                     "fully fine-tuned model, as a folder (and to the Hub)")
    add_runs_dir(p)
    arguments(p)


def run(args) -> int:
    from console.tools.export import run_args

    return run_args(args)
