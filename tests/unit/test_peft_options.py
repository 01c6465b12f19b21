"""peft's LoraConfig options (use_dora, use_rslora, modules_to_save, init_lora_weights, target lists, LoRA+) and the
model-loading options (attn_implementation, revision, dtype, load_in_8bit, chat_template): each reaches the object
built from it, each mistake is one line before launch, and DoRA / rsLoRA really train the demo model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli.main import main
from console.common.errors import ConfigError, DataError, UserError
from console.config.fields import all_fields, peft_field_names
from console.config.run_config import build_config, resolve
from console.loop.preflight import check_inputs
from console.machine.hardware import CPU_ONLY, GPU, Hardware
from console.runs.rundir import list_run_dirs
from tests.support.e2e_util import sets

ROOT = Path(__file__).resolve().parents[2]
H100 = Hardware((GPU(0, "NVIDIA H100", 81_559, 80_000, 9.0),))


def _values(method="lora", hw=CPU_ONLY, **changes):
    return resolve(build_config(method, sets={k: str(v) for k, v in changes.items()}), hw).values


# -- the generated schema ------------------------------------------------------------------------------------------

def test_peft_args_json_is_generated_from_the_installed_peft():
    """console/peft_args.json is generated from peft's LoraConfig; regenerate: python -m console.config.peft_schema_gen."""
    import peft

    from console.config.peft_schema_gen import generate

    shipped = json.loads((ROOT / "console" / "config" / "peft_args.json").read_text())
    assert shipped["peft_version"] == peft.__version__
    assert json.loads(json.dumps(generate(), default=str)) == shipped["fields"], (
        f"regenerate console/peft_args.json for peft {peft.__version__}")


def test_peft_fields_are_console_settings_that_collide_with_no_training_argument():
    training = set(json.loads((ROOT / "console" / "config" / "training_args.json").read_text())["fields"])
    names = set(peft_field_names())
    assert {"use_dora", "use_rslora", "modules_to_save", "init_lora_weights", "bias", "layers_to_transform"} <= names
    assert not names & training
    assert not {"loraplus_lr_ratio", "loraplus_lr_embedding", "revision", "dtype", "attn_implementation",
                "chat_template", "load_in_8bit"} & training
    specs = all_fields()
    for name in names:
        assert specs[name].section == "method settings" and not specs[name].training_argument and specs[name].help
    # internal peft fields are not offered; ours keep our names and bounds
    assert not {"task_type", "peft_type", "inference_mode", "base_model_name_or_path", "r"} & set(specs)
    assert specs["lora_r"].lo == 1 and not specs["lora_r"].peft and specs["lora_alpha"].lo_open


def test_values_are_checked_as_typed():
    assert build_config("lora", sets={"init_lora_weights": "pissa_niter_16"}).values["init_lora_weights"] == \
        "pissa_niter_16"
    assert build_config("lora", sets={"layers_to_transform": "0,1"}).values["layers_to_transform"] == [0, 1]
    with pytest.raises(ConfigError, match="init_lora_weights must be true, false or one of"):
        build_config("lora", sets={"init_lora_weights": "pisa"})
    with pytest.raises(ConfigError, match="bias must be one of none, all, lora_only"):
        build_config("lora", sets={"bias": "some"})
    with pytest.raises(ConfigError, match="loraplus_lr_ratio must be a number > 0"):
        build_config("lora", sets={"loraplus_lr_ratio": "0"})
    with pytest.raises(ConfigError, match="dtype must be one of"):
        build_config("lora", sets={"dtype": "float8"})


# -- each option reaches what is built -----------------------------------------------------------------------------

def test_lora_options_reach_peft_loraconfig():
    from console.trainer.model import peft_config

    v = _values(use_dora="true", use_rslora="true", modules_to_save="lm_head", init_lora_weights="pissa",
                lora_bias="false", bias="lora_only")
    config = peft_config("lora", v)
    assert config.use_dora is True and config.use_rslora is True and config.bias == "lora_only"
    assert config.modules_to_save == ["lm_head"] and config.init_lora_weights == "pissa"
    for word, expected in (("olora", "olora"), ("gaussian", "gaussian"), ("false", False), ("true", True)):
        assert peft_config("lora", _values(init_lora_weights=word)).init_lora_weights == expected
    plain = peft_config("lora", _values())
    assert plain.use_dora is False and plain.modules_to_save is None and plain.init_lora_weights is True


def test_target_modules_as_a_yaml_list_a_comma_string_all_linear_and_all(tmp_path):
    from console.trainer.model import peft_config

    assert peft_config("lora", _values(lora_target_modules="[q_proj, v_proj]")).target_modules == {"q_proj", "v_proj"}
    assert peft_config("lora", _values(lora_target_modules="q_proj,v_proj")).target_modules == {"q_proj", "v_proj"}
    assert peft_config("lora", _values(lora_target_modules="q_proj")).target_modules == {"q_proj"}
    assert peft_config("lora", _values(lora_target_modules="all-linear")).target_modules == "all-linear"
    config = build_config("lora", sets={"lora_target_modules": "all"})
    assert config.values["lora_target_modules"] == "all-linear"
    assert any("LLaMA-Factory" in n for n in config.notices)
    # a user's YAML file with a list, as LLaMA-Factory and axolotl write it; saved and read back the same
    (tmp_path / "c.yaml").write_text("lora_target_modules:\n  - q_proj\n  - k_proj\nuse_dora: true\n")
    config = build_config("lora", str(tmp_path / "c.yaml"))
    assert config.values["lora_target_modules"] == ["q_proj", "k_proj"] and config.values["use_dora"] is True
    assert peft_config("lora", config.values).target_modules == {"q_proj", "k_proj"}


def test_peft_refusing_a_combination_is_one_line():
    from console.trainer.model import peft_config

    with pytest.raises(UserError, match="LoRA settings refused by peft: `layers_to_transform` cannot be used"):
        peft_config("lora", _values(layers_to_transform="0"))


def test_model_loading_options_reach_from_pretrained():
    import torch
    from transformers import BitsAndBytesConfig

    from console.trainer.model import load_kwargs

    v = _values(model="org/some-model", revision="v1.0", attn_implementation="eager", dtype="bfloat16")
    kwargs = load_kwargs("lora", v)
    assert kwargs["revision"] == "v1.0" and kwargs["attn_implementation"] == "eager"
    assert kwargs["dtype"] is torch.bfloat16
    assert "revision" not in load_kwargs("lora", _values())  # the demo model is a local folder
    eight = load_kwargs("lora", _values(load_in_8bit="true"))
    assert isinstance(eight["quantization_config"], BitsAndBytesConfig)
    assert eight["quantization_config"].load_in_8bit and not eight["quantization_config"].load_in_4bit
    assert eight["device_map"] == {"": "cpu"} and eight["dtype"] is torch.float32
    legacy = build_config("lora", sets={"torch_dtype": "float32"})
    assert legacy.values["dtype"] == "float32" and any("'torch_dtype' is now 'dtype'" in n for n in legacy.notices)


def test_dtype_and_load_in_8bit_are_resolved_with_the_precision():
    c = resolve(build_config("lora", sets={"dtype": "float16"}), CPU_ONLY)
    assert c.values["dtype"] == "float32" and any("dtype float16 on a CPU" in n for n in c.notices)
    c = resolve(build_config("full", sets={"dtype": "float16", "fp16": "true"}), H100)
    assert c.values["dtype"] == "float32" and any("GradScaler" in n or "scale their gradients" in n
                                                  for n in c.notices)
    c = resolve(build_config("lora", sets={"dtype": "bfloat16", "bf16": "true"}), H100)
    assert c.values["dtype"] == "bfloat16" and c.resolved["precision"] == "bf16"
    c = build_config("qlora", sets={"load_in_8bit": "true"})
    assert c.values["load_in_8bit"] is False and c.values["load_in_4bit"] is True
    assert any("load_in_8bit" in n for n in c.notices)
    c = build_config("full", sets={"load_in_8bit": "true"})
    assert c.values["load_in_8bit"] is False and any("cannot train it" in n for n in c.notices)
    assert build_config("lora", sets={"load_in_8bit": "true"}).values["load_in_8bit"] is True


def test_chat_template_from_a_string_and_from_a_file_is_set_on_the_tokenizer(tmp_path, monkeypatch):
    from console.trainer.model import load_tokenizer, model_source

    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.jinja").write_text(template)
    from_file = build_config("lora", sets={"chat_template": "mine.jinja"}).values
    assert from_file["chat_template"] == str(tmp_path / "mine.jinja")  # made absolute where the user gave it
    for values in (from_file, _values(chat_template=template)):
        tokenizer = load_tokenizer(model_source(values), values)
        assert tokenizer.chat_template == template
        text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
        assert text == "<user>hi\n"


def test_a_chat_template_that_does_not_render_is_one_line_at_data_preparation():
    from console.data.prepare import prepare
    from console.trainer.model import load_tokenizer, model_source

    values = _values(chat_template="{% for m in messages %}{{ m.content }")
    tokenizer = load_tokenizer(model_source(values), values)
    with pytest.raises(DataError, match=r"^chat_template does not render \(line 1\): TemplateSyntaxError") as err:
        prepare(values, tokenizer, need_eval=False)
    assert "\n" not in str(err.value)


def test_loraplus_optimizer_puts_b_matrices_at_ratio_times_the_learning_rate(tmp_path):
    import datasets

    from console.trainer.kinds.sft import ConsoleSFTTrainer, sft_config
    from console.trainer.model import load_model, loraplus_options

    v = _values(loraplus_lr_ratio=16, learning_rate="1e-3", weight_decay="0.01")
    assert loraplus_options("adapter", v) is None and loraplus_options("lora", _values()) is None
    model, tokenizer, _ = load_model("lora", v)
    args = sft_config(dict(output_dir=str(tmp_path / "out"), use_cpu=True, learning_rate=1e-3, weight_decay=0.01,
                           report_to="none", max_length=32))
    train = datasets.Dataset.from_dict({"text": ["one two three", "four five six"]})
    trainer = ConsoleSFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                                loraplus=loraplus_options("lora", v))  # as console/trainer/train.py builds it
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert named and all(id(p) in lr_of for _, p in named)
    assert {lr_of[id(p)] for n, p in named if "lora_A" in n} == {1e-3}
    b_rates = {lr_of[id(p)] for n, p in named if "lora_B" in n}
    assert len(b_rates) == 1 and b_rates.pop() == pytest.approx(1.6e-2)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01
    # without LoRA+, the Trainer's own optimizer: one learning rate
    plain_model, _, _ = load_model("lora", _values())
    plain = ConsoleSFTTrainer(model=plain_model, args=args, train_dataset=train, processing_class=tokenizer)
    assert {g["lr"] for g in plain.create_optimizer().param_groups} == {1e-3}


def test_loraplus_is_said_unused_outside_lora():
    config = build_config("adapter", sets={"loraplus_lr_ratio": "16"})
    assert any("loraplus_lr_ratio" in n and "not used" in n for n in config.notices)


# -- one line before launch ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"attn_implementation": "fast_attention"}, "attn_implementation 'fast_attention' is not one transformers knows"),
    ({"attn_implementation": "flash_attention_2"}, "needs a CUDA GPU and this run has none: use sdpa"),
    ({"chat_template": "/nowhere/template.jinja"}, "chat_template file /nowhere/template.jinja not found"),
    ({"revision": "main"}, "revision applies to Hub models; the built-in demo model is a local folder: remove revision"),
    # another tool's template name, taken as the template, failed the run later with "raise max_length"
    ({"chat_template": "chatml"}, "chat_template 'chatml' is not a Jinja template (no {{ or {% in it) nor a .jinja"),
    ({"chat_template": "{% for m in messages %}{{ m.content }"}, "chat_template is not valid Jinja (line 1: "),
])
def test_pre_launch_mistakes_are_one_line(changes, message):
    values = _values(**changes)
    with pytest.raises(DataError) as err:
        check_inputs(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_flash_attention_without_its_package_names_what_to_install(monkeypatch):
    import console.machine.load_checks as checks

    monkeypatch.setattr(checks, "installed", lambda module: False)
    values = dict(_values(attn_implementation="flash_attention_2"), use_cpu=False)  # as on a GPU machine
    with pytest.raises(DataError, match="needs the flash-attn package, which is not installed: pip install "
                                        "flash-attn .or kernels., or use sdpa"):
        check_inputs(values)
    monkeypatch.setattr(checks, "installed", lambda module: module == "flash_attn")
    check_inputs(values)  # installed: no complaint
    check_inputs(_values(attn_implementation="sdpa"))


def test_dry_run_refuses_a_revision_on_a_local_model_folder(tmp_path, capsys):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    code = main(["train", "--dry-run", "--model", str(folder), "--set", "revision=v2"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"error: revision applies to Hub models; {folder} is a local folder: remove revision"


# -- real runs on the demo model -----------------------------------------------------------------------------------

@pytest.mark.e2e
def test_target_modules_naming_no_module_fail_the_run_in_one_line(runs_dir):
    code = main(["train", "--runs-dir", str(runs_dir), *sets("lora_target_modules=[q_proj, qkv_fused]")])
    run = list_run_dirs(runs_dir)[-1]
    status = run.status()
    assert code == 1 and status["phase"] == "failed" and status["kind"] == "input"
    assert status["message"].startswith("lora_target_modules ['qkv_fused'] names no module of this model: its "
                                        "linear layers are ")
    assert "q_proj" in status["message"] and "Traceback" not in run.log_path.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize("flag", ["use_dora", "use_rslora"])
def test_dora_and_rslora_runs_train_and_save_their_adapter(runs_dir, flag):
    # the rsLoRA run is a LoRA+ run too: the trainer takes LoRA+ from console/trainer/train.py's own path
    loraplus = ["loraplus_lr_ratio=16"] if flag == "use_rslora" else []
    code = main(["train", "--runs-dir", str(runs_dir), *sets(f"{flag}=true", "max_steps=4", "eval_steps=2",
                                                           "save_steps=2", *loraplus)])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    assert run.status()["phase"] == "done"
    saved = json.loads((run.path / "model" / "adapter_config.json").read_text())
    assert saved[flag] is True
    other = "use_rslora" if flag == "use_dora" else "use_dora"
    assert saved[other] is False
    said = "LoRA+: the adapter's B matrices learn at 16 x the learning rate" in run.log_path.read_text()
    assert said == bool(loraplus)


@pytest.mark.e2e
def test_lora_on_an_8bit_base_trains_on_the_cpu(runs_dir):
    """bitsandbytes 0.50 runs LLM.int8 layers on the CPU, backward included: no CUDA-only refusal is needed."""
    code = main(["train", "--runs-dir", str(runs_dir), *sets("load_in_8bit=true", "max_steps=4", "eval_steps=2",
                                                           "save_steps=2", "learning_rate=2e-3")])
    run = list_run_dirs(runs_dir)[-1]
    assert code == 0, "\n".join(run.tail_log(30))
    assert run.status()["phase"] == "done"
    from console.runs.metrics import load_history

    history = load_history(run.metrics_path)
    assert len(history.train_loss) >= 2
    # bitsandbytes' cast notice, said at every 8-bit matmul, is in the log once (console/trainer/quiet.py)
    assert run.log_path.read_text().count("MatMul8bitLt: inputs will be cast") == 1

# -- the editor offers them ----------------------------------------------------------------------------------------

async def test_the_add_field_dialog_offers_the_new_fields_with_their_help(tmp_path, monkeypatch):
    from textual.widgets import OptionList, Static

    from screens.add_field_screen import AddFieldScreen
    from screens.app import TrainingConsoleApp
    from screens.arguments_screen import ArgumentsScreen

    monkeypatch.setenv("TRAINING_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRAINING_CONSOLE_CPU", "1")
    monkeypatch.chdir(tmp_path)
    app = TrainingConsoleApp(runs_dir="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "enter")  # LoRA
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ArgumentsScreen)
        await pilot.press("f7")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, AddFieldScreen)
        for name in ("use_dora", "use_rslora", "loraplus_lr_ratio", "attn_implementation", "revision", "dtype",
                     "load_in_8bit", "chat_template", "modules_to_save", "init_lora_weights"):
            assert name in dialog.names
        await pilot.press(*"use_dora")
        await pilot.pause()
        options = dialog.query_one(OptionList)
        assert options.get_option_at_index(options.highlighted).id == "use_dora"
        shown = str(dialog.query_one("#field-help", Static).render())
        assert "DoRA" in shown
        assert "the magnitude is handled" in shown  # the help was cut at 200 characters, mid-word ("the ma")
        await pilot.press("enter")
        await pilot.pause()
        row = screen.row("use_dora")
        assert row is not None
        row.input.value = ""
        await pilot.press(*"true")
        await pilot.pause()
        assert screen.draft.values["use_dora"] is True
