"""Import every example config of LLaMA-Factory and axolotl and say, per file, whether the console trains what the
tool would have trained.

    python bench/imports.py --llamafactory MIRROR --axolotl MIRROR [--verbose] [--write-defaults FILE]

MIRROR is a bare git directory of the tool's repository (e.g. /work/.mirror/hiyouga+LLaMA-Factory/repo, a snapshot
of github.com/hiyouga/LLaMA-Factory; /work/.mirror/axolotl-ai-cloud+axolotl/repo, of
github.com/axolotl-ai-cloud/axolotl); files are read from its HEAD with `git show`/`git ls-tree`, nothing is
checked out. Per file it prints one of:

- imports: the imported config trains as the tool does (every compared setting agrees);
- differs: it imports, and the settings listed differ from the tool's run (tool's value / the console's);
- refused rightly: a method the console does not train, refused in one line (the line is printed);
- several datasets: refused only because the file trains on several datasets (issue 26 adds them); the hook
  (console.config.foreign.dataset_entries) maps each one, and the rest of the file is compared as above;
- out of scope: multi-modal, reward-model and RL/preference files (must be refused in one line);
- not a training config: inference, merge, accelerate or dataset files (not counted).

What "the tool's run" is comes from the tool's own sources in the mirror, not from the importer: the defaults of
LLaMA-Factory's argument classes (src/llamafactory/hparams/*.py, v1/config/*.py) and axolotl's config schema
(src/axolotl/utils/schemas/*.py) parsed from their text, transformers' TrainingArguments from the installed package,
and the few rules the tools apply in code (axolotl's builder: a checkpoint per epoch, 4 kept, evaluation only with a
held-out share; LLaMA-Factory: packing for stage pt), written below with the file they come from. A named chat
template (LLaMA-Factory's `template`, axolotl's `chat_template`) counts as the model's own when it names the model's
family (qwen3 for a Qwen3 model); otherwise as a difference.

A key whose name says it defines the method (METHOD_KEYS) that the import drops is reported on its own line: the
target is none.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.common.errors import ConfigError  # noqa: E402
from console.config.foreign import AXOLOTL, LLAMA_FACTORY, convert, detect  # noqa: E402
from console.config.run_config import build_config  # noqa: E402

try:  # the several-datasets hook (absent before issue 28: the bench then judges an older importer too)
    from console.config.foreign import dataset_entries
except ImportError:  # pragma: no cover
    dataset_entries = None

# -- reading the mirrors --------------------------------------------------------------------------------------------


def git(mirror: str, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={mirror}", *args], check=True, capture_output=True,
                          text=True).stdout


def head(mirror: str) -> str:
    return git(mirror, "rev-parse", "HEAD").strip()


def files(mirror: str, under: str) -> list[str]:
    return [p for p in git(mirror, "ls-tree", "-r", "--name-only", "HEAD", under).splitlines()]


def show(mirror: str, path: str) -> str:
    return git(mirror, "show", f"HEAD:{path}")


def class_defaults(source: str) -> dict:
    """{field: default} of the dataclasses (field(default=...)) and pydantic models (Field(default=...), x: T = v)
    in a module's text; only literal defaults."""
    out = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name) or item.value is None:
                continue
            value = item.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) in (
                    "field", "Field"):
                kw = {k.arg: k.value for k in value.keywords}
                value = kw.get("default", value.args[0] if value.args else None)
                if value is None:
                    continue
            try:
                out[item.target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                if isinstance(value, ast.Attribute) and value.attr.isupper():  # an enum member: its name
                    out[item.target.id] = value.attr.lower()
    return out


def transformers_defaults() -> dict:
    import transformers

    return {f.name: f.default for f in dataclasses.fields(transformers.TrainingArguments)
            if f.default is not dataclasses.MISSING}


# -- what a file is -------------------------------------------------------------------------------------------------

MULTIMODAL_NAMES = re.compile(r"(^|[/_.-])(vl|vision|llava|pixtral|audio|mossvl|smolvlm|paddleocr|internvl|"
                              r"multimodal|glm46v|qwen2_5vl|qwen3vl|qwen2vl|lfm2-vl)", re.I)
MULTIMODAL_KEYS = ("processor_type", "image_max_pixels", "video_max_pixels", "freeze_vision_tower", "image_size",
                   "freeze_mm_modules")
# Keys whose name says they define the method: dropping one trains another method (the target is none).
METHOD_KEYS = re.compile(r"^(use_(galore|apollo|badam|adam_mini|muon|dft_loss|eaft|asft|llama_pro|dora|rslora|mca|kt|"
                         r"onebitllms|eaft_loss|asft_loss)|galore_|apollo_|badam_|pissa_(init|iter)|pure_bf16|rl$|rl_|reward_model|"
                         r"process_reward|lisa_|relora|loftq|peft$|peft_config|qat|unfrozen_parameters|"
                         r"lora_target_parameters|deepspeed|fsdp|dist_config|neat_packing|mixture_of_depths|shift_attn|"
                         r"rope_scaling|finetuning_type|stage$|adapter$|quantization_bit|quant_config|load_in_|optim|"
                         r"lr_scheduler|loss_type|fp8|ebft|diffusion|llmcompressor|gptq|model_quantization|"
                         r"quantize_moe|datasets\[\d+\]\.type|train_on|sample_packing|packing|freeze_|plugins)")


def drops_method(key: str, data: dict) -> bool:
    """A dropped key that defines the method, set (a key that is off, empty, or stage: sft says nothing more)."""
    value = data.get(key, True)
    if not METHOD_KEYS.match(key) or value in (None, "", False, 0, [], {}):
        return False
    return not (key == "stage" and str(value).lower() == "sft")


def scope(tool: str, path: str, data: dict) -> str | None:
    """Why a training file is outside SFT ('multi-modal', 'reward model', 'RL'), or None."""
    if MULTIMODAL_NAMES.search(path) or any(k in data for k in MULTIMODAL_KEYS) or \
            str(data.get("model_class", "llm")).lower() != "llm":
        return "multi-modal"
    if tool == LLAMA_FACTORY:
        stage = str(data.get("stage", "sft")).lower()
        if stage == "rm":
            return "reward model"
        if stage not in ("sft", "pt"):
            return "RL"
        if "dpo" in path or "kto" in path or "pref_loss" in data:
            return "RL"
        return None
    if data.get("reward_model") or data.get("process_reward_model"):
        return "reward model"
    if data.get("rl") or data.get("trl"):
        return "RL"
    return None


def is_training(tool: str, data) -> bool:
    if not isinstance(data, dict):
        return False
    if tool == LLAMA_FACTORY:
        return "stage" in data or "do_train" in data or "train_dataset" in data
    return "base_model" in data and ("datasets" in data or "pretraining_dataset" in data)


# -- the tool's run -------------------------------------------------------------------------------------------------

def family(name: str) -> str:
    """A model or template name's family word: qwen3, llama3, gemma3, ... (digits kept, separators dropped)."""
    text = re.sub(r"[^a-z0-9]", "", str(name).lower().split("/")[-1])
    for word in ("command", "qwen", "llama", "gemma", "mistral", "phi", "falcon", "deepseek", "glm", "cohere", "command",
                 "granite", "olmo", "jamba", "magistral", "ministral", "devstral", "seed", "hunyuan", "lfm", "nemotron",
                 "apertus", "kimi", "minimax", "mimo", "trinity", "arcee", "afm", "smollm", "yi", "baichuan"):
        if text.startswith(word) or word in text:
            found = re.search(word + r"([0-9]*)", text)
            digits = found.group(1)[:1] if found else ""
            return word + digits
    return text


SAME_FAMILY = {"command": "cohere"}  # Cohere's Command models, named after the company in the templates


def template_is_models(template, model) -> bool:
    if template in (None, "", "tokenizer_default", "default"):
        return template != "default"
    ours, theirs = family(template), family(model)
    theirs = SAME_FAMILY.get(re.sub(r"[0-9]", "", theirs), theirs)
    return ours == theirs or theirs.startswith(ours) or ours.startswith(theirs)


def lf_run(data: dict, lf: dict, hf: dict) -> dict:
    """What LLaMA-Factory (v0 YAML) trains for this file."""
    def g(key, default=None):
        value = data.get(key)
        return value if value is not None else lf.get(key, hf.get(key, default))

    quant = data.get("quantization_bit")
    kind = str(g("finetuning_type")).lower()
    method = {"lora": "qlora" if str(quant) == "4" else "lora", "full": "full"}.get(kind, kind)
    warm = data.get("warmup_steps") or data.get("warmup_ratio") or 0
    precision = "bf16 model" if g("pure_bf16") else "bf16" if g("bf16") else "fp16" if g("fp16") else "fp32"
    packing = g("packing")
    run = {"method": method, "learning_rate": g("learning_rate"), "num_train_epochs": g("num_train_epochs"),
           "max_steps": g("max_steps"), "per_device_train_batch_size": g("per_device_train_batch_size"),
           "gradient_accumulation_steps": g("gradient_accumulation_steps"), "lr_scheduler_type": g("lr_scheduler_type"),
           "warmup": warm, "weight_decay": g("weight_decay"), "max_grad_norm": g("max_grad_norm"),
           "max_length": g("cutoff_len"), "train_on_prompt": g("train_on_prompt"),
           # hparams/parser.py: packing None -> stage == "pt"; neat_packing turns it on
           "packing": bool(packing if packing is not None else g("stage") == "pt" or g("neat_packing")),
           "evaluates": str(g("eval_strategy") or "no") != "no", "val_size": g("val_size"),
           "save_total_limit": g("save_total_limit"), "load_best_model_at_end": g("load_best_model_at_end"),
           "activation_checkpointing": not g("disable_gradient_checkpointing"), "precision": precision,
           "optim": ("galore_adamw" + ("_layerwise" if g("galore_layerwise") else "")) if g("use_galore") else
           ("apollo_adamw" + ("_layerwise" if g("apollo_layerwise") else "")) if g("use_apollo") else g("optim"),
           "loss_type": "dft" if g("use_dft_loss") else "nll", "drop_long": False,
           "eval_every": (g("eval_steps") or g("logging_steps")) if str(g("eval_strategy") or "no") == "steps"
           else str(g("eval_strategy") or "no"),
           "save_every": g("save_steps") if str(g("save_strategy") or "steps") == "steps" else g("save_strategy"),
           "prompt": "model template" if template_is_models(data.get("template"), data.get("model_name_or_path"))
           or g("stage") == "pt" else f"template {data.get('template')}"}
    if method in ("lora", "qlora"):
        rank = g("lora_rank")
        run.update(lora_r=rank, lora_alpha=data.get("lora_alpha") or 2 * rank, lora_dropout=g("lora_dropout"),
                   targets="all-linear" if str(g("lora_target")) == "all" else str(g("lora_target")))
    return run


def lf_v1_run(data: dict, v1: dict) -> dict:
    """What LLaMA-Factory's v1 trainer trains (v1/config/*.py; v1/core/base_trainer.py: torch AdamW, constant lr)."""
    def g(key):
        return data.get(key) if data.get(key) is not None else v1.get(key)

    peft = data.get("peft_config") if isinstance(data.get("peft_config"), dict) else None
    quant = data.get("quant_config") if isinstance(data.get("quant_config"), dict) else None
    method = "full" if peft is None else "qlora" if quant and str(quant.get("quantization_bit")) == "4" else "lora"
    micro = g("micro_batch_size")
    run = {"method": method, "learning_rate": g("learning_rate"), "num_train_epochs": g("num_train_epochs"),
           "max_steps": g("max_steps") or -1, "per_device_train_batch_size": micro,
           "gradient_accumulation_steps": (data["global_batch_size"] // micro) if data.get("global_batch_size") else 1,
           "lr_scheduler_type": "constant", "warmup": 0, "weight_decay": 0.01, "max_grad_norm": g("max_grad_norm"),
           "max_length": g("cutoff_len"), "evaluates": False, "val_size": 0.0,
           "save_total_limit": g("save_total_limit"), "load_best_model_at_end": False,
           "activation_checkpointing": g("enable_activation_checkpointing"),
           "precision": "bf16" if g("bf16") else "fp32", "loss_type": "nll", "drop_long": False,
           "prompt": "model template"}
    if peft:
        run.update(lora_r=peft.get("r", 8), lora_alpha=peft.get("lora_alpha", 8),
                   lora_dropout=peft.get("lora_dropout", 0.0),
                   targets="all-linear" if str(peft.get("target_modules", "all")) == "all" else
                   str(peft.get("target_modules")))
    return run


def ax_run(data: dict, ax: dict, hf: dict) -> dict:
    """What axolotl trains for this file (schemas/*.py defaults; core/builders/base.py and causal.py rules)."""
    def g(key, default=None):
        value = data.get(key)
        return value if value is not None else ax.get(key, default)

    adapter = str(data.get("adapter") or "").lower()
    method = "full" if adapter in ("", "none") else "qlora" if adapter == "qlora" or data.get("load_in_4bit") else \
        "lora"
    epochs = g("num_epochs", 1.0)
    held_out = g("val_set_size", 0.0) or 0
    evals = held_out > 0 and bool(data.get("eval_steps") or data.get("eval_strategy") or (
        data.get("evals_per_epoch") and 1.0 / (data["evals_per_epoch"] * epochs) < 1))
    # core/builders/base.py: warmup 3 % of the steps (capped at 100) unless said
    warm = data.get("warmup_steps") if data.get("warmup_steps") is not None else data.get("warmup_ratio") \
        if data.get("warmup_ratio") is not None else 0.03
    bf16 = g("bf16", "auto")
    precision = "bf16" if bf16 in (True, "auto") else "fp16" if data.get("fp16") else "fp32"
    if data.get("bfloat16") and not bf16:
        precision = "bf16 model"
    types = [e.get("type") for e in data.get("datasets") or [] if isinstance(e, dict)]
    prompt = ("alpaca prompt" if types and all(t == "alpaca" for t in types) else
              "model template" if template_is_models(data.get("chat_template"), data.get("base_model"))
              else f"template {data.get('chat_template')}")
    if types and all(t in ("completion", "pretrain") for t in types):
        prompt = "model template"  # plain text: no prompt at all
    run = {"method": method, "learning_rate": data.get("learning_rate"), "num_train_epochs": epochs,
           "max_steps": data.get("max_steps") or -1, "per_device_train_batch_size": g("micro_batch_size", 1),
           "gradient_accumulation_steps": g("gradient_accumulation_steps", 1),
           "lr_scheduler_type": g("lr_scheduler", "cosine"), "warmup": warm, "weight_decay": g("weight_decay", 0.0),
           "max_grad_norm": data.get("max_grad_norm") or hf.get("max_grad_norm"),
           "max_length": g("sequence_len", 512), "train_on_prompt": bool(g("train_on_inputs", False)),
           "packing": bool(data.get("sample_packing")), "evaluates": evals, "val_size": held_out,
           "save_total_limit": data.get("save_total_limit") or 4,  # core/builders/base.py
           # core/builders/causal.py: on when asked for, or with early stopping, and only with evaluation
           "load_best_model_at_end": bool(data.get("load_best_model_at_end") or data.get("early_stopping_patience"))
           and evals,
           "activation_checkpointing": bool(data.get("gradient_checkpointing")), "precision": precision,
           "optim": g("optimizer", "adamw_torch_fused"), "loss_type": "nll",
           "drop_long": str(data.get("excess_length_strategy") or "drop").lower() in ("drop", "raise"),
           # utils/config/__init__.py: per-epoch counts as a share of the run's steps; builders/base.py: per epoch
           "eval_every": (data.get("eval_steps") or (1.0 / (data["evals_per_epoch"] * epochs)
                                                     if data.get("evals_per_epoch") else None)
                          or data.get("eval_strategy")) if evals else "no",
           "save_every": data.get("save_steps") or (1.0 / (data["saves_per_epoch"] * epochs)
                                                    if data.get("saves_per_epoch") and
                                                    1.0 / (data["saves_per_epoch"] * epochs) < 1 else None)
           or data.get("save_strategy") or "epoch",
           "prompt": prompt}
    if method != "full":
        targets = "all-linear" if data.get("lora_target_linear") else data.get("lora_target_modules")
        run.update(lora_r=data.get("lora_r"), lora_alpha=data.get("lora_alpha"),
                   lora_dropout=g("lora_dropout", 0.0),
                   targets=",".join(targets) if isinstance(targets, list) else str(targets))
    return run


def console_run(method: str, values: dict, formats: list[str]) -> dict:
    """The same settings of the console's run, from the final config (preset, the imported values, the rules)."""
    v = build_config(method, sets=dict(values)).values
    precision = ("bf16 model" if v.get("dtype") == "bfloat16" and not v.get("bf16") and not v.get("fp16") else
                 "bf16" if v.get("bf16") else "fp16" if v.get("fp16") else "fp32")
    targets = v.get("lora_target_regex") or v.get("lora_target_modules")
    prompt = ("alpaca prompt" if formats and all(f == "alpaca_prompt" for f in formats) else "model template")
    return {"method": method, "learning_rate": v.get("learning_rate"), "num_train_epochs": v.get("num_train_epochs"),
            "max_steps": v.get("max_steps", -1), "per_device_train_batch_size": v.get("per_device_train_batch_size"),
            "gradient_accumulation_steps": v.get("gradient_accumulation_steps"),
            "lr_scheduler_type": v.get("lr_scheduler_type"), "warmup": v.get("warmup_steps"),
            "weight_decay": v.get("weight_decay"), "max_grad_norm": v.get("max_grad_norm"),
            "max_length": v.get("max_length"), "train_on_prompt": v.get("train_on_prompt"),
            "packing": bool(v.get("packing")), "evaluates": v.get("eval_strategy", "no") != "no",
            "val_size": v.get("val_size"), "save_total_limit": v.get("save_total_limit"),
            "load_best_model_at_end": v.get("load_best_model_at_end"),
            "activation_checkpointing": bool(v.get("activation_checkpointing")), "precision": precision,
            "optim": v.get("optim", "adamw_torch_fused"), "loss_type": v.get("loss_type", "nll"),
            "drop_long": bool(v.get("drop_long_examples")), "prompt": prompt,
            "eval_every": (v.get("eval_steps") if v.get("eval_strategy") == "steps" else v.get("eval_strategy", "no")),
            "save_every": v.get("save_steps") if v.get("save_strategy", "steps") == "steps" else v.get("save_strategy"),
            "lora_r": v.get("lora_r"), "lora_alpha": v.get("lora_alpha"), "lora_dropout": v.get("lora_dropout"),
            "targets": ",".join(targets) if isinstance(targets, list) else str(targets)}


def number(x):
    """A number, also from YAML 1.1's text for 5e-5 (which both tools' loaders read as a number)."""
    if isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def same(a, b) -> bool:
    if number(a) is not None and number(b) is not None:
        return math.isclose(number(a), number(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b or str(a) == str(b)


def differences(tool_run: dict, ours: dict) -> list[str]:
    out = []
    for key, theirs in tool_run.items():
        if key == "val_size" and not tool_run.get("evaluates") and not ours.get("evaluates"):
            continue  # a held-out share nobody evaluates on: the same training set up to that share
        if key == "warmup" and tool_run.get("max_steps", -1) == -1 and theirs == 0 and not ours.get(key):
            continue
        if not same(theirs, ours.get(key)):
            out.append(f"{key} ({theirs} / {ours.get(key)})")
    return out


# -- one file -------------------------------------------------------------------------------------------------------

def judge(tool: str, path: str, data: dict, base: Path, defaults: dict) -> tuple[str, str]:
    """(outcome, detail) for one training file."""
    out_of_scope = scope(tool, path, data)
    imported = convert(data, base, tool=tool)
    dropped_methods = [k for keys, _ in imported.dropped for k in keys.split(", ") if drops_method(k, data)]
    if out_of_scope:
        if imported.refused:
            return "out of scope", f"{out_of_scope}, refused: {next(iter(imported.refused.values()))[:110]}"
        return "out of scope, NOT refused", out_of_scope
    several = [k for k, line in imported.refused.items() if "trains on one dataset" in line]
    other = {k: line for k, line in imported.refused.items() if k not in several}
    if other:
        return "refused rightly", next(iter(other.values()))[:140]
    formats = []
    if several and dataset_entries is None:
        return "several datasets, refused", ""
    if several:
        entries = dataset_entries(data, base, tool)
        bad = [e for e in entries if e.refused]
        if bad:
            return "refused", f"several datasets, and one cannot be read: {next(iter(bad[0].refused.values()))}"
        formats = [e.values.get("dataset_format") for e in entries]
        imported = convert(data, base, dataset_given=True, tool=tool)
    else:
        formats = [imported.values.get("dataset_format")]
    if tool == LLAMA_FACTORY:
        theirs = (lf_v1_run(data, defaults["v1"]) if "train_dataset" in data else
                  lf_run(data, defaults["llamafactory"], defaults["transformers"]))
    else:
        theirs = ax_run(data, defaults["axolotl"], defaults["transformers"])
    try:
        ours = console_run(imported.method, imported.values, formats)
    except ConfigError as err:  # what import writes must be a config train --config takes
        return "refused", f"the mapped settings do not hold: {err}"
    diff = differences(theirs, ours)
    if dropped_methods:
        diff.append("DROPS " + ", ".join(dropped_methods))
    outcome = ("several datasets" if several else "imports") + (", differs" if diff else "")
    return outcome, "; ".join(diff)


def read_defaults(lf_mirror: str, ax_mirror: str) -> dict:
    lf, v1, ax = {}, {}, {}
    for name in ("data_args", "finetuning_args", "model_args", "training_args"):
        lf.update(class_defaults(show(lf_mirror, f"src/llamafactory/hparams/{name}.py")))
    for name in ("data_args", "model_args", "training_args"):
        v1.update(class_defaults(show(lf_mirror, f"src/llamafactory/v1/config/{name}.py")))
    for name in ("config", "training", "peft", "datasets"):
        for key, value in class_defaults(show(ax_mirror, f"src/axolotl/utils/schemas/{name}.py")).items():
            ax.setdefault(key, value)
    hf = transformers_defaults()
    hf = {k: v for k, v in hf.items() if isinstance(v, (int, float, str, bool, type(None)))}
    return {"llamafactory": lf, "v1": v1, "axolotl": ax, "transformers": hf}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llamafactory", required=True, help="bare git dir of hiyouga/LLaMA-Factory")
    parser.add_argument("--axolotl", required=True, help="bare git dir of axolotl-ai-cloud/axolotl")
    parser.add_argument("--verbose", action="store_true", help="print every file, not only the ones that differ")
    parser.add_argument("--write-defaults", help="write the parsed defaults the tests check the importers against")
    args = parser.parse_args(argv)
    defaults = read_defaults(args.llamafactory, args.axolotl)
    if args.write_defaults:
        keep = {"llamafactory": ("val_size", "cutoff_len", "packing", "disable_gradient_checkpointing", "lora_rank",
                                 "lora_dropout", "pissa_iter", "galore_rank", "galore_update_interval", "galore_scale",
                                 "galore_proj_type", "galore_target", "apollo_rank", "apollo_update_interval",
                                 "apollo_scale", "apollo_proj", "apollo_proj_type", "apollo_scale_type",
                                 "apollo_target", "train_on_prompt"),
                "v1": ("learning_rate", "num_train_epochs", "micro_batch_size", "cutoff_len", "bf16",
                       "enable_activation_checkpointing", "save_total_limit", "max_grad_norm"),
                "axolotl": ("val_set_size", "sequence_len", "weight_decay", "optimizer", "lr_scheduler",
                            "gradient_checkpointing", "load_best_model_at_end", "num_epochs", "micro_batch_size",
                            "gradient_accumulation_steps", "lora_dropout", "bf16", "train_on_inputs"),
                "transformers": ("learning_rate", "num_train_epochs", "per_device_train_batch_size",
                                 "gradient_accumulation_steps", "lr_scheduler_type", "weight_decay", "max_grad_norm",
                                 "eval_strategy", "save_total_limit", "load_best_model_at_end", "save_steps",
                                 "warmup_steps", "eval_on_start", "fp16", "bf16")}
        out = {"source": {"LLaMA-Factory": head(args.llamafactory), "axolotl": head(args.axolotl)}}
        out.update({tool: {k: defaults[tool].get(k) for k in keys} for tool, keys in keep.items()})
        Path(args.write_defaults).write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
    counts: dict = {}
    drops = 0
    with tempfile.TemporaryDirectory() as tmp:
        for tool, mirror in ((LLAMA_FACTORY, args.llamafactory), (AXOLOTL, args.axolotl)):
            root = Path(tmp) / tool
            # the tool's data folder (dataset_info.json, v1 dataset YAMLs), where its examples are run from
            for path in files(mirror, "data"):
                if path.endswith(("dataset_info.json", ".yaml")):
                    (root / path).parent.mkdir(parents=True, exist_ok=True)
                    (root / path).write_text(show(mirror, path), encoding="utf-8")
            print(f"== {tool} ({mirror} at {head(mirror)[:12]})")
            for path in files(mirror, "examples"):
                if not path.endswith((".yaml", ".yml")):
                    continue
                try:
                    data = yaml.safe_load(show(mirror, path))
                except yaml.YAMLError:
                    continue
                if not is_training(tool, data):
                    counts[(tool, "not a training config")] = counts.get((tool, "not a training config"), 0) + 1
                    continue
                found = detect(data)
                if found != tool:
                    outcome, detail = "RECOGNISED AS " + str(found), ""
                else:
                    outcome, detail = judge(tool, path, data, root, defaults)
                counts[(tool, outcome)] = counts.get((tool, outcome), 0) + 1
                drops += "DROPS" in detail
                if args.verbose or "differs" in outcome or "NOT" in outcome or "RECOGNISED" in outcome:
                    print(f"  {path}: {outcome}{': ' + detail if detail else ''}")
    print("== summary")
    for (tool, outcome), n in sorted(counts.items()):
        print(f"  {tool}: {outcome}: {n}")
    sft = {k: 0 for k in ("total", "imports", "differs", "several", "several differs", "refused")}
    for (_, outcome), n in counts.items():
        if outcome == "not a training config" or outcome.startswith("out of scope"):
            continue
        sft["total"] += n
        key = {"imports": "imports", "imports, differs": "differs", "several datasets": "several",
               "several datasets, differs": "several differs"}.get(outcome, "refused")
        sft[key] += n
    imported = sft["imports"] + sft["differs"]
    pct = (lambda a, b: f"{100 * a / b:.0f} %" if b else "-")
    print(f"SFT example configs of both tools (multi-modal, reward-model and RL files left out): {sft['total']}")
    print(f"  refused in one line (a method, data or model the console does not train): {sft['refused']}")
    print(f"  import: {imported}; train as their tool does: {sft['imports']} ({pct(sft['imports'], imported)})")
    print(f"  several datasets refused (each entry maps): {sft['several'] + sft['several differs']}")
    with_several = imported + sft["several"] + sft["several differs"]
    print(f"  once several datasets are wired: {sft['imports'] + sft['several']} of {with_several} imports train as "
          f"their tool does ({pct(sft['imports'] + sft['several'], with_several)})")
    print(f"  files dropping a key that defines the method: {drops}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
