"""The guide's "current configuration analysis", and the config rendered as Python and as a command line."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

import yaml

from console.common.numbers import fmt  # noqa: F401  (the one number formatter; re-exported)
from console.config.fields import all_fields, lora_extras
from console.config.run_config import RunConfig
from console.data.sources import describe as describe_datasets


@dataclass(frozen=True)
class Check:
    name: str
    value: object
    lo: float | None
    hi: float | None
    within: bool | None  # None: no recommended range for it
    text: str  # "learning_rate=2e-4  within the LoRA range 1e-4 to 5e-4"


def check(config: RunConfig, name: str, value=None) -> Check:
    """One argument against the method's recommended range."""
    value = config.values.get(name) if value is None else value
    rng = config.ranges.get(name)
    method_name = config.preset.name if config.method != "adapter" else "adapter"
    if rng is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return Check(name, value, None, None, None, f"{name}={fmt(value)}")
    lo, hi = rng
    if name == "warmup_steps" and value >= 1:  # a step count (transformers 5), against a range given as shares
        steps = config.values.get("max_steps") or -1
        if steps <= 0:
            return Check(name, value, lo, hi, None, f"{name}={fmt(value)} steps (the recommended {fmt(lo)} to "
                                                    f"{fmt(hi)} is a share of the run: {fmt(lo)} means 5 %)")
        share = value / steps
        within = lo <= share <= hi
        verdict = "within" if within else "outside"
        text = (f"{name}={fmt(value)} steps ({100 * share:.0f} % of max_steps {steps})  {verdict} the "
                f"{method_name} range {fmt(lo)} to {fmt(hi)}")
        return Check(name, value, lo, hi, within, text)
    within = lo <= value <= hi
    span = fmt(lo) if lo == hi else f"{fmt(lo)} to {fmt(hi)}"
    verdict = f"within the {method_name} range {span}" if within else f"outside the {method_name} range {span}"
    return Check(name, value, lo, hi, within, f"{name}={fmt(value)}  {verdict}")


KEY_ARGUMENTS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                 "weight_decay", "max_grad_norm", "warmup_steps", "lora_dropout", "lora_r", "beta")

OBJECTIVE_WORDS = {"sft": "supervised fine-tuning", "dpo": "DPO on preference pairs",
                   "kto": "KTO on answers labelled good or bad"}


def objective_line(config: RunConfig) -> str:
    """What the run optimises, and why: set, or (auto) what the dataset's columns say."""
    chosen = config.values.get("objective") or "auto"
    why = "set" if chosen != "auto" else "auto: from the dataset's columns"
    return f"objective {config.objective}: {OBJECTIVE_WORDS.get(config.objective, config.objective)} ({why})"


def analyse(config: RunConfig) -> list[str]:
    """Lines of the analysis: the objective, each key argument with its verdict, the effective batch, and what
    overrides what."""
    lines = ["   " + objective_line(config)]  # the three columns of a verdict mark, as every line has
    for name in KEY_ARGUMENTS:
        if name not in config.values:
            continue
        if name in ("lora_dropout", "lora_r") and config.method not in ("lora", "qlora"):
            continue
        c = check(config, name)
        mark = "ok " if c.within else "!! " if c.within is False else "   "
        lines.append(mark + c.text)
    v = config.values
    batch, accum, procs = (int(v.get("per_device_train_batch_size") or 1),
                           int(v.get("gradient_accumulation_steps") or 1), config.processes)
    machines = f" x {config.nodes} machines" if config.nodes > 1 else ""
    lines.append(f"   effective batch = {batch} per device x {accum} accumulation x {procs} process"
                 f"{'es' if procs != 1 else ''}{machines} = {batch * accum * procs * config.nodes}")
    if config.method in ("lora", "qlora"):
        lines.append("   " + adapter_line(config))
    if isinstance(v.get("dataset"), list):  # several datasets: which, each with its split and sample
        lines.append(f"   data: {len(v['dataset'])} datasets mixed and shuffled: {describe_datasets(v['dataset'])}")
    if (v.get("max_steps") or -1) > 0:
        lines.append(f"   max_steps={v['max_steps']} overrides num_train_epochs={fmt(v.get('num_train_epochs'))}")
        every = v.get("eval_steps")
        if v.get("eval_strategy", "no") == "steps" and isinstance(every, (int, float)) and every >= 1 \
                and every > v["max_steps"]:
            # transformers evaluates at the last step of a step-based schedule that does not land on one
            start = " (and before its first step: eval_on_start)" if v.get("eval_on_start") else ""
            lines.append(f"!! eval_steps={fmt(every)} > max_steps={v['max_steps']}: the run evaluates only at its "
                         f"end{start}, so overfitting cannot be seen as it trains; eval_steps <= "
                         f"{max(1, v['max_steps'] // 4)} evaluates it 4 times")
    warm = v.get("warmup_steps") or 0
    if 0 < warm < 1:
        lines.append(f"   warmup: the first {warm:.0%} of the steps")
    length = int(v.get("max_length") or 0)
    preference = config.objective in ("dpo", "kto")
    if length and preference:  # two sequences per row (chosen and rejected; KTO's answer and its KL mate)
        lines.append(f"   tokens/step: up to {2 * batch * accum * procs * length:,} ({batch * accum * procs} rows x "
                     f"2 sequences x max_length {length}; a reference pass over each without gradients)")
    elif length:
        if v.get("packing"):
            lines.append(f"   tokens/step: {batch * accum * procs * length:,} (packed: {batch * accum * procs} x "
                         f"max_length {length})")
        else:
            lines.append(f"   tokens/step: up to {batch * accum * procs * length:,} (padded batches; packing=true "
                         f"fills them)")
    lines.append("   loss on: " + ("the answers, as a preference against the reference model" if preference else
                                   "every token (train_on_prompt)" if v.get("train_on_prompt") else
                                   "every token of plain text" if v.get("dataset_format") == "text" else
                                   "the answers only, the prompts masked (every token if the data is plain text)"))
    if config.resolved:
        lines.append(f"   device: {config.resolved.get('device')}, precision: {config.resolved.get('precision')}")
    return lines


def adapter_line(config: RunConfig) -> str:
    """What the LoRA adapter will be, the options the user set included (DoRA, rsLoRA, LoRA+, modules_to_save...):
    a dry run confirms each, where it said nothing of them before."""
    v = config.values
    targets = v.get("lora_target_regex") or v.get("lora_target_modules") or "all-linear"
    targets = ", ".join(targets) if isinstance(targets, list) else str(targets)
    base = "4-bit" if v.get("load_in_4bit") or config.method == "qlora" else "8-bit" if v.get("load_in_8bit") else ""
    parts = [f"adapter: LoRA r={fmt(v.get('lora_r'))}, alpha {fmt(v.get('lora_alpha'))}, dropout "
             f"{fmt(v.get('lora_dropout'))}, on {targets}"
             + (f", on {'an' if base.startswith('8') else 'a'} {base} base" if base else "")]
    extras = lora_extras(v)
    if extras.pop("use_dora", False):
        parts.append("DoRA (magnitude and direction)")
    if extras.pop("use_rslora", False):
        parts.append("rsLoRA (scale alpha/sqrt(r))")
    if v.get("loraplus_lr_ratio"):
        parts.append(f"LoRA+ (B matrices at {fmt(v['loraplus_lr_ratio'])} x learning_rate)")
    parts += [f"{key}={fmt(value) if not isinstance(value, list) else ','.join(map(str, value))}"
              for key, value in extras.items()]
    return "; ".join(parts)


def out_of_range(config: RunConfig) -> list[str]:
    """Warnings for values outside the recommended range (allowed, but said)."""
    out = []
    for name in KEY_ARGUMENTS:
        if name in config.values and name in config.ranges:
            c = check(config, name)
            if c.within is False:
                out.append(f"{c.text} (allowed, but check it is what you want)")
    return out


def _py(value) -> str:
    return repr(value)


def training_arguments_snippet(config: RunConfig, output_dir: str = "runs/<id>/checkpoints") -> str:
    """The equivalent Python: TRL's SFTConfig(...) (TrainingArguments and TRL's own), plus the PEFT and
    quantisation configs of the method."""
    ta = config.training_arguments()
    specs = all_fields()
    lines = ["from trl import SFTConfig", ""]
    lines.append("args = SFTConfig(")
    lines.append(f"    output_dir={output_dir!r},")
    for key, value in ta.items():
        spec = specs.get(key)  # None: set by the console itself (completion_only_loss from train_on_prompt)
        if spec is None or key in config.preset.defaults or value != spec.default:
            lines.append(f"    {key}={_py(value)},")
    lines.append(")")
    v = config.values
    if config.method in ("lora", "qlora"):
        targets = v.get("lora_target_regex") or v.get("lora_target_modules")
        lines += ["", "from peft import LoraConfig", "peft_config = LoraConfig(",
                  f"    r={v.get('lora_r')!r},", f"    lora_alpha={v.get('lora_alpha')!r},",
                  f"    lora_dropout={v.get('lora_dropout')!r},", f"    target_modules={targets!r},"]
        lines += [f"    {k}={_py(value)}," for k, value in lora_extras(v).items()]
        lines += ['    task_type="CAUSAL_LM",', ")"]
    elif config.method == "adapter":
        kind = v.get("adapter_type", "loha")
        cls = {"loha": "LoHaConfig", "lokr": "LoKrConfig", "ia3": "IA3Config", "adalora": "AdaLoraConfig"}[kind]
        lines += ["", f"from peft import {cls}", f"peft_config = {cls}("]
        if kind in ("loha", "lokr"):
            lines += [f"    r={v.get('lora_r')!r},", f"    alpha={v.get('lora_alpha')!r},",
                      f"    module_dropout={v.get('lora_dropout')!r},"]
        elif kind == "adalora":
            lines += [f"    init_r={v.get('lora_r')!r},", f"    lora_alpha={v.get('lora_alpha')!r},"]
        lines += [f"    target_modules={v.get('lora_target_modules')!r},", '    task_type="CAUSAL_LM",', ")"]
    if v.get("load_in_4bit"):
        lines += ["", "import torch", "from transformers import BitsAndBytesConfig",
                  "bnb_config = BitsAndBytesConfig(", "    load_in_4bit=True,",
                  f"    bnb_4bit_quant_type={v.get('bnb_4bit_quant_type')!r},",
                  f"    bnb_4bit_use_double_quant={v.get('bnb_4bit_use_double_quant')!r},",
                  f"    bnb_4bit_compute_dtype=torch.{v.get('bnb_4bit_compute_dtype', 'auto')},", ")"]
    return "\n".join(lines)


def cli_command(config: RunConfig) -> str:
    """The `training-console train ...` line that rebuilds this config from its preset."""
    parts = ["training-console", "train", "--method", config.method]
    changed = config.changed_from_preset()
    for key in ("model", "dataset"):
        value = changed.get(key)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            parts += [part for item in changed.pop(key) for part in (f"--{key}", item)]  # several datasets
        elif isinstance(value, list):  # datasets with their own settings: as YAML, which --set reads back
            parts += ["--set", f"{key}={yaml.safe_dump(changed.pop(key), default_flow_style=True).strip()}"]
        elif value:
            parts += [f"--{key}", str(changed.pop(key))]
        else:
            changed.pop(key, None)
    for key in ("use_cpu", "dataloader_pin_memory", "processes"):  # machine resolution, not user choices
        changed.pop(key, None)
    if config.resolved:  # precision turned off for this machine is not a user choice either
        for key in ("fp16", "bf16", "bnb_4bit_compute_dtype"):
            changed.pop(key, None)
    for key, value in changed.items():
        text = fmt(value) if not isinstance(value, (list, dict)) else ",".join(map(str, value)) if isinstance(
            value, list) else str(value)
        if value is None:
            text = "null"
        parts += ["--set", f"{key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)
