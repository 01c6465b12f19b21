"""`training-console watch [RUN] [--samples]`: follow a run as plain text, progress and findings."""
from __future__ import annotations

from console.cli.args import add_runs_dir, summary
from console.runs.rundir import find_run

COMMAND = "watch"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="follow a run as plain text: progress and findings")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest")
    p.add_argument("--samples", action="store_true",
                   help="print the sample answers (the base model's next to the latest) at each sampling")


def run(args) -> int:
    from console.loop.watch import stdout_writer, watch

    run = find_run(args.runs_dir, args.run)
    try:
        status = watch(run, stdout_writer, samples=args.samples)
    except KeyboardInterrupt:
        return 130
    return summary(run, status)
