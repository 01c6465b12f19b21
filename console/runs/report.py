"""What the trainer process says through its run folder (status.json, train.log), and why it stops early.

Light on purpose (no torch, no transformers): the trainer writes "loading libraries" with it before those imports.
The process' rank is read once when the trainer starts (`Process.from_env`), not at import, and every writer gets
it passed in: a module-level flag read at import could not be set per test, and hid who was allowed to write.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from console.common.files import atomic_write
from console.common.safe_write import NotOwnFile, touch, write_new
from console.runs.liveness import process_start
from console.runs.rundir import RunDir

# Bytes the trainer holds on the run's file system from its start and lets go of only to write its final status:
# on a full disk that write failed, and a run that ended on "No space left on device" read as "killed, or the
# machine restarted" (its cause lost with the log's last lines).
RESERVE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Process:
    """Who this trainer process is: under torchrun, RANK 0 (the main process of the main node) is the one voice
    in the run folder; the others train and keep quiet."""
    main: bool = True
    world_size: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Process:
        return cls(main=int(env.get("RANK", "0")) == 0, world_size=int(env.get("WORLD_SIZE", "1")))


class StopRequest:
    """Why training should end before its last step: asked (a stop file, SIGTERM) or forced (the loss became NaN
    or exploded). The first reason given is kept."""

    ASKED = "stop requested"

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""

    def ask(self, reason: str = ASKED) -> None:
        if not self.requested:
            self.requested, self.reason = True, reason

    @property
    def asked(self) -> bool:
        """True when the user asked (the run stops with a checkpoint to resume), not when the loss forced it."""
        return self.requested and self.reason == self.ASKED


@dataclass
class Reporter:
    """status.json and train.log of one run, written by the main process only."""
    run: RunDir
    process: Process = field(default_factory=Process)
    t0: float = field(default_factory=time.time)
    reserved: bool = False  # the reserve file is this process' own (only that one is removed)

    @property
    def main(self) -> bool:
        return self.process.main

    def status(self, phase: str, **fields) -> None:
        if self.main:
            pid = launcher_pid()  # and its start time with it: the pair identifies the trainer (rundir.pid_alive)
            self.run.write_status(phase, pid=pid, pid_start=process_start(pid), **fields)
            self.say(f"[console] {time.time() - self.t0:6.1f}s {phase}")

    def say(self, line: str) -> None:
        if self.main:  # one voice in train.log, whatever the number of processes
            try:
                print(line, flush=True)
            except OSError:
                pass  # train.log on a full disk: the status says what happened, the log loses a line

    def heartbeat(self, slowest: float | None) -> None:
        """Touch .heartbeat; with `slowest`, write the slowest gap between two steps into it (rundir reads it)."""
        if not self.main:
            return
        try:
            if slowest is None:
                touch(self.run.heartbeat)  # the file's own time, never a link's target's
            else:
                atomic_write(self.run.heartbeat, f"{slowest:.1f}")
        except OSError:
            pass  # a full disk or a removed file must not stop training; the run only looks quieter

    # -- the final status, on a full disk too -------------------------------------------------------------------
    @property
    def _reserve(self):
        return self.run.path / ".status-reserve"

    def reserve_space(self) -> None:
        """Hold RESERVE_BYTES in a file made anew (O_EXCL): a link planted at its name had its target overwritten
        with these zero bytes (NotOwnFile is raised for it: the trainer fails saying so)."""
        if self.main:
            try:
                write_new(self._reserve, b"\0" * RESERVE_BYTES)  # real bytes: a sparse file would reserve nothing
                self.reserved = True
            except NotOwnFile:
                raise
            except OSError:
                pass  # no room even for this: the run fails at its first write, and says so while it still can

    def release_space(self) -> None:
        if not self.reserved:
            return  # not made by this process: whatever is at the name is left for the user to see
        try:
            self._reserve.unlink()
            self.reserved = False
        except OSError:
            pass

    def final_status(self, phase: str, **fields) -> None:
        """The run's last status, written first, before any log line: if the disk is full, the reserved bytes are
        let go of and the write tried again. Never raises (there is nothing left to tell of a failure here)."""
        for _attempt in (1, 2):
            try:
                self.status(phase, **fields)
                break
            except OSError:
                self.release_space()
        self.release_space()


def launcher_pid() -> int:
    """The process to signal: under torchrun, torchrun (our parent's session leader), not this worker."""
    try:
        return os.getpgid(0) if os.getpgid(0) != os.getpid() and "LOCAL_RANK" in os.environ else os.getpid()
    except OSError:
        return os.getpid()
