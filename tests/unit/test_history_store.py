"""The History stored beside metrics.jsonl (console/runs/history_store.py, issue 29): a reader that goes on from it
builds exactly the History a read of the whole log builds, reads only the lines after it, and never trusts a file
that is cut, edited, of another version or describing another log."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from console.diagnosis.diagnose import diagnose
from console.runs import history_store, metrics
from console.runs.follow import Follower
from console.runs.history_store import NAME, load, run_history, store
from console.runs.metrics import History, fingerprint, load_history
from console.runs.progress import summary_row
from console.runs.rundir import RunDir
from console.runs.summary import LiveSummary
from tests.unit.test_live_summary import RECORD, _line, _write
from tests.unit.test_metrics_bounded import _small_bound

# steps that go on, go back (a resumed run), and values of every kind: NaN, inf, strings, missing
GROWING = st.lists(st.fixed_dictionaries(
    {"step": st.integers(-3, 6)},
    optional={"loss": st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just("NaN")),
              "eval_loss": st.floats(0, 5), "learning_rate": st.floats(0, 1), "time": st.floats(0, 1e4),
              "rewards/chosen": st.floats(-3, 3), "train_runtime": st.just(1.0), "max_steps": st.integers(1, 99)}),
    max_size=300)


def _stepped(records: list[dict]) -> list[dict]:
    """The records with their step taken as a gap from the previous one (so that most go forward)."""
    step, out = 0, []
    for record in records:
        step = max(0, step + record["step"])
        out.append({**record, "step": step})
    return out


def _same(a: History, b: History) -> bool:
    """Equal states, NaN included (json.dumps writes NaN alike on both sides)."""
    return json.dumps(a.state(), allow_nan=True, sort_keys=True) == json.dumps(b.state(), allow_nan=True,
                                                                               sort_keys=True)


def _log(folder, records) -> None:
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.writelines(_line(r) for r in records)


def _store_here(folder) -> None:
    """Store the history of the log as it is now, as the trainer would at this point."""
    offset = (folder / "metrics.jsonl").stat().st_size
    store(folder, load_history(folder / "metrics.jsonl"), offset, fingerprint(folder / "metrics.jsonl", offset))


@settings(max_examples=120, deadline=None)
@given(records=GROWING, cut=st.floats(0, 1))
def test_a_history_read_on_from_the_stored_one_is_the_one_a_whole_read_gives(tmp_path_factory, records, cut):
    """Decimated many times over (a small bound), steps going back, NaN and strings: the stored state is the whole
    state, buckets included, so going on from it is going on from the whole read."""
    records = _stepped(records)
    with _small_bound():
        folder = tmp_path_factory.mktemp("run")
        at = int(cut * len(records))
        _log(folder, records[:at])
        _store_here(folder)
        _log(folder, records[at:])
        stored = load(folder)
        assert stored is not None and stored[1] == len("".join(_line(r) for r in records[:at]).encode())
        whole = History.from_records(records)
        assert _same(run_history(folder), whole)


def test_a_reader_parses_no_line_the_stored_history_covers(tmp_path):
    records = [{"step": s, "loss": 3 / (1 + s), "learning_rate": 1e-4} for s in range(1, 400)]
    _log(tmp_path, records[:300])
    _store_here(tmp_path)
    _log(tmp_path, records[300:])
    whole = History.from_records(records)
    # the log overwritten but for the bytes the fingerprint holds and the lines after the stored history: a reader
    # that parsed any covered line would find bad lines and no points there
    data = (tmp_path / "metrics.jsonl").read_bytes()
    offset = load(tmp_path)[1]
    (tmp_path / "metrics.jsonl").write_bytes(b" " * (offset - 64) + data[offset - 64:])
    assert _same(run_history(tmp_path), whole)
    follower = Follower(RunDir(tmp_path))  # the console attaching to the run
    history, _ = follower.attach()
    assert _same(history, whole) and history.train_loss.steps[0] == 1


def test_a_log_cut_or_replaced_since_is_read_from_its_start(tmp_path):
    _log(tmp_path, [{"step": s, "loss": 1.0} for s in range(1, 50)])
    _store_here(tmp_path)
    path = tmp_path / "metrics.jsonl"
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"loss": 1.0', b'"loss": 2.0'))  # same length, other values
    assert load(tmp_path) is None and run_history(tmp_path).train_loss.values[-1] == 2.0
    path.write_bytes(data[: len(data) // 2])  # cut (its last line half written: not a record yet)
    assert load(tmp_path) is None and run_history(tmp_path).events == data[: len(data) // 2].count(b"\n")


@settings(max_examples=40, deadline=None)
@given(before=st.lists(RECORD, max_size=10), records=st.lists(RECORD, min_size=1, max_size=40),
       stores=st.lists(st.booleans(), min_size=40, max_size=40))
def test_the_trainer_keeps_its_history_and_stores_it_when_the_log_grew_and_at_the_end(tmp_path_factory, before,
                                                                                     records, stores):
    """Through LiveSummary as the callback feeds it (a resumed run's log first, when there is one): stored mid-run
    once the log grew by GROWTH_BYTES (made small here), and at the end whatever the growth; what a reader builds
    from it is the whole read."""
    folder = tmp_path_factory.mktemp("run")
    _write(folder, None, before, [])
    saved = history_store.GROWTH_BYTES
    history_store.GROWTH_BYTES = 200
    try:
        summary = LiveSummary(folder, summary_row, clock=lambda: 0.0)
        _write(folder, summary, records, stores)
        size = (folder / "metrics.jsonl").stat().st_size
        stored = load(folder)
        asked = [i for i in range(len(records)) if stores[i]]  # the lines after which a store was asked
        if asked and len("".join(map(_line, records[:asked[-1] + 1])).encode()) >= 200:
            assert stored is not None  # stored mid-run: the log grew by GROWTH_BYTES by the last store
        summary.store(final=True)
    finally:
        history_store.GROWTH_BYTES = saved
    assert load(folder)[1] == size
    assert _same(run_history(folder), load_history(folder / "metrics.jsonl"))


def test_a_trainer_stores_its_history_no_more_often_than_its_cost_allows(tmp_path):
    now = [0.0]
    (tmp_path / "metrics.jsonl").touch()  # the callback opens it before it makes its LiveSummary
    summary = LiveSummary(tmp_path, summary_row, clock=lambda: now[0])
    saved = history_store.GROWTH_BYTES
    history_store.GROWTH_BYTES = 1
    try:
        _write(tmp_path, summary, [{"step": 1, "loss": 1.0}], [True])
        first = load(tmp_path)[1]
        summary.keeper.due = 50.0  # the last store took 0.5 s: none before 100 times that has passed
        _write(tmp_path, summary, [{"step": 2, "loss": 1.0}, {"step": 2, "eval_loss": 1.0}], [False, True])
        assert load(tmp_path)[1] == first
        now[0] = 51.0
        _write(tmp_path, summary, [{"step": 3, "eval_loss": 1.0}], [True])
        assert load(tmp_path)[1] == (tmp_path / "metrics.jsonl").stat().st_size
    finally:
        history_store.GROWTH_BYTES = saved


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                              st.text(max_size=5)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4)), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(st.sampled_from(["series", "train_loss", "eval_loss", "steps", "values", "stride", "head",
                                      "end", "sizes", "counts", "bad", "events", "final", "max_steps", 0, 1, -1]),
                     min_size=1, max_size=4),
       value=JSON, cut=st.integers(0, 400))
def test_an_edited_or_cut_history_file_is_refused_or_read_as_a_history_that_works(tmp_path_factory, path, value,
                                                                                  cut):
    """Any value put anywhere in a stored history, or the file cut: load() gives None (the log is read instead) or a
    History that takes more points, stays bounded and is diagnosed; never an exception."""
    with _small_bound():
        folder = tmp_path_factory.mktemp("run")
        _log(folder, [{"step": s, "loss": 3 / s if s % 7 else float("nan"), "eval_loss": 1 + 1 / s,
                       "learning_rate": 1e-4} for s in range(1, 120)])
        _store_here(folder)
        head, body = (folder / NAME).read_text().splitlines()
        data = json.loads(body)
        node = data
        for key in path[:-1]:
            node = (node.get(key) if isinstance(node, dict) else node[key] if isinstance(node, list) and node
                    and isinstance(key, int) else None)
            if node is None:
                break
        if isinstance(node, dict):
            node[str(path[-1])] = value
        elif isinstance(node, list) and node and isinstance(path[-1], int):
            node[path[-1]] = value
        text = head + "\n" + json.dumps(data, allow_nan=True) + "\n"
        (folder / NAME).write_text(text[:cut] if cut < 400 and cut % 2 else text)
        stored = load(folder)
        if stored is not None:
            history = stored[0]
            history.extend({"step": 200 + s, "loss": 1.0, "eval_loss": 1.0} for s in range(100))
            assert all(len(s) < 4 * metrics.CAP and s.steps == sorted(s.steps) for s in history._series().values())
            diagnose(history)
        # a file that lies consistently (no series at all) cannot be told from the truth; one that does not add up
        # is never taken, and the log is read instead
        history = run_history(folder)
        assert stored is not None or history.train_loss.steps[-1] == 119
