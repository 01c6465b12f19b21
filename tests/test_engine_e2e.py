"""End to end: the real trainer process trains the demo model on the CPU for each method."""
import json

import pytest

from console.cli import main
from console.metrics import load_history
from console.rundir import list_run_dirs
from tests.e2e_util import sets

pytestmark = pytest.mark.e2e


def _train(runs_dir, method, *extra):
    code = main(["train", "--runs-dir", str(runs_dir), "--method", method, *sets(*extra)])
    runs = list_run_dirs(runs_dir)
    return code, runs[-1]


@pytest.mark.parametrize("method", ["full", "lora", "qlora", "adapter"])
def test_each_method_trains_and_saves_what_loads_back(runs_dir, method, capsys):
    extra = ("learning_rate=1e-3",) if method == "full" else ()
    code, run = _train(runs_dir, method, *extra)
    out = capsys.readouterr().out
    assert code == 0, out + "\n".join(run.tail_log(30))
    status = run.status()
    assert status["phase"] == "done" and status["precision"] == "fp32"
    history = load_history(run.metrics_path)
    assert len(history.train_loss) >= 3 and len(history.eval_loss) >= 2
    assert history.max_steps == 8
    assert "done at step 8" in out
    model_dir = run.path / "model"
    import torch
    from transformers import AutoModelForCausalLM

    if method == "full":
        model = AutoModelForCausalLM.from_pretrained(model_dir)
    else:
        from peft import PeftModel
        from console.demo_model import ensure_demo_model

        assert (model_dir / "adapter_config.json").exists()
        base = AutoModelForCausalLM.from_pretrained(ensure_demo_model())
        model = PeftModel.from_pretrained(base, model_dir)
    ids = torch.tensor([[1, 5, 6, 7]])
    assert torch.isfinite(model(input_ids=ids).logits).all()
    assert run.last_checkpoint() is not None
    if method == "adapter":
        cfg = json.loads((model_dir / "adapter_config.json").read_text())
        assert cfg["peft_type"] == "LOHA"


def test_lora_curve_falls_and_metrics_have_the_fields(runs_dir):
    code, run = _train(runs_dir, "lora", "learning_rate=2e-3", "max_steps=16")
    assert code == 0
    records = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    train = [r for r in records if "loss" in r and "train_runtime" not in r]
    assert train[-1]["loss"] < train[0]["loss"]
    assert all("learning_rate" in r and "grad_norm" in r and "time" in r and "epoch" in r for r in train)
    assert any("samples_per_second" in r for r in train)
    assert any("eval_loss" in r for r in records)
    info = json.loads(run.run_json.read_text())
    assert info["method"] == "lora" and info["parent"] is None and info["command"]


@pytest.mark.parametrize("kind", ["ia3", "lokr"])
def test_other_adapter_types_train(runs_dir, kind):
    code, run = _train(runs_dir, "adapter", f"adapter_type={kind}", "max_steps=4", "eval_steps=2", "save_steps=2")
    assert code == 0, "\n".join(run.tail_log(30))
