"""The keys of LLaMA-Factory and axolotl files that define the method: carried to the console's counterpart (GaLore,
APOLLO, DFT, PiSSA's iterations, pure bf16, Liger kernels, DeepSpeed and FSDP, regex targets, axolotl's Alpaca
prompt, LLaMA-Factory's v1 format) or refused in one line (BAdam, Adam-mini, Muon, mixture-of-depths, EAFT/ASFT, LISA,
ReLoRA, LoftQ, reward models, reasoning traces): never dropped, since dropping one trains another method.

Their names and defaults are the tools' own (LLaMA-Factory's hparams/finetuning_args.py, axolotl's
utils/schemas/*.py); the transformers/TRL/peft values they map to are checked against the installed versions' argument
lists (console/config/training_args.json and peft_args.json, generated from them and kept in sync by a test).
"""
from __future__ import annotations

import json

import pytest

from console.common.errors import ConfigError
from console.config.fields import all_fields
from console.config.foreign import AXOLOTL, LLAMA_FACTORY, convert, detect
from console.config.run_config import build_config
from console.data.formats import detect_format, get_format, known_as

LF_FULL = {"model_name_or_path": "org/model", "stage": "sft", "do_train": True, "finetuning_type": "full",
           "dataset": "x", "learning_rate": 1e-5, "bf16": True}
LF_LORA = dict(LF_FULL, finetuning_type="lora", lora_rank=8, lora_target="all")
AX = {"base_model": "org/model", "adapter": "lora", "lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-4,
      "datasets": [{"path": "org/data", "type": "alpaca"}]}


def _lf(**extra):
    return convert(dict(LF_FULL, **extra), dataset_given=True)


def _ax(**extra):
    return convert(dict(AX, **extra))


# -- axolotl's alpaca prompt ----------------------------------------------------------------------------------------

def test_axolotl_alpaca_is_axolotls_alpaca_prompt_never_the_chat_template():
    assert _ax().values["dataset_format"] == "alpaca_prompt" and known_as(AXOLOTL)["alpaca"].name == "alpaca_prompt"
    assert known_as(LLAMA_FACTORY)["alpaca"].name == "instruction"  # LLaMA-Factory's goes through its template
    fmt = get_format("alpaca_prompt")
    for template in (True, False):  # axolotl's AlpacaPrompter (prompters.py, instruct style), byte for byte
        with_input = fmt.render({"instruction": "Add.", "input": "2 and 3", "output": "5"}, chat_template=template,
                                train_on_prompt=False)
        assert with_input == [{"prompt": "Below is an instruction that describes a task, paired with an input that "
                                         "provides further context. Write a response that appropriately completes "
                                         "the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n"
                                         "### Response:\n", "completion": "5"}]
        alone = fmt.render({"instruction": "Say hi.", "output": "hi"}, chat_template=template, train_on_prompt=False)
        assert alone[0]["prompt"] == ("Below is an instruction that describes a task. Write a response that "
                                      "appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n"
                                      "### Response:\n")
    assert not fmt.templated and fmt.prompt_layout(True).startswith("in the Stanford Alpaca prompt")
    assert detect_format(["instruction", "output"]) == "instruction"  # chosen by name only


# -- evaluation and packing -----------------------------------------------------------------------------------------

def test_axolotl_eval_sample_packing_is_trls_eval_packing():
    imported = _ax(val_set_size=0.1, evals_per_epoch=2, sample_packing=True, eval_sample_packing=False)
    assert imported.values["eval_packing"] is False and imported.values["packing"] is True
    assert "eval_packing" in all_fields()


# -- regex targets --------------------------------------------------------------------------------------------------

REGEX = r"model.layers.[\d]+.(mlp|self_attn).(up|down|gate|q|k|v|o)_proj"


def test_a_regex_target_string_is_carried_as_a_regex_and_checked_before_the_model_loads():
    from console.config.memory import regex_targets, unknown_targets
    from console.config.model_shape import shape_from_config

    imported = _ax(lora_target_modules=REGEX)
    assert imported.values["lora_target_regex"] == REGEX and "lora_target_modules" not in imported.values
    listed = _ax(lora_target_modules=["q_proj", "v_proj"])
    assert listed.values["lora_target_modules"] == "q_proj,v_proj" and "lora_target_regex" not in listed.values
    config = build_config("lora", sets=dict(imported.values))
    assert config.values["lora_target_regex"] == REGEX
    with pytest.raises(ConfigError, match="lora_target_regex is not a regular expression"):
        build_config("lora", sets={"lora_target_regex": "model.layers.(q_proj"})
    llama = shape_from_config({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                               "vocab_size": 100})
    assert {m[0] for m in regex_targets(REGEX, llama)} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                          "up_proj", "down_proj"}
    assert {m[0] for m in regex_targets(r".*\.layers\.1\.self_attn\.(q|v)_proj", llama)} == {"q_proj", "v_proj"}
    assert unknown_targets({"lora_target_regex": REGEX}, llama) == []
    assert unknown_targets({"lora_target_regex": "model.layers.[0-9]+.attn.c_attn"}, llama) == [
        "model.layers.[0-9]+.attn.c_attn"]


def test_the_trainer_gives_peft_the_regex_as_a_string():
    from console.trainer.model import _target_modules

    assert _target_modules({"lora_target_regex": REGEX, "lora_target_modules": "all-linear"}) == REGEX
    assert _target_modules({"lora_target_modules": "q_proj,v_proj"}) == ["q_proj", "v_proj"]


# -- LLaMA-Factory's methods carried --------------------------------------------------------------------------------

def test_galore_is_transformers_galore_with_llama_factorys_own_values():
    imported = _lf(use_galore=True, galore_layerwise=True, galore_target="all", galore_rank=128, galore_scale=2.0,
                   pure_bf16=True, bf16=None)
    v = imported.values
    assert v["optim"] == "galore_adamw_layerwise" and v["optim_target_modules"] == "all-linear"
    # transformers' own GaLore defaults are rank 128, scale 0.25; LLaMA-Factory's 16 and 2.0 are written out
    assert v["optim_args"] == "rank=128,update_proj_gap=200,scale=2.0,proj_type=std"
    assert (v["dtype"], v["bf16"], v["fp16"]) == ("bfloat16", False, False)  # pure_bf16: no mixed precision
    assert {"galore_adamw", "galore_adamw_layerwise", "apollo_adamw"} <= set(all_fields()["optim"].choices)
    c = build_config("full", sets=dict(v)).values
    assert (c["optim"], c["optim_args"], c["dtype"]) == ("galore_adamw_layerwise", v["optim_args"], "bfloat16")
    targets = _lf(use_galore=True, galore_target="q_proj,v_proj").values
    assert targets["optim"] == "galore_adamw" and targets["optim_target_modules"] == ["q_proj", "v_proj"]
    assert targets["optim_args"] == "rank=16,update_proj_gap=200,scale=2.0,proj_type=std"


def test_apollo_dft_and_liger():
    v = _lf(use_apollo=True, apollo_rank=128, apollo_scale=32.0, apollo_scale_type="tensor").values
    assert v["optim"] == "apollo_adamw" and v["optim_target_modules"] == "all-linear"
    assert v["optim_args"] == ("rank=128,update_proj_gap=200,scale=32.0,proj=random,proj_type=std,"
                               "scale_type=tensor")
    dft = _lf(use_dft_loss=True).values
    assert dft["loss_type"] == "dft" and "dft" in all_fields()["loss_type"].choices_by_objective["sft"]  # TRL has it
    assert _lf(enable_liger_kernel=True).values["use_liger_kernel"] is True


@pytest.mark.parametrize("iters,value", [(None, "pissa_niter_16"), (4, "pissa_niter_4"), (-1, "pissa")])
def test_pissa_iterations_are_peft_s_pissa_niter(iters, value):
    extra = {"pissa_init": True} | ({} if iters is None else {"pissa_iter": iters})
    imported = convert(dict(LF_LORA, **extra), dataset_given=True)
    assert imported.values["init_lora_weights"] == value
    assert not any(k.startswith("pissa") for k, _ in imported.dropped)


@pytest.mark.parametrize("key,value", [
    ("use_badam", True), ("use_adam_mini", True), ("use_muon", True), ("mixture_of_depths", "convert"),
    ("use_eaft_loss", True), ("use_asft_loss", True), ("use_llama_pro", True),
])
def test_llama_factory_methods_without_counterpart_are_refused_in_one_line(key, value):
    refused = _lf(**{key: value}).refused
    assert list(refused) == [key] and "no counterpart" in refused[key] and "\n" not in refused[key]


@pytest.mark.parametrize("extra,key", [
    ({"lisa_n_layers": 4, "lisa_step_interval": 20}, "lisa_n_layers"), ({"relora": True, "relora_steps": 150}, "relora"),
    ({"peft": {"loftq_config": {"loftq_bits": 4}}}, "peft"), ({"reward_model": True}, "reward_model"),
    ({"process_reward_model": True}, "process_reward_model"), ({"use_eaft": True}, "use_eaft"),
    ({"plugins": ["axolotl.integrations.llm_compressor.LLMCompressorPlugin"]}, "plugins"),
])
def test_axolotl_methods_without_counterpart_are_refused_in_one_line(extra, key):
    refused = _ax(**extra).refused
    assert key in refused and "\n" not in refused[key]


def test_axolotl_liger_plugin_and_kernel_plugins():
    v = _ax(plugins=["axolotl.integrations.liger.LigerPlugin",
                     "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"], liger_rms_norm=True)
    assert not v.refused and v.values["use_liger_kernel"] is True


def test_axolotl_reasoning_fields_are_refused_not_dropped():
    refused = _ax(datasets=[{"path": "org/d", "type": "chat_template", "field_thinking": "reasoning"}]).refused
    assert "datasets[0].field_thinking: reasoning traces are not read" in refused["datasets"]


# -- DeepSpeed and FSDP ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,preset", [
    ("deepspeed_configs/zero3_bf16.json", "deepspeed_zero3"), ("examples/deepspeed/ds_z3_config.json",
                                                               "deepspeed_zero3"),
    ("deepspeed_configs/zero2.json", "deepspeed_zero2"), ("deepspeed_configs/zero1.json", "deepspeed_zero2"),
    ("ds_z2_offload_config.json", "deepspeed_zero2"),
])
def test_deepspeed_files_run_under_the_shipped_zero_preset(value, preset):
    imported = _ax(deepspeed=value)
    assert not imported.refused and imported.values["accelerate_config"] == preset
    build_config("lora", sets={"accelerate_config": preset})  # a name the console takes


def test_a_deepspeed_json_beside_the_config_is_read_for_its_stage(tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    imported = convert(dict(AX, deepspeed="mine.json"), tmp_path)
    assert imported.values["accelerate_config"] == "deepspeed_zero3"
    (tmp_path / "none.json").write_text(json.dumps({"train_batch_size": "auto"}))
    zero = convert(dict(AX, deepspeed="none.json"), tmp_path)
    assert "accelerate_config" not in zero.values and "deepspeed" in dict(zero.dropped)


def test_fsdp_runs_under_the_shipped_fsdp_preset():
    imported = _ax(fsdp_version=2, fsdp_config={"offload_params": False, "state_dict_type": "FULL_STATE_DICT"})
    assert not imported.refused and imported.values["accelerate_config"] == "fsdp"
    assert _ax(fsdp=["full_shard", "auto_wrap"]).values["accelerate_config"] == "fsdp"


# -- LLaMA-Factory's v1 format --------------------------------------------------------------------------------------

V1_LORA = {"model": "Qwen/Qwen3-4B", "model_class": "llm",
           "peft_config": {"name": "lora", "r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all"},
           "kernel_config": {"name": "auto"}, "dist_config": {"name": "fsdp2", "dcp_path": None},
           "train_dataset": "data/train.jsonl", "output_dir": "./outputs/test_lora", "micro_batch_size": 1,
           "cutoff_len": 2048, "learning_rate": 1.0e-4, "max_steps": 10, "sample_backend": "hf",
           "max_new_tokens": 128}


def test_llama_factory_v1_is_llama_factorys_and_a_lora_file_stays_lora():
    assert detect(V1_LORA) == LLAMA_FACTORY
    imported = convert(V1_LORA)
    assert not imported.refused, imported.refused
    v = imported.values
    assert imported.method == "lora" and (v["lora_r"], v["lora_alpha"], v["lora_dropout"]) == (16, 32, 0.05)
    assert v["lora_target_modules"] == "all-linear" and v["accelerate_config"] == "fsdp"
    assert (v["per_device_train_batch_size"], v["max_length"], v["max_steps"]) == (1, 2048, 10)
    assert (v["lr_scheduler_type"], v["val_size"], v["activation_checkpointing"]) == ("constant", 0.0, True)
    build_config(imported.method, sets=dict(v))
    full = convert({k: w for k, w in V1_LORA.items() if k != "peft_config"})
    assert full.method == "full"
    muon = convert(dict(V1_LORA, optim_config={"name": "muon"})).refused
    assert "optim_config" in muon and "no counterpart" in muon["optim_config"]


# -- sliced splits and several datasets ------------------------------------------------------------------------------

def test_a_sliced_split_is_kept_as_written_for_the_datasets_library():
    imported = _ax(datasets=[{"path": "org/data", "type": "alpaca", "split": "train[:10%]"}])
    assert imported.values["dataset_split"] == "train[:10%]"


def test_several_datasets_become_the_runs_list_each_mapped_on_its_own(tmp_path):
    from console.config.foreign import dataset_entries
    from tests.unit.test_import import AX as AX_FIXTURES
    from tests.unit.test_import import LF

    data = dict(AX, datasets=[{"path": "data/sums.jsonl", "type": "alpaca", "split": "train[:50%]"},
                              {"path": "data/chat.jsonl", "type": "chat_template"}])
    imported = convert(data, AX_FIXTURES)
    assert not imported.refused
    assert imported.values["dataset"] == [
        {"path": str(AX_FIXTURES / "data" / "sums.jsonl"), "format": "alpaca_prompt", "split": "train[:50%]"},
        {"path": str(AX_FIXTURES / "data" / "chat.jsonl"), "format": "chat"}]
    entries = dataset_entries(data, AX_FIXTURES)
    assert [(e.values["dataset"], e.values["dataset_format"]) for e in entries] == [
        (str(AX_FIXTURES / "data" / "sums.jsonl"), "alpaca_prompt"), (str(AX_FIXTURES / "data" / "chat.jsonl"), "chat")]
    assert entries[0].values["dataset_split"] == "train[:50%]" and not any(e.refused for e in entries)
    lf = dict(LF_FULL, dataset="sums,colours,nowhere")
    assert "nowhere" in convert(lf, LF).refused["dataset"]  # one name it cannot read: the file is refused
    names = dataset_entries(lf, LF)
    assert [e.values.get("dataset_format") for e in names] == ["instruction", "sharegpt", None]
    assert "not an entry of" in names[2].refused["dataset"]
    (tmp_path / "two.yaml").write_text("a:\n  path: a.jsonl\n  converter: alpaca\nb:\n  path: b.jsonl\n")
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text('{"instruction": "x", "output": "y"}\n')
    v1 = dict(V1_LORA, train_dataset="two.yaml")
    # b has no converter: its rows are LLaMA-Factory v1's own messages, which are refused; the file with it
    assert "v1's own message rows" in convert(v1, tmp_path).refused["train_dataset"]
    assert [e.values["dataset"] for e in dataset_entries(v1, tmp_path)] == [str(tmp_path / "a.jsonl"),
                                                                            str(tmp_path / "b.jsonl")]


def test_keys_that_only_look_like_another_method_are_not_refused():
    revision = _ax(revision_of_model="abc123")  # 'vision' inside a word is not multi-modal
    assert not revision.refused and revision.values["revision"] == "abc123"
    speed = _ax(plugins=["axolotl.integrations.expert_parallel.ExpertParallelPlugin"], use_scattermoe=True)
    assert not speed.refused and "use_scattermoe" in dict(speed.dropped)
    kernels = _lf(use_v1_kernels=True)
    assert not kernels.refused and "use_v1_kernels" in dict(kernels.dropped)
    assert "use_onebitllms" in _ax(use_onebitllms=True).refused


def test_llama_factory_v1_message_rows_are_refused_not_read_as_empty_text(tmp_path):
    (tmp_path / "mm.yaml").write_text("demo:\n  path: mm.jsonl\n  source: local\n")
    (tmp_path / "mm.jsonl").write_text("{}\n")
    refused = convert(dict(V1_LORA, train_dataset="mm.yaml"), tmp_path).refused
    assert "content parts keyed 'value'" in refused["train_dataset"]


def test_the_packages_an_imported_method_needs_are_checked_before_launch(monkeypatch):
    import console.machine.load_checks as checks

    monkeypatch.setattr(checks, "installed", lambda module: False)
    problems = checks.field_problems({"optim": "galore_adamw_layerwise", "use_liger_kernel": True})
    assert problems["optim"] == ("optim galore_adamw_layerwise needs galore_torch, which is not installed: pip install "
                                 "galore-torch")
    assert "pip install liger-kernel" in problems["use_liger_kernel"]
    assert "apollo_torch" in checks.field_problems({"optim": "apollo_adamw"})["optim"]
    monkeypatch.setattr(checks, "installed", lambda module: True)
    assert checks.field_problems({"optim": "galore_adamw", "use_liger_kernel": True}) == {}
