"""Pilot tests of the runs screen: list, mark and overlay, diff, open, rerun, edit."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.method_screen import MethodScreen
from screens.runs_screen import RunsScreen
from screens.text_screen import TextScreen
from screens.training_screen import TrainingScreen
from tests.support.screens import wait_for


@pytest.fixture
def app(runs):
    app = TrainingConsoleApp(runs_dir="runs", poll=0.02)
    app.launched = []
    app.launch = lambda config, stop_first=None: app.launched.append(config)
    return app


async def open_runs(pilot) -> RunsScreen:
    await pilot.press("u")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.filled, what="runs screen")
    await pilot.pause()
    return pilot.app.screen


async def test_lists_every_run_with_status_method_steps_best_eval_parent_and_fix(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        child = table.get_row(runs["child"].name)
        assert str(child[2]) == "lora" and str(child[3]) == "done" and child[4] == "100/100"
        assert str(child[6]) == "lora-aaaa" and "weight_decay" in str(child[7])
        failed = table.get_row(runs["failed"].name)
        assert str(failed[3]) == "failed" and failed[5] != "-"
        assert table.cursor_row == 2  # the newest run
        assert "loss exploded" in str(screen.query_one("#run-details").render())


async def test_space_marks_and_o_overlays_the_eval_curves(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("up", "up", "space", "down", "space")
        assert screen.marked == [runs["overfit"].name, runs["child"].name]
        assert screen.query_one(DataTable).get_row(runs["overfit"].name)[0] == "●"
        await pilot.press("o")
        await pilot.pause()
        chart = screen.query_one("#overlay-chart")
        assert chart.display and [c.label for c in chart.curves] == ["lora-aaaa", "lora-bbbb"]
        assert len(chart.curves[0].steps) == 10
        await pilot.press("space")  # unmark the child
        assert screen.marked == [runs["overfit"].name]
        await pilot.press("o")
        assert not chart.display


async def test_d_diffs_the_configs_of_two_runs(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        assert screen.check_action("diff", ()) is None  # one run only so far
        await pilot.press("up", "up", "space", "down")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen)
        assert app.screen.text == "weight_decay: 0.01 -> 0.1"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_enter_opens_a_run(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live is not None
                       and app.live.id == runs["failed"].name, what="the run opened")


async def test_r_reruns_with_the_run_as_parent(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("up", "r")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        config, = app.launched
        assert config.parent == runs["child"].name
        assert config.values["weight_decay"] == 0.1


async def test_e_edits_the_config_first(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments")
        await pilot.pause()
        assert app.screen.original.values["learning_rate"] == 0.05
        assert app.screen.original.parent == runs["failed"].name


async def test_escape_from_a_run_opened_from_the_list_goes_back_to_the_list(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live is not None, what="run")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.filled, what="back to the runs list")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="and back to where it started")


async def test_n_and_escape(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="back")
        await open_runs(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="new run")


async def test_an_empty_runs_folder_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = TrainingConsoleApp(runs_dir="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        assert "none yet" in str(screen.query_one("#runs-title").render())
        assert screen.check_action("open", ()) is None


async def test_overlay_draws_a_run_with_one_eval_and_survives_leaving_the_screen(app, runs):
    from tests.support.screens import fake_run

    one = fake_run(__import__("pathlib").Path("runs"), "20250101-123000-lora-dddd", created=1_735_734_600.0,
                   changes={"max_steps": 100, "eval_steps": 100, "save_steps": 100},
                   records=[{"step": 10, "loss": 2.0}, {"step": 100, "loss": 1.5}, {"step": 100, "eval_loss": 1.7}])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        assert screen.cursor_run_id() == one.name
        await pilot.press("o")
        await pilot.pause()
        chart = screen.query_one("#overlay-chart")
        plot = chart.render().plain
        # the single eval is a visible marker on a row of its own (the legend's "oo lora-dddd" is on another)
        rows = [line.split("┤", 1)[1].strip(" │") for line in plot.splitlines() if "┤" in line]
        assert "no data" not in plot and "o" in rows, plot
        # away and back: the overlay is still on and drawn at once
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="training screen")
        screen = await open_runs(pilot)
        await pilot.pause()
        chart = screen.query_one("#overlay-chart")
        assert screen.overlay and chart.display and chart.curves
        assert "no data" not in chart.render().plain


async def test_d_diffs_older_to_newer_and_refuses_three_marked(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("up", "space", "up", "space")  # the child marked first, then its parent
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen)
        assert app.screen.text == "weight_decay: 0.01 -> 0.1"  # parent -> child, whatever the marking order
        await pilot.press("escape")
        await pilot.press("down", "down", "space")
        assert len(screen.marked) == 3
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)  # not a silent diff of two of them
        assert any("3 runs are marked" in str(n.message) for n in app._notifications)


async def test_r_asks_and_applies_what_the_cli_rerun_applies(app, runs):
    from console.loop.next_run import plan_rerun
    from console.runs.rundir import RunDir
    from screens.confirm import ConfirmScreen

    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs(pilot)
        await pilot.press("up", "up", "r")  # the overfitting run
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.launched == []
        assert "with the fix for" in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.launched == []
        await pilot.press("r", "y")
        await pilot.pause()
        config, = app.launched
        expected = plan_rerun(RunDir(runs["overfit"])).config
        assert config.parent == runs["overfit"].name and config.values == expected.values


async def test_s_sorts_by_best_eval_and_home_end_move(app, runs):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        by_date = [r.id for r in screen.runs]
        await pilot.press("s")
        await pilot.pause()
        bests = [screen.rows[r.id]["best_eval"] for r in screen.runs]
        known = [b for b in bests if b is not None]
        assert known == sorted(known) and "by best eval" in str(screen.query_one("#runs-title").render())
        await pilot.press("s")
        await pilot.pause()
        assert [r.id for r in screen.runs] == by_date
        await pilot.press("home")
        assert screen.query_one(DataTable).cursor_row == 0
        await pilot.press("end")
        assert screen.query_one(DataTable).cursor_row == len(screen.runs) - 1


async def test_x_deletes_a_run_and_its_folder_after_asking(app, runs):
    from screens.confirm import ConfirmScreen

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        target = runs["failed"]
        assert screen.cursor_run_id() == target.name
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "cannot be undone" in str(
            app.screen.query_one("#question").render())
        await pilot.press("n")
        await pilot.pause()
        assert target.is_dir()
        await pilot.press("x", "y")
        await pilot.pause()
        assert not target.exists() and target.name not in screen.rows and len(screen.runs) == 2


async def test_x_checks_again_when_the_answer_comes_and_never_deletes_a_run_a_trainer_holds(app, runs):
    """x on a stopped run, then a resume from a shell while the question is open: the folder was deleted under its
    running trainer. A launch holds the run's trainer lock (console/runs/launcher.py) from before its trainer starts
    to that trainer's end; the delete takes it when it acts, so here it is refused and the folder stays."""
    from console.runs.launcher import _take_lock
    from console.runs.rundir import RunDir
    from screens.confirm import ConfirmScreen

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        target = runs["failed"]
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        lock = _take_lock(RunDir(target))  # a resume starting now, from a shell
        try:
            await pilot.press("y")
            await pilot.pause()
            assert target.is_dir() and (target / "config.yaml").is_file() and target.name in screen.rows
            notes = [n.message for n in app._notifications]
            assert any("has a trainer running" in n and "stop it first" in n for n in notes), notes
        finally:
            import os

            os.close(lock)
        await pilot.press("x", "y")  # the trainer gone (its lock let go of): deleted
        await pilot.pause()
        assert not target.exists() and not list(target.parent.glob(".*deleting*"))


async def test_a_run_started_elsewhere_appears_without_reopening_the_screen(app, runs, tmp_path):
    """A run started by `train --detach` (or another console) while the runs screen is open showed only after
    leaving and opening the screen again."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        new = create_run(tmp_path / "runs", resolve(build_config("lora", sets={"max_steps": "10"})),
                         command=["elsewhere"])
        screen.refresh_active()  # what its 2 s timer calls: the folder's mtime moved
        await wait_for(pilot, lambda: screen.filled and table.row_count == 4, what="the new run's row")
        assert new.id in [str(k.value) for k in table.rows]


async def test_the_runs_screen_draws_and_takes_keys_before_its_rows_are_read(app, runs, monkeypatch):
    """Every row was built on the UI thread before the first frame (at 1000 runs: nothing shown, no key taken for
    9 s). Rows are read by a worker, newest first; here every row after the first waits for a gate the test opens."""
    import threading

    from screens.workers import run_rows

    gate, read = threading.Event(), []
    real = run_rows.run_summary

    def gated(run):
        if read:
            gate.wait(timeout=30)
        read.append(run.id)
        return real(run)

    monkeypatch.setattr(run_rows, "run_summary", gated)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows, what="a first row")
        screen = app.screen
        assert list(screen.rows) == [runs["failed"].name]  # the newest
        assert "reading 1 of 3 runs" in str(screen.query_one("#runs-title").render())
        await pilot.press("s")  # a key taken while the other rows are being read
        assert screen.sort_by == "best eval" and not screen.filled
        gate.set()
        await wait_for(pilot, lambda: screen.filled, what="every row")
        assert read == [runs["failed"].name, runs["child"].name, runs["overfit"].name]  # newest first
        table = screen.query_one(DataTable)
        assert table.row_count == 3 and "by best eval" in str(screen.query_one("#runs-title").render())


async def test_the_columns_stand_still_while_the_rows_come_in(app, runs):
    """Auto widths grew with each longer value read, so the table slipped sideways while thousands of runs filled
    in: the widths are fixed from the start, the run column as wide as the longest id listed."""
    from pathlib import Path

    from screens.runs_screen import RunsScreen
    from tests.support.screens import fake_run

    named = fake_run(Path("runs"), "20250101-123000-a-much-longer-run-name-here-dddd", created=1_735_734_600.0,
                     changes={"max_steps": 100000}, records=[{"step": 99999, "loss": 2.0}])
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_runs(pilot)
        assert isinstance(screen, RunsScreen)
        table = screen.query_one(DataTable)
        widths = {key.value: column.get_render_width(table) for key, column in table.columns.items()}
        await wait_for(pilot, lambda: screen.filled, what="every row read")
        after = {key.value: column.get_render_width(table) for key, column in table.columns.items()}
        assert {k: v for k, v in after.items() if k != "fix"} == {k: v for k, v in widths.items() if k != "fix"}
        assert after["run"] == len(named.name) + 2  # the longest id whole, with the cell padding


async def test_the_overlay_is_readable_at_80x24(app, runs):
    """At 80x24 the overlay got two rows, then one, of curve (a new user's report): it takes two thirds of the
    screen now, and the details above it two lines."""
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("up", "up", "space", "down", "space", "o")
        await pilot.pause()
        chart = screen.query_one("#overlay-chart")
        plot_rows = [line for line in chart.render().plain.splitlines() if "┤" in line or line.lstrip().startswith("│")]
        assert chart.size.height >= 10 and len(plot_rows) >= 5, chart.render().plain
        details = screen.query_one("#run-details")
        assert details.size.height == 2 and "marked: " in str(details.render()).splitlines()[1]
