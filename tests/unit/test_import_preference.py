"""Other tools' preference configs (LLaMA-Factory's stage: dpo|kto, axolotl's rl: dpo|ipo|kto) import as the
console's DPO and KTO, with their beta, loss and dataset forms; what the console does not train is refused in one
line. The files follow the tools' own example folders (LLaMA-Factory examples/train_lora/llama3_lora_dpo.yaml and
its data/dataset_info.json's dpo_en_demo; axolotl's examples with rl: dpo and chatml.intel / chatml.ultra types)."""
from __future__ import annotations

import json

import pytest

from console.config.foreign import convert
from console.config.run_config import build_config

LF_DPO = {"model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct", "stage": "dpo", "do_train": True,
          "finetuning_type": "lora", "lora_rank": 8, "lora_target": "all", "pref_beta": 0.1, "pref_loss": "sigmoid",
          "dataset": "dpo_en_demo", "template": "llama3", "cutoff_len": 2048, "learning_rate": 5.0e-6,
          "num_train_epochs": 3.0, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 8}


def _info(tmp_path, rows, **entry):  # LLaMA-Factory's data folder beside the config
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "dpo_en_demo.json").write_text(json.dumps(rows))
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({"dpo_en_demo": {
        "file_name": "dpo_en_demo.json", **entry}}))


SHAREGPT_PAIRS = [{"conversations": [{"from": "human", "value": f"Question {i}?"}],
                   "chosen": {"from": "gpt", "value": f"A good answer {i}."},
                   "rejected": {"from": "gpt", "value": f"A bad answer {i}."}} for i in range(8)]


def test_llama_factory_dpo_with_its_sharegpt_ranking_dataset_trains_dpo(tmp_path):
    _info(tmp_path, SHAREGPT_PAIRS, formatting="sharegpt", ranking=True,
          columns={"messages": "conversations", "chosen": "chosen", "rejected": "rejected"})
    out = convert(LF_DPO, tmp_path)
    assert not out.refused, out.refused
    assert out.values["objective"] == "dpo" and out.values["beta"] == 0.1 and out.values["loss_type"] == "sigmoid"
    assert out.values["dataset_format"] == "sharegpt_preference"
    (tmp_path / "c.yaml").write_text(json.dumps(out.values))
    config = build_config(out.method, str(tmp_path / "c.yaml"), {}, None, None)
    assert config.objective == "dpo" and config.values["learning_rate"] == 5e-6


def test_llama_factory_alpaca_ranking_columns_and_the_sft_term(tmp_path):
    rows = [{"q": f"Q{i}", "good": f"yes {i}", "bad": f"no {i}"} for i in range(8)]
    _info(tmp_path, rows, ranking=True, columns={"prompt": "q", "chosen": "good", "rejected": "bad"})
    out = convert({**LF_DPO, "pref_ftx": 0.5}, tmp_path)
    assert not out.refused, out.refused
    assert out.values["dataset_format"] == "alpaca_preference"
    assert out.values["columns"] == "instruction:q,chosen:good,rejected:bad"
    assert out.values["loss_type"] == "sigmoid,sft" and out.values["loss_weights"] == [1.0, 0.5]


@pytest.mark.parametrize("data,key", [
    ({**LF_DPO, "pref_loss": "orpo"}, "pref_loss"),
    ({**LF_DPO, "pref_loss": "simpo"}, "pref_loss"),
    ({**LF_DPO, "stage": "rm"}, "stage"),
    ({**LF_DPO, "stage": "ppo"}, "stage"),
])
def test_what_the_console_does_not_train_is_refused_in_one_line(tmp_path, data, key):
    _info(tmp_path, SHAREGPT_PAIRS, formatting="sharegpt", ranking=True)
    out = convert(data, tmp_path)
    assert key in out.refused and "\n" not in out.refused[key]


def test_an_sft_dataset_under_stage_dpo_is_refused(tmp_path):
    _info(tmp_path, [{"instruction": "a", "output": "b"}])
    out = convert(LF_DPO, tmp_path)
    assert "ranking" in out.refused["dataset"]


AXOLOTL_DPO = {"base_model": "NousResearch/Meta-Llama-3-8B-Instruct", "rl": "dpo", "rl_beta": 0.05,
               "datasets": [{"path": "argilla/distilabel-intel-orca-dpo-pairs", "split": "train",
                             "type": "chatml.intel"}],
               "adapter": "lora", "lora_r": 16, "micro_batch_size": 2, "num_epochs": 1, "learning_rate": 2e-5}


def test_axolotl_dpo_with_an_intel_type_dataset(tmp_path):
    out = convert(AXOLOTL_DPO, tmp_path)
    assert not out.refused, out.refused
    assert out.values["objective"] == "dpo" and out.values["beta"] == 0.05
    assert out.values["dataset_format"] == "preference" and out.values["columns"] == "prompt:question"
    assert out.values["dataset"] == "argilla/distilabel-intel-orca-dpo-pairs"


def test_axolotl_ipo_and_kto_and_refusals(tmp_path):
    ipo = convert({**AXOLOTL_DPO, "rl": "ipo"}, tmp_path)
    assert ipo.values["objective"] == "dpo" and ipo.values["loss_type"] == "ipo"
    kto = convert({**AXOLOTL_DPO, "rl": "kto", "kto_desirable_weight": 1.2}, tmp_path)
    assert kto.values["objective"] == "kto" and kto.values["desirable_weight"] == 1.2
    for rl in ("orpo", "simpo", "grpo"):
        out = convert({**AXOLOTL_DPO, "rl": rl}, tmp_path)
        assert "rl" in out.refused and "experimental" in out.refused["rl"]
