"""Is a run's trainer alive: its pid, its start time and its command line, read from /proc (Linux), never a
signal that could reach another process."""
from __future__ import annotations

import os
from pathlib import Path


def process_start(pid: int) -> int | None:
    """The process' start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, what tells a
    trainer from a later process that was given the same pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(") ", 1)[-1].split()
        return int(fields[19])  # field 22 of the line; fields[0] is field 3 (the state)
    except (OSError, ValueError, IndexError):
        return None


def process_state(pid: int) -> str | None:
    """The process' state letter (/proc/PID/stat field 3): 'T' stopped by a signal (SIGSTOP, Ctrl-Z), 't' stopped
    by a debugger, 'R'/'S'/'D' running or waiting, 'Z' a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(") ", 1)[-1][:1] or None
    except OSError:
        return None


def pid_alive(pid: int | None, run_path: str | os.PathLike | None = None, start: int | None = None) -> bool:
    """Whether the trainer with this pid still runs: a process with that pid, not a zombie, started when the
    launcher recorded (`start`), with the run folder on its command line (`run_path`), and a trainer's command
    (a reused pid running something else, another run's trainer or any program with 'accelerate' in its argv
    does not count)."""
    if not pid or pid <= 0:
        return False
    if start is not None and process_start(pid) not in (None, start):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            if f.read().split(") ")[-1].startswith("Z"):  # a zombie waiting for its parent: it has ended
                return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    # the run folder's name (its unique id) on the command line: the same folder may be reached by another spelling
    # of its path (a symlinked home), which must not make a live trainer look dead
    if run_path is not None and os.fsencode(Path(run_path).name) not in cmdline:
        return False
    return any(word in cmdline for word in (b"console.train", b"torch.distributed.run", b"torchrun",
                                            b"accelerate"))
