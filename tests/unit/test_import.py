"""LLaMA-Factory and axolotl configs: `training-console import`, `--config THEIR.yaml`, and the "did you mean" hints.

The fixtures in tests/support/fixtures/foreign/ are written for these tests in each project's documented format (a
LLaMA-Factory training YAML with data/dataset_info.json beside it; axolotl configs with a `datasets:` list).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli.main import main
from console.common.errors import ConfigError
from console.config.fields import ALIASES, LEGACY, all_fields, suggest
from console.config.foreign import AXOLOTL, LLAMA_FACTORY, convert, detect, read_foreign
from console.config.run_config import build_config

FIXTURES = Path(__file__).parents[1] / "support" / "fixtures" / "foreign"
LF = FIXTURES / "llamafactory"
AX = FIXTURES / "axolotl"


def _import(capsys, tmp_path, source: Path, *extra: str):
    """(exit code, stdout, stderr, our written config or None)."""
    out = tmp_path / f"{source.stem}.ours.yaml"
    code = main(["import", str(source), "-o", str(out), *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err, (out if out.exists() else None)


def _targets(value) -> str:
    """lora_target_modules as a comma list, whether the field keeps it as text or as a list."""
    return ",".join(value) if isinstance(value, list) else value


# -- recognising a file ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,tool", [
    ("llamafactory/lora_sft.yaml", LLAMA_FACTORY), ("llamafactory/qlora_sft.yaml", LLAMA_FACTORY),
    ("llamafactory/full_sft.yaml", LLAMA_FACTORY), ("llamafactory/loraplus_sft.yaml", LLAMA_FACTORY),
    ("llamafactory/dpo.yaml", LLAMA_FACTORY), ("axolotl/lora.yml", AXOLOTL), ("axolotl/qlora.yml", AXOLOTL),
    ("axolotl/full.yml", AXOLOTL), ("axolotl/dpo.yml", AXOLOTL),
])
def test_each_fixture_is_recognised_as_its_tool(name, tool):
    assert detect(yaml.safe_load((FIXTURES / name).read_text())) == tool


@pytest.mark.parametrize("data", [
    {"learning_rate": 1e-4, "lora_r": 8},
    {"cutoff_len": 512, "learning_rate": 1e-4},  # an old name of ours (LEGACY) alone is still our file
    {"method": "lora", "arguments": {"stage": "sft", "finetuning_type": "lora"}},  # our saved config.yaml
    {"template": "x"},  # one word that LLaMA-Factory also uses is not enough
    {}, [], None, "text",
])
def test_our_own_files_and_odd_data_are_not_taken_as_foreign(data):
    assert detect(data) is None


def test_our_flat_file_behaves_as_before(tmp_path):
    path = tmp_path / "ours.yaml"
    path.write_text("method: qlora\nlearning_rate: 3.0e-4\ncutoff_len: 256\n")
    config = build_config(config_file=str(path))
    assert (config.method, config.values["learning_rate"], config.values["max_length"]) == ("qlora", 3e-4, 256)
    assert not any(n.startswith("imported from") for n in config.notices)
    path.write_text("micro_batchsize: 4\n")
    with pytest.raises(ConfigError, match="unknown argument 'micro_batchsize'"):
        build_config(config_file=str(path))


# -- LLaMA-Factory ------------------------------------------------------------------------------------------

def test_llama_factory_lora_sft(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, LF / "lora_sft.yaml")
    assert code == 0, err
    assert "LLaMA-Factory config" in out
    assert "  lora_rank: 8 -> lora_r: 8" in out
    assert "  lora_target: all -> lora_target_modules: all-linear" in out
    assert "  warmup_ratio: 0.1 -> warmup_steps: 0.1" in out
    assert "  preprocessing_num_workers: 4 -> dataset_num_proc: 4" in out
    dropped = out.split("dropped:")[1]
    assert "template: the model's own chat template is used" in dropped
    assert "output_dir:" in dropped and "plot_loss:" in dropped and "ddp_timeout:" in dropped
    assert "refused" not in out
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "lora"
    assert (v["learning_rate"], v["per_device_train_batch_size"], v["gradient_accumulation_steps"]) == (1e-4, 2, 8)
    assert (v["lora_r"], v["lora_alpha"], v["lora_dropout"]) == (8, 16, 0.0)  # alpha: LLaMA-Factory's 2 x rank
    assert _targets(v["lora_target_modules"]) == "all-linear"
    assert v["dataset"] == str(LF / "data" / "sums_alpaca.json")
    assert v["dataset_format"] == "instruction"
    assert (v["max_length"], v["val_size"], v["eval_strategy"]) == (1024, 0.1, "steps")
    assert v["bf16"] is True and v["fp16"] is False
    assert config.notices == []  # our file now: nothing left to translate
    text = written.read_text()
    assert text.startswith("# imported from lora_sft.yaml (LLaMA-Factory)")
    assert yaml.safe_load(text)["method"] == "lora"


def test_llama_factory_qlora_sharegpt(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, LF / "qlora_sft.yaml")
    assert code == 0, err
    assert "  finetuning_type: lora -> method: qlora" in out
    assert "  quantization_bit: 4 -> load_in_4bit: true" in out
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "qlora" and v["load_in_4bit"] is True
    assert (v["lora_r"], v["lora_alpha"], _targets(v["lora_target_modules"])) == (16, 32, "q_proj,v_proj")
    assert v["dataset"] == str(LF / "data" / "colours_sharegpt.json") and v["dataset_format"] == "sharegpt"
    assert (v["learning_rate"], v["per_device_train_batch_size"]) == (2e-4, 4)


def test_llama_factory_full_with_renamed_columns(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, LF / "full_sft.yaml")
    assert code == 0, err
    assert "  finetuning_type: full -> method: full" in out
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "full"
    assert v["columns"] == "instruction:question,output:answer"
    assert v["dataset"] == str(LF / "data" / "doubles_qa.json") and v["dataset_format"] == "instruction"
    assert (v["learning_rate"], v["per_device_train_batch_size"], v["max_length"]) == (1e-5, 1, 512)
    from console.data.preflight import preflight

    # the column mapping reads the file as the instruction format
    assert "40 rows, instruction format" in preflight(v["dataset"], v["dataset_format"], None, v["columns"])
    if "attn_implementation" in all_fields():
        assert v["attn_implementation"] == "flash_attention_2"


def test_llama_factory_loraplus(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, LF / "loraplus_sft.yaml")
    assert code == 0, err
    for name, line in (("loraplus_lr_ratio", "  loraplus_lr_ratio: 16.0 -> loraplus_lr_ratio: 16.0"),
                       ("modules_to_save", "  additional_target: embed_tokens,lm_head -> modules_to_save: "
                                           "embed_tokens,lm_head")):
        if name in all_fields():
            assert line in out
        else:  # task A's field not in this version yet: said, not a crash
            assert f"-> {name}: not supported by this version" in out
    config = build_config(config_file=str(written))
    assert config.method == "lora" and config.values["lora_r"] == 8  # LLaMA-Factory's default rank, said
    assert ("(default) lora_rank: 8 -> lora_r: 8 (LLaMA-Factory's default (hparams/finetuning_args.py); the "
            "console's would be 16)") in out
    if "loraplus_lr_ratio" in all_fields():
        assert config.values["loraplus_lr_ratio"] == 16.0


def test_llama_factory_dpo_imports_as_the_consoles_dpo(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, LF / "dpo.yaml")
    assert code == 0 and written is not None, out + err
    assert "stage: dpo -> objective: dpo" in out and "pref_beta: 0.1 -> beta: 0.1" in out
    config = build_config(config_file=str(written))
    assert config.objective == "dpo" and config.values["dataset_format"] == "alpaca_preference"
    assert config.values["learning_rate"] == 5e-6  # the file's own, kept over the DPO preset's


@pytest.mark.parametrize("finetuning,words", [
    ("freeze", "finetuning_type: freeze (training only the last layers) has no counterpart"),
    ("oft", "finetuning_type: oft: not supported"),
])
def test_llama_factory_methods_without_counterpart_are_refused(tmp_path, finetuning, words):
    data = {"stage": "sft", "finetuning_type": finetuning, "dataset": "x", "dataset_dir": "ONLINE"}
    assert words in convert(data, tmp_path).refused["finetuning_type"]


@pytest.mark.parametrize("stage", ["ppo", "rm"])
def test_llama_factory_stages_the_console_does_not_train_are_refused(tmp_path, stage):
    data = {"stage": stage, "finetuning_type": "lora", "dataset": "x", "dataset_dir": "ONLINE"}
    assert "not supported: the console trains sft, pt, dpo and kto" in convert(data, tmp_path).refused["stage"]


def test_llama_factory_pretraining_stage_trains_plain_text(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.jsonl").write_text('{"body": "some text"}\n')
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps(
        {"corpus": {"file_name": "c.jsonl", "columns": {"prompt": "body"}}}))
    out = convert({"stage": "pt", "finetuning_type": "lora", "dataset": "corpus"}, tmp_path)
    assert not out.refused
    assert out.values["dataset_format"] == "text" and out.values["text_column"] == "body"


# -- LLaMA-Factory's datasets through dataset_info.json ---------------------------------------------------------

def test_several_datasets_without_their_dataset_info_are_refused_never_taken_as_a_hub_name(tmp_path):
    out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "identity,alpaca_en_demo"}, tmp_path)
    assert "dataset" not in out.values
    line = out.refused["dataset"]
    assert "identity is an entry of" in line and "not there" in line and "--dataset" in line


def test_a_name_without_its_dataset_info_is_refused_with_where_it_was_looked_for(tmp_path):
    out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "alpaca_en_demo"}, tmp_path / "cfg")
    assert "dataset" not in out.values
    assert f"{tmp_path / 'cfg' / 'data' / 'dataset_info.json'}, which is not there" in out.refused["dataset"]


def test_a_name_missing_from_dataset_info_is_refused_naming_the_entries(tmp_path):
    out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "nope"}, LF)
    assert "nope is not an entry of" in out.refused["dataset"] and "colours" in out.refused["dataset"]


def test_hub_entry_with_openai_style_tags_is_a_chat_dataset_with_its_split(tmp_path):
    out = convert({"stage": "sft", "finetuning_type": "lora", "dataset": "hub_chat"}, LF)
    assert not out.refused
    assert out.values["dataset"] == "someorg/some-chat-data"
    assert (out.values["dataset_format"], out.values["dataset_split"]) == ("chat", "train_sft")
    assert "columns" not in out.values  # 'messages' is our chat column already


def test_dataset_dir_elsewhere_and_unreadable_info(tmp_path):
    (tmp_path / "mydata").mkdir()
    info = tmp_path / "mydata" / "dataset_info.json"
    info.write_text("{not json")
    data = {"stage": "sft", "finetuning_type": "lora", "dataset": "d", "dataset_dir": "mydata"}
    assert "cannot be read" in convert(data, tmp_path).refused["dataset"]
    info.write_text(json.dumps({"d": {"file_name": "d.jsonl", "formatting": "sharegpt",
                                      "tags": {"role_tag": "speaker", "content_tag": "text"}}}))
    assert "rename the keys" in convert(data, tmp_path).refused["dataset"]
    info.write_text(json.dumps({"d": {"file_name": "d.jsonl", "columns": {"images": "imgs"}}}))
    assert "multi-modal" in convert(data, tmp_path).refused["dataset"]


def test_import_with_dataset_given_replaces_the_unresolvable_names(capsys, tmp_path):
    source = tmp_path / "lf.yaml"
    text = (LF / "lora_sft.yaml").read_text().replace("dataset: sums", "dataset: identity,alpaca_en_demo")
    source.write_text(text)
    code, out, err, written = _import(capsys, tmp_path, source)
    assert code == 2 and written is None and "identity is an entry of" in err
    data = LF / "data" / "sums_alpaca.json"
    code, out, err, written = _import(capsys, tmp_path, source, "--dataset", str(data))
    assert code == 0, err
    assert "dataset: replaced by the dataset given on the command line" in out
    assert build_config(config_file=str(written)).values["dataset"] == str(data)


# -- axolotl -----------------------------------------------------------------------------------------------

def test_axolotl_lora(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, AX / "lora.yml")
    assert code == 0, err
    assert "axolotl config" in out
    assert "  micro_batch_size: 2 -> per_device_train_batch_size: 2" in out
    assert "  num_epochs: 4 -> num_train_epochs: 4" in out
    assert "  lora_target_linear: true -> lora_target_modules: all-linear" in out
    assert "  bf16: auto -> bf16: true" in out
    assert "wandb_project" in out.split("dropped:")[1]  # empty keys are listed, not silently gone
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "lora"
    assert (v["learning_rate"], v["per_device_train_batch_size"], v["gradient_accumulation_steps"]) == (2e-4, 2, 4)
    assert (v["lora_r"], v["lora_alpha"], _targets(v["lora_target_modules"])) == (32, 16, "all-linear")
    assert v["dataset"] == str(AX / "data" / "sums.jsonl") and v["dataset_format"] == "alpaca_prompt"  # axolotl's prompt
    assert (v["max_length"], v["val_size"], v["train_on_prompt"]) == (1024, 0.05, False)
    assert (v["optim"], v["lr_scheduler_type"], v["activation_checkpointing"]) == ("adamw_torch", "cosine", True)


def test_axolotl_qlora_chat_template(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, AX / "qlora.yml")
    assert code == 0, err
    assert "chat_template: axolotl's named template chatml is not applied" in out
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "qlora" and v["load_in_4bit"] is True
    assert _targets(v["lora_target_modules"]) == "q_proj,k_proj,v_proj,o_proj"
    assert v["dataset"] == str(AX / "data" / "chat.jsonl") and v["dataset_format"] == "chat"
    assert (v["per_device_train_batch_size"], v["packing"], v["warmup_steps"]) == (4, True, 0.1)
    assert "dataset_split" not in v  # 'train' is the default


def test_axolotl_full_without_adapter(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, AX / "full.yml")
    assert code == 0, err
    assert "  adapter: (none) -> method: full" in out
    assert "lr_scheduler: one_cycle is not one of transformers' lr_scheduler_type values" in out
    config = build_config(config_file=str(written))
    v = config.values
    assert config.method == "full"
    assert (v["learning_rate"], v["per_device_train_batch_size"], v["train_on_prompt"]) == (2e-5, 8, True)
    assert v["lr_scheduler_type"] == "cosine"  # the preset's, as the report says


def test_axolotl_dpo_imports_as_the_consoles_dpo(capsys, tmp_path):
    code, out, err, written = _import(capsys, tmp_path, AX / "dpo.yml")
    assert code == 0 and written is not None, out + err
    assert "rl: dpo -> objective: dpo" in out
    values = yaml.safe_load(written.read_text())
    values = values.get("arguments", values)
    assert values["dataset_format"] == "preference" and values["columns"] == "prompt:question"


@pytest.mark.parametrize("extra,key,words", [
    ({"deepspeed": "my_settings.json"}, "deepspeed", "accelerate_config"),  # no stage to read: refused
    ({"processor_type": "AutoProcessor"}, "processor_type", "multi-modal"),
    ({"adapter": "llama-adapter"}, "adapter", "use lora, qlora or none"),
    ({"lora_model_dir": "out/lora"}, "lora_model_dir", "existing adapter"),
    ({"datasets": [{"path": "a.jsonl", "type": "input_output"}]}, "datasets", "input_output"),
    ({"datasets": [{"path": "a.jsonl", "type": "alpaca"}, {"path": "b", "type": "input_output"}]}, "datasets",
     "input_output"),
])
def test_axolotl_refusals(tmp_path, extra, key, words):
    data = {"base_model": "org/m", "adapter": "lora", "datasets": [{"path": "a.jsonl", "type": "alpaca"}]}
    data.update(extra)
    assert words in convert(data, tmp_path).refused[key]


def test_axolotl_hub_dataset_and_completion_field(tmp_path):
    data = {"base_model": "org/m", "datasets": [{"path": "org/corpus", "type": "completion", "field": "body",
                                                 "split": "train[:10%]", "name": "en"}]}
    out = convert(data, tmp_path)
    assert not out.refused and out.method == "full"
    assert (out.values["dataset"], out.values["dataset_format"], out.values["text_column"]) == (
        "org/corpus", "text", "body")
    assert (out.values["dataset_split"], out.values["dataset_config"]) == ("train[:10%]", "en")


def test_a_jinja_chat_template_is_kept_when_the_field_exists(tmp_path):
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    out = convert({"base_model": "org/m", "adapter": "lora", "chat_template": template,
                   "datasets": [{"path": "a.jsonl", "type": "chat_template"}]}, tmp_path)
    if "chat_template" in all_fields():
        assert out.values["chat_template"] == template
    else:
        assert any("not supported by this version" in why for _, why in out.dropped)


# -- --config THEIR.yaml --------------------------------------------------------------------------------------

def test_config_flag_reads_a_foreign_file_with_its_report_as_notices():
    config = build_config(config_file=str(LF / "lora_sft.yaml"))
    assert config.method == "lora" and config.values["lora_r"] == 8
    assert config.values["dataset"] == str(LF / "data" / "sums_alpaca.json")
    assert "imported from LLaMA-Factory: lora_rank: 8 -> lora_r: 8" in config.notices
    assert any(n.startswith("imported from LLaMA-Factory: dropped template:") for n in config.notices)
    config = build_config(config_file=str(AX / "qlora.yml"), sets={"learning_rate": "5e-5"})
    assert config.method == "qlora" and config.values["learning_rate"] == 5e-5  # --set still wins
    assert "imported from axolotl: micro_batch_size: 4 -> per_device_train_batch_size: 4" in config.notices


def test_config_flag_refusals_are_config_errors(tmp_path):
    source = tmp_path / "ppo.yaml"
    source.write_text((LF / "dpo.yaml").read_text().replace("stage: dpo", "stage: ppo"))
    with pytest.raises(ConfigError) as err:
        build_config(config_file=str(source))
    assert "ppo.yaml (LLaMA-Factory): stage: ppo: not supported" in str(err.value)
    source = tmp_path / "orpo.yml"
    source.write_text((AX / "dpo.yml").read_text().replace("rl: dpo", "rl: orpo"))
    with pytest.raises(ConfigError, match="rl: orpo"):
        build_config(config_file=str(source))


def test_train_dry_run_on_a_foreign_file_prints_its_notices(capsys, tmp_path):
    code = main(["train", "--runs-dir", str(tmp_path / "runs"), "--config", str(LF / "qlora_sft.yaml"), "--set",
                 "model=", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "note: imported from LLaMA-Factory: quantization_bit: 4 -> load_in_4bit: true" in out
    assert "colours_sharegpt.json: 40 rows, sharegpt format" in out
    assert "method: QLoRA" in out


def test_config_dataset_flag_skips_the_files_datasets(tmp_path):
    source = tmp_path / "lf.yaml"
    source.write_text("stage: sft\nfinetuning_type: lora\ndataset: identity,alpaca_en_demo\n")
    with pytest.raises(ConfigError, match="identity is an entry of"):
        build_config(config_file=str(source))
    data = str(LF / "data" / "sums_alpaca.json")
    assert build_config(config_file=str(source), dataset=data).values["dataset"] == data


# -- the import command ------------------------------------------------------------------------------------

def test_default_output_here_and_never_overwritten_without_force(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(AX / "lora.yml")]) == 0
    written = tmp_path / "lora.console.yaml"
    assert written.is_file()
    written.write_text("# mine\n")
    capsys.readouterr()
    assert main(["import", str(AX / "lora.yml")]) == 2
    assert "exists: pass --force" in capsys.readouterr().err
    assert written.read_text() == "# mine\n"
    assert main(["import", str(AX / "lora.yml"), "--force"]) == 0
    assert yaml.safe_load(written.read_text())["method"] == "lora"


def test_import_refuses_our_own_file_and_missing_files(capsys, tmp_path):
    ours = tmp_path / "ours.yaml"
    ours.write_text("learning_rate: 1e-4\n")
    assert main(["import", str(ours)]) == 2
    assert "not recognised as a LLaMA-Factory or axolotl config" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "none.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_mapped_values_that_do_not_hold_are_one_line_and_nothing_is_written(capsys, tmp_path):
    source = tmp_path / "ax.yml"
    source.write_text("base_model: org/m\nadapter: lora\nmicro_batch_size: 0\n"
                      "datasets:\n  - path: org/d\n    type: alpaca\n")
    code, out, err, written = _import(capsys, tmp_path, source)
    assert code == 2 and written is None
    assert "per_device_train_batch_size" in err and ">= 1" in err


def test_text_from_the_file_is_printed_as_text(capsys, tmp_path):
    source = tmp_path / "ax.yml"
    source.write_text('base_model: "org/m\\x1b]0;owned\\x07"\nadapter: lora\nodd_key: "[bold]x[/bold]"\n'
                      "datasets:\n  - path: org/d\n    type: alpaca\n")
    code, out, err, written = _import(capsys, tmp_path, source)
    assert "\x1b" not in out + err and "\\x1b]0;owned\\x07" in out
    assert "odd_key: no counterpart in the console" in out


# -- hostile files (hypothesis) ---------------------------------------------------------------------------------

_KEYS = sorted(set().union(*[
    {"stage", "finetuning_type", "quantization_bit", "lora_rank", "lora_target", "dataset", "dataset_dir",
     "template", "additional_target", "pissa_init", "flash_attn", "adapter_name_or_path", "deepspeed",
     "disable_gradient_checkpointing"},
    {"base_model", "datasets", "adapter", "micro_batch_size", "load_in_4bit", "load_in_8bit", "rl",
     "lora_target_linear", "lora_target_modules", "bf16", "chat_template", "lr_scheduler", "optimizer",
     "flash_attention", "val_set_size", "lora_modules_to_save", "pretraining_dataset"},
    {"learning_rate", "warmup_ratio", "output_dir", "image_max_pixels", "x"},
]))
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["lora", "qlora", "full", "freeze", "all", "auto", "sft",
                                                           "dpo", "alpaca", "chat_template", "sums", "a,b",
                                                           "ONLINE", "data", "\x00", "../" * 3, "4"]))
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["path", "type", "split", "data_files", "field_messages", "name", "field",
                                     "message_property_mappings", "x"]), inner, max_size=4)), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.integers(), st.booleans()), _VALUE, max_size=10))
def test_arbitrary_mappings_never_raise_anything_but_config_error(tmp_path, data):
    source = tmp_path / "cfg.yaml"
    shutil.copytree(LF / "data", tmp_path / "data", dirs_exist_ok=True)
    try:
        imported = read_foreign(source, data)
        if imported is not None:
            imported.report()
            imported.notices()
            build_config(imported.method, sets=imported.values)
    except ConfigError:
        pass


# -- "did you mean" ------------------------------------------------------------------------------------------

# Settings another change adds (peft's LoraConfig options, model loading); until it lands a hint to them is not given.
_ADDED_ELSEWHERE = {"use_dora", "use_rslora", "loraplus_lr_ratio", "modules_to_save", "init_lora_weights",
                    "attn_implementation", "revision", "dtype", "load_in_8bit", "chat_template"}


def test_every_alias_target_is_a_real_field():
    fields = all_fields()
    assert [(k, v) for k, v in ALIASES.items() if v not in fields and v not in _ADDED_ELSEWHERE] == []
    assert [k for k, v in ALIASES.items() if v not in fields and suggest(k)] == []
    assert [k for k in ALIASES if k in fields] == []  # an alias never hides a real name


def test_the_importers_one_to_one_renames_agree_with_the_alias_table():
    from console.config.foreign import _RENAMES

    for tool, renames in _RENAMES.items():
        for theirs, ours in renames.items():
            if theirs != ours and theirs not in all_fields() and theirs not in LEGACY:
                assert ALIASES.get(theirs) == ours, (tool, theirs)


@pytest.mark.parametrize("name,target", [
    # other tools' names (the hints that were wrong: micro_batch_size offered auto_find_batch_size)
    ("micro_batch_size", "per_device_train_batch_size"), ("num_epochs", "num_train_epochs"),
    ("lora_rank", "lora_r"), ("lora_target", "lora_target_modules"), ("base_model", "model"),
    ("train_on_inputs", "train_on_prompt"), ("val_set_size", "val_size"), ("lr_scheduler", "lr_scheduler_type"),
    ("optimizer", "optim"), ("eval_batch_size", "per_device_eval_batch_size"), ("sample_packing", "packing"),
    ("lora_target_linear", "lora_target_modules"), ("quantization_bit", "load_in_4bit"),
    ("preprocessing_num_workers", "dataset_num_proc"), ("revision_of_model", "revision"),
    ("model_revision", "revision"), ("additional_target", "modules_to_save"),
    ("lora_modules_to_save", "modules_to_save"), ("flash_attention", "attn_implementation"),
    ("peft_use_dora", "use_dora"), ("quantization_type", "bnb_4bit_quant_type"),
    # habits
    ("lr", "learning_rate"), ("batch_size", "per_device_train_batch_size"), ("epochs", "num_train_epochs"),
    ("grad_accum", "gradient_accumulation_steps"), ("gradient_accumulation", "gradient_accumulation_steps"),
    ("warmup", "warmup_steps"), ("wd", "weight_decay"), ("seq_len", "max_length"), ("max_len", "max_length"),
    ("rank", "lora_r"), ("LR", "learning_rate"), ("batch-size", "per_device_train_batch_size"),
    # near misses, by spelling
    ("learning_rat", "learning_rate"), ("learnig_rate", "learning_rate"),
    ("per_device_train_batchsize", "per_device_train_batch_size"), ("num_train_epoch", "num_train_epochs"),
    ("weight_decy", "weight_decay"), ("max_lenght", "max_length"), ("lr_scheduler_typ", "lr_scheduler_type"),
    ("eval_step", "eval_steps"), ("Learning_Rate", "learning_rate"),
])
def test_hints_name_the_setting_meant(name, target):
    if target not in all_fields():
        pytest.skip(f"{target} is not a setting in this version")
    assert suggest(name) == f" Did you mean '{target}'?"


@pytest.mark.parametrize("name", ["foo", "stage", "template", "finetuning_type", "dataset_dir", "wandb_project",
                                  "do_train", "plot_loss", "strict", "adapter", "rl", "special_tokens", "xyz_abc",
                                  "overwrite_cache", "output_dir", "micro", "batchy_thing"])
def test_unrelated_words_get_no_hint(name):
    assert suggest(name) == ""


def test_no_hint_is_ever_auto_find_batch_size_for_a_batch_name():
    for name in ("micro_batch_size", "batch_size", "train_batch_size", "mini_batch_size", "total_batch_size",
                 "global_batch_size", "eval_batch_size"):
        assert "auto_find_batch_size" not in suggest(name)


# -- one real run from an imported config (e2e) ----------------------------------------------------------------

@pytest.mark.e2e
def test_an_imported_config_trains(capsys, tmp_path):
    from tests.support.e2e_util import sets

    code, out, err, written = _import(capsys, tmp_path, LF / "lora_sft.yaml")
    assert code == 0, err
    code = main(["train", "--runs-dir", str(tmp_path / "runs"), "--config", str(written), "--set", "model=",
                 "--set", "trust_remote_code=false", "--set", "dataset_num_proc=1", *sets()])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "done at step 8" in out


def test_deepspeed_refusal_names_the_shipped_accelerate_presets(tmp_path):
    line = convert({"stage": "sft", "finetuning_type": "full", "deepspeed": "my_settings.json", "dataset": "x",
                    "dataset_dir": "ONLINE"}, tmp_path).refused["deepspeed"]
    presets = Path(__file__).parents[2] / "presets" / "accelerate"
    for name in ("deepspeed_zero2", "deepspeed_zero3"):
        assert name in line and (presets / f"{name}.yaml").is_file()


def test_llama_factory_settings_the_file_leaves_out_are_what_llama_factory_trains_with():
    """A file without learning_rate, epochs, batch or warmup trains with transformers' defaults under LLaMA-Factory;
    the import writes them out (marked as defaults), not the console's LoRA preset (2e-4, 5 epochs, 4 x 4)."""
    data = {"model_name_or_path": "org/model", "stage": "sft", "do_train": True, "finetuning_type": "lora",
            "dataset": "my_alpaca", "warmup_ratio": 0.03}
    imported = convert(data, dataset_given=True)
    assert not imported.refused
    v = imported.values
    assert (v["learning_rate"], v["num_train_epochs"], v["per_device_train_batch_size"],
            v["gradient_accumulation_steps"], v["lr_scheduler_type"], v["weight_decay"], v["max_length"]) == (
        5e-5, 3.0, 8, 1, "linear", 0.0, 2048)
    assert v["warmup_steps"] == 0.03  # the file's own warmup_ratio, not the default 0
    said = {their for their, *_ in imported.mapped}
    assert "(default) learning_rate" in said and "(default) warmup_steps" not in said
    config = build_config("lora", sets=dict(v))
    assert config.values["learning_rate"] == 5e-5 and config.values["num_train_epochs"] == 3.0


def test_a_full_disk_under_the_output_is_one_line_and_leaves_no_file(tmp_path):
    """Disk full during `import -o` was a traceback, and left a 0-byte config. A real file system filled up (a
    tmpfs in a mount namespace of its own) under the output."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) to mount a small file system")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mount = 'mount -t tmpfs -o size=64k tmpfs "$0"'
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount, str(folder)], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a mount namespace here: {probe.stderr.strip()}")
    script = (mount + ' && head -c 1M /dev/zero > "$0/filler" 2>/dev/null; '
              '"$1" -m console import "$2" -o "$0/ours.yaml"; echo "exit $?"; ls "$0"')
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, str(folder), sys.executable, str(LF / "lora_sft.yaml")],
                          capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on the disk" in errors[0] and "ours.yaml" in errors[0], proc.stderr
    assert proc.stdout.split()[-3:] == ["exit", "2", "filler"]  # no config, no temporary file left
