"""Pilot tests of the method screen and the app-wide keys."""
from __future__ import annotations

import pytest

from console.config.presets import METHODS, load_scenarios
from screens.app import TrainingConsoleApp
from screens.arguments_screen import ArgumentsScreen
from screens.method_screen import MethodScreen
from screens.runs_screen import RunsScreen
from screens.too_small import TooSmallScreen
from tests.support.screens import wait_for


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    return TrainingConsoleApp(runs_dir="runs")


async def test_opens_on_a_method_with_the_demo_one_key_away(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MethodScreen)
        kind, item = screen.selected()
        assert kind == "method" and item.method == "lora"
        assert "demo" in str(screen.query_one("#data-line").render())
        assert "d: the demo" in str(screen.query_one("#title").render())
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="the demo's arguments")
        scenario = load_scenarios()[0]
        for key, value in scenario.changes.items():
            assert app.screen.draft.values[key] == value


async def test_the_session_model_and_dataset_go_into_every_new_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.jsonl").write_text('{"text": "hello"}\n')
    app = TrainingConsoleApp(runs_dir="runs", model="some-org/[b]model", dataset=str(tmp_path / "data.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = str(app.screen.query_one("#data-line").render())
        assert "some-org/[b]model" in line and "data.jsonl" in line  # shown as text, not markup
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArgumentsScreen), what="arguments")
        assert app.screen.draft.values["model"] == "some-org/[b]model"
        assert app.screen.draft.values["dataset"] == str(tmp_path / "data.jsonl")


async def test_digits_choose_and_enter_goes_on_with_that_methods_defaults(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        assert app.screen.selected()[1].method == "qlora"
        assert "QLoRA" in str(app.screen.query_one("#details").render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ArgumentsScreen)
        assert app.screen.original.method == "qlora"
        assert app.screen.original.values["load_in_4bit"] is True


async def test_arrows_choose_and_the_scenario_carries_its_changes(app):
    scenario = load_scenarios()[0]  # the first entry after the methods
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("1", "down")
        assert app.screen.selected()[1].method == "lora"
        await pilot.press(str(len(METHODS) + 1), "enter")
        await pilot.pause()
        assert isinstance(app.screen, ArgumentsScreen)
        assert app.screen.original.method == scenario.method
        for key, value in scenario.changes.items():
            assert app.screen.original.values[key] == value


async def test_saved_presets_are_listed(app, tmp_path):
    from console.config.run_config import RunConfig, to_yaml

    presets = tmp_path / "home" / "presets"
    presets.mkdir(parents=True)
    (presets / "mine.yaml").write_text(to_yaml(RunConfig.from_preset("full").with_changes({"seed": 7})))
    async with app.run_test(size=(80, 24)) as pilot:
        # after the methods and the scenarios: past 9, reached with the arrows (digits pick 1 to 9)
        position = len(METHODS) + len(load_scenarios()) + 1
        if position <= 9:
            await pilot.press(str(position))
        else:
            await pilot.press("end")
        await pilot.pause()
        assert app.screen.selected()[0] == "preset"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.original.method == "full" and app.screen.original.values["seed"] == 7


async def test_u_opens_the_runs_and_escape_comes_back(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MethodScreen)


async def test_watch_is_hidden_without_a_run(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.check_action("watch", ()) is False
        await pilot.press("w")
        assert isinstance(app.screen, MethodScreen)


async def test_t_toggles_light_and_dark(app):
    async with app.run_test(size=(80, 24)) as pilot:
        dark = app.current_theme.dark
        await pilot.press("t")
        assert app.current_theme.dark is not dark
        await pilot.press("t")
        assert app.current_theme.dark is dark


async def test_f1_is_a_help_page_for_the_screen_on_top(app):
    from screens.text_screen import TextScreen

    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, TextScreen)
        text = app.screen.text
        assert text.startswith("Keys on the method screen:")
        assert "  w         the run that is training" in text and "  q/F10     quit (asks" in text
        assert "The loop:" in text and "copy" not in text.lower()
        await pilot.press("f1")  # F1 again closes it
        await pilot.pause()
        assert isinstance(app.screen, MethodScreen)
        await pilot.press("2", "enter")  # the arguments screen has its own keys
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.text.startswith("Keys on the arguments screen:") and "  F5        launch" in app.screen.text
        # letters go into the fields there: q and t are not listed as keys (F10 and F9 are)
        assert "\n  q " not in app.screen.text and "F9/t" not in app.screen.text and "  F10 " in app.screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TextScreen)


async def test_q_quits_when_nothing_trains(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0
        assert not app.is_running


async def test_below_the_minimum_size_says_how_big(app):
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, TooSmallScreen)
        assert "at least 80x24" in str(app.screen.query_one("#too-small-text").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert isinstance(app.screen, MethodScreen)


def test_the_chat_screens_help_lists_no_letter_keys_its_prompt_would_take():
    from screens.app import TrainingConsoleApp
    from screens.chat_screen import ChatScreen
    from screens.help import help_text

    _, text = help_text(ChatScreen.__new__(ChatScreen), TrainingConsoleApp.__new__(TrainingConsoleApp))
    assert "\n  q" not in text and "\n  t " not in text, text
    assert "F10" in text and "F1 " in text  # the keys that do work there
