"""Snapshots of the four screens at 80x24, made deterministic: fixed run folders, no clocks, no toasts.

Update after an intended change of the look: pytest tests/screens/test_screens_snapshots.py --snapshot-update
"""
from __future__ import annotations

import pytest

from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.runs_screen import RunsScreen
from screens.training_screen import TrainingScreen
from tests.support.screens import standard_runs, wait_for

SIZE = (80, 24)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("console.config.memory.available_ram", lambda: 16 * 1024 ** 3)  # the estimate's verdict: fixed
    standard_runs(tmp_path / "runs")
    return tmp_path


def test_method_screen(snap_compare, workdir):
    assert snap_compare(TrainingConsoleApp(runs_dir="runs"), terminal_size=SIZE)


def test_arguments_screen(snap_compare, workdir):
    async def before(pilot):
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ArgumentsScreen), what="arguments")
        await pilot.pause()
        row = pilot.app.screen.row("per_device_train_batch_size")
        row.input.focus()
        row.input.value = "x"  # an invalid value: its message under the field
        await pilot.pause()
        await wait_for(pilot, lambda: pilot.app.screen.memory_for is not None, what="the memory estimate")
        await wait_for(pilot, lambda: pilot.app.screen.data_for is not None, what="the dataset's check")
        await pilot.pause()
        pilot.app.clear_notifications()

    assert snap_compare(TrainingConsoleApp(runs_dir="runs"), terminal_size=SIZE, run_before=before)


def test_training_screen(snap_compare, workdir):
    async def before(pilot):
        app = pilot.app
        await wait_for(pilot, lambda: app.live is not None and app.live.final
                       and isinstance(app.screen, TrainingScreen), what="the run")
        await wait_for(pilot, lambda: app.screen.drawn == (app.live.id, app.live.version), what="the run drawn")
        app.clear_notifications()
        await pilot.pause()

    app = TrainingConsoleApp(runs_dir="runs", attach="lora-aaaa", poll=0.02)
    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_runs_screen(snap_compare, workdir):
    async def before(pilot):
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.filled, what="runs")
        await pilot.press("up", "space", "up", "space", "o")
        await pilot.pause()

    assert snap_compare(TrainingConsoleApp(runs_dir="runs"), terminal_size=SIZE, run_before=before)
