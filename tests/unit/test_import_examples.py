"""Real example configs of LLaMA-Factory and axolotl (a sample of their examples/ folders, unchanged, under
tests/support/fixtures/foreign/examples/), imported and checked key by key against what the tool trains them with:
the file's own values, and for what it leaves out the defaults of the tools' argument classes
(tool_defaults.json, parsed from their sources by `python bench/imports.py ... --write-defaults`, with the commits it
read). bench/imports.py runs the same check over every example file of both tools.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from console.config.foreign import AXOLOTL, LLAMA_FACTORY, convert, dataset_entries, detect
from console.config.run_config import build_config

EXAMPLES = Path(__file__).parents[1] / "support" / "fixtures" / "foreign" / "examples"
LF = EXAMPLES / "llamafactory"
AX = EXAMPLES / "axolotl"
DEFAULTS = json.loads((EXAMPLES / "tool_defaults.json").read_text())
LFD, AXD, HF, V1 = DEFAULTS["llamafactory"], DEFAULTS["axolotl"], DEFAULTS["transformers"], DEFAULTS["v1"]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _run(path: Path, **kwargs):
    """(the file, the import, the console's final values: preset, then the import, then the config's rules)."""
    data = _load(path)
    imported = convert(data, path.parent, **kwargs)
    assert not imported.refused, imported.refused
    return data, imported, build_config(imported.method, sets=dict(imported.values)).values


def test_llama_factory_lora_sft_trains_as_llama_factory_does():
    path = LF / "train_lora__qwen3_lora_sft.yaml"
    data = _load(path)
    assert detect(data) == LLAMA_FACTORY
    # identity,alpaca_en_demo: several datasets, the run's list of datasets, mixed ...
    imported = convert(data, path.parent)
    assert not imported.refused and len(imported.values["dataset"]) == 2
    # ... each mapped on its own (dataset_info.json entries: alpaca formatting through the model's template)
    entries = dataset_entries(data, path.parent)
    assert [(Path(e.values["dataset"]).name, e.values["dataset_format"]) for e in entries] == [
        ("identity.json", "instruction"), ("alpaca_en_demo.json", "instruction")]
    data, imported, v = _run(path, dataset_given=True)
    assert imported.method == "lora"
    # the file's values
    assert (v["model"], v["lora_r"], v["max_length"], v["max_samples"]) == (
        data["model_name_or_path"], data["lora_rank"], data["cutoff_len"], data["max_samples"])
    assert (v["per_device_train_batch_size"], v["gradient_accumulation_steps"], v["learning_rate"]) == (
        data["per_device_train_batch_size"], data["gradient_accumulation_steps"], data["learning_rate"])
    assert (v["num_train_epochs"], v["lr_scheduler_type"], v["warmup_steps"], v["bf16"], v["save_steps"]) == (
        data["num_train_epochs"], data["lr_scheduler_type"], data["warmup_ratio"], data["bf16"], data["save_steps"])
    assert v["lora_target_modules"] == "all-linear" and v["trust_remote_code"] is True
    # what the file leaves out: LLaMA-Factory's defaults
    assert v["lora_alpha"] == 2 * data["lora_rank"] and v["lora_dropout"] == LFD["lora_dropout"]
    assert v["val_size"] == LFD["val_size"] and v["eval_strategy"] == HF["eval_strategy"]
    assert v["save_total_limit"] == HF["save_total_limit"]
    assert v["load_best_model_at_end"] == HF["load_best_model_at_end"]
    assert v["activation_checkpointing"] is (not LFD["disable_gradient_checkpointing"])
    assert v["packing"] is False and LFD["packing"] is None  # None: packed for stage pt only
    assert (v["weight_decay"], v["max_grad_norm"], v["fp16"]) == (HF["weight_decay"], HF["max_grad_norm"], HF["fp16"])
    assert v["train_on_prompt"] == LFD["train_on_prompt"]


def test_llama_factory_pretraining_packs_plain_text():
    data, imported, v = _run(LF / "train_lora__qwen3_lora_pretrain.yaml")
    assert v["dataset_format"] == "text" and Path(v["dataset"]).name == "c4_demo.jsonl"
    assert v["packing"] is True and v["max_length"] == data["cutoff_len"]


def test_llama_factory_galore_layerwise_in_pure_bf16():
    data, imported, v = _run(LF / "extras__galore__llama3_full_sft.yaml", dataset_given=True)
    assert imported.method == "full"
    assert v["optim"] == "galore_adamw_layerwise" and v["optim_target_modules"] == "all-linear"
    assert v["optim_args"] == (f"rank={data['galore_rank']},update_proj_gap={LFD['galore_update_interval']},"
                               f"scale={data['galore_scale']},proj_type={LFD['galore_proj_type']}")
    assert (v["dtype"], v["bf16"], v["fp16"]) == ("bfloat16", False, False)
    assert v["gradient_accumulation_steps"] == data["gradient_accumulation_steps"] == 1


def test_llama_factory_dft_and_pissa():
    _, imported, v = _run(LF / "extras__dft__qwen2_full_sft.yaml", dataset_given=True)
    assert imported.method == "full" and v["loss_type"] == "dft"
    data, imported, v = _run(LF / "extras__pissa__llama3_lora_sft.yaml", dataset_given=True)
    assert v["init_lora_weights"] == f"pissa_niter_{data['pissa_iter']}"


def test_llama_factory_badam_is_refused_in_one_line():
    refused = convert(_load(LF / "extras__badam__llama3_full_sft.yaml"), LF, dataset_given=True).refused
    assert list(refused) == ["use_badam"] and "\n" not in refused["use_badam"]


def test_llama_factory_v1_lora():
    path = LF / "v1__train_lora__train_lora_sft.yaml"
    data = _load(path)
    assert detect(data) == LLAMA_FACTORY  # not axolotl's, although it says micro_batch_size
    assert len(convert(data, path.parent).values["dataset"]) == 2  # its dataset YAML names two: mixed
    data, imported, v = _run(path, dataset_given=True)
    peft = data["peft_config"]
    assert imported.method == "lora"
    assert (v["lora_r"], v["lora_alpha"], v["lora_dropout"], v["lora_target_modules"]) == (
        peft["r"], peft["lora_alpha"], peft["lora_dropout"], "all-linear")
    assert (v["per_device_train_batch_size"], v["max_length"], v["learning_rate"], v["max_steps"]) == (
        data["micro_batch_size"], data["cutoff_len"], data["learning_rate"], data["max_steps"])
    assert v["accelerate_config"] == "fsdp" and v["bf16"] is V1["bf16"]
    assert v["activation_checkpointing"] is V1["enable_activation_checkpointing"]
    assert v["lr_scheduler_type"] == "constant" and v["eval_strategy"] == "no"


def test_axolotl_lora_1b_alpaca_per_epoch_counts_and_packing():
    path = AX / "llama-3__lora-1b.yml"
    data, imported, v = _run(path)
    assert detect(data) == AXOLOTL and imported.method == "lora"
    assert v["dataset_format"] == "alpaca_prompt"  # axolotl's Alpaca prompt
    assert (v["model"], v["lora_r"], v["lora_alpha"], v["lora_dropout"]) == (
        data["base_model"], data["lora_r"], data["lora_alpha"], data["lora_dropout"])
    assert (v["per_device_train_batch_size"], v["gradient_accumulation_steps"], v["num_train_epochs"]) == (
        data["micro_batch_size"], data["gradient_accumulation_steps"], data["num_epochs"])
    assert (v["max_length"], v["packing"], v["eval_packing"], v["optim"]) == (
        data["sequence_len"], data["sample_packing"], data["eval_sample_packing"], data["optimizer"])
    assert v["val_size"] == data["val_set_size"] and v["eval_strategy"] == "steps"
    assert v["eval_steps"] == pytest.approx(1 / (data["evals_per_epoch"] * data["num_epochs"]))
    assert v["save_steps"] == pytest.approx(1 / (data["saves_per_epoch"] * data["num_epochs"])) or \
        v["save_strategy"] == "epoch"
    assert v["save_total_limit"] == 4 and v["load_best_model_at_end"] is AXD["load_best_model_at_end"]
    assert v["weight_decay"] == data.get("weight_decay", AXD["weight_decay"])
    assert v["bf16"] is True and v["fp16"] is False and v["drop_long_examples"] is True


def test_axolotl_regex_targets_packing_and_a_sliced_split():
    data, imported, v = _run(AX / "gemma3n__gemma-3n-e2b-qlora.yml")
    assert imported.method == "qlora" and v["load_in_4bit"] is True
    assert v["lora_target_regex"] == data["lora_target_modules"]
    assert v["dataset_split"] == "train[:1%]" and v["dataset_format"] == "sharegpt"
    assert v["val_size"] == 0 and v["eval_strategy"] == "no"
    assert v["activation_checkpointing"] is True and v["optim"] == data["optimizer"]


def test_axolotl_full_fine_tuning_with_alpaca():
    data, imported, v = _run(AX / "archived__stablelm-2__1.6b__fft.yml")
    assert imported.method == "full" and v["dataset_format"] == "alpaca_prompt"
    assert (v["weight_decay"], v["max_length"], v["attn_implementation"]) == (
        data["weight_decay"], data["sequence_len"], data["attn_implementation"])
    assert "accelerate_config" not in imported.values  # deepspeed: empty (commented out)


def test_axolotl_liger_and_fsdp():
    data, imported, v = _run(AX / "llama-3__fft-8b-liger-fsdp.yaml")
    assert v["use_liger_kernel"] is True and v["accelerate_config"] == "fsdp"
    assert v["dataset_split"] == "train[:20%]" and float(v["learning_rate"]) == float(data["learning_rate"])


@pytest.mark.parametrize("name,key", [("llama-2__relora.yml", "relora"), ("gemma2__reward-model.yaml",
                                                                           "reward_model")])
def test_axolotl_methods_it_cannot_train_are_refused_in_one_line(name, key):
    refused = convert(_load(AX / name), AX).refused
    assert key in refused and "no counterpart" in refused[key] and "\n" not in refused[key]


def test_the_tool_defaults_come_from_the_commits_the_fixtures_come_from():
    for path in list(LF.glob("*.yaml")) + list(AX.glob("*.y*ml")):
        first = path.read_text().splitlines()[0]
        assert first.split(" at ")[1].split()[0] in DEFAULTS["source"].values(), path.name
