"""Readers of files that another process or the user wrote get whatever JSON they hold: a wrong-typed value makes
that run unreadable in one line, never a traceback, and never touches the other runs (hypothesis)."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.runs.rundir import RunDir

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
STATUS_KEYS = ["phase", "pid", "updated", "started", "step", "message", "kind", "error", "precision", "device",
               "model", "data", "cut", "cut_text", "best_checkpoint", "final_model", "seconds"]
INFO_KEYS = ["id", "parent", "fixes", "method", "created", "command", "launches", "pid", "name"]


def _typed(keys):
    """Objects with the real keys holding arbitrary values (the wrong-typed files the attack run wrote)."""
    return st.dictionaries(st.sampled_from(keys), JSON, max_size=len(keys))


def _good_run(base) -> RunDir:
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    return create_run(base, resolve(build_config("lora", sets={"max_steps": "10"})), command=["test"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.one_of(JSON, _typed(STATUS_KEYS)), info=st.one_of(JSON, _typed(INFO_KEYS)))
def test_any_status_and_run_json_leave_every_reader_working(tmp_path_factory, status, info):
    from console.runs.progress import run_summary

    base = tmp_path_factory.mktemp("runs")
    good = _good_run(base)
    bad = _good_run(base)
    bad.status_json.write_text(json.dumps(status))
    bad.run_json.write_text(json.dumps(info))
    s = bad.status()
    assert isinstance(s, dict) and isinstance(s.get("phase"), str)
    assert isinstance(bad.read_info(), dict)
    row = run_summary(bad)
    assert isinstance(row["status"], str) and isinstance(row["step"], int)
    assert run_summary(good)["status"] == good.status()["phase"]  # the other run is unaffected


@settings(max_examples=150, deadline=None)
@given(records=st.lists(st.one_of(JSON, _typed(["step", "loss", "eval_loss", "learning_rate", "grad_norm", "epoch",
                                                "time", "max_steps", "train_runtime", "steps_per_second"])),
                        max_size=12))
def test_any_metrics_lines_give_a_history_a_progress_and_a_diagnosis(records):
    from console.diagnosis.diagnose import diagnose
    from console.runs.metrics import History
    from console.runs.progress import progress, progress_line

    history = History()
    for record in records:
        if isinstance(record, dict):
            history.add(record)
    p = progress(history, {"step": 3})
    progress_line(p)
    diagnose(history)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(top=_typed(["method", "parent", "fixes", "notices", "resolved", "arguments"]),
       arguments=st.dictionaries(st.sampled_from(["learning_rate", "max_steps", "per_device_train_batch_size",
                                                  "eval_steps", "lora_r", "fp16", "lr_scheduler_type",
                                                  "max_seq_length", "no_such_field"]), JSON, max_size=5))
def test_any_config_yaml_is_a_config_or_one_line(tmp_path_factory, top, arguments):
    import yaml

    from console.common.errors import UserError
    from console.config.run_config import load_run_config
    from console.diagnosis.diagnose import diagnose
    from console.runs.metrics import History

    folder = tmp_path_factory.mktemp("run")
    if "arguments" not in top:
        top["arguments"] = arguments
    try:
        text = yaml.safe_dump(top)
    except yaml.YAMLError:
        return
    (folder / "config.yaml").write_text(text)
    try:
        config = load_run_config(folder)
    except UserError as err:
        assert "\n" not in str(err)
        return
    history = History.from_records([{"step": s, "loss": 3.0 - 0.01 * s} for s in range(1, 30)])
    diagnose(history, config)  # the fixes are computed from the config's values: they must be of their types


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(beat=st.binary(max_size=64), phase=st.sampled_from(["training", "evaluating", "loading model", "preparing data", "saving"]),
       ahead=st.floats(min_value=-1e9, max_value=1e12, allow_nan=False))
def test_any_heartbeat_file_gives_an_answer_not_an_exception(tmp_path_factory, beat, phase, ahead):
    """The trainer's heartbeat file (its slowest step, a number) read whatever it holds, at any clock."""
    import os
    import time

    run = _good_run(tmp_path_factory.mktemp("runs"))
    run.heartbeat.write_bytes(beat)
    answer = run.not_responding({"phase": phase, "pid": os.getpid()}, now=time.time() + ahead)
    assert isinstance(answer, str)
    if ahead < 300:
        assert answer == ""  # silent for less than the floor: never called hung, in any phase
    elif phase not in ("training", "evaluating") and ahead > 400:
        assert answer.startswith("not responding since") and f"while {phase}" in answer  # its own rule, no beat


def test_a_fifo_or_a_huge_file_in_place_of_a_run_file_is_not_read_whole(tmp_path):
    import os

    run = _good_run(tmp_path)
    run.status_json.unlink()
    os.mkfifo(run.status_json)  # opening it for reading would block forever
    os.mkfifo(run.heartbeat)
    assert run.status()["phase"] in ("failed", "done")  # recovered from the other files, not hung
    assert run.not_responding({"phase": "training", "pid": os.getpid()}) == ""
    os.unlink(run.status_json)
    with open(run.status_json, "wb") as f:
        f.write(b'{"phase": "done", "message": "' + b"x" * (2 << 20) + b'"}')
    assert "x" * 100 not in str(run.read_status_file())  # over 1 MiB: not the console's, not read


def test_a_trainer_that_ends_between_the_read_and_the_check_is_not_called_killed(tmp_path, monkeypatch):
    """A reader reads "saving", the trainer writes "done" and exits, then the reader finds no trainer: it read
    again, so the run is done, and its "done" is never overwritten (under load a finished run was reported killed)."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    run = create_run(tmp_path / "runs", resolve(build_config("lora")), command=["test"])
    run.write_status("saving", pid=2 ** 22 + 7, step=4)  # a pid no process has

    def finishes_meanwhile(status=None):
        run.write_status("done", step=4)
        return False

    monkeypatch.setattr(run, "trainer_alive", finishes_meanwhile)
    assert run.status()["phase"] == "done"
    assert run.read_status_file()["phase"] == "done"
    # a repair that comes after the final write leaves it alone too
    assert run.write_status("failed", unless_final=True, kind="killed")["phase"] == "done"
    assert run.read_status_file()["phase"] == "done"
