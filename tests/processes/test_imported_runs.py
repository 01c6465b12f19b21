"""What an imported run trains, really trained on the demo model: the settings the importers write for another tool's
ways (axolotl leaves over-long examples out instead of cutting them)."""
from __future__ import annotations

import pytest

from console.config.run_config import build_config, parse_set, resolve
from console.runs.launcher import launch, wait
from console.runs.rundir import create_run
from tests.support.e2e_util import FAST


def _run(runs_dir, *extra, method="lora"):
    config = resolve(build_config(method, sets=parse_set(FAST + list(extra))))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    status = wait(run, timeout=180)
    assert status["phase"] == "done", (status, run.tail_log(30))
    return run, status


@pytest.mark.e2e
def test_drop_long_examples_leaves_the_long_ones_out_instead_of_cutting_them(runs_dir):
    run, status = _run(runs_dir, "max_length=40", "drop_long_examples=true", "max_steps=2", "eval_strategy=no",
                       "eval_on_start=false", "load_best_model_at_end=false")
    train = status["cut"]["train"]
    assert 0 < train["cut"] < train["examples"] and train["left_out"] is True and train["dropped"] == train["cut"]
    assert "are left out (drop_long_examples)" in status["cut_text"]
    log = "\n".join(run.tail_log(200))
    assert f"train: {train['examples']} examples" in log


@pytest.mark.e2e
def test_an_imported_axolotl_alpaca_config_trains_on_axolotls_prompt(capsys, tmp_path):
    """axolotl's `type: alpaca` imported and trained on the demo model: the rows go in as axolotl's Alpaca prompt
    (never through the chat template), over-long examples left out, the per-epoch counts as shares of the run."""
    from pathlib import Path

    from console.cli.main import main
    from console.runs.rundir import RunDir
    from tests.support.e2e_util import sets

    source = Path(__file__).parents[1] / "support" / "fixtures" / "foreign" / "axolotl" / "lora.yml"
    written = tmp_path / "ours.yaml"
    assert main(["import", str(source), "-o", str(written)]) == 0
    capsys.readouterr()
    code = main(["train", "--runs-dir", str(tmp_path / "runs"), "--config", str(written), "--set", "model=",
                 "--set", "attn_implementation=", *sets("eval_steps=0.5", "save_steps=0.5", "max_length=256")])
    out = capsys.readouterr().out
    assert code == 0, out
    run = RunDir(next((tmp_path / "runs").iterdir()))
    status = run.read_status_file()
    assert status["phase"] == "done" and status["data_format"] == "alpaca_prompt"
    log = "\n".join(run.tail_log(400))
    assert "alpaca_prompt format" in log and "through the chat template" not in log
