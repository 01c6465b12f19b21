"""The dataset format registry (console/data/formats): every format one entry that the rest reads, and the run's
format carried as a typed status.json key (data_format), never read back from the trainer's sentence."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.config.fields import all_fields
from console.config.foreign import TOOLS
from console.data.formats import FALLBACK, FORMATS, RECORD_KEYS, REGISTRY, detect_format, get_format, known_as
from console.runs.rundir import RunDir
from console.tools.chat_plan import data_format, format_prompt, prompt_layout

# -- the registry ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", REGISTRY, ids=lambda f: f.name)
def test_every_entrys_columns_detect_back_to_itself(fmt):
    needed = [alternatives[0] for alternatives in fmt.needs]
    if not fmt.auto_detect:  # chosen by name only: its columns are another entry's, which detection keeps
        assert detect_format(needed) != fmt.name and detect_format(needed, wanted=fmt.name) == fmt.name
        return
    assert detect_format(needed) == fmt.name
    assert detect_format(needed + list(fmt.optional) + ["id"]) == fmt.name
    for i, alternatives in enumerate(fmt.needs):  # any of a needed column's alternatives will do
        for other in alternatives:
            assert detect_format(needed[:i] + [other] + needed[i + 1:]) == fmt.name
    assert detect_format(list(fmt.example("Hi"))) == fmt.name  # the row a chat prompt is laid out from
    assert detect_format(needed, wanted=fmt.name) == fmt.name


@pytest.mark.parametrize("fmt", REGISTRY, ids=lambda f: f.name)
def test_every_entry_lays_out_a_chat_prompt_and_says_what_carries_the_loss(fmt):
    for template in (True, False):
        prompt = fmt.chat_prompt("Name a colour.", template)
        assert prompt and ("Name a colour." in prompt if isinstance(prompt, str) else
                           prompt[-1] == {"role": "user", "content": "Name a colour."})
        assert fmt.prompt_layout(template).startswith(("as ", "in "))
        assert fmt.record_kind(template, False) in RECORD_KEYS
    assert fmt.loss_on(False) and fmt.loss_on(True).startswith("every token")
    assert fmt.help and "\n" not in fmt.help


def test_the_dataset_format_setting_is_the_registry():
    spec = all_fields()["dataset_format"]
    assert spec.choices == ("auto", *FORMATS)
    assert all(f"{f.name} ({f.help})" in spec.help for f in REGISTRY)


def test_other_tools_names_point_at_our_formats():
    tools = {tool.name for tool in TOOLS}
    for fmt in REGISTRY:
        assert set(fmt.known_as) <= tools, fmt.name  # a misspelt tool would never be looked up
    for tool in tools:
        assert all(get_format(ours.name) is ours for ours in known_as(tool).values())


# -- the run's format: status.json's data_format -------------------------------------------------------------------

def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_status_data_format_gives_the_chat_its_format_without_reading_the_dataset(tmp_path, monkeypatch):
    import console.data.preflight as preflight

    def never(*args, **kwargs):
        raise AssertionError("the dataset was read")

    monkeypatch.setattr(preflight, "local_format", never)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_status("done", data="12 train / 2 eval rows, chat format; loss on the answers only",
                     data_format="sharegpt")
    values = {"dataset": str(tmp_path / "gone.jsonl")}
    assert data_format(values, run.read_status_file()) == "sharegpt"
    assert data_format({**values, "dataset_format": "instruction"}, {"data_format": "sharegpt"}) == "instruction"


def test_an_old_status_without_data_format_detects_from_the_columns_never_from_the_sentence(tmp_path):
    data = _write(tmp_path / "d.jsonl", [{"conversations": [{"from": "human", "value": "Hi"},
                                                            {"from": "gpt", "value": "Hello"}]}])
    old = {"phase": "done", "data": "40 train / 4 eval rows, instruction format; loss on the answers only"}
    assert data_format({"dataset": data}, old) == "sharegpt"  # the columns, not the sentence's word
    assert data_format({"dataset": str(tmp_path / "gone.jsonl")}, old) == FALLBACK
    assert data_format({"dataset": data}, {"data_format": "no-such-format"}) == "sharegpt"
    assert format_prompt("Hi", "no-such-format", False) == format_prompt("Hi", FALLBACK, False)
    assert prompt_layout("sharegpt", False) == prompt_layout("chat", False)


JSON_NOT_TEXT = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False),
                             lambda children: st.lists(children, max_size=3)
                             | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=6)


@settings(max_examples=60, deadline=None)
@given(value=JSON_NOT_TEXT, text=st.text(max_size=30))
def test_the_status_reader_keeps_a_string_data_format_and_drops_any_other(value, text):
    with tempfile.TemporaryDirectory() as folder:
        run = RunDir(Path(folder))
        run.status_json.write_text(json.dumps({"phase": "done", "step": 3, "data_format": value}), encoding="utf-8")
        status = run.read_status_file()
        assert "data_format" not in status and status["step"] == 3  # the rest of the file is still read
        run.status_json.write_text(json.dumps({"phase": "done", "data_format": text}), encoding="utf-8")
        assert run.read_status_file()["data_format"] == text
        assert data_format({"dataset_format": "auto", "dataset": "org/hub-data"}, {"data_format": value}) == FALLBACK


@pytest.mark.e2e
def test_the_trainer_writes_the_data_format_it_found(trained):
    run = trained.finished("lora")  # the demo dataset: instruction rows
    assert run.read_status_file()["data_format"] == "instruction"
