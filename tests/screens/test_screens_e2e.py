"""The whole loop with REAL training of the tiny demo model on the CPU, driven by keys like a user:
the built-in demo scenario (presets/scenarios.yaml, the first one: a learning rate far too high), one argument
edited, launch, metrics arriving, a warning with fixes, `r` to apply the top fix and restart: the next run starts
with the changed argument and its parent recorded, and trains without the problem.

Nothing about the scenario is hard-coded here: it comes from load_scenarios(), as the method screen shows it."""
from __future__ import annotations

import json
import math

import pytest

from console.config.presets import load_scenarios
from console.runs.launcher import kill, request_stop, wait
from console.runs.rundir import RunDir
from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.training_screen import TrainingScreen
from tests.support.screens import wait_for

pytestmark = pytest.mark.e2e


async def test_full_loop_with_real_training(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    scenario = load_scenarios()[0]
    max_steps = min(int(scenario.changes.get("max_steps") or 300), 200)  # typed by hand below
    app = TrainingConsoleApp(runs_dir=tmp_path / "runs", poll=0.1)
    runs: list[RunDir] = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.screen.selected()[1].method == "lora"  # the cursor starts on a method
            await pilot.press("d")  # the first demo is one key away
            await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments")
            await pilot.pause()
            screen = app.screen
            row = screen.row("max_steps")
            row.input.focus()
            row.input.value = ""
            await pilot.press(*str(max_steps))  # typed, key by key
            await pilot.pause()
            assert screen.draft.method == scenario.method and not screen.problems
            for key, value in scenario.changes.items():
                assert screen.draft.values[key] == (max_steps if key == "max_steps" else value)
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.live is not None and isinstance(app.screen, TrainingScreen),
                           timeout=30, what="the run launched")
            first = app.live
            runs.append(first.run)
            # before the first step the phase is said in words (starting the trainer..., loading model...)
            before = str(app.screen.query_one("#progress-line").render())
            assert "starting" in before or "loading" in before or "preparing" in before or first.history.train_loss
            await wait_for(pilot, lambda: len(first.history.train_loss) >= 2, timeout=90, what="metrics")
            await wait_for(pilot, lambda: first.fixes(), timeout=120, what="a warning with fixes")
            # drawn at the screen's next tick: waited for, not slept on (0.6 s was not enough under load)
            await wait_for(pilot, lambda: "[1]" in app.screen.query_one("#findings").plain_text, timeout=30,
                           what="the fixes drawn in the panel")
            finding, fix = first.fixes()[0]
            assert "learning_rate" in fix.changes  # the scenario's problem: the learning rate
            await pilot.press("r")  # apply fix 1 and restart now
            await pilot.pause()
            from screens.confirm import ConfirmScreen

            if isinstance(app.screen, ConfirmScreen):  # still training: it asks before stopping it
                await pilot.press("y")
            await wait_for(pilot, lambda: app.live is not None and app.live.id != first.id, timeout=120,
                           what="the next run")
            second = app.live
            runs.append(second.run)
            info = second.run.read_info()
            assert info["parent"] == first.id
            assert second.config.parent == first.id
            for key, value in fix.changes.items():
                assert second.config.values[key] == value
            assert second.config.values["max_steps"] == max_steps  # the edit carried over
            status = json.loads((first.run.path / "status.json").read_text())
            assert status["phase"] in ("stopped", "done", "failed")  # stopped (or had ended: a divergence stops it)
            # the fixed run gets past the step where the first one went wrong, its loss finite and falling
            worst = finding.step if getattr(finding, "step", None) is not None else 30
            await wait_for(pilot, lambda: second.history.last_step >= worst + 10 or second.final, timeout=120,
                           what="the fixed run past the step the first one failed at")
            values = second.history.train_loss.values
            assert values and all(math.isfinite(v) for v in values)
            assert min(values) < values[0]
            assert second.phase != "failed", second.status
    finally:
        for run in runs:
            if request_stop(run):
                if wait(run, timeout=30).get("phase") not in ("stopped", "done", "failed"):
                    kill(run)


async def test_several_runs_at_once_watch_launch_and_quit(tmp_path, monkeypatch):
    """Two REAL trainers on this machine: `w` opens the one training (not the last one viewed), a third launch asks
    first and Esc starts nothing, `q` names both and `s` stops both (each ends 'stopped' with a checkpoint)."""
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.launcher import launch, wait_exit
    from console.runs.rundir import create_run, list_run_dirs
    from screens.confirm import ConfirmScreen
    from screens.method_screen import MethodScreen
    from tests.support.e2e_util import FAST
    from tests.support.e2e_util import wait_for as sync_wait_for

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    runs_dir = tmp_path / "runs"
    slow = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "eval_steps=100000",
                                                               "save_steps=100000", "logging_steps=1"])))
    pids, started = [], []
    try:
        finished = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
        launch(finished)
        assert wait(finished, timeout=120)["phase"] == "done"
        for _ in range(2):
            run = create_run(runs_dir, slow, command=["test"])
            pids.append(launch(run))
            started.append(run)
        for run in started:
            sync_wait_for(lambda r=run: r.status().get("phase") == "training", timeout=120)
        app = TrainingConsoleApp(runs_dir=runs_dir, poll=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            # it opens on the newest run training; back to the method screen, then `w`
            await wait_for(pilot, lambda: app.live is not None and app.live.id == started[-1].id, what="attached")
            app.open_run(finished)  # the user looks at a finished run, goes back, and asks for the training one
            await wait_for(pilot, lambda: app.live is not None and app.live.id == finished.id, what="finished run")
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="method screen")
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live.id == started[-1].id
                           and app.live.active, what="the newest training run on screen")
            # a launch while both train asks first; Esc starts nothing
            app.launch(slow)
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the launch question")
            await pilot.pause()
            question = str(app.screen.query_one("#question").render())
            assert "are still training on this machine" in question and all(r.id in question for r in started)
            await pilot.press("escape")
            await pilot.pause()
            assert len(list_run_dirs(runs_dir)) == 3  # nothing new
            # quitting names every run still going and stops them all
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
            await pilot.pause()
            question = str(app.screen.query_one("#question").render())
            assert "2 runs are still going" in question and all(r.id in question for r in started)
            await pilot.press("s")
            await wait_for(pilot, lambda: not app.is_running, what="the console quits")
        for run, pid in zip(started, pids):
            assert wait_exit(pid, timeout=120)
            assert run.status()["phase"] == "stopped", run.tail_log(10)
    finally:
        for run in started:
            kill(run)


async def test_resume_a_stopped_run_from_the_runs_screen(tmp_path, monkeypatch):
    """A REAL run stopped with a checkpoint: R on the runs screen goes on from it and shows it live; a finished run
    is refused with what to do instead."""
    from console.common.errors import RunError
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.launcher import check_resumable, launch, request_save, wait_exit
    from console.runs.rundir import create_run
    from screens.runs_screen import RunsScreen
    from tests.support.e2e_util import FAST
    from tests.support.e2e_util import wait_for as sync_wait_for

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    runs_dir = tmp_path / "runs"
    config = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "logging_steps=1",
                                                                 "eval_steps=100000", "save_steps=100000"])))
    run = create_run(runs_dir, config, command=["test"])
    try:
        launch(run)
        sync_wait_for(lambda: run.status().get("phase") == "training", timeout=120)
        assert request_save(run)
        sync_wait_for(lambda: run.last_checkpoint() is not None, timeout=60)
        assert request_stop(run)
        assert wait(run, timeout=120)["phase"] == "stopped"
        app = TrainingConsoleApp(runs_dir=runs_dir, poll=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="runs")
            await pilot.pause()
            assert app.screen.check_action("resume", ())
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.live is not None
                           and app.live.id == run.id and app.live.active, timeout=60, what="the run live again")
            info = run.read_info()
            assert [launch_["resume"] for launch_ in info["launches"]] == [False, True]
            request_stop(run)
            await wait_for(pilot, lambda: not app.live.active, timeout=120, what="stopped again")
        assert wait_exit(run.read_status_file()["pid"], timeout=60)
        # a finished run has nothing to resume: said, with the way to train it again
        finished = create_run(runs_dir, resolve(build_config("lora", sets=parse_set(FAST))), command=["test"])
        launch(finished)
        assert wait(finished, timeout=120)["phase"] == "done"
        with pytest.raises(RunError, match="has finished: there is nothing to resume"):
            check_resumable(finished)
    finally:
        kill(run)


async def test_a_stopped_run_on_screen_resumed_from_another_shell_is_followed_live(tmp_path, monkeypatch):
    """A new user watched a stopped run while `training-console resume RUN --detach` ran in another shell: the screen
    kept saying 'stopped' while `runs` said 'training'. It follows the resumed trainer now."""
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.launcher import launch
    from console.runs.rundir import create_run
    from tests.support.e2e_util import FAST
    from tests.support.e2e_util import wait_for as wait_until

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    config = resolve(build_config("lora", sets=parse_set(FAST + ["max_steps=100000", "logging_steps=1",
                                                                  "eval_steps=100000", "save_steps=100000"])))
    run = create_run(tmp_path / "runs", config, command=["test"])
    try:
        launch(run)
        wait_until(lambda: len(__import__("console.runs.metrics").runs.metrics.load_history(
            run.metrics_path).train_loss.steps) >= 2, timeout=120)
        assert request_stop(run)
        assert wait(run, timeout=120)["phase"] == "stopped"
        app = TrainingConsoleApp(runs_dir=tmp_path / "runs", attach=run.id, poll=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.live is not None and app.live.phase == "stopped", timeout=30,
                           what="the stopped run on screen")
            launch(run, resume=True)  # another shell
            await wait_for(pilot, lambda: app.live is not None and app.live.active, timeout=90,
                           what="the resumed run followed live")
            request_stop(run)
            await wait_for(pilot, lambda: app.live is not None and app.live.phase == "stopped", timeout=120,
                           what="its stop seen too")
    finally:
        kill(run)
