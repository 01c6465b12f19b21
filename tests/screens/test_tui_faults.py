"""Faults, seen through the console, with REAL trainer processes on the tiny demo model (pilot tests).

- the terminal shrunk to 40x12 and enlarged again while a run trains;
- the console closed while a run trains (training goes on; a new console attaches to the whole history, live);
- two consoles watching one run;
- a trainer that fails (its dataset gone) and one killed with SIGKILL: one line and the end of train.log;
- bad input on the arguments screen: a message under the field, launch blocked, the other edits kept.

One long run is shared by the tests that only watch (started as `training-console train --detach` would); it
starts with the first of them, after the tests with their own trainer (two trainers at once on a 2-core machine
slow both), and the last test of the module kills it. Each test takes a few seconds.
"""
from __future__ import annotations

import os
import shutil
import signal

import pytest

from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import kill, launch
from console.runs.liveness import pid_alive
from console.runs.metrics import load_history
from console.runs.rundir import ACTIVE_PHASES, RunDir, create_run
from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.confirm import ConfirmScreen
from screens.too_small import TooSmallScreen
from screens.training_screen import TrainingScreen
from tests.support.e2e_util import FAST
from tests.support.e2e_util import wait_for as wait_until
from tests.support.screens import wait_for

pytestmark = pytest.mark.e2e

# A run that lasts until it is stopped, logging every other step, few evaluations and checkpoints.
LONG = ["max_steps=100000", "eval_steps=200", "save_steps=200", "logging_steps=2"]


def config(*extra: str):
    return resolve(build_config("lora", sets=parse_set(FAST + LONG + list(extra))))


def points(run: RunDir) -> int:
    """Training loss points in the run's metrics.jsonl now."""
    return len(load_history(run.metrics_path).train_loss)


def stop(run: RunDir) -> None:
    """SIGKILL at the end of a test: a graceful stop (a checkpoint saved) is not what these tests are about."""
    kill(run)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults")
    old = os.environ.get("TRAINING_CONSOLE_HOME")
    os.environ["TRAINING_CONSOLE_HOME"] = str(path / "home")
    yield path
    if old is None:
        os.environ.pop("TRAINING_CONSOLE_HOME", None)
    else:
        os.environ["TRAINING_CONSOLE_HOME"] = old


@pytest.fixture(scope="module")
def training_run(workdir):
    """A run training in the background, started without any console."""
    run = create_run(workdir / "runs", config(), command=["test"])
    launch(run)
    try:
        wait_until(lambda: points(run) >= 2, timeout=120)
        yield run
    finally:
        stop(run)


def attach(run: RunDir) -> TrainingConsoleApp:
    return TrainingConsoleApp(runs_dir=run.path.parent, attach=run.id, poll=0.1)


async def watching(pilot, run: RunDir):
    """The run on the training screen, its history loaded."""
    app = pilot.app
    await wait_for(pilot, lambda: app.live is not None and app.live.id == run.id
                   and isinstance(app.screen, TrainingScreen) and len(app.live.history.train_loss) >= 1,
                   timeout=30, what="the run on the training screen")
    return app.live


async def grows(pilot, live, by: int = 2, timeout: float = 30) -> None:
    before = len(live.history.train_loss)
    await wait_for(pilot, lambda: len(live.history.train_loss) >= before + by, timeout=timeout,
                   what="new metrics arriving")


async def test_bad_input_is_refused_under_its_field_and_the_other_edits_are_kept(workdir):
    app = TrainingConsoleApp(runs_dir=workdir / "runs-input")
    app.launched = []
    app.launch = lambda config, stop_first=None: app.launched.append(config)  # no trainer needed here
    bad = {"learning_rate": ("1e9", "far beyond"), "per_device_train_batch_size": ("1000000000", "far beyond"),
           "num_train_epochs": ("three", "must be a number"), "lr_scheduler_type": ("cosinus", "Did you mean"),
           "fp16": ("maybe", "true or false")}
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "enter")  # LoRA
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the arguments screen")
        await pilot.pause()
        screen = app.screen

        async def put(name: str, text: str) -> None:
            row = screen.row(name)
            row.input.focus()
            row.input.value = ""
            row.input.insert_text_at_cursor(text)
            await pilot.pause()

        await put("seed", "7")
        await put("lora_r", "8")
        for name, (text, _) in bad.items():
            await put(name, text)
        await pilot.pause()
        for name, (text, words) in bad.items():
            row = screen.row(name)
            assert row.text == text and row.has_class("-invalid"), name  # what was typed stays
            assert words in str(row.query_one(".field-error").render()), name  # the message under the field
        assert f"{len(bad)} invalid" in str(screen.query_one("#launch-status").render())
        assert screen.check_action("launch", ()) is None  # F5 dimmed in the footer
        await pilot.press("f5")
        await pilot.pause()
        assert app.launched == [] and isinstance(app.screen, ArgumentsScreen)
        assert screen.typed["seed"] == 7 and screen.typed["lora_r"] == 8  # the good edits are kept
        for name, good in (("learning_rate", "1e-4"), ("per_device_train_batch_size", "8"), ("num_train_epochs", "3"),
                           ("lr_scheduler_type", "cosine"), ("fp16", "false")):
            await put(name, good)
        await pilot.press("f5")
        await pilot.pause()
        (launched,) = app.launched
        assert launched.values["seed"] == 7 and launched.values["lora_r"] == 8
        assert launched.values["learning_rate"] == 1e-4 and launched.values["per_device_train_batch_size"] == 8


async def test_a_trainer_that_fails_shows_one_line_and_the_end_of_its_log(workdir):
    """The dataset is there at launch (the preflight passes) and gone before the trainer reads it."""
    from console.data.demo import demo_dataset_path

    data = workdir / "data.jsonl"
    shutil.copy(demo_dataset_path(), data)
    app = TrainingConsoleApp(runs_dir=workdir / "runs-fail", poll=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        app.launch(config(f"dataset={data}", "max_steps=8"))
        await wait_for(pilot, lambda: app.live is not None, timeout=30, what="the run launched")
        data.unlink()  # the trainer is still importing its libraries: it has not opened the data
        live = app.live
        await wait_for(pilot, lambda: live.final, timeout=120, what="the run to end")
        await wait_for(pilot, lambda: app.screen.drawn == (live.id, live.version), what="the failed run drawn")
        assert live.phase == "failed", live.status
        text = app.screen.query_one("#findings").plain_text
        first, *rest = text.splitlines()
        assert first.startswith("✗ failed (") and "not found" in first, text
        assert "end of train.log:" in rest[0] and len(rest) >= 2
        assert "Traceback" not in text  # the user's own mistake: one line, no traceback
        assert "failed" in str(app.screen.query_one("#run-line").render())
        assert app.is_running


async def test_closing_the_console_leaves_training_running_and_attach_shows_it_all(workdir):
    runs = workdir / "runs-close"
    app = TrainingConsoleApp(runs_dir=runs, poll=0.1)
    run = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.launch(config())  # the console's own launch: its worker starts the trainer
            await wait_for(pilot, lambda: app.live is not None, timeout=30, what="the run launched")
            run = app.live.run
            await wait_for(pilot, lambda: len(app.live.history.train_loss) >= 2, timeout=120, what="training")
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
            await pilot.press("l")  # leave it running
            await pilot.pause()
        assert not app.is_running
        status = run.status()
        assert status["phase"] in ACTIVE_PHASES and pid_alive(status["pid"])
        before = points(run)
        wait_until(lambda: points(run) >= before + 3, timeout=30)  # training goes on without a console

        again = attach(run)
        async with again.run_test(size=(80, 24)) as pilot:
            live = await watching(pilot, run)
            on_disk = load_history(run.metrics_path).train_loss.steps
            await wait_for(pilot, lambda: len(live.history.train_loss) >= len(on_disk), what="the whole history")
            assert live.history.train_loss.steps[:len(on_disk)] == on_disk  # from the first step on
            await grows(pilot, live)  # and live
            assert live.active
    finally:
        if run is not None:
            stop(run)


async def test_shrinking_the_terminal_to_40x12_and_back_while_training(training_run):
    app = attach(training_run)
    async with app.run_test(size=(120, 40)) as pilot:
        live = await watching(pilot, training_run)
        training = app.screen
        await pilot.resize_terminal(40, 12)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen), what="the enlarge message")
        await pilot.pause()
        message = str(app.screen.query_one("#too-small-text").render())
        assert "Enlarge the terminal to at least 80x24 (it is 40x12 now)" in message
        await grows(pilot, live)  # still following the run behind the message
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: app.screen is training, what="the training screen back")
        chart = training.query_one("#loss-chart")
        await wait_for(pilot, lambda: training.drawn == (live.id, live.version) and chart.size.width == 100,
                       what="the screen drawn again at the new size")
        assert chart.render_line(0).cell_length == chart.size.width  # the chart rebuilt for its new width
        await wait_for(pilot, lambda: f"step {int(live.progress().step)}"
                       in str(training.query_one("#progress-line").render()), what="the progress line at the run's step")
        assert app.is_running and live.active


async def test_two_consoles_watching_one_run_both_follow_it(training_run):
    first, second = attach(training_run), attach(training_run)
    async with first.run_test(size=(80, 24)) as one, second.run_test(size=(120, 40)) as two:
        live_one = await watching(one, training_run)
        live_two = await watching(two, training_run)
        await grows(one, live_one)
        await grows(two, live_two)
        n = min(len(live_one.history.train_loss), len(live_two.history.train_loss))
        assert live_one.history.train_loss.steps[:n] == live_two.history.train_loss.steps[:n]
        assert live_one.history.train_loss.steps[0] == load_history(training_run.metrics_path).train_loss.steps[0]


async def test_a_frozen_trainer_is_not_responding_on_the_screen_and_s_says_why_it_cannot_stop(workdir):
    """A trainer stopped by SIGSTOP: the run line says "not responding since", and s (stop) says at once that the
    trainer cannot act on it and how to end it (it said "stopping: saving a checkpoint", then nothing). Quitting
    with "Stop all" says the same. A folder of its own: "Stop all" asks every run in it."""
    run = create_run(workdir / "frozen-runs", config(), command=["test"])
    launch(run)
    try:
        wait_until(lambda: points(run) >= 2, timeout=120)
        pid = run.status()["pid"]
        app = attach(run)
        async with app.run_test(size=(80, 24)) as pilot:
            await watching(pilot, run)
            os.kill(pid, signal.SIGSTOP)
            await wait_for(pilot, lambda: "not responding since" in str(app.screen.query_one("#run-line").render()),
                           timeout=30, what="the run line saying the trainer does not respond")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop question")
            await pilot.press("y")
            await wait_for(pilot, lambda: any("--kill" in str(n.message) and "stopped by a signal" in str(n.message)
                                              for n in app._notifications), what="why it cannot stop")
            # quitting with "Stop all" says the same instead of "stopping ... (a checkpoint is saved)"
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
            await pilot.press("s")
            await wait_for(pilot, lambda: bool(app._exit_renderables), what="the words the console leaves")
            said = " ".join(str(m) for m in app._exit_renderables)
        assert f"{run.id} is not responding" in said and f"training-console stop {run.id} --kill" in said, said
        assert "stopping" not in said
    finally:
        try:
            os.kill(run.status()["pid"], signal.SIGCONT)
        except (ProcessLookupError, KeyError, TypeError):
            pass
        kill(run)


async def test_a_killed_trainer_shows_the_message_and_the_end_of_its_log(training_run):
    """Last in the module: it kills the shared run (SIGKILL: no checkpoint, no final status)."""
    app = attach(training_run)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await watching(pilot, training_run)
        os.killpg(training_run.status()["pid"], signal.SIGKILL)  # the trainer runs in its own session
        await wait_for(pilot, lambda: live.final, timeout=30, what="the run seen as ended")
        await wait_for(pilot, lambda: app.screen.drawn == (live.id, live.version), what="the ended run drawn")
        assert live.phase == "failed"
        text = app.screen.query_one("#findings").plain_text
        assert text.startswith("✗ failed (killed): the trainer process ended without a final status"), text
        assert "end of train.log:" in text and "Traceback" not in text
        assert app.is_running and "failed" in str(app.screen.query_one("#run-line").render())
