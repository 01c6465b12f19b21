"""Dataset formats: which one a dataset is in, and each row turned into one of TRL's standard records.

Pure Python (no datasets, no transformers): the UI's pre-launch check detects the format from the columns, and the
trainer maps every row through `to_records` before TRL's SFTTrainer tokenises it. TRL already knows text,
prompt/completion and conversational data and computes the loss masks from them; what it does not know is the
alpaca (instruction) layout, ShareGPT's from/value turns under other role names, other column names, and which
tokens of a multi-turn chat are the answers. This module is that translation, nothing more.

The records, as TRL reads them:
- {"text": str}                                         language modelling: loss on every token
- {"prompt": str, "completion": str}                     loss on the completion (TRL adds the end token)
- {"prompt": [messages], "completion": [messages]}       the same through the model's chat template
- {"messages": [messages]}                               a whole conversation, loss on every token
"""
from __future__ import annotations

from console.common.errors import DataError

FORMATS = ("text", "prompt_completion", "instruction", "chat", "sharegpt")

# ShareGPT speaker names -> chat roles (the names LLaMA-Factory and FastChat files use).
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "system": "system", "tool": "tool",
                  "observation": "tool", "function_call": "assistant", "function": "tool"}

# The columns each format needs (after the user's column mapping), for the messages that say what is missing.
NEEDS = {"text": ["text"], "prompt_completion": ["prompt", "completion"], "instruction": ["instruction", "output"],
         "chat": ["messages"], "sharegpt": ["conversations"]}

ALPACA_PROMPT = "### Instruction:\n{instruction}\n\n"
ALPACA_INPUT = "### Input:\n{input}\n\n"
ALPACA_RESPONSE = "### Response:\n"


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
    known = {c for cols in NEEDS.values() for c in cols} | {"input", "system"}
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
    if text_column:
        cols |= {"text"} if text_column in columns else set()
    if wanted not in ("auto", None):
        if wanted not in FORMATS:
            raise DataError(f"dataset_format {wanted!r} is not one of auto, {', '.join(FORMATS)}")
        missing = [c for c in NEEDS[wanted] if c not in cols and not (c == "output" and "response" in cols)]
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
    if "messages" in cols:
        return "chat"
    if "conversations" in cols:
        return "sharegpt"
    if "instruction" in cols and ("output" in cols or "response" in cols):
        return "instruction"
    if "prompt" in cols and "completion" in cols:
        return "prompt_completion"
    if "text" in cols:
        return "text"
    raise DataError(f"no usable column: columns found: {', '.join(columns) or 'none'}. Expected 'text', 'prompt' + "
                    f"'completion', 'instruction' + 'output' (alpaca), 'messages' (chat) or 'conversations' "
                    f"(ShareGPT); or map yours, e.g. --set columns=prompt:question,completion:answer")


def _text(value) -> str:
    return "" if value is None else str(value)


def _content(value) -> str:
    """A message's content: a string, or the text of OpenAI-style parts ([{"type": "text", "text": ...}]).
    Images and other parts are refused: this console trains text models."""
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, dict) and part.get("type", "text") == "text":
                texts.append(_text(part.get("text")))
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise DataError(f"a message holds a {kind!r} part: only text can be trained here; remove those "
                                f"parts or those rows")
        return "".join(texts)
    return _text(value)


def _messages(turns, sharegpt: bool) -> list[dict]:
    """Chat turns as {role, content}; ShareGPT's from/value renamed. Malformed turns are skipped."""
    out = []
    if not isinstance(turns, (list, tuple)):  # not a conversation: no example, counted as skipped
        return out
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        if sharegpt or ("from" in turn and "role" not in turn):
            speaker = _text(turn.get("from")).strip().lower()
            role = SHAREGPT_ROLES.get(speaker, speaker or "user")
            content = turn.get("value")
        else:
            role, content = _text(turn.get("role") or "user"), turn.get("content")
        out.append({"role": role, "content": _content(content)})
    return out


def _plain(messages: list[dict]) -> str:
    """A conversation as 'role: content' lines, for a tokenizer without a chat template."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages)


def to_records(row: dict, fmt: str, *, chat_template: bool, train_on_prompt: bool,
               text_column: str | None = None) -> list[dict]:
    """One dataset row (columns already renamed) as TRL records; a multi-turn chat gives one record per answer.

    Why one record per assistant turn: TRL's answer-only loss for a whole conversation needs a chat template with
    generation markers, which most models' templates lack; prompt/completion records work with any template, and a
    conversation with N answers becomes N records whose prompts hold the history, so every answer is trained once.
    """
    if fmt == "text":
        return [{"text": _text(row.get(text_column or "text"))}]
    if fmt in ("prompt_completion", "instruction"):
        if fmt == "instruction":
            instruction, extra = _text(row.get("instruction")), _text(row.get("input")).strip()
            answer = _text(row.get("output") if row.get("output") is not None else row.get("response"))
            user = instruction + (f"\n\n{extra}" if extra else "")
            plain_prompt = (ALPACA_PROMPT.format(instruction=instruction)
                            + (ALPACA_INPUT.format(input=extra) if extra else "") + ALPACA_RESPONSE)
        else:
            user = plain_prompt = _text(row.get("prompt"))
            answer = _text(row.get("completion"))
        if not chat_template:
            system = _text(row.get("system")).strip()
            return [{"prompt": (f"{system}\n\n" if system else "") + plain_prompt, "completion": answer}]
        prompt = ([{"role": "system", "content": _text(row["system"])}] if row.get("system") else [])
        prompt.append({"role": "user", "content": user})
        return [{"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}]
    if fmt in ("chat", "sharegpt"):
        messages = _messages(row.get("messages") if fmt == "chat" else row.get("conversations"), fmt == "sharegpt")
        # An answer needs a question before it: a conversation opening with the assistant has nothing to answer,
        # and many templates fail on a prompt without a user turn.
        first_user = next((i for i, m in enumerate(messages) if m["role"] not in ("system", "assistant")), None)
        answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and first_user is not None
                   and i > first_user]
        if not answers:
            return []  # nothing to learn from: prepare() counts these rows and says so
        if train_on_prompt:
            return [{"text": _plain(messages)}] if not chat_template else [{"messages": messages}]
        if not chat_template:
            # The prompt ends at "assistant:" and the answer brings its own space: a trailing space in the prompt
            # would merge with the answer's first token and shift the prompt/answer boundary.
            return [{"prompt": _plain(messages[:i]) + "assistant:", "completion": " " + messages[i]["content"]}
                    for i in answers]
        return [{"prompt": messages[:i], "completion": [messages[i]]} for i in answers]
    raise DataError(f"unknown dataset format {fmt!r}: choose one of {', '.join(FORMATS)}")


RECORD_KEYS = {"text": ["text"], "messages": ["messages"], "prompt_completion": ["prompt", "completion"]}


def record_kind(fmt: str, chat_template: bool, train_on_prompt: bool) -> str:
    """Which record shape `to_records` gives for this format: 'text', 'prompt_completion' or 'messages'.
    Every record of a dataset has the same shape, which TRL requires."""
    if fmt == "text":
        return "text"
    if fmt in ("chat", "sharegpt") and train_on_prompt:
        return "messages" if chat_template else "text"
    return "prompt_completion"


def loss_on(fmt: str, train_on_prompt: bool) -> str:
    """What carries the loss, in words, for the pre-launch analysis and the trainer's log."""
    if fmt == "text":
        return "every token (plain text)"
    if train_on_prompt:
        return "every token (train_on_prompt is on)"
    return "the answers only" + (" (every assistant turn)" if fmt in ("chat", "sharegpt") else "")
