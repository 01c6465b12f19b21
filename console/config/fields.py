"""Every argument a run takes: its kind, bounds, section and help, and the coercion of typed-in values.

The trainer's arguments come from training_args.json: the fields of TRL's SFTConfig (transformers'
TrainingArguments plus TRL's max_length, packing, padding_free, ...), generated from the installed versions by
console.config.schema_gen and kept in sync by a test, so that validating never imports transformers or trl. The LoRA
settings beyond rank, alpha, dropout and targets (use_dora, use_rslora, modules_to_save, init_lora_weights, ...) come
the same way from peft's LoraConfig: peft_args.json, written by console.config.peft_schema_gen.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from pathlib import Path

import yaml

from console.common.errors import ConfigError, DataError
from console.common.numbers import fmt
from console.data.formats import FORMATS, choices_help
from console.data.sources import check_split, dataset_value


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # bool | int | float | str | list | dict | any
    nullable: bool = False
    default: object = None
    choices: tuple | None = None
    lo: float | None = None  # hard bounds: outside them the value is refused
    hi: float | None = None
    lo_open: bool = False  # lo itself is refused (e.g. learning_rate > 0)
    section: str = "advanced"
    help: str = ""
    training_argument: bool = True  # passed to trl.SFTConfig (a transformers.TrainingArguments)
    items: str | None = None  # a list's items: 'int' or 'str' (a typed '1,2' is split into these)
    peft: bool = False  # a field of peft's LoraConfig under its own name (peft_args.json), passed to it as is
    # the objectives whose TRL config takes it (training_args.json); None: every one (the console's own settings)
    objectives: tuple | None = None
    choices_by_objective: dict | None = None  # loss_type: each trainer's own words


SECTIONS = ("model and data", "training", "method settings", "evaluation and saving", "advanced")

OBJECTIVES = ("sft", "dpo", "kto")  # the kinds of trainer (console/trainer/kinds/)

# The console's own settings (not TrainingArguments).
_OWN = [
    FieldSpec("objective", "str", False, "auto", ("auto", *OBJECTIVES), section="training",
              help="what the run optimises: sft (supervised fine-tuning), dpo (preference pairs), kto (answers "
                   "labelled desirable or not); auto: from the dataset's columns", training_argument=False),
    FieldSpec("model", "str", True, None, section="model and data",
              help="Hub name (org/model) or a local folder; empty: the built-in demo model", training_argument=False),
    FieldSpec("dataset", "str", True, None, section="model and data",
              help="local .json/.jsonl/.csv/.parquet/.txt file or folder, or a Hub dataset name; empty: the demo "
                   "dataset; several: a list (each a path, or path/format/columns/split/rows/share)",
              training_argument=False),
    FieldSpec("dataset_format", "str", False, "auto", ("auto", *FORMATS), section="model and data",
              help=choices_help(), training_argument=False),  # the format registry's names and lines
    FieldSpec("columns", "str", True, None, section="model and data",
              help="your column names for the format's, e.g. prompt:question,completion:answer",
              training_argument=False),
    FieldSpec("text_column", "str", True, None, section="model and data",
              help="the column holding the text, for the text format", training_argument=False),
    FieldSpec("dataset_config", "str", True, None, section="model and data",
              help="a Hub dataset's configuration (subset) name", training_argument=False),
    FieldSpec("dataset_split", "str", True, None, section="model and data",
              help="the training split, with datasets' slice syntax: train, train[:10%], train[100:200] (default: "
                   "train)", training_argument=False),
    FieldSpec("train_on_prompt", "bool", False, False, section="model and data",
              help="loss on every token; off: on the answers only (completions, assistant turns)",
              training_argument=False),
    FieldSpec("use_chat_template", "bool", False, True, section="model and data",
              help="render instruction, prompt/completion and chat rows with the model's chat template when it "
                   "has one", training_argument=False),
    FieldSpec("val_size", "float", False, 0.1, lo=0.0, hi=0.9, section="model and data",
              help="share held out for evaluation when the dataset has no validation split", training_argument=False),
    FieldSpec("max_samples", "int", True, None, lo=1, section="model and data",
              help="use at most this many training examples", training_argument=False),
    FieldSpec("drop_long_examples", "bool", False, False, section="model and data",
              help="leave out the examples longer than max_length instead of cutting them (axolotl's default)",
              training_argument=False),
    FieldSpec("trust_remote_code", "bool", False, False, section="model and data",
              help="run the model repository's own Python code (only for models you trust)", training_argument=False),
    FieldSpec("adapter_name_or_path", "str", True, None, section="model and data",
              help="a PEFT adapter folder (a LoRA run's model/) or Hub adapter to start from and train further, on "
                   "the base the model setting names (DPO after SFT); empty: a new adapter", training_argument=False),
    FieldSpec("revision", "str", True, None, section="model and data",
              help="the Hub model's branch, tag or commit to load (model and tokenizer); empty: main",
              training_argument=False),
    FieldSpec("dtype", "str", False, "auto", ("auto", "bfloat16", "float16", "float32"), section="model and data",
              help="the base model's load dtype; auto: float32 to train it whole, half precision for a frozen base "
                   "on a GPU", training_argument=False),
    FieldSpec("attn_implementation", "str", True, None, section="model and data",
              help="attention kernel: eager, sdpa, flash_attention_2, flash_attention_3, flex_attention, or a "
                   "kernels-hub name org/repo; empty: transformers' choice (sdpa)", training_argument=False),
    FieldSpec("chat_template", "str", True, None, section="model and data",
              help="a Jinja chat template, or a .jinja/.j2 file holding one, used instead of the model's own",
              training_argument=False),
    FieldSpec("lora_r", "int", False, 16, lo=1, hi=4096, section="method settings",
              help="adapter rank", training_argument=False),
    FieldSpec("lora_alpha", "float", False, 32, lo=0, lo_open=True, hi=1e6, section="method settings",
              help="adapter scaling (alpha / r)", training_argument=False),
    FieldSpec("lora_dropout", "float", False, 0.05, lo=0.0, hi=0.9, section="method settings",
              help="dropout on the adapter's input", training_argument=False),
    FieldSpec("lora_target_modules", "list", False, "all-linear", section="method settings", items="str",
              help="'all-linear' (every linear layer but the output head), a list [q_proj, v_proj] or a comma list "
                   "q_proj,v_proj; LLaMA-Factory's 'all' means all-linear", training_argument=False),
    FieldSpec("lora_target_regex", "str", True, None, section="method settings",
              help="a regular expression matched against each module's full name (peft's target_modules as a "
                   "string, e.g. model.layers.\\d+.self_attn.(q|v)_proj); set, it replaces lora_target_modules",
              training_argument=False),
    FieldSpec("loraplus_lr_ratio", "float", True, None, lo=0, lo_open=True, hi=1e6, section="method settings",
              help="LoRA+ learning-rate ratio of B to A, 16 typical (peft's create_loraplus_optimizer); empty: "
                   "plain LoRA", training_argument=False),
    FieldSpec("loraplus_lr_embedding", "float", True, None, lo=0, lo_open=True, hi=10.0,
              section="method settings", help="LoRA+: the learning rate of adapters on embedding layers (peft's "
                                              "default 1e-6)", training_argument=False),
    FieldSpec("adapter_type", "str", False, "loha", ("loha", "lokr", "ia3", "adalora"), section="method settings",
              help="the PEFT adapter for the adapter method", training_argument=False),
    FieldSpec("load_in_4bit", "bool", False, False, section="method settings",
              help="quantise the base model to 4 bits (QLoRA)", training_argument=False),
    FieldSpec("load_in_8bit", "bool", False, False, section="method settings",
              help="load the base model in 8 bits (bitsandbytes LLM.int8) under a LoRA adapter; not with 4-bit",
              training_argument=False),
    FieldSpec("bnb_4bit_quant_type", "str", False, "nf4", ("nf4", "fp4"), section="method settings",
              help="4-bit data type", training_argument=False),
    FieldSpec("bnb_4bit_use_double_quant", "bool", False, True, section="method settings",
              help="quantise the quantisation constants too (saves ~0.4 bit/parameter)", training_argument=False),
    FieldSpec("bnb_4bit_compute_dtype", "str", False, "auto", ("auto", "bfloat16", "float16", "float32"),
              section="method settings", help="dtype of the 4-bit layers' matmuls; auto: bf16 where supported",
              training_argument=False),
    FieldSpec("early_stopping_patience", "int", True, None, lo=1, hi=10_000, section="evaluation and saving",
              help="stop after this many evaluations without improvement", training_argument=False),
    FieldSpec("sample_every", "int", False, 1, lo=0, hi=1_000_000, section="evaluation and saving",
              help="generate sample answers at every Nth evaluation (0: never); step 0 is the base model's",
              training_argument=False),
    FieldSpec("sample_max_new_tokens", "int", False, 64, lo=1, hi=4096, section="evaluation and saving",
              help="the token limit of each sample answer (greedy)", training_argument=False),
    FieldSpec("sample_prompts", "any", True, None, section="evaluation and saving",
              help="your prompts for the samples: a list, one prompt, or a .txt/.jsonl file; empty: 3 held-out "
                   "eval rows", training_argument=False),
    FieldSpec("accelerate_config", "str", True, None, section="advanced",
              help="deepspeed_zero2, deepspeed_zero3, fsdp (shipped presets) or the path of an accelerate config "
                   "file: the trainer starts under `accelerate launch` (GPUs)", training_argument=False),
    FieldSpec("processes", "int", True, None, lo=1, hi=1024, section="advanced",
              help="training processes (torchrun); empty: one per visible GPU, 1 on a CPU", training_argument=False),
    FieldSpec("nodes", "int", True, None, lo=1, hi=65_536, section="advanced",
              help="machines training this run together (each runs the same command with its --node-rank); "
                   "empty: 1", training_argument=False),
    FieldSpec("node_rank", "int", True, None, lo=0, hi=65_535, section="advanced",
              help="this machine's number, 0 to nodes-1; 0 is the main one, whose run folder holds the metrics",
              training_argument=False),
    FieldSpec("master_addr", "str", True, None, section="advanced",
              help="the address of the main machine (node_rank 0) that every machine can reach",
              training_argument=False),
    FieldSpec("master_port", "int", True, None, lo=1, hi=65_535, section="advanced",
              help="a free port on the main machine for the processes to meet on; empty: 29500",
              training_argument=False),
]

# Bounds and sections for the TrainingArguments that matter most; the rest keep their generated kind.
_TA_OVERRIDES = {
    "learning_rate": dict(lo=0.0, lo_open=True, hi=10.0, section="training"),
    "per_device_train_batch_size": dict(lo=1, hi=65_536, section="training"),
    "gradient_accumulation_steps": dict(lo=1, hi=65_536, section="training"),
    "num_train_epochs": dict(lo=0.0, lo_open=True, hi=100_000, section="training"),
    "max_steps": dict(lo=-1, hi=1e9, section="training"),
    "lr_scheduler_type": dict(section="training"),
    "warmup_steps": dict(lo=0.0, hi=1e9, section="training"),
    "weight_decay": dict(lo=0.0, hi=10.0, section="training"),
    "max_grad_norm": dict(lo=0.0, hi=1e6, section="training"),
    "fp16": dict(section="training"),
    "bf16": dict(section="training"),
    "activation_checkpointing": dict(section="training"),
    "optim": dict(section="training"),
    "seed": dict(lo=0, hi=2**32 - 1, section="training"),
    "eval_strategy": dict(section="evaluation and saving"),
    "eval_steps": dict(lo=0.0, lo_open=True, hi=1e9, section="evaluation and saving"),
    "per_device_eval_batch_size": dict(lo=1, hi=65_536, section="evaluation and saving"),
    "save_strategy": dict(section="evaluation and saving"),
    "save_steps": dict(lo=0.0, lo_open=True, hi=1e9, section="evaluation and saving"),
    "save_total_limit": dict(lo=1, hi=10_000, section="evaluation and saving"),
    "load_best_model_at_end": dict(section="evaluation and saving"),
    "metric_for_best_model": dict(section="evaluation and saving"),
    "logging_steps": dict(lo=0.0, lo_open=True, hi=1e9, section="evaluation and saving"),
    "max_length": dict(lo=8, hi=1_048_576, section="model and data"),
    "packing": dict(section="training"),
    "padding_free": dict(section="training"),
    "report_to": dict(section="evaluation and saving"),
    # preference training (DPOConfig, KTOConfig): the settings its presets and fixes move
    "beta": dict(lo=0.0, lo_open=True, hi=1e4, section="method settings",
                 help="how far the model may move from the reference model (DPO, KTO): higher keeps it closer"),
    "loss_type": dict(section="method settings",
                      help="sft: nll (default), dft; dpo: sigmoid (default), ipo, hinge, robust, sigmoid_norm "
                           "(length-normalised), apo_zero, ... or several as sigmoid,sft with loss_weights; kto: kto, "
                           "apo_zero_unpaired"),
    "ld_alpha": dict(lo=0.0, hi=1.0, section="method settings"),
    "label_smoothing": dict(lo=0.0, hi=0.5, section="method settings"),
    "desirable_weight": dict(lo=0.0, lo_open=True, hi=1e4, section="method settings"),
    "undesirable_weight": dict(lo=0.0, lo_open=True, hi=1e4, section="method settings"),
}

# Names users paste from older transformers or from peft's LoraConfig -> (new name, how the value maps, notice).
LEGACY = {
    "evaluation_strategy": ("eval_strategy", None, "'evaluation_strategy' is now 'eval_strategy' (transformers 5)"),
    "warmup_ratio": ("warmup_steps", "ratio",
                     "'warmup_ratio' is now 'warmup_steps' given as a ratio below 1 (transformers 5)"),
    "no_cuda": ("use_cpu", None, "'no_cuda' is now 'use_cpu' (transformers 5)"),
    "per_gpu_train_batch_size": ("per_device_train_batch_size", None,
                                 "'per_gpu_train_batch_size' is now 'per_device_train_batch_size'"),
    "per_gpu_eval_batch_size": ("per_device_eval_batch_size", None,
                                "'per_gpu_eval_batch_size' is now 'per_device_eval_batch_size'"),
    "overwrite_output_dir": (None, None, "'overwrite_output_dir' was removed in transformers 5 and is not needed: "
                                         "every run writes its own folder; ignored"),
    "logging_dir": (None, None, "'logging_dir' was removed in transformers 5: logs go to the run folder; ignored"),
    "output_dir": (None, None, "'output_dir' is set by the console (runs/<id>/checkpoints); ignored"),
    "use_mps_device": (None, None, "'use_mps_device' was removed: the device is picked automatically; ignored"),
    "r": ("lora_r", None, "LoraConfig's 'r' is 'lora_r' here"),
    "target_modules": ("lora_target_modules", None, "LoraConfig's 'target_modules' is 'lora_target_modules' here"),
    "max_seq_len": ("max_length", None, "'max_seq_len' is 'max_length' (TRL's SFTConfig) here"),
    "gradient_checkpointing": ("activation_checkpointing", None,
                               "'gradient_checkpointing' is now 'activation_checkpointing' (transformers 5.24)"),
    "gradient_checkpointing_kwargs": ("activation_checkpointing_kwargs", None,
                                      "'gradient_checkpointing_kwargs' is now 'activation_checkpointing_kwargs'"),
    "max_seq_length": ("max_length", None, "'max_seq_length' is now 'max_length' (TRL's SFTConfig)"),
    "cutoff_len": ("max_length", None, "LLaMA-Factory's 'cutoff_len' is 'max_length' here"),
    "sequence_len": ("max_length", None, "axolotl's 'sequence_len' is 'max_length' here"),
    "completion_only_loss": ("train_on_prompt", "negate",
                             "TRL's 'completion_only_loss' is 'train_on_prompt' here, the other way round"),
    "assistant_only_loss": ("train_on_prompt", "negate",
                            "TRL's 'assistant_only_loss' is 'train_on_prompt' here, the other way round (answers "
                            "only is the default for every format but plain text)"),
    "model_name_or_path": ("model", None, "'model_name_or_path' is 'model' here"),
    "torch_dtype": ("dtype", None, "'torch_dtype' is now 'dtype' (transformers 5)"),
}


@lru_cache(maxsize=1)
def all_fields() -> dict[str, FieldSpec]:
    data = json.loads(Path(__file__).with_name("training_args.json").read_text(encoding="utf-8"))
    specs: dict[str, FieldSpec] = {}
    for name, entry in data["fields"].items():
        extra = _TA_OVERRIDES.get(name, {})
        extra = {"help": entry.get("help", ""), **extra}
        objectives = tuple(entry.get("objectives") or OBJECTIVES)
        specs[name] = FieldSpec(
            name=name, kind=entry["kind"], nullable=entry["nullable"], default=entry.get("default"),
            choices=tuple(entry["choices"]) if entry.get("choices") else None,
            objectives=None if objectives == OBJECTIVES else objectives,
            choices_by_objective=entry.get("choices_by_objective"), **extra,
        )
    for name, entry in peft_schema().items():
        # peft's own names; a clash with a trainer argument would make `--set` ambiguous (a test holds there is none)
        specs.setdefault(name, FieldSpec(
            name=name, kind=entry["kind"], nullable=entry["nullable"], default=entry.get("default"),
            choices=tuple(entry["choices"]) if entry.get("choices") else None, section="method settings",
            help=entry.get("help", ""), training_argument=False, items=entry.get("items"), peft=True))
    for spec in _OWN:  # ours win: lora_r, lora_alpha, ... keep their bounds and presets
        specs[spec.name] = spec
    return specs


@lru_cache(maxsize=1)
def peft_schema() -> dict[str, dict]:
    """peft_args.json's fields: kind, default, and whether a lone word stands as it is (`single`)."""
    return json.loads(Path(__file__).with_name("peft_args.json").read_text(encoding="utf-8"))["fields"]


def peft_field_names() -> list[str]:
    """The LoraConfig fields offered under peft's own names (peft_args.json)."""
    return [name for name, spec in all_fields().items() if spec.peft]


def lora_extras(values: dict) -> dict:
    """The LoraConfig fields under peft's own names (console/peft_args.json: use_dora, use_rslora, modules_to_save,
    init_lora_weights, bias, layers_to_transform, ...) that this run sets away from peft's default."""
    schema = peft_schema()
    specs = all_fields()
    out = {}
    for name in schema:
        if name not in values or specs[name].training_argument:
            continue
        value, default = values[name], schema[name].get("default")
        if value == default or (value is None and default in ({}, [])):
            continue
        if isinstance(value, str) and specs[name].kind == "list" and not schema[name].get("single"):
            value = [value]  # modules_to_save: lm_head means [lm_head] (peft would iterate its letters)
        if specs[name].kind == "dict" and value is not None and not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping like {{q_proj: 8}}, got {value!r}", name)
        out[name] = value
    return out


# Names people type for our settings: short forms, other tools' names (LLaMA-Factory, axolotl, peft, plain habit).
# A hint from this table is the meaning of the name, not a guess from its letters: difflib alone offered
# 'auto_find_batch_size' for axolotl's micro_batch_size. Every target is a real field (a test holds it).
ALIASES = {
    "lr": "learning_rate", "learningrate": "learning_rate", "rate": "learning_rate",
    "batch_size": "per_device_train_batch_size", "bs": "per_device_train_batch_size",
    "batch": "per_device_train_batch_size", "train_batch_size": "per_device_train_batch_size",
    "micro_batch_size": "per_device_train_batch_size", "per_device_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
    "epochs": "num_train_epochs", "epoch": "num_train_epochs", "num_epochs": "num_train_epochs",
    "num_epoch": "num_train_epochs",
    "n_epochs": "num_train_epochs", "train_epochs": "num_train_epochs",
    "steps": "max_steps", "num_steps": "max_steps", "train_steps": "max_steps", "total_steps": "max_steps",
    "grad_accum": "gradient_accumulation_steps", "gradient_accumulation": "gradient_accumulation_steps",
    "grad_accumulation": "gradient_accumulation_steps", "accumulation_steps": "gradient_accumulation_steps",
    "grad_accum_steps": "gradient_accumulation_steps", "accumulate_grad_batches": "gradient_accumulation_steps",
    "warmup": "warmup_steps", "num_warmup_steps": "warmup_steps",
    "wd": "weight_decay", "decay": "weight_decay",
    "grad_clip": "max_grad_norm", "clip_grad_norm": "max_grad_norm", "gradient_clipping": "max_grad_norm",
    "seq_len": "max_length", "max_len": "max_length", "seq_length": "max_length", "sequence_length": "max_length",
    "context_length": "max_length", "max_seq_len": "max_length", "cutoff_len": "max_length",
    "sequence_len": "max_length", "block_size": "max_length",
    "rank": "lora_r", "lora_rank": "lora_r", "alpha": "lora_alpha", "lora_target": "lora_target_modules",
    "lora_targets": "lora_target_modules", "lora_target_linear": "lora_target_modules",
    "target_modules": "lora_target_modules",
    "additional_target": "modules_to_save", "lora_modules_to_save": "modules_to_save",
    "peft_use_dora": "use_dora", "dora": "use_dora", "peft_use_rslora": "use_rslora", "rslora": "use_rslora",
    "pissa_init": "init_lora_weights",
    "base_model": "model", "model_name": "model", "model_path": "model", "model_id": "model",
    "model_name_or_path": "model", "model_revision": "revision", "revision_of_model": "revision",
    "data": "dataset", "datasets": "dataset", "dataset_path": "dataset", "data_path": "dataset",
    "train_file": "dataset", "data_file": "dataset",
    "train_on_inputs": "train_on_prompt", "val_set_size": "val_size", "validation_size": "val_size",
    "test_size": "val_size", "eval_size": "val_size",
    "lr_scheduler": "lr_scheduler_type", "scheduler": "lr_scheduler_type", "lr_schedule": "lr_scheduler_type",
    "optimizer": "optim",
    "sample_packing": "packing", "quantization_bit": "load_in_4bit", "quantization_type": "bnb_4bit_quant_type",
    "double_quantization": "bnb_4bit_use_double_quant", "preprocessing_num_workers": "dataset_num_proc",
    "dataset_processes": "dataset_num_proc", "chat_template_jinja": "chat_template",
    "flash_attention": "attn_implementation", "flash_attn": "attn_implementation",
    "sdp_attention": "attn_implementation", "torch_dtype": "dtype",
    "eval_every": "eval_steps", "save_every": "save_steps", "log_every": "logging_steps",
    "logging_every": "logging_steps", "patience": "early_stopping_patience",
}


def _edits(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of a and b, or limit + 1 once it is over limit (names are short: a plain table)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > limit:
            return limit + 1
    return row[-1]


def suggest(name: str) -> str:
    """' Did you mean 'x'?' for an unknown name, or '' rather than a wrong guess.

    The alias table first (what the name means); then spelling: a name within one edit (two for names over 8
    letters) of a setting, or as close as difflib's 0.8 and starting with the same word. Looser matching paired
    names by shared words ('micro_batch_size' -> 'auto_find_batch_size')."""
    fields = all_fields()
    key = str(name).strip().lower().replace("-", "_")
    target = ALIASES.get(key) or (LEGACY[key][0] if key in LEGACY else None)
    if target is None and key in fields and key != name:
        target = key
    if target is None:
        limit = 1 if len(key) <= 8 else 2
        first = key.split("_", 1)[0]
        best = None
        for candidate in fields:
            distance = _edits(key, candidate, limit)
            close = distance <= limit or (
                candidate.split("_", 1)[0] == first and get_close_matches(key, [candidate], n=1, cutoff=0.8))
            if close and (best is None or distance < best[0]):
                best = (distance, candidate)
        target = best[1] if best else None
    return f" Did you mean '{target}'?" if target in fields else ""


def unknown_field_message(name: str) -> str:
    return (f"unknown argument '{name}': not a TrainingArguments/SFTConfig field nor a console setting.{suggest(name)}"
            f" (see `training-console show --fields` for the full list)")


def _dataset(raw):
    """The dataset setting: one path as text, or a list of datasets (console/data/sources.py); a typed '[...]' is
    read as YAML."""
    if isinstance(raw, str) and raw.strip().startswith(("[", "{")):
        raw = parse_text(raw)
    if isinstance(raw, str) and raw.strip().lower() in ("", "null", "none", "~"):
        return None
    return dataset_value(raw)


def _split(raw):
    """dataset_split: a split name with datasets' optional slice (train[:10%]), checked here so a typo is one line
    before launch."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "null", "none", "~")):
        return None
    if not isinstance(raw, str):
        raise DataError(f"dataset_split must be a split name such as train or train[:10%], got {raw!r}")
    check_split(raw.strip())
    return raw.strip()


OWN_KINDS = {"dataset": _dataset, "dataset_split": _split}


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def parse_text(text: str):
    """A value typed by the user ('2e-4', 'true', 'null', '[a, b]') as YAML would read it, strings kept."""
    from console.common.safe_yaml import YAMLLimitError, load

    text = text.strip()
    if text == "":
        return None
    try:
        return load(text)
    except (yaml.YAMLError, YAMLLimitError):  # kept as typed: the field's own check says what is wrong with it
        return text


def coerce(name: str, raw):
    """The value of field `name` from `raw` (typed text or a YAML value), or ConfigError naming field and fix."""
    spec = all_fields().get(name)
    if spec is None:
        raise ConfigError(unknown_field_message(name), name)
    if name in OWN_KINDS:  # a setting whose value is read by its own module (a list of datasets, a split)
        try:
            return OWN_KINDS[name](raw)
        except DataError as err:
            raise ConfigError(str(err), name) from None
    value = parse_text(raw) if isinstance(raw, str) and spec.kind != "str" else raw
    # errors quote what was typed: '-' reads as YAML's list [None], which means nothing to whoever typed it
    typed = _fmt(value) if not isinstance(raw, str) or isinstance(value, (int, float, bool)) else repr(raw.strip())
    if len(typed) > 60:  # a 5000-digit paste is quoted by its start and its length, not whole
        typed = f"{typed[:40]}... ({len(typed)} characters)"
    if isinstance(value, str) and spec.kind == "str":
        value = value.strip()
        if value.lower() in ("", "null", "none", "~") and spec.nullable:
            return None
    if isinstance(value, str) and isinstance(spec.default, str) and value.lower() == spec.default.lower():
        return spec.default  # a word that is the field's own default ("none" for report_to) is not a null
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
        if spec.nullable:
            return None
        raise ConfigError(f"{name} needs a value (it cannot be empty); the default is {_fmt(spec.default)}", name)

    kind = spec.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        if isinstance(spec.default, str):  # a few flags also take a word (include_num_input_tokens_seen)
            return str(value)
        raise ConfigError(f"{name} must be true or false, got {typed}", name)
    if kind in ("int", "float"):
        number = _to_number(value)
        bound = _bound_text(spec)
        # an int is finite (and math.isfinite() of a 300-digit one overflowed: `--set max_steps=999...` traced back)
        if number is None or not (isinstance(number, int) or math.isfinite(number)):
            raise ConfigError(f"{name} must be {'a whole number' if kind == 'int' else 'a number'}{bound}, got "
                              f"{typed}", name)
        if kind == "int":
            if number != int(number):
                raise ConfigError(f"{name} must be a whole number{bound}, got {typed}", name)
            number = int(number)
        if spec.lo is not None and (number < spec.lo or (spec.lo_open and number == spec.lo)):
            raise ConfigError(f"{name} must be a number{bound}, got {typed}", name)
        if spec.hi is not None and number > spec.hi:
            raise ConfigError(f"{name} must be a number{bound}, got {typed} (far beyond any sensible value)",
                              name)
        return number
    if kind == "str":
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{name} must be a single word or text, got {typed}", name)
        value = str(value)
        if spec.choices and value not in spec.choices:
            close = get_close_matches(value, spec.choices, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{name} must be one of {', '.join(spec.choices)}; got {typed}.{hint}", name)
        return value
    if kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if "," in value else value
        elif spec.items == "int" and isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        elif not isinstance(value, list):
            raise ConfigError(f"{name} must be a list (a, b) or a single word, got {typed}", name)
        if spec.items == "int":  # layer indexes: whole numbers, typed or read from YAML
            numbers = [_to_number(v) for v in (value if isinstance(value, list) else [value])]
            if any(n is None or not math.isfinite(n) or n != int(n) for n in numbers):
                raise ConfigError(f"{name} must be whole numbers (0, 1, 2 or [0, 1]), got {typed}", name)
            return [int(n) for n in numbers]
        if isinstance(value, list) and spec.items == "str" and not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be names (a, b or [a, b]), got {typed}", name)
        return value
    if kind == "dict":
        if isinstance(value, (dict, str)):
            return value
        raise ConfigError(f"{name} must be a mapping ({{key: value}}), got {typed}", name)
    if spec.choices and not isinstance(value, bool):  # init_lora_weights: true, false or one of its words
        if not (isinstance(value, str) and any(_word_matches(value, c) for c in spec.choices)):
            raise ConfigError(f"{name} must be true, false or one of {', '.join(spec.choices)}; got {typed}", name)
    return value


def _word_matches(value: str, choice: str) -> bool:
    """value is the choice, '<n>' in it standing for a whole number (pissa_niter_<n>: pissa_niter_16)."""
    import re

    return re.fullmatch(re.escape(choice).replace("<n>", r"\d+"), value) is not None


def _to_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _bound_text(spec: FieldSpec) -> str:
    parts = []
    if spec.lo is not None:
        parts.append(f"> {fmt(spec.lo)}" if spec.lo_open else f">= {fmt(spec.lo)}")
    if spec.hi is not None:
        parts.append(f"<= {fmt(spec.hi)}")
    return " " + " and ".join(parts) if parts else ""
