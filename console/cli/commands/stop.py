"""`training-console stop RUN [--kill]` / `stop --all`: stop a run gracefully (a checkpoint is saved), or end it;
`--all` asks every run still training in the runs folder to stop, as the console's q then s does."""
from __future__ import annotations

from console.cli.args import add_runs_dir
from console.common.errors import UserError
from console.runs.rundir import ACTIVE_PHASES, active_run_dirs, find_run

COMMAND = "stop"
STOP_WAIT_S = 120.0


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="stop a run gracefully (checkpoint saved)")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", help="the run: its id, a unique part of it, its --name, or 'latest'")
    p.add_argument("--all", action="store_true", help="stop every run still training in the runs folder")
    p.add_argument("--kill", action="store_true",
                   help="end a trainer that does not respond at once (SIGKILL; no checkpoint at the stop)")


def run(args) -> int:
    from console.runs.launcher import kill_trainer, request_stop, wait

    if args.all:
        return _stop_all(args)
    if not args.run:
        raise UserError("name the run to stop (`training-console runs` lists them), or give --all")
    run = find_run(args.runs_dir, args.run)
    if args.kill:
        status = kill_trainer(run)
        print(f"run {run.id}: {status.get('phase')}" + (f" ({status['message']})" if status.get("message") else ""))
        return 0 if status.get("phase") == "stopped" else 1
    if not request_stop(run):
        print(f"run {run.id} is not running ({run.status().get('phase')})")
        return 1
    stall = run.status().get("not_responding")
    if stall:  # a stopped or hung trainer cannot act on the request: say so now, not after two minutes of waiting
        print(f"run {run.id} is {stall}.\nThe stop request stays: the trainer saves a checkpoint and stops as soon "
              f"as it runs again. To end it now without a checkpoint: training-console stop {run.id} --kill")
        return 1
    print(f"stopping {run.id} (saving a checkpoint)...")
    status = wait(run, timeout=STOP_WAIT_S)
    if status.get("phase") in ACTIVE_PHASES:
        why = status.get("not_responding") or f"still {status.get('phase')}; last log line: {run.last_log_line()}"
        print(f"run {run.id} did not stop within {STOP_WAIT_S / 60:.0f} minutes ({why}). The request stays: it "
              f"stops at its next step. To end it now without a checkpoint: training-console stop {run.id} --kill")
        return 1
    print(f"run {run.id}: {status.get('phase')}" + (f" ({status['message']})" if status.get("message") else ""))
    return 0 if status.get("phase") in ("stopped", "done") else 1


def _stop_all(args) -> int:
    """Every run still training asked to stop (or killed, with --kill), then waited on together."""
    from console.runs.launcher import kill_trainer, request_stop, wait

    if args.run:
        raise UserError("give a run or --all, not both")
    active = active_run_dirs(args.runs_dir)
    if not active:
        print(f"no run is training in {args.runs_dir}")
        return 0
    code = 0
    asked = []
    for run in active:
        if args.kill:
            status = kill_trainer(run)
            print(f"run {run.id}: {status.get('phase')}")
            code |= status.get("phase") != "stopped"
        elif request_stop(run):
            print(f"stopping {run.id} (saving a checkpoint)...")
            asked.append(run)
    for run in asked:
        status = wait(run, timeout=STOP_WAIT_S)
        print(f"run {run.id}: {status.get('phase')}")
        code |= status.get("phase") not in ("stopped", "done")
    return 1 if code else 0
