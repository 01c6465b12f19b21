"""Starting, stopping and resuming the trainer process.

The trainer runs in its own session (setsid), so closing the terminal, losing SSH or quitting the console does
not stop it; every later console finds it again through the run folder.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from console.common.errors import RunError
from console.common.files import atomic_write
from console.common.safe_write import NotOwnFile, open_append, open_lock
from console.runs.liveness import pid_alive, process_start
from console.runs.rundir import ACTIVE_PHASES, FINAL_PHASES, RunDir


def package_root() -> str:
    """The folder that holds this copy of the `console` package, for the trainer's PYTHONPATH. This file is
    console/runs/launcher.py: one level short, it named console/ itself, and a trainer started from a source
    checkout (a second worktree) imported whatever other copy was installed, not the launcher's own."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trainer_command(run: RunDir, processes: int = 1, resume: bool = False,
                    accelerate_config: str | None = None, nodes: int = 1, node_rank: int = 0,
                    master_addr: str | None = None, master_port: int = 29500) -> list[str]:
    """The argv of the trainer: plain python for one process, torchrun for several (or several machines: nodes,
    node_rank, master_addr, master_port instead of --standalone), `accelerate launch` with a config file or preset
    name (DeepSpeed, FSDP). On a worker machine (node_rank > 0) it runs under console.trainer.worker, which gives the
    worker's run folder its final status (the trainer writes only on the main machine). Always a list, never a shell
    line."""
    from console.machine.scale import accelerate_config_file

    tail = ["-m", "console.trainer.train", str(run.path)] + (["--resume"] if resume else [])
    several = nodes > 1
    if accelerate_config:
        # accelerate's --num_processes is the total over all machines (it launches num_processes // num_machines
        # on each)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               accelerate_config_file(accelerate_config), f"--num_processes={processes * nodes}"]
        if several:
            cmd += [f"--num_machines={nodes}", f"--machine_rank={node_rank}", f"--main_process_ip={master_addr}",
                    f"--main_process_port={master_port}"]
        cmd += tail
    elif processes <= 1 and not several:
        return [sys.executable, *tail]
    elif several:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--node-rank={node_rank}",
               f"--master-addr={master_addr}", f"--master-port={master_port}", f"--nproc-per-node={processes}",
               *tail]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *tail]
    if several and node_rank > 0:
        return [sys.executable, "-m", "console.trainer.worker", str(run.path), "--", *cmd]
    return cmd


def launch(run: RunDir, processes: int | None = None, resume: bool = False, machines: dict | None = None,
           config=None) -> int:
    """Start the trainer for `run` in the background; returns its pid. Output goes to train.log, never the tty.
    `processes`: the run's own `processes` unless given. `machines` (nodes, node_rank, master_addr, master_port)
    overrides the run's own values (a resume on a new port). `config`: the RunConfig just saved in the folder, when
    the caller has it (else it is read from config.yaml)."""
    from console.machine.scale import ACCELERATE_PRESETS, accelerate_config_file, node_args

    values = (config if config is not None else run.config()).values
    processes = processes if processes is not None else int(values.get("processes") or 1)
    accelerate_config = values.get("accelerate_config")
    if accelerate_config and accelerate_config not in ACCELERATE_PRESETS \
            and not os.path.isfile(accelerate_config_file(accelerate_config)):
        # checked here: missing, it ended as "killed, or the machine restarted" with its cause cut from the log
        message = (f"accelerate_config {accelerate_config} not found: give the path of an `accelerate config` "
                   f"file or a preset ({', '.join(ACCELERATE_PRESETS)}), or leave accelerate_config empty")
        if not resume:  # a new run folder says why it never started; a resumed one keeps its own status
            run.write_status("failed", kind="input", message=message)
        raise RunError(message)
    machines = dict(node_args(values), **(machines or {}))
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # The trainer imports this package: make sure it can, whatever the current directory is.
    pkg_root = package_root()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    if processes > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    # report_to tensorboard: its event files in the run folder (transformers 5 has no logging_dir; without this
    # they land under checkpoints/runs/<date>_<host>); set for every run, so a user's own value does not send one
    # run's curves into another's folder
    from console.machine.trackers import TENSORBOARD_DIR

    env["TENSORBOARD_LOGGING_DIR"] = str(run.path / TENSORBOARD_DIR)
    # the trainer writes its status, metrics and checkpoints here: a folder it cannot write to is said now, in one
    # line, not as a traceback after the trainer has started
    if not os.access(run.path, os.W_OK | os.X_OK):
        raise RunError(f"cannot write to the run folder {run.path}: check its permissions (resume needs to write "
                       "there)")
    # a link planted in the folder (train.log -> ~/.bashrc) is said now, in one line naming it; the trainer checks
    # again, and every write of both refuses a link (console/common/safe_write.py)
    run.check_own_files()
    try:
        lock = _take_lock(run)
    except PermissionError as err:
        raise RunError(f"cannot write to the run folder {run.path} ({err.strerror}): check its permissions") from None
    for stale in (run.stop_request, run.save_request):  # requests left by an earlier trainer are not for this one
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            os.close(lock)
            raise RunError(f"cannot remove {stale} ({err.strerror}): check the run folder's permissions") from None
    try:
        log = open_append(run.log_path, text=False)
    except NotOwnFile:
        os.close(lock)
        raise
    except OSError as err:
        os.close(lock)
        raise RunError(f"cannot write {run.log_path} ({err.strerror}): check the run folder's permissions and free "
                       "space") from None
    try:
        with log:
            proc = subprocess.Popen(
                trainer_command(run, processes, resume, accelerate_config, **machines), stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=str(run.path), close_fds=True,
                pass_fds=(lock,),
            )
    finally:
        os.close(lock)  # the trainer holds it now (an inherited descriptor of the same lock) until it exits
    info = run.read_info()
    # the trainer's identity, the launcher's record of it: a status.json made wrong (a pid of the wrong type, or
    # another process') never makes a live trainer look dead (RunDir.trainer_pid)
    info["pid"], info["pid_start"] = proc.pid, process_start(proc.pid)
    launch_info = {"time": time.time(), "resume": resume, "processes": processes}
    if machines["nodes"] > 1:
        launch_info.update(machines)
    info.setdefault("launches", []).append(launch_info)
    if machines["node_rank"] > 0:  # a worker machine's folder: its metrics and checkpoints are the main one's
        info["worker"] = {"node_rank": machines["node_rank"], "nodes": machines["nodes"],
                          "main": f"{machines['master_addr']}:{machines['master_port']}"}
    run.write_info(info)
    if machines["node_rank"] > 0:
        # a worker's trainer writes no status (only global rank 0 does): console.trainer.worker writes its final one
        w = info["worker"]
        run.write_status("training", pid=proc.pid, pid_start=process_start(proc.pid),
                         message=f"worker node {w['node_rank']} of {w['nodes']} for the run on {w['main']}: the "
                                 f"metrics and checkpoints are in the main machine's run folder")
    else:
        run.write_status("starting", pid=proc.pid, pid_start=process_start(proc.pid))
    # Reap the child the moment it ends, whoever is watching it (or nobody: the user moved to another run), so
    # its pid does not linger as a zombie of this process until the console exits; a thread blocked in wait() is
    # the one way to do that without a SIGCHLD handler, which would fight Textual's and asyncio's own.
    reaper = threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True)
    reaper.start()
    _reapers[proc.pid] = reaper
    return proc.pid


_reapers: dict[int, threading.Thread] = {}

LOCK_NAME = ".trainer.lock"
LOCK_GRACE_S = 30.0  # how long a launch waits for a trainer that has ended to exit and let go of the lock


def _take_lock(run: RunDir) -> int:
    """Exactly one trainer per run folder: an exclusive flock on the folder's lock file, taken here and inherited
    by the trainer, which holds it until it exits (the kernel lets go of it then, whatever way it ends). Two
    resumes at once both passed check_resumable and started two trainers on one folder before."""
    import fcntl

    fd = open_lock(run.path / LOCK_NAME)  # never through a link planted at its name
    # A trainer that has written its final status is still exiting for a moment (closing files, freeing memory):
    # a resume right after a stop waits for it to let go, up to LOCK_GRACE_S, instead of being refused.
    deadline = time.monotonic() + LOCK_GRACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if run.read_status_file() is None or run.status().get("phase") not in FINAL_PHASES \
                    or time.monotonic() > deadline:
                os.close(fd)
                raise RunError(f"run {run.id} already has a trainer running (another launch or resume started "
                               f"it): attach to it with `training-console attach {run.id}`") from None
            time.sleep(0.1)


def wait_exit(pid: int, timeout: float | None = None) -> bool:
    """Block until the trainer this process launched as `pid` has exited and been reaped; False on timeout."""
    reaper = _reapers.get(pid)
    if reaper is None:
        return not pid_alive(pid)
    reaper.join(timeout)
    return not reaper.is_alive()


def request_stop(run: RunDir) -> bool:
    """Ask the trainer to stop gracefully (checkpoint saved, status 'stopped'). False if it was not running."""
    status = run.status()
    pid = run.trainer_pid(status)  # the recorded identity, checked: never another process
    if status.get("phase") not in ACTIVE_PHASES or pid is None:
        return False
    atomic_write(run.stop_request, str(time.time()))  # a rename: never through a link planted at its name
    if status.get("phase") == "starting":
        # the interpreter may not have its SIGTERM handler yet (a signal now would kill it, "failed"): the trainer
        # reads the request file as soon as it has one, and stops before its first step
        return True
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    return True


def request_save(run: RunDir) -> bool:
    """Ask the trainer to save a checkpoint at its next step."""
    status = run.status()
    if status.get("phase") not in ACTIVE_PHASES:
        return False
    atomic_write(run.save_request, str(time.time()))
    return True


def wait(run: RunDir, timeout: float | None = None, poll: float = 0.2) -> dict:
    """Block until the run reaches a final phase (or the timeout); returns the last status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = run.status()
        if status.get("phase") not in ACTIVE_PHASES:
            return status
        if deadline is not None and time.monotonic() > deadline:
            return status
        time.sleep(poll)


def kill(run: RunDir) -> None:
    pid = run.trainer_pid()
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


KILL_WAIT_S = 10.0


def kill_trainer(run: RunDir) -> dict:
    """End the run's trainer now (SIGKILL to its process group: a stopped or hung trainer cannot act on a stop
    request) and record it as stopped, saying what was lost; returns the new status. Only the run's own trainer is
    signalled (RunDir.trainer_alive)."""
    status = run.status()
    pid = run.trainer_pid(status)
    if status.get("phase") not in ACTIVE_PHASES or pid is None:
        return status
    kill(run)
    deadline = time.monotonic() + KILL_WAIT_S
    while run.trainer_alive(status) and time.monotonic() < deadline:
        if pid in _reapers:
            _reapers[pid].join(0.1)
        else:
            time.sleep(0.1)
    if run.trainer_alive(status):
        return dict(status, message=f"the trainer (pid {pid}) did not end within {KILL_WAIT_S:.0f} s of SIGKILL "
                                    f"(a process stuck in the kernel, state D): see `ps -o stat,cmd -p {pid}`")
    checkpoint, _ = run.checkpoint_to_resume()
    where = f"resume takes {checkpoint.name}" if checkpoint else "there is no checkpoint to resume from"
    return run.write_status("stopped", kind="killed",
                            message=f"killed by `stop --kill`: no checkpoint at the stop; {where}")


def check_resumable(run: RunDir) -> None:
    worker = run.read_info().get("worker")
    if isinstance(worker, dict):  # its trainer wrote no checkpoint here: the main machine's folder holds them
        raise RunError(f"run {run.id} is worker node {worker.get('node_rank')} of a run over several machines "
                       f"(main {worker.get('main')}): it holds no checkpoint to resume from. The main machine's run "
                       f"folder holds them; or start every machine again with `train`")
    status = run.status()
    if status.get("phase") in ACTIVE_PHASES:
        raise RunError(f"run {run.id} is still {status['phase']}: stop it first, or attach to it")
    if status.get("phase") == "done":  # resuming would train past its max_steps: a new run is what is meant
        raise RunError(f"run {run.id} has finished: there is nothing to resume. To train it again or longer, "
                       f"rerun it (`training-console rerun {run.id} --fix none --set max_steps=N`)")
    checkpoint, skipped = run.checkpoint_to_resume()
    if checkpoint is None and skipped:
        raise RunError(f"run {run.id} has no intact checkpoint to resume from ({'; '.join(skipped)}): rerun it "
                       f"instead (`training-console rerun {run.id} --fix none`)")
    if checkpoint is None:
        raise RunError(f"run {run.id} has no checkpoint to resume from: rerun it instead "
                       f"(`training-console rerun {run.id}`)")
