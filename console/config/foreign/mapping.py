"""What reading another tool's config takes, whichever the tool: the result and its report (Imported), one file's
conversion (Mapper: mapped, dropped, refused), what a tool module declares (Tool), and the keys both tools share.

Pure data and functions (no torch, no transformers). The tools themselves are console/config/foreign/llamafactory.py
and axolotl.py; console/config/foreign/__init__.py lists them and recognises and converts a file.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.common.bounded_read import read_json
from console.common.safe_text import printable
from console.config.fields import LEGACY, all_fields
from console.config.paths import looks_local
from console.config.presets import load_preset
from console.data.formats import REGISTRY, Conversation

MAX_INFO_BYTES = 16 * 2**20  # a dataset_info.json is a registry of names; LLaMA-Factory's own is ~40 KB

REPORT_TO = "the console logs to the run folder; add report_to: wandb to also send the run to W&B"
# Their key -> why it is left out (said in the report). One table for both tools: a key one tool uses may turn up in
# the other's file (copied settings), and it is dropped with the same reason.
DROPS = {
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
    "xformers_attention": "xformers attention is not offered: sdpa or flash_attention_2 (attn_implementation)",
    "quantization_method": "bitsandbytes is the only quantisation here",
    "mask_history": "the loss covers every answer turn",
    "lora_fan_in_fan_out": "peft sets it from the model's layer type",
    "pissa_convert": "the adapter is saved as trained",
}
for _key in ("wandb_project", "wandb_entity", "wandb_name", "wandb_watch", "wandb_log_model", "wandb_run_id",
             "wandb_mode"):
    DROPS[_key] = REPORT_TO

MULTIMODAL = ("image", "video", "audio", "vision", "visual", "processor", "multimodal", "mm_proj")


def is_multimodal(key: str) -> bool:
    """A key about images, video or audio: one of MULTIMODAL opens one of its words (revision_of_model is not)."""
    key = str(key).lower().replace("-", "_")
    return "mm_proj" in key or any(word.startswith(MULTIMODAL) for word in key.split("_"))


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
            line = f"{show(their)}: {show(their_value)} -> {ours}: {show(value)}"
            out.append(f"{line} ({printable(note)})" if note else line)
        return out

    def dropped_lines(self) -> list[str]:
        return [f"{show(key, 400)}: {printable(why)}" for key, why in self.dropped]

    def notices(self) -> list[str]:
        """The report as RunConfig notices (what `--config THEIR.yaml` says before a run)."""
        head = f"imported from {self.tool}: "
        return ([head + line for line in self.mapped_lines()]
                + [f"{head}dropped {line}" for line in self.dropped_lines()])


def listing(names) -> str:
    """'a, b and c'."""
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def conversations(say) -> str:
    """What the format registry's conversation formats read, each said by `say(format)`:
    'role/content (chat) or from/value (sharegpt)'."""
    return " or ".join(f"{say(f)} ({f.name})" for f in REGISTRY if isinstance(f, Conversation))


def show(value, limit: int = 80) -> str:
    """A key or value from their file as one printable line, cut at `limit`."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = printable(text).replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


@dataclass(frozen=True)
class Tool:
    """One other tool whose configs are read: its name, how a file is recognised as its (keys only it uses: two of
    them, or one defining key, make a file its), its one-to-one renames (their key -> our setting, value
    unchanged; LEGACY's renames apply too), and its own rules (`rules(mapper)`, run between the refusals both tools
    share and the rest)."""

    name: str
    signs: frozenset[str]
    defining: frozenset[str]
    renames: dict[str, str]
    rules: Callable[[Mapper], None]
    bonus: Callable[[dict], int] = lambda data: 0  # more evidence from the file's shape (axolotl's datasets list)

    def score(self, data: dict) -> int:
        keys = {str(k) for k in data}
        return len(keys & self.signs) + (2 if keys & self.defining else 0) + self.bonus(data)


class Mapper:
    """One file's conversion: collects mapped values, dropped keys and refusals as it goes."""

    def __init__(self, tool: Tool, data: dict, base_dir: Path, dataset_given: bool):
        # absolute: the mapped paths must mean the same file from the run folder (console/config/paths.py says why)
        self.tool, self.base_dir, self.dataset_given = tool, Path(os.path.abspath(base_dir)), dataset_given
        self.data = {str(k): v for k, v in data.items()}
        self.out = Imported(tool=tool.name)
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

    def says(self, *keys: str) -> bool:
        """The file sets one of these keys (an empty value is not a setting: both tools read it as unset)."""
        return any(self.data.get(k) not in (None, "") for k in keys)

    # -- what the tool trains with when its file says nothing ----------------------------------------------
    def console_default(self, ours: str):
        """What the console would train with: the run's method preset, else the setting's own default."""
        preset = load_preset(self.out.method).defaults if self.out.method in ("full", "lora", "qlora") else {}
        return preset[ours] if ours in preset else all_fields()[ours].default

    def default(self, label: str, ours: str, value, source: str, theirs=None) -> None:
        """A value the tool trains with when the file leaves `label` out, written when it differs from the
        console's own (the report says both, and where the tool's value comes from); nothing when they agree, or
        when the file already set `ours` another way. `theirs`: the tool's own value when it is not ours (a
        setting the other way round)."""
        if ours in self.out.values:
            return
        console = self.console_default(ours)
        if console == value and isinstance(console, bool) == isinstance(value, bool):
            return
        self.put(f"(default) {label}", value if theirs is None else theirs, ours, value,
                 f"{self.tool.name}'s default ({source}); the console's would be {show(console)}")

    # -- shared by both tools ----------------------------------------------------------------------------
    def common_refusals(self) -> None:
        self.distributed()
        for key, value in self.data.items():
            if is_multimodal(key) and value not in (None, "", False, [], {}):
                self.refuse(key, f"{key}: multi-modal training is not supported: the console trains text-only "
                                 f"causal language models")

    def distributed(self) -> None:
        """deepspeed: / fsdp: as the console runs them: accelerate_config names one of the shipped accelerate
        configs (presets/accelerate/: DeepSpeed ZeRO-2 and ZeRO-3, FSDP2), which shard the same training the file
        describes; the engine's settings beyond the ZeRO stage (offload, bucket sizes) are the preset's, said."""
        ds = self.data.get("deepspeed")
        fsdp = {k: self.data[k] for k in ("fsdp", "fsdp_config", "fsdp_version")
                if self.data.get(k) not in (None, "", False, [], {})}
        if ds not in (None, "", False, {}) and fsdp:
            self.refuse("deepspeed", "deepspeed and fsdp both set: keep one of them and import again")
            return
        if ds not in (None, "", False, {}):
            self.deepspeed("deepspeed", ds)
        if fsdp:
            key = next(iter(fsdp))
            self.put(key, fsdp[key], "accelerate_config", "fsdp",
                     "the shipped FSDP2 accelerate config (full sharding per decoder layer), in place of the file's "
                     "own FSDP options: the same training")
            for other in fsdp:
                self.done.add(other)

    def deepspeed(self, their: str, value) -> None:
        """A DeepSpeed config (a JSON file's path, or the config itself) -> the shipped ZeRO-2 or ZeRO-3 preset."""
        stage, offload = zero_stage(value, self.base_dir)
        if stage is None:
            self.refuse(their, f"{their}: {show(value)}: its ZeRO stage cannot be read (not a file here, and its name "
                               f"says no stage): set accelerate_config: deepspeed_zero2 or deepspeed_zero3 (the "
                               f"shipped presets) or the path of an `accelerate config` file")
        elif stage == 0:
            self.drop(their, "ZeRO stage 0 shards nothing: several GPUs train as plain data parallel here, which is "
                             "what stage 0 runs")
        else:
            preset = "deepspeed_zero3" if stage == 3 else "deepspeed_zero2"
            note = "ZeRO-1's sharding of the optimiser is part of ZeRO-2's; the same training" if stage == 1 else ""
            if offload:
                note = (note + "; " if note else "") + "the preset does not offload to the CPU (same training, " \
                                                      "more GPU memory)"
            self.put(their, value if isinstance(value, str) else "(DeepSpeed config)", "accelerate_config", preset,
                     note)

    def several(self, their: str, their_value, entries: list[Imported]) -> None:
        """Several datasets, each mapped on its own (`entries`: the tools' dataset_entries), as the run's list of
        datasets (console/data/sources.py: each with its own format, columns, split, config): refused in one
        line when one of them is."""
        refusals = [line for entry in entries for line in entry.refused.values()]
        if refusals:
            self.refuse(their, refusals[0])
            return
        keys = {"dataset": "path", "dataset_format": "format", "columns": "columns", "dataset_split": "split",
                "dataset_config": "config", "text_column": "text_column"}
        items = []
        for entry in entries:
            item = {ours: entry.values[theirs] for theirs, ours in keys.items() if entry.values.get(theirs)}
            items.append(item if len(item) > 1 else item.get("path"))
            self.out.dropped.extend(entry.dropped)
        self.put(their, their_value, "dataset", items, f"{len(items)} datasets, mixed")

    def rest(self) -> None:
        """Keys no tool-specific rule took: a setting of ours passes through, an old name is translated (LEGACY),
        a known one is dropped with its reason, and the rest is dropped as having no counterpart here."""
        renames = self.tool.renames
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
            elif key in DROPS:
                self.drop(key, DROPS[key])
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
        """lora_target / lora_target_modules: 'all' or a list or a comma list -> 'all-linear' or 'a,b'; one string
        that is a regular expression (peft matches a string against each module's full name) -> lora_target_regex."""
        if isinstance(value, str) and is_regex(value):
            self.put(their, value, "lora_target_regex", value.strip(), "a regular expression over the modules' "
                                                                       "full names (peft's target_modules string)")
            return
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
            if exists(path):
                return os.path.normpath(str(path))
        try:
            if not looks_local(value, self.base_dir):
                return value
        except (OSError, ValueError):  # a name no file system takes (NUL, too long): a path, reported not found
            pass
        return os.path.normpath(str(self.base_dir / Path(value).expanduser()))


REGEX_SIGNS = set("\\*+?()[]|^$")


def is_regex(value: str) -> bool:
    """A target-module string that only makes sense as a regular expression (names are letters, digits, _ and .)."""
    return any(c in REGEX_SIGNS for c in value)


MAX_DS_BYTES = 1 << 20  # a DeepSpeed config is a page of JSON


def zero_stage(value, base_dir: Path) -> tuple[int | None, bool]:
    """(ZeRO stage, offloads) of a DeepSpeed config: the config itself, its JSON file when it is here (beside the
    config or in the working folder), else the stage its name says (zero3.json, ds_z2_offload_config.json); None
    when nothing says it."""
    import re

    config = value if isinstance(value, dict) else None
    if isinstance(value, str):
        for base in (base_dir, Path.cwd()):
            path = base / Path(value.strip()).expanduser()
            if exists(path, file=True):
                try:
                    config = read_json(path, MAX_DS_BYTES)  # bounded, never a FIFO, never RecursionError
                except (OSError, ValueError):
                    config = None
                break
    if isinstance(config, dict):
        zero = config.get("zero_optimization")
        stage = zero.get("stage") if isinstance(zero, dict) else 0
        offload = isinstance(zero, dict) and any(
            isinstance(zero.get(k), dict) and str(zero[k].get("device", "none")).lower() not in ("none", "")
            for k in ("offload_optimizer", "offload_param"))
        return (stage if stage in (0, 1, 2, 3) else None), offload
    if isinstance(value, str):
        name = Path(value).name.lower()
        found = re.search(r"(?:zero|_z|^z)_?([0-3])", name)
        return (int(found.group(1)) if found else None), "offload" in name
    return None, False


def exists(path: Path, file: bool = False) -> bool:
    """Path.exists / is_file that say False for a name the system refuses (a NUL byte, too long) instead of raising:
    the names come from someone else's file."""
    try:
        return path.is_file() if file else path.exists()
    except (OSError, ValueError):
        return False


def choice(m: Mapper, their: str, value, ours: str) -> None:
    """A value that must be one of our setting's choices: mapped when it is, else dropped with why."""
    spec = all_fields()[ours]
    if isinstance(value, str) and spec.choices and value in spec.choices:
        m.put(their, value, ours, value)
    else:
        m.drop(their, f"{show(value)} is not one of transformers' {ours} values; the preset's is kept")
