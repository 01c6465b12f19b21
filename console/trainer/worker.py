"""A worker machine's trainer: python -m console.trainer.worker RUN_DIR -- TRAINER_ARGV...

On a run over several machines each runs `training-console train ... --node-rank R`. Only the main process of
the main machine (global RANK 0) writes status, metrics and checkpoints, so the trainer on a worker machine
(node_rank > 0) writes nothing to its own run folder, which would show as a run that never ends (or, once its
process is gone, as killed). This wrapper runs the trainer's command (torchrun or accelerate launch) as its child
and, when it exits, gives the worker's folder its final status: done, or failed with the exit code. The folder's
run.json says whose worker it is (launcher.launch writes "worker").
"""
from __future__ import annotations

import signal
import subprocess
import sys

from console.runs.rundir import RunDir


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m console.trainer.worker RUN_DIR -- COMMAND...", file=sys.stderr)
        return 2
    run = RunDir(argv[0])
    # A stop (SIGTERM to the process group, launcher.request_stop) is for the trainer: it reaches it through the
    # group; this process waits for it to end and says how it did. A handler, not SIG_IGN: an ignored signal
    # stays ignored in the child across exec.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    worker = run.read_info().get("worker") or {}
    who = (f"worker node {worker.get('node_rank', '?')} of {worker.get('nodes', '?')} for the run on "
           f"{worker.get('main', '?')}")
    try:
        code = subprocess.call(argv[2:], stdin=subprocess.DEVNULL)
    except OSError as err:
        code = 127
        print(f"[console] cannot start the trainer: {err}", flush=True)
    if code == 0:
        run.write_status("done", message=f"{who} ended: the metrics, checkpoints and final model are in the main "
                                         f"machine's run folder")
    else:
        why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        run.write_status("failed", kind="worker", message=f"{who} failed ({why}): see {run.log_path} here and "
                                                          f"the main machine's run")
    print(f"[console] {who}: trainer ended ({'done' if code == 0 else f'code {code}'})", flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
