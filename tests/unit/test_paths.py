"""Paths the user gives are resolved in the user's working folder, before the config is saved.

The trainer's working folder is the run folder: a relative path left as typed would fail there, late (dataset), or
be sent to the Hub as a repository name (model). These tests run the real CLI from one folder and train from it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.cli.main import main
from console.config.paths import looks_local, resolve_path
from console.config.run_config import build_config, load_run_config
from console.runs.rundir import list_run_dirs
from tests.support.e2e_util import sets

ROWS = [{"prompt": f"Say the number {i}.", "completion": f"The number is {i}."} for i in range(40)]


def _data(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_resolution_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    _data(tmp_path / "data.jsonl")
    assert resolve_path("./data.jsonl") == str(tmp_path / "data.jsonl")
    assert resolve_path("data.jsonl") == str(tmp_path / "data.jsonl")  # exists here: local
    assert resolve_path("../x/../data.jsonl") == str(tmp_path.parent / "data.jsonl")
    assert resolve_path("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"  # a Hub name stays
    # models/ is a folder here, so models/x is local even though it does not exist: never sent to the Hub
    assert looks_local("models/x") and resolve_path("models/x") == str(tmp_path / "models" / "x")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("~/d.jsonl") == str(tmp_path / "home" / "d.jsonl")
    assert resolve_path(None) is None and resolve_path("") == ""


def test_every_way_of_giving_a_path_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _data(tmp_path / "d" / "train.jsonl")
    conf = tmp_path / "conf.yaml"
    conf.write_text("dataset: d/train.jsonl\naccelerate_config: ./acc.yaml\n")
    (tmp_path / "acc.yaml").write_text("distributed_type: MULTI_GPU\n")  # a missing one is refused (test_scale)
    c = build_config("lora", config_file=str(conf), model="./m")
    assert c.values["dataset"] == str(tmp_path / "d" / "train.jsonl")
    assert c.values["accelerate_config"] == str(tmp_path / "acc.yaml")
    assert c.values["model"] == str(tmp_path / "m")
    c = build_config("lora", sets={"dataset": "./d"})
    assert c.values["dataset"] == str(tmp_path / "d")


def test_a_local_looking_model_that_is_missing_is_refused_not_fetched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    code = main(["train", "--runs-dir", str(tmp_path / "runs"), "--dry-run", "--model", "models/x"])
    err = capsys.readouterr().err
    assert code == 2 and f"model {tmp_path / 'models' / 'x'} not found" in err


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["relative", "home"])
def test_the_cli_trains_from_another_folder_with_relative_and_home_paths(tmp_path, monkeypatch, capsys, how):
    from console.data.demo_model import ensure_demo_model

    work = tmp_path / "work"
    shutil.copytree(ensure_demo_model(), work / "models" / "tiny")
    if how == "relative":
        _data(work / "data.jsonl")
        dataset, model = "./data.jsonl", "models/tiny"
    else:
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        _data(tmp_path / "home" / "data" / "rows.jsonl")
        dataset, model = "~/data/rows.jsonl", str(work / "models" / "tiny")
    monkeypatch.chdir(work)
    runs = tmp_path / "elsewhere" / "runs"
    code = main(["train", "--runs-dir", str(runs), "--dataset", dataset, "--model", model, *sets()])
    out = capsys.readouterr().out
    run = list_run_dirs(runs)[-1]
    assert code == 0, out + "\n".join(run.tail_log(30))
    values = load_run_config(run.path).values
    assert Path(values["dataset"]).is_absolute() and Path(values["dataset"]).is_file()
    assert values["model"] == str(work / "models" / "tiny")
    assert "prompt_completion format" in out and run.status()["phase"] == "done"
