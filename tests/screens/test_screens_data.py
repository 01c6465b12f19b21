# ruff: noqa: F811  (the tests take the imported `app` fixture by name)
"""The dataset checked as it is typed on the arguments screen, and the data page (F11 there, p on the method
screen): the examples as the model sees them, read from a child process."""
from __future__ import annotations

import json

import pytest

from screens.arguments_screen import ArgumentsScreen
from screens.text_screen import TextScreen
from tests.screens.test_screens_arguments import app, open_lora, type_into  # noqa: F401  app: its fixture
from tests.support.screens import wait_for


def analysis(screen: ArgumentsScreen) -> str:
    return str(screen.query_one("#analysis-text").render())


async def test_the_dataset_is_checked_as_it_is_typed(app, tmp_path):
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hello {i}"},
                                                      {"role": "assistant", "content": "hi"}]}) + "\n"
                             for i in range(12)))
    (tmp_path / "odd.csv").write_text("a,b\n1,2\n")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "dataset", str(chats))
        await wait_for(pilot, lambda: "chats.jsonl: 12 rows, chat format" in analysis(screen), what="data line")
        assert "first example: user: hello 0" in analysis(screen)
        await type_into(pilot, screen, "dataset", str(tmp_path / "missing.jsonl"))
        await wait_for(pilot, lambda: "dataset" in screen.problems, what="missing file said")
        assert "not found" in screen.problems["dataset"]
        assert screen.query_one("#launch").disabled
        await type_into(pilot, screen, "dataset", str(tmp_path / "odd.csv"))
        await wait_for(pilot, lambda: "no usable column" in screen.problems.get("dataset", ""),
                       what="a CSV that fits no format")
        await type_into(pilot, screen, "dataset", str(chats))
        await wait_for(pilot, lambda: "dataset" not in screen.problems, what="fixed")
        assert not screen.query_one("#launch").disabled


@pytest.mark.e2e
async def test_f11_opens_the_data_page_with_the_examples_marked(app):
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        await pilot.press("f11")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TextScreen), what="data page")
        page = pilot.app.screen
        await wait_for(pilot, lambda: "[[" in page.text, timeout=120, what="the preview from the child process")
        assert "train: " in page.text and "in the loss" in page.text and "--- train example 1" in page.text
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back")
        await pilot.press("ctrl+o")  # the same page where the terminal takes F11 for itself
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TextScreen), what="data page (ctrl+o)")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, what="back")


@pytest.mark.e2e
async def test_the_data_page_previews_a_hub_dataset_named_by_its_id(app, tmp_path, monkeypatch):
    """The Hub path is real: the child process loads the name through `datasets` (here from its cache, offline)."""
    from tests.support.hub_cache import cache_hub_dataset

    cache = tmp_path / "hf-datasets"
    cache_hub_dataset(cache, "someorg/sums", {"train": [{"instruction": f"What is {i} plus {i}?",
                                                         "output": f"{2 * i}."} for i in range(16)]})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "dataset", "someorg/sums")
        await wait_for(pilot, lambda: "dataset" not in screen.problems, what="a Hub name is not refused as typed")
        await pilot.press("f11")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, TextScreen), what="data page")
        page = pilot.app.screen
        await wait_for(pilot, lambda: "[[" in page.text or "no preview" in page.text, timeout=120,
                       what="the preview from the child process")
        assert "no preview" not in page.text and "plus" in page.text and "instruction format" in page.text


async def test_an_uncached_hub_model_with_no_network_is_refused_before_launch(app, tmp_path, monkeypatch):
    """A new user typed Qwen/Qwen2.5-0.5B on a machine without network: nothing was marked, F5 launched, and the run
    failed 50 s later after huggingface_hub's retries. The model field is checked off the main thread (one short
    connection attempt) and launch is refused in one line, as `train --dry-run` does."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: the Hub cannot be reached
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lora(pilot)
        await type_into(pilot, screen, "model", "someorg/not-cached-model")
        await wait_for(pilot, lambda: "model" in screen.problems, timeout=30, what="the model refused")
        assert "cannot be reached" in screen.problems["model"]
        assert screen.query_one("#launch").disabled
        await type_into(pilot, screen, "model", "")  # back to the built-in demo model
        await wait_for(pilot, lambda: "model" not in screen.problems, timeout=30, what="the refusal gone")
