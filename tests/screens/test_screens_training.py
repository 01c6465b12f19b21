"""Pilot tests of the training screen on fixed run folders (no trainer): curves, findings, every key."""
from __future__ import annotations

import json

from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.confirm import ConfirmScreen
from screens.method_screen import MethodScreen
from screens.runs_screen import RunsScreen
from screens.text_screen import TextScreen
from screens.training_screen import TrainingScreen
from tests.support.screens import metrics_records, wait_for


def make_app(run_id: str) -> TrainingConsoleApp:
    app = TrainingConsoleApp(runs_dir="runs", attach=run_id, poll=0.02)
    app.launched = []
    app.launch = lambda config, stop_first=None: app.launched.append((config, stop_first))
    return app


async def opened(pilot, run_id: str) -> TrainingScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.live is not None and app.live.id == run_id and app.live.final
                   and isinstance(app.screen, TrainingScreen), what="the run on the training screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.drawn == (app.live.id, app.live.version), what="the run drawn")
    return screen


async def test_attach_shows_the_whole_history_and_the_overfitting_warning(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        live = app.live
        assert len(live.history.train_loss) == 50 and len(live.history.eval_loss) == 10
        assert "step 100/100" in str(screen.query_one("#progress-line").render())
        assert "done" in str(screen.query_one("#run-line").render())
        problems = [f.problem for f in live.findings()]
        assert "overfitting" in problems
        text = screen.query_one("#findings").plain_text
        assert "Overfitting" in text and "[1]" in text
        chart = screen.query_one("#loss-chart")
        assert [c.label for c in chart.curves] == ["train", "eval"] and chart.curves[1].markers


async def test_digits_pick_a_fix_and_a_carries_it_into_the_next_runs_arguments(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        fixes = app.live.fixes()
        assert len(fixes) >= 2
        await pilot.press("2")
        assert screen.picked == 2
        assert "▶ [2]" in screen.query_one("#findings").plain_text
        assert screen.check_action("pick", (9,)) is False
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments screen")
        await pilot.pause()
        config = app.screen.original
        assert config.parent == runs["overfit"].name
        for key, value in fixes[1][1].changes.items():
            assert config.values[key] == value


async def test_r_applies_the_fix_and_launches_now(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["overfit"].name)
        fix = app.live.fixes()[0][1]
        await pilot.press("r")
        await pilot.pause()
        (config, stop_first), = app.launched
        assert stop_first is None  # the run had ended: nothing to stop
        assert config.parent == runs["overfit"].name and config.resolved["device"] == "cpu"
        for key, value in fix.changes.items():
            assert config.values[key] == value


async def test_a_crash_shows_its_message_the_log_and_the_crash_fixes(runs):
    app = make_app("lora-cccc")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["failed"].name)
        text = screen.query_one("#findings").plain_text
        assert "failed (diverged): loss exploded" in text
        assert "DivergedError" in text  # the end of train.log
        assert app.live.fixes(), "a diverged crash offers fixes"
        assert "[1]" in text
        # the fixes come before the log tail and the first one is on screen (the panel has a few lines at 80x24)
        lines = text.splitlines()
        first_fix = next(i for i, line in enumerate(lines) if "[1]" in line)
        assert first_fix < lines.index("end of train.log:")
        panel = screen.query_one("#findings")
        # a border line on top; the panel's size is laid out after the text lands in it
        await wait_for(pilot, lambda: first_fix < panel.size.height - 1, what="the first fix on screen")
        # the rest (the log tail) is reachable: PageDown scrolls the panel, and it can take the focus
        assert panel.max_scroll_y > 0  # at 80x24 it overflows
        if panel.max_scroll_y:
            await pilot.press("pagedown")
            await pilot.pause()
            assert panel.scroll_y > 0
        assert panel.can_focus


async def test_g_toggles_the_learning_rate_and_grad_norm_charts(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        assert screen.query_one("#loss-chart").display and not screen.query_one("#small-charts").display
        await pilot.press("g")
        await pilot.pause()
        assert screen.query_one("#small-charts").display and not screen.query_one("#loss-chart").display
        assert len(screen.query_one("#lr-chart").curves[0].steps) == 50
        await pilot.press("g")
        assert screen.query_one("#loss-chart").display


async def test_l_shows_the_log_and_e_edits_the_config_for_a_rerun(runs):
    app = make_app("lora-cccc")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["failed"].name)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen) and "DivergedError" in app.screen.text
        await pilot.press("escape")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments screen")
        await pilot.pause()
        assert app.screen.original.parent == runs["failed"].name
        assert app.screen.original.values["learning_rate"] == 0.05


async def test_l_opens_the_log_at_its_end(runs):
    """Issue 30: `l` opened train.log at its top, the newest lines (what went wrong) below the fold."""
    log = runs["failed"] / "train.log"
    log.write_text("".join(f"line {i}\n" for i in range(150)) + "the last line\n")
    app = make_app("lora-cccc")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["failed"].name)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen), what="the log")
        body = app.screen.query_one("#text-body")
        await wait_for(pilot, lambda: body.max_scroll_y > 0 and body.scroll_y == body.max_scroll_y,
                       what="the log scrolled to its end")
        # lines written while it is open are followed from the end (the run's closing line never showed)
        with log.open("a") as f:
            f.write("".join(f"more {i}\n" for i in range(30)) + "[console] done: step 100\n")
        await wait_for(pilot, lambda: "[console] done: step 100" in app.screen.text, what="the new lines read")
        await wait_for(pilot, lambda: body.scroll_y == body.max_scroll_y and body.max_scroll_y > 0,
                       what="the view kept at the end")


async def test_u_n_and_escape_navigate(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["overfit"].name)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), what="runs")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="training")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="method")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="training again")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="new run")


async def test_escape_from_a_fix_on_the_arguments_screen_goes_back_to_the_run(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["overfit"].name)
        await pilot.press("a")  # the picked fix into the next run: the arguments screen
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments")
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="back to the run")
        assert app.live.id == runs["overfit"].name


async def test_n_after_a_fix_went_to_the_arguments_screen_goes_to_the_method_screen_as_f1_says(runs):
    """Issue 30: after a launch from the arguments screen, `n` on the training screen showed that arguments screen
    (F1: "back to the method screen for a new run"), and a digit meant to pick a method went into max_steps."""
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["overfit"].name)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments")
        await pilot.pause()
        await app.goto("training")  # as a launch (F5) does: the arguments screen stays on the setup mode's stack
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="back to the run")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="the method screen")
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="a new LoRA's arguments")
        await pilot.pause()
        assert app.screen.original.parent is None and app.screen.original.method == "lora"


async def test_stop_keys_confirm_and_ask_the_trainer(runs, monkeypatch):
    """s, b, c and r on a run that trains: confirmation, then the stop/save requests through the run folder."""
    run = runs["overfit"]  # its overfitting warning gives r a fix to restart with
    status = json.loads((run / "status.json").read_text())
    status["phase"] = "training"
    status["pid"] = 2 ** 22 + 7  # a trainer's pid: alive, as pid_alive says below (no pid is no trainer)
    (run / "status.json").write_text(json.dumps(status))
    calls = []
    monkeypatch.setattr("console.runs.launcher.request_stop", lambda r: calls.append(("stop", r.id)) or True)
    monkeypatch.setattr("console.runs.launcher.request_save", lambda r: calls.append(("save", r.id)) or True)
    monkeypatch.setattr("console.runs.rundir.pid_alive", lambda *args, **kw: True)
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.live is not None and app.live.phase == "training"
                       and isinstance(app.screen, TrainingScreen), what="live run")
        screen = app.screen
        await wait_for(pilot, lambda: screen.drawn == (app.live.id, app.live.version), what="the run drawn")
        assert screen.check_action("stop", ()) and screen.check_action("checkpoint", ())
        await pilot.press("c")
        assert calls == [("save", run.name)]
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert calls == [("save", run.name)]
        # r on a run still training asks before stopping it
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "Stop " in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.launched == [] and calls == [("save", run.name)]
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert calls[-1] == ("stop", run.name)
        # said at once: the header read 'training...' for a minute after y on a loaded machine
        await wait_for(pilot, lambda: app.live.phase == "stopping", what="stopping in the header")
        # quitting while it trains asks: leave it running or stop it
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        assert not app.is_running
        assert calls[-1] == ("stop", run.name) and len(calls) == 2  # left running: no new stop


async def test_the_chart_redraws_only_when_new_data_came(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        drawn = []
        original = screen.redraw
        screen.redraw = lambda: (drawn.append(1), original())
        screen.tick()  # the timer's own call, made here: no race with the clock
        screen.tick()
        assert drawn == []  # nothing new: no redraw
        app.live.history.extend(metrics_records(steps=102)[-2:])
        app.live.changed()
        screen.tick()
        screen.tick()
        assert len(drawn) == 1  # new data: one redraw, not one per tick


async def test_token_figures_and_cut_examples_show_on_the_training_screen(tmp_path, monkeypatch):
    """What the SFT trainer reports: tokens/s, token accuracy and perplexity on the progress line, and the examples
    that max_length cut as a note above the findings."""
    from tests.support.screens import fake_run

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    records = metrics_records(steps=40)
    for r in records:
        if "loss" in r:
            r.update(tokens_per_second=1234.5, mean_token_accuracy=0.4567)
        if "eval_loss" in r:
            r["eval_mean_token_accuracy"] = 0.5
    run = fake_run(tmp_path / "runs", "20250102-120000-lora-tttt", created=1_735_819_200.0, records=records,
                   changes={"max_steps": 40})
    status = json.loads((run / "status.json").read_text())
    cut = "124 of 600 train examples (21 %) are longer than 256 tokens (longest 611) and are cut: raise max_length"
    status["cut_text"] = cut
    (run / "status.json").write_text(json.dumps(status))
    app = make_app("lora-tttt")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, run.name)
        line = str(screen.query_one("#progress-line").render())
        assert "1,234 tok/s" in line and "acc 50%" in line and "ppl " in line, line
        assert cut in screen.query_one("#findings").plain_text


async def test_opening_a_finished_run_shows_its_findings_without_toasts(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        assert "Overfitting" in screen.query_one("#findings").plain_text
        assert not any("Overfitting" in str(n.message) for n in app._notifications)  # not news: no toast


async def test_attaching_to_a_training_run_does_not_toast_its_existing_warnings(tmp_path, monkeypatch):
    """Issue 30: every attach popped the run's existing warnings up again as toasts over the chart."""
    from tests.support.screens import fake_run

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    import subprocess
    import sys
    import time

    from console.runs.liveness import process_start

    run = fake_run(tmp_path / "runs", "20250101-120000-lora-dddd", created=1_735_732_800.0, phase="training",
                   changes={"max_steps": 100, "eval_steps": 10, "save_steps": 10},
                   records=metrics_records(overfit=True))
    # a process standing for its trainer (its command names the trainer module and the run folder): it trains
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "console.trainer.train",
                                 str(run)])
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps(dict(status, pid=stand_in.pid, pid_start=process_start(stand_in.pid),
                                                     updated=time.time())))
    (run / "heartbeat").touch()
    app = make_app("lora-dddd")
    try:
        await _attach_and_look(app, run)
    finally:
        stand_in.kill()
        stand_in.wait()


async def _attach_and_look(app, run):
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.live is not None and isinstance(app.screen, TrainingScreen)
                       and app.screen.drawn[0] == run.name, what="the run drawn")
        await wait_for(pilot, lambda: "Overfitting" in app.screen.query_one("#findings").plain_text,
                       what="its warning on the panel")
        await pilot.pause(0.5)
        assert not any("Overfitting" in str(n.message) or "Overfitting" in str(n.title)
                       for n in app._notifications), [n.message for n in app._notifications]


async def test_y_m_z_log_scale_smoothing_and_zoom(runs):
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        chart = screen.query_one("#loss-chart")
        await pilot.press("y")
        await pilot.pause()
        assert chart.log_y and "log y" in chart.chart_title
        await pilot.press("m")
        await pilot.pause()
        labels = [c.label for c in chart.curves]
        assert labels == ["train", "train EMA", "eval"]
        raw, smooth = chart.curves[0].values, chart.curves[1].values
        assert len(raw) == len(smooth) and max(smooth) - min(smooth) < max(raw) - min(raw)
        best = app.live.progress().best_eval_step
        await pilot.press("z")  # since the best eval
        await pilot.pause()
        assert chart.xmin == best and min(chart.curves[0].steps) >= best and f"from step {int(best)}" in \
            chart.chart_title
        await pilot.press("z")  # the last quarter
        await pilot.pause()
        assert chart.xmin == 75
        await pilot.press("z")  # all again
        await pilot.pause()
        assert chart.xmin is None and min(chart.curves[0].steps) == 2


async def test_a_finished_run_says_where_its_model_is_and_what_next(tmp_path, monkeypatch):
    from tests.support.screens import fake_run

    monkeypatch.chdir(tmp_path)
    path = fake_run(tmp_path / "runs", "20250101-120000-lora-eeee", created=1_735_732_800.0,
                    records=metrics_records())
    status = json.loads((path / "status.json").read_text())
    status.update(final_model=str(path / "model"), best_checkpoint=str(path / "checkpoints" / "checkpoint-60"))
    (path / "status.json").write_text(json.dumps(status))
    app = make_app("lora-eeee")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, path.name)
        text = screen.query_one("#findings").plain_text
        assert f"the model is in {path / 'model'}" in text and "checkpoint-60" in text and "e edits" in text
        assert f"load it: peft.AutoPeftModelForCausalLM.from_pretrained('{path / 'model'}')" in text
        assert "diverged" not in text


async def test_a_diverged_runs_model_comes_with_a_caution(tmp_path, monkeypatch):
    """A new user stopped the 'LR far too high' demo after it diverged and was pointed at its model/ folder with no
    word of caution."""
    from tests.support.screens import fake_run

    monkeypatch.chdir(tmp_path)
    path = fake_run(tmp_path / "runs", "20250101-120000-lora-dddd", created=1_735_732_800.0, phase="stopped",
                    changes={"max_steps": 60}, records=metrics_records(steps=60, diverge_at=20))
    status = json.loads((path / "status.json").read_text())
    status.update(final_model=str(path / "model"))
    (path / "status.json").write_text(json.dumps(status))
    app = make_app("lora-dddd")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, path.name)
        text = screen.query_one("#findings").plain_text
        assert "Training diverged" in text
        assert f"the model is in {path / 'model'}: saved after the run diverged, not worth loading" in text


def test_eta_only_once_it_means_something_and_the_clock_ticks_between_logs():
    import time as _time

    from console.runs.rundir import RunDir
    from screens.live import LiveRun

    def live_at(step: int, started_ago: float) -> LiveRun:
        live = LiveRun(RunDir("runs/x"), None, status={"phase": "training", "started": _time.time() - started_ago})
        live.history.extend(metrics_records(steps=100)[: 1 + step // 2 + step // 10])
        live.history.max_steps = 100
        return live

    early = live_at(2, started_ago=1.0)
    assert "ETA" not in TrainingScreen.progress_text(early, early.progress())  # one step in: no ETA yet
    later = live_at(40, started_ago=100.0)  # the log's clock says 20 s, the run started 100 s ago
    text = TrainingScreen.progress_text(later, later.progress())
    assert "ETA" in text and "1:40" in text


async def test_a_watcher_that_fails_is_said_and_started_again(runs, monkeypatch):
    from console.runs.metrics import MetricsTail

    real = MetricsTail.read_new
    calls = {"n": 0}

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == 2:  # the first read (attach) works, the next one fails once
            raise ValueError("a metrics line the reader choked on")
        return real(self)

    monkeypatch.setattr(MetricsTail, "read_new", flaky)
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, runs["overfit"].name)
        await wait_for(pilot, lambda: any("watching it again" in str(n.message) for n in app._notifications),
                       what="the failure said")
        await wait_for(pilot, lambda: calls["n"] >= 3, what="the watcher started again")
        assert app.live.id == runs["overfit"].name


async def test_v_shows_the_base_models_answers_next_to_the_latest_and_their_finding(runs):
    """samples.jsonl as the trainer writes it (one line per prompt per sampling): the screen reads it with the
    run, `v` shows step 0 next to the latest, and answers that stopped ending are a finding on the panel."""
    run = runs["overfit"]
    lines = []
    for step, answer, ended in ((0, "Paris.", True), (100, "Paris is the the the the the capital" + " x" * 60, False)):
        for i in range(3):
            lines.append({"step": step, "prompt": f"question {i} [b]bold[/b]", "answer": answer + "\x1b[31m",
                          "ended": ended, "tokens": 4 if ended else 64, "seconds": 0.1, "reference": "Paris."})
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, run.name)
        await wait_for(pilot, lambda: len(app.live.samples) == 6, what="the samples read with the run")
        assert "answers_do_not_end" in [f.problem for f in app.live.findings()]
        await wait_for(pilot, lambda: "Sample answers do not end" in app.screen.query_one("#findings").plain_text,
                       what="the finding on the panel")
        # a run opened finished: its findings are on the panel, not news (the samples' one toasted every time)
        assert not any("Sample answers" in str(n.message) for n in app._notifications)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, TextScreen), what="the samples page")
        text = app.screen.text
        assert "step 0 (base)" in text and "step 100" in text and "Paris." in text
        assert "[b]bold[/b]" in text and "\x1b" not in text  # shown as text, the escape written out
        assert "no end token" in text and "ended" in text
        # the long answer is wrapped onto more lines, not cut at the first: its tail of x's is there
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if "step 100" in line)
        assert lines[start + 1].startswith(" " * 10) and "x x x" in lines[start + 1], text
        # the page follows the run: the next evaluation's answers replace the latest while it is open
        from console.runs.samples import Sample

        app.live.samples += [Sample(step=200, prompt=f"question {i} [b]bold[/b]", answer="Paris, again.",
                                    ended=True, tokens=4, seconds=0.1, reference="Paris.") for i in range(3)]
        await wait_for(pilot, lambda: "step 200" in app.screen.text, what="the newer answers on the open page")
        assert "Paris, again." in str(app.screen.query_one("#text-content").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TrainingScreen)


def test_a_stopped_run_offers_resume_only_with_a_checkpoint_to_resume_from(tmp_path):
    """After `stop --kill` before any save, the training screen said "resume it" and resume then refused."""
    from console.config.run_config import build_config, resolve
    from console.runs.rundir import create_run
    from screens.live import LiveRun

    run = create_run(tmp_path / "runs", resolve(build_config("lora", sets={"max_steps": "10"})), command=["test"])
    run.write_status("stopped", kind="killed", message="killed by `stop --kill`")
    live = LiveRun(run=run, status=run.status())
    lines = TrainingScreen.next_steps(live)
    assert not any("resume" in line and "training-console resume" in line for line in lines), lines
    assert any("no checkpoint to resume from" in line for line in lines)
    (run.checkpoints / "checkpoint-4").mkdir(parents=True)
    (run.checkpoints / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    (run.checkpoints / "checkpoint-4" / "adapter_model.safetensors").write_bytes(
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    lines = TrainingScreen.next_steps(live)
    assert f"resume it from checkpoint-4: training-console resume {run.id}" in lines, lines


def test_before_the_first_logged_step_the_line_says_the_step_and_the_clock():
    """A new user watched 'training...' and nothing else for minutes during a real model's first steps on a loaded
    machine: the line now says the step the trainer reached and the time since the start."""
    import time as _time

    from console.runs.rundir import RunDir
    from screens.live import LiveRun

    live = LiveRun(RunDir("runs/x"), None, status={"phase": "training", "started": _time.time() - 151, "step": 1})
    live.history.max_steps = 16
    text = TrainingScreen.progress_text(live, live.progress())
    assert "step 1/16" in text and ("2:31" in text or "2:32" in text) and "waiting for the first logged step" in text
    loading = LiveRun(RunDir("runs/x"), None, status={"phase": "loading model", "started": _time.time() - 5})
    assert TrainingScreen.progress_text(loading, loading.progress()) == "loading model..."


async def test_a_warning_that_went_is_said_to_have_gone_not_never_raised(runs):
    """A new user saw 'The preference is not being learned' on the DPO demo, then 'No warnings so far.' at step 40
    as if none had been shown: a finding shown in this view that the run no longer shows is named as gone."""
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        assert "No longer shown" not in screen.query_one("#findings").plain_text
        screen.shown_titles["stuck"] = "Train and eval loss both stuck"  # as if shown at an earlier moment
        screen.drawn = (app.live.id, -1)  # the same run, a version not drawn yet
        screen.redraw()
        await wait_for(pilot, lambda: "No longer shown: Train and eval loss both stuck"
                       in screen.query_one("#findings").plain_text, what="the gone warning named")
        assert "Overfitting" in screen.query_one("#findings").plain_text


async def test_a_long_run_of_an_older_trainer_is_read_once_then_opened_from_the_history_the_console_stored(
        tmp_path, monkeypatch):
    """A run whose trainer stored no history (an older trainer, or one killed before its last store) is read from
    its log over several polls; the console then stores what it read (console/runs/history_store.py), and opens it
    from that the next time without parsing a line of the log."""
    import console.runs.follow as follow
    from console.config.run_config import build_config, resolve
    from console.runs import history_store
    from console.runs.metrics import load_history
    from console.runs.rundir import create_run

    monkeypatch.setattr(follow, "READ_BYTES", 4096)  # the log is read over several polls, as a 1M-event one is
    monkeypatch.setattr(history_store, "GROWTH_BYTES", 2048)  # worth storing once this much was read
    run = create_run(tmp_path / "runs", resolve(build_config("lora", sets={"max_steps": "300"})), command=["test"])
    records = [r for s in range(1, 301) for r in ({"step": s, "loss": 3 / (1 + s / 50), "learning_rate": 1e-4},
                                                  *([{"step": s, "eval_loss": 3 / (1 + s / 60)}] if s % 10 == 0 else []))]
    run.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    run.write_status("done", step=300)
    size = run.metrics_path.stat().st_size
    whole = json.dumps(load_history(run.metrics_path).state(), sort_keys=True)
    for time in ("first", "again"):
        app = TrainingConsoleApp(runs_dir=tmp_path / "runs", attach=run.id, poll=0.02)
        async with app.run_test(size=(80, 24)) as pilot:
            await opened(pilot, run.id)
            assert json.dumps(app.live.history.state(), sort_keys=True) == whole, time
            await wait_for(pilot, lambda: history_store.stored_offset(run.path) == size, what="the history stored")
        if time == "first":
            # the log overwritten but for the bytes the stored history's fingerprint holds: opening it again must
            # show the same history, read from what was stored
            data = run.metrics_path.read_bytes()
            run.metrics_path.write_bytes(b" " * (size - 64) + data[-64:])


async def test_while_a_long_log_is_read_the_screen_says_so_and_shows_no_warning_yet(runs):
    """Part of a run's history (a long log still being read) is never shown as the run: the run line says how much
    is read, the findings panel says the warnings come once it is read, and none is computed on the part."""
    app = make_app("lora-aaaa")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, runs["overfit"].name)
        live = app.live
        assert "overfitting" in {f.problem for f in live.findings()}
        live.reading = (150 << 20, 300 << 20)
        live.changed()
        screen.redraw()
        assert "reading its log: 50% of 300 MB" in str(screen.query_one("#run-line").render())
        panel = screen.query_one("#findings").plain_text
        assert "warnings come once it is read" in panel and "[1]" not in panel and live.findings() == []
        live.reading = None
        live.changed()
        screen.redraw()
        assert "reading" not in str(screen.query_one("#run-line").render())
        assert "Overfitting" in screen.query_one("#findings").plain_text


async def test_a_run_that_ended_early_is_drawn_to_its_last_step_not_its_plan(tmp_path):
    """A run stopped at step 40 of 100 (or ended by early stopping) was drawn on an axis to 100, and `z` on a long
    one zoomed into the empty part after its end."""
    from tests.support.screens import fake_run

    run_id = "20250103-120000-lora-eeee"
    records = metrics_records(steps=40)
    records[0]["max_steps"] = 100  # planned 100, stopped at 40
    fake_run(tmp_path / "runs", run_id, created=1_735_905_600.0, phase="stopped", changes={"max_steps": 100},
             records=records)
    app = TrainingConsoleApp(runs_dir=tmp_path / "runs", attach=run_id, poll=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, run_id)
        assert "step 40/100" in str(screen.query_one("#progress-line").render())
        assert screen.query_one("#loss-chart").xmax == 40
        await pilot.press("z", "z")  # the last quarter of what it trained
        await wait_for(pilot, lambda: screen.query_one("#loss-chart").xmin == 30, what="zoomed into its end")
