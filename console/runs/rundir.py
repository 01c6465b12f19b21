"""Run directories: the only interface between the trainer process and everything that watches it.

runs/<run-id>/
  config.yaml    the resolved config, exactly what the trainer got
  run.json       id, parent run, fixes applied, method, created, command line
  status.json    phase, pid, error (one line) and its kind
  metrics.jsonl  one JSON object per Trainer log event, flushed line by line
  train.log      the trainer's stdout and stderr
  checkpoints/   Trainer output
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from console.common.bounded_read import open_regular, read_prefix
from console.common.errors import RunError
from console.common.files import atomic_write, read_head, read_json_object
from console.common.safe_write import check_own, open_append, refused, write_new
from console.data.sources import describe as describe_datasets
from console.runs.checkpoints import checkpoint_dirs, checkpoint_to_resume
from console.runs.liveness import pid_alive, process_state

ACTIVE_PHASES = ("starting", "loading libraries", "loading model", "preparing data", "training", "evaluating",
                 "saving", "stopping")
FINAL_PHASES = ("done", "failed", "stopped")
# A trainer in a training phase that has not beaten its heartbeat for this long, and for HANG_FACTOR times the
# slowest gap it has shown so far, is "not responding" (a deadlock, a hung collective, a stalled file system). The
# floor leaves room for a checkpoint save of a large model, which happens between two beats.
HANG_MIN_S = 300.0
HANG_FACTOR = 10.0
HEARTBEAT_PHASES = ("training", "evaluating")
# What the console writes in a run folder, each checked before a trainer starts (RunDir.check_own_files): a link
# planted at one of these names had its target written (appended to, or overwritten with the status reserve's
# zero bytes). Appended to in place: a hard link is refused too (the same file elsewhere would be written).
APPENDED = ("metrics.jsonl", "samples.jsonl", "train.log")
REPLACED = ("config.yaml", "run.json", "status.json", "stop.request", "save.request", ".heartbeat",
            ".status-reserve", ".trainer.lock", ".summary.json", ".history.json")
# Folders the trainer (transformers, TensorBoard) writes into with plain open(): no link may be in them, nor be them.
WRITTEN_FOLDERS = ("checkpoints", "model", "tensorboard", "wandb")  # wandb: its offline files (cwd is the run)
MAX_CHECKED_ENTRIES = 100_000  # a folder of more is not a trainer's: said, not walked for minutes
# The phases before the first step and after the last, beaten by the trainer's watchdog while its process makes
# progress there (console/trainer/watchdog.py), with what counts: silent for HANG_MIN_S is "not responding".
PROGRESS_PHASES = {"loading libraries": "no byte read or written and no CPU time",
                   "loading model": "no byte read or written and no CPU time",
                   "preparing data": "no row written (no byte read or written)",
                   "saving": "no byte read or written and no CPU time"}


@dataclass
class RunDir:
    path: Path

    def __post_init__(self):
        self.path = Path(self.path).expanduser().absolute()

    @property
    def id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.yaml")
    run_json = property(lambda self: self.path / "run.json")
    status_json = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    samples_path = property(lambda self: self.path / "samples.jsonl")  # the sample answers (console.runs.samples)
    log_path = property(lambda self: self.path / "train.log")
    checkpoints = property(lambda self: self.path / "checkpoints")
    stop_request = property(lambda self: self.path / "stop.request")
    save_request = property(lambda self: self.path / "save.request")
    heartbeat = property(lambda self: self.path / ".heartbeat")  # touched by the trainer each step (at most 1/s)

    # -- what the console writes here is its own -------------------------------------------------------------
    def check_own_files(self) -> None:
        """NotOwnFile (one line naming it) when a name the console or the trainer writes in this folder holds a
        link, a FIFO, a device or a hard link, or a link sits anywhere in the folders the trainer writes into. The
        launcher asks before it starts a trainer and the trainer before it writes; their own opens refuse links
        too (console/common/safe_write.py), so a link planted after this check is refused, never written through."""
        for name in APPENDED:
            check_own(self.path / name)
        for name in REPLACED:
            check_own(self.path / name, one_name=False)
        self.check_written_folders()

    def check_written_folders(self) -> None:
        """NotOwnFile when a link, a FIFO or a hard link is in (or is) one of the folders the libraries write into
        with plain open() (checkpoints/, model/, ...): asked before a trainer starts and again before each save."""
        seen = 0
        for name in WRITTEN_FOLDERS:
            top = self.path / name
            check_own(top, folder=True)
            if not top.is_dir():
                continue
            for folder, dirs, files in os.walk(top):  # followlinks=False: a linked folder is listed, not entered
                for entry in dirs + files:
                    seen += 1
                    path = os.path.join(folder, entry)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue  # gone meanwhile (a checkpoint rotated away)
                    problem = refused(path, st, folder=True)  # transformers and torch write with "wb"
                    if problem is not None:
                        raise problem
                if seen > MAX_CHECKED_ENTRIES:
                    from console.common.safe_write import NotOwnFile

                    raise NotOwnFile(top, f"{top} holds more than {MAX_CHECKED_ENTRIES} files: not a trainer's "
                                          f"folder. Move it away and try again")

    # -- run.json ------------------------------------------------------------------------------------------
    def read_info(self) -> dict:
        return _typed(read_json_object(self.run_json), _INFO_TYPES) or {"id": self.id}

    def write_info(self, info: dict) -> None:
        atomic_write(self.run_json, json.dumps(info, indent=1) + "\n")

    # -- status.json ---------------------------------------------------------------------------------------
    def read_status_file(self) -> dict | None:
        return _typed(read_json_object(self.status_json), _STATUS_TYPES)

    def write_status(self, phase: str, unless_final: bool = False, **fields) -> dict:
        """Merge `fields` and `phase` into status.json. unless_final: leave a final status (done, failed, stopped)
        as it is and return it (a repair by a reader must never overwrite what the trainer said last)."""
        status = self.read_status_file() or {}
        if unless_final and status.get("phase") in FINAL_PHASES:
            return status
        status.update(fields)
        status["phase"] = phase
        status["updated"] = time.time()
        if phase not in FINAL_PHASES:
            for key in ("error", "kind", "message"):
                if key not in fields:
                    status.pop(key, None)
        atomic_write(self.status_json, json.dumps(status, indent=1) + "\n")
        return status

    def status(self) -> dict:
        """The run's status as a reader should take it: status.json, recovered from the other files when it is
        corrupt or missing, and "failed (killed)" when it says the trainer is at work but the trainer is gone.
        Reading never writes: `settle` records such a verdict, called by the follower that reached it."""
        status = self.read_status_file()
        if status is None or "phase" not in status:
            status = self._recover_status()
        if status.get("phase") in ACTIVE_PHASES and not self.trainer_alive(status):
            # The trainer may have written its final status and exited between the read above and that check: read
            # again before calling it dead (under load a finished run was reported "killed").
            again = self.read_status_file()
            if again is not None and again.get("phase") in FINAL_PHASES:
                return again
            # Give a just-launched trainer a moment to write its pid before calling it dead (an `updated` in the
            # future, from a clock that moved or a hand edit, does not count as a moment ago).
            if abs(time.time() - float(status.get("updated") or 0)) > 5 or status.get("pid"):
                last = self.last_log_line()
                status = dict(status, phase="failed", kind="killed",
                              message="the trainer process ended without a final status (killed, or the machine "
                                      "restarted)" + (f"; last log line: {last}" if last else ""))
        elif status.get("phase") in ACTIVE_PHASES:
            stall = self.not_responding(status)
            if stall:
                status = dict(status, not_responding=stall)
        return status

    def settle(self, status: dict) -> dict:
        """Write into status.json the final verdict a reader reached (the trainer gone without saying how it
        ended), so that every later reader sees it; never over a final status the trainer wrote, never while the
        run's recorded trainer (run.json's identity too) is alive, asked again at the moment of writing. The one
        place a reader writes a status: the follower calls it when a run it follows ends so."""
        if status.get("phase") not in FINAL_PHASES or status.get("kind") != "killed":
            return status
        on_file = self.read_status_file() or {}
        if on_file.get("phase") in FINAL_PHASES:
            return on_file
        if self.trainer_pid(on_file) is not None:
            return self.status()  # alive after all (a status.json that named no trainer, or another process)
        try:
            return self.write_status(status["phase"], kind=status["kind"], message=status.get("message", ""),
                                     unless_final=True)
        except OSError:
            return status

    def last_activity(self) -> float | None:
        """When the trainer last showed it was working: the newest of its heartbeat, metrics and status writes."""
        times = []
        for path in (self.heartbeat, self.metrics_path, self.status_json):
            try:  # lstat: a link planted here shows its own time, not that of a busy file elsewhere
                times.append(os.lstat(path).st_mtime)
            except OSError:
                pass
        return max(times) if times else None

    def not_responding(self, status: dict, now: float | None = None) -> str:
        """'' while the trainer responds; else one line saying since when and why: its process is stopped by a
        signal (state T), or it is in a training phase and has not beaten its heartbeat for HANG_MIN_S and
        HANG_FACTOR times its slowest gap so far, or in a phase without steps (PROGRESS_PHASES: loading, preparing
        data, saving) its watchdog has seen no progress for HANG_MIN_S. A stopped or hung trainer showed as
        "training" (or "preparing data") forever."""
        pid = self.trainer_pid(status)
        last = self.last_activity()
        since = time.strftime("%H:%M:%S", time.localtime(last)) if last else "its start"
        state = process_state(pid) if pid is not None else None
        if state in ("T", "t"):
            return (f"not responding since {since}: the trainer (pid {pid}) is stopped by a signal (Ctrl-Z or "
                    f"SIGSTOP); continue it with `kill -CONT {pid}`")
        if last is None:
            return ""
        silent = (time.time() if now is None else now) - last
        phase = status.get("phase")
        if phase in PROGRESS_PHASES:  # no steps here: the watchdog beats for the process' own progress
            if silent > HANG_MIN_S:
                return (f"not responding since {since}: {PROGRESS_PHASES[phase]} for {silent / 60:.0f} min while "
                        f"{phase}; it may be hung: see train.log, or stop it with "
                        f"`training-console stop {self.id} --kill`")
            return ""
        if phase not in HEARTBEAT_PHASES:
            return ""
        try:
            slowest = float((read_head(self.heartbeat, 32) or b"")[:32].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return ""  # no heartbeat yet (an older trainer, or before its first step), or not the trainer's
        limit = max(HANG_MIN_S, HANG_FACTOR * (slowest if 0 < slowest < 1e6 else 0))
        if silent > limit:
            return (f"not responding since {since}: no step, metric or status for {silent / 60:.0f} min (its "
                    f"slowest step so far took {slowest:.0f} s); it may be hung: see train.log, or stop it "
                    f"with `training-console stop {self.id} --kill`")
        return ""

    def trainer_alive(self, status: dict | None = None) -> bool:
        """Whether this run's own trainer runs (see trainer_pid)."""
        return self.trainer_pid(status) is not None

    def trainer_pid(self, status: dict | None = None) -> int | None:
        """The pid of this run's own trainer while it runs, else None: the identity status.json gives (pid and its
        start time) or, failing that, the one the launcher recorded in run.json; each checked against the process
        (its start time and this folder on its command line, see pid_alive). status.json is the trainer's but
        anyone can edit it: a wrong-typed or foreign pid there made every reader write `failed` over a live run,
        and `stop` refuse it."""
        status = self.read_status_file() if status is None else status
        for source in (status or {}, self.read_info()):
            pid, start = source.get("pid"), source.get("pid_start")
            if not _STATUS_TYPES["pid"](pid):
                continue
            if pid_alive(pid, self.path, start if _STATUS_TYPES["pid_start"](start) else None):
                return pid
        return None

    def _recover_status(self) -> dict:
        """status.json unreadable: rebuild what can be known from the other files."""
        if not self.metrics_path.exists() and not self.config_path.exists():
            return {"phase": "failed", "kind": "missing", "message": "not a run folder (no config.yaml)"}
        info = self.read_info()
        pid = self.trainer_pid({})  # run.json's identity, the launcher's
        if pid is not None:
            return {"phase": "training", "pid": pid, "pid_start": info.get("pid_start"), "recovered": True}
        pid = info.get("pid")
        from console.runs.history_store import run_history

        history = run_history(self.path)
        if history.final is not None:
            return {"phase": "done", "recovered": True}
        return {"phase": "failed", "kind": "unknown", "recovered": True, "pid": pid,
                "message": "status.json was missing or corrupt and the trainer is not running"}

    def objective_in_config(self) -> str | None:
        """The objective written near the top of config.yaml (to_yaml writes it second, after the method), read from
        its first bytes without parsing the YAML: the runs list asks it of every run from before run.json recorded
        it, and a YAML parse per row cost 3000 rows seconds."""
        try:
            head = read_prefix(self.config_path, 512).decode("utf-8", "replace")
        except OSError:
            return None
        found = re.search(r"^objective: ([a-z]+)$", head, re.MULTILINE)
        return found.group(1) if found else None

    def last_log_line(self) -> str:
        lines = self.tail_log(5)
        return lines[-1][:200] if lines else ""

    def tail_log(self, n: int = 20) -> list[str]:
        try:
            with open_regular(self.log_path) as f:  # a FIFO in its place hung `runs`, `show`, `watch`, the console
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-n:]

    def config(self):
        """The run's config.yaml as a RunConfig (ConfigError in one line when it is unreadable)."""
        from console.config.run_config import load_run_config

        return load_run_config(self.path)

    def checkpoint_to_resume(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint that is whole, and a line for each newer one skipped (console/runs/checkpoints.py)."""
        return checkpoint_to_resume(self.checkpoints)

    def last_checkpoint(self) -> Path | None:
        """The newest checkpoint folder with a trainer_state.json (whole or not)."""
        return next((child for _, child in checkpoint_dirs(self.checkpoints)
                     if (child / "trainer_state.json").exists()), None)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _text(v) -> bool:
    return isinstance(v, str)


# What each field of status.json and run.json must be. The files are written by the trainer and the launcher, but
# read back from a folder anyone can edit (or that a crash cut): a value of the wrong type is dropped on reading,
# so one bad run never turns `runs`, `show`, `watch` or the console into a traceback.
_STATUS_TYPES = {
    "phase": _text, "pid": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31,
    "updated": _number, "started": _number, "step": _number, "seconds": _number, "message": _text, "kind": _text,
    "error": _text, "precision": _text, "device": _text, "model": _text, "data": _text, "cut_text": _text,
    "cut": lambda v: isinstance(v, dict), "best_checkpoint": _text, "final_model": _text,
    "recovered": lambda v: isinstance(v, bool), "pid_start": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "data_format": _text,  # the format registry's name (console/data/formats), written by the trainer
}
_INFO_TYPES = {
    "id": _text, "parent": lambda v: v is None or isinstance(v, str), "method": _text, "objective": _text,
    "created": _number,
    "data": _text,
    "name": lambda v: v is None or isinstance(v, str), "pid": _STATUS_TYPES["pid"],
    "pid_start": _STATUS_TYPES["pid_start"],
    "fixes": lambda v: isinstance(v, list) and all(isinstance(f, dict) for f in v),
    "command": lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
    "launches": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
}


def _typed(data: dict | None, types: dict) -> dict | None:
    """The fields of `data` whose values have their type (unknown keys are kept as they are)."""
    if data is None:
        return None
    return {k: v for k, v in data.items() if k not in types or types[k](v)}


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def new_run_id(method: str, name: str | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = _label(name or method) or method
    return f"{stamp}-{label}-{secrets.token_hex(2)}"


def _label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40]


_ID_PARTS = re.compile(r"\d{8}-\d{6}-(?P<label>.+)-[0-9a-f]{4}")


def run_label(run_id: str) -> str | None:
    """The label of a run id (the --name given, else the method): '20261206-145118-smoke-894b' -> 'smoke'; None
    for an id not of this form."""
    m = _ID_PARTS.fullmatch(run_id)
    return m.group("label") if m else None


def check_runs_dir(runs_dir: str | os.PathLike) -> Path:
    """The runs folder, created if needed; a clear error if it cannot be written to."""
    runs = Path(runs_dir).expanduser()
    try:
        runs.mkdir(parents=True, exist_ok=True)
        probe = runs / f".write-test-{os.getpid()}"
        write_new(probe, b"x" * 4096, sync=True)  # never through a link planted at this name
        probe.unlink()
    except OSError as err:
        reason = err.strerror or str(err)
        raise RunError(f"cannot write to the runs folder {runs}: {reason}. Choose another with --runs-dir, "
                       f"or free space / fix its permissions.") from None
    return runs


def create_run(runs_dir: str | os.PathLike, config, command: list[str] | None = None,
               name: str | None = None) -> RunDir:
    """A new run folder holding the resolved config and run.json; nothing is started."""
    runs = check_runs_dir(runs_dir)
    run = RunDir(runs / new_run_id(config.method, name))
    run.path.mkdir()
    config.run_id = run.id
    config.save(run.config_path)
    run.write_info({
        "id": run.id, "parent": config.parent, "fixes": config.fixes, "method": config.method,
        "objective": config.objective,  # sft, dpo or kto: the runs list tells a DPO run on LoRA from an SFT one
        "created": time.time(), "command": command or [],
        "data": describe_datasets(config.values.get("dataset")),  # the runs list's and screen's data column
    })
    run.write_status("starting")
    open_append(run.metrics_path).close()
    return run


def find_run(runs_dir: str | os.PathLike, name: str) -> RunDir:
    """A run by id, unique prefix or suffix, its --name label (when one run has it), any other unique part of its
    id, 'latest', or a path; never a folder outside the runs folder by id."""
    runs = Path(runs_dir).expanduser()
    if name in ("latest", "last", ""):
        all_runs = list_run_dirs(runs)
        if not all_runs:
            raise RunError(f"no runs in {runs}: start one with `training-console train`")
        return all_runs[-1]
    as_path = Path(name).expanduser()
    if ("/" in name or name.startswith(".")) and (as_path / "config.yaml").exists():
        return RunDir(as_path)
    if not _SAFE_ID.fullmatch(name) or ".." in name:
        raise RunError(f"'{name}' is not a run id (letters, digits, '.', '_' and '-'); `training-console runs` "
                       f"lists them")
    exact = runs / name
    if exact.is_symlink():  # a link in the runs folder would let resume or stop act on a folder elsewhere
        raise RunError(f"{exact} is a link to {os.path.realpath(exact)}: give that path itself if you mean it")
    if (exact / "config.yaml").exists():
        return RunDir(exact)
    matches = [r for r in list_run_dirs(runs) if r.id.startswith(name) or r.id.endswith(name)]
    if not matches:  # the label given with --name: 20261206-145118-<label>-894b
        matches = [r for r in list_run_dirs(runs) if run_label(r.id) == _label(name)]
    if not matches:  # any unique part, as the docs say (the time alone, 175354, was refused)
        matches = [r for r in list_run_dirs(runs) if name in r.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunError(f"no run '{name}' in {runs}: `training-console runs` lists them")
    raise RunError(f"'{name}' matches {len(matches)} runs ({', '.join(m.id for m in matches[:4])}...): "
                   f"give more of the id")


def list_run_dirs(runs_dir: str | os.PathLike) -> list[RunDir]:
    runs = Path(runs_dir).expanduser()
    try:  # scandir: whether an entry is a folder (never a link to one) comes with the listing, no stat per entry
        with os.scandir(runs) as entries:
            folders = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):  # no runs yet; any other error is said by the command
        return []
    out = [RunDir(p) for p in folders if os.path.exists(os.path.join(p, "config.yaml"))]
    for run in out:  # read once here, for the order, and kept for a reader that lists them (run_summary)
        run.listed_info = run.read_info()
    return sorted(out, key=lambda r: ((r.listed_info.get("created") or 0), r.id))


# status.json's phase by run folder, with the (inode, mtime_ns, size) it was read at (an atomic write is a new
# inode): a run whose status.json is unchanged and final is not read again. Asking which runs train read every run's
# status each time (the console asks at its start and whenever its footer's keys are refreshed: 0.3 s at 3000 runs).
_PHASE_SEEN: dict[str, tuple[int, int, int, str | None]] = {}


def active_run_dirs(runs_dir: str | os.PathLike) -> list[RunDir]:
    """The runs of a runs folder that are training now (their status as `status()` gives it), oldest first; a
    folder's status.json is read again only when it changed or says the trainer is at work."""
    runs = Path(runs_dir).expanduser()
    try:
        with os.scandir(runs) as entries:
            folders = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    active = []
    for folder in folders:
        try:
            st = os.stat(os.path.join(folder, "status.json"))
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            key = None  # no status.json: recovered from the other files each time (rare)
        seen = _PHASE_SEEN.get(folder)
        if key is not None and seen is not None and seen[:3] == key and seen[3] in FINAL_PHASES:
            continue
        if not os.path.isfile(os.path.join(folder, "config.yaml")):
            continue
        run = RunDir(folder)
        on_file = run.read_status_file() or {}
        if key is not None:
            _PHASE_SEEN[folder] = (*key, on_file.get("phase"))
        if run.status().get("phase") in ACTIVE_PHASES:
            active.append(run)
    return sorted(active, key=lambda r: ((r.read_info().get("created") or 0), r.id))
