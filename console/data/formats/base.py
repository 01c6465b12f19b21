"""What a dataset format is: a `Format` entry of the registry (console/data/formats/__init__.py), in one of three
families by the records it gives TRL.

- PlainText: one text column, {"text": str}, loss on every token (language modelling).
- SingleTurn: a question and its answer per row, {"prompt", "completion"} (strings, or messages through the model's
  chat template); the entry says how its columns make the user's turn, the plain prompt and the answer.
- Conversation: a list of turns per row; one {"prompt", "completion"} record per assistant answer (or the whole
  conversation when train_on_prompt is on); the entry says which column holds the turns and how they are keyed.

Everything a format decides lives on its entry: the columns it needs and reads, how a row becomes TRL's records,
what carries the loss, how a single chat prompt is laid out for a run trained on it, its one-line help and what
other tools call it. Pure Python: the console's own process imports it (the pre-launch check, the chat plan).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from console.common.errors import DataError

# Speaker names -> chat roles, as ShareGPT files (LLaMA-Factory's, FastChat's) name them.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "system": "system", "tool": "tool",
                  "observation": "tool", "function_call": "assistant", "function": "tool"}
CHAT_ROLES = ("user", "assistant", "system", "tool")

TEMPLATE_LAYOUT = "as a user turn through the chat template"


def text_of(value) -> str:
    return "" if value is None else str(value)


def content_of(value) -> str:
    """A message's content: a string, or the text of OpenAI-style parts ([{"type": "text", "text": ...}]).
    Images and other parts are refused: this console trains text models."""
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, dict) and part.get("type", "text") == "text":
                texts.append(text_of(part.get("text")))
            elif isinstance(part, str):
                texts.append(part)
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise DataError(f"a message holds a {kind!r} part: only text can be trained here; remove those "
                                f"parts or those rows")
        return "".join(texts)
    return text_of(value)


def plain(messages: list[dict]) -> str:
    """A conversation as 'role: content' lines, for a tokenizer without a chat template."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages)


@dataclass(frozen=True, kw_only=True, eq=False)
class Format:
    """One dataset format. `needs`: the columns it needs, each as its alternatives (("output", "response"): either);
    `optional`: the columns it reads when they are there; `known_as`: what other tools call this layout
    ({tool: their name}, read by console/config/foreign/)."""

    name: str
    help: str  # one line: what its rows hold (the dataset_format setting's help is made of these)
    needs: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    layout: str = "as plain text (no chat template)"  # a chat prompt without the chat template, in words
    known_as: Mapping[str, str] = field(default_factory=dict)
    # False: chosen by name only, never by auto-detection (its columns are another entry's, which detection keeps)
    auto_detect: bool = True

    def columns(self) -> tuple[str, ...]:
        """Every column name it reads (the names a column mapping may give)."""
        return tuple(c for alternatives in self.needs for c in alternatives) + self.optional

    def missing(self, columns) -> list[str]:
        """The needed columns that `columns` lack (the first name of each missing alternative)."""
        return [alternatives[0] for alternatives in self.needs if not any(c in columns for c in alternatives)]

    def detects(self, columns) -> bool:
        return not self.missing(columns)

    def describe_columns(self) -> str:
        """'prompt' + 'completion': the columns it needs, for the message that says none was found."""
        return " + ".join(f"'{alternatives[0]}'" for alternatives in self.needs)

    # -- what each family decides ----------------------------------------------------------------------------
    def render(self, row: dict, *, chat_template: bool, train_on_prompt: bool,
               text_column: str | None = None) -> list[dict]:
        """One dataset row (columns already renamed) as TRL's records; [] when the row gives no example."""
        raise NotImplementedError

    def record_kind(self, chat_template: bool, train_on_prompt: bool) -> str:
        """Which record shape `render` gives: 'text', 'prompt_completion' or 'messages' (one per dataset: TRL's
        requirement)."""
        return "prompt_completion"

    def loss_on(self, train_on_prompt: bool) -> str:
        """What carries the loss, in words, for the pre-launch analysis and the trainer's log."""
        return "every token (train_on_prompt is on)" if train_on_prompt else "the answers only"

    @property
    def templated(self) -> bool:
        """Its prompts go through the model's chat template when the model has one (plain text never does)."""
        return True

    def whole(self, row: dict) -> list[dict]:
        """The row as one conversation through a chat template (its messages up to its last answer), [] when it
        gives no example; the trainer tokenises it whole with every answer in the loss (console/data/whole.py)."""
        return []

    def example(self, text: str) -> dict:
        """A row of this format asking `text`, with an empty answer."""
        raise NotImplementedError

    def chat_prompt(self, text: str, chat_template: bool):
        """What the user typed in the chat laid out as this format's training prompts were (`render` of a row with
        an empty answer): a user turn (chat template) or a string."""
        return self.render(self.example(text), chat_template=chat_template, train_on_prompt=False)[0]["prompt"]

    def prompt_layout(self, chat_template: bool) -> str:
        """How a chat prompt reaches the model, in words (the chat's ready event, the CLI's first line)."""
        return TEMPLATE_LAYOUT if chat_template and self.templated else self.layout


@dataclass(frozen=True, kw_only=True, eq=False)
class PlainText(Format):
    """One text column; loss on every token. `text_column` (a setting) names another column to read."""

    layout: str = "as plain text to continue (the run trained on plain text)"

    @property
    def column(self) -> str:
        return self.needs[0][0]

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        return [{"text": text_of(row.get(text_column or self.column))}]

    def record_kind(self, chat_template, train_on_prompt):
        return "text"

    def loss_on(self, train_on_prompt):
        return "every token (plain text)"

    @property
    def templated(self) -> bool:
        return False

    def example(self, text):
        return {self.column: text}

    def chat_prompt(self, text, chat_template):
        return text


@dataclass(frozen=True, kw_only=True, eq=False)
class SingleTurn(Format):
    """A question and its answer per row; an entry says how its columns make the user's turn, the prompt without a
    chat template and the answer (`parts`), and a row asking a question (`example`). An optional 'system' column
    opens the prompt."""

    def parts(self, row: dict) -> tuple[str, str, str]:
        """(the user's turn, the prompt without a chat template, the answer)."""
        raise NotImplementedError

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        user, plain_prompt, answer = self.parts(row)
        if not chat_template:
            system = text_of(row.get("system")).strip()
            return [{"prompt": (f"{system}\n\n" if system else "") + plain_prompt, "completion": answer}]
        prompt = ([{"role": "system", "content": text_of(row["system"])}] if row.get("system") else [])
        prompt.append({"role": "user", "content": user})
        return [{"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}]

    def whole(self, row):
        record = self.render(row, chat_template=True, train_on_prompt=False)[0]
        return record["prompt"] + record["completion"]


@dataclass(frozen=True)
class Turns:
    """How a conversation's turns are keyed: who speaks under `speaker`, what is said under `content`; `roles`
    maps speaker names to chat roles (None: the speaker is the role); `user` and `assistant` are this
    convention's names for the two."""

    speaker: str
    content: str
    user: str
    assistant: str
    roles: Mapping[str, str] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The speaker names it reads."""
        return tuple(self.roles) if self.roles else CHAT_ROLES

    def message(self, turn: dict, extras: bool = False) -> dict:
        """The turn as {role, content}; with `extras`, the tool calls, tool-call id, name and reasoning trace it
        carries too (under the names chat templates read: CARRIED)."""
        if self.roles is None:
            role = text_of(turn.get(self.speaker) or "user")
        else:
            speaker = text_of(turn.get(self.speaker)).strip().lower()
            role = self.roles.get(speaker, speaker or "user")
        message = {"role": role, "content": content_of(turn.get(self.content))}
        if extras:
            for key, name in CARRIED.items():
                value = turn.get(key)
                if value not in (None, "", []) and name not in message:
                    message[name] = _parsed(value) if name == "tool_calls" else value
        return message


# What a turn may carry beyond its text, under the name chat templates read it (Qwen3/DeepSeek read
# reasoning_content; gpt-oss thinking; OpenAI's tool_calls, tool_call_id, name).
CARRIED = {"tool_calls": "tool_calls", "tool_call_id": "tool_call_id", "name": "name",
           "reasoning_content": "reasoning_content", "reasoning": "reasoning_content", "thinking": "reasoning_content"}


def _parsed(value):
    """A JSON text (as datasets' loaders keep nested lists of mixed shapes) read back; other values as they are."""
    if isinstance(value, str):
        import json

        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


ROLE_CONTENT = Turns("role", "content", "user", "assistant")
FROM_VALUE = Turns("from", "value", "human", "gpt", SHAREGPT_ROLES)
TURNS = (ROLE_CONTENT, FROM_VALUE)  # every keying a conversation's turns are read in


@dataclass(frozen=True, kw_only=True, eq=False)
class Conversation(Format):
    """A list of turns per row, under the column `needs` names, keyed as `turns` says (a turn keyed the other
    known way is read that way). A multi-turn chat gives one record per answer.

    Why one record per assistant turn: TRL's answer-only loss for a whole conversation needs a chat template with
    generation markers, which most models' templates lack; prompt/completion records work with any template, and a
    conversation with N answers becomes N records whose prompts hold the history, so every answer is trained once.
    """

    turns: Turns = ROLE_CONTENT
    layout: str = "as 'user: ...' / 'assistant:' lines (no chat template)"

    @property
    def column(self) -> str:
        return self.needs[0][0]

    def messages(self, turns, extras: bool = False) -> list[dict]:
        """Chat turns as {role, content} (and, with `extras`, what else they carry: Turns.message). Malformed turns
        are skipped."""
        if not isinstance(turns, (list, tuple)):  # not a conversation: no example, counted as skipped
            return []
        out = []
        for turn in turns:
            if not isinstance(turn, dict):
                continue
            keys = self.turns if self.turns.speaker in turn else next(
                (t for t in TURNS if t.speaker in turn), self.turns)
            out.append(keys.message(turn, extras))
        return out

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        messages = self.messages(row.get(self.column))
        # An answer needs a question before it: a conversation opening with the assistant has nothing to answer,
        # and many templates fail on a prompt without a user turn.
        first_user = next((i for i, m in enumerate(messages) if m["role"] not in ("system", "assistant")), None)
        answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and first_user is not None
                   and i > first_user]
        if not answers:
            return []  # nothing to learn from: prepare() counts these rows and says so
        if train_on_prompt:
            return [{"text": plain(messages)}] if not chat_template else [{"messages": messages}]
        if not chat_template:
            # The prompt ends at "assistant:" and the answer brings its own space: a trailing space in the prompt
            # would merge with the answer's first token and shift the prompt/answer boundary.
            return [{"prompt": plain(messages[:i]) + "assistant:", "completion": " " + messages[i]["content"]}
                    for i in answers]
        return [{"prompt": messages[:i], "completion": [messages[i]]} for i in answers]

    def record_kind(self, chat_template, train_on_prompt):
        if train_on_prompt:
            return "messages" if chat_template else "text"
        return "prompt_completion"

    def whole(self, row: dict) -> list[dict]:
        """The conversation trained whole through a chat template: its turns up to its last answer, with what they
        carry (tool calls, reasoning); [] when it has no answer to a question (as `render`)."""
        messages = self.messages(row.get(self.column), extras=True)
        first_user = next((i for i, m in enumerate(messages) if m["role"] not in ("system", "assistant")), None)
        answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and first_user is not None
                   and i > first_user]
        return messages[:answers[-1] + 1] if answers else []

    def loss_on(self, train_on_prompt):
        return super().loss_on(train_on_prompt) + ("" if train_on_prompt else " (every assistant turn)")

    def example(self, text):
        t = self.turns
        return {self.column: [{t.speaker: t.user, t.content: text}, {t.speaker: t.assistant, t.content: ""}]}
