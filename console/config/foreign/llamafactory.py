"""LLaMA-Factory's training YAML (`llamafactory-cli train`), with its data/dataset_info.json, mapped to ours.

The shared machinery (the report's three groups, the keys both tools share) is console/config/foreign/mapping.py;
its dataset formats are found in the format registry (console/data/formats: each entry's known_as names LLaMA-Factory's
formatting for it).
"""
from __future__ import annotations

import os
from pathlib import Path

from console.common.bounded_read import read_json
from console.config.foreign.llamafactory_v1 import V1_DEFINING, V1_SIGNS, is_v1
from console.config.foreign.llamafactory_v1 import dataset_entries as v1_dataset_entries
from console.config.foreign.llamafactory_v1 import rules as v1_rules
from console.config.foreign.mapping import (
    MAX_INFO_BYTES,
    Imported,
    Mapper,
    Tool,
    conversations,
    exists,
    is_multimodal,
    listing,
    show,
)
from console.config.foreign.preference import llamafactory_ranking, llamafactory_stage
from console.data.formats import Conversation, SingleTurn, keyed_as, known_as, plain_text

LLAMA_FACTORY = "LLaMA-Factory"

# Keys only LLaMA-Factory uses (none is a setting of ours).
SIGNS = frozenset({"stage", "finetuning_type", "lora_rank", "lora_target", "template", "dataset_dir",
                   "quantization_bit", "do_train", "plot_loss", "additional_target", "pissa_init", "flash_attn",
                   "preprocessing_num_workers", "overwrite_cache", "adapter_name_or_path", "model_revision"}
                  | V1_SIGNS)
DEFINING = frozenset({"stage", "finetuning_type"}) | V1_DEFINING

# Their key -> our setting, value unchanged.
RENAMES = {"model_name_or_path": "model", "lora_rank": "lora_r", "cutoff_len": "max_length",
           "model_revision": "revision", "use_dora": "use_dora", "use_rslora": "use_rslora",
           "loraplus_lr_ratio": "loraplus_lr_ratio", "train_on_prompt": "train_on_prompt",
           "preprocessing_num_workers": "dataset_num_proc"}

_ATTENTION = {"fa2": "flash_attention_2", "sdpa": "sdpa", "disabled": "eager"}
# The columns of LLaMA-Factory's alpaca formatting -> the columns of our format it maps to.
_ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}


def rules(m: Mapper) -> None:
    if is_v1(m.data):  # the v1 format: its own keys (llamafactory_v1.py)
        v1_rules(m)
        return
    d = m.data
    stage = str(m.get("stage", "sft")).strip().lower()
    if "stage" in d:
        if stage == "sft":
            m.drop("stage", "SFT is what the console trains")
        elif stage == "pt":
            m.put("stage", d["stage"], "dataset_format", plain_text().name,
                  "pretraining: loss on every token of plain text")
        elif not llamafactory_stage(m, stage):
            m.refuse("stage", f"stage: {show(d['stage'])}: not supported: the console trains sft, pt, dpo and kto")
    finetuning = str(m.get("finetuning_type", "lora")).strip().lower()
    bits = d.get("quantization_bit")
    if bits not in (None, "", 4, 8, "4", "8"):
        m.refuse("quantization_bit", f"quantization_bit: {show(bits)}: only 4-bit (QLoRA) and 8-bit "
                                     f"bitsandbytes quantisation are supported")
    bits = int(bits) if bits in (4, 8, "4", "8") else None
    note = "" if "finetuning_type" in d else "LLaMA-Factory's default"
    if finetuning == "lora":
        method = "qlora" if bits == 4 else "lora"
        m.put("finetuning_type", d.get("finetuning_type", "lora"), "method", method, note)
        if bits == 8:
            m.put("quantization_bit", 8, "load_in_8bit", True)
        elif bits == 4:
            m.put("quantization_bit", 4, "load_in_4bit", True)
    elif finetuning == "full":
        m.put("finetuning_type", d["finetuning_type"], "method", "full")
        if bits:
            m.refuse("quantization_bit", "quantization_bit with finetuning_type full: a quantised model's weights "
                                         "cannot be fully fine-tuned; use finetuning_type lora")
    elif finetuning == "freeze":
        # Refused, not mapped to full: full trains every layer (another run, several times the memory), and the
        # console has no partial-freeze method; LoRA is the nearest light-weight run.
        m.refuse("finetuning_type", "finetuning_type: freeze (training only the last layers) has no counterpart "
                                    "here: use finetuning_type lora (light, like freeze) or full, and import again")
    else:
        m.refuse("finetuning_type", f"finetuning_type: {show(d.get('finetuning_type'))}: not supported: use "
                                    f"lora or full")
    for key in [k for k in d if k.startswith("freeze_")] + ["num_layer_trainable", "name_module_trainable"]:
        if key in d and key not in m.done:
            m.drop(key, "freeze settings; finetuning_type is not freeze here")
    if "quantization_type" in d:
        m.put("quantization_type", d["quantization_type"], "bnb_4bit_quant_type", d["quantization_type"])
    if "double_quantization" in d:
        m.put("double_quantization", d["double_quantization"], "bnb_4bit_use_double_quant",
              d["double_quantization"])
    if d.get("adapter_name_or_path"):
        m.refuse("adapter_name_or_path", "adapter_name_or_path: training on top of an existing adapter is not "
                                         "supported: merge it into the model first (e.g. `llamafactory-cli export` "
                                         "or peft's merge_and_unload) and give the merged folder as the model")
    _unsaid(m, stage)
    if method_is_lora(m):
        rank = d.get("lora_rank")
        if rank is None:  # LLaMA-Factory's defaults differ from the preset's: kept, to train what they trained
            m.default("lora_rank", "lora_r", 8, _FINETUNING)
            rank = 8
        if d.get("lora_alpha") is None and isinstance(rank, int) and not isinstance(rank, bool):
            m.default("lora_alpha", "lora_alpha", 2 * rank, f"2 x lora_rank, {_FINETUNING}")
        if d.get("lora_dropout") is None:
            m.default("lora_dropout", "lora_dropout", 0.0, _FINETUNING)
        m.targets("lora_target", d.get("lora_target", "all"))
        if d.get("additional_target"):
            m.targets_to_save("additional_target", d["additional_target"])
    else:
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "additional_target"):
            if key in d:
                m.drop(key, "LoRA setting, and this run is not LoRA")
    if "pissa_init" in d:
        if d["pissa_init"] is True:
            # LLaMA-Factory runs peft's fast SVD with pissa_iter iterations (16 unless said; -1: the full SVD)
            iters = d.get("pissa_iter", 16)
            value = "pissa" if iters == -1 else f"pissa_niter_{iters}"
            m.put("pissa_init", True, "init_lora_weights", value,
                  f"pissa_iter {iters}{'' if 'pissa_iter' in d else ' (LLaMA-Factory default, ' + _FINETUNING + ')'}")
            m.done.add("pissa_iter")
        else:
            m.drop("pissa_init", "off: peft's default initialisation")
    if "pissa_iter" in d and "pissa_iter" not in m.done:
        m.drop("pissa_iter", "pissa_init is off: not used")
    _methods(m)
    if "disable_gradient_checkpointing" in d:
        m.put("disable_gradient_checkpointing", d["disable_gradient_checkpointing"], "activation_checkpointing",
              not d["disable_gradient_checkpointing"] if isinstance(d["disable_gradient_checkpointing"], bool)
              else d["disable_gradient_checkpointing"], "the other way round")
    if "flash_attn" in d:
        m.attention("flash_attn", d["flash_attn"], _ATTENTION.get(str(d["flash_attn"]).lower()))
    _dataset(m, stage)


# Where each value below comes from, in hiyouga/LLaMA-Factory (src/llamafactory/hparams/): its argument classes, and
# transformers' TrainingArguments for what its training_args.py subclass leaves as transformers has it.
_DATA = "hparams/data_args.py"
_MODEL = "hparams/model_args.py"
_FINETUNING = "hparams/finetuning_args.py"
_PARSER = "hparams/parser.py"
_TRANSFORMERS = "transformers' TrainingArguments"

# What LLaMA-Factory trains with when the file leaves a key out: (their key, our setting, value, source). Written out
# so the run is the one the file describes, not the console's preset for the method (2e-4, 5 epochs, batch 4 x 4, 10 %
# warmup, 10 % held out, the best checkpoint kept: a new user found the preset's values in place without a word).
_UNSAID = (
    ("learning_rate", "learning_rate", 5e-5, _TRANSFORMERS),
    ("num_train_epochs", "num_train_epochs", 3.0, _TRANSFORMERS),
    ("per_device_train_batch_size", "per_device_train_batch_size", 8, _TRANSFORMERS),
    ("gradient_accumulation_steps", "gradient_accumulation_steps", 1, _TRANSFORMERS),
    ("lr_scheduler_type", "lr_scheduler_type", "linear", _TRANSFORMERS),
    ("weight_decay", "weight_decay", 0.0, _TRANSFORMERS), ("max_grad_norm", "max_grad_norm", 1.0, _TRANSFORMERS),
    ("cutoff_len", "max_length", 2048, _DATA),
    # no evaluation unless the file holds some out (val_size) and asks for it (eval_strategy)
    ("val_size", "val_size", 0.0, _DATA), ("eval_strategy", "eval_strategy", "no", _TRANSFORMERS),
    # every checkpoint kept, the last model the result
    ("save_total_limit", "save_total_limit", None, _TRANSFORMERS),
    ("load_best_model_at_end", "load_best_model_at_end", False, _TRANSFORMERS),
)


def _unsaid(m: Mapper, stage: str) -> None:
    """The values LLaMA-Factory trains with that the file leaves out (the report says each, against the console's)."""
    for theirs, ours, value, source in _UNSAID:
        if not m.says(theirs) and not (theirs == "eval_strategy" and m.says("evaluation_strategy")):
            m.default(theirs, ours, value, source)
    if not m.says("warmup_steps", "warmup_ratio"):
        m.default("warmup_steps", "warmup_steps", 0, _TRANSFORMERS)
    if not m.says("save_steps") and str(m.get("save_strategy", "steps")) == "steps":
        m.default("save_steps", "save_steps", 500, _TRANSFORMERS)
    evaluates = str(m.get("eval_strategy", m.get("evaluation_strategy", "no"))) != "no"
    if evaluates and not m.says("eval_steps"):  # transformers evaluates every logging_steps then
        m.default("eval_steps", "eval_steps", float(m.get("logging_steps", 500)), f"logging_steps, {_TRANSFORMERS}")
    if evaluates and not m.says("eval_on_start"):
        m.default("eval_on_start", "eval_on_start", False, _TRANSFORMERS)
    if not m.says("disable_gradient_checkpointing"):  # on unless the file turns it off
        m.default("disable_gradient_checkpointing", "activation_checkpointing", True, _MODEL, theirs=False)
    if not m.says("packing", "neat_packing"):  # None: packed for pretraining only
        m.default("packing", "packing", stage == "pt", f"stage == 'pt', {_PARSER}")
    if not m.says("fp16", "pure_bf16") and "fp16" not in m.out.values:
        m.default("fp16", "fp16", False, _TRANSFORMERS)
    if not m.says("bf16", "pure_bf16"):
        m.default("bf16", "bf16", False, _TRANSFORMERS)


# LLaMA-Factory's switches for methods the console does not train (hparams/finetuning_args.py, model_args.py): refused,
# since dropping one trains another method (plain AdamW instead of BAdam, a model without its mixture-of-depths).
_NO_COUNTERPART = {
    "use_badam": "BAdam (block-coordinate Adam)", "use_adam_mini": "Adam-mini", "use_muon": "the Muon optimiser",
    "mixture_of_depths": "mixture-of-depths", "use_eaft_loss": "the EAFT loss", "use_asft_loss": "the ASFT loss",
    "use_llama_pro": "LLaMA Pro (trained expanded blocks)", "shift_attn": "LongLoRA's shifted short attention",
    "use_mca": "Megatron-Core training", "use_kt": "KTransformers training", "rope_scaling": "RoPE scaling",
    "fp8": "FP8 training",
}
_GALORE = {"galore_rank": ("rank", 16), "galore_update_interval": ("update_proj_gap", 200),
           "galore_scale": ("scale", 2.0), "galore_proj_type": ("proj_type", "std")}
_APOLLO = {"apollo_rank": ("rank", 16), "apollo_update_interval": ("update_proj_gap", 200),
           "apollo_scale": ("scale", 32.0), "apollo_proj": ("proj", "random"), "apollo_proj_type": ("proj_type", "std"),
           "apollo_scale_type": ("scale_type", "channel")}


def _methods(m: Mapper) -> None:
    """GaLore and APOLLO (transformers' galore_adamw / apollo_adamw optimisers, with LLaMA-Factory's own defaults
    for what transformers defaults otherwise), the DFT loss (TRL's loss_type dft), pure bf16 and Liger kernels
    carried; the methods without a counterpart refused."""
    d = m.data
    for key, what in _NO_COUNTERPART.items():
        if d.get(key) not in (None, "", False):
            m.refuse(key, f"{key}: {what} has no counterpart in the console, and without it the run is another "
                          f"method: train this file with LLaMA-Factory, or remove the key and import again")
    for key in [k for k in d if k.startswith(("badam_", "asft_", "eaft_", "kt_", "fp8_"))]:
        m.done.add(key)  # the settings of a refused method
    for flag, prefix, optim, table in (("use_galore", "galore", "galore_adamw", _GALORE),
                                       ("use_apollo", "apollo", "apollo_adamw", _APOLLO)):
        if d.get(flag) is True:
            layerwise = d.get(f"{prefix}_layerwise") is True
            m.put(flag, True, "optim", optim + ("_layerwise" if layerwise else ""),
                  f"{prefix}_layerwise" if layerwise else "")
            target = str(d.get(f"{prefix}_target", "all"))
            names = [t.strip() for t in target.split(",") if t.strip()]
            m.put(f"{prefix}_target", target, "optim_target_modules",
                  "all-linear" if names == ["all"] else names, f"LLaMA-Factory's default ({_FINETUNING})"
                  if f"{prefix}_target" not in d else "")
            args = ",".join(f"{ours}={d.get(theirs, default)}" for theirs, (ours, default) in table.items())
            m.put(f"{prefix}_*", {k: d[k] for k in table if k in d}, "optim_args", args,
                  f"with LLaMA-Factory's defaults ({_FINETUNING}) for what the file leaves out")
            m.done.update(k for k in d if k.startswith(prefix + "_"))
        elif flag in d:
            m.drop(flag, "off")
            m.done.update(k for k in d if k.startswith(prefix + "_"))
    if d.get("use_dft_loss") is True:
        m.put("use_dft_loss", True, "loss_type", "dft", "TRL's dynamic fine-tuning loss")
    elif "use_dft_loss" in d:
        m.drop("use_dft_loss", "off")
    if d.get("pure_bf16") is True:
        # the model in bf16 without mixed precision (hparams/parser.py: compute dtype bf16, no autocast)
        m.put("pure_bf16", True, "dtype", "bfloat16", "the model loaded and trained in bf16")
        m.put("(pure_bf16) bf16", False, "bf16", False, "no mixed precision over a bf16 model")
        m.put("(pure_bf16) fp16", False, "fp16", False, "no mixed precision over a bf16 model")
    elif "pure_bf16" in d:
        m.drop("pure_bf16", "off")
    if "enable_liger_kernel" in d:
        m.put("enable_liger_kernel", d["enable_liger_kernel"], "use_liger_kernel", d["enable_liger_kernel"] is True)
    if d.get("neat_packing") is True:
        # TRL's packing keeps each example's positions (position_ids restart), so with flash attention no example
        # attends to another: LLaMA-Factory's neat packing
        m.put("neat_packing", True, "packing", True, "TRL's packing keeps examples apart (position ids)")
    elif "neat_packing" in d:
        m.drop("neat_packing", "off")
    for key, what in (("use_unsloth", "unsloth's kernels"), ("use_v1_kernels", "LLaMA-Factory's v1 kernels")):
        if d.get(key) is not None:
            m.drop(key, f"{what} are not used: the same training, at transformers' speed")


def method_is_lora(m: Mapper) -> bool:
    return m.out.method in ("lora", "qlora") and not m.out.refused.get("finetuning_type")


def _dataset(m: Mapper, stage: str) -> None:
    d = m.data
    m.done.add("dataset_dir")
    value = d.get("dataset")
    if m.dataset_given:
        if value is not None:
            m.drop("dataset", "replaced by the dataset given on the command line")
        return
    if value is None or value == "":
        m.refuse("dataset", "dataset: missing: LLaMA-Factory names its training data in 'dataset'; add it, or "
                            "give the data file with --dataset FILE")
        return
    names = dataset_names(value)
    if len(names) != 1:  # several datasets, mixed: each name mapped on its own
        m.several("dataset", ", ".join(names), dataset_entries(m))
        return
    _named(m, names[0], stage)


def dataset_names(value) -> list[str]:
    """LLaMA-Factory's `dataset`: a comma list or a YAML list of names."""
    names = value if isinstance(value, list) else str(value).split(",")
    return [str(n).strip() for n in names if str(n).strip()]


def dataset_entries(m: Mapper) -> list[Imported]:
    """Each name of the file's `dataset` mapped on its own (dataset, dataset_format, dataset_split, dataset_config,
    columns, text_column, with its report), for a run that trains on several datasets: the hook that the
    several-datasets setting (issue 26) reads. A name that cannot be resolved holds its refusal."""
    if is_v1(m.data):
        return v1_dataset_entries(m)
    stage = str(m.get("stage", "sft")).strip().lower()
    out = []
    for name in dataset_names(m.data.get("dataset") or ""):
        one = Mapper(m.tool, m.data, m.base_dir, False)
        _named(one, name, stage)
        out.append(one.out)
    return out


def _named(m: Mapper, name: str, stage: str) -> None:
    """One dataset name, looked up in dataset_dir/dataset_info.json."""
    dataset_dir = str(m.get("dataset_dir", "data"))
    if dataset_dir == "ONLINE":  # LLaMA-Factory's word for "the names are Hub repositories"
        m.put("dataset", name, "dataset", name, "dataset_dir ONLINE: a Hub dataset")
        return
    info_path = None
    for base in (m.base_dir, Path.cwd()):
        candidate = base / Path(dataset_dir).expanduser() / "dataset_info.json"
        if exists(candidate, file=True):
            info_path = candidate
            break
    shown = m.base_dir / dataset_dir / "dataset_info.json"
    if info_path is None:
        m.refuse("dataset", f"dataset: {show(name)} is an entry of {shown}, which is not there: put "
                            f"LLaMA-Factory's data folder beside the config (or set dataset_dir), or give the data "
                            f"file with --dataset FILE")
        return
    try:
        # bounded, never a FIFO, nesting bounded (100k-deep arrays raised RecursionError)
        info = read_json(info_path, MAX_INFO_BYTES)
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        m.refuse("dataset", f"dataset: {info_path} cannot be read ({show(str(err), 100)}): fix it, or give the "
                            f"data file with --dataset FILE")
        return
    entry = info.get(name) if isinstance(info, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(str(k) for k in info)[:10]) if isinstance(info, dict) else ""
        m.refuse("dataset", f"dataset: {show(name)} is not an entry of {info_path}"
                            f"{' (it has: ' + show(known) + ')' if known else ''}: add it there, or give the "
                            f"data file with --dataset FILE")
        return
    _dataset_entry(m, name, entry, info_path, stage)


def _dataset_entry(m: Mapper, name: str, entry: dict, info_path: Path, stage: str) -> None:
    where = f"{name} in {info_path.name}"
    if entry.get("ranking") and stage != "dpo":
        m.refuse("dataset", f"dataset: {show(name)} is a preference (ranking) dataset: train it with stage: dpo")
        return
    if stage == "dpo" and not entry.get("ranking"):
        m.refuse("dataset", f"dataset: {show(name)} is not a ranking dataset (chosen and rejected answers): DPO "
                            f"needs one (ranking: true in dataset_info.json)")
        return
    if stage == "kto":
        m.refuse("dataset", f"dataset: {show(name)}: LLaMA-Factory's KTO rows (messages with a kto_tag) are not "
                            f"read here: write them as prompt, completion, label (true/false) rows")
        return
    if entry.get("hf_hub_url"):
        hub = str(entry["hf_hub_url"])
        m.put("dataset", name, "dataset", hub, f"{where}: hf_hub_url")
        if entry.get("subset"):
            m.put(f"{name}.subset", entry["subset"], "dataset_config", str(entry["subset"]))
        if entry.get("split") and entry["split"] != "train":
            m.put(f"{name}.split", entry["split"], "dataset_split", str(entry["split"]))
        if entry.get("folder"):
            m.refuse("dataset", f"dataset: {show(name)} reads the folder {show(entry['folder'])} of a Hub "
                                f"repository, which the console cannot: download that folder and give it with "
                                f"--dataset FOLDER")
    elif entry.get("file_name"):
        path = os.path.normpath(str(info_path.parent / Path(str(entry["file_name"])).expanduser()))
        m.put("dataset", name, "dataset", path, f"{where}: file_name")
    elif entry.get("ms_hub_url") or entry.get("om_hub_url") or entry.get("script_url") or entry.get("cloud_file_name"):
        m.refuse("dataset", f"dataset: {show(name)} is on ModelScope/Modelers, a loading script or a cloud "
                            f"store, which the console cannot read: download it and give the file with --dataset")
        return
    else:
        m.refuse("dataset", f"dataset: {show(name)} in {info_path} has no file_name or hf_hub_url: add one")
        return
    columns = entry.get("columns") if isinstance(entry.get("columns"), dict) else {}
    tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
    for key in list(columns) + list(tags):
        if is_multimodal(key):
            m.refuse("dataset", f"dataset: {show(name)} has {show(key)} columns: multi-modal training is not "
                                f"supported")
            return
    formatting = str(entry.get("formatting", "alpaca")).lower()
    if stage == "dpo":
        llamafactory_ranking(m, name, entry, columns)
        return
    if stage == "pt":  # pretraining reads one text column ('prompt' in dataset_info, default 'text')
        column = columns.get("prompt", "text")
        if column != plain_text().column:
            m.put(f"{name}.columns.prompt", column, "text_column", str(column))
        return
    pairs = []
    ours = known_as(LLAMA_FACTORY).get(formatting)
    if isinstance(ours, SingleTurn):
        m.put(f"{name}.formatting", entry.get("formatting", "alpaca"), "dataset_format", ours.name)
        for theirs, column in columns.items():
            if theirs in _ALPACA_COLUMNS and column and column != _ALPACA_COLUMNS[theirs]:
                pairs.append(f"{_ALPACA_COLUMNS[theirs]}:{column}")
            elif theirs not in _ALPACA_COLUMNS and column:
                m.drop(f"{name}.columns.{theirs}", f"no counterpart in the {ours.name} format: that column is not "
                                                   f"trained on")
    elif isinstance(ours, Conversation):
        # the turns' keys and speaker names: the file's tags, else those of the format its formatting names
        role, content = tags.get("role_tag", ours.turns.speaker), tags.get("content_tag", ours.turns.content)
        fmt = keyed_as(role, content)
        if fmt is None:
            m.refuse("dataset", f"dataset: {show(name)} keeps its turns under {show(role)}/{show(content)}: the "
                                f"console reads {conversations(lambda f: f'{f.turns.speaker}/{f.turns.content}')}; "
                                f"rename the keys")
            return
        user, assistant = tags.get("user_tag", fmt.turns.user), tags.get("assistant_tag", fmt.turns.assistant)
        if user not in fmt.turns.names or assistant not in fmt.turns.names:
            m.refuse("dataset", f"dataset: {show(name)} names its speakers {show(user)}/{show(assistant)}: the "
                                f"console reads {conversations(lambda f: f'{f.turns.user}/{f.turns.assistant}')}; "
                                f"rename them")
            return
        m.put(f"{name}.formatting", entry.get("formatting"), "dataset_format", fmt.name)
        column = columns.get("messages", "conversations")  # LLaMA-Factory's name and default for the turns' column
        if column != fmt.column:
            pairs.append(f"{fmt.column}:{column}")
        for theirs in columns:
            if theirs != "messages":
                m.drop(f"{name}.columns.{theirs}", f"not read in the {fmt.name} format")
    else:
        m.refuse("dataset", f"dataset: {show(name)} has formatting {show(formatting)}: the console reads "
                            f"{listing(sorted(known_as(LLAMA_FACTORY)))}")
        return
    if pairs:
        m.put(f"{name}.columns", columns, "columns", ",".join(pairs))


TOOL = Tool(name=LLAMA_FACTORY, signs=SIGNS, defining=DEFINING, renames=RENAMES, rules=rules)
