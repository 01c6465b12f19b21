"""Runs as real processes: graceful stop, SIGKILL and resume, divergence, status recovery, the runs folder."""
import json
import os
import signal
import time

import pytest

from console.common.errors import RunError
from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import check_resumable, kill, launch, request_save, request_stop, wait, wait_exit
from console.runs.metrics import load_history
from console.runs.rundir import check_runs_dir, create_run, find_run
from tests.support.e2e_util import FAST, wait_for

pytestmark = pytest.mark.e2e


def _start(runs_dir, *extra, method="lora"):
    config = resolve(build_config(method, sets=parse_set(FAST + list(extra))))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    return run


def _steps(run):
    return load_history(run.metrics_path).train_loss.steps


def test_graceful_stop_saves_a_checkpoint_and_says_stopped(runs_dir):
    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=1000")
    wait_for(lambda: len(_steps(run)) >= 3, timeout=90)
    assert request_save(run)
    wait_for(lambda: run.last_checkpoint() is not None, timeout=30)
    assert request_stop(run)
    status = wait(run, timeout=60)
    assert status["phase"] == "stopped", status
    step = status["step"]
    assert (run.checkpoints / f"checkpoint-{step}").is_dir()
    assert run.last_checkpoint().name == f"checkpoint-{step}"
    # every view says the same step: the log (its closing summary), `runs`, the progress line with the status
    from console.runs.progress import progress, run_summary

    assert load_history(run.metrics_path).last_step == step
    assert run_summary(run)["step"] == step
    assert progress(load_history(run.metrics_path), status).step == step


def test_sigkill_marks_failed_keeps_metrics_and_resume_continues(runs_dir):
    run = _start(runs_dir, "max_steps=60", "logging_steps=2", "save_steps=10", "eval_steps=10")
    wait_for(lambda: run.last_checkpoint() is not None and len(_steps(run)) >= 8, timeout=90)
    pid = run.read_status_file()["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: run.status()["phase"] == "failed", timeout=10)
    status = run.status()
    assert status["kind"] == "killed" and "ended without a final status" in status["message"]
    before = _steps(run)
    assert before  # the metrics up to the kill are kept
    ckpt_step = int(run.last_checkpoint().name.split("-")[1])
    check_resumable(run)
    launch(run, resume=True)
    final = wait(run, timeout=120)
    assert final["phase"] == "done", run.tail_log(20)
    steps = _steps(run)
    # one continuous history: it goes on from the checkpoint to the end, without a restart from zero
    assert steps[-1] == 60 and steps == sorted(steps) and steps[0] == before[0]
    assert any(s > ckpt_step for s in steps) and max(before) >= ckpt_step
    info = json.loads(run.run_json.read_text())
    assert [launch_["resume"] for launch_ in info["launches"]] == [False, True]


def test_exploding_loss_stops_the_run_as_diverged(runs_dir):
    """An exploded loss stops the run once it stayed up for the grace (ConsoleCallback.EXPLOSION_GRACE_S: time for
    the console's warning and `r`), a NaN at once."""
    run = _start(runs_dir, "learning_rate=5", "max_steps=100000", "logging_steps=1", "lr_scheduler_type=constant",
                 "warmup_steps=0", "max_grad_norm=0", method="full")
    status = wait(run, timeout=240)
    assert status["phase"] == "failed" and status["kind"] == "diverged", status
    assert "loss" in status["message"]
    assert _steps(run)[-1] < 100000  # stopped early


def test_a_crash_is_one_line_in_status_and_a_traceback_in_the_log(runs_dir):
    run = _start(runs_dir, "dataset=/nonexistent/data.jsonl")
    status = wait(run, timeout=60)
    assert status["phase"] == "failed" and status["kind"] == "input"
    assert "not found" in status["message"] or "nonexistent" in status["message"]
    assert "\n" not in status["message"]
    # said before the libraries load (5 s): the trainer never reached the model
    assert "loading model" not in run.log_path.read_text()


def test_a_finished_trainer_is_reaped_with_nobody_watching_it(runs_dir):
    # the console launches a run, the user moves on to another one: nothing polls this run, yet its process must not
    # stay a zombie of the console until it exits (a new user found one per launched run)
    run = _start(runs_dir, "dataset=/nonexistent/data.jsonl")
    pid = run.read_status_file()["pid"]
    assert wait_exit(pid, timeout=120)
    assert not os.path.exists(f"/proc/{pid}"), "the trainer's pid is still in the process table (a zombie)"
    assert run.status()["phase"] == "failed"


def test_resume_refuses_a_run_without_checkpoint(runs_dir):
    config = resolve(build_config("lora", sets=parse_set(FAST)))
    run = create_run(runs_dir, config)
    run.write_status("failed", kind="error", message="x")
    with pytest.raises(RunError, match="no checkpoint"):
        check_resumable(run)


def test_corrupt_or_missing_status_is_recovered(runs_dir, tmp_path):
    config = resolve(build_config("lora"))
    run = create_run(runs_dir, config)
    run.status_json.write_text('{"phase": "trai')  # the writer died mid-write
    assert run.status()["phase"] == "failed" and run.status()["recovered"]
    with open(run.metrics_path, "a") as f:
        f.write(json.dumps({"step": 5, "train_runtime": 1.0, "train_loss": 1.0}) + "\n")
    run.status_json.unlink()
    assert run.status()["phase"] == "done"


def test_unwritable_runs_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):  # root ignores permissions: use a path under a file instead
            target = tmp_path / "a-file"
            target.write_text("x")
            target = target / "runs"
        with pytest.raises(RunError, match="cannot write to the runs folder"):
            check_runs_dir(target)
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_run_names_cannot_escape_the_runs_folder(runs_dir):
    check_runs_dir(runs_dir)
    for bad in ("../etc", "..", "a/../../b", "x;rm -rf"):
        with pytest.raises(RunError):
            find_run(runs_dir, bad)


def test_cuda_out_of_memory_fails_clearly_with_the_oom_fixes(runs_dir, tmp_path, monkeypatch):
    """The trainer raises torch's real OutOfMemoryError mid-step (injected through sitecustomize)."""
    from console.loop.findings import run_findings

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import transformers, torch\n"
        "def boom(self, *a, **k):\n"
        "    raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total)')\n"
        "transformers.Trainer.training_step = boom\n")
    monkeypatch.setenv("PYTHONPATH", str(hook))
    run = _start(runs_dir, "max_steps=4", method="full")
    status = wait(run, timeout=60)
    assert status["phase"] == "failed" and status["kind"] == "oom", status
    assert status["message"].startswith("out of memory") and "\n" not in status["message"]
    assert "Traceback" in run.log_path.read_text()  # the traceback goes to train.log, not the user
    oom = next(f for f in run_findings(run) if f.problem == "out_of_memory")
    changes = [f.changes for f in oom.fixes]
    assert {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2} in changes  # same effective batch
    assert {"activation_checkpointing": True} in changes
    assert {"method": "lora"} in changes


def test_one_trainer_per_run_folder(runs_dir):
    # a second launch (two resumes at once, a resume while it trains) is refused while the trainer holds the lock,
    # and its status is left alone; once the trainer has exited the folder can be resumed again
    from console.runs.launcher import wait_exit

    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=100000", "save_steps=100000")
    try:
        first_pid = run.read_status_file()["pid"]
        wait_for(lambda: len(_steps(run)) >= 2, timeout=90)
        with pytest.raises(RunError, match="already has a trainer running"):
            launch(run, resume=True)
        assert run.read_status_file()["pid"] == first_pid and run.status()["phase"] == "training"
        assert request_save(run)
        wait_for(lambda: run.last_checkpoint() is not None, timeout=60)
        assert request_stop(run)
        assert wait(run, timeout=120)["phase"] == "stopped"
        assert wait_exit(first_pid, timeout=60)
        check_resumable(run)
        second = launch(run, resume=True)  # the lock went with the trainer
        assert second != first_pid
        wait_for(lambda: run.status()["phase"] == "training", timeout=90)
        request_stop(run)
        assert wait(run, timeout=120)["phase"] in ("stopped", "done")
    finally:
        kill(run)


def test_a_stop_right_after_launch_stops_the_run_not_kills_it(runs_dir):
    # the user launches and presses s at once: before the trainer has its SIGTERM handler a signal killed it and the
    # run read "failed: killed"; now the request waits for it and it ends "stopped" before its first step
    run = _start(runs_dir, "max_steps=100000")
    assert run.status()["phase"] == "starting"
    assert request_stop(run)
    status = wait(run, timeout=120)
    assert status["phase"] == "stopped", (status, run.tail_log(10))
    assert "before the first step" in status["message"]


def test_a_stop_right_after_a_resume_says_where_the_run_is(runs_dir):
    # issue 27: `stop` right after `resume` said "nothing trained" and set the run's step to 0 (it had trained to its
    # checkpoint); now it says the run is still at its checkpoint's step
    from console.runs.checkpoints import checkpoint_step

    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=100000", "save_steps=100000")
    try:
        wait_for(lambda: len(_steps(run)) >= 2, timeout=90)
        assert request_stop(run)
        assert wait(run, timeout=120)["phase"] == "stopped"
        at = checkpoint_step(run.last_checkpoint().name)
        launch(run, resume=True)
        assert request_stop(run)
        status = wait(run, timeout=120)
        assert status["phase"] == "stopped", (status, run.tail_log(10))
        assert f"still at step {at}" in status["message"] and status["step"] == at, status
    finally:
        kill(run)


def test_a_linked_run_folder_is_refused_by_id(runs_dir, tmp_path):
    run = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    elsewhere = tmp_path / "elsewhere"
    run.path.rename(elsewhere)
    os.symlink(elsewhere, run.path)  # a link in the runs folder to a folder outside it
    with pytest.raises(RunError, match="is a link to"):
        find_run(runs_dir, run.id)
    assert run.id not in [r.id for r in __import__("console.runs.rundir").runs.rundir.list_run_dirs(runs_dir)]


def test_resume_of_a_read_only_run_folder_is_one_line(runs_dir, capsys):
    from console.cli.main import main

    run = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    (run.checkpoints / "checkpoint-4").mkdir(parents=True)
    (run.checkpoints / "checkpoint-4" / "trainer_state.json").write_text("{}")
    run.write_status("stopped")
    os.chmod(run.path, 0o555)
    try:
        if os.access(run.path, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        code = main(["resume", "--runs-dir", str(runs_dir), run.id])
        out = capsys.readouterr()
        assert code == 2 and "cannot write to the run folder" in out.err and "Traceback" not in out.err + out.out
    finally:
        os.chmod(run.path, 0o755)


def test_a_run_is_alive_only_while_its_own_trainer_runs(runs_dir):
    # the pid of another run's trainer (a stale status after a reboot can name it) is not this run's: neither "alive"
    # nor a target for stop; a recorded start time that does not match is a pid that was given to someone else
    from console.runs.liveness import pid_alive, process_start

    other = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=100000", "save_steps=100000")
    stale = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
    try:
        wait_for(lambda: other.status()["phase"] == "training", timeout=90)
        pid = other.read_status_file()["pid"]
        assert other.status()["pid_start"] == process_start(pid) and other.trainer_alive()
        assert pid_alive(pid) and not pid_alive(pid, stale.path)  # the same process, not this run's trainer
        assert not pid_alive(pid, other.path, start=process_start(pid) + 1)  # a pid reused since
        stale.write_status("training", pid=pid)
        assert stale.status()["phase"] == "failed"  # not "training forever" on another run's trainer
        assert not request_stop(stale)  # and the other trainer is not signalled
        # still at work (its step-0 evaluation may be on: "evaluating" is as alive as "training"), never asked to stop
        assert other.status()["phase"] in ("training", "evaluating") and not other.stop_request.exists()
        future = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
        future.write_status("starting")
        status = json.loads(future.status_json.read_text())
        status["updated"] = 4_000_000_000  # a clock in 2096
        future.status_json.write_text(json.dumps(status))
        assert future.status()["phase"] == "failed"  # not "starting" forever
    finally:
        request_stop(other)
        wait(other, timeout=120)


def test_resume_skips_a_corrupt_newest_checkpoint_and_says_which(runs_dir):
    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=2", "save_steps=2",
                 "save_total_limit=5")
    try:
        wait_for(lambda: len([p for p in run.checkpoints.glob("checkpoint-*")
                              if (p / "trainer_state.json").exists()]) >= 2, timeout=120)
        pid = run.read_status_file()["pid"]
        assert request_stop(run)
        assert wait(run, timeout=120)["phase"] == "stopped"
        from console.runs.launcher import wait_exit

        assert wait_exit(pid, timeout=60)  # the trainer lets go of the folder's lock as it exits
        newest = run.last_checkpoint()
        assert run.checkpoint_to_resume() == (newest, [])
        weights = newest / "adapter_model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])  # cut, as a full disk leaves it
        chosen, skipped = run.checkpoint_to_resume()
        assert chosen is not None and chosen != newest and skipped == [
            f"{newest.name} skipped: adapter_model.safetensors is cut ({len(data) // 2} bytes, its tensors need "
            f"{len(data)})"]
        for other in run.checkpoints.glob("checkpoint-*"):  # every one damaged: refused, naming them
            (other / "trainer_state.json").write_text('{"global_step": 4')
        with pytest.raises(RunError, match="no intact checkpoint to resume from .*trainer_state.json is missing, cut"):
            check_resumable(run)
        (chosen / "trainer_state.json").write_text(json.dumps({"global_step": int(chosen.name.split("-")[1])}))
        check_resumable(run)
        launch(run, resume=True)
        wait_for(lambda: f"{newest.name} skipped: trainer_state.json is missing, cut" in run.log_path.read_text(),
                 timeout=180)  # said in the trainer's log, before it resumes from the intact one
        request_stop(run)
        wait(run, timeout=120)

    finally:
        kill(run)  # a failed assertion must not leave a trainer running for ever

def test_a_missing_accelerate_config_is_refused_before_launch(runs_dir, tmp_path):
    gone = tmp_path / "nope.yaml"  # there when the config was made (a missing one is refused then), gone at launch
    gone.write_text("distributed_type: MULTI_GPU\n")
    config = resolve(build_config("lora", sets=parse_set(FAST + [f"accelerate_config={gone}"])))
    run = create_run(runs_dir, config, command=["test"])
    gone.unlink()
    with pytest.raises(RunError, match="accelerate_config .*nope.yaml not found"):
        launch(run)
    status = run.status()
    assert status["phase"] == "failed" and "not found" in status["message"]  # nothing started, and it says why


def test_a_stopped_trainer_shows_as_not_responding_and_stop_says_why(runs_dir, capsys):
    """A trainer stopped by SIGSTOP showed as "training" forever and `stop` waited two minutes to print "training".
    Now every view says "not responding since ..." with the cause, `stop` says at once why it cannot stop it, and
    `stop --kill` ends it, recorded as stopped with what was lost."""
    from console.cli.main import main
    from console.runs.progress import run_summary

    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=1000")
    wait_for(lambda: len(_steps(run)) >= 2, timeout=90)
    assert "not_responding" not in run.status()
    pid = run.read_status_file()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: run.status().get("not_responding"), timeout=10)
        stall = run.status()["not_responding"]
        assert stall.startswith("not responding since") and "stopped by a signal" in stall and f"kill -CONT {pid}" in stall
        row = run_summary(run)
        assert row["stalled"] and row["message"] == stall and row["status"] == "training"
        assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
        out = capsys.readouterr().out
        assert "no reply" in out and stall in out
        assert main(["stop", "--runs-dir", str(runs_dir), run.id]) == 1  # at once, not after two minutes
        out = capsys.readouterr().out
        assert "stopped by a signal" in out and "--kill" in out
        assert run.trainer_alive()  # the request waits; nothing was killed
        assert main(["stop", "--kill", "--runs-dir", str(runs_dir), run.id]) == 0
        out = capsys.readouterr().out
        assert "killed by `stop --kill`" in out
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    status = run.status()
    assert status["phase"] == "stopped" and status["kind"] == "killed" and not run.trainer_alive()
    assert "not_responding" not in status


def test_a_trainer_silent_far_longer_than_its_slowest_step_is_not_responding(runs_dir):
    """The hang rule on a real trainer's own heartbeat: silent for less than HANG_MIN_S (and HANG_FACTOR times its
    slowest step) is fine; silent for longer is "not responding", with a way out."""
    from console.runs.rundir import HANG_FACTOR, HANG_MIN_S

    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=1000")
    try:
        wait_for(lambda: len(_steps(run)) >= 3 and run.heartbeat.exists(), timeout=90)
        status = run.status()
        assert status["phase"] == "training" and "not_responding" not in status
        slowest = float(run.heartbeat.read_text())
        assert 0 <= slowest < 60  # a demo step takes well under a second, the first one a little more
        last = run.last_activity()
        limit = max(HANG_MIN_S, HANG_FACTOR * slowest)
        assert run.not_responding(status, now=last + limit - 5) == ""
        stall = run.not_responding(status, now=last + limit + 60)
        assert stall.startswith("not responding since") and f"stop {run.id} --kill" in stall
        # a phase without steps is judged by its watchdog's beat (console/trainer/watchdog.py), with the same floor
        loading = dict(status, phase="loading model")
        assert run.not_responding(loading, now=last + HANG_MIN_S - 5) == ""
        stall = run.not_responding(loading, now=last + HANG_MIN_S + 60)
        assert stall.startswith("not responding since") and "while loading model" in stall and "--kill" in stall
    finally:
        request_stop(run)
        wait(run, timeout=60)


_FULL_DISK_RUN = """
import json, os, sys, time
from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import launch, wait
from console.runs.metrics import load_history
from console.runs.rundir import create_run
from tests.support.e2e_util import FAST

runs = sys.argv[1]
config = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "logging_steps=1",
                                                             "eval_steps=1000", "save_steps=1000"])))
run = create_run(runs, config, command=["test"])
launch(run)
deadline = time.monotonic() + 90
while len(load_history(run.metrics_path).train_loss.steps) < 2 and time.monotonic() < deadline:
    time.sleep(0.1)
fd = os.open(os.path.join(runs, "filler"), os.O_WRONLY | os.O_CREAT)
try:
    while True:  # every last page of the file system
        os.write(fd, b"x" * 4096)
except OSError:
    pass
status = wait(run, timeout=120)
print(json.dumps(status))
"""


def test_a_run_that_fills_the_disk_ends_failed_with_that_cause(tmp_path):
    """A full disk during training ended as "killed, or the machine restarted": the final status could not be
    written. The trainer now holds reserved bytes it lets go of for that write. A real trainer on a real 16 MiB file
    system (tmpfs, mounted in a mount namespace of its own) that the test fills while it trains."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) to mount a small file system")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    root = Path(__file__).resolve().parents[2]
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=16m tmpfs "$0"', str(folder)],
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a mount namespace here: {probe.stderr.strip()}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=16m tmpfs "$0" && exec "$1" -c "$2" "$0"',
                           str(folder), sys.executable, _FULL_DISK_RUN], capture_output=True, text=True, cwd=root,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    status = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status["phase"] == "failed" and status["kind"] == "disk_full", status
    assert "the disk is full" in status["message"] and "resume" in status["message"]


def test_a_run_killed_while_saving_its_final_model_resumes_to_done_without_training_past_max_steps(runs_dir):
    """Killed in the saving phase after its last step, a resumed run trained one step past max_steps (done: step
    9 of 8). Resume now finds nothing left to train and writes the final model from the last checkpoint."""
    import shutil

    run = _start(runs_dir)  # max_steps 8, a checkpoint every 4 steps: checkpoint-8 is the last step's
    assert wait(run, timeout=120)["phase"] == "done"
    logged = load_history(run.metrics_path).last_step
    shutil.rmtree(run.path / "model")  # what a kill during the final save leaves: no model/, a failed status
    run.write_status("failed", kind="killed", message="the trainer process ended without a final status")
    check_resumable(run)
    launch(run, resume=True)
    status = wait(run, timeout=120)
    assert status["phase"] == "done" and status["step"] == 8, status
    assert load_history(run.metrics_path).last_step == logged == 8  # not one step more
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(str(run.path / "model")).r > 0
    assert (run.path / "model" / "adapter_model.safetensors").stat().st_size > 0
    assert not (run.path / "model" / "optimizer.pt").exists()


def test_delete_checks_the_run_when_it_acts_and_never_deletes_under_a_resumed_trainer(runs_dir):
    """Asked about a stopped run, then a `resume` from a shell before the answer: the folder was deleted under the
    running trainer, which trained on, invisible to every command. delete_run checks again when it acts."""
    from console.runs.delete import check_deletable, delete_run

    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=1000")
    wait_for(lambda: len(_steps(run)) >= 2, timeout=90)
    assert request_stop(run)
    assert wait(run, timeout=60)["phase"] == "stopped"
    check_deletable(run)  # what the screen checks before it asks: a stopped run may go
    launch(run, resume=True)  # the resume from a shell, while the question is open
    with pytest.raises(RunError) as refused:
        delete_run(run)
    assert run.id in str(refused.value) and "stop it first" in str(refused.value)
    assert (run.path / "config.yaml").is_file()
    before = len(_steps(run))
    wait_for(lambda: len(_steps(run)) > before + 1, timeout=90)  # its trainer trains on, in its own folder
    assert request_stop(run)
    assert wait(run, timeout=60)["phase"] == "stopped"
    wait_for(lambda: not run.trainer_alive(), timeout=30)
    wait_for(lambda: _deleted(run), timeout=30)
    assert not run.path.exists() and not list(runs_dir.glob(".*"))


def _deleted(run) -> bool:
    """delete_run once the trainer has let go of its lock (it exits a moment after its final status)."""
    from console.runs.delete import delete_run

    try:
        delete_run(run)
    except RunError:
        return False
    return True


# A chat template that renders one row for ever (10^10 loop turns, the sandbox's 100,000-turn range twice) once the
# row is a dataset row ("word" is in the demo's instructions, not in the load-time checks' sample conversation).
_HUNG_TEMPLATE = ("{% for m in messages %}{% if 'word' in m['content'] %}{% for i in range(100000) %}"
                  "{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}{{ m['content'] }}{% endfor %}")


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_hung_data_preparation_is_not_responding_and_stop_offers_kill(runs_dir, capsys):
    """A chat template with nested long loops kept the trainer "preparing data" for ever: no heartbeat outside the
    training phases, so never "not responding", and `stop` gave up after two minutes. The trainer's watchdog beats
    in that phase only for rows written (bytes read or written); a template stuck on one row burns CPU and writes
    nothing, so its beat stops and the phase's silence rule names it."""
    from console.cli.main import main
    from console.runs.rundir import HANG_MIN_S

    run = _start(runs_dir, "use_chat_template=true", f"chat_template={json.dumps(_HUNG_TEMPLATE)}")
    try:
        wait_for(lambda: run.read_status_file().get("phase") == "preparing data", timeout=120)
        assert run.heartbeat.exists()  # beaten while it loaded (imports and the model: CPU time and bytes read)
        pid = run.read_status_file()["pid"]
        ticks = _cpu_ticks(pid)
        # busy (a CPU second and more spent in the template) and silent: no beat, no status, no metric
        wait_for(lambda: _cpu_ticks(pid) > ticks + 2 * os.sysconf("SC_CLK_TCK")
                 and run.last_activity() is not None and time.time() - run.last_activity() > 2, timeout=60)
        status = run.status()
        assert status["phase"] == "preparing data" and "not_responding" not in status  # not yet: under the floor
        last = run.last_activity()
        stall = run.not_responding(status, now=last + HANG_MIN_S + 60)
        assert stall.startswith("not responding since") and "while preparing data" in stall
        assert "no row written" in stall and f"stop {run.id} --kill" in stall
        assert run.not_responding(status, now=last + HANG_MIN_S - 5) == ""
    finally:
        assert main(["stop", "--kill", "--runs-dir", str(runs_dir), run.id]) == 0
    assert "killed by `stop --kill`" in capsys.readouterr().out
    assert run.status()["phase"] == "stopped" and not run.trainer_alive()


def _training(runs_dir):
    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=1000", "save_steps=50")
    wait_for(lambda: len(_steps(run)) >= 2, timeout=90)
    return run, run.read_status_file()["pid"]


def test_a_trainer_whose_folder_is_removed_stops(runs_dir):
    """A trainer whose run folder was deleted trained on, invisible to every command."""
    import shutil

    run, pid = _training(runs_dir)
    shutil.rmtree(run.path)
    assert wait_exit(pid, timeout=30)
    assert not run.path.exists()  # nothing written at the path again (no status, no checkpoint)


def test_a_trainer_whose_folder_is_replaced_stops_and_writes_nothing_into_the_new_one(runs_dir):
    """A folder put in the place of a training run's (a restored copy, another run of that name) would have got
    its status, metrics and checkpoints. The trainer stops at once and says why in its own log."""
    run, pid = _training(runs_dir)
    moved = runs_dir / "moved-away"
    os.rename(run.path, moved)
    run.path.mkdir()
    (run.path / "mine.txt").write_text("the user's")
    assert wait_exit(pid, timeout=30)
    assert sorted(p.name for p in run.path.iterdir()) == ["mine.txt"]
    log = (moved / "train.log").read_text()
    assert "was replaced by another folder while the trainer ran" in log and "stops now" in log


def test_resume_checks_the_optimizer_and_scheduler_and_falls_back_naming_the_bad_file(runs_dir):
    """A checkpoint whose optimizer.pt was cut failed every resume; one with a flipped byte in it loaded as wrong
    numbers (torch.load checks no checksum). Every reader now takes a cut one for what it is (its zip directory is
    gone), and the trainer checks each state file's checksums before it resumes, falling back to the checkpoint
    before and naming the file."""
    import shutil

    run = _start(runs_dir, "max_steps=12", "logging_steps=2", "eval_steps=4", "save_steps=4", "save_total_limit=5")
    assert wait(run, timeout=180)["phase"] == "done"
    wait_for(lambda: not run.trainer_alive(), timeout=30)
    names = [p.name for _, p in sorted((int(p.name.split("-")[1]), p) for p in run.checkpoints.glob("checkpoint-*"))]
    assert names == ["checkpoint-4", "checkpoint-8", "checkpoint-12"]
    # what a kill in the final save leaves: a failed status and no model/
    shutil.rmtree(run.path / "model")
    run.write_status("failed", kind="killed", message="the trainer process ended without a final status")
    cut = run.checkpoints / "checkpoint-12" / "optimizer.pt"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    flipped = run.checkpoints / "checkpoint-8" / "optimizer.pt"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of its tensors, the size unchanged
    flipped.write_bytes(bytes(data))
    chosen, skipped = run.checkpoint_to_resume()  # the readers' check: headers and sizes
    assert chosen.name == "checkpoint-8"
    assert skipped == ["checkpoint-12 skipped: optimizer.pt is cut or corrupt (not a whole torch archive)"]
    check_resumable(run)
    launch(run, resume=True)
    status = wait(run, timeout=180)
    assert status["phase"] == "done" and status["step"] == 12, status
    log = run.log_path.read_text()
    assert "checkpoint-12 skipped: optimizer.pt is cut or corrupt" in log
    assert "checkpoint-8 skipped: optimizer.pt is corrupt (its part" in log and "fails its checksum" in log
    assert f"resuming from {run.checkpoints / 'checkpoint-4'}" in log
    # every checkpoint flipped: the trainer says so and fails, never a silent start from step 0 over the run's log
    wait_for(lambda: not run.trainer_alive(), timeout=30)
    run.write_status("failed", kind="killed", message="the trainer process ended without a final status")
    for checkpoint in run.checkpoints.glob("checkpoint-*"):
        optimizer = checkpoint / "optimizer.pt"
        data = bytearray(optimizer.read_bytes())
        data[len(data) // 2] ^= 0xFF
        optimizer.write_bytes(bytes(data))
    check_resumable(run)  # the readers' check passes: the archives' directories are whole
    launch(run, resume=True)
    status = wait(run, timeout=180)
    assert status["phase"] == "failed" and status["kind"] == "input", status
    assert "no intact checkpoint to resume from" in status["message"] and "fails its checksum" in status["message"]
