"""End to end: the real trainer process trains the demo model on the CPU for each method."""
import json

import pytest

from console.cli.main import main
from console.runs.metrics import load_history
from console.runs.rundir import list_run_dirs
from tests.support.e2e_util import sets

pytestmark = pytest.mark.e2e


def _train(runs_dir, method, *extra):
    code = main(["train", "--runs-dir", str(runs_dir), "--method", method, *sets(*extra)])
    runs = list_run_dirs(runs_dir)
    return code, runs[-1]


@pytest.mark.parametrize("method", ["full", "lora", "qlora", "adapter"])
def test_each_method_trains_and_saves_what_loads_back(trained, method):
    # the session's shared run of this method (tests/support/trained_runs.py), trained by `training-console train`
    code, out, run = trained.get(method).code, trained.get(method).out, trained.get(method).run
    assert code == 0, out + "\n".join(run.tail_log(30))
    status = run.status()
    assert status["phase"] == "done" and status["precision"] == "fp32"
    # no library noise in the log a failed run would show: bitsandbytes' optional-kernel notice, the tied lm_head
    # "missing" from the best checkpoint the demo model (tied embeddings) is loaded back from
    log = run.log_path.read_text()
    assert "kernels-community" not in log and "There were missing keys" not in log, log[-2000:]
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

        from console.data.demo_model import ensure_demo_model

        assert (model_dir / "adapter_config.json").exists()
        base = AutoModelForCausalLM.from_pretrained(ensure_demo_model())
        model = PeftModel.from_pretrained(base, model_dir)
    ids = torch.tensor([[1, 5, 6, 7]])
    assert torch.isfinite(model(input_ids=ids).logits).all()
    assert run.last_checkpoint() is not None
    # no blank card naming the base "[None]" (TRL's draft at every save, for a local base): export writes the card
    assert not any("huggingface.co/None" in card.read_text() for card in run.path.rglob("README.md"))
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
    final = records[-1]  # the console's own time in the training loop is reported, and is a small part of it
    assert "train_runtime" in final and 0 < final["console_seconds"] < 0.5 * final["train_runtime"]
    info = json.loads(run.run_json.read_text())
    assert info["method"] == "lora" and info["parent"] is None and info["command"]


@pytest.mark.parametrize("kind", ["ia3", "lokr"])
def test_other_adapter_types_train(runs_dir, kind):
    code, run = _train(runs_dir, "adapter", f"adapter_type={kind}", "max_steps=4", "eval_steps=2", "save_steps=2")
    assert code == 0, "\n".join(run.tail_log(30))


def test_local_model_folder_and_chat_dataset(runs_dir, tmp_path):
    """The Hub-name code path (from_pretrained by name) run on a local folder, with chat-format data."""
    import shutil

    from console.data.demo_model import ensure_demo_model

    model_dir = tmp_path / "my-model"
    shutil.copytree(ensure_demo_model(), model_dir)
    rows = [{"messages": [{"role": "user", "content": f"what is {i} plus {i}?"},
                          {"role": "assistant", "content": f"{2 * i}"}]} for i in range(60)]
    data = tmp_path / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = main(["train", "--runs-dir", str(runs_dir), "--model", str(model_dir), "--dataset", str(data),
                 *sets("max_steps=4", "eval_steps=2", "save_steps=2", "val_size=0.2")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    assert "chat format" in run.status()["data"] and "my-model" in run.status()["model"]


def test_text_csv_dataset_with_its_own_validation_file(runs_dir, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("body\n" + "\n".join(f"line number {i} says hello" for i in range(40)) + "\n")
    (folder / "validation.csv").write_text("body\n" + "\n".join(f"line {i} hello" for i in range(8)) + "\n")
    code = main(["train", "--runs-dir", str(runs_dir), "--dataset", str(folder),
                 *sets("max_steps=2", "eval_steps=2", "save_steps=2", "text_column=body", "max_samples=null")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    assert "40 train / 8 eval rows, text format" in run.status()["data"]


def test_unknown_hub_model_fails_with_one_line(runs_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # `train` refuses it before launch (not in the Hugging Face cache while the Hub is offline): no run folder
    code = main(["train", "--runs-dir", str(runs_dir), "--model", "no-such-org/no-such-model",
                 *sets("max_steps=2")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "no-such-org/no-such-model" in err and len(err.splitlines()) == 1
    assert not list_run_dirs(runs_dir) if runs_dir.exists() else True
    # a trainer given it anyway (the launch check passed: a network that answered, then went) fails in one line
    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.launcher import launch, wait
    from console.runs.rundir import create_run

    config = resolve(build_config("lora", sets=parse_set(["model=no-such-org/no-such-model", "max_steps=2"])))
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    status = wait(run, timeout=180)
    assert status["phase"] == "failed" and status["kind"] == "input", status
    assert "no-such-org/no-such-model" in status["message"] and "\n" not in status["message"]


def test_gradient_checkpointing_trains_with_lora(runs_dir):
    """The out-of-memory fix (gradient checkpointing) gives a run that really trains."""
    code, run = _train(runs_dir, "lora", "activation_checkpointing=true", "max_steps=4", "eval_steps=2",
                       "save_steps=2")
    assert code == 0, "\n".join(run.tail_log(30))


def test_sharegpt_rows_under_other_column_names_train_packed(runs_dir, tmp_path):
    rows = [{"dialog": [{"from": "human", "value": f"what is {i} plus {i}?"}, {"from": "gpt", "value": f"{2 * i}"}]}
            for i in range(60)]
    data = tmp_path / "sharegpt.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = main(["train", "--runs-dir", str(runs_dir), "--dataset", str(data),
                 *sets("max_steps=4", "eval_steps=2", "save_steps=2", "val_size=0.2", "max_samples=null",
                       "columns=conversations:dialog", "packing=true")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    status = run.status()
    assert "sharegpt format, through the chat template; loss on the answers only" in status["data"]
    assert status["cut"]["train"]["label_tokens"] < status["cut"]["train"]["tokens"]


def test_examples_longer_than_max_length_are_counted_and_said(runs_dir, capsys):
    code, run = _train(runs_dir, "lora", "max_length=24", "max_steps=2", "eval_steps=2", "save_steps=2")
    out = capsys.readouterr().out
    assert code == 0, "\n".join(run.tail_log(30))
    cut = run.status()["cut"]["train"]
    assert 0 < cut["cut"] <= cut["examples"] and cut["longest"] > 24
    assert f"warning: {cut['cut']} of {cut['examples']} train examples" in out and "longer than 24 tokens" in out


def test_a_max_length_that_leaves_no_answer_fails_with_one_line(runs_dir):
    code, run = _train(runs_dir, "lora", "max_length=8", "max_steps=2", "eval_steps=2", "save_steps=2")
    status = run.status()
    assert code == 1 and status["kind"] == "input", status
    assert "raise max_length" in status["message"] and "\n" not in status["message"]
    assert "Traceback" not in run.log_path.read_text()


def test_one_seed_gives_one_adapter(runs_dir):
    """peft draws an adapter's starting weights when it wraps the model: the trainer seeds before, so two runs of
    one config end with the same adapter (they differed: the Trainer seeded only after the adapter was made)."""
    from safetensors.torch import load_file

    adapters = []
    for _ in range(2):
        code, run = _train(runs_dir, "lora", "max_steps=1", "eval_strategy=no", "save_strategy=no", "sample_every=0")
        assert code == 0
        adapters.append(load_file(str(run.path / "model" / "adapter_model.safetensors")))
    import torch

    assert adapters[0].keys() == adapters[1].keys()
    assert all(torch.equal(adapters[0][k], adapters[1][k]) for k in adapters[0])


def test_a_short_run_logging_its_rate_twice_is_not_said_to_never_peak(runs_dir):
    """A 10-step run logs its learning rate at steps 1 (0.0, its one warmup step) and 10 (low again after the
    cosine): 'the learning rate never reached its peak: warmup took the whole run' was said of it (a new user's
    report). The defaults apart from the length, as the user ran it."""
    from console.loop.findings import run_findings

    code = main(["train", "--runs-dir", str(runs_dir), "--set", "max_steps=10", "--set", "eval_steps=5", "--set",
                 "sample_every=0"])
    assert code == 0
    run = list_run_dirs(runs_dir)[-1]
    assert len(load_history(run.metrics_path).learning_rate.values) >= 2
    assert "lr_never_peaked" not in {f.problem for f in run_findings(run)}
