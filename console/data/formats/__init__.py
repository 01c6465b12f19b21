"""Dataset formats: the registry, which one a dataset is in, and each row turned into one of TRL's standard records.

Pure Python (no datasets, no transformers): the UI's pre-launch check detects the format from the columns, and the
trainer maps every row through `to_records` before TRL's SFTTrainer tokenises it. TRL already knows text,
prompt/completion and conversational data and computes the loss masks from them; what it does not know is the
alpaca (instruction) layout, ShareGPT's from/value turns under other role names, other column names, and which
tokens of a multi-turn chat are the answers. This package is that translation, nothing more.

One module per format, each holding its `Format` entry (console/data/formats/base.py says what an entry decides),
and REGISTRY below listing them. Everything else reads the registry: the dataset_format setting's choices and help
(console/config/fields.py), the pre-launch check and the trainer's reading (console/data/preflight.py, prepare.py),
the chat's prompt layout (console/tools/chat_plan.py), other tools' dataset types (console/config/foreign/).
A new format is a new module here and its line in REGISTRY.

The records, as TRL reads them:
- {"text": str}                                         language modelling: loss on every token
- {"prompt": str, "completion": str}                     loss on the completion (TRL adds the end token)
- {"prompt": [messages], "completion": [messages]}       the same through the model's chat template
- {"messages": [messages]}                               a whole conversation, loss on every token
- {"prompt", "chosen", "rejected"}                       a preference pair (DPO: preference_base.py)
- {"prompt", "completion", "label": bool}                an unpaired preference (KTO)
"""
from __future__ import annotations

from console.common.errors import DataError
from console.data.formats.alpaca_prompt import ALPACA_PROMPT
from console.data.formats.base import (
    SHAREGPT_ROLES,
    Conversation,
    Format,
    PlainText,
    SingleTurn,
    Turns,
)
from console.data.formats.chat import CHAT
from console.data.formats.instruction import INSTRUCTION
from console.data.formats.preference import PREFERENCE
from console.data.formats.preference_base import PREFERENCE_RECORDS, PreferenceFormat, first_problem
from console.data.formats.prompt_completion import PROMPT_COMPLETION
from console.data.formats.ranking import RANKING
from console.data.formats.sharegpt import SHAREGPT
from console.data.formats.sharegpt_preference import SHAREGPT_PREFERENCE
from console.data.formats.text import TEXT
from console.data.formats.unpaired import UNPAIRED

__all__ = ["FALLBACK", "FORMATS", "PREFERENCE_RECORDS", "RECORD_KEYS", "PreferenceFormat", "check_objective",
           "first_problem",
           "objective_of", "REGISTRY", "SHAREGPT_ROLES", "Conversation", "Format", "PlainText",
           "SingleTurn", "Turns", "choices_help", "detect_format", "get_format", "keyed_as", "known_as", "loss_on",
           "mapped", "parse_columns", "plain_text", "record_kind", "to_records"]

# The registry, in detection order: a dataset is in the first format whose columns it has, so a format whose columns
# say more comes before one whose columns it may hold as well (a chat with a 'text' column is a chat; a ShareGPT
# conversation with chosen and rejected answers is a preference pair; a prompt/completion with a label is KTO's).
# An entry with auto_detect off (alpaca_prompt: the instruction columns in another prompt) is chosen by name only.
REGISTRY: tuple[Format, ...] = (SHAREGPT_PREFERENCE, RANKING, PREFERENCE, UNPAIRED, CHAT, SHAREGPT, INSTRUCTION,
                                ALPACA_PROMPT, PROMPT_COMPLETION, TEXT)
FORMATS = tuple(f.name for f in REGISTRY)
_BY_NAME = {f.name: f for f in REGISTRY}

# How a chat prompt is laid out when nothing tells the run's format: a plain question and its answer.
FALLBACK = PROMPT_COMPLETION.name

RECORD_KEYS = {"text": ["text"], "messages": ["messages"], "prompt_completion": ["prompt", "completion"],
               "preference": ["prompt", "chosen", "rejected"], "unpaired": ["prompt", "completion", "label"]}


def objective_of(fmt: str) -> str:
    """The objective a format's rows train when the objective setting is auto: sft, or its preference objective."""
    entry = get_format(fmt)
    return entry.objective if isinstance(entry, PreferenceFormat) else "sft"


def check_objective(objective: str, fmt: str) -> None:
    """DataError in one line when the dataset's format cannot train the run's objective: DPO needs pairs, KTO
    labelled answers or pairs (TRL splits a pair into a good and a bad answer), SFT answers to imitate."""
    entry = get_format(fmt)
    trains = entry.objective if isinstance(entry, PreferenceFormat) else "sft"
    if objective == trains or (objective == "kto" and trains == "dpo"):
        return
    if objective == "sft":
        raise DataError(f"the dataset holds preference data ({fmt} format), which objective sft cannot imitate: "
                        f"set objective={trains} (or auto), or map the answers to imitate, e.g. "
                        f"--set columns=completion:chosen")
    wanted = "prompt, chosen and rejected columns" if objective == "dpo" else (
        "prompt, completion and a true/false label (or prompt, chosen and rejected)")
    raise DataError(f"objective {objective} needs {wanted}; this dataset is in the {fmt} format: set objective="
                    f"{trains} (or auto), or map your columns (--set columns=chosen:YOUR_COLUMN,...)")


def get_format(name: str) -> Format:
    """The registry's entry of that name; DataError listing the names for another."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset format {name!r}: choose one of {', '.join(FORMATS)}") from None


def plain_text() -> PlainText:
    """The plain-text format (language modelling on every token), which the text_column setting and other tools'
    pretraining stages point at."""
    return next(f for f in REGISTRY if isinstance(f, PlainText))


def known_as(tool: str) -> dict[str, Format]:
    """Another tool's names for our formats ({their name: our format}), from the entries' known_as."""
    return {f.known_as[tool]: f for f in REGISTRY if tool in f.known_as}


def keyed_as(speaker: str, content: str) -> Conversation | None:
    """The conversation format whose turns are keyed so (role/content: chat; from/value: ShareGPT), or None."""
    return next((f for f in REGISTRY if isinstance(f, Conversation)
                 and (f.turns.speaker, f.turns.content) == (speaker, content)), None)


def parse_columns(value) -> dict[str, str]:
    """The user's column mapping {format's name: dataset's column} from 'prompt:question,completion:answer' or a
    mapping. Raises DataError with the expected form."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = []
        for item in value.split(","):
            if not item.strip():
                continue
            if ":" not in item:
                raise DataError(f"columns: '{item.strip()}' is not name:column; write e.g. "
                                f"columns=prompt:question,completion:answer")
            name, _, column = item.partition(":")
            pairs.append((name.strip(), column.strip()))
    else:
        raise DataError("columns must be name:column pairs, e.g. columns=prompt:question,completion:answer")
    known = {c for f in REGISTRY for c in f.columns()}
    for name, column in pairs:
        if name not in known:
            raise DataError(f"columns: '{name}' is not a column name the formats use ({', '.join(sorted(known))})")
        if not column:
            raise DataError(f"columns: '{name}:' names no dataset column")
    return dict(pairs)


def mapped(columns: list[str], mapping: dict[str, str]) -> list[str]:
    """The dataset's column names as the formats see them once the mapping renames them."""
    back = {column: name for name, column in mapping.items()}
    return [back.get(c, c) for c in columns]


def detect_format(columns: list[str], wanted: str = "auto", text_column: str | None = None,
                  mapping: dict[str, str] | None = None) -> str:
    """The format from the columns (after the mapping), or the one asked for; DataError lists what was found."""
    for name, column in (mapping or {}).items():
        if column not in columns:
            raise DataError(f"columns maps {name} to '{column}', but the dataset has no column '{column}'; "
                            f"columns found: {', '.join(columns) or 'none'}")
    cols = set(mapped(columns, mapping or {}))
    if text_column and text_column in columns:
        cols.add(plain_text().column)
    if wanted not in ("auto", None):
        if wanted not in _BY_NAME:
            raise DataError(f"dataset_format {wanted!r} is not one of auto, {', '.join(FORMATS)}")
        missing = _BY_NAME[wanted].missing(cols)
        if missing:
            try:
                found = detect_format(columns, "auto", text_column, mapping)
            except DataError:
                found = None
            hint = (f"these columns are the {found} format: set dataset_format={found} or auto" if found else
                    f"map yours (e.g. columns={missing[0]}:YOUR_COLUMN) or leave dataset_format at auto")
            raise DataError(f"dataset_format is {wanted!r} but the dataset has no column {', '.join(missing)}; "
                            f"columns found: {', '.join(columns) or 'none'}: {hint}")
        return wanted
    for fmt in REGISTRY:
        if fmt.auto_detect and fmt.detects(cols):
            return fmt.name
    near = _nearest(cols)
    if near is not None:  # most of one format's columns: say which one is missing (a pair without 'rejected')
        missing = near.missing(cols)
        raise DataError(f"the dataset has {', '.join(repr(c) for c in columns if c in near.columns())} but no "
                        f"{' or '.join(repr(m) for m in missing)} column: the {near.name} format needs "
                        f"{near.describe_columns()}; add {'it' if len(missing) == 1 else 'them'} or map yours "
                        f"(e.g. --set columns={missing[0]}:YOUR_COLUMN)")
    expected = [f"{f.describe_columns()} ({f.name})" for f in REGISTRY if f.auto_detect]
    raise DataError(f"no usable column: columns found: {', '.join(columns) or 'none'}. Expected "
                    f"{', '.join(expected[:-1])} or {expected[-1]}; or map yours, e.g. "
                    f"--set columns=prompt:question,completion:answer")


def _nearest(columns: set[str]) -> Format | None:
    """The format missing one needed column that holds the most of the columns it reads among `columns`, when it
    holds at least two (one shared name such as 'prompt' says nothing); None otherwise."""
    best, best_found = None, 1
    for fmt in (f for f in REGISTRY if f.auto_detect):
        found = sum(1 for c in fmt.columns() if c in columns)
        if found > best_found and len(fmt.missing(columns)) == 1:
            best, best_found = fmt, found
    return best


def to_records(row: dict, fmt: str, *, chat_template: bool, train_on_prompt: bool,
               text_column: str | None = None) -> list[dict]:
    """One dataset row (columns already renamed) as TRL records; a multi-turn chat gives one record per answer."""
    return get_format(fmt).render(row, chat_template=chat_template, train_on_prompt=train_on_prompt,
                                  text_column=text_column)


def record_kind(fmt: str, chat_template: bool, train_on_prompt: bool) -> str:
    """Which record shape `to_records` gives for this format: 'text', 'prompt_completion' or 'messages'.
    Every record of a dataset has the same shape, which TRL requires."""
    return get_format(fmt).record_kind(chat_template, train_on_prompt)


def loss_on(fmt: str, train_on_prompt: bool) -> str:
    """What carries the loss, in words, for the pre-launch analysis and the trainer's log."""
    return get_format(fmt).loss_on(train_on_prompt)


def choices_help() -> str:
    """The dataset_format setting's help: each format's one line."""
    return "auto-detected from the columns unless set: " + ", ".join(f"{f.name} ({f.help})" for f in REGISTRY)
