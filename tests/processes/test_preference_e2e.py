"""End to end: preference training (DPO, KTO) really trains the demo model on the CPU through `training-console
train`, in the same run folder, callback and samples as supervised fine-tuning."""
import json

import pytest

from console.cli.main import main
from console.config.run_config import load_run_config
from console.loop.findings import run_findings
from console.runs.metrics import load_history
from console.runs.progress import progress, progress_line
from console.runs.rundir import list_run_dirs
from tests.support.e2e_util import sets

pytestmark = pytest.mark.e2e


def _train(runs_dir, method, dataset, *extra):
    code = main(["train", "--runs-dir", str(runs_dir), "--method", method, "--dataset", dataset,
                 *sets("learning_rate=1e-3", *extra)])
    return code, list_run_dirs(runs_dir)[-1]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_dpo_trains_on_pairs_and_logs_the_preference_curves(runs_dir, method, capsys):
    code, run = _train(runs_dir, method, "demo-pairs", *(["learning_rate=1e-4"] if method == "full" else []))
    out = capsys.readouterr().out
    assert code == 0, out + "\n".join(run.tail_log(40))
    config = load_run_config(run.path)
    assert config.objective == "dpo" and config.values["beta"] == 0.1 and config.values["loss_type"] == "sigmoid"
    assert "objective sft -> dpo" in out  # said, with the preset's numbers it laid over the method's
    log = run.log_path.read_text()
    assert "DPO: beta 0.1, loss sigmoid" in log
    reference = "frozen copy of the starting model" if method == "full" else "adapter at its starting weights"
    assert reference in log
    history = load_history(run.metrics_path)
    assert history.preference and len(history.reward_margin) >= 3 and len(history.eval_reward_accuracy) >= 2
    assert history.max_steps == 8 and run.status()["phase"] == "done"
    line = progress_line(progress(history))
    assert "margin " in line and "pairs right " in line and "ppl" not in line  # the CLI's progress line
    assert "margin " in out
    samples = [json.loads(x) for x in (run.path / "samples.jsonl").read_text().splitlines()]
    assert {s["step"] for s in samples} >= {0, 8}  # the same sample answers as SFT, the chosen answer as reference
    assert (run.path / "model" / ("adapter_config.json" if method == "lora" else "config.json")).exists()
    # a preference run's findings never come from the SFT loss-shape rules (its loss is not a token loss)
    assert all(f.problem not in ("stuck", "slow", "not_decreasing", "overfitting")
               for f in run_findings(run, config))
    if method == "lora":  # export and inspect read a preference run as they read a supervised one
        target = runs_dir.parent / "exported"
        assert main(["export", run.id, "--runs-dir", str(runs_dir), "--to", str(target)]) == 0
        assert (target / "adapter_config.json").exists() and (target / "adapter_model.safetensors").exists()
        card = (target / "README.md").read_text()  # it said "sft" and "(supervised fine-tuning)" of a DPO run
        assert "- dpo" in card and "DPO on preference pairs" in card and "supervised fine-tuning" not in card
        state = run.last_checkpoint() / "trainer_state.json"
        capsys.readouterr()
        assert main(["inspect", str(state)]) == 0  # inside one of our runs: that run's own config
        assert f"the config.yaml of run {run.id}" in capsys.readouterr().out
        import shutil

        foreign = runs_dir.parent / "elsewhere"  # the same log out of its run: a preference log, read as DPO's
        foreign.mkdir()
        shutil.copy(state, foreign / "trainer_state.json")
        assert main(["inspect", str(foreign / "trainer_state.json")]) == 0
        assert "DPO with LoRA preset" in capsys.readouterr().out


def test_kto_trains_on_labelled_answers(runs_dir, capsys):
    code, run = _train(runs_dir, "lora", "demo-kto")
    out = capsys.readouterr().out
    assert code == 0, out + "\n".join(run.tail_log(40))
    assert load_run_config(run.path).objective == "kto"
    assert "desirable and" in run.log_path.read_text()
    history = load_history(run.metrics_path)
    assert history.preference and len(history.kl) >= 1 and run.status()["phase"] == "done"


def test_kto_also_trains_on_pairs_when_asked(runs_dir, capsys):
    code, run = _train(runs_dir, "lora", "demo-pairs", "objective=kto")
    assert code == 0, capsys.readouterr().out + "\n".join(run.tail_log(40))
    assert load_run_config(run.path).objective == "kto"


def test_dpo_from_a_finished_sft_run_trains_its_adapter_further(trained, capsys):
    sft = trained.finished("lora")  # the session's shared LoRA SFT run
    runs_dir = sft.path.parent
    code = main(["train", "--runs-dir", str(runs_dir), "--from", sft.id, "--dataset", "demo-pairs",
                 *sets("learning_rate=1e-3")])
    out = capsys.readouterr().out
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0 and run.id != sft.id, out + "\n".join(run.tail_log(40))
    log = run.log_path.read_text()
    assert f"starting from the adapter {sft.path / 'model'}" in log and "objective dpo" in log
    info = run.read_info()
    assert info["parent"] == sft.id and info["fixes"][0]["id"] == "from_model"
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from console.data.demo_model import ensure_demo_model

    # the DPO run's adapter is the SFT adapter trained further: same shape, other values
    before = load_file(str(sft.path / "model" / "adapter_model.safetensors"))
    after = load_file(str(run.path / "model" / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(ensure_demo_model()), run.path / "model")
    assert torch.isfinite(model(input_ids=torch.tensor([[1, 5, 6, 7]])).logits).all()


def test_from_refuses_flags_that_would_replace_the_runs_own_settings(trained, capsys):
    sft = trained.finished("lora")
    code = main(["train", "--runs-dir", str(sft.path.parent), "--from", sft.id, "--model", "x", "--dry-run"])
    assert code == 2 and "--model does not go with --from" in capsys.readouterr().err


def test_a_dpo_run_killed_resumes_from_its_checkpoint_to_the_end(runs_dir):
    import os
    import signal

    from console.config.run_config import build_config, parse_set, resolve
    from console.runs.launcher import check_resumable, launch, wait
    from console.runs.rundir import create_run
    from tests.support.e2e_util import FAST, wait_for

    config = resolve(build_config("lora", None, parse_set(FAST + ["max_steps=40", "logging_steps=2", "save_steps=6",
                                                                  "eval_steps=6", "learning_rate=1e-3"]),
                                  None, "demo-pairs"))
    assert config.objective == "dpo"
    run = create_run(runs_dir, config, command=["test"])
    launch(run)
    wait_for(lambda: run.last_checkpoint() is not None and len(load_history(run.metrics_path).reward_margin) >= 4,
             timeout=180)
    os.killpg(run.read_status_file()["pid"], signal.SIGKILL)
    wait_for(lambda: run.status()["phase"] == "failed", timeout=20)
    checkpoint = int(run.last_checkpoint().name.split("-")[1])
    check_resumable(run)
    launch(run, resume=True)
    assert wait(run, timeout=300)["phase"] == "done", run.tail_log(30)
    margins = load_history(run.metrics_path).reward_margin.steps
    assert margins[-1] == 40 and margins == sorted(margins) and any(s > checkpoint for s in margins)
    assert f"resuming from {run.checkpoints / f'checkpoint-{checkpoint}'}" in run.log_path.read_text()


def test_early_stopping_ends_a_dpo_run_on_its_eval_loss(runs_dir, capsys):
    # a learning rate far too high for DPO: the eval loss turns up; patience 1 ends the run before max_steps
    code, run = _train(runs_dir, "full", "demo-pairs", "learning_rate=0.05", "max_steps=60", "eval_steps=2",
                       "save_steps=2", "early_stopping_patience=1")
    assert code == 0, capsys.readouterr().out + "\n".join(run.tail_log(30))
    status = run.status()
    assert status["phase"] == "done" and status["step"] < 60, status
    assert status.get("best_checkpoint")


def test_two_processes_train_dpo_with_one_writer(runs_dir, capsys):
    code = main(["train", "--runs-dir", str(runs_dir), "--processes", "2", "--dataset", "demo-pairs",
                 *sets("max_steps=4", "logging_steps=1", "eval_steps=2", "save_steps=2", "learning_rate=1e-3")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, capsys.readouterr().out + "\n".join(run.tail_log(40))
    history = load_history(run.metrics_path)
    assert history.reward_margin.steps == [1, 2, 3, 4]  # each step once: only rank 0 writes
    assert run.log_path.read_text().count("[console] done: step 4") == 1
