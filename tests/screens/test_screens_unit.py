"""Pure parts of screens/: decimation, value text, run diffs; and the UI's import weight."""
from __future__ import annotations

import math
import subprocess
import sys

from screens.runs_screen import config_diff, short_id
from screens.widgets.decimate import decimate_arrays
from screens.widgets.field_row import value_text


def decimate(steps, values, buckets):
    """decimate_arrays (what the charts call) on lists, back to lists."""
    import numpy as np

    s, v = decimate_arrays(np.asarray(steps, dtype=float), np.asarray(values, dtype=float), buckets)
    return s.tolist(), v.tolist()


def test_decimate_keeps_short_series_unchanged():
    assert decimate([1, 2, 3], [3.0, 2.0, 1.0], 10) == ([1, 2, 3], [3.0, 2.0, 1.0])


def test_decimate_bounds_points_and_keeps_extremes_and_ends():
    steps = list(range(10_000))
    values = [math.sin(i / 50) for i in steps]
    values[4321] = 50.0  # a spike
    values[7000] = -50.0
    s, v = decimate(steps, values, 80)
    assert len(s) <= 2 * 80 + 2
    assert 50.0 in v and -50.0 in v
    assert s[0] == 0 and s[-1] == 9999
    assert s == sorted(s)


def test_decimate_keeps_a_nan():
    steps = list(range(1000))
    values = [1.0] * 1000
    values[500] = float("nan")
    s, v = decimate(steps, values, 20)
    assert any(math.isnan(x) for x in v)


def test_value_text_round_trips_the_way_users_type():
    assert value_text(None) == ""
    assert value_text(True) == "true"
    assert value_text(2e-4) == "2e-4"
    assert value_text(["q_proj", "v_proj"]) == "q_proj, v_proj"
    assert value_text(16) == "16"


def test_short_id_and_config_diff():
    from console.config.run_config import RunConfig

    assert short_id("20250101-120000-lora-aaaa") == "lora-aaaa"
    assert short_id(None) == ""
    a = RunConfig.from_preset("lora")
    b = a.with_changes({"learning_rate": 1e-4})
    assert config_diff(a, b) == ["learning_rate: 2e-4 -> 1e-4"]
    assert config_diff(a, a) == ["the two configs are the same"]
    # an argument left out and one set to None are the same: one word for both (the diff said 'None' and '(unset)')
    key = next(k for k in ("seed", "data_seed", "hub_model_id") if k not in a.values)
    c, d = a.with_changes({}), a.with_changes({})
    c.values[key], d.values[key] = None, 3
    assert config_diff(a, c) == ["the two configs are the same"]
    assert config_diff(c, d) == [f"{key}: (unset) -> 3"] and config_diff(a, d) == [f"{key}: (unset) -> 3"]


def test_ui_never_imports_the_heavy_libraries():
    """The whole app path (app, every screen, opening the arguments and training screens) stays light."""
    code = (
        "import sys, asyncio\n"
        "from screens.app import TrainingConsoleApp\n"
        "import screens.workers.watcher, console.loop.findings, console.cli.main, console.diagnosis.diagnose, console.diagnosis.fixes\n"
        "async def main():\n"
        "    app = TrainingConsoleApp(runs_dir='/nonexistent-runs')\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.press('enter')\n"
        "        await pilot.pause(0.2)\n"
        "        await pilot.press('escape', 'u')\n"
        "        await pilot.pause(0.2)\n"
        "asyncio.run(main())\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes', 'datasets', 'accelerate')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_series_buffer_converts_only_what_was_appended_and_notices_a_rewrite():
    from screens.widgets.decimate import SeriesBuffer

    steps, values = [1.0, 2.0], [3.0, 2.5]
    buffer = SeriesBuffer()
    assert buffer.update(steps, values) and buffer.values.tolist() == [3.0, 2.5]
    assert not buffer.update(steps, values)  # nothing new
    steps.append(3.0)
    values.append(2.0)
    assert buffer.update(steps, values) and buffer.steps.tolist() == [1.0, 2.0, 3.0]
    del steps[1:], values[1:]  # a resumed run's log replaces the steps it repeats
    steps += [2.0, 3.0]
    values += [9.0, 8.0]
    assert buffer.update(steps, values) and buffer.values.tolist() == [3.0, 9.0, 8.0]


def test_decimate_keeps_a_nan_and_an_inf_of_a_long_series():
    values = [1.0] * 10_000
    values[1234], values[8000] = float("nan"), float("inf")
    s, v = decimate(list(range(10_000)), values, 50)
    assert len(s) <= 3 * 50 + 2
    assert any(math.isnan(x) for x in v) and math.inf in v and 1234 in s and 8000 in s


async def test_the_chart_draws_what_textual_plotext_draws_and_repaints_only_changed_rows():
    """The chart's own path (plotext's matrix straight to lines) gives exactly textual-plotext's picture."""
    from textual.app import App
    from textual_plotext import PlotextPlot

    from screens.widgets.metric_chart import Curve, MetricChart

    steps = list(range(5000))
    train = [3.0 * math.exp(-i / 1500) + 0.05 * math.sin(i) for i in steps]
    evals = steps[::50]
    ev = [train[i] + 0.2 for i in evals]

    class One(App):
        def compose(self):
            yield MetricChart("loss", id="chart")

    for theme in ("textual-dark", "textual-light"):
        app = One()
        async with app.run_test(size=(100, 30)) as pilot:
            app.theme = theme
            chart = app.query_one(MetricChart)
            chart.xmax = 6000
            chart.set_curves([Curve("train", steps, train, color="cyan"),
                              Curve("eval", evals, ev, markers=True, color="orange")], title="loss")
            await pilot.pause()
            ours, theirs = chart.render(), PlotextPlot.render(chart)
            assert ours.plain == theirs.plain
            assert all(ours.get_style_at_offset(app.console, i) == theirs.get_style_at_offset(app.console, i)
                       for i in range(len(ours.plain)))
            repainted = []
            chart.refresh = lambda *regions, repainted=repainted, **kw: repainted.append(regions)
            chart.set_curves([Curve("train", steps, train, color="cyan"),
                              Curve("eval", evals, ev, markers=True, color="orange")], title="loss")
            assert repainted == []  # the same curves: nothing sent
            steps.append(5000)
            train.append(0.5)  # a new low: the curve and the y axis change, not the title or the x axis
            chart.set_curves([Curve("train", steps, train, color="cyan"),
                              Curve("eval", evals, ev, markers=True, color="orange")], title="loss")
            (regions,) = repainted
            assert 0 < len(regions) < chart.size.height and all(r.height == 1 for r in regions)
            steps.pop(), train.pop()


def test_attaching_posts_the_runs_phase_and_whole_history_with_the_first_message(tmp_path):
    """The first frame of an attached run shows it as it is (a new user saw "starting the trainer..." over an empty
    chart for seconds on a run at step 80): RunLaunched itself carries the status and the history so far."""
    from console.runs.rundir import RunDir
    from screens.messages import RunFinished, RunLaunched
    from screens.workers import watcher
    from tests.support.screens import fake_run, metrics_records

    path = fake_run(tmp_path / "runs", "20250101-120000-lora-aaaa", created=1_735_732_800.0,
                    records=metrics_records(steps=80))
    posted = []
    watcher.trainer_loop(posted.append, lambda: False, run=RunDir(path), poll=0.01)
    first = posted[0]
    assert isinstance(first, RunLaunched) and first.attached
    assert first.status["phase"] == "done"
    assert first.history.last_step == 80 and first.history.events == len(metrics_records(steps=80))
    assert isinstance(posted[-1], RunFinished)


def test_step_ticks_are_whole_round_numbers():
    from screens.widgets.metric_chart import step_ticks

    assert step_ticks(0, 301) == [0, 100, 200, 300]  # it drew 75.2, 150.5, 225.8
    assert step_ticks(0, 25) == [0, 5, 10, 15, 20, 25]
    assert step_ticks(10, 100) == [20, 40, 60, 80, 100]
    assert step_ticks(5, 5) == []
    for lo, hi in ((0, 7), (3, 99_999), (0, 1_000_000)):
        ticks = step_ticks(lo, hi)
        assert 2 <= len(ticks) <= 8 and all(isinstance(t, int) and lo <= t <= hi for t in ticks)


async def test_the_legend_never_hides_the_highest_point_at_the_first_step():
    """plotext draws the legend over the plot's top-left rows; a first eval at step 0, the highest point of a falling
    curve, was drawn under it (a new user saw the curve start at step 1). The chart leaves a row per label above."""
    from textual.app import App

    from screens.widgets.metric_chart import Curve, MetricChart

    class One(App):
        def compose(self):
            yield MetricChart("eval loss", id="chart")

    for labels in (["lora-a982"], ["lora-a982", "lora-b123"]):
        app = One()
        async with app.run_test(size=(80, 20)) as pilot:
            chart = app.query_one(MetricChart)
            chart.set_curves([Curve(label, list(range(7)), [6.72 - 0.007 * s - 0.01 * i for s in range(7)])
                              for i, label in enumerate(labels)], title="eval loss")
            await pilot.pause()
            plot = [line.split("┤", 1)[1] if "┤" in line else line.lstrip()[1:]
                    for line in chart.render().plain.splitlines() if "┤" in line or line.lstrip().startswith("│")]
            legend_rows = [i for i, row in enumerate(plot) if any(label in row for label in labels)]
            assert len(legend_rows) == len(labels)
            first_column = [i for i, row in enumerate(plot) if row[:1].strip() and "\u2800" <= row[0] <= "\u28ff"]
            assert first_column and min(first_column) > max(legend_rows), "\n".join(plot)


async def test_a_chart_whose_points_share_one_step_or_whose_range_is_empty_draws():
    """The console exited with ZeroDivisionError (plotext's x range [30, 30]) when zoomed 'since the best eval' on
    a run whose best eval was its last step."""
    from textual.app import App

    from screens.widgets.metric_chart import Curve, MetricChart

    class One(App):
        def compose(self):
            yield MetricChart("loss", id="chart")

    app = One()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(MetricChart)
        for xmin, xmax in ((30, 30), (None, None), (30, None)):
            chart.xmin, chart.xmax = xmin, xmax
            chart.set_curves([Curve("train", [30], [3.9]), Curve("eval", [30], [3.94], markers=True)])
            await pilot.pause()
            assert "┤" in chart.render().plain


async def test_the_value_axis_is_labelled_in_three_significant_digits():
    """A new user read the learning-rate chart's axis as 0.00000267: plotext writes every digit. The labels are
    2.67e-06-style for small values and 2.35-style for losses."""
    from textual.app import App

    from screens.widgets.metric_chart import Curve, MetricChart

    class One(App):
        def compose(self):
            yield MetricChart("learning rate", id="chart")

    app = One()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(MetricChart)
        steps = list(range(1, 101))
        chart.set_curves([Curve("lr", steps, [2e-4 * min(1, s / 10) * (1 - s / 101) + 2.67e-6 for s in steps])],
                         title="learning rate")
        await pilot.pause()
        axis = [line.split("┤", 1)[0].strip() for line in chart.render().plain.splitlines() if "┤" in line]
        assert axis and all(len(label) <= 8 for label in axis), axis
        assert any("e-" in label for label in axis) and not any("0.0000" in label for label in axis), axis
        chart.set_curves([Curve("train", steps, [3.0 - 0.0123456 * s for s in steps])], title="loss")
        await pilot.pause()
        axis = [line.split("┤", 1)[0].strip() for line in chart.render().plain.splitlines() if "┤" in line]
        assert axis and all(len(label.split(".")[-1]) <= 3 for label in axis), axis


def test_a_long_log_is_said_to_be_read_until_it_is_whole(tmp_path, monkeypatch):
    """Attaching to a run whose log is read over several polls (a run of an older trainer): the first message and
    every batch but the last say how much of the log is read, so the screen never shows part of a run as the run."""
    import console.runs.follow as follow
    from console.runs.rundir import RunDir
    from screens.messages import MetricsArrived, RunFinished, RunLaunched
    from screens.workers import watcher
    from tests.support.screens import fake_run, metrics_records

    monkeypatch.setattr(follow, "READ_BYTES", 2048)
    path = fake_run(tmp_path / "runs", "20250101-120000-lora-aaaa", created=1_735_732_800.0,
                    records=metrics_records(steps=80))
    size = (path / "metrics.jsonl").stat().st_size
    posted = []

    def post(message):  # the app's handler: the batch taken in, so the worker reads on
        posted.append(message)
        if getattr(message, "consumed", None) is not None:
            message.consumed.set()

    watcher.trainer_loop(post, lambda: False, run=RunDir(path), poll=0.01)
    first, batches = posted[0], [m for m in posted if isinstance(m, MetricsArrived)]
    assert isinstance(first, RunLaunched) and first.reading == (2048, size)
    assert len(batches) >= 3 and batches[-1].reading is None
    assert [m.reading[0] for m in batches[:-1]] == [2048 * (i + 2) for i in range(len(batches) - 1)]
    assert isinstance(posted[-1], RunFinished)


def test_a_runs_steps_fit_their_column_in_thousands_or_millions_never_cut():
    from screens.runs_screen import WIDTHS, steps_text

    assert steps_text(40, 100) == "40/100" and steps_text(5, None) == "5"
    assert steps_text(909_090, 1_000_000) == "909k/1M"  # it showed '909090/10'
    assert steps_text(123_456_789, 200_000_000) == "123M/200M"
    assert all(len(steps_text(s, m)) <= WIDTHS["steps"] for s in (0, 9, 99_999, 10**6, 10**9 - 1)
               for m in (None, 10, 10**5, 10**6, 10**9))


async def test_a_long_path_in_a_field_shows_its_end():
    """A new user saw '/tmp/nu-work' for a whole adapter path: a field shows the end of a long value, where the
    names that tell two paths apart are, whether the value came with the screen or was set since."""
    from textual.app import App

    from screens.widgets.field_row import FieldRow

    first = "/data/experiments/2026/december/customer-support/cleaned/version-3/train-final.jsonl"
    later = "/runs/20261207-002711-lora-1f51/checkpoints/checkpoint-60/model-adapter"

    class One(App):
        def compose(self):
            yield FieldRow("dataset", first)
            yield FieldRow("adapter_name_or_path", "")

    app = One()
    async with app.run_test(size=(60, 6)) as pilot:
        rows = list(app.query(FieldRow))
        rows[1].set_text(later)
        await pilot.pause()
        shown = [row.input.render_line(0).text.strip() for row in rows]
        assert shown[0].endswith("train-final.jsonl") and shown[1].endswith("model-adapter"), shown
