"""Long runs and many runs: readers whose cost follows what they show (console/runs/summary.py), a checkpoint of a
long run never skipped for its size."""
from __future__ import annotations

import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from console.runs.checkpoints import checkpoint_problem, trainer_state_bound


def _safetensors(path) -> None:
    """A whole safetensors file holding one float32 tensor of 4 values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)


def _checkpoint(folder, step: int, entries: int):
    """A checkpoint as the Trainer saves it: its trainer_state.json is json.dumps(indent=2, sort_keys=True) of the
    state, with a log entry per logged step (transformers' TrainerState.save_to_json)."""
    folder.mkdir(parents=True)
    log = [{"epoch": i / 1000, "grad_norm": 1.2345678, "learning_rate": 1.9e-4, "loss": 2.345678, "step": i,
            "mean_token_accuracy": 0.51234, "num_tokens": 1234.0 * i, "entropy": 3.21} for i in range(1, entries + 1)]
    state = {"global_step": step, "max_steps": step + 400, "log_history": log, "best_metric": None}
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    _safetensors(folder / "adapter_model.safetensors")
    return folder


def test_a_checkpoint_of_a_run_that_logged_every_step_is_whole(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-5000", 5000, 5000)
    assert (folder / "trainer_state.json").stat().st_size > 1 << 20  # past the cap of status.json
    assert checkpoint_problem(folder) is None


def test_a_cut_trainer_state_of_a_long_run_is_still_found_cut(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-5000", 5000, 5000)
    state = folder / "trainer_state.json"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    assert "trainer_state.json is missing, cut" in checkpoint_problem(folder)


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(min_value=0.01, max_value=0.99), bigger=st.booleans())
def test_a_trainer_state_past_its_bound_is_never_skipped_for_its_size(tmp_path_factory, cut, bigger):
    """A state bigger than the bound sized from its step (entries far longer than any trainer's) is checked by its
    shape, not refused: whole, it resumes; cut anywhere, it is said cut."""
    folder = tmp_path_factory.mktemp("run") / "checkpoint-2"
    folder.mkdir()
    _safetensors(folder / "adapter_model.safetensors")
    size = trainer_state_bound(2) + (1 << 16 if bigger else 0)
    state = {"global_step": 2, "log_history": [{"step": 1, "loss": 1.0, "note": "x" * size}]}
    text = json.dumps(state, indent=2).encode()
    (folder / "trainer_state.json").write_bytes(text)
    assert checkpoint_problem(folder) is None
    (folder / "trainer_state.json").write_bytes(text[: int(len(text) * cut)])
    assert "trainer_state.json" in (checkpoint_problem(folder) or "")


# -- the metrics summary: the numbers of a whole history, from a few points -----------------------------------------

NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-5, 5),
                   st.sampled_from(["NaN", "Infinity", "abc", None]))
RECORD = st.fixed_dictionaries(
    {"step": st.one_of(st.integers(0, 40), st.sampled_from([None, "7", 2.5]))},
    optional={"loss": NUMBER, "eval_loss": NUMBER, "learning_rate": NUMBER, "grad_norm": NUMBER, "epoch": NUMBER,
              "steps_per_second": NUMBER, "samples_per_second": NUMBER, "tokens_per_second": NUMBER,
              "mean_token_accuracy": NUMBER, "eval_mean_token_accuracy": NUMBER, "time": NUMBER,
              "max_steps": st.one_of(st.integers(-1, 100), st.just("x")), "train_runtime": NUMBER,
              "rewards/chosen": NUMBER})


def _step(record):
    from console.runs.metrics import _number

    return _number(record.get("step"))


def _lines(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


RATES = ("steps_per_second", "samples_per_second", "tokens_per_second")


def _same(a, b, rates: bool = True) -> bool:
    """Two Progress equal field by field (NaN equal to NaN); the median rates left out when `rates` is False."""
    from dataclasses import asdict

    a, b = asdict(a), asdict(b)
    return all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a if rates or k not in RATES)


@settings(max_examples=200, deadline=None)
@given(records=st.lists(RECORD, max_size=40), cut=st.integers(0, 40), status_step=st.sampled_from([None, 3, 1000]))
def test_a_summary_read_in_two_goes_gives_the_progress_of_the_whole_history(tmp_path_factory, records, cut,
                                                                            status_step):
    """The summary kept in .summary.json, brought up to date after more lines were appended (a resumed run's log
    going back in steps, NaN, strings, junk lines included), says what the whole history says."""
    from console.runs.metrics import History
    from console.runs.progress import Progress, progress, summary_row
    from console.runs.summary import summarise

    folder = tmp_path_factory.mktemp("run")
    path = folder / "metrics.jsonl"
    path.write_text(_lines(records[:cut]) + "not json\n" + '{"step": 1, "loss": ')  # a line still being written
    first = summarise(folder)
    with open(path, "a") as f:
        f.write('0.5}\n' + _lines(records[cut:]))
    status = {} if status_step is None else {"step": status_step}
    whole = History.from_records([*records[:cut], {"step": 1, "loss": 0.5}, *records[cut:]])
    again = summarise(folder)
    # a log that goes back in steps (a resumed run) keeps the last five points after the cut, not before it: the
    # median rates then come from fewer points than the whole history's (what else a row shows is the same)
    steps = [s for s in (_step(r) for r in [*records[:cut], {"step": 1}, *records[cut:]]) if s is not None]
    rates = steps == sorted(steps)
    assert again.offset == path.stat().st_size and again.events == whole.events
    assert _same(progress(again.history(), status), progress(whole, status), rates)
    assert again.bad_lines == 1 and first.events == len(records[:cut])
    stored = summarise(folder, row_of=summary_row)  # read from the file alone
    assert _same(progress(stored.history(), status), progress(whole, status), rates)
    assert _same(Progress(**stored.row), progress(whole), rates)  # the row kept for `runs` and the runs screen


def test_a_replaced_log_is_summarised_again_from_its_start(tmp_path):
    from console.runs.summary import summarise

    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines([{"step": s, "eval_loss": 1.0 / s} for s in range(1, 30)]))
    assert summarise(tmp_path).history().eval_loss.finite().values[-1] == 1 / 29
    path.write_text(_lines([{"step": s, "eval_loss": 5.0 + s} for s in range(1, 40)]))  # longer, other lines
    summary = summarise(tmp_path)
    assert min(summary.history().eval_loss.values) == 6.0 and summary.events == 39


# -- watch: linear in what it reads, and never stops short -------------------------------------------------------

def _finished_run(runs_dir, records):
    """A run folder made by the engine (create_run), its metrics.jsonl as the trainer's callback writes it (one
    JSON object a line), ended done."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    run = create_run(runs_dir, resolve(build_config("lora", sets={"max_steps": "10"})), command=["test"])
    with open(run.metrics_path, "a") as f:
        f.write(_lines(records))
    run.write_status("done", step=records[-1]["step"] if records else 0)
    return run


def test_watch_reads_a_finished_log_past_any_read_bound_and_says_each_best_so_far(tmp_path, monkeypatch):
    """On a finished run, watch stopped reading at its read bound (64 MiB of metrics) and showed what it had read
    as the run; each eval line says the best eval so far (its NaN included: it crashed on a NaN best)."""
    import console.runs.follow as follow
    from console.loop.watch import watch

    monkeypatch.setattr(follow, "READ_BYTES", 4096)  # a bound a few records long: the log is 40 bounds
    losses = [3.0 - 0.005 * i if i % 7 else 9.0 for i in range(1, 400)] + [float("nan")]
    records = [r for i, v in enumerate(losses, 1) for r in (
        {"step": i, "loss": 1.0, "learning_rate": 1e-4}, {"step": i, "eval_loss": v})]
    run = _finished_run(tmp_path / "runs", records)
    lines = []
    assert watch(run, lines.append)["phase"] == "done"
    evals = [line for line in lines if line.startswith("eval loss")]
    assert len(evals) == 400 and evals[-1] == "eval loss nan at step 400 (best 1.0100 at step 398)"
    assert evals[6] == "eval loss 9.0000 at step 7 (best 2.9700 at step 6)"


def test_the_trainer_imports_the_launchers_own_copy_of_the_engine():
    """The trainer's PYTHONPATH named console/ rather than the folder above it: a trainer started from a second
    checkout ran the installed copy's code (this branch's e2e tests ran another branch's trainer)."""
    import os
    from pathlib import Path

    import console.runs.launcher as launcher

    root = Path(launcher.package_root())
    assert (root / "console" / "runs" / "launcher.py").resolve() == Path(launcher.__file__).resolve()
    assert os.path.isdir(root / "console" / "trainer")


def test_the_runs_training_are_found_again_when_a_status_changes(tmp_path):
    """active_run_dirs reads a final, unchanged status.json once (the console asked every run's status at its start
    and on each refresh of its keys); a status written since is read again."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import active_run_dirs, create_run

    config = resolve(build_config("lora", sets={"max_steps": "10"}))
    runs = [create_run(tmp_path, config, command=["test"]) for _ in range(3)]
    assert [r.id for r in active_run_dirs(tmp_path)] == [r.id for r in runs]  # just started: "starting"
    for run in runs:
        run.write_status("done")
    assert active_run_dirs(tmp_path) == []
    runs[1].write_status("starting")  # launched again (resume): a status written since
    assert [r.id for r in active_run_dirs(tmp_path)] == [runs[1].id]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-10, 10), min_size=1, max_size=60),
       windows=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=20))
def test_a_curves_window_median_slid_or_not_is_the_median_of_the_window(values, windows):
    """The train level the overfitting rule asks at every evaluation is remembered and slid, not sorted again (a
    window of a tenth of the curve sorted at each eval cost 23 s at 100k log events): the same number."""
    from console.diagnosis.curves import Curve, median

    curve = Curve(list(range(len(values))), values)
    for a, b in windows:
        lo, hi = sorted((min(a, len(values)), min(b, len(values))))
        got, want = curve.window_median(lo, hi), median(values[lo:hi])
        assert got == want or (got != got and want != want)


def test_a_stored_row_of_another_shape_is_computed_again(tmp_path):
    """Progress gains fields (a preference run's margin): a row stored before is not taken, and is stored again."""
    from dataclasses import asdict

    from console.runs.metrics import History
    from console.runs.progress import progress, summary_row
    from console.runs.summary import CACHE_NAME, summarise

    records = [{"step": s, "loss": 2.0 / s, "eval_loss": 3.0 / s} for s in range(1, 20)]
    (tmp_path / "metrics.jsonl").write_text(_lines(records))
    summarise(tmp_path, row_of=summary_row)
    cache = tmp_path / CACHE_NAME
    head, points = cache.read_text().splitlines()  # the head line holds the row
    stored = json.loads(head)
    stored["row"] = {"step": 1.0}
    cache.write_text(json.dumps(stored) + "\n" + points + "\n")
    assert summarise(tmp_path, row_of=summary_row).row == asdict(progress(History.from_records(records)))
    assert json.loads(cache.read_text().splitlines()[0])["row"] == asdict(progress(History.from_records(records)))
