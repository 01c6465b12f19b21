"""RunConfig: a method's preset, then a user YAML file, then --set overrides; validated and resolved.

All arguments live in one flat namespace (TrainingArguments names plus the console's own settings), so that
`--set k=v`, a fix's {arg: value} and a field on the arguments screen all mean the same thing.
"""
from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from console.common.bounded_read import FileTooLarge, NotARegularFile
from console.common.errors import ConfigError, UserError, path_problem
from console.config.fields import LEGACY, SECTIONS, all_fields, coerce, unknown_field_message
from console.config.foreign import read_foreign
from console.config.paths import NAMED_VALUES, PATH_FIELDS, resolve_path
from console.config.presets import METHODS, load_preset
from console.data.formats import objective_of
from console.data.sources import dataset_value, entries_of
from console.machine.hardware import Hardware, probe
from console.machine.scale import check_accelerate_config


@dataclass
class RunConfig:
    method: str
    values: dict
    parent: str | None = None  # the run this one was made from
    fixes: list = field(default_factory=list)  # fixes applied to the parent's config to make this one
    notices: list = field(default_factory=list)  # translations and resolutions, said to the user
    resolved: dict = field(default_factory=dict)  # what resolve() decided for this machine (device, precision)
    run_id: str | None = None
    # what the run optimises (sft, dpo, kto): the objective setting, or with it at auto what the data's format
    # trains (settled by apply_rules); its preset is laid over the method's
    objective: str = "sft"

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, method: str) -> RunConfig:
        preset = load_preset(method)
        config = cls(method=preset.method, values=copy.deepcopy(preset.defaults))
        apply_rules(config)
        return config

    @property
    def preset(self):
        return load_preset(self.method, self.objective)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return self.preset.ranges

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def copy(self) -> RunConfig:
        return copy.deepcopy(self)

    def with_changes(self, changes: dict, notice: str | None = None) -> RunConfig:
        """A validated copy with `changes` applied; 'method' switches the preset, keeping the user's own values."""
        new = self.copy()
        new.notices = []
        changes = dict(changes)
        if "method" in changes:
            new = _switch_method(new, str(changes.pop("method")))
        problems = {}
        for key, raw in changes.items():
            try:
                key, value, said = translate(key, raw)
            except ConfigError as err:
                problems.update(err.problems)
                continue
            if said:
                new.notices.append(said)
            if key is not None:
                new.values[key] = value
        if problems:
            raise ConfigError(problems)
        if notice:
            new.notices.append(notice)
        apply_rules(new)
        return new

    # -- what differs from the preset ----------------------------------------------------------------------
    def changed_from_preset(self) -> dict:
        defaults = self.preset.defaults
        return {k: v for k, v in self.values.items() if defaults.get(k, _MISSING) != v}

    @property
    def effective_batch(self) -> int:
        return (int(self.values.get("per_device_train_batch_size") or 1)
                * int(self.values.get("gradient_accumulation_steps") or 1) * self.processes * self.nodes)

    @property
    def nodes(self) -> int:
        """Machines training together; each runs `processes` processes."""
        return int(self.values.get("nodes") or 1)

    @property
    def processes(self) -> int:
        n = self.values.get("processes")
        if n:
            return int(n)
        return max(1, len(self.resolved.get("gpus", []))) if self.resolved else 1

    def training_arguments(self) -> dict:
        """The values that go to trl.SFTConfig (transformers.TrainingArguments plus TRL's own)."""
        specs = all_fields()
        # each trainer its own arguments: packing is SFT's, beta DPO's and KTO's (training_args.json's objectives)
        args = {k: v for k, v in self.values.items() if k in specs and specs[k].training_argument
                and (specs[k].objectives is None or self.objective in specs[k].objectives)}
        # Precision is the console's decision (resolve() says it): TRL's SFTConfig would otherwise turn bf16 on.
        args.setdefault("fp16", False)
        args.setdefault("bf16", False)
        args.setdefault("activation_checkpointing", False)  # SFTConfig's default is on: a memory fix here, said
        # TRL masks prompts of prompt/completion records unless told otherwise; train_on_prompt is that switch.
        if self.objective == "sft":
            args["completion_only_loss"] = not self.values.get("train_on_prompt", False)
        # DDP's default (find_unused_parameters=True for a model without activation checkpointing) costs an extra
        # pass over the autograd graph every step, and torch warns of it: an adapter's trainable weights are all
        # used in each forward pass (LLaMA-Factory turns it off for LoRA too). The user's own value wins.
        if self.method in ADAPTER_METHODS and self.values.get("ddp_find_unused_parameters") is None:
            args["ddp_find_unused_parameters"] = False
        return args

    # -- files -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"method": self.method, "objective": self.objective, "parent": self.parent, "fixes": self.fixes,
                "resolved": self.resolved, "notices": self.notices, "arguments": self.values}

    def save(self, path: str | os.PathLike) -> None:
        from console.common.files import atomic_write

        atomic_write(path, to_yaml(self))


_MISSING = object()
ADAPTER_METHODS = ("lora", "qlora", "adapter")  # methods that train an adapter on a frozen base


def translate(key: str, raw) -> tuple[str | None, object, str]:
    """(field, coerced value, notice) for a user-given key, translating names that older versions used."""
    key = str(key).strip()
    notice = ""
    if key in LEGACY:
        new, how, notice = LEGACY[key]
        if new is None:
            return None, None, notice
        if how == "negate":  # TRL's "loss on the answer only" flags are the opposite of train_on_prompt
            value = coerce(new, raw)
            return new, (not value) if isinstance(value, bool) else value, notice
        if how == "ratio":
            value = coerce("warmup_steps", raw)
            if not 0 <= value < 1:
                raise ConfigError(f"warmup_ratio must be a ratio from 0 to below 1, got {value}", key)
            return new, float(value), notice
        key = new
    if key not in all_fields():
        raise ConfigError(unknown_field_message(key), key)
    value = coerce(key, raw)
    if key == "lora_target_modules" and value in ("all", ["all"]):
        return key, "all-linear", "lora_target_modules 'all' (LLaMA-Factory's word) is peft's 'all-linear' here"
    if key == "sample_prompts" and isinstance(value, str) and _names_prompts_file(value):
        # a file of prompts: made absolute like the other paths (the trainer runs in the run folder, where a
        # relative name sampled the file's name itself)
        value = resolve_path(value, hub=False)
    if key == "chat_template" and isinstance(value, str) and _names_template_file(value):
        value = resolve_path(value, hub=False)  # a file: made absolute like the other paths (console/config/paths.py)
    if key == "lora_target_regex" and value:  # checked now, not after the model has loaded
        import re

        try:
            re.compile(value)
        except re.error as err:
            raise ConfigError(f"lora_target_regex is not a regular expression ({err}): fix it, or list the layers "
                              f"in lora_target_modules instead", key) from None
    if key == "accelerate_config":  # free text (a preset name or a path), so checked here: a typo is one line now
        check_accelerate_config(value)
    if key == "dataset" and isinstance(value, list):  # several datasets: each entry's path made absolute
        value = dataset_value(value, lambda path: resolve_path(path, hub=True))
    elif key in PATH_FIELDS:  # made absolute here, in the user's working folder (console/config/paths.py says why)
        value = resolve_path(value, hub=PATH_FIELDS[key], names=NAMED_VALUES.get(key, ()))
    return key, value, notice


def _names_prompts_file(value: str) -> bool:
    """A sample_prompts value that names a file of prompts rather than being one prompt: a .txt/.jsonl name on one
    line, or a file that is there."""
    text = value.strip()
    if "\n" in text or not text:
        return False
    return text.lower().endswith((".txt", ".jsonl")) or Path(text).expanduser().is_file()


def _names_template_file(value: str) -> bool:
    """A chat_template value that names a file rather than holding the template itself (one line, no Jinja)."""
    return "\n" not in value and "{" not in value and value.strip().endswith((".jinja", ".j2"))


def _switch_method(config: RunConfig, method: str) -> RunConfig:
    """The same run under another method: the new preset's numbers, the user's data and other settings kept."""
    old = load_preset(config.method, config.objective)
    new_preset = load_preset(method, config.objective)
    values = copy.deepcopy(new_preset.defaults)
    for key, value in config.values.items():
        method_tuned = key in old.own_defaults or key in new_preset.own_defaults
        if not method_tuned:
            values[key] = value
    config.notices.append(f"method {old.method} -> {new_preset.method}: {new_preset.name} defaults")
    config.method = new_preset.method
    config.values = values
    return config


def wanted_objective(values: dict) -> str:
    """The objective a run's values ask for: the objective setting, or with it at auto the one its datasets'
    formats train (their columns, or the format each names; a Hub dataset's columns are the trainer's to read:
    sft here). Datasets that train different objectives: sft, and the pre-launch check says why."""
    chosen = values.get("objective") or "auto"
    if chosen != "auto":
        return str(chosen)
    try:
        entries = entries_of(values)
    except UserError:
        return "sft"  # said by the pre-launch check
    found = set()
    for entry in entries:
        fmt = entry.format or "auto"
        if fmt == "auto":
            fmt = _local_format(entry.path, entry.text_column, entry.columns)
        try:
            found.add(objective_of(fmt) if fmt and fmt != "auto" else "sft")
        except UserError:
            found.add("sft")  # an unknown format is said by the pre-launch check
    return found.pop() if len(found) == 1 else "sft"


def _local_format(dataset, text_column, columns) -> str | None:
    """The format a local dataset's columns say (None for a Hub one, or one that does not read: the pre-launch
    check says why). Keyed by the file's size and time, so editing a setting does not reread a large file."""
    path = Path(dataset).expanduser() if dataset else None
    try:
        stamp = (path.stat().st_size, path.stat().st_mtime_ns) if path is not None and path.is_file() else None
    except OSError:
        stamp = None
    return _format_of(dataset, stamp, text_column, str(columns) if columns is not None else None)


@functools.lru_cache(maxsize=64)
def _format_of(dataset, stamp, text_column, columns) -> str | None:
    from console.data.preflight import local_format

    try:
        return local_format(dataset, "auto", text_column, columns)
    except UserError:
        return None


def _settle_objective(config: RunConfig) -> None:
    """The run's objective from its values; a change lays the new objective's preset over the values the user had
    not changed (a learning rate typed by the user stays), and says so."""
    new = wanted_objective(config.values)
    if new == config.objective:
        return
    old_preset, new_preset = load_preset(config.method, config.objective), load_preset(config.method, new)
    moved = []
    for key in dict.fromkeys([*old_preset.objective_defaults, *new_preset.objective_defaults,
                              *new_preset.own_defaults]):
        current = config.values.get(key, _MISSING)
        if current is not _MISSING and current != old_preset.defaults.get(key, _MISSING):
            continue  # the user's own value
        if key in new_preset.defaults:
            if current != new_preset.defaults[key]:
                moved.append(f"{key} {current if current is not _MISSING else 'unset'} -> {new_preset.defaults[key]}")
            config.values[key] = copy.deepcopy(new_preset.defaults[key])
        else:
            config.values.pop(key, None)
    why = ("" if (config.values.get("objective") or "auto") != "auto"
           else " (the dataset's columns say so: set objective to choose)")
    config.notices.append(f"objective {config.objective} -> {new}{why}: {new_preset.name} defaults"
                          + (f" ({', '.join(moved)})" if moved else ""))
    config.objective = new


def _check_loss_type(config: RunConfig) -> None:
    """loss_type's words are each trainer's own (SFT: nll, dft; DPO: sigmoid, ipo, ... several joined by commas;
    KTO: kto, apo_zero_unpaired): ConfigError naming the run's objective's words."""
    value = config.values.get("loss_type")
    spec = all_fields()["loss_type"]
    words = (spec.choices_by_objective or {}).get(config.objective)
    if value in (None, "") or not words:
        return
    given = value if isinstance(value, list) else [w.strip() for w in str(value).split(",") if w.strip()]
    wrong = [w for w in given if w not in words] or ([] if config.objective == "dpo" or len(given) == 1 else given)
    if wrong:
        several = " (several joined by commas, weighted by loss_weights)" if config.objective == "dpo" else ""
        raise ConfigError(f"loss_type {', '.join(map(str, wrong))} is not a {config.objective} loss: choose "
                          f"{', '.join(words)}{several}", "loss_type")


def apply_rules(config: RunConfig) -> None:
    """Cross-field rules, resolved (with a notice) instead of left to crash the Trainer."""
    v = config.values
    said = config.notices.append
    _settle_objective(config)
    _check_loss_type(config)
    eval_on = v.get("eval_strategy", "no") != "no"
    if v.get("early_stopping_patience") and not eval_on:
        v["eval_strategy"] = "steps"
        eval_on = True
        said("early stopping needs evaluation: eval_strategy set to 'steps'")
    if v.get("eval_on_start") and not eval_on:  # nothing to evaluate on: quietly off (it is the preset's default)
        v["eval_on_start"] = False
    if v.get("early_stopping_patience") and not v.get("load_best_model_at_end"):
        v["load_best_model_at_end"] = True
        said("early stopping keeps the best checkpoint: load_best_model_at_end set to true")
    if eval_on and not (v.get("val_size") or 0) > 0 and not v.get("dataset"):
        v["val_size"] = 0.1
        said("evaluation is on and the demo dataset has no validation split: val_size set to 0.1")
    if v.get("load_best_model_at_end"):
        if not eval_on:
            v["load_best_model_at_end"] = False
            said("load_best_model_at_end needs evaluation (eval_strategy is 'no'): turned off")
        else:
            if v.get("save_strategy") != v.get("eval_strategy"):
                said(f"load_best_model_at_end needs matching strategies: save_strategy "
                     f"{v.get('save_strategy')!r} -> {v['eval_strategy']!r}")
                v["save_strategy"] = v["eval_strategy"]
            if v["eval_strategy"] == "steps":
                ev, sv = v.get("eval_steps"), v.get("save_steps")
                if ev and sv and ev >= 1 and sv >= 1 and sv % ev:
                    fixed = int(-(-sv // ev) * ev)
                    said(f"load_best_model_at_end needs save_steps a multiple of eval_steps: save_steps {sv:g} -> "
                         f"{fixed}")
                    v["save_steps"] = fixed
            if not v.get("metric_for_best_model"):
                v["metric_for_best_model"] = "eval_loss"
    if config.method == "qlora" and not v.get("load_in_4bit"):
        said("QLoRA without load_in_4bit is plain LoRA: load_in_4bit set to true")
        v["load_in_4bit"] = True
    if v.get("load_in_8bit"):
        # bitsandbytes' 8-bit base trains only under an adapter, and a base is 8-bit or 4-bit, not both
        if config.method != "lora":
            said(f"load_in_8bit is for LoRA's frozen base (method {config.method} "
                 f"{'is 4-bit' if config.method == 'qlora' else 'cannot train it'}): load_in_8bit set to false")
            v["load_in_8bit"] = False
        elif v.get("load_in_4bit"):
            said("load_in_4bit and load_in_8bit both on: 4-bit kept (set load_in_4bit=false for an 8-bit base)")
            v["load_in_8bit"] = False
    if v.get("loraplus_lr_ratio") and config.method not in ("lora", "qlora"):
        said(f"loraplus_lr_ratio applies to LoRA's A and B matrices: not used by method {config.method}")
    if v.get("packing") and not v.get("max_length"):
        v["max_length"] = 1024
        said("packing needs a max_length (the length of the packed sequences): max_length set to 1024")
    if v.get("padding_free") and not v.get("packing"):
        # TRL refuses padding_free without packing: max_length would not be enforced.
        v["packing"] = True
        said("padding_free needs packing (TRL enforces max_length only through it): packing set to true")
    if v.get("fp16") and v.get("bf16"):
        v["fp16"] = False
        said("fp16 and bf16 both on: bf16 kept")


def resolve(config: RunConfig, hardware: Hardware | None = None) -> RunConfig:
    """This machine's version of the config: precision and devices it really has, said plainly."""
    hw = hardware if hardware is not None else probe()
    new = config.copy()
    v = new.values
    said = new.notices.append
    gpus = [g.name for g in hw.gpus]
    new.resolved = {"device": "cuda" if hw.cuda else "cpu", "gpus": gpus}
    if not hw.cuda:
        for flag in ("fp16", "bf16"):
            if v.get(flag):
                v[flag] = False
                said(f"{flag} ignored: no CUDA device, this run uses fp32")
        v["use_cpu"] = True
        if v.get("dataloader_pin_memory", True):
            v["dataloader_pin_memory"] = False
        precision = "fp32"
    else:
        if v.get("bf16") and not hw.bf16:
            v["bf16"], v["fp16"] = False, True
            said(f"bf16 not supported by {gpus[0]}: this run uses fp16")
        precision = "bf16" if v.get("bf16") else "fp16" if v.get("fp16") else "fp32"
    if v.get("load_in_4bit") or config.method == "qlora":
        dtype = v.get("bnb_4bit_compute_dtype", "auto")
        if dtype == "auto":
            dtype = "float32" if not hw.cuda else "bfloat16" if hw.bf16 else "float16"
            v["bnb_4bit_compute_dtype"] = dtype
            said(f"4-bit compute dtype: {dtype}")
    new.resolved["precision"] = precision
    dtype = v.get("dtype") or "auto"
    if dtype == "float16" and not hw.cuda:
        # a CPU has no float16 autocast nor loss scaling: float16 weights train slowly there and lose small updates
        v["dtype"] = "float32"
        said("dtype float16 on a CPU: the base loads in float32 (no float16 training without CUDA)")
    elif dtype == "float16" and precision == "fp16" and config.method == "full":
        # fp16 mixed precision scales gradients of float32 master weights; torch's GradScaler refuses float16 ones
        v["dtype"] = "float32"
        said("full fine-tuning with fp16 needs float32 weights to scale their gradients: dtype float16 -> float32")
    elif dtype in ("bfloat16", "float16") and config.method == "full":
        said(f"the model trains in {dtype} itself (dtype {dtype}): no float32 master weights, small updates may "
             f"round away")
    elif dtype in ("bfloat16", "float16"):
        said(f"dtype {dtype}: the frozen base model loads in {dtype}; the adapter trains in float32")
    if v.get("trust_remote_code"):
        said("trust_remote_code is ON for this run: the model repository's own Python code will run on this machine")
    if not v.get("processes"):
        v["processes"] = max(1, len(gpus))
    new.resolved["processes"] = int(v["processes"])
    if new.nodes > 1:
        new.resolved["nodes"] = new.nodes
    from console.machine.trackers import tracker_notes

    for note in tracker_notes(v.get("report_to")):
        said(note)
    new.resolved["effective_batch"] = new.effective_batch
    return new


# -- building from the command line and files ----------------------------------------------------------------

def read_yaml_file(path: str | os.PathLike) -> dict:
    """A user's YAML config: flat arguments, or our saved config.yaml (with 'arguments'); safe loading only."""
    p = Path(path)
    from console.common.safe_yaml import YAMLLimitError, load, read_file

    try:
        text = read_file(p)  # bounded before parsing; never a FIFO or a device
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"config file {p} not found: check the path", "config") from None
    except (NotARegularFile, FileTooLarge, ValueError) as err:
        raise ConfigError(str(err), "config") from None
    except OSError as err:
        raise ConfigError(path_problem(err, "config file"), "config") from None

    try:
        data = load(text)
    except YAMLLimitError as err:
        raise ConfigError(f"{p}: {err}", "config") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"YAML syntax error in {p}{where}: {problem}. Fix that line and try again.",
                          "config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold 'key: value' lines, not a {type(data).__name__}", "config")
    return data


def parse_set(items: list[str]) -> dict:
    """['learning_rate=1e-4', ...] -> {'learning_rate': '1e-4'} (values stay text; coerced per field)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set needs key=value, got {item!r} (e.g. --set learning_rate=1e-4)", "set")
        key, _, value = item.partition("=")
        out[key.strip()] = value
    return out


def build_config(method: str | None = None, config_file: str | None = None, sets: dict | None = None,
                 model: str | None = None, dataset: str | list[str] | None = None) -> RunConfig:
    """Preset, then the file, then --set, then --model/--dataset. Every problem is reported at once. `dataset`: one
    path or Hub name, or several (a repeated --dataset), mixed in one run."""
    if isinstance(dataset, (list, tuple)):
        dataset = list(dataset) if len(dataset) > 1 else (dataset[0] if dataset else None)
    file_values = read_yaml_file(config_file) if config_file else {}
    file_values = dict(file_values)
    imported = read_foreign(config_file, file_values, dataset is not None) if config_file else None
    if imported is not None:  # a LLaMA-Factory or axolotl file: mapped as `training-console import` maps it
        file_values = dict(imported.values, method=imported.method)
    file_method = file_values.pop("method", None)
    if isinstance(file_values.get("arguments"), dict):  # one of our saved config.yaml files
        for key in ("parent", "fixes", "resolved", "notices"):
            file_values.pop(key, None)
        file_values = dict(file_values.pop("arguments"), **file_values)
    config = RunConfig.from_preset(method or file_method or "lora")
    changes = dict(file_values)
    changes.update(sets or {})
    if model is not None:
        changes["model"] = model
    if dataset is not None:
        changes["dataset"] = dataset
    config = config.with_changes(changes)
    if imported is not None:
        config.notices[:0] = imported.notices()
    return config


def load_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The config a run was launched with (its config.yaml)."""

    path = Path(run_dir) / "config.yaml"
    data = read_yaml_file(path)
    # The file is ours, but read back from a folder anyone can edit: each part is checked, and a run whose config
    # does not hold is unreadable in one line (ConfigError), never a traceback further on.
    arguments = data.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise ConfigError(f"{path}: 'arguments' is not a mapping of argument: value", "config")
    method = data.get("method", "lora")
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigError(f"{path}: method {method!r} is not one of {', '.join(METHODS)}", "config")
    values = {}
    for key, value in arguments.items():
        key = str(key)
        if key in LEGACY:  # a run saved by an older console (max_seq_length, ...)
            new, how, _ = LEGACY[key]
            if new is None or how is not None:
                continue
            key = new
            if key in arguments:
                continue
        if key in all_fields() and value is not None:
            try:
                value = coerce(key, value)
            except ConfigError as err:
                raise ConfigError(f"{path}: {err}", "config") from None
        values[key] = value

    def items(name, kind):
        part = data.get(name)
        return part if isinstance(part, kind) else kind()

    objective = data.get("objective", "sft")
    config = RunConfig(method=method, values=values, objective=objective if objective in ("sft", "dpo", "kto")
                       else "sft",
                       parent=data.get("parent") if isinstance(data.get("parent"), str) else None,
                       fixes=[f for f in items("fixes", list) if isinstance(f, dict)],
                       notices=[str(n) for n in items("notices", list)], resolved=items("resolved", dict),
                       run_id=Path(run_dir).name)
    return config


def to_yaml(config: RunConfig) -> str:
    """The config as YAML, arguments grouped by section with a comment heading each."""

    specs = all_fields()
    head = {"method": config.method, "objective": config.objective, "parent": config.parent, "fixes": config.fixes,
            "resolved": config.resolved, "notices": config.notices}
    text = yaml.safe_dump(head, sort_keys=False, default_flow_style=False, allow_unicode=True)
    text += "arguments:\n"
    for section in SECTIONS:
        keys = [k for k in config.values if (specs[k].section if k in specs else "advanced") == section]
        if not keys:
            continue
        text += f"  # {section}\n"
        body = yaml.safe_dump({k: config.values[k] for k in keys}, sort_keys=False, default_flow_style=False,
                              allow_unicode=True)
        text += "".join(f"  {line}\n" for line in body.splitlines())
    return text


def value_from_text(key: str, text: str):
    """A field's value from what the user typed on the arguments screen (ConfigError when invalid)."""
    # the text itself goes to coerce, which parses it per field kind: its errors then quote what was typed ('-' was
    # parsed first and said "got [None]")
    return translate(key, text if text.strip() else None)[1]
