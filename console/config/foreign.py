"""LLaMA-Factory and axolotl YAML configs, recognised and mapped to the console's flat settings and method.

Pure data and functions (no torch, no transformers): `training-console import` writes the result as a config of
ours, and `--config THEIR.yaml` reads it through the same mapping. Every key of their file ends in one of three
groups, said to the user: mapped (their key: value -> our key: value), dropped (with why), refused (one line each:
what we cannot train, and what to do instead). Nothing is left out silently, and nothing is guessed: a name that
is not a file or a Hub repository (LLaMA-Factory's `dataset: identity,alpaca_en_demo`) is resolved through its
dataset_info.json or refused, never taken as a Hub name.

The formats are the projects' documented ones: LLaMA-Factory's training YAML (`llamafactory-cli train`) with
data/dataset_info.json, and axolotl's config (`axolotl train config.yml`) with its `datasets:` list.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from console.common.errors import ConfigError
from console.common.safe_text import printable
from console.config.fields import LEGACY, all_fields
from console.config.paths import looks_local
from console.data.formats import SHAREGPT_ROLES

LLAMA_FACTORY = "LLaMA-Factory"
AXOLOTL = "axolotl"

# Keys only these tools use (none is a setting of ours): two of them, or one defining key, make a file theirs.
_SIGNS = {
    LLAMA_FACTORY: {"stage", "finetuning_type", "lora_rank", "lora_target", "template", "dataset_dir",
                    "quantization_bit", "do_train", "plot_loss", "additional_target", "pissa_init", "flash_attn",
                    "preprocessing_num_workers", "overwrite_cache", "adapter_name_or_path", "model_revision"},
    AXOLOTL: {"base_model", "datasets", "micro_batch_size", "num_epochs", "adapter", "lora_target_linear",
              "val_set_size", "train_on_inputs", "lr_scheduler", "optimizer", "flash_attention", "sdp_attention",
              "wandb_project", "dataset_prepared_path", "sample_packing", "lora_model_dir", "base_model_config",
              "special_tokens", "rl", "eval_batch_size", "revision_of_model", "strict", "pad_to_sequence_len"},
}
_DEFINING = {LLAMA_FACTORY: {"stage", "finetuning_type"}, AXOLOTL: {"base_model", "micro_batch_size", "adapter"}}

MAX_INFO_BYTES = 16 * 2**20  # a dataset_info.json is a registry of names; LLaMA-Factory's own is ~40 KB

# Their key -> our setting, value unchanged (LEGACY's renames apply too).
_RENAMES = {
    LLAMA_FACTORY: {"model_name_or_path": "model", "lora_rank": "lora_r", "cutoff_len": "max_length",
                    "model_revision": "revision", "use_dora": "use_dora", "use_rslora": "use_rslora",
                    "loraplus_lr_ratio": "loraplus_lr_ratio", "train_on_prompt": "train_on_prompt",
                    "preprocessing_num_workers": "dataset_num_proc"},
    AXOLOTL: {"base_model": "model", "micro_batch_size": "per_device_train_batch_size",
              "eval_batch_size": "per_device_eval_batch_size", "num_epochs": "num_train_epochs",
              "sequence_len": "max_length", "train_on_inputs": "train_on_prompt", "val_set_size": "val_size",
              "revision_of_model": "revision", "peft_use_dora": "use_dora", "peft_use_rslora": "use_rslora",
              "loraplus_lr_ratio": "loraplus_lr_ratio", "sample_packing": "packing",
              "dataset_processes": "dataset_num_proc", "chat_template_jinja": "chat_template"},
}

# Their key -> why it is left out (said in the report).
_REPORT_TO = "the console logs to the run folder; add report_to: wandb to also send the run to W&B"
_DROPS = {
    "both": {
        "template": "the model's own chat template is used (use_chat_template), not the tool's named template",
        "plot_loss": "the console draws the loss curves live (training-console watch / the console)",
        "do_train": "training is what the console does", "do_eval": "evaluation follows eval_strategy",
        "do_predict": "prediction is not part of a training run here",
        "overwrite_cache": "the datasets cache is keyed by the data and settings; nothing to overwrite",
        "ddp_timeout": "the tool's examples raise it for slow preprocessing on many nodes; transformers' default "
                       "(1800 s) is kept: --set ddp_timeout=N if needed",
        "resume_from_checkpoint": "a run is resumed with `training-console resume RUN`",
        "dataset_prepared_path": "datasets are prepared by the trainer and cached by the datasets library",
        "strict": "axolotl's own config check", "debug": "axolotl's own debug output",
        "base_model_config": "the model's config is read from the model", "model_type": "the model class is "
        "read from the model's config (AutoModelForCausalLM)", "tokenizer_type": "the tokenizer is read from "
        "the model (AutoTokenizer)", "is_llama_derived_model": "the architecture is read from the model's config",
        "pad_to_sequence_len": "batches are padded to their longest row", "special_tokens": "the model's "
        "tokenizer is used as saved (pad token set to the end token when it has none)",
        "logging_dir": LEGACY["logging_dir"][2], "output_dir": LEGACY["output_dir"][2],
        "overwrite_output_dir": LEGACY["overwrite_output_dir"][2],
        "eval_dataset": "a separate evaluation set is not read: val_size holds out a share of the training set "
                        "(or give a folder with train and validation files)",
        "test_datasets": "a separate evaluation set is not read: val_size holds out a share of the training set "
                         "(or give a folder with train and validation files)",
        "evals_per_epoch": "set eval_steps instead (a step count or a share of the run below 1)",
        "saves_per_epoch": "set save_steps instead (a step count or a share of the run below 1)",
        "xformers_attention": "xformers attention is not offered: sdpa or flash_attention_2 (attn_implementation)",
        "quantization_method": "bitsandbytes is the only quantisation here",
        "pure_bf16": "precision is bf16/fp16 mixed precision (resolve() says which this machine uses)",
        "neat_packing": "packing here is TRL's (packing: true)", "mask_history": "the loss covers every answer turn",
        "lora_fan_in_fan_out": "peft sets it from the model's layer type",
        "pissa_iter": "peft's default", "pissa_convert": "the adapter is saved as trained",
    },
}
for _key in ("wandb_project", "wandb_entity", "wandb_name", "wandb_watch", "wandb_log_model", "wandb_run_id",
             "wandb_mode"):
    _DROPS["both"][_key] = _REPORT_TO

_MULTIMODAL = ("image", "video", "audio", "vision", "visual", "processor", "multimodal", "mm_proj")

# axolotl dataset types -> our dataset_format; other types (input_output, custom prompt styles) are refused.
_AXOLOTL_TYPES = {"alpaca": "instruction", "sharegpt": "sharegpt", "chat_template": "chat", "completion": "text"}
_ATTENTION = {"fa2": "flash_attention_2", "sdpa": "sdpa", "disabled": "eager"}


@dataclass
class Imported:
    """A foreign config mapped to ours: the method, our flat values, and the report's three groups."""

    tool: str
    method: str = "lora"
    values: dict = field(default_factory=dict)
    mapped: list = field(default_factory=list)  # (their key, their value, our key, our value, note)
    dropped: list = field(default_factory=list)  # (their key, why)
    refused: dict = field(default_factory=dict)  # their key -> one line: why, and what to do

    def report(self) -> list[str]:
        """The report as lines: refused first (nothing is written then: a DPO file's refusal came after forty lines
        of mappings, where a reader took it for an import that worked), then mapped and dropped (text from the file
        written as printable text)."""
        lines = ["refused (nothing is written):"] + [f"  {printable(r)}" for r in self.refused.values()] \
            if self.refused else []
        lines += ["mapped:"] + [f"  {m}" for m in self.mapped_lines()]
        if self.dropped:
            lines += ["dropped:"] + [f"  {d}" for d in self.dropped_lines()]
        return lines

    def mapped_lines(self) -> list[str]:
        out = []
        for their, their_value, ours, value, note in self.mapped:
            line = f"{_show(their)}: {_show(their_value)} -> {ours}: {_show(value)}"
            out.append(f"{line} ({printable(note)})" if note else line)
        return out

    def dropped_lines(self) -> list[str]:
        return [f"{_show(key, 400)}: {printable(why)}" for key, why in self.dropped]

    def notices(self) -> list[str]:
        """The report as RunConfig notices (what `--config THEIR.yaml` says before a run)."""
        head = f"imported from {self.tool}: "
        return ([head + line for line in self.mapped_lines()]
                + [f"{head}dropped {line}" for line in self.dropped_lines()])


def _show(value, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = printable(text).replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


def detect(data) -> str | None:
    """LLaMA-Factory, axolotl, or None (ours, or not recognised) for a YAML mapping."""
    if not isinstance(data, dict) or isinstance(data.get("arguments"), dict):
        return None
    keys = {str(k) for k in data}
    best, best_score = None, 0
    for tool, signs in _SIGNS.items():
        score = len(keys & signs) + (2 if keys & _DEFINING[tool] else 0)
        if tool == AXOLOTL and isinstance(data.get("datasets"), list):
            score += 2
        if score > best_score:
            best, best_score = tool, score
    return best if best_score >= 2 else None


class _Mapper:
    """One file's conversion: collects mapped values, dropped keys and refusals as it goes."""

    def __init__(self, tool: str, data: dict, base_dir: Path, dataset_given: bool):
        # absolute: the mapped paths must mean the same file from the run folder (console/config/paths.py says why)
        self.tool, self.base_dir, self.dataset_given = tool, Path(os.path.abspath(base_dir)), dataset_given
        self.data = {str(k): v for k, v in data.items()}
        self.out = Imported(tool=tool)
        self.done: set[str] = set()

    # -- the three groups --------------------------------------------------------------------------------
    def put(self, their: str, their_value, ours: str, value, note: str = "") -> None:
        self.done.add(their)
        if ours != "method" and ours not in all_fields():
            self.drop(their, f"-> {ours}: not supported by this version (no '{ours}' setting)")
            return
        if ours == "method":
            self.out.method = value
        else:
            self.out.values[ours] = value
        self.out.mapped.append((their, their_value, ours, value, note))

    def drop(self, their: str, why: str) -> None:
        self.done.add(their)
        self.out.dropped.append((their, why))

    def refuse(self, their: str, line: str) -> None:
        self.done.add(their)
        self.out.refused.setdefault(their, line)

    def get(self, key: str, default=None):
        value = self.data.get(key, default)
        return default if value is None else value

    # -- shared by both tools ----------------------------------------------------------------------------
    def common_refusals(self) -> None:
        for key in ("deepspeed", "fsdp", "fsdp_config", "fsdp_version"):
            if self.data.get(key) not in (None, "", False, [], {}):
                self.refuse(key, f"{key}: not read from this file: remove it and set accelerate_config: "
                                 f"deepspeed_zero2, deepspeed_zero3 or fsdp (the shipped presets) or the path of an "
                                 f"`accelerate config` file; the trainer then starts under `accelerate launch`")
        for key, value in self.data.items():
            if any(word in key.lower() for word in _MULTIMODAL) and value not in (None, "", False, [], {}):
                self.refuse(key, f"{key}: multi-modal training is not supported: the console trains text-only "
                                 f"causal language models")

    def rest(self) -> None:
        """Keys no tool-specific rule took: a setting of ours passes through, an old name is translated (LEGACY),
        a known one is dropped with its reason, and the rest is dropped as having no counterpart here."""
        renames = _RENAMES[self.tool]
        if self.data.get("bf16") in (True, "auto") and "fp16" not in self.data:
            # both tools default fp16 to off; the preset's fp16 on next to their bf16 would be a conflict to resolve
            self.put("(default) fp16", False, "fp16", False, f"{self.tool}'s default; bf16 is on")
        empty = []
        for key, value in self.data.items():
            if key in self.done:
                continue
            if value is None or value == "":
                empty.append(key)
                self.done.add(key)
                continue
            if key in renames:
                self.put(key, value, renames[key], value)
            elif key in _DROPS["both"]:
                self.drop(key, _DROPS["both"][key])
            elif key in LEGACY:
                new, how, notice = LEGACY[key]
                if new is None:
                    self.drop(key, notice)
                elif how == "negate" and isinstance(value, bool):
                    self.put(key, value, new, not value, "the other way round")
                else:
                    self.put(key, value, new, value)
            elif key in all_fields():
                self.put(key, value, key, value)
            else:
                self.drop(key, "no counterpart in the console; left out: check that your run does not need it "
                               "(`training-console show --fields` lists every setting)")
        if empty:
            self.done.update(empty)
            self.out.dropped.append((", ".join(empty), "empty in the file"))

    def targets(self, their: str, value) -> None:
        """lora_target / lora_target_modules: 'all' or a list or a comma list -> 'all-linear' or 'a,b'."""
        names = value if isinstance(value, list) else str(value).split(",")
        names = [str(n).strip() for n in names if str(n).strip()]
        if not names:
            self.drop(their, "empty: the preset's all-linear is kept")
        elif names == ["all"] or "all-linear" in names:
            self.put(their, value, "lora_target_modules", "all-linear")
        else:
            self.put(their, value, "lora_target_modules", ",".join(names))

    def targets_to_save(self, their: str, value) -> None:
        """additional_target / lora_modules_to_save: modules trained whole next to the adapter."""
        names = value if isinstance(value, list) else str(value).split(",")
        self.put(their, value, "modules_to_save", ",".join(str(n).strip() for n in names if str(n).strip()))

    def attention(self, their: str, value, implementation: str | None) -> None:
        if implementation:
            self.put(their, value, "attn_implementation", implementation)
        else:
            self.drop(their, "transformers picks the attention implementation")

    def local_or_hub(self, value: str) -> str:
        """A dataset path as the tool reads it: beside the config or the working folder if there, else a Hub name
        when it looks like one, else a path (that the pre-launch check reports as not found)."""
        value = value.strip()
        for base in (self.base_dir, Path.cwd()):
            path = (base / Path(value).expanduser())
            if _exists(path):
                return os.path.normpath(str(path))
        try:
            if not looks_local(value, self.base_dir):
                return value
        except (OSError, ValueError):  # a name no file system takes (NUL, too long): a path, reported not found
            pass
        return os.path.normpath(str(self.base_dir / Path(value).expanduser()))


def _exists(path: Path, file: bool = False) -> bool:
    """Path.exists / is_file that say False for a name the system refuses (a NUL byte, too long) instead of raising:
    the names come from someone else's file."""
    try:
        return path.is_file() if file else path.exists()
    except (OSError, ValueError):
        return False


# -- LLaMA-Factory ---------------------------------------------------------------------------------------------

def _llama_factory(m: _Mapper) -> None:
    d = m.data
    stage = str(m.get("stage", "sft")).strip().lower()
    if "stage" in d:
        if stage == "sft":
            m.drop("stage", "SFT is what the console trains")
        elif stage == "pt":
            m.put("stage", d["stage"], "dataset_format", "text", "pretraining: loss on every token of plain text")
        else:
            m.refuse("stage", f"stage: {_show(d['stage'])}: not supported: the console trains SFT (supervised "
                              f"fine-tuning) only, not DPO, PPO, KTO, reward models or other preference stages")
    finetuning = str(m.get("finetuning_type", "lora")).strip().lower()
    bits = d.get("quantization_bit")
    if bits not in (None, "", 4, 8, "4", "8"):
        m.refuse("quantization_bit", f"quantization_bit: {_show(bits)}: only 4-bit (QLoRA) and 8-bit "
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
        m.refuse("finetuning_type", f"finetuning_type: {_show(d.get('finetuning_type'))}: not supported: use "
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
    # What LLaMA-Factory trains with when the file says nothing: transformers' TrainingArguments defaults (and its own
    # cutoff_len), written out so the run is the one the file describes, not the console's preset for the method
    # (2e-4, 5 epochs, batch 4 x 4, 10 % warmup: a new user found the preset's values in place without a word).
    for theirs, ours, value in _LLAMA_FACTORY_UNSAID:
        if theirs not in d and not (theirs == "warmup_steps" and "warmup_ratio" in d):
            m.put(f"(default) {theirs}", value, ours, value, "LLaMA-Factory's default, from transformers")
    if method_is_lora(m):
        rank = d.get("lora_rank")
        if rank is None:  # LLaMA-Factory's defaults differ from the preset's: kept, to train what they trained
            m.put("(default) lora_rank", 8, "lora_r", 8, "LLaMA-Factory's default")
            rank = 8
        if d.get("lora_alpha") is None and isinstance(rank, int) and not isinstance(rank, bool):
            m.put("(default) lora_alpha", "2 x lora_rank", "lora_alpha", 2 * rank, "LLaMA-Factory's default")
        if d.get("lora_dropout") is None:
            m.put("(default) lora_dropout", 0, "lora_dropout", 0.0, "LLaMA-Factory's default")
        m.targets("lora_target", d.get("lora_target", "all"))
        if d.get("additional_target"):
            m.targets_to_save("additional_target", d["additional_target"])
    else:
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "additional_target"):
            if key in d:
                m.drop(key, "LoRA setting, and this run is not LoRA")
    if "pissa_init" in d:
        if d["pissa_init"] is True:
            m.put("pissa_init", True, "init_lora_weights", "pissa")
        else:
            m.drop("pissa_init", "off: peft's default initialisation")
    if "disable_gradient_checkpointing" in d:
        m.put("disable_gradient_checkpointing", d["disable_gradient_checkpointing"], "activation_checkpointing",
              not d["disable_gradient_checkpointing"] if isinstance(d["disable_gradient_checkpointing"], bool)
              else d["disable_gradient_checkpointing"], "the other way round")
    if "flash_attn" in d:
        m.attention("flash_attn", d["flash_attn"], _ATTENTION.get(str(d["flash_attn"]).lower()))
    _llama_factory_dataset(m, stage)


_LLAMA_FACTORY_UNSAID = (
    ("learning_rate", "learning_rate", 5e-5), ("num_train_epochs", "num_train_epochs", 3.0),
    ("per_device_train_batch_size", "per_device_train_batch_size", 8),
    ("gradient_accumulation_steps", "gradient_accumulation_steps", 1),
    ("lr_scheduler_type", "lr_scheduler_type", "linear"), ("warmup_steps", "warmup_steps", 0),
    ("weight_decay", "weight_decay", 0.0), ("max_grad_norm", "max_grad_norm", 1.0),
    ("cutoff_len", "max_length", 2048),
)


def method_is_lora(m: _Mapper) -> bool:
    return m.out.method in ("lora", "qlora") and not m.out.refused.get("finetuning_type")


def _llama_factory_dataset(m: _Mapper, stage: str) -> None:
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
    names = value if isinstance(value, list) else str(value).split(",")
    names = [str(n).strip() for n in names if str(n).strip()]
    if len(names) != 1:
        # Refused rather than the first taken with a notice: a run on part of the data the user named looks like
        # a success, and a notice among twenty is easily missed. One merged file is one command away.
        m.refuse("dataset", f"dataset: {_show(', '.join(names))}: the console trains on one dataset; merge them "
                            f"into one file (JSON Lines files join with cat a.jsonl b.jsonl > all.jsonl) and give "
                            f"it with --dataset FILE")
        return
    name = names[0]
    dataset_dir = str(m.get("dataset_dir", "data"))
    if dataset_dir == "ONLINE":  # LLaMA-Factory's word for "the names are Hub repositories"
        m.put("dataset", name, "dataset", name, "dataset_dir ONLINE: a Hub dataset")
        return
    info_path = None
    for base in (m.base_dir, Path.cwd()):
        candidate = base / Path(dataset_dir).expanduser() / "dataset_info.json"
        if _exists(candidate, file=True):
            info_path = candidate
            break
    shown = m.base_dir / dataset_dir / "dataset_info.json"
    if info_path is None:
        m.refuse("dataset", f"dataset: {_show(name)} is an entry of {shown}, which is not there: put "
                            f"LLaMA-Factory's data folder beside the config (or set dataset_dir), or give the data "
                            f"file with --dataset FILE")
        return
    try:
        if info_path.stat().st_size > MAX_INFO_BYTES:
            raise ValueError(f"larger than {MAX_INFO_BYTES // 2**20} MiB")
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        m.refuse("dataset", f"dataset: {info_path} cannot be read ({_show(str(err), 100)}): fix it, or give the "
                            f"data file with --dataset FILE")
        return
    entry = info.get(name) if isinstance(info, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(str(k) for k in info)[:10]) if isinstance(info, dict) else ""
        m.refuse("dataset", f"dataset: {_show(name)} is not an entry of {info_path}"
                            f"{' (it has: ' + _show(known) + ')' if known else ''}: add it there, or give the "
                            f"data file with --dataset FILE")
        return
    _dataset_entry(m, name, entry, info_path, stage)


def _dataset_entry(m: _Mapper, name: str, entry: dict, info_path: Path, stage: str) -> None:
    where = f"{name} in {info_path.name}"
    if entry.get("ranking"):
        m.refuse("dataset", f"dataset: {_show(name)} is a preference (ranking) dataset: the console trains SFT "
                            f"only; give an SFT dataset")
        return
    if entry.get("hf_hub_url"):
        hub = str(entry["hf_hub_url"])
        m.put("dataset", name, "dataset", hub, f"{where}: hf_hub_url")
        if entry.get("subset"):
            m.put(f"{name}.subset", entry["subset"], "dataset_config", str(entry["subset"]))
        if entry.get("split") and entry["split"] != "train":
            m.put(f"{name}.split", entry["split"], "dataset_split", str(entry["split"]))
        if entry.get("folder"):
            m.refuse("dataset", f"dataset: {_show(name)} reads the folder {_show(entry['folder'])} of a Hub "
                                f"repository, which the console cannot: download that folder and give it with "
                                f"--dataset FOLDER")
    elif entry.get("file_name"):
        path = os.path.normpath(str(info_path.parent / Path(str(entry["file_name"])).expanduser()))
        m.put("dataset", name, "dataset", path, f"{where}: file_name")
    elif entry.get("ms_hub_url") or entry.get("om_hub_url") or entry.get("script_url") or entry.get("cloud_file_name"):
        m.refuse("dataset", f"dataset: {_show(name)} is on ModelScope/Modelers, a loading script or a cloud "
                            f"store, which the console cannot read: download it and give the file with --dataset")
        return
    else:
        m.refuse("dataset", f"dataset: {_show(name)} in {info_path} has no file_name or hf_hub_url: add one")
        return
    columns = entry.get("columns") if isinstance(entry.get("columns"), dict) else {}
    tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
    for key in list(columns) + list(tags):
        if any(word in str(key).lower() for word in _MULTIMODAL):
            m.refuse("dataset", f"dataset: {_show(name)} has {_show(key)} columns: multi-modal training is not "
                                f"supported")
            return
    formatting = str(entry.get("formatting", "alpaca")).lower()
    if stage == "pt":  # pretraining reads one text column ('prompt' in dataset_info, default 'text')
        column = columns.get("prompt", "text")
        if column != "text":
            m.put(f"{name}.columns.prompt", column, "text_column", str(column))
        return
    pairs = []
    if formatting == "alpaca":
        m.put(f"{name}.formatting", entry.get("formatting", "alpaca"), "dataset_format", "instruction")
        ours = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}
        for theirs, column in columns.items():
            if theirs in ours and column and column != ours[theirs]:
                pairs.append(f"{ours[theirs]}:{column}")
            elif theirs not in ours and column:
                m.drop(f"{name}.columns.{theirs}", "no counterpart in the instruction format: that column is not "
                                                   "trained on")
    elif formatting in ("sharegpt", "openai"):
        role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
        user, assistant = tags.get("user_tag", "human"), tags.get("assistant_tag", "gpt")
        column = columns.get("messages", "conversations")
        if (role, content) == ("role", "content") or formatting == "openai":
            if "user_tag" not in tags:
                user, assistant = "user", "assistant"
            fmt, own_column, roles = "chat", "messages", {"user", "assistant", "system", "tool"}
        elif (role, content) == ("from", "value"):
            fmt, own_column, roles = "sharegpt", "conversations", set(SHAREGPT_ROLES)
        else:
            m.refuse("dataset", f"dataset: {_show(name)} keeps its turns under {_show(role)}/{_show(content)}: "
                                f"the console reads from/value (ShareGPT) or role/content (chat); rename the keys")
            return
        if user not in roles or assistant not in roles:
            m.refuse("dataset", f"dataset: {_show(name)} names its speakers {_show(user)}/{_show(assistant)}: the "
                                f"console reads human/gpt or user/assistant; rename them")
            return
        m.put(f"{name}.formatting", entry.get("formatting"), "dataset_format", fmt)
        if column != own_column:
            pairs.append(f"{own_column}:{column}")
        for theirs in columns:
            if theirs != "messages":
                m.drop(f"{name}.columns.{theirs}", f"not read in the {fmt} format")
    else:
        m.refuse("dataset", f"dataset: {_show(name)} has formatting {_show(formatting)}: the console reads alpaca "
                            f"and sharegpt")
        return
    if pairs:
        m.put(f"{name}.columns", columns, "columns", ",".join(pairs))


# -- axolotl ---------------------------------------------------------------------------------------------------

def _axolotl(m: _Mapper) -> None:
    d = m.data
    if d.get("rl") not in (None, "", False):
        m.refuse("rl", f"rl: {_show(d['rl'])}: not supported: the console trains SFT (supervised fine-tuning) "
                       f"only, not DPO, ORPO, KTO, GRPO or other preference training")
    adapter = str(m.get("adapter", "")).strip().lower()
    four, eight = d.get("load_in_4bit") is True, d.get("load_in_8bit") is True
    if adapter in ("", "none", "null", "false"):
        m.put("adapter", d.get("adapter", "(none)"), "method", "full", "no adapter: full fine-tuning")
        if four or eight:
            m.refuse("load_in_4bit" if four else "load_in_8bit",
                     "load_in_4bit/8bit without an adapter: a quantised model's weights cannot be fully fine-tuned; "
                     "set adapter: lora or qlora")
    elif adapter in ("lora", "qlora"):
        m.put("adapter", d["adapter"], "method", "qlora" if adapter == "qlora" or four else "lora")
    else:
        m.refuse("adapter", f"adapter: {_show(d['adapter'])}: not supported: use lora, qlora or none (full)")
    for key in ("load_in_4bit", "load_in_8bit"):
        if key in d and key not in m.done:
            if d[key] is True or d[key] is False:
                m.put(key, d[key], key, d[key])
    if m.out.method == "full":
        for key in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_target_linear",
                    "lora_modules_to_save", "peft_use_dora", "peft_use_rslora", "loraplus_lr_ratio"):
            if key in d and d[key] not in (None, "", False, []):
                m.drop(key, "LoRA setting, and this run is full fine-tuning (no adapter)")
    if d.get("lora_model_dir"):
        m.refuse("lora_model_dir", "lora_model_dir: training on top of an existing adapter is not supported: merge "
                                   "it into the model first (axolotl merge-lora) and give the merged folder as "
                                   "base_model")
    if m.out.method != "full":
        if d.get("lora_target_linear") is True:  # axolotl adds every linear layer to the named ones
            m.put("lora_target_linear", True, "lora_target_modules", "all-linear")
            m.done.add("lora_target_modules")
        elif "lora_target_linear" in d:
            m.done.add("lora_target_linear")
        if d.get("lora_target_modules") and "lora_target_modules" not in m.done:
            m.targets("lora_target_modules", d["lora_target_modules"])
        if d.get("lora_modules_to_save"):
            m.targets_to_save("lora_modules_to_save", d["lora_modules_to_save"])
    if "bf16" in d and str(d["bf16"]).lower() == "auto":
        m.put("bf16", "auto", "bf16", True, "'auto': on, and turned off with a notice on a machine without bf16")
    for key, dtype in (("bfloat16", "bfloat16"), ("float16", "float16")):
        if d.get(key) is True:
            m.put(key, True, "dtype", dtype)
    if "flash_attention" in d:
        m.attention("flash_attention", d["flash_attention"], "flash_attention_2" if d["flash_attention"] is True
                    else None)
    if "sdp_attention" in d:
        m.attention("sdp_attention", d["sdp_attention"], "sdpa" if d["sdp_attention"] is True else None)
    if "lr_scheduler" in d:
        _choice(m, "lr_scheduler", d["lr_scheduler"], "lr_scheduler_type")
    if "optimizer" in d:
        _choice(m, "optimizer", d["optimizer"], "optim")
    if "chat_template" in d:
        template = d["chat_template"]
        if isinstance(template, str) and ("{{" in template or "{%" in template):
            m.put("chat_template", "(Jinja template)", "chat_template", template)
        elif template in (None, "", "tokenizer_default"):
            m.drop("chat_template", "the model's own chat template is used")
        else:
            m.drop("chat_template", f"axolotl's named template {_show(template)} is not applied: the model's own "
                                    f"chat template is used (use_chat_template); give a Jinja template as "
                                    f"chat_template to use another")
    _axolotl_dataset(m)


def _choice(m: _Mapper, their: str, value, ours: str) -> None:
    spec = all_fields()[ours]
    if isinstance(value, str) and spec.choices and value in spec.choices:
        m.put(their, value, ours, value)
    else:
        m.drop(their, f"{_show(value)} is not one of transformers' {ours} values; the preset's is kept")


def _axolotl_dataset(m: _Mapper) -> None:
    d = m.data
    value = d.get("datasets")
    if m.dataset_given:
        if value is not None:
            m.drop("datasets", "replaced by the dataset given on the command line")
        return
    if d.get("pretraining_dataset"):
        m.refuse("pretraining_dataset", "pretraining_dataset: streaming pretraining is not supported: give the "
                                        "text as a dataset with type: completion")
    if not isinstance(value, list) or not value:
        m.refuse("datasets", "datasets: missing or not a list of {path, type}: add one, or give the data file with "
                             "--dataset FILE")
        return
    if len(value) > 1:
        paths = ", ".join(str(x.get("path")) if isinstance(x, dict) else str(x) for x in value)
        m.refuse("datasets", f"datasets: {_show(paths)}: the console trains on one dataset; merge them into one "
                             f"file (JSON Lines files join with cat a.jsonl b.jsonl > all.jsonl) and give it with "
                             f"--dataset FILE")
        return
    entry = value[0]
    m.done.add("datasets")
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"].strip():
        m.refuse("datasets", "datasets[0]: needs a path (a file, folder or Hub dataset); add it")
        return
    entry = {str(k): v for k, v in entry.items()}
    kind = entry.get("type")
    fmt = _AXOLOTL_TYPES.get(kind) if isinstance(kind, str) else None
    if fmt is None:
        why = ("input_output marks trained segments itself, which has no counterpart here: use "
               "prompt/completion rows" if kind == "input_output" else
               "the console reads alpaca, sharegpt, chat_template and completion")
        m.refuse("datasets", f"datasets[0].type: {_show(kind)}: not supported: {why}")
        return
    data_files = entry.get("data_files")
    if isinstance(data_files, list) and len(data_files) == 1:
        data_files = data_files[0]
    if isinstance(data_files, str) and data_files.strip():
        m.put("datasets[0].data_files", entry["data_files"], "dataset", m.local_or_hub(data_files))
    elif data_files:
        m.refuse("datasets", "datasets[0].data_files: several files: merge them into one and give it with "
                             "--dataset FILE")
        return
    else:
        m.put("datasets[0].path", entry["path"], "dataset", m.local_or_hub(entry["path"]))
    m.put("datasets[0].type", kind, "dataset_format", fmt)
    used = {"path", "type", "data_files", "ds_type"}
    if entry.get("split") and entry["split"] != "train":
        m.put("datasets[0].split", entry["split"], "dataset_split", str(entry["split"]))
    used.add("split")
    if entry.get("name"):
        m.put("datasets[0].name", entry["name"], "dataset_config", str(entry["name"]))
    used.add("name")
    if fmt == "chat":
        messages = entry.get("field_messages", "messages")
        if messages != "messages":
            m.put("datasets[0].field_messages", messages, "columns", f"messages:{messages}")
        used.add("field_messages")
        mapping = entry.get("message_property_mappings") or {}
        role = entry.get("message_field_role", mapping.get("role", "role") if isinstance(mapping, dict) else "role")
        content = entry.get("message_field_content",
                            mapping.get("content", "content") if isinstance(mapping, dict) else "content")
        if (role, content) not in (("role", "content"), ("from", "value")):
            m.refuse("datasets", f"datasets[0]: turns keyed {_show(role)}/{_show(content)}: the console reads "
                                 f"role/content (or from/value); rename the keys")
            return
        if (role, content) == ("from", "value"):
            m.put("datasets[0].message_property_mappings", mapping or "from/value", "dataset_format", "sharegpt",
                  "from/value turns are ShareGPT's")
            if messages != "conversations":
                m.put("datasets[0].field_messages", messages, "columns", f"conversations:{messages}")
        used |= {"message_property_mappings", "message_field_role", "message_field_content"}
    if fmt == "text" and entry.get("field") and entry["field"] != "text":
        m.put("datasets[0].field", entry["field"], "text_column", str(entry["field"]))
    used.add("field")
    for key in entry:
        if key not in used:
            m.drop(f"datasets[0].{key}", "no counterpart in the console's data settings")


def convert(data: dict, base_dir: str | os.PathLike = ".", dataset_given: bool = False,
            tool: str | None = None) -> Imported:
    """A foreign config mapped to ours; never raises on odd content (refusals are in the result).

    base_dir: the config's folder (dataset_info.json and relative data paths are looked for there first).
    dataset_given: the user gave the dataset on the command line: the file's own is not resolved."""
    tool = tool or detect(data)
    if tool is None:
        raise ConfigError("not recognised as a LLaMA-Factory or axolotl config", "config")
    m = _Mapper(tool, data, Path(base_dir), dataset_given)
    m.common_refusals()
    (_llama_factory if tool == LLAMA_FACTORY else _axolotl)(m)
    m.rest()
    return m.out


def read_foreign(path: str | os.PathLike, data: dict, dataset_given: bool = False) -> Imported | None:
    """The mapped config of a foreign file (None when `data` is not one); ConfigError listing its refusals."""
    tool = detect(data)
    if tool is None:
        return None
    imported = convert(data, Path(path).parent, dataset_given, tool)
    if imported.refused:
        raise ConfigError({f"config:{key}": f"{Path(path).name} ({tool}): {line}"
                           for key, line in imported.refused.items()})
    return imported
