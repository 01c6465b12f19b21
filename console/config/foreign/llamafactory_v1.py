"""LLaMA-Factory's v1 training YAML (`model`, `peft_config`, `train_dataset`, `dist_config`, `micro_batch_size`; its
examples/v1/), mapped to ours. It is LLaMA-Factory's (llamafactory.py recognises it by those keys and hands it here),
not axolotl's, although both say micro_batch_size: taken for axolotl, a LoRA file became full fine-tuning.

Its values and defaults are those of LLaMA-Factory's src/llamafactory/v1/config/ (model_args.py, data_args.py,
training_args.py) and its trainer (v1/core/base_trainer.py: torch's AdamW at the learning rate, a constant schedule).
"""
from __future__ import annotations

from pathlib import Path

from console.config.foreign.mapping import Mapper, exists, show

V1_SIGNS = frozenset({"train_dataset", "peft_config", "dist_config", "kernel_config", "model_class", "quant_config",
                      "sample_backend", "init_config", "optim_config", "lr_scheduler_config", "batching_strategy",
                      "enable_activation_checkpointing", "global_batch_size"})
V1_DEFINING = frozenset({"train_dataset", "peft_config", "dist_config", "model_class"})

_TRAINING = "v1/config/training_args.py"
_TRAINER = "v1/core/base_trainer.py"
_PEFT = "peft's LoraConfig"
# (their key, our setting); the value unchanged
_SAME = {"model": "model", "micro_batch_size": "per_device_train_batch_size", "cutoff_len": "max_length",
         "learning_rate": "learning_rate", "num_train_epochs": "num_train_epochs", "max_steps": "max_steps",
         "max_grad_norm": "max_grad_norm", "bf16": "bf16", "seed": "seed", "save_steps": "save_steps",
         "save_total_limit": "save_total_limit", "logging_steps": "logging_steps",
         "trust_remote_code": "trust_remote_code", "enable_activation_checkpointing": "activation_checkpointing"}
# What v1 trains with when the file leaves a key out: (their key, our setting, value, source)
_UNSAID = (
    ("learning_rate", "learning_rate", 1e-4, _TRAINING), ("num_train_epochs", "num_train_epochs", 3, _TRAINING),
    ("micro_batch_size", "per_device_train_batch_size", 1, _TRAINING),
    ("global_batch_size", "gradient_accumulation_steps", 1, _TRAINING), ("cutoff_len", "max_length", 2048, _TRAINING),
    ("bf16", "bf16", True, _TRAINING), ("enable_activation_checkpointing", "activation_checkpointing", True, _TRAINING),
    ("save_total_limit", "save_total_limit", None, _TRAINING),
    ("lr_scheduler_config", "lr_scheduler_type", "constant", _TRAINER), ("(no warmup)", "warmup_steps", 0, _TRAINER),
    ("optim_config", "weight_decay", 0.01, f"{_TRAINER}: torch's AdamW"),
    ("eval_dataset", "val_size", 0.0, _TRAINING), ("eval_dataset", "eval_strategy", "no", _TRAINING),
    ("(no best model)", "load_best_model_at_end", False, _TRAINING), ("fp16", "fp16", False, _TRAINING),
)
_DROPPED = {"output_dir": "set by the console (runs/<id>/checkpoints)",
            "sample_backend": "LLaMA-Factory's sampling after training: use `training-console chat`",
            "max_new_tokens": "LLaMA-Factory's sampling after training: use `training-console chat`",
            "batching_workers": "the data loader's workers", "dist_timeout": "the process group's timeout",
            "save_ckpt_as_hf": "checkpoints are saved as transformers folders",
            "resume_from_checkpoint": "a run is resumed with `training-console resume RUN`",
            "eval_dataset": "a separate evaluation set is not read: val_size holds out a share of the training set",
            "flash_attn": "transformers picks the attention implementation (set attn_implementation to choose)"}


def is_v1(data: dict) -> bool:
    return bool(set(map(str, data)) & V1_DEFINING)


def rules(m: Mapper) -> None:
    d = m.data
    for key in d:
        m.done.add(key)
    for theirs, ours in _SAME.items():
        if d.get(theirs) not in (None, ""):
            m.put(theirs, d[theirs], ours, d[theirs])
    model_class = str(d.get("model_class", "llm")).lower()
    if model_class != "llm":
        m.refuse("model_class", f"model_class: {show(d['model_class'])}: the console trains text-only causal language "
                                f"models (model_class: llm)")
    _peft(m, d.get("peft_config"))
    _plugins(m)
    if d.get("global_batch_size") not in (None, ""):
        micro = d.get("micro_batch_size", 1)
        if isinstance(d["global_batch_size"], int) and isinstance(micro, int) and d["global_batch_size"] % micro == 0:
            m.put("global_batch_size", d["global_batch_size"], "gradient_accumulation_steps",
                  d["global_batch_size"] // micro, "global / micro batch on one process; divide by the processes")
        else:
            m.refuse("global_batch_size", "global_batch_size: not a multiple of micro_batch_size: fix it")
    for theirs, ours, value, source in _UNSAID:
        if theirs not in d or d.get(theirs) in (None, ""):
            m.default(theirs, ours, value, source)
    for key, why in _DROPPED.items():
        if key in d:
            m.drop(key, why)
    _train_dataset(m)


def _peft(m: Mapper, peft) -> None:
    if peft in (None, "", {}):
        m.put("peft_config", "(none)", "method", "full", "no peft_config: full fine-tuning")
        return
    if not isinstance(peft, dict) or str(peft.get("name", "")).lower() != "lora":
        m.refuse("peft_config", f"peft_config: {show(peft)}: the console trains LoRA (name: lora) or full fine-tuning "
                                f"(no peft_config)")
        return
    quant = m.data.get("quant_config")
    four = isinstance(quant, dict) and str(quant.get("quantization_bit")) == "4"
    if quant not in (None, "", {}) and not four:
        m.refuse("quant_config", f"quant_config: {show(quant)}: only 4-bit bitsandbytes quantisation (QLoRA) is "
                                 f"supported")
    m.put("peft_config.name", "lora", "method", "qlora" if four else "lora")
    if four:
        m.put("quant_config.quantization_bit", 4, "load_in_4bit", True)
    for theirs, ours, default in (("r", "lora_r", 8), ("lora_alpha", "lora_alpha", 8),
                                  ("lora_dropout", "lora_dropout", 0.0)):
        if theirs in peft:
            m.put(f"peft_config.{theirs}", peft[theirs], ours, peft[theirs])
        else:
            m.default(f"peft_config.{theirs}", ours, default, _PEFT)
    m.targets("peft_config.target_modules", peft.get("target_modules", "all"))
    for key in peft:
        if key not in ("name", "r", "lora_alpha", "lora_dropout", "target_modules"):
            m.drop(f"peft_config.{key}", "no counterpart in the console's LoRA settings")


def _plugins(m: Mapper) -> None:
    d = m.data
    kernel = d.get("kernel_config")
    name = str(kernel.get("name", "")).lower() if isinstance(kernel, dict) else ""
    if name == "liger_kernel":
        m.put("kernel_config", "liger_kernel", "use_liger_kernel", True, "TRL's Liger kernels")
    elif kernel not in (None, "", {}):
        m.drop("kernel_config", "kernels chosen for speed: the same training")
    dist = d.get("dist_config")
    engine = str(dist.get("name", "")).lower() if isinstance(dist, dict) else ""
    if engine.startswith("fsdp"):
        m.put("dist_config", engine, "accelerate_config", "fsdp", "the shipped FSDP2 accelerate config")
    elif engine == "deepspeed":
        m.deepspeed("dist_config", dist.get("config_file") or dist.get("config") or "")
    elif dist not in (None, "", {}):
        m.refuse("dist_config", f"dist_config: {show(dist)}: the console shards with FSDP2 or DeepSpeed")
    optim = d.get("optim_config")
    if optim not in (None, "", {}):
        what = str(optim.get("name")) if isinstance(optim, dict) else show(optim)
        m.refuse("optim_config", f"optim_config: {what}: the optimiser has no counterpart in the console, and without "
                                 f"it the run is another method: remove the key to train with AdamW, and import again")
    sched = d.get("lr_scheduler_config")
    if isinstance(sched, dict) and sched.get("name"):
        m.put("lr_scheduler_config", sched["name"], "lr_scheduler_type", str(sched["name"]))
    strategy = str(d.get("batching_strategy", "normal")).lower()
    if "padding_free" in strategy:
        m.put("batching_strategy", strategy, "padding_free", True, "TRL's padding-free batches")
    elif strategy not in ("normal", ""):
        m.drop("batching_strategy", f"{show(strategy)}: batches grouped for speed: the same examples")
    if int(d.get("cp_size", 1) or 1) > 1:
        m.drop("cp_size", "context parallelism splits long sequences across GPUs: not offered here")
    if d.get("init_config") not in (None, "", {}):
        m.refuse("init_config", "init_config: initialising the model another way has no counterpart in the console")


def _train_dataset(m: Mapper) -> None:
    """train_dataset: a dataset file, or a v1 dataset YAML naming one or more {path, converter} entries."""
    value = m.data.get("train_dataset")
    if m.dataset_given:
        if value is not None:
            m.drop("train_dataset", "replaced by the dataset given on the command line")
        return
    if not isinstance(value, str) or not value.strip():
        m.refuse("train_dataset", "train_dataset: missing: give the data file with --dataset FILE")
        return
    if not value.strip().endswith((".yaml", ".yml")):
        m.put("train_dataset", value, "dataset", m.local_or_hub(value))
        return
    entries = dataset_file_entries(m, value)
    if entries is None:
        m.refuse("train_dataset", f"train_dataset: {show(value)} is not here: put LLaMA-Factory's data folder beside "
                                  f"the config, or give the data file with --dataset FILE")
    elif len(entries) != 1:  # several datasets, mixed: each entry mapped on its own
        m.several("train_dataset", value, dataset_entries(m))
    else:
        (name, entry), = entries.items()
        _entry(m, value, name, entry)


def _entry(m: Mapper, where: str, name: str, entry: dict) -> None:
    """One {path, source, converter} entry of a v1 dataset YAML -> our data settings."""
    if str(entry.get("source", "local")).lower() not in ("local", "hf_hub", "hub", ""):
        m.refuse("train_dataset", f"{name} in {where}: source {show(entry.get('source'))}: the console reads local "
                                  f"files and Hub datasets")
        return
    m.put(f"{name}.path", entry.get("path"), "dataset", m.local_or_hub(str(entry.get("path", ""))),
          f"{name} in {where}")
    converter = str(entry.get("converter", "")).lower()
    if converter == "alpaca":
        m.put(f"{name}.converter", converter, "dataset_format", "instruction")
    elif not converter:  # v1's own rows: messages whose content is a list of {type, value} parts
        m.refuse("train_dataset", f"{name} in {where}: LLaMA-Factory v1's own message rows (content parts keyed "
                                  f"'value') are not read by the console: give role/content messages or alpaca rows")
    else:
        m.refuse("train_dataset", f"{name} in {where}: converter {show(converter)}: the console reads alpaca rows "
                                  f"and messages")
    if entry.get("split") not in (None, "", "train"):
        m.put(f"{name}.split", entry["split"], "dataset_split", str(entry["split"]))


def dataset_entries(m: Mapper) -> list:
    """Each entry of the file's train_dataset YAML mapped on its own (the several-datasets hook, issue 26)."""
    value = m.data.get("train_dataset")
    if not isinstance(value, str) or not value.strip().endswith((".yaml", ".yml")):
        one = Mapper(m.tool, m.data, m.base_dir, False)
        _train_dataset(one)
        return [one.out]
    out = []
    for name, entry in (dataset_file_entries(m, value) or {}).items():
        one = Mapper(m.tool, m.data, m.base_dir, False)
        _entry(one, value, name, entry)
        out.append(one.out)
    return out


def dataset_file_entries(m: Mapper, value: str) -> dict | None:
    """{name: {path, source, converter}} of a v1 dataset YAML (beside the config or in the working folder)."""
    import yaml

    from console.common.safe_yaml import load, read_file

    for base in (m.base_dir, Path.cwd()):
        path = base / Path(value).expanduser()
        if exists(path, file=True):
            try:
                data = load(read_file(path, "dataset file"))  # bounded before reading, never a FIFO
            except (OSError, ValueError, yaml.YAMLError):  # someone else's file (YAMLLimitError is a ValueError)
                return None
            return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else None
    return None
