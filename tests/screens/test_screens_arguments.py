"""Pilot tests of the arguments screen: validation as typed, every key, launch."""
from __future__ import annotations

import pytest

from console.config.run_config import RunConfig
from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.method_screen import MethodScreen
from screens.prompt_screen import PromptScreen
from screens.text_screen import TextScreen
from tests.support.screens import wait_for


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    app = TrainingConsoleApp(runs_dir="runs")
    app.launched = []
    app.launch = lambda config, stop_first=None: app.launched.append(config)  # no trainer in these tests
    return app


async def open_lora(pilot) -> ArgumentsScreen:
    await pilot.press("2", "enter")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ArgumentsScreen)
    return screen


async def type_into(pilot, screen: ArgumentsScreen, name: str, text: str, keys: bool = False) -> None:
    """Put `text` in a field: as key presses (keys=True), or at once, as a paste would (faster)."""
    row = screen.row(name)
    row.input.focus()
    row.input.value = ""
    if keys:
        await pilot.press(*list(text))
    else:
        row.input.insert_text_at_cursor(text)
    # checked, and the draft rebuilt after it (a refresh later): one pause was not always enough under load
    await wait_for(pilot, lambda: screen.checked_text.get(name) == text and not screen._rebuild_pending,
                   what=f"{name} = {text!r} checked")
    await pilot.pause()


async def test_every_preset_argument_is_a_field_grouped_by_section(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        names = {row.field_name for row in screen.rows()}
        assert set(screen.original.values) <= names
        assert screen.row("lora_r").parent.id == "section-method-settings"
        assert screen.row("learning_rate").parent.id == "section-training"
        assert screen.row("eval_steps").parent.id == "section-evaluation-and-saving"
        assert screen.row("model").parent.id == "section-model-and-data"
        assert "effective batch 16" in str(screen.query_one("#launch-status").render())


async def test_the_range_mark_updates_as_you_type(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        row = screen.row("learning_rate")
        assert str(row.query_one(".field-mark").render()) == "✓ 1e-4–5e-4"
        await type_into(pilot, screen, "learning_rate", "0.01", keys=True)
        assert str(row.query_one(".field-mark").render()) == "! 1e-4–5e-4"  # outside the range, still launches
        assert row.has_class("-outside")
        assert screen.draft.values["learning_rate"] == 0.01
        assert "outside the LoRA range" in str(screen.query_one("#analysis-text").render())
        await type_into(pilot, screen, "learning_rate", "3e-4")
        assert str(row.query_one(".field-mark").render()) == "✓ 1e-4–5e-4"


async def test_an_invalid_value_shows_its_message_keeps_the_text_and_blocks_launch(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "per_device_train_batch_size", "four")
        row = screen.row("per_device_train_batch_size")
        assert row.text == "four"
        assert row.has_class("-invalid")
        assert "must be a whole number" in str(row.query_one(".field-error").render())
        assert screen.check_action("launch", ()) is None
        assert "1 invalid" in str(screen.query_one("#launch-status").render())
        await pilot.press("f5")
        await pilot.pause()
        assert app.launched == []
        assert row.text == "four"
        await type_into(pilot, screen, "per_device_train_batch_size", "8")
        assert not row.has_class("-invalid")
        assert screen.check_action("launch", ()) is True
        assert "effective batch 32" in str(screen.query_one("#launch-status").render())


async def test_a_model_loading_setting_the_launch_would_refuse_is_marked_as_it_is_typed(app):
    # flash attention on a machine without CUDA was refused only at F5, in a toast
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await pilot.press("f7")  # not a field of the preset: added as a user adds it
        await wait_for(pilot, lambda: pilot.app.screen is not screen, what="the add-field dialog")
        await pilot.press(*"attn_implementation", "enter")
        await wait_for(pilot, lambda: screen.row("attn_implementation") is not None, what="the field added")
        from console.machine.hardware import probed

        await wait_for(pilot, probed, what="the machine known (the memory worker probes it)")
        await type_into(pilot, screen, "attn_implementation", "flash_attention_2")
        row = screen.row("attn_implementation")
        assert row.has_class("-invalid")
        assert "needs a CUDA GPU" in str(row.query_one(".field-error").render())
        assert screen.check_action("launch", ()) is None
        await type_into(pilot, screen, "attn_implementation", "sdpa")
        assert not row.has_class("-invalid") and screen.check_action("launch", ()) is True


async def test_f5_launches_the_resolved_config_with_the_edit(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "max_steps", "40")
        await pilot.press("f5")
        await pilot.pause()
        assert len(app.launched) == 1
        config = app.launched[0]
        assert config.values["max_steps"] == 40
        assert config.resolved["device"] == "cpu" and config.values["fp16"] is False


async def test_enter_on_the_launch_button_launches(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        assert app.focused is screen.rows()[0].input  # the cursor starts in the first field, not on Launch
        screen.query_one("#launch").focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert len(app.launched) == 1 and app.launched[0].method == "lora"
        del screen


async def test_down_and_up_move_between_fields_and_enter_goes_to_the_next(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        first = app.focused
        assert first is screen.rows()[0].input
        await pilot.press("down")
        assert app.focused is screen.rows()[1].input
        await pilot.press("up")
        assert app.focused is first
        await pilot.press("enter")
        assert app.focused is screen.rows()[1].input


async def test_f2_shows_the_training_arguments_snippet(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await open_lora(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen)
        assert "SFTConfig(" in app.screen.text and "LoraConfig(" in app.screen.text
        await pilot.press("escape")
        assert isinstance(app.screen, ArgumentsScreen)


async def test_f3_shows_the_cli_command_with_the_edits(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "weight_decay", "0.05")
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen)
        assert app.screen.text == "training-console train --method lora --set weight_decay=0.05"
        await pilot.press("enter")
        assert isinstance(app.screen, ArgumentsScreen)


async def test_f4_saves_a_named_preset(app, tmp_path):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "lora_r", "8")
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one("Input").value = ""
        await pilot.press(*"small r", "enter")
        await pilot.pause()
        saved = tmp_path / "home" / "presets" / "small-r.yaml"
        assert saved.exists()
        from console.config.run_config import build_config

        assert build_config(config_file=str(saved)).values["lora_r"] == 8
        # back on the method screen it is listed at once (it needed a restart before), and it opens
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")  # the edits are in the preset; the draft itself is left
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen), what="method screen")
        await pilot.pause()
        screen = app.screen
        assert ("preset", saved) in screen.choices
        methods = screen.query_one("#methods")
        methods.highlighted = screen._option_index([k for k, _ in screen.choices].index("preset"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the saved preset")
        assert app.screen.draft.values["lora_r"] == 8


def test_presets_go_to_the_xdg_config_home(tmp_path, monkeypatch):
    from console.config.presets import user_presets_dir

    monkeypatch.delenv("TRAINING_CONSOLE_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_presets_dir() == tmp_path / "xdg" / "training-console" / "presets"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")  # the spec: a relative path is ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_presets_dir() == tmp_path / "home" / ".config" / "training-console" / "presets"
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "tc"))
    assert user_presets_dir() == tmp_path / "tc" / "presets"


async def test_f6_resets_the_focused_field_to_the_default(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "lora_dropout", "0.3")
        assert screen.draft.values["lora_dropout"] == 0.3
        await pilot.press("f6")
        await pilot.pause()
        assert screen.row("lora_dropout").text == "0.05"
        assert screen.draft.values["lora_dropout"] == 0.05


async def test_f7_adds_any_other_training_argument(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        assert screen.row("label_smoothing_factor") is None
        await pilot.press("f7")
        await pilot.pause()
        await pilot.press(*"label_smoothing", "enter")
        await pilot.pause()
        row = screen.row("label_smoothing_factor")
        assert row is not None and app.focused is row.input
        row.input.value = ""
        await pilot.press(*"0.1")
        await pilot.pause()
        assert screen.draft.values["label_smoothing_factor"] == 0.1


async def test_escape_goes_back_to_the_method_screen_and_asks_before_dropping_edits(app):
    from screens.confirm import ConfirmScreen

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await pilot.press("escape")  # nothing edited: straight back
        await pilot.pause()
        assert isinstance(app.screen, MethodScreen)
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "seed", "7")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and "seed" in str(app.screen.query_one("#question").render())
        await pilot.press("n")  # keep editing: nothing lost
        await pilot.pause()
        assert app.screen is screen and screen.row("seed").text == "7"
        await pilot.press("escape", "y")
        await pilot.pause()
        assert isinstance(app.screen, MethodScreen)


async def test_letters_go_into_fields_and_f9_f10_do_theme_and_quit(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "lr_scheduler_type", "qt", keys=True)
        assert app.is_running and screen.row("lr_scheduler_type").text == "qt"
        assert app.check_action("quit", ()) is False
        dark = app.current_theme.dark
        await pilot.press("f9")
        assert app.current_theme.dark is not dark
        await pilot.press("f10")
        await pilot.pause()
        assert not app.is_running


async def test_a_fix_carried_over_shows_its_lineage(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        from console.diagnosis.fixes import apply
        from console.diagnosis.vocabulary import Fix

        parent = RunConfig.from_preset("lora")
        parent.run_id = "20250101-120000-lora-aaaa"
        config = apply(parent, Fix({"weight_decay": 0.1}, "regularise", "weight_decay"))  # the engine's record
        await app.show_arguments(config, "next run")
        await pilot.pause()
        assert isinstance(app.screen, ArgumentsScreen)
        title = str(app.screen.query_one("#title").render())
        assert "from lora-aaaa: weight_decay 0.01 -> 0.1" in title  # it was always blank; the parent as method-hash
        await pilot.press("f5")
        assert app.launched[0].parent == "20250101-120000-lora-aaaa"


async def test_f8_jumps_to_a_field_by_name(app):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        screen.row("weight_decay").input.focus()
        await pilot.pause()
        assert "\nweight_decay (default" in str(screen.query_one("#analysis-text").render())
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press(*"max_st", "enter")
        await pilot.pause()
        assert app.focused is screen.row("max_steps").input
        # the side help is about the field jumped to, not the one focused before F8
        help_text = str(screen.query_one("#analysis-text").render())
        assert "\nmax_steps (default" in help_text, help_text
        await pilot.press("backspace", "backspace", "4", "0")
        await pilot.pause()
        assert screen.draft.values["max_steps"] == 40


async def test_the_memory_estimate_shows_and_follows_only_what_it_depends_on(app, monkeypatch):
    """console.config.memory.estimate_text in the analysis panel, computed off the main thread, again only when one of
    its inputs (batch, sequence length, model, method, precision...) changes."""
    import threading

    import console.config.memory

    calls = []
    real = console.config.memory.estimate_text

    def counted(config, hardware=None):
        calls.append((config.values["per_device_train_batch_size"], threading.current_thread().name))
        return real(config, hardware)

    monkeypatch.setattr(console.config.memory, "estimate_text", counted)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        await wait_for(pilot, lambda: screen.memory_for is not None, what="the estimate")
        assert len(calls) == 1 and calls[0][1] != threading.current_thread().name
        text = str(screen.query_one("#analysis-text").render())
        assert "memory estimate:" in text and "batch 4 x 1024 tokens" in text
        workers = len(app.workers)
        await type_into(pilot, screen, "learning_rate", "1e-4")  # not an input of the estimate
        assert screen._memory_wanted == screen.memory_for and len(app.workers) <= workers  # nothing asked
        assert len(calls) == 1
        await type_into(pilot, screen, "per_device_train_batch_size", "8")
        await wait_for(pilot, lambda: "batch 8 x 1024" in str(screen.query_one("#analysis-text").render()),
                       what="the new estimate")
        assert [c[0] for c in calls] == [4, 8]


async def test_a_slow_estimate_never_blocks_typing(app, monkeypatch):
    """A Hub model's config.json may take seconds to fetch: the fields keep taking keys meanwhile. The estimate
    here waits on an event the test sets once it has typed: no race with the clock."""
    import threading

    import console.config.memory

    release = threading.Event()
    monkeypatch.setattr(console.config.memory, "estimate_text",
                        lambda config, hardware=None: release.wait(30) and "memory estimate: 1 GiB peak per process")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_lora(pilot)
            await type_into(pilot, screen, "seed", "7", keys=True)
            assert screen.typed["seed"] == 7  # typed while the estimate is still out
            assert "memory: estimating..." in str(screen.query_one("#analysis-text").render())
            release.set()
            await wait_for(pilot, lambda: screen.memory_for is not None, timeout=10, what="the slow estimate")
            assert "1 GiB peak" in str(screen.query_one("#analysis-text").render())
    finally:
        release.set()


async def test_a_fresh_preset_says_what_this_machine_will_use_and_a_run_that_evaluates_only_at_its_end(app):
    """transformers evaluates a step schedule's last step: the analysis said such a run never evaluates (a new user
    saw it evaluate at step 20)."""
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)  # the LoRA preset asks for fp16; this machine (TRAINING_CONSOLE_CPU) has none
        await wait_for(pilot, lambda: screen.memory_for is not None, what="the hardware probed")
        await pilot.pause()
        text = str(screen.query_one("#analysis-text").render())
        assert "this machine: cpu, fp32 (fp16 ignored: no CUDA device" in text
        await type_into(pilot, screen, "max_steps", "40")
        await type_into(pilot, screen, "eval_steps", "50")
        text = str(screen.query_one("#analysis-text").render())
        assert "eval_steps=50 > max_steps=40: the run evaluates only at its end" in text
        await type_into(pilot, screen, "eval_steps", "10")
        assert "evaluates only at its end" not in str(screen.query_one("#analysis-text").render())


async def test_the_value_column_grows_with_the_terminal(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        wide = screen.row("model").input.size.width
    again = TrainingConsoleApp(runs_dir="runs")
    async with again.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        narrow = screen.row("model").input.size.width
    assert narrow >= 12 and wide >= narrow + 20  # a Hub name or a path is readable at 120 columns


async def open_f7(pilot):
    """The LoRA arguments screen, then F7's add-field dialog: the dialog."""
    from screens.add_field_screen import AddFieldScreen

    await open_lora(pilot)
    await pilot.press("f7")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AddFieldScreen), what="the add-field dialog")
    return pilot.app.screen


async def help_after(pilot, dialog, typed: str, awaited: str) -> str:
    """The dialog's help line once `typed` is typed into its filter and the line holds `awaited`."""
    await pilot.press(*typed)
    await wait_for(pilot, lambda: awaited in str(dialog.query_one("#field-help").render()), what=repr(awaited))
    return str(dialog.query_one("#field-help").render())


async def test_the_add_field_dialog_shows_help_as_text_brackets_and_all(app):
    """A help text with brackets ('Typical range: [5.0, 15.0]') is shown as it is, never read as markup."""
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_f7(pilot)
        shown = await help_after(pilot, dialog, "neftune", "neftune_noise_alpha")
        assert "Typical range: [5.0, 15.0]" in shown


async def test_f7_names_a_field_already_on_the_screen_instead_of_no_match(app):
    """A new user typed weight_d in F7's dialog and read 'no argument matches': weight_decay is on the screen."""
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_f7(pilot)
        shown = await help_after(pilot, dialog, "weight_d", "on the screen already")
        assert "weight_decay is on the screen already: Esc, then F8" in shown
        await pilot.press(*"zzz")
        await wait_for(pilot, lambda: str(dialog.query_one("#field-help").render()) == "no argument matches",
                       what="no match at all")


async def test_the_add_field_dialogs_help_ends_within_its_box_at_80x24(app):
    """The longest help is cut at a word to the lines the box shows, with '...' (it ran past them, mid-sentence)."""
    from textwrap import wrap

    from console.config.fields import all_fields
    from screens.add_field_screen import HELP_LINES, AddFieldScreen

    async with app.run_test(size=(80, 24)) as pilot:
        await open_lora(pilot)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, AddFieldScreen), what="the add-field dialog")
        dialog = app.screen
        # the longest help among the fields the dialog offers (one already on the screen, dataset_format, is not)
        longest = max((all_fields()[name] for name in dialog.names),
                      key=lambda spec: len(spec.name) + len(repr(spec.default)) + len(spec.help))
        await pilot.press(*longest.name)
        box = dialog.query_one("#field-help")
        await wait_for(pilot, lambda: str(box.render()).startswith(longest.name + " ("), what="its help")
        shown = str(box.render())
        assert shown.endswith(" ...") and len(wrap(shown, box.content_size.width)) <= HELP_LINES, shown



async def test_keys_pressed_while_the_arguments_screen_opens_go_to_it_never_into_the_field_behind(app):
    """Issue 30: F8 pressed right after the arguments screen was asked for, on a loaded machine, then a field's name
    typed, put the name into the `model` field (a run launched with `model: max_ste`): F8 reached the method screen
    and the name the arguments screen once it had opened. Keys pressed while a screen opens are now held and handed
    to it in order: F8 opens its dialog, the name goes into the dialog, Enter goes to the field."""
    import asyncio

    from textual import events

    shown = app.show_arguments

    async def slowly(config, title=""):  # a loaded machine: the screen takes a while to come
        await asyncio.sleep(0.5)
        await shown(config, title)

    app.show_arguments = slowly
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "enter")
        app.post_message(events.Key("f8", None))  # while the arguments screen is on its way
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the arguments screen")
        for key in [*"max_st", "enter", "backspace", "7"]:  # typed on as the screen shows
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        def jumped() -> bool:
            row = app.screen.row("max_steps") if isinstance(app.screen, ArgumentsScreen) else None
            return row is not None and app.focused is row.input and row.input.value.endswith("7")

        await wait_for(pilot, jumped, what="the field jumped to, and typed into")
        assert app.screen.row("model").input.value == ""  # the demo model: nothing typed into it


async def test_every_key_typed_after_f8_s_enter_goes_to_the_field_jumped_to(app):
    """A new user typed `F8 model Enter XYZ` and got `YZ`: the X arrived while the dialog's Enter was still on its
    way to dismissing it (Enter submitted the filter; the dismissal came a message later) and went into the dialog."""
    from textual import events

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await pilot.press("f8")
        await wait_for(pilot, lambda: app.screen is not screen, what="the dialog")
        for key in [*"model", "enter", *"XYZ"]:  # typed at once, as tmux send-keys does
            app.post_message(events.Key(key, key if len(key) == 1 else None))

        def typed() -> bool:
            return app.screen is screen and screen.row("model").input.value == "XYZ"

        await wait_for(pilot, typed, what=f"XYZ in model (it holds {screen.row('model').input.value!r})")


async def test_ctrl_c_says_how_to_quit_in_plain_words(app):
    """Issue 30: Ctrl-C showed Textual's hint with its markup as text: 'Press [b]ctrl+q[/b] to quit the app'."""
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app._notifications, what="the hint")
        said = [str(n.message) for n in app._notifications]
        assert any("to quit" in m for m in said) and not any("[" in m for m in said), said
        assert app.is_running


async def test_a_field_with_fixed_words_cycles_through_them_and_completes(app):
    """Issue 30: lr_scheduler_type, eval_strategy, optim, dataset_format ... were free text. Ctrl-N / Ctrl-P go to the
    next / previous word, and a prefix typed is completed (Right takes the rest)."""
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        row = screen.row("lr_scheduler_type")
        row.input.focus()
        await pilot.pause()
        assert row.text == "cosine"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: row.text == "cosine_with_restarts", what="the next scheduler")
        await pilot.press("ctrl+p", "ctrl+p")
        await wait_for(pilot, lambda: row.text == "linear", what="two back")
        await type_into(pilot, screen, "eval_strategy", "ep", keys=True)
        await wait_for(pilot, lambda: screen.row("eval_strategy").input._suggestion == "epoch", what="suggested")
        await pilot.press("right")
        await wait_for(pilot, lambda: screen.row("eval_strategy").text == "epoch", what="completed")
        await wait_for(pilot, lambda: screen.checked_text.get("eval_strategy") == "epoch", what="checked")
        assert screen.row("eval_strategy").error is None


async def test_escape_after_a_launch_does_not_ask_to_discard_what_was_launched(app):
    """Issue 30: F5, then Esc from the training screen back to the arguments and Esc again asked to discard the
    changes that had just been launched."""
    from console.runs.rundir import create_run
    from screens.confirm import ConfirmScreen
    from screens.messages import RunLaunched
    from screens.training_screen import TrainingScreen

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "max_steps", "40")
        await pilot.press("f5")
        await wait_for(pilot, lambda: len(app.launched) == 1, what="the launch")
        run = create_run("runs", app.launched[0], command=["test"])  # what the trainer worker does, then says
        app.post_message(RunLaunched(run.id, str(run.path)))
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen), what="the training screen")
        await app.goto("setup")  # back to the arguments launched from
        await wait_for(pilot, lambda: app.screen is screen, what="the arguments screen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MethodScreen) or isinstance(app.screen, ConfirmScreen),
                       what="leaving")
        assert isinstance(app.screen, MethodScreen)


async def test_escape_after_saving_a_preset_does_not_ask_to_discard_what_was_saved(app):
    """A new user's report: F4 saved the edits as a preset, then Esc asked to discard them; an edit after the save
    is asked about again."""
    from screens.confirm import ConfirmScreen

    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "max_steps", "40")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen is not screen, what="the preset name prompt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("saved preset" in str(n.message) for n in app._notifications),
                       what="the save")
        assert screen.changed_fields() == []
        await type_into(pilot, screen, "max_steps", "60")
        assert screen.changed_fields() == ["max_steps"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")


async def test_f4_never_writes_a_preset_through_a_link_at_its_name(app, tmp_path):
    import os

    victim = tmp_path / "outside.txt"
    victim.write_text("the user's own file\n")
    presets = tmp_path / "home" / "presets"
    presets.mkdir(parents=True)
    os.symlink(victim, presets / "small-r.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_lora(pilot)
        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one("Input").value = ""
        await pilot.press(*"small r", "enter")
        await wait_for(pilot, lambda: any("link" in str(n.message) for n in app._notifications), what="the refusal")
        said = next(str(n.message) for n in app._notifications if "link" in str(n.message))
        assert "small-r.yaml" in said and "\n" not in said
    assert victim.read_text() == "the user's own file\n" and (presets / "small-r.yaml").is_symlink()


async def test_edits_after_a_carried_fix_join_the_next_runs_lineage(app):
    """A new user's report: after `r` carried a fix, the values they changed on the arguments screen were not in the
    new run's lineage (it read as if only the fix had changed). They are recorded as one 'set' record after the fix,
    with the values before, as `rerun --set` records its own."""
    from console.diagnosis.fixes import apply
    from console.diagnosis.vocabulary import Fix

    parent = RunConfig.from_preset("lora").with_changes({"max_steps": 40})
    parent.run_id = "20261206-120000-lora-abcd"
    child = apply(parent, Fix({"learning_rate": 1e-4}, "the loss rose", "lr_down_2x"), parent=parent.run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.show_arguments(child, "the next run")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the arguments screen")
        screen = app.screen
        await type_into(pilot, screen, "max_steps", "60")
        await pilot.press("f5")
        await wait_for(pilot, lambda: len(app.launched) == 1, what="the launch")
    launched = app.launched[0]
    assert launched.parent == parent.run_id
    assert [f["id"] for f in launched.fixes] == ["lr_down_2x", "set"]
    assert launched.fixes[-1]["changes"] == {"max_steps": 60} and launched.fixes[-1]["from"] == {"max_steps": 40}


async def test_enter_in_a_burst_of_keys_chooses_from_all_that_was_typed(app):
    """Keys in a burst (a paste, a fast typist over SSH, a loaded machine): Enter came before the filter's Changed for
    the last letters had refiltered the list, and the field chosen was the first of a shorter filter's. The list is
    brought up to what is typed before Enter chooses (the CI run where the test above timed out under load)."""
    from screens.add_field_screen import AddFieldScreen

    chosen = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(AddFieldScreen(["learning_rate", "max_length", "max_steps", "model"]), chosen.append)
        await wait_for(pilot, lambda: isinstance(app.screen, AddFieldScreen) and app.screen.query("#field-list")
                       and app.screen.query_one("#field-list").option_count == 4, what="the dialog")
        dialog = app.screen
        dialog.query_one("#filter").value = "max_st"  # typed; its Changed not yet handled
        dialog.action_choose()
        await wait_for(pilot, lambda: chosen, what="the choice")
    assert chosen == ["max_steps"]
