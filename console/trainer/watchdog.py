"""The trainer's watchdog: a thread of the main trainer process that (1) stops the trainer when its run folder is
removed or replaced, before it writes anything more, and (2) beats the heartbeat in the phases that have no steps
(loading libraries, loading the model, preparing data, saving) while the process makes progress there.

(1) A trainer whose folder was deleted trained on, invisible to every command, and a folder put in its place (a new
run with the same name, a restored copy) would have received its status, metrics and checkpoints. The folder's
identity (device and inode) is taken at the start and checked every second here and before every status write
(`WatchedReporter`): when it changed, the trainer says so on its log (the open train.log, wherever it now is) and
exits at once, writing nothing into whatever is at the path now.

(2) The step phases beat from the Trainer's callbacks (console/trainer/callbacks.py: a step, an eval batch). Before
the first step there was no beat, so a hung data preparation (a chat template with nested loops) stayed "preparing
data" forever, never "not responding", and `stop` gave up. Here a beat is given only for progress this process
makes, sampled each second from /proc/self: in data preparation, bytes read or written (datasets writes its mapped
rows to its cache a thousand rows at a time; a template stuck on one row burns CPU and writes nothing); while
loading or saving, bytes or CPU time (a load or a save stuck on a stalled file system or a deadlock has neither).
The reader applies the silence rule per phase (RunDir.not_responding). The beat touches the file's time only
(os.utime writes no bytes, so it never counts as progress itself), and the bytes this thread reads from /proc are
taken off.

Linux only, like console/runs/liveness.py: without /proc the thread beats nothing and checks only the folder.
"""
from __future__ import annotations

import os
import sys
import threading

from console.runs.report import Reporter

WATCH_S = 1.0
# progress that counts, by phase: "io" bytes read or written, "cpu" CPU time; a phase not listed gets no beat here
# (the step phases beat from the callbacks)
PROGRESS = {"loading libraries": ("io", "cpu"), "loading model": ("io", "cpu"), "preparing data": ("io",),
            "saving": ("io", "cpu")}
FOLDER_GONE_EXIT = 3


def folder_identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class FolderGuard:
    """The run folder as it was when the trainer started; `changed()` says how it is not that folder any more."""

    def __init__(self, path):
        self.path = path
        self.identity = folder_identity(path)

    def changed(self) -> str:
        now = folder_identity(self.path)
        if now == self.identity:
            return ""
        if now is None:
            return f"the run folder {self.path} was removed (or moved away) while the trainer ran"
        return f"the run folder {self.path} was replaced by another folder while the trainer ran"

    def stop_if_changed(self) -> None:
        """Exit the process now when the folder changed, after saying so on stderr (train.log's descriptor): no
        handler runs, so nothing more is written at the path (a final status would land in the other folder)."""
        why = self.changed()
        if why:
            try:
                os.write(2, f"[console] {why}: this trainer stops now and writes nothing more there\n".encode())
            except OSError:
                pass
            os._exit(FOLDER_GONE_EXIT)


class ProcessProgress:
    """This process' CPU time (clock ticks) and bytes read and written (/proc/self/stat and /proc/self/io), less
    the bytes read here to learn them."""

    def __init__(self) -> None:
        self.own_bytes = 0

    def _read(self, name: str) -> str:
        try:
            with open(f"/proc/self/{name}", "rb") as f:
                raw = f.read(4096)
        except OSError:
            return ""
        self.own_bytes += len(raw)
        return raw.decode("ascii", "replace")

    def sample(self) -> dict[str, int] | None:
        stat, io = self._read("stat"), self._read("io")
        try:
            fields = stat.rsplit(") ", 1)[1].split()
            cpu = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of the line
            counters = dict(line.split(": ") for line in io.splitlines() if ": " in line)
            moved = int(counters["rchar"]) + int(counters["wchar"]) - self.own_bytes
        except (IndexError, ValueError, KeyError):
            return None
        return {"cpu": cpu, "io": moved}


class WatchedReporter(Reporter):
    """The trainer's Reporter, which checks the folder before every status write, and tells the watchdog the phase."""

    guard: FolderGuard | None = None
    phase: str = ""

    def status(self, phase: str, **fields) -> None:
        if self.guard is not None:
            self.guard.stop_if_changed()
        self.phase = phase
        super().status(phase, **fields)

    def heartbeat(self, slowest: float | None) -> None:
        if self.guard is not None:
            self.guard.stop_if_changed()
        super().heartbeat(slowest)


class Watchdog(threading.Thread):
    def __init__(self, report: WatchedReporter, guard: FolderGuard, every: float = WATCH_S):
        super().__init__(name="console-watchdog", daemon=True)
        self.report, self.guard, self.every = report, guard, every
        self.progress = ProcessProgress()
        self.halt = threading.Event()

    def run(self) -> None:
        last = self.progress.sample()
        while not self.halt.wait(self.every):
            self.guard.stop_if_changed()
            now = self.progress.sample()
            counts = PROGRESS.get(self.report.phase, ())
            if now is not None and last is not None and any(now[k] > last[k] for k in counts):
                self._beat()
            last = now

    def _beat(self) -> None:
        try:
            os.utime(self.report.run.heartbeat, follow_symlinks=False)  # a planted link: its own time, not its target's
        except FileNotFoundError:
            try:  # the first beat of a run: an empty file (no slowest step yet)
                os.close(os.open(self.report.run.heartbeat, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
            except OSError:
                pass
        except OSError:
            pass


def folder_callback(guard: FolderGuard):
    """A TrainerCallback that checks the folder after every step, before the Trainer saves a checkpoint there
    (transformers calls on_step_end before it saves). Built here, not at import: transformers loads later."""
    from transformers import TrainerCallback

    class FolderCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            guard.stop_if_changed()

    return FolderCallback()


def start_watchdog(report: WatchedReporter) -> Watchdog | None:
    """The guard on the report and, in the main process, the watchdog thread started; None in the others."""
    report.guard = FolderGuard(report.run.path)
    if not report.main:
        return None
    dog = Watchdog(report, report.guard)
    dog.start()
    return dog


if sys.platform != "linux":  # pragma: no cover  the /proc counters are Linux's; the folder check works anywhere
    PROGRESS = {}
