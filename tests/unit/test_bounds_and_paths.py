"""Bounds and paths: a JSON array holding a row past the row bound is refused before launch in one line (it took
the trainer past 3 GB), and a sample_prompts file resolves like the other paths (a relative name sampled the
file's name itself, from the run folder)."""
from __future__ import annotations

import json

import pytest

from console.cli.main import main
from console.config.run_config import build_config


def test_a_json_array_with_a_row_past_the_bound_fails_the_dry_run_in_one_line(tmp_path, capsys, monkeypatch):
    import console.data.preflight as preflight

    monkeypatch.setattr(preflight, "MAX_ROW_CHARS", 4096)  # the bound (16 MiB) scaled down with the file
    data = tmp_path / "one.json"
    data.write_text(json.dumps([{"text": "word " * 2000}]))
    code = main(["train", "--dataset", str(data), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "row 1 is longer than 4 KiB" in err and len(err.splitlines()) == 1
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"text": f"row {i}"} for i in range(200)]))
    assert main(["train", "--dataset", str(many), "--dry-run"]) == 0


@pytest.mark.parametrize("name", ["my_prompts.txt", "prompts/mine.jsonl"])
def test_a_sample_prompts_file_is_made_absolute_where_it_is_given(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    config = build_config(sets={"sample_prompts": name})
    assert config.values["sample_prompts"] == str(tmp_path / name)


def test_a_prompt_and_a_list_of_prompts_stay_as_they_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert build_config(sets={"sample_prompts": "What is two plus two?"}).values["sample_prompts"] == \
        "What is two plus two?"
    (tmp_path / "notes").write_text("What is it?\n")  # a file that is there, whatever its name
    assert build_config(sets={"sample_prompts": "notes"}).values["sample_prompts"] == str(tmp_path / "notes")
    assert build_config(sets={"sample_prompts": "[a, b]"}).values["sample_prompts"] == ["a", "b"]


def test_the_trainer_reads_the_resolved_file_from_its_run_folder(tmp_path, monkeypatch):
    from console.runs.samples import user_prompts

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_prompts.txt").write_text("First?\nSecond?\n")
    value = build_config(sets={"sample_prompts": "my_prompts.txt"}).values["sample_prompts"]
    monkeypatch.chdir(tmp_path.parent)  # the trainer's working folder is the run folder, elsewhere
    assert [shown for _, shown, _ in user_prompts(value, chat=True)] == ["First?", "Second?"]


def test_a_parquet_file_with_a_row_past_the_bound_fails_the_dry_run_in_one_line(tmp_path, capsys, monkeypatch):
    """Parquet was not checked before launch at all: its rows are bounded from the footer's row-group sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import console.data.preflight as preflight

    monkeypatch.setattr(preflight, "MAX_ROW_CHARS", 4096)
    big = tmp_path / "one.parquet"
    pq.write_table(pa.table({"text": ["word " * 2000]}), big, compression="zstd")  # small on disk, big in memory
    assert big.stat().st_size < 4096
    code = main(["train", "--dataset", str(big), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "a row is longer than" in err and "row group 0" in err and len(err.splitlines()) == 1
    many = tmp_path / "many.parquet"
    pq.write_table(pa.table({"instruction": [f"q{i}" for i in range(200)], "output": ["a"] * 200}), many)
    assert main(["train", "--dataset", str(many), "--dry-run"]) == 0
    assert preflight.local_format(str(many)) == "instruction"  # its columns are read now, so its format is known


def test_a_file_named_parquet_that_is_not_one_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet at all\n")
    assert main(["train", "--dataset", str(bad), "--dry-run"]) != 0
    err = capsys.readouterr().err.strip()
    assert "not a readable parquet file" in err and len(err.splitlines()) == 1
