"""Several datasets in one run (a repeated --dataset, `dataset:` as a list), and slices of a split (datasets' own
`train[:10%]` syntax), read by the trainer's own preparation on the demo model's tokenizer."""
from __future__ import annotations

import json

import pytest

from console.cli.main import main
from console.common.errors import ConfigError, DataError
from console.config.analysis import analyse, cli_command
from console.config.run_config import build_config, load_run_config
from console.data.sources import DatasetEntry, as_setting, entries_of

pytest.importorskip("datasets")


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture()
def files(tmp_path):
    """An instruction file of 100 rows and a chat file of 60 conversations of two answers each."""
    instructions = write(tmp_path / "instructions.jsonl",
                         [{"instruction": f"question {i}", "output": f"answer {i}"} for i in range(100)])
    chats = write(tmp_path / "chats.jsonl", [{"messages": [
        {"role": "user", "content": f"hello {i}"}, {"role": "assistant", "content": f"hi {i}"},
        {"role": "user", "content": "and then?"}, {"role": "assistant", "content": f"bye {i}"}]} for i in range(60)])
    return instructions, chats


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from console.data.demo_model import ensure_demo_model

    return AutoTokenizer.from_pretrained(ensure_demo_model())


def prepare(values, tokenizer, need_eval=False):
    from console.data.prepare import prepare as prepare_records

    return prepare_records(values, tokenizer, need_eval)


def test_a_repeated_dataset_option_keeps_every_dataset(files, capsys):
    instructions, chats = files
    config = build_config(dataset=[instructions, chats])
    assert config.values["dataset"] == [instructions, chats]
    code = main(["train", "--dataset", instructions, "--dataset", chats, "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 datasets mixed" in out and "instructions.jsonl: 100 rows, instruction" in out
    assert "chats.jsonl: 60 rows, chat format" in out


def test_mixed_datasets_train_every_row_of_each_in_its_own_format(files, tokenizer):
    instructions, chats = files
    train, _, info = prepare({"dataset": [instructions, chats]}, tokenizer)
    # a conversation is one example (its two answers in the loss), mixed with the instructions through the template
    assert info.rows == 160 and info.examples == len(train) == 100 + 60
    assert [(s["fmt"], s["rows"], s["examples"]) for s in info.sources] == [
        ("instruction", 100, 100), ("chat", 60, 60)]
    assert "2 datasets mixed" in info.describe()
    texts = [tokenizer.decode(rec["input_ids"]) for rec in train]
    assert sum("question" in t for t in texts) == 100 and sum("and then?" in t for t in texts) == 60
    # shuffled: the first 40 examples are not all from the first file
    assert 0 < sum("question" in t for t in texts[:40]) < 40


def test_a_config_file_lists_datasets_each_with_its_own_columns_split_and_rows(files, tmp_path, tokenizer):
    instructions, chats = files
    qa = write(tmp_path / "qa.jsonl", [{"q": f"what {i}?", "a": f"this {i}"} for i in range(10)])
    config_file = tmp_path / "run.yaml"
    config_file.write_text(
        "dataset:\n"
        f"  - path: {instructions}\n    split: train[:10%]\n"
        f"  - path: {chats}\n    rows: 5\n"
        f"  - path: {qa}\n    format: prompt_completion\n    columns: prompt:q,completion:a\n    share: 2\n")
    config = build_config(config_file=str(config_file))
    entries = entries_of(config.values)
    assert [(e.split, e.rows, e.share, e.format) for e in entries] == [
        ("train[:10%]", None, None, "auto"), (None, 5, None, "auto"), (None, None, 2, "prompt_completion")]
    assert any("3 datasets mixed" in line for line in analyse(config))
    _, _, info = prepare(config.values, tokenizer)
    assert [(s["fmt"], s["rows"]) for s in info.sources] == [("instruction", 10), ("chat", 5),
                                                               ("prompt_completion", 20)]
    # the saved config reads back as it was written, and its command line rebuilds it
    path = tmp_path / "run"
    path.mkdir()
    config.save(path / "config.yaml")
    assert load_run_config(path).values["dataset"] == config.values["dataset"]
    line = cli_command(config)
    assert "--set 'dataset=[" in line


@pytest.mark.parametrize("value,words", [
    ("[{paht: a.jsonl}]", "'paht' is not a dataset's key"),
    ("[{path: a.jsonl, rows: 0}]", "rows must be a whole number"),
    ("[{path: a.jsonl, rows: 3, share: 0.5}]", "rows or share, not both"),
    ("[{path: a.jsonl, format: alpaka}]", "format 'alpaka' is not one of"),
    ("[{path: a.jsonl, split: 'train[:10'}]", "is not a split name"),
    ("[{rows: 3}]", "needs a path"),
])
def test_a_wrong_dataset_entry_is_one_line_naming_it(value, words):
    with pytest.raises(ConfigError) as err:
        build_config(sets={"dataset": value})
    assert words in str(err.value) and "\n" not in str(err.value)


def test_datasets_giving_different_kinds_of_examples_are_refused_in_one_line(files, tmp_path, tokenizer):
    instructions, _ = files
    text = write(tmp_path / "notes.jsonl", [{"text": f"note {i}"} for i in range(10)])
    with pytest.raises(DataError, match="different kinds of examples") as err:
        prepare({"dataset": [instructions, text]}, tokenizer)
    assert "\n" not in str(err.value)


def test_a_mixed_run_holds_out_evaluation_rows_from_each_dataset(files, tokenizer):
    instructions, chats = files
    train, evaluation, info = prepare({"dataset": [instructions, chats], "val_size": 0.1}, tokenizer,
                                      need_eval=True)
    assert [s["eval_examples"] for s in info.sources] == [10, 6]
    assert len(evaluation) == 16 and info.rows == 90 + 54


def test_importers_build_entries_and_get_the_setting():
    entries = [DatasetEntry("/d/a.jsonl"), DatasetEntry("/d/b.json", format="sharegpt", rows=10)]
    value = as_setting(entries)
    assert value == ["/d/a.jsonl", {"path": "/d/b.json", "format": "sharegpt", "rows": 10}]
    assert build_config(sets={"dataset": value}).values["dataset"] == value
    assert as_setting([DatasetEntry("/d/a.jsonl")]) == "/d/a.jsonl"


def test_the_run_folder_and_runs_list_name_every_dataset(files, tmp_path, capsys):
    from console.config.run_config import resolve
    from console.runs.progress import run_summary
    from console.runs.rundir import create_run

    instructions, chats = files
    run = create_run(tmp_path / "runs", resolve(build_config(dataset=[instructions, chats])))
    assert run_summary(run)["data"] == "instructions.jsonl + chats.jsonl"
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "[instructions.jsonl + chats.jsonl]" in capsys.readouterr().out


# -- slices --------------------------------------------------------------------------------------------------------

def test_a_slice_of_a_local_file_is_taken_by_datasets(files, tokenizer):
    instructions, _ = files
    _, _, info = prepare({"dataset": instructions, "dataset_split": "train[:10%]"}, tokenizer)
    assert info.rows == 10
    train, _, info = prepare({"dataset": instructions, "dataset_split": "train[20:30]"}, tokenizer)
    assert [rec["prompt"][-1]["content"] for rec in train] == [f"question {i}" for i in range(20, 30)]
    assert info.rows == 10


def test_a_slice_keeps_the_folders_validation_split_for_evaluation(tmp_path, tokenizer):
    folder = tmp_path / "data"
    folder.mkdir()
    write(folder / "train.jsonl", [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(50)])
    write(folder / "validation.jsonl", [{"prompt": f"v{i}", "completion": f"w{i}"} for i in range(7)])
    _, evaluation, info = prepare({"dataset": str(folder), "dataset_split": "train[:40%]"}, tokenizer,
                                  need_eval=True)
    assert info.rows == 20 and len(evaluation) == 7


@pytest.mark.parametrize("split,words", [
    ("train[:10", "is not a split name with an optional slice"),
    ("validation", "has no split 'validation': its splits are train"),
])
def test_a_wrong_split_fails_the_dry_run_in_one_line(files, capsys, split, words):
    instructions, _ = files
    code = main(["train", "--dataset", instructions, "--set", f"dataset_split={split}", "--dry-run"])
    out = capsys.readouterr()
    assert code != 0 and words in out.err and "Traceback" not in out.err + out.out


def test_a_slice_datasets_cannot_take_is_one_line_from_the_trainer(files, tokenizer):
    instructions, _ = files
    with pytest.raises(DataError, match="split 'train\\[:200%\\]' cannot be read"):
        prepare({"dataset": instructions, "dataset_split": "train[:200%]"}, tokenizer)
