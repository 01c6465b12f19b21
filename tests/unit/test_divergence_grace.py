"""The trainer's own stop of a diverging run leaves time for the console's loop (issue 30): the demo "LR far too
high" marked itself failed 13.8 s after its trainer started, before its warning could be read and `r` pressed."""
from __future__ import annotations

from console.config.run_config import build_config, resolve
from console.runs.report import Reporter, StopRequest
from console.runs.rundir import create_run
from console.trainer.callbacks import ConsoleCallback


def _callback(runs_dir):
    run = create_run(runs_dir, resolve(build_config("full")), command=["test"])
    stop = StopRequest()
    return ConsoleCallback(Reporter(run), stop, effective_batch=16, started=0.0), stop


def test_an_exploded_loss_stops_the_run_only_after_the_grace_and_a_nan_at_once(runs_dir, capsys):
    cb, stop = _callback(runs_dir)
    cb._watch_loss(6.7, 1, now=0.0)
    cb._watch_loss(900.0, 10, now=5.0)  # exploded: said, not stopped
    assert not stop.requested and "stops itself in 30 s" in capsys.readouterr().out
    cb._watch_loss(950.0, 20, now=30.0)
    assert not stop.requested  # 25 s up: the warning and `r` still have their time
    cb._watch_loss(990.0, 30, now=36.0)
    assert stop.requested and not stop.asked and "stayed up for 31 s" in stop.reason
    cb, stop = _callback(runs_dir)
    cb._watch_loss(6.7, 1, now=0.0)
    cb._watch_loss(900.0, 10, now=5.0)
    cb._watch_loss(7.0, 20, now=20.0)  # came back down: the clock starts again
    cb._watch_loss(900.0, 30, now=40.0)
    assert not stop.requested
    cb._watch_loss(float("nan"), 31, now=41.0)
    assert stop.requested and "nan" in stop.reason


def test_resume_of_a_diverged_run_says_what_it_continues(runs_dir):
    """Issue 30: `resume` of the diverged demo went on at learning rate 2.0 without a word."""
    from console.cli.commands.resume import diverged_note

    run = create_run(runs_dir, resolve(build_config("full")).with_changes({"learning_rate": 2.0}), command=["t"])
    assert diverged_note(run, run.config()) == ""
    run.write_status("failed", kind="diverged", message="loss exploded to 900 at step 40")
    note = diverged_note(run, run.config())
    assert "diverged (loss exploded to 900 at step 40)" in note and "learning_rate 2" in note
    assert f"training-console rerun {run.id}" in note
