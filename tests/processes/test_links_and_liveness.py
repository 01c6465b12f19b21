"""Links planted in a run folder and a live run's status.json made wrong: real trainers, the real CLI.

Issue 27's attack suite: a link planted in a stopped run's folder, then `resume`, got its target overwritten (256 KiB
of zero bytes through `.status-reserve`) or appended to (`train.log`, `metrics.jsonl`, `samples.jsonl`); a live
run whose status.json held a wrong-typed pid was written `failed` by every reader, and `stop` refused it.
"""
import json
import os
import subprocess
import sys

import pytest

from console.cli.main import main
from console.config.run_config import build_config, parse_set, resolve
from console.runs.follow import Follower
from console.runs.launcher import launch, package_root, request_stop, wait
from console.runs.metrics import load_history
from console.runs.rundir import create_run
from tests.support.e2e_util import FAST, wait_for

pytestmark = pytest.mark.e2e

PRECIOUS = "the user's own file: not the console's to write\n"


def _start(runs_dir, *extra):
    config = resolve(build_config("lora", sets=parse_set(FAST + list(extra))))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    return run


def _stopped_run(runs_dir):
    """A real run stopped with a checkpoint to resume from (sample answers on: samples.jsonl is written)."""
    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=4", "save_steps=4", "sample_every=1")
    wait_for(lambda: run.last_checkpoint() is not None, timeout=120)
    assert request_stop(run)
    status = wait(run, timeout=120)
    assert status["phase"] == "stopped", status
    return run


def _victim(folder, name="victim.txt"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PRECIOUS)
    return path


def _plant(link, target):
    if link.is_dir() and not link.is_symlink():
        import shutil

        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    os.symlink(target, link)


def _resume(runs_dir, run, capsys) -> tuple[int, str]:
    """`resume RUN --detach`: its exit code and what it said on stderr; a trainer it started is stopped (today's
    code was not refused, and would have trained on)."""
    capsys.readouterr()
    code = main(["resume", "--runs-dir", str(runs_dir), run.id, "--detach"])
    if code == 0:
        request_stop(run)
        wait(run, timeout=120)
    return code, capsys.readouterr().err


def test_resume_refuses_links_planted_in_the_run_folder_and_writes_nothing_outside(runs_dir, tmp_path, capsys):
    run = _stopped_run(runs_dir)
    outside = tmp_path / "home"
    victim = _victim(outside)
    model_victim = _victim(outside / "proj", "config.json")
    kept = {}
    for name in (".status-reserve", "train.log", "metrics.jsonl", "samples.jsonl", ".heartbeat", "stop.request",
                 ".trainer.lock", "checkpoints", "model"):
        path = run.path / name
        aside = tmp_path / "aside" / name
        if path.exists() and not path.is_symlink():  # the run's own file, put back after the refusal
            aside.parent.mkdir(exist_ok=True)
            os.rename(path, aside)
            kept[name] = aside
        # checkpoints: its own checkpoints moved elsewhere and linked back (the Trainer would write and rotate
        # checkpoints there); model: a folder of the user's (save_model would write over its config.json)
        target = {"checkpoints": kept.get("checkpoints"), "model": outside / "proj"}.get(name, victim)
        _plant(path, target)
        code, err = _resume(runs_dir, run, capsys)
        assert code == 2, (name, err, run.tail_log(10))
        assert name in err and "link" in err and len(err.strip().splitlines()) == 1, err
        assert victim.read_text() == PRECIOUS and model_victim.read_text() == PRECIOUS, name
        assert sorted(p.name for p in outside.iterdir()) == ["proj", "victim.txt"]
        assert sorted(p.name for p in (outside / "proj").iterdir()) == ["config.json"]
        path.unlink()
        if name in kept:
            os.rename(kept[name], path)
    # a link inside the final model's folder: save_pretrained would write the user's file through it
    (run.path / "model").mkdir(exist_ok=True)
    os.symlink(model_victim, run.path / "model" / "config.json")
    code, err = _resume(runs_dir, run, capsys)
    assert code == 2 and "model/config.json" in err and "link" in err, err
    (run.path / "model" / "config.json").unlink()
    # with the links gone the same run resumes and finishes: the refusals were the links' alone
    steps = load_history(run.metrics_path).train_loss.steps
    config = json.loads((run.path / "run.json").read_text())
    assert main(["resume", "--runs-dir", str(runs_dir), run.id, "--detach"]) == 0
    wait_for(lambda: len(load_history(run.metrics_path).train_loss.steps) > len(steps), timeout=120)
    assert request_stop(run)
    assert wait(run, timeout=120)["phase"] == "stopped"
    assert victim.read_text() == PRECIOUS and model_victim.read_text() == PRECIOUS
    assert len(json.loads((run.path / "run.json").read_text())["launches"]) == len(config["launches"]) + 1


def test_a_trainer_started_on_a_planted_link_refuses_it_and_writes_nothing_through_it(runs_dir, tmp_path):
    # the launcher's check can be raced (a link planted after it) or skipped (the trainer's own entry point, as
    # torchrun starts it): the trainer checks too, and opens its files without following links
    run = _stopped_run(runs_dir)
    victim = _victim(tmp_path / "home")
    _plant(run.path / ".status-reserve", victim)
    run.stop_request.unlink(missing_ok=True)  # the stop's request, which the launcher clears before a resume
    env = dict(os.environ, PYTHONPATH=package_root())
    with open(run.log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "console.trainer.train", str(run.path), "--resume"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=str(run.path), start_new_session=True)
    try:  # today's code trained on (the run's max_steps is far): its end, or the victim written, ends the wait
        wait_for(lambda: proc.poll() is not None or victim.read_bytes() != PRECIOUS.encode(), timeout=120)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=120)
    assert victim.read_text() == PRECIOUS
    assert proc.returncode == 1, run.tail_log(10)
    status = run.read_status_file()
    assert status["phase"] == "failed" and status["kind"] == "input", status
    assert ".status-reserve" in status["message"] and "link" in status["message"]
    assert "\n" not in status["message"]


def test_a_wrong_typed_pid_in_a_live_runs_status_never_makes_it_dead(runs_dir):
    """Liveness from the recorded identity (run.json: the pid and its start time, written by the launcher), not
    from status.json's one field: readers never write `failed` over a run whose trainer is alive, and `stop`
    stops it."""
    run = _start(runs_dir, "max_steps=100000", "logging_steps=1", "eval_steps=100000", "save_steps=100000")
    pid = start = None
    try:
        # past its start (and its step-0 evaluation): from here the trainer writes no status until it ends
        wait_for(lambda: len(load_history(run.metrics_path).train_loss.steps) >= 3, timeout=120)
        pid = run.read_status_file()["pid"]
        start = run.read_status_file()["pid_start"]
        for wrong in (str(pid), None, [pid], 1, os.getpid()):  # typed wrong, missing, or another live process
            status = json.loads(run.status_json.read_text())
            status["pid"] = wrong
            status["updated"] = 0  # long ago: no grace for a just-launched trainer
            run.status_json.write_text(json.dumps(status))
            seen = run.status()
            assert seen["phase"] == "training" and "not_responding" not in seen, (wrong, seen)
            follower = Follower(run)
            follower.attach()
            follower.poll()
            assert not follower.ended
            assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
            on_file = json.loads(run.status_json.read_text())
            assert on_file["phase"] in ("training", "evaluating"), (wrong, on_file)
        info = json.loads(run.run_json.read_text())  # the identity the launcher recorded
        assert info["pid"] == pid and isinstance(info["pid_start"], int)
        assert request_stop(run)
        final = wait(run, timeout=120)
        assert final["phase"] == "stopped", final
    finally:
        # today's code called it dead and could not stop it; checked first by its start time and command line (a
        # pid given to another process since, another test's trainer, must never be killed)
        from console.runs.liveness import pid_alive, process_start

        if pid and start is not None and process_start(pid) == start and pid_alive(pid, run.path, start):
            os.killpg(pid, 9)


def test_an_export_never_writes_through_links_in_its_target_folder(trained, tmp_path, capsys):
    # a guard (it held on the code of issue 27 too): the export is written in a folder of its own and moved in by
    # rename, which replaces a link in the target, never writes through it; whatever --force comes to replace, a
    # link's target is never written
    run = trained.finished("lora")
    victim = _victim(tmp_path / "home")
    dest = tmp_path / "proj"
    dest.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md", "tokenizer.json"):
        os.symlink(victim, dest / name)
    main(["export", "--runs-dir", str(trained.folder), run.id, "--to", str(dest), "--force"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert victim.read_text() == PRECIOUS
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_a_link_planted_in_checkpoints_while_it_trains_fails_the_run_at_its_next_save(runs_dir, tmp_path):
    # the Trainer and torch write checkpoints with plain open(): before each save the folder is checked again
    run = _start(runs_dir, "max_steps=100000", "logging_steps=10", "eval_steps=50", "save_steps=50",
                 "sample_every=0")
    victim = _victim(tmp_path / "home", "optimizer.pt")
    try:
        wait_for(lambda: (run.checkpoints / "checkpoint-50").is_dir(), timeout=120)
        ahead = run.checkpoints / "checkpoint-100"
        ahead.mkdir()
        os.symlink(victim, ahead / "optimizer.pt")
        status = wait(run, timeout=120)
    finally:
        request_stop(run)
    assert status["phase"] == "failed" and status["kind"] == "input", status
    assert "checkpoint-100/optimizer.pt" in status["message"] and "link" in status["message"], status
    assert victim.read_text() == PRECIOUS
    assert (run.checkpoints / "checkpoint-50").is_dir()  # what was saved before stays, for a resume
