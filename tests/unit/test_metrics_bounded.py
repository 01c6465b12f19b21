"""A long history stays bounded (issue 29): each series keeps at most CAP points, decimated as they are read, and
keeps what the diagnosis and the charts need: the first and newest points as logged, the best eval, spikes and the
first NaN/inf at their own steps."""
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from console.common.bounded_read import loads_json
from console.diagnosis.diagnose import diagnose
from console.runs import metrics
from console.runs.metrics import CAP, HEAD, TAIL, History, MetricsTail, Series

STEPS = 5 * CAP  # far more than the bound: the series are decimated several times over
NAN_STEP, SPIKE_STEP, BEST_STEP = 31_337, 77_777, 54_321


def _loss(step: int) -> float:
    return 3.0 / (1 + step / 500) + 0.05 * ((step * 7919) % 13) / 13


def _records():
    yield {"step": 0, "max_steps": STEPS, "event": "train_begin"}
    for step in range(1, STEPS + 1):
        loss = _loss(step)
        grad = float("nan") if step % 1000 == 0 else 1.0 + step % 3  # one NaN gradient norm in a thousand
        if step == SPIKE_STEP:
            loss = 40.0
        yield {"step": step, "loss": loss, "grad_norm": grad, "learning_rate": 2e-4, "epoch": step / 250,
               "time": step * 0.02}
        eval_loss = 0.01 if step == BEST_STEP else float("nan") if step == NAN_STEP else loss + 0.1
        yield {"step": step, "eval_loss": eval_loss, "epoch": step / 250}


def test_a_history_fed_far_more_events_than_its_bound_stays_bounded_and_keeps_what_matters():
    history = History.from_records(_records())
    assert history.events == 2 * STEPS + 1
    for name in ("train_loss", "eval_loss", "grad_norm", "learning_rate", "epoch", "wall_time"):
        series = getattr(history, name)
        assert CAP // 4 < len(series) < CAP, name  # bounded, yet never thinned to a handful
        assert series.steps == sorted(series.steps), name
    train, ev = history.train_loss, history.eval_loss
    assert train.logged == STEPS and ev.logged == STEPS  # what was logged is still counted
    # the first and the newest points as logged
    assert train.steps[:HEAD] == list(range(1, HEAD + 1)) and train.values[:HEAD] == [_loss(s) for s in range(1, HEAD + 1)]
    assert train.steps[-TAIL:] == list(range(STEPS - TAIL + 1, STEPS + 1)) and train.last() == _loss(STEPS)
    # the best eval, the spike and the NaN, each at its own step
    finite = ev.finite()
    best = min(range(len(finite)), key=finite.values.__getitem__)
    assert (finite.steps[best], finite.values[best]) == (BEST_STEP, 0.01)
    assert train.values[train.steps.index(SPIKE_STEP)] == 40.0 and max(train.values) == 40.0
    assert [s for s, v in zip(ev.steps, ev.values) if math.isnan(v)] == [NAN_STEP]
    assert history.grad_norm.nonfinite == STEPS // 1000 and history.grad_norm.logged == STEPS
    # every point kept is one that was logged, at its step
    assert all(v == _loss(s) for s, v in zip(train.steps, train.values) if s != SPIKE_STEP)


def test_the_nan_and_spike_rules_still_fire_on_a_long_decimated_history():
    findings = {f.problem: f for f in diagnose(History.from_records(_records()))}
    assert findings["diverged"].step == NAN_STEP  # the eval's NaN, at its step, though most evals were merged away
    # the gradient norms are counted as logged, not as kept
    assert findings["nonfinite_grad_norm"].evidence.startswith(f"{STEPS // 1000} of {STEPS} logged gradient norms")
    assert f"at step {SPIKE_STEP}" in findings["oscillating"].evidence  # the spike was not averaged away


def test_a_resumed_log_goes_back_in_steps_through_a_decimated_series():
    series = Series()
    for step in range(3 * CAP):
        series.add(float(step), float(step % 7))
    series.add(1000.0, -1.0)  # a resumed run logs again from its checkpoint at step 1000
    assert series.steps[-1] == 1000.0 and all(s < 1000 for s in series.steps[:-1])
    for step in range(1001, 3 * CAP):
        series.add(float(step), 1.0)
    assert len(series) < CAP and series.last() == 1.0 and -1.0 in series.values
    series.add(5.0, 2.0)  # back into the points kept as logged: what is left is all as logged
    assert series.steps == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and series.stride == 1 and series.logged == 6


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-5, 5).map(float))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), values), max_size=400))
def test_a_small_bound_keeps_the_logged_extremes_the_first_nonfinite_and_the_ends(points):
    with _small_bound():
        series, logged, step = Series(), [], 0
        for gap, value in points:
            step += gap
            series.add(float(step), value)
            logged.append((float(step), value))
        assert len(series) <= metrics.CAP
        assert series.logged == len(logged)
        assert series.nonfinite == sum(1 for _, v in logged if not math.isfinite(v))
        kept = list(zip(series.steps, series.values))
        assert all(_same(p, logged) for p in kept)  # only logged points, in order
        if logged:
            assert _eq(kept[-1], logged[-1])
            n = min(len(logged), metrics.HEAD)
            assert all(_eq(a, b) for a, b in zip(kept[:n], logged[:n]))
            fin = [v for _, v in logged if math.isfinite(v)]
            if fin:
                assert min(fin) in series.values and max(fin) in series.values
            bad = [s for s, v in logged if not math.isfinite(v)]
            if bad:
                assert bad[0] in [s for s, v in kept if not math.isfinite(v)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-40, 3), values), max_size=400))
def test_a_small_bound_with_resumed_logs_stays_bounded_sorted_and_ends_on_the_last_point(points):
    with _small_bound():
        series, step = Series(), 0
        for gap, value in points:
            step = max(0, step + gap)
            series.add(float(step), value)
            assert len(series) <= metrics.CAP
            assert series.steps == sorted(series.steps)
            assert _eq((series.steps[-1], series.values[-1]), (float(step), value))
            assert 0 <= series.nonfinite <= series.logged


class _small_bound:
    """The bound made small, so that a few hundred points are decimated many times over."""

    SIZES = {"CAP": 40, "HEAD": 4, "TAIL": 4, "BATCH": 8}

    def __enter__(self):
        self.saved = {k: getattr(metrics, k) for k in self.SIZES}
        for k, v in self.SIZES.items():
            setattr(metrics, k, v)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            setattr(metrics, k, v)


def _eq(a, b) -> bool:
    return a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1])))


def _same(point, logged) -> bool:
    return any(_eq(point, p) for p in logged)


nested = st.recursive(st.one_of(st.integers(), st.floats(allow_nan=True), st.text(alphabet="{[]}\"ab", max_size=4)),
                      lambda inner: st.one_of(st.lists(inner, max_size=2),
                                              st.dictionaries(st.text(alphabet="ab{[", max_size=2), inner, max_size=2)),
                      max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(nested.map(lambda v: json.dumps(v).encode()),
                          st.integers(0, 130).map(lambda d: b'{"a": ' + b"[" * d + b"]" * d + b"}"),
                          st.binary(max_size=12)), max_size=12))
def test_the_tail_reads_each_line_as_loads_json_does(tmp_path_factory, lines):
    # MetricsTail parses a line of few brackets with json.loads alone: the same records and bad lines as loads_json
    path = tmp_path_factory.mktemp("tail") / "metrics.jsonl"
    path.write_bytes(b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines))
    tail = MetricsTail(path)
    records = tail.read_new()
    expected, bad = [], 0
    for line in (line.replace(b"\n", b" ").strip() for line in lines):
        if not line:
            continue
        try:
            value = loads_json(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(value, dict):
            expected.append(value)
    assert json.dumps(records) == json.dumps(expected) and tail.bad_lines == bad


record = st.fixed_dictionaries({"step": st.one_of(st.integers(-2, 60), st.floats(allow_nan=True), st.just("7"))},
                               optional={"loss": values, "eval_loss": values, "time": values,
                                         "grad_norm": st.one_of(values, st.booleans(), st.text(max_size=3)),
                                         "train_runtime": st.just(1.0)})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(record, st.integers()), max_size=300), st.integers(1, 40))
def test_a_history_read_in_batches_is_the_history_read_one_record_at_a_time(records, batch):
    # the points of a batch are handed to each series at once (its steps going back or not): the same history
    with _small_bound():
        whole, one = History(), History()
        for i in range(0, len(records), batch):
            whole.extend(records[i:i + batch])
        for r in records:
            if isinstance(r, dict):
                one.add(r)
        assert json.dumps(_plain(whole)) == json.dumps(_plain(one))
        assert all(len(getattr(whole, name)) <= metrics.CAP for name in ("train_loss", "eval_loss", "wall_time"))


def _plain(history: History) -> dict:
    return {k: (vars(v) if isinstance(v, Series) else v) for k, v in vars(history).items()}
