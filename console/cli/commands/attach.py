"""`training-console [attach [RUN]]`: the console itself (no subcommand opens it too).

The one module of the engine that imports the screens (the import-linter contract names it)."""
from __future__ import annotations

import os
import sys

from console.cli.args import add_runs_dir

COMMAND = "attach"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="open the console on a run (live if it trains)")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", default=None)


def run(args) -> int:
    if not sys.stdout.isatty() and not os.environ.get("TRAINING_CONSOLE_FORCE_TUI"):
        print("the console needs a terminal; for scripts use the subcommands (training-console --help)",
              file=sys.stderr)
        return 2
    from screens.app import TrainingConsoleApp

    app = TrainingConsoleApp(runs_dir=args.runs_dir, attach=getattr(args, "run", None),
                             model=getattr(args, "session_model", None), dataset=getattr(args, "session_dataset", None))
    app.run()
    return app.return_code or 0
