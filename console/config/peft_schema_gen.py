"""Writes console/peft_args.json from the installed peft's LoraConfig (the LoRA settings users bring from
LLaMA-Factory, axolotl or Unsloth: use_dora, use_rslora, modules_to_save, init_lora_weights, ...).

Like console/config/schema_gen.py for SFTConfig: the UI process validates these settings as the user types without
importing peft (six seconds of import), so the schema is generated once, shipped as data, and a test keeps it in
sync with the installed peft:
    python -m console.config.peft_schema_gen
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path
from textwrap import shorten

from console.config.schema_gen import HELP_CHARS, _kind

OUT = Path(__file__).with_name("peft_args.json")

# LoraConfig fields not offered, and why.
SKIPPED = {
    # set by the console or by peft itself when it builds or saves the adapter
    "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision",
    "inference_mode",
    # the console's own names for them (console/config/fields.py _OWN keeps their bounds and presets)
    "r", "target_modules", "lora_alpha", "lora_dropout",
    # Megatron-LM and GPTQ-only settings: the console loads plain transformers models
    "megatron_config", "megatron_core", "use_qalora", "qalora_group_size",
    # configuration objects (LoftQ, EVA, CorDA, LoRA-GA, VeLoRA, MonteCLoRA, BD-LoRA, Arrow, KaSA) or a runtime
    # setting: each needs its own config class or an initialisation pass over data that the console does not run
    "loftq_config", "eva_config", "corda_config", "lora_ga_config", "velora_config", "monteclora_config",
    "use_bdlora", "arrow_config", "kasa_config", "runtime_config",
    # aLoRA needs its invocation tokens in every example and at generation; layer_replication changes the base
    # model's architecture, which the console's chat and merge paths load without it
    "alora_invocation_tokens", "layer_replication",
}
# init_lora_weights words that need one of the skipped config objects or a pass over the data first.
INIT_NEEDS_MORE = {"eva", "corda", "loftq", "lora_ga"}


def _args(tp) -> list:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def _literal_words(tp) -> list[str]:
    words = []
    for a in _args(tp):
        if typing.get_origin(a) is typing.Literal:
            words += [str(w) for w in typing.get_args(a)]
    # 'pissa_niter_[number of iters]' is a pattern: written as pissa_niter_<n> (fields.py matches <n> to digits)
    return [re.sub(r"\[[^\]]*\]", "<n>", w) for w in words if w not in INIT_NEEDS_MORE]


def _list_items(tp) -> str | None:
    """'int' or 'str': what a list field holds (a typed '1,2' is split into these)."""
    for a in _args(tp):
        if typing.get_origin(a) is list:
            inner = typing.get_args(a)
            if inner and inner[0] is int:
                return "int"
            return "str"
    return None


def _entry(f: dataclasses.Field, tp) -> dict:
    args = _args(tp)
    literal = _literal_words(tp)
    kind, nullable, choices = _kind(tp)
    has_list = any(typing.get_origin(a) is list for a in args)
    has_dict = any(typing.get_origin(a) is dict or a is dict for a in args)
    if literal and any(a is bool for a in args):
        kind, choices = "any", literal  # init_lora_weights: true, false or a word
    elif literal:
        kind, choices = "str", literal
    elif has_list and has_dict:
        kind = "any"  # trainable_token_indices: a list of ids, or {module: ids}
    elif has_list:
        kind = "list"  # layers_to_transform (an int or ints), exclude_modules (a regex or names): a list holds both
    entry: dict = {"kind": kind, "nullable": nullable}
    if f.default is not dataclasses.MISSING:
        entry["default"] = f.default
    elif f.default_factory is not dataclasses.MISSING:
        entry["default"] = f.default_factory()
    else:
        entry["default"] = None
    if choices:
        entry["choices"] = list(choices)
    if kind == "list":
        entry["items"] = _list_items(tp)
        # a single word given alone: peft takes it as is (a regex for target-like fields), or wants a list of it
        entry["single"] = any(a is str for a in args) or any(a is int for a in args)
    help_text = (f.metadata or {}).get("help")
    if help_text:
        text = re.sub(r"<a href='[^']*'>([^<]*)</a>", r"\1", str(help_text))
        text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
        entry["help"] = shorten(text, HELP_CHARS, placeholder=" ...")  # whole (see schema_gen.HELP_CHARS)
    return entry


def generate() -> dict:
    from peft import LoraConfig

    hints = typing.get_type_hints(LoraConfig)  # peft writes its annotations as strings (PEP 563)
    return {f.name: _entry(f, hints[f.name]) for f in dataclasses.fields(LoraConfig)
            if f.init and not f.name.startswith("_") and f.name not in SKIPPED}


def main() -> None:
    import peft

    data = {"peft_version": peft.__version__, "fields": generate()}
    OUT.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data['fields'])} fields, peft {peft.__version__})")


if __name__ == "__main__":
    main()
