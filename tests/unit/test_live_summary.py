"""The metrics summary the trainer keeps as it logs (console/runs/summary.py LiveSummary, fed by the callback's
writes): what it stores is what a reader of the whole metrics.jsonl builds, and a reader after it parses no line
of the log, or only the lines appended since it was stored."""
from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.runs.progress import run_progress, summary_row
from console.runs.summary import CACHE_NAME, LiveSummary, MetricsSummary, stored_row, summarise

NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-5, 5),
                   st.sampled_from(["NaN", "abc", None]))
RECORD = st.fixed_dictionaries(
    {"step": st.one_of(st.integers(0, 40), st.sampled_from([None, "7", 2.5]))},
    optional={"loss": NUMBER, "eval_loss": NUMBER, "learning_rate": NUMBER, "grad_norm": NUMBER, "time": NUMBER,
              "steps_per_second": NUMBER, "max_steps": st.integers(-1, 100), "train_runtime": NUMBER,
              "rewards/chosen": NUMBER, "event": st.just("train_begin")})


def _line(record: dict) -> str:
    return json.dumps(record, allow_nan=True) + "\n"  # as ConsoleCallback._write writes it


def _write(folder, summary: LiveSummary | None, records, stores) -> None:
    """Append `records` as the trainer's callback does: the line, flushed, then handed to its LiveSummary."""
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:
        for i, record in enumerate(records):
            store = i < len(stores) and stores[i]
            line = _line(record)
            f.write(line)
            f.flush()
            if summary is not None:
                summary.add(line, store=store)


def _whole(folder, tmp_path_factory) -> MetricsSummary:
    """The summary of the whole log, read from its first byte by a reader (a copy without .summary.json)."""
    copy = tmp_path_factory.mktemp("whole")
    shutil.copy(folder / "metrics.jsonl", copy / "metrics.jsonl")
    return summarise(copy, write=False, row_of=summary_row)


def _stored(folder) -> MetricsSummary:
    head, points = (folder / CACHE_NAME).read_text().splitlines()
    return MetricsSummary.from_json({**json.loads(points), **json.loads(head)})


@settings(max_examples=150, deadline=None)
@given(before=st.lists(RECORD, max_size=15), records=st.lists(RECORD, min_size=1, max_size=30),
       stores=st.lists(st.booleans(), min_size=30, max_size=30),
       earlier=st.sampled_from(["none", "read", "cut line"]))
def test_the_summary_the_trainer_stores_is_the_one_a_whole_read_gives(tmp_path_factory, before, records, stores,
                                                                        earlier):
    """A new run, or a resumed one whose log an earlier trainer wrote (summarised by a reader or not): after the
    trainer's last store, .summary.json is the summary of the whole log and a reader takes it without parsing a
    line. A last line cut short before the trainer started (killed while writing it) is not the trainer's to
    describe: it keeps none, and readers read the log on as before."""
    folder = tmp_path_factory.mktemp("run")
    _write(folder, None, before, [])
    if earlier == "read":
        summarise(folder, row_of=summary_row)
    elif earlier == "cut line":
        with open(folder / "metrics.jsonl", "a") as f:
            f.write('{"step": 3, "lo')
    live = LiveSummary(folder, summary_row)
    assert live.live == (earlier != "cut line")
    _write(folder, live, records, stores)
    live.store()  # the callback's on_train_end
    whole = _whole(folder, tmp_path_factory)
    if earlier == "cut line":
        assert summarise(folder, row_of=summary_row).to_text() == whole.to_text()
        return
    assert _stored(folder).to_text() == whole.to_text()  # the same points, row, offset and fingerprint
    # the log overwritten but for the bytes the fingerprint holds: a reader that parsed a line would count a bad one
    log = folder / "metrics.jsonl"
    data = log.read_bytes()
    log.write_bytes(b"x" * max(0, len(data) - 64) + data[-64:])
    assert json.dumps(stored_row(folder, summary_row)) == json.dumps(whole.row)  # NaN as NaN
    assert summarise(folder, row_of=summary_row).to_text() == whole.to_text()


@settings(max_examples=100, deadline=None)
@given(records=st.lists(RECORD, min_size=1, max_size=30), more=st.lists(RECORD, min_size=1, max_size=10))
def test_a_log_grown_past_the_stored_summary_is_read_on_from_it(tmp_path_factory, records, more):
    """The trainer killed between two stores: the lines after the last store are read by the next reader, from
    where the stored summary ends, and what it gives is the whole log's summary."""
    folder = tmp_path_factory.mktemp("run")
    open(folder / "metrics.jsonl", "w").close()  # create_run makes it empty
    live = LiveSummary(folder, summary_row)
    _write(folder, live, records, [False] * len(records))
    live.store()
    stored = _stored(folder)
    _write(folder, None, more, [])  # written, never stored
    assert stored_row(folder, summary_row) is None  # the row no longer covers the log
    again = summarise(folder, row_of=summary_row)
    assert again.to_text() == _whole(folder, tmp_path_factory).to_text()
    assert stored.offset < again.offset


def test_the_trainer_stores_at_most_every_few_seconds_between_evaluations(tmp_path):
    """A line costs no write until STORE_EVERY_S has passed since the last store; an evaluation (or the end) is
    stored at once."""
    from console.runs.summary import STORE_EVERY_S

    clock = [100.0]
    open(tmp_path / "metrics.jsonl", "w").close()
    live = LiveSummary(tmp_path, summary_row, clock=lambda: clock[0])
    _write(tmp_path, live, [{"step": 1, "loss": 2.0}], [False])
    assert stored_row(tmp_path, summary_row) is None  # the line is not in a stored summary yet
    clock[0] += STORE_EVERY_S
    _write(tmp_path, live, [{"step": 2, "loss": 1.5}], [False])
    assert stored_row(tmp_path, summary_row)["train_loss"] == 1.5
    _write(tmp_path, live, [{"step": 2, "eval_loss": 1.7}], [True])
    assert stored_row(tmp_path, summary_row)["best_eval"] == 1.7
    _write(tmp_path, live, [{"step": 3, "loss": 1.2}], [False])
    assert stored_row(tmp_path, summary_row) is None  # written since: read on by the next reader
    assert run_progress(_run(tmp_path)).train_loss == 1.2


def _run(folder):
    from console.runs.rundir import RunDir

    return RunDir(folder)


def test_a_summary_of_an_older_version_is_read_and_stored_again_without_the_log(tmp_path):
    """A version 3 .summary.json (one JSON object, written by readers before the trainer kept it): taken as it is
    and stored again as the current version, no line of the log parsed."""
    records = [{"step": s, "loss": 3.0 / s, "eval_loss": 4.0 / s} for s in range(1, 30)]
    _write(tmp_path, None, records, [])
    summary = summarise(tmp_path, row_of=summary_row)
    old = summary.to_json()
    old["version"] = 3
    (tmp_path / CACHE_NAME).write_text(json.dumps(old))
    assert stored_row(tmp_path, summary_row) is None  # `runs` reads only a version 4 head
    log = tmp_path / "metrics.jsonl"
    data = log.read_bytes()
    log.write_bytes(b"x" * (len(data) - 64) + data[-64:])  # a reader that parsed the log would find no record
    assert summarise(tmp_path, row_of=summary_row).to_text() == summary.to_text()
    assert stored_row(tmp_path, summary_row) == summary.row


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run folder whose files each example writes anew (a run folder costs a config resolved and written)."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    return create_run(tmp_path_factory.mktemp("runs"), resolve(build_config("lora", sets={"max_steps": "10"})),
                      command=["test"])


VALUE = st.one_of(st.none(), st.booleans(), st.integers(-2, 10**6), st.floats(), st.text(max_size=8))


@settings(max_examples=150, deadline=None)
@given(head=st.one_of(VALUE, st.fixed_dictionaries(
    {"version": st.sampled_from([3, 4, 4.0, "4", None]), "offset": VALUE, "fingerprint": VALUE,
     "row": st.one_of(VALUE, st.dictionaries(st.sampled_from(["step", "max_steps", "best_eval", "note"]), VALUE))})),
    points=st.one_of(st.binary(max_size=60), st.just(b'{"events": 1}')), newline=st.booleans())
def test_any_two_line_summary_on_disk_gives_a_typed_row_or_is_read_again(run, head, points, newline):
    """.summary.json is a file any process could have written: whatever its head line and points line hold, `runs`
    gets a typed row (the stored one only when it is whole and describes the log)."""
    from console.runs.progress import run_summary

    run.metrics_path.write_text(_line({"step": 1, "loss": 2.0}) + _line({"step": 2, "loss": 1.5}))
    (run.path / CACHE_NAME).write_bytes(json.dumps(head).encode() + (b"\n" if newline else b"") + points)
    row = stored_row(run.path, summary_row)
    assert row is None or isinstance(row, dict)
    summary = run_summary(run)
    assert summary["step"] == 2  # from the log whenever the stored summary does not describe it
