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
from console.data.formats.prompt_completion import PROMPT_COMPLETION
from console.data.formats.sharegpt import SHAREGPT
from console.data.formats.text import TEXT

__all__ = ["FALLBACK", "FORMATS", "RECORD_KEYS", "REGISTRY", "SHAREGPT_ROLES", "Conversation", "Format", "PlainText",
           "SingleTurn", "Turns", "choices_help", "detect_format", "get_format", "keyed_as", "known_as", "loss_on",
           "mapped", "parse_columns", "plain_text", "record_kind", "to_records"]

# The registry, in detection order: a dataset is in the first format whose columns it has, so a format whose columns
# say more comes before one whose columns it may hold as well (a chat with a 'text' column is a chat).
# An entry with auto_detect off (alpaca_prompt: the instruction columns in another prompt) is chosen by name only.
REGISTRY: tuple[Format, ...] = (CHAT, SHAREGPT, INSTRUCTION, ALPACA_PROMPT, PROMPT_COMPLETION, TEXT)
FORMATS = tuple(f.name for f in REGISTRY)
_BY_NAME = {f.name: f for f in REGISTRY}

# How a chat prompt is laid out when nothing tells the run's format: a plain question and its answer.
FALLBACK = PROMPT_COMPLETION.name

RECORD_KEYS = {"text": ["text"], "messages": ["messages"], "prompt_completion": ["prompt", "completion"]}


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
    expected = [f"{f.describe_columns()} ({f.name})" for f in REGISTRY if f.auto_detect]
    raise DataError(f"no usable column: columns found: {', '.join(columns) or 'none'}. Expected "
                    f"{', '.join(expected[:-1])} or {expected[-1]}; or map yours, e.g. "
                    f"--set columns=prompt:question,completion:answer")


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
