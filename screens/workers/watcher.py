"""The body of the App's trainer worker: start a run (optionally after stopping another) and tail its folder.

Runs in a worker thread: it follows the run with the engine's one follower (console.runs.follow) and posts each of
its events as a message (screens.messages); it never touches widgets. Metrics are batched: one MetricsArrived per
poll with every record that arrived since the last one.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable

from console.common.errors import UserError
from console.runs.follow import LOG_TAIL_LINES, POLL_S, Follower, MetricsRead, SamplesRead, StatusChanged
from console.runs.rundir import ACTIVE_PHASES, RunDir
from screens.messages import (
    GpuSampled,
    LaunchFailed,
    MetricsArrived,
    PhaseChanged,
    RunFinished,
    RunLaunched,
    SamplesArrived,
)

GPU_EVERY_S = 3.0


def start_run(runs_dir, config, command: list[str]) -> RunDir:
    """Preflight the model and data, create the run folder and start the trainer (in its own session)."""
    from console.loop.next_run import start

    return start(runs_dir, config, command=command)


def gpu_memory() -> tuple[list[int], list[int]] | None:
    """(used MiB, total MiB) of the visible GPUs from nvidia-smi (tens of ms), or None on a CPU machine."""
    from console.machine.hardware import probe

    hw = probe()
    smi = shutil.which("nvidia-smi")
    if not hw.cuda or not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = {g.index for g in hw.gpus}
    used, total = [], []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            if int(parts[0]) in wanted:
                used.append(int(float(parts[1])))
                total.append(int(float(parts[2])))
        except (ValueError, IndexError):
            continue
    return (used, total) if used else None


def stop_and_wait(run: RunDir, cancelled: Callable[[], bool], timeout: float = 300.0) -> dict:
    """Ask a run to stop gracefully (it saves a checkpoint) and wait until it has."""
    from console.runs.launcher import request_stop

    request_stop(run)
    deadline = time.monotonic() + timeout
    while not cancelled():
        status = run.status()
        if status.get("phase") not in ACTIVE_PHASES or time.monotonic() > deadline:
            return status
        time.sleep(POLL_S)
    return run.status()


def trainer_loop(post: Callable, cancelled: Callable[[], bool], *, run: RunDir | None = None, runs_dir=None,
                 config=None, command: list[str] | None = None, stop_first: list[RunDir] | None = None,
                 poll: float = POLL_S) -> None:
    """Start (config given) or attach to (run given) a run, then post what the engine's follower reads in its
    folder (console.runs.follow), one message per event, until it ends."""
    for other in stop_first or []:
        post(PhaseChanged(other.id, dict(other.status(), phase="stopping")))
        status = stop_and_wait(other, cancelled)
        post(RunFinished(other.id, status, other.tail_log(LOG_TAIL_LINES)))
    if config is not None:
        try:
            run = start_run(runs_dir, config, command or ["training-console"])
        except UserError as err:
            post(LaunchFailed(str(err)))
            return
        post(RunLaunched(run.id, str(run.path)))
    if run is None:
        return
    follower = Follower(run)
    if config is None:
        # attaching: the first message carries the run as it is (its status, every metric so far), so that the
        # first frame shows a run at step 80 as it is, not "starting the trainer..." over an empty chart
        history, status = follower.attach()
        post(RunLaunched(run.id, str(run.path), attached=True, status=status, history=history,
                         reading=follower.reading))
    next_gpu = 0.0
    while not cancelled():
        consumed = None
        for event in follower.poll():
            message = _message(run.id, event)
            if isinstance(message, MetricsArrived) and follower.behind:
                message.consumed = consumed = threading.Event()
                message.reading = follower.reading
            post(message)
        if follower.ended:
            return
        if follower.behind:
            # a long log still being read (a finished run of millions of events): no wait between reads, but each
            # batch taken into the history before the next is read (else the whole log sat in the message queue)
            while consumed is not None and not consumed.wait(0.1):
                if cancelled():
                    return
            continue
        now = time.monotonic()
        if now >= next_gpu:
            next_gpu = now + GPU_EVERY_S
            gpu = gpu_memory()
            if gpu:
                post(GpuSampled(run.id, gpu[0], gpu[1]))
        time.sleep(poll)


def _message(run_id: str, event):
    """The Textual message for one follower event (the screens' handlers own what follows from it)."""
    if isinstance(event, MetricsRead):
        return MetricsArrived(run_id, event.records)
    if isinstance(event, SamplesRead):
        return SamplesArrived(run_id, event.samples)
    if isinstance(event, StatusChanged):
        return PhaseChanged(run_id, event.status)
    return RunFinished(run_id, event.status, event.log_tail, event.store_at)
