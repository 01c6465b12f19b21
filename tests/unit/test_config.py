"""RunConfig: layering, validation messages, legacy names, cross-field rules, machine resolution, analysis."""
import os

import pytest
import yaml

from console.common.errors import ConfigError
from console.config.analysis import analyse, check, cli_command, out_of_range, training_arguments_snippet
from console.config.fields import all_fields
from console.config.presets import METHODS, load_preset, load_scenarios
from console.config.run_config import RunConfig, build_config, load_run_config, parse_set, resolve, to_yaml
from console.machine.hardware import GPU, Hardware

CPU = Hardware()
A100 = Hardware((GPU(0, "NVIDIA A100", 81920, 80000, 8.0),))
T4 = Hardware((GPU(0, "Tesla T4", 15360, 15000, 7.5),))


@pytest.mark.parametrize("method,lr,batch,accum", [("full", 2e-5, 4, 4), ("lora", 2e-4, 4, 4),
                                                    ("qlora", 2e-4, 8, 2), ("adapter", 1e-4, 4, 4)])
def test_presets_hold_the_guide_defaults(method, lr, batch, accum):
    p = load_preset(method)
    d = p.defaults
    assert (d["learning_rate"], d["per_device_train_batch_size"], d["gradient_accumulation_steps"]) == (lr, batch,
                                                                                                        accum)
    assert d["lr_scheduler_type"] == "cosine" and d["warmup_steps"] == 0.1
    assert d["weight_decay"] == 0.01 and d["max_grad_norm"] == 1.0
    lo, hi = p.ranges["learning_rate"]
    assert lo <= lr <= hi
    for key in ("per_device_train_batch_size", "num_train_epochs"):
        lo, hi = p.ranges[key]
        assert lo <= d[key] <= hi, key
    # every preset key is a known field
    assert not set(d) - set(all_fields())


def test_lora_preset_is_the_guides_current_configuration():
    d = load_preset("lora").defaults
    assert d["num_train_epochs"] == 5 and d["lora_dropout"] == 0.05 and d["lora_target_modules"] == "all-linear"
    assert d["save_total_limit"] == 3 and d["load_best_model_at_end"] is True


def test_qlora_adds_quantisation_and_adapter_picks_a_type():
    q = load_preset("qlora").defaults
    assert q["load_in_4bit"] and q["bnb_4bit_quant_type"] == "nf4" and q["bnb_4bit_use_double_quant"]
    assert load_preset("adapter").defaults["adapter_type"] in all_fields()["adapter_type"].choices


def test_layering_preset_then_file_then_set(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("learning_rate: 3.0e-4\nweight_decay: 0.05\nmethod: qlora\n")
    c = build_config(None, str(f), parse_set(["weight_decay=0.1"]))
    assert c.method == "qlora"
    assert c.values["learning_rate"] == 3e-4  # from the file
    assert c.values["weight_decay"] == 0.1  # --set wins over the file
    assert c.values["per_device_train_batch_size"] == 8  # from the qlora preset


def test_set_accepts_every_training_argument():
    c = build_config("lora", sets=parse_set(["adam_beta2=0.98", "optim=adamw_torch", "gradient_checkpointing=true",
                                             "report_to=tensorboard"]))
    assert c.values["adam_beta2"] == 0.98 and c.values["optim"] == "adamw_torch"
    assert c.values["activation_checkpointing"] is True and c.values["report_to"] == "tensorboard"


@pytest.mark.parametrize("sets,field,words", [
    (["learning_rate=abc"], "learning_rate", ["learning_rate must be a number > 0", "'abc'"]),
    (["per_device_train_batch_size=0"], "per_device_train_batch_size", [">= 1", "got 0"]),
    (["per_device_train_batch_size=2.5"], "per_device_train_batch_size", ["whole number"]),
    (["learning_rate=-1"], "learning_rate", ["> 0"]),
    (["val_size=1"], "val_size", ["val_size", "<= 0.9"]),
    (["per_device_train_batch_size=1000000000"], "per_device_train_batch_size", ["<= 65536"]),
    (["learning_rate=1e9"], "learning_rate", ["<= 10"]),
    (["fp16=maybe"], "fp16", ["true or false"]),
    (["lr_scheduler_type=cosin"], "lr_scheduler_type", ["Did you mean 'cosine'"]),
    (["learning_rate=-"], "learning_rate", ["must be a number", "got '-'"]),  # YAML's [None]: not what was typed
    (["max_steps=[1"], "max_steps", ["whole number", "got '[1'"]),
])
def test_bad_values_name_the_field_and_the_fix(sets, field, words):
    with pytest.raises(ConfigError) as err:
        build_config("lora", sets=parse_set(sets))
    assert field in err.value.problems
    for w in words:
        assert w in str(err.value)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError) as err:
        build_config("lora", sets={"learnig_rate": "1e-4"})
    assert "Did you mean 'learning_rate'" in str(err.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        build_config("lora", sets={"learning_rate": "x", "per_device_train_batch_size": "0"})
    assert set(err.value.problems) == {"learning_rate", "per_device_train_batch_size"}


def test_unknown_method():
    with pytest.raises(ConfigError, match="unknown method 'lorra'.*Did you mean 'lora'"):
        build_config("lorra")


def test_set_without_equals():
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["learning_rate"])


def test_legacy_names_are_translated_with_a_notice():
    c = build_config("lora", sets={"evaluation_strategy": "epoch", "warmup_ratio": "0.05", "no_cuda": "true",
                                   "overwrite_output_dir": "true", "logging_dir": "x"})
    assert c.values["eval_strategy"] == "epoch" and c.values["warmup_steps"] == 0.05 and c.values["use_cpu"] is True
    assert "overwrite_output_dir" not in c.values and "logging_dir" not in c.values
    text = " ".join(c.notices)
    for word in ("evaluation_strategy", "warmup_ratio", "no_cuda", "overwrite_output_dir", "logging_dir"):
        assert word in text
    with pytest.raises(ConfigError, match="warmup_ratio must be a ratio"):
        build_config("lora", sets={"warmup_ratio": "5"})


def test_load_best_model_rules_are_resolved():
    c = build_config("lora", sets={"eval_steps": "30", "save_steps": "50"})
    assert c.values["save_steps"] == 60  # a multiple of eval_steps
    c = build_config("lora", sets={"eval_strategy": "epoch"})
    assert c.values["save_strategy"] == "epoch"
    c = build_config("lora", sets={"eval_strategy": "no"})
    assert c.values["load_best_model_at_end"] is False
    assert any("load_best_model_at_end" in n for n in c.notices)


def test_early_stopping_turns_on_what_it_needs():
    c = build_config("adapter", sets={"early_stopping_patience": "3"})
    assert c.values["load_best_model_at_end"] is True and c.values["eval_strategy"] != "no"


def test_eval_split_whenever_eval_is_on():
    c = build_config("lora", sets={"val_size": "0"})
    assert c.values["val_size"] > 0


def test_resolution_on_a_cpu_says_fp32():
    c = resolve(build_config("lora"), CPU)
    assert c.values["fp16"] is False and c.values["use_cpu"] is True and c.values["dataloader_pin_memory"] is False
    assert c.resolved["precision"] == "fp32"
    assert "fp16 ignored: no CUDA device, this run uses fp32" in c.notices
    q = resolve(build_config("qlora"), CPU)
    assert q.values["bnb_4bit_compute_dtype"] == "float32" and q.values["bf16"] is False


def test_resolution_on_gpus():
    q = resolve(build_config("qlora"), A100)
    assert q.resolved["precision"] == "bf16" and q.values["bnb_4bit_compute_dtype"] == "bfloat16"
    q = resolve(build_config("qlora"), T4)  # no bf16 on a T4
    assert q.resolved["precision"] == "fp16" and q.values["bnb_4bit_compute_dtype"] == "float16"
    assert any("bf16 not supported" in n for n in q.notices)
    f = resolve(build_config("full"), A100)
    assert f.resolved["precision"] == "fp16" and not f.values.get("use_cpu")


def test_analysis_says_within_or_outside_and_the_effective_batch():
    c = resolve(build_config("lora", sets={"learning_rate": "1e-3"}), CPU)
    text = "\n".join(analyse(c))
    assert "learning_rate=1e-3  outside the LoRA range 1e-4 to 5e-4" in text
    assert "per_device_train_batch_size=4  within the LoRA range 4 to 8" in text
    assert "effective batch = 4 per device x 4 accumulation x 1 process = 16" in text
    assert check(c, "learning_rate", 2e-4).within is True
    assert out_of_range(c) and "learning_rate" in out_of_range(c)[0]
    c2 = resolve(build_config("lora", sets={"processes": "2"}), CPU)
    assert c2.effective_batch == 32


def test_renders_yaml_python_and_cli(tmp_path):
    c = resolve(build_config("qlora", sets={"learning_rate": "3e-4"}), CPU)
    data = yaml.safe_load(to_yaml(c))
    assert data["method"] == "qlora" and data["arguments"]["learning_rate"] == 3e-4
    py = training_arguments_snippet(c)
    assert "SFTConfig(" in py and "learning_rate=0.0003" in py and "LoraConfig(" in py
    assert "BitsAndBytesConfig(" in py
    compile(py, "<snippet>", "exec")  # valid Python
    cli = cli_command(c)
    assert cli.startswith("training-console train --method qlora") and "learning_rate=3e-4" in cli
    # the saved YAML reads back to the same config
    path = tmp_path / "config.yaml"
    c.save(path)
    back = load_run_config(tmp_path)
    assert back.values == c.values and back.method == "qlora"


def test_yaml_syntax_error_gives_the_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("learning_rate: 1e-4\nweight_decay: [0.1\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"YAML syntax error .* line \d+"):
        build_config("lora", str(f))


def test_config_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_config("lora", str(tmp_path / "nope.yaml"))
    f = tmp_path / "latin.yaml"
    f.write_bytes("learning_rate: 1e-4 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        build_config("lora", str(f))
    f = tmp_path / "list.yaml"
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="key: value"):
        build_config("lora", str(f))


def test_yaml_is_loaded_safely(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("learning_rate: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        build_config("lora", str(f))


def test_switching_method_keeps_user_data_but_takes_method_numbers():
    c = build_config("full", sets={"dataset": "data.jsonl", "max_length": "128", "learning_rate": "3e-5"})
    lora = c.with_changes({"method": "lora"})
    assert lora.method == "lora" and lora.values["dataset"] == "data.jsonl" and lora.values["max_length"] == 128
    assert lora.values["learning_rate"] == 2e-4 and lora.values["lora_r"] == 16


def test_with_changes_does_not_touch_the_original():
    c = RunConfig.from_preset("lora")
    c2 = c.with_changes({"learning_rate": 1e-4})
    assert c.values["learning_rate"] == 2e-4 and c2.values["learning_rate"] == 1e-4


def test_scenarios_are_valid_configs():
    scenarios = load_scenarios()
    assert scenarios
    for s in scenarios:
        assert s.method in METHODS
        build_config(s.method, sets=s.changes)


def test_training_args_schema_matches_installed_transformers():
    """training_args.json is generated from transformers; regenerate with `python -m console.config.schema_gen`."""
    import json
    from pathlib import Path

    import transformers

    from console.config.schema_gen import generate

    shipped = json.loads(Path("console/training_args.json").read_text()) if Path(
        "console/training_args.json").exists() else json.loads(
        (Path(__file__).parents[2] / "console" / "config" / "training_args.json").read_text())
    assert set(shipped["fields"]) == set(generate()), (
        f"regenerate console/training_args.json for transformers {transformers.__version__}")


def test_trust_remote_code_is_off_unless_asked_and_said_when_on():
    assert resolve(build_config("lora"), CPU).values["trust_remote_code"] is False
    c = resolve(build_config("lora", sets={"trust_remote_code": "true"}), CPU)
    assert any("trust_remote_code is ON" in n for n in c.notices)


def test_report_to_none_is_the_word_not_a_null():
    from console.config.run_config import value_from_text

    assert value_from_text("report_to", "none") == "none"
    assert build_config("lora", sets={"report_to": "none"}).values["report_to"] == "none"
    assert value_from_text("max_samples", "none") is None


def test_eval_on_start_is_the_default_and_off_without_evaluation():
    # the base model's eval before the first step is on by default (what the fine-tune changed; damage from the
    # first steps shows only against it), and off when nothing is evaluated (the Trainer would fail on it)
    assert build_config("lora").training_arguments()["eval_on_start"] is True
    assert build_config("lora", sets={"eval_strategy": "no"}).training_arguments()["eval_on_start"] is False


def test_training_console_cpu_is_read_at_every_probe(monkeypatch):
    # it sat inside an lru_cache: a test (or a user) that set it after the first probe got the cached answer
    from console.machine import hardware

    gpu = (hardware.GPU(0, "NVIDIA H200", 143771, 143000, 9.0),)
    monkeypatch.setattr(hardware, "_nvidia", lambda: gpu)
    monkeypatch.delenv("TRAINING_CONSOLE_CPU", raising=False)
    assert hardware.probe().cuda
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    assert not hardware.probe().cuda
    monkeypatch.delenv("TRAINING_CONSOLE_CPU")
    assert hardware.probe().cuda and resolve(build_config("lora")).resolved["device"] == "cuda"


def test_cuda_visible_devices_is_read_at_every_probe(tmp_path, monkeypatch):
    """Only nvidia-smi's answer is cached (a real nvidia-smi here: a script on PATH printing two GPUs); which of them
    this process sees is read from CUDA_VISIBLE_DEVICES at each probe, not frozen by the first."""
    from console.machine import hardware

    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA H200, 143771, 143000, 9.0'\necho '1, NVIDIA H100, 81559, 80000, 9.0'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("TRAINING_CONSOLE_CPU", raising=False)
    hardware._nvidia.cache_clear()
    try:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        assert [g.name for g in hardware.probe().gpus] == ["NVIDIA H100"]
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
        assert [g.name for g in hardware.probe().gpus] == ["NVIDIA H200", "NVIDIA H100"]
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        assert not hardware.probe().cuda
    finally:
        hardware._nvidia.cache_clear()  # the next test asks the real machine again


@pytest.mark.parametrize("text,words", [
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n",
     "anchors and aliases"),
    ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nested more than"),
    ("max_steps: " + "9" * 5000 + "\n", "digits"),
    ("x" * (2 << 20), "larger than 1 MiB"),
])
def test_hostile_config_files_are_refused_in_one_line(tmp_path, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words) as info:
        build_config(config_file=str(path))
    assert "\n" not in str(info.value)


def test_a_huge_typed_number_is_one_short_line():
    with pytest.raises(ConfigError) as info:
        build_config("lora", sets={"max_steps": "9" * 5000})
    assert "whole number" in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("typed,shown", [("-", "got '-'"), ("[/b]", "got '[/b]'"), ("abc", "got 'abc'")])
def test_the_arguments_screen_quotes_what_was_typed(typed, shown):
    from console.config.run_config import value_from_text

    with pytest.raises(ConfigError) as info:
        value_from_text("eval_steps", typed)
    assert shown in str(info.value)


def test_every_fields_help_is_whole_and_writes_percent_once():
    """show --fields cut two dozen helps mid-sentence (a 240-character cut when the schema was generated) and
    printed transformers' argparse escape as '~20%% slower'."""
    from console.config.fields import all_fields

    specs = all_fields()
    assert not [n for n, s in specs.items() if s.help.rstrip().endswith("...") or "%%" in s.help]
    assert "~20% slower" in specs["activation_checkpointing"].help
