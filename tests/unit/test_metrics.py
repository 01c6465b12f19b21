"""The metrics history: incremental tailing, truncated lines, resumed logs, trainer_state.json."""
import json
import math

from console.runs.metrics import History, MetricsTail, load_history
from console.runs.progress import progress, progress_line


def test_tail_returns_only_complete_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read_new() == []  # not there yet
    with open(path, "w") as f:
        f.write('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    assert tail.read_new() == [{"step": 1, "loss": 2.0}]
    assert tail.read_new() == []  # the half line waits
    with open(path, "a") as f:
        f.write('ss": 1.5}\n')
    assert tail.read_new() == [{"step": 2, "loss": 1.5}]


def test_tail_skips_corrupt_lines_and_reads_nan(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": NaN}\nnot json\n{"step": 2, "loss": 1.0}\n')
    tail = MetricsTail(path)
    records = tail.read_new()
    assert len(records) == 2 and math.isnan(records[0]["loss"]) and tail.bad_lines == 1


def test_history_series_and_resumed_logs():
    h = History.from_records([
        {"step": 0, "max_steps": 100, "event": "train_begin"},
        {"step": 10, "loss": 3.0, "learning_rate": 1e-4, "grad_norm": 1.0, "epoch": 0.1, "time": 1.0},
        {"step": 20, "loss": 2.5, "learning_rate": 2e-4, "time": 2.0},
        {"step": 20, "eval_loss": 2.6},
        {"step": 30, "loss": 2.4, "time": 3.0},
        # a resumed run starts again from its checkpoint at step 20: step 30 is replaced
        {"step": 30, "loss": 2.2, "time": 5.0},
        {"step": 25, "loss": 2.35},
    ])
    assert h.max_steps == 100
    assert h.train_loss.steps == [10, 20, 25]
    assert h.eval_loss.values == [2.6]
    assert h.learning_rate.values == [1e-4, 2e-4]


def test_closing_summary_is_not_a_training_point():
    h = History.from_records([{"step": 10, "loss": 2.0},
                              {"step": 10, "train_runtime": 5.0, "train_loss": 2.1, "loss": 2.1}])
    assert h.train_loss.values == [2.0] and h.final["train_runtime"] == 5.0


def test_trainer_state_json(tmp_path):
    state = {"max_steps": 40, "log_history": [{"step": 10, "loss": 1.0, "grad_norm": float("nan")},
                                               {"step": 10, "eval_loss": 1.1}]}
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(state))
    from console.cli.commands.inspect import _read_state  # what `inspect` reads a trainer_state.json with

    h, meta = _read_state(path)
    assert meta == {"max_steps": 40}
    assert h.max_steps == 40 and h.eval_loss.values == [1.1] and len(h.grad_norm.finite()) == 0


def test_progress_line_with_eta(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"step": 0, "max_steps": 100},
        *[{"step": s, "loss": 2.0, "epoch": s / 20, "time": float(s), "steps_per_second": 1.0, "learning_rate": 1e-4}
          for s in (1, 5, 10)],
        {"step": 10, "eval_loss": 2.2}]) + "\n")
    p = progress(load_history(path))
    assert p.step == 10 and p.eta == 90 and p.best_eval == 2.2
    line = progress_line(p)
    assert "step 10/100" in line and "eval 2.2000" in line and "ETA 1:30" in line


def test_a_run_stopped_between_logging_steps_says_the_step_it_stopped_at():
    # logged every 10 steps, stopped at 106: the closing summary and the status say 106, the last loss 100
    from console.runs.progress import progress

    records = [{"step": s, "loss": 1.0, "learning_rate": 1e-4} for s in range(10, 101, 10)]
    records.append({"step": 106, "train_runtime": 12.0, "train_loss": 1.0})
    h = History.from_records(records)
    assert h.last_step == 106 and progress(h).step == 106
    # while it trains (no summary yet) the status's step counts when it is ahead of the log, never when behind
    live = History.from_records(records[:-1])
    assert progress(live, {"phase": "stopping", "step": 106}).step == 106
    assert progress(live, {"phase": "training", "step": 40}).step == 100
    assert progress(live, {"phase": "training", "step": "junk"}).step == 100


def test_a_fifo_and_an_over_long_line_are_read_in_bounded_time_and_memory(tmp_path, monkeypatch):
    import os

    fifo = tmp_path / "metrics.jsonl"
    os.mkfifo(fifo)
    assert load_history(fifo).events == 0  # it hung: open() of a FIFO waits for a writer
    path = tmp_path / "long.jsonl"
    monkeypatch.setattr(MetricsTail, "LINE_CAP", 1000)
    monkeypatch.setattr(MetricsTail, "READ_CAP", 4096)
    with open(path, "w") as f:
        f.write(json.dumps({"step": 1, "loss": 2.0}) + "\n")
        f.write('{"step": 2, "loss": "' + "x" * 20_000 + '"}\n')  # one line far over the cap
        f.write(json.dumps({"step": 3, "loss": 1.5}) + "\n")
    tail = MetricsTail(path)
    seen = []
    while True:
        seen += tail.read_new()
        assert len(tail._partial) <= 1000 + 4096
        if not tail.more:
            break
    assert [r["step"] for r in seen] == [1, 3] and tail.bad_lines == 1
    assert load_history(path).train_loss.steps == [1, 3]


def test_the_first_eta_waits_for_evidence_and_a_finished_run_has_no_eta_nor_speed():
    """Issue 30: the first CLI line said '0:10 ETA 53:19' (one logged step, its time counting the model's loading),
    and `show` printed an ETA and steps/s for a run that had finished."""
    first = History.from_records([{"step": 0, "max_steps": 300}, {"step": 1, "loss": 6.6, "time": 10.0}])
    assert progress(first).eta is None and "ETA" not in progress_line(progress(first))
    steady = History.from_records([{"step": 0, "max_steps": 300}] + [
        {"step": s, "loss": 6.6, "time": 10.0 + 0.5 * s} for s in (1, 10, 20)])
    assert progress(steady).eta == (300 - 20) / 2.0  # 2 steps/s between the logs, the loading left out
    done = History.from_records([{"step": 0, "max_steps": 20}] + [
        {"step": s, "loss": 6.6, "time": 10.0 + 0.5 * s, "steps_per_second": 2.0} for s in (1, 10, 20)]
        + [{"step": 20, "train_runtime": 20.0, "train_loss": 6.6}])
    line = progress_line(progress(done, {"phase": "done"}))
    assert "ETA" not in line and "step/s" not in line and "elapsed" in line


def test_the_progress_line_says_when_logging_steps_is_larger_than_the_run():
    """Issue 30: a 4-step run at logging_steps 10 showed step 1's loss as the run's, with no word why."""
    h = History.from_records([{"step": 0, "max_steps": 4}, {"step": 1, "loss": 6.65, "time": 5.0},
                              {"step": 4, "eval_loss": 6.69}])
    line = progress_line(progress(h, {"phase": "training", "step": 4}, logging_steps=10))
    assert "loss 6.6500 (loss from step 1: logging_steps 10 > the run's 4 steps)" in line
    assert "logging_steps" not in progress_line(progress(h, {"phase": "training", "step": 4}, logging_steps=1))


def test_the_eta_counts_the_evaluations_and_does_not_jump_back_after_each():
    """A new user saw the ETA jump: it came from the trainer's speed between logs, which leaves out evaluations.
    A run logging every step at 1 step/s with a 20 s evaluation every 20 steps takes 2 s a step on the clock."""
    records, t = [{"step": 0, "max_steps": 200}], 0.0
    etas = []
    for s in range(1, 101):
        t += 1.0
        records.append({"step": s, "loss": 2.0, "time": t, "steps_per_second": 1.0})
        if s % 20 == 0:
            t += 20.0
            records.append({"step": s, "eval_loss": 2.1, "time": t})
        if s > 20:
            etas.append(progress(History.from_records(records)).eta)
    assert etas[-1] == 100 * 2.0  # 100 steps left at 2 s each on the clock (a step, and an eval a 20th), not 100 s
    after = etas[40 - 21:]  # from the second evaluation on: whole cycles measured
    assert all(later < earlier for earlier, later in zip(after, after[1:]))  # it counts down, never jumps back

