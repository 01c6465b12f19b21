"""DPO from a finished run's model (`p` on the training screen, `train --from RUN`) takes the model from that run and
its training settings from the DPO preset: a new user's DPO run from the overfitting demo's SFT run carried its
learning rate 5e-3, 100 epochs and no warmup (DPO's range is 1e-7 to 1e-6)."""
from __future__ import annotations

from console.config.run_config import build_config, resolve
from console.loop.next_run import from_model
from console.runs.rundir import create_run


def _finished(tmp_path, sets: dict):
    config = resolve(build_config("lora", sets={k: str(v) for k, v in sets.items()}))
    run = create_run(tmp_path / "runs", config, command=["test"])
    model = run.path / "model"
    model.mkdir()
    (model / "adapter_config.json").write_text("{}")
    (model / "adapter_model.safetensors").write_bytes(b"x" * 16)
    run.write_status("done", step=10)
    return run


def test_dpo_from_a_run_takes_its_model_and_the_dpo_presets_training_settings(tmp_path):
    run = _finished(tmp_path, {"learning_rate": 5e-3, "num_train_epochs": 100, "warmup_steps": 0, "max_samples": 32,
                               "max_length": 384, "lora_r": 32, "model": str(tmp_path / "my-model")})
    (tmp_path / "my-model").mkdir()
    new = from_model(run, "dpo", dataset="demo-pairs")
    fresh = build_config("lora", sets={"objective": "dpo"})
    assert new.objective == "dpo" and new.parent == run.id
    for key in ("learning_rate", "num_train_epochs", "warmup_steps", "logging_steps"):  # DPO's, not the SFT run's
        assert new.values.get(key) == fresh.values.get(key), key
    # logged as a share of the run: a 34-step DPO logged 4 times at the common 10 and was never judged
    assert new.values["logging_steps"] == 0.02
    assert new.values.get("max_samples") in (None, fresh.values.get("max_samples"))
    assert new.values["max_length"] == 384 and new.values["lora_r"] == 32  # the model's, carried
    assert new.values["adapter_name_or_path"] == str(run.path / "model")
    assert new.values["model"] == str(tmp_path / "my-model")
