"""`training-console export RUN [--merge] [--to DIR] [--checkpoint final|best|checkpoint-N] [--push-to-hub ORG/NAME]`

The work is console/export.py's (also runnable as `python -m console.export`, as the console's runs screen does).
"""
from __future__ import annotations

COMMAND = "export"


def add_parser(sub) -> None:
    from console.cli import _add_runs_dir
    from console.export import arguments

    p = sub.add_parser(COMMAND, help="export a run's adapter, its adapter merged into the base (--merge), or its "
                                     "fully fine-tuned model, as a folder (and to the Hub)")
    _add_runs_dir(p)
    arguments(p)


def run(args) -> int:
    from console.export import run_args

    return run_args(args)
