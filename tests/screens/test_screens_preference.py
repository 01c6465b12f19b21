"""A preference run (DPO) in the console: its progress line, its rewards and accuracy charts, its finding with the
fix that `a` carries into the next run."""
from __future__ import annotations

from screens.arguments_screen import ArgumentsScreen
from tests.screens.test_screens_training import make_app, opened
from tests.support.preference_curves import preference_records
from tests.support.screens import fake_run, wait_for


def _dpo_run_and_console(tmp_path, monkeypatch):
    """A finished DPO run whose chosen answers lose probability, and a console on its runs folder."""
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    run = fake_run(tmp_path / "runs", "20250103-120000-lora-dpoo", created=1_735_905_600.0,
                   changes={"objective": "dpo", "max_steps": 60, "eval_steps": 10, "save_steps": 10},
                   records=preference_records(shape="displacement"))
    app = make_app("lora-dpoo")
    return run, app


async def test_a_dpo_run_shows_its_preference_curves_and_its_finding_with_a_fix(tmp_path, monkeypatch):
    run, app = _dpo_run_and_console(tmp_path, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, run.name)
        line = str(screen.query_one("#progress-line").render())
        assert "margin " in line and "% right" in line and "ppl" not in line, line
        text = screen.query_one("#findings").plain_text
        assert "Chosen answers are losing probability" in text and "beta 0.1 -> 0.2" in text, text
        await pilot.press("g")  # learning rate and grad norm
        await pilot.press("g")  # the preference view: rewards and pairs ranked right
        await wait_for(pilot, lambda: [c.label for c in screen.query_one("#lr-chart").curves][:2]
                       == ["chosen", "rejected"], what="the rewards chart")
        assert [c.label for c in screen.query_one("#grad-chart").curves] == ["train", "eval"]
        await pilot.press("g")  # back to the loss
        assert screen.query_one("#loss-chart").display
        await pilot.press("a")  # fix 1 into the next run's arguments
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the arguments screen")
        assert app.screen.original.values["beta"] == 0.2 and app.screen.original.objective == "dpo"


async def test_p_opens_a_dpo_run_from_a_finished_runs_model(tmp_path, monkeypatch):
    """p on a finished run: the arguments screen on a DPO run that starts from its model, recorded as its child;
    a run with no saved model says so in one line."""
    from tests.support.screens import metrics_records

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    run = fake_run(tmp_path / "runs", "20250103-130000-lora-sftt", created=1_735_909_200.0,
                   changes={"max_steps": 40}, records=metrics_records(steps=40))
    app = make_app("lora-sftt")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, run.name)
        await pilot.press("p")  # no model/ yet: said, nothing opened
        await wait_for(pilot, lambda: any("no saved model" in str(n.message) for n in app._notifications),
                       what="the refusal")
        assert app.screen is screen
        (run / "model").mkdir()
        (run / "model" / "adapter_config.json").write_text("{}")
        (run / "model" / "adapter_model.safetensors").write_bytes(b"0" * 16)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the arguments screen")
        config = app.screen.original
        assert config.objective == "dpo" and config.parent == run.name
        assert config.values["adapter_name_or_path"] == str(run / "model")
        assert config.fixes[0]["id"] == "from_model"
        header = app.screen.query_one("#title").render().plain
        said = header.split("  from ")[0]  # the lineage after it may be cut; what to do may not
        assert "try demo-pairs)" in said and len(said) <= 80, header
        # the cursor in the field the header asks for (it was in `model`: a new user typed the dataset there)
        args = app.screen
        await wait_for(pilot, lambda: args.focused_row() is not None, what="a field focused")
        assert args.focused_row().field_name == "dataset"
        model_before = args.row("model").text
        args.row("dataset").input.value = ""
        await pilot.press(*"demo-pairs")
        await wait_for(pilot, lambda: args.row("dataset").text == "demo-pairs", what="the dataset typed")
        assert args.row("model").text == model_before


async def test_at_80_columns_the_progress_line_is_cut_between_its_parts(tmp_path, monkeypatch):
    """A new user saw the line end '· margin' without its value at 80 columns: parts that do not fit are left out
    whole."""
    run, app = _dpo_run_and_console(tmp_path, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, run.name)
        whole = ("step 24/60 · ep 0.40 · 1:02 ETA 1:35 · loss 0.6812 (best eval 0.6919) · margin 0.027, 56% "
                 "right · 1,204 tok/s")  # a live DPO run's line as the new user saw it
        line = screen.fitted(whole)
        assert len(line) <= 78 and whole.startswith(line), line
        assert line.endswith("(best eval 0.6919)"), line  # cut where a part ends: no '· margin' alone
        shown = str(screen.query_one("#progress-line").render()).rstrip()
        assert len(shown) <= 78 and not shown.endswith("margin"), shown


async def test_a_kto_runs_second_preference_chart_is_its_kl(tmp_path, monkeypatch):
    """KTO logs no pairs ranked right (its rows are single answers): the chart said 'no data yet' for the whole run
    (a new user's report); it shows KTO's KL estimate instead."""
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    records = []
    for r in preference_records(shape="displacement"):
        r = {k: v for k, v in r.items() if "accuracies" not in k}
        if "loss" in r:
            r["kl"] = 0.01 * r["step"]
        records.append(r)
    run = fake_run(tmp_path / "runs", "20250103-140000-lora-ktoo", created=1_735_912_800.0,
                   changes={"objective": "kto", "max_steps": 60, "eval_steps": 10, "save_steps": 10},
                   records=records)
    app = make_app("lora-ktoo")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await opened(pilot, run.name)
        await pilot.press("g", "g")  # the preference view
        await wait_for(pilot, lambda: [c.label for c in screen.query_one("#grad-chart").curves] == ["kl"],
                       what="the KL chart")
        assert screen.query_one("#grad-chart").chart_title == "KL from the reference"


async def test_at_80_columns_the_loss_stays_and_the_epoch_goes_first(tmp_path, monkeypatch):
    """With an ETA on the line, 80 columns dropped the loss (the parts went from the right): a new user saw
    'step 30/200 · ep 15.00 · 0:27 ETA 1:15' and no loss at all."""
    run, app = _dpo_run_and_console(tmp_path, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot, run.name)
        whole = ("step 30/200 · ep 15.00 · 0:27 ETA 1:15 · loss 2.345 (best eval 2.456, ppl 11.7) · acc 45% · "
                 "1,234 tok/s")
        assert screen.fitted(whole) == "step 30/200 · 0:27 ETA 1:15 · loss 2.345 (best eval 2.456, ppl 11.7) · acc 45%"
        long_loss = "step 30/200 · 0:27 ETA 1:15 · loss 2.345 (best eval 2.456, ppl 11.7) · margin 0.027, 56% right"
        assert screen.fitted(long_loss) == "step 30/200 · 0:27 ETA 1:15 · loss 2.345 (best eval 2.456, ppl 11.7)"
        narrow = "step 300000/1000000 · 10:27:12 ETA 21:15:02 · loss 2.345 (best eval 2.456, ppl 11.7) · acc 45%"
        assert screen.fitted(narrow) == "step 300000/1000000 · 10:27:12 ETA 21:15:02 · loss 2.345 (best eval 2.456)"
