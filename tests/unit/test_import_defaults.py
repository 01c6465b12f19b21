"""What LLaMA-Factory and axolotl train with when their file says nothing: the importers write those values (marked
'(default)', with the console's own value beside them) so that the run is the one the tool would have trained.

The values are the tools' own argument classes' (LLaMA-Factory's src/llamafactory/hparams/*.py, axolotl's
src/axolotl/utils/schemas/*.py and core/builders/base.py, transformers' TrainingArguments for what they leave to it);
tests/unit/test_import_examples.py checks the real example files.
"""
from __future__ import annotations

import pytest

from console.config.foreign import convert
from console.config.run_config import build_config

LF_SFT = {"model_name_or_path": "org/model", "stage": "sft", "do_train": True, "finetuning_type": "lora",
          "dataset": "x", "learning_rate": 1e-4, "bf16": True}
AX_LORA = {"base_model": "org/model", "adapter": "lora", "lora_r": 16, "lora_alpha": 32, "lora_target_linear": True,
           "learning_rate": 2e-4, "datasets": [{"path": "org/data", "type": "alpaca"}]}


def _said(imported) -> dict:
    """{their key as the report says it: (our key, value, note)}."""
    return {their: (ours, value, note) for their, _, ours, value, note in imported.mapped}


def test_llama_factory_trains_without_evaluation_keeps_every_checkpoint_and_checkpoints_activations():
    imported = convert(LF_SFT, dataset_given=True)
    v = imported.values
    assert (v["val_size"], v["eval_strategy"]) == (0.0, "no")  # data_args.val_size 0.0; transformers' "no"
    assert v["save_total_limit"] is None and v["load_best_model_at_end"] is False
    assert v["save_steps"] == 500 and v["activation_checkpointing"] is True
    assert "packing" not in v  # off, as the console's: not written
    assert v["fp16"] is False  # the console's LoRA preset has it on; the file's bf16 is what trains
    said = _said(imported)
    ours, value, note = said["(default) val_size"]
    assert note == "LLaMA-Factory's default (hparams/data_args.py); the console's would be 0.1"
    assert "the console's would be false" in said["(default) disable_gradient_checkpointing"][2]
    config = build_config("lora", sets=dict(v))  # nothing held out, nothing evaluated, the last model the result
    c = config.values
    assert (c["val_size"], c["eval_strategy"], c["load_best_model_at_end"], c["save_total_limit"]) == (
        0.0, "no", False, None)
    assert c["activation_checkpointing"] is True


def test_llama_factory_writes_only_what_differs_from_the_console():
    imported = convert(dict(LF_SFT, max_grad_norm=1.0), dataset_given=True)
    said = _said(imported)
    assert "(default) max_grad_norm" not in said  # the file says it
    full = convert(dict(LF_SFT, finetuning_type="full"), dataset_given=True)
    # transformers' max_grad_norm 1.0 is the console's too: not written
    assert "(default) max_grad_norm" not in _said(full) and full.values.get("max_grad_norm", 1.0) == 1.0


def test_llama_factory_pretraining_packs_and_sft_does_not_unless_asked():
    pt = convert(dict(LF_SFT, stage="pt"), dataset_given=True)
    assert pt.values["packing"] is True and "stage == 'pt'" in _said(pt)["(default) packing"][2]
    asked = convert(dict(LF_SFT, stage="pt", packing=False), dataset_given=True)
    assert asked.values["packing"] is False


def test_llama_factory_evaluation_asked_for_evaluates_every_logging_steps_without_a_first_evaluation():
    imported = convert(dict(LF_SFT, val_size=0.1, eval_strategy="steps", logging_steps=10), dataset_given=True)
    v = imported.values
    assert (v["val_size"], v["eval_strategy"], v["eval_steps"], v["eval_on_start"]) == (0.1, "steps", 10.0, False)
    off = convert(dict(LF_SFT, disable_gradient_checkpointing=True), dataset_given=True)
    assert off.values["activation_checkpointing"] is False


def test_axolotl_defaults_are_axolotls_not_the_presets():
    imported = convert(AX_LORA)
    v = imported.values
    assert (v["val_size"], v["eval_strategy"]) == (0.0, "no")  # schemas/config.py val_set_size 0.0
    assert (v["save_strategy"], v["save_total_limit"], v["load_best_model_at_end"]) == ("epoch", 4, False)
    assert (v["weight_decay"], v["max_length"], v["num_train_epochs"], v["per_device_train_batch_size"]) == (
        0.0, 512, 1.0, 1)
    assert (v["gradient_accumulation_steps"], v["lora_dropout"], v["warmup_steps"]) == (1, 0.0, 0.03)
    assert v["bf16"] is True and v["fp16"] is False  # bf16 'auto'
    assert v["drop_long_examples"] is True  # excess_length_strategy: drop
    assert "optim" not in v  # adamw_torch_fused: transformers' and the console's too
    c = build_config("lora", sets=dict(v)).values
    assert (c["eval_strategy"], c["save_strategy"], c["save_total_limit"]) == ("no", "epoch", 4)


@pytest.mark.parametrize("extra,eval_steps,save_steps", [
    ({"val_set_size": 0.05, "evals_per_epoch": 4, "saves_per_epoch": 1, "num_epochs": 4}, 1 / 16, 1 / 4),
    ({"val_set_size": 0.05, "evals_per_epoch": 2}, 0.5, None),  # one epoch
    ({"val_set_size": 0.05, "eval_steps": 20, "save_steps": 100}, 20, 100),
])
def test_axolotl_per_epoch_counts_are_a_share_of_the_run_as_axolotl_computes_them(extra, eval_steps, save_steps):
    imported = convert(dict(AX_LORA, **extra))
    v = imported.values
    assert v["eval_strategy"] == "steps" and v["eval_steps"] == pytest.approx(eval_steps)
    if save_steps is None:
        assert v["save_strategy"] == "epoch" and "save_steps" not in v
    else:
        assert v["save_steps"] == pytest.approx(save_steps)
    assert not any(key in ("evals_per_epoch", "saves_per_epoch") for key, _ in imported.dropped)
    c = build_config("lora", sets=dict(v)).values  # a share below 1 is a share of the run's steps (transformers)
    assert c["eval_steps"] == pytest.approx(eval_steps)


def test_axolotl_val_set_size_zero_is_no_evaluation_and_stays_so():
    imported = convert(dict(AX_LORA, val_set_size=0, evals_per_epoch=4))
    assert imported.values["val_size"] == 0 and imported.values["eval_strategy"] == "no"
    assert ("evals_per_epoch", "val_set_size is 0: axolotl does not evaluate") in imported.dropped
    c = build_config("lora", sets=dict(imported.values, dataset="data.jsonl")).values
    assert c["val_size"] == 0 and c["eval_strategy"] == "no"


@pytest.mark.parametrize("strategy,drop", [("drop", True), ("raise", True), ("truncate", False)])
def test_axolotl_over_long_rows(strategy, drop):
    imported = convert(dict(AX_LORA, excess_length_strategy=strategy))
    assert imported.values["drop_long_examples"] is drop
