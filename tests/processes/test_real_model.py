"""A short LoRA fine-tune of a real pretrained model (SmolLM2-135M-Instruct) through the console's CLI.

Opt-in: it runs only where bench/real_model.py has built the model (`python bench/real_model.py build`), so CI
stays on the demo model. What it shows that the demo cannot: with a real chat template whose pad token is its end
token, the loss falls on the answers alone, the end token among them, and the eval loss falls.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import real_model  # noqa: E402

# Looked up at import, before conftest points the cache at a temporary folder for the demo model.
MODEL = real_model.real_model_dir()
pytestmark = [pytest.mark.real, pytest.mark.e2e,
              pytest.mark.skipif(not real_model.is_cached(MODEL.parent),
                                 reason="real model not built: python bench/real_model.py build")]


def test_a_short_lora_on_the_real_model_learns_the_answers(tmp_path, capsys):
    from console.cli.main import main
    from console.runs.history_store import load as load_stored_history
    from console.runs.metrics import load_history
    from console.runs.rundir import list_run_dirs

    data = real_model.build_dataset(tmp_path / "data", n_train=48, n_eval=8)["chat"]
    runs = tmp_path / "runs"
    code = main(["train", "--runs-dir", str(runs), "--method", "lora", "--model", str(MODEL),
                 "--dataset", str(data), "--set", "max_steps=6", "--set", "eval_steps=6", "--set", "save_steps=6",
                 "--set", "eval_on_start=true", "--set", "logging_steps=2", "--set", "max_length=192",
                 "--set", "per_device_train_batch_size=4", "--set", "gradient_accumulation_steps=1",
                 "--set", "learning_rate=3e-4"])
    out = capsys.readouterr().out
    run = list_run_dirs(runs)[-1]
    assert code == 0, out + "\n".join(run.tail_log(30))
    assert "chat format, through the chat template; loss on the answers only" in out
    status = run.status()
    report = status["cut"]["train"]
    assert report["cut"] == 0 and report["label_tokens"] < report["tokens"] / 2  # the prompts carry no loss
    evals = load_history(run.metrics_path).eval_loss.values
    assert len(evals) >= 2 and evals[-1] < evals[0], evals
    # the history the trainer stored at its end (what the console opens the run from) is the whole log's
    stored, covered = load_stored_history(run.path)
    assert covered == run.metrics_path.stat().st_size and stored.eval_loss.values == evals
    assert (run.path / "model" / "adapter_config.json").exists()
    assert json.loads((run.path / "model" / "adapter_config.json").read_text())["peft_type"] == "LORA"
