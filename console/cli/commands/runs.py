"""`training-console runs`: every run in the runs folder, a line each."""
from __future__ import annotations

from console.cli.args import add_runs_dir, say_long_read
from console.runs.progress import run_summary
from console.runs.rundir import list_run_dirs
from console.runs.summary import unsummarised

COMMAND = "runs"


def add_parser(sub) -> None:
    add_runs_dir(sub.add_parser(COMMAND, help="list the runs"))


def run(args) -> int:
    runs = list_run_dirs(args.runs_dir)
    if not runs:
        print(f"no runs in {args.runs_dir}: start one with `training-console train`")
        return 0
    from console.common.safe_text import printable

    print(f"{'RUN':<36} {'METHOD':<11} {'STATUS':<10} {'STEPS':>11} {'BEST EVAL':>9}  PARENT / FIX  [DATA]")
    stalled = []
    for run in runs:
        say_long_read(run.id, unsummarised(run.path))
        row = run_summary(run)
        steps = f"{row['step']}/{row['max_steps']}" if row["max_steps"] else str(row["step"])
        best = f"{row['best_eval']:.4f}" if row["best_eval"] is not None else "-"
        lineage = f"{row['parent'] or ''}{' / ' + row['fix'] if row['fix'] else ''}"
        state = "no reply" if row["stalled"] else row["status"]
        data = f"  [{printable(row['data'])}]" if row["data"] else ""
        print(f"{row['id']:<36} {row['method']:<11} {state:<10} {steps:>11} {best:>9}  {lineage}{data}")
        if row["stalled"]:
            stalled.append(f"{row['id']}: {row['message']}")
    for line in stalled:  # the why of a run that shows as training but does not move, under the table
        print(line)
    return 0
