"""Writes console/training_args.json from the installed TRL configs (transformers' TrainingArguments + TRL's).

The trainer runs TRL's SFTTrainer, DPOTrainer or KTOTrainer, so the arguments a run takes are their configs'.
The UI process must not import
transformers or trl (seconds of import time), yet it validates every argument name and type as the user types. So
the schema is generated once, shipped as data, and a test keeps it in sync:
    python -m console.config.schema_gen
"""
from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from pathlib import Path
from textwrap import shorten

OUT = Path(__file__).with_name("training_args.json")
HELP_CHARS = 2000  # a bound against a runaway docstring, not a cut: the longest help is under 1000
# Set by the console itself, or meaningless for it: not offered to the user.
INTERNAL = {"output_dir", "local_rank", "do_train", "do_eval", "do_predict", "resume_from_checkpoint",
            "hub_token", "parallelism_config",
            # TRL's, handled by the console: it loads the model itself, turns every format into TRL's records
            # (so the text field is always "text"), and says "loss on the answers" as train_on_prompt.
            "model_init_kwargs", "dataset_text_field", "dataset_kwargs", "completion_only_loss",
            "assistant_only_loss", "chat_template_path", "trust_remote_code",
            # deprecated aliases of activation_checkpointing*, translated (console.config.fields.LEGACY)
            "gradient_checkpointing", "gradient_checkpointing_kwargs"}


def _kind(tp) -> tuple[str, bool, list[str] | None]:
    """(kind, nullable, choices) for a dataclass field type."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    nullable = type(None) in args
    args = [a for a in args if a is not type(None)]
    choices = None
    kinds = []
    for a in args:
        if isinstance(a, type) and issubclass(a, enum.Enum):
            choices = [m.value for m in a]
            kinds.append("str")
        elif a is bool:
            kinds.append("bool")
        elif a is int:
            kinds.append("int")
        elif a is float:
            kinds.append("float")
        elif a is str:
            kinds.append("str")
        elif typing.get_origin(a) is list or a is list:
            kinds.append("list")
        elif typing.get_origin(a) is dict or a is dict:
            kinds.append("dict")
        elif typing.get_origin(a) is typing.Literal:
            kinds.append("str")
        else:
            kinds.append("any")
    for preferred in ("bool", "float", "int", "list", "dict", "str"):
        if preferred in kinds:
            kind = preferred
            break
    else:
        kind = "any"
    if "str" in kinds and kind in ("list", "dict"):
        kind = kind  # a list/dict also given as a string (comma list, JSON): validated as that kind
    return kind, nullable, choices


# The trainers a run may use (console/trainer/kinds/), by objective: each argument is recorded with the objectives
# whose config has it, so that a run passes its trainer only what that trainer takes (packing is SFT's, beta is
# DPO's and KTO's).
CONFIGS = {"sft": "SFTConfig", "dpo": "DPOConfig", "kto": "KTOConfig"}


def _choices_in_help(text: str) -> list[str] | None:
    """The words a help text lists after 'Possible values are' (DPOConfig's loss_type lists them only there)."""
    import re

    found = re.search(r"Possible values are:?(.*?)(?:\.\s|$)", text or "", flags=re.S)
    words = re.findall(r"`'([a-z0-9_]+)'`", found.group(1)) if found else []
    return words or None


def generate() -> dict:
    import trl

    schema: dict[str, dict] = {}
    choices_by: dict[str, dict[str, list]] = {}
    for objective, class_name in CONFIGS.items():
        for f in dataclasses.fields(getattr(trl, class_name)):
            if f.name.startswith("_") or f.name in INTERNAL or not f.init:
                continue
            kind, nullable, choices = _kind(f.type)
            # TRL lists allowed words in the field's metadata (packing_strategy, truncation_mode, loss_type...)
            meta_choices = (f.metadata or {}).get("choices")
            if not choices and meta_choices and all(isinstance(c, str) for c in meta_choices):
                choices = list(meta_choices)
            help_text = (f.metadata or {}).get("help")
            if not choices and f.name == "loss_type":
                choices = _choices_in_help(help_text)
            if choices:
                choices_by.setdefault(f.name, {})[objective] = list(choices)
            if f.name in schema:  # SFTConfig's entry stands; this objective takes it too
                schema[f.name]["objectives"].append(objective)
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            if isinstance(default, enum.Enum):
                default = default.value
            entry = {"kind": "str" if kind == "list" and choices else kind, "nullable": nullable, "default": default,
                     "objectives": [objective]}
            if help_text:
                # whole: `show --fields` prints it so, each screen cuts it to its box (at 240 characters two dozen
                # helps lost their point); '%%' is argparse's escape in transformers' metadata, read as '%'
                entry["help"] = shorten(str(help_text).replace("%%", "%"), HELP_CHARS, placeholder=" ...")
            schema[f.name] = entry
    for name, by_objective in choices_by.items():
        if len({tuple(c) for c in by_objective.values()}) == 1 and set(by_objective) == set(
                schema[name]["objectives"]):
            schema[name]["choices"] = next(iter(by_objective.values()))
        else:  # loss_type: each trainer its own words, checked against the run's objective
            schema[name]["choices_by_objective"] = by_objective
    return schema


def main() -> None:
    import transformers
    import trl

    data = {"transformers_version": transformers.__version__, "trl_version": trl.__version__, "fields": generate()}
    OUT.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data['fields'])} fields, transformers {transformers.__version__}, trl {trl.__version__})")


if __name__ == "__main__":
    main()
