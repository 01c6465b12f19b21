"""What a preference format is: rows that train a preference objective (DPO, KTO) instead of supervised
fine-tuning, in two families by the records they give TRL.

- Paired: a prompt with a chosen and a rejected answer, {"prompt", "chosen", "rejected"} (TRL's preference records:
  strings, or messages through the model's chat template). The prompt may be implicit: chosen and rejected are then
  whole conversations (or texts) that share it as their common start, which is split off here.
- Unpaired: a prompt, one completion and a boolean label saying whether it is desirable, {"prompt", "completion",
  "label"} (TRL's unpaired preference records, KTO's own form).

Each entry says which objective its rows train by default (`objective`) and which rows it refuses (`problem`: an
empty answer, a pair whose two answers are the same, a label that is not true or false): the pre-launch check runs
it on the rows it samples, the trainer on every row, and either says the first one in one line.
Pure Python, like the rest of the registry.
"""
from __future__ import annotations

from dataclasses import dataclass

from console.common.errors import DataError
from console.data.formats.base import CHAT_ROLES, SHAREGPT_ROLES, Format, content_of, plain, text_of

PREFERENCE_RECORDS = ("preference", "unpaired")  # record kinds of this family (the others: base.Format.record_kind)


def _message(value, assistant: bool = True) -> dict:
    """A turn as {role, content} from a role/content or from/value dict, or a plain answer string."""
    if isinstance(value, dict):
        if "from" in value and "role" not in value:
            speaker = text_of(value.get("from")).strip().lower()
            return {"role": SHAREGPT_ROLES.get(speaker, speaker or "assistant"),
                    "content": content_of(value.get("value"))}
        return {"role": text_of(value.get("role") or ("assistant" if assistant else "user")),
                "content": content_of(value.get("content"))}
    return {"role": "assistant" if assistant else "user", "content": text_of(value)}


def messages_of(value, assistant: bool = True) -> list[dict] | None:
    """A list of turns as messages; None when `value` is not a list (a plain string answer or prompt)."""
    if isinstance(value, (list, tuple)):
        return [_message(turn, assistant) for turn in value if isinstance(turn, (dict, str))]
    return None


def answer_text(value) -> str:
    """The text of an answer however it is given: a string, a turn, or the assistant turns of a list."""
    turns = messages_of(value)
    if turns is None:
        return _message(value)["content"] if isinstance(value, dict) else text_of(value)
    return "".join(m["content"] for m in turns if m["role"] == "assistant") or "".join(m["content"] for m in turns)


def split_shared_start(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(prompt, chosen answer, rejected answer) of two whole conversations that share their start: TRL's implicit
    prompt form, made explicit here so that every record has the same shape."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


@dataclass(frozen=True, kw_only=True, eq=False)
class PreferenceFormat(Format):
    """A preference format: which objective it trains when the objective setting is auto."""

    objective: str = "dpo"

    def record_kind(self, chat_template, train_on_prompt):
        raise NotImplementedError

    def loss_on(self, train_on_prompt):
        if train_on_prompt:
            return "every token (train_on_prompt is on)"
        return "the answers only, as a preference (no supervised loss on the prompt)"

    def problem(self, row: dict) -> str | None:
        """Why a row cannot train (one short clause), or None."""
        return None

    def parts(self, row: dict) -> tuple[list[dict] | None, str, object, object]:
        """(prompt as messages or None, prompt as plain text, chosen/completion, rejected/label)."""
        raise NotImplementedError

    def chat_prompt(self, text, chat_template):
        return [{"role": "user", "content": text}] if chat_template else text


def _prompt(row: dict) -> tuple[list[dict] | None, str]:
    """The prompt of a row as messages and as plain text; a 'system' column opens it."""
    system = text_of(row.get("system")).strip()
    turns = messages_of(row.get("prompt"), assistant=False)
    if turns is None:
        text = text_of(row.get("prompt"))
        turns = [{"role": "user", "content": text}] if text else []
        messages_given = False
    else:
        messages_given = True
    if system and not any(m["role"] == "system" for m in turns):
        turns = [{"role": "system", "content": system}, *turns]
    plain_text = plain(turns) + "assistant:" if messages_given else ((f"{system}\n\n" if system else "")
                                                                     + text_of(row.get("prompt")))
    return turns, plain_text


@dataclass(frozen=True, kw_only=True, eq=False)
class Paired(PreferenceFormat):
    """A prompt with a chosen and a rejected answer; `parts` reads them from the row's own columns."""

    def parts(self, row):
        turns, plain_text = _prompt(row)
        return turns, plain_text, row.get("chosen"), row.get("rejected")

    def _answers(self, row) -> tuple[list[dict], str, list[dict], list[dict]]:
        """(prompt messages, plain prompt, chosen messages, rejected messages) with an implicit prompt split off."""
        prompt, plain_text, chosen, rejected = self.parts(row)
        chosen_turns, rejected_turns = messages_of(chosen), messages_of(rejected)
        if chosen_turns is None:
            chosen_turns = [_message(chosen)]
        if rejected_turns is None:
            rejected_turns = [_message(rejected)]
        if not prompt and len(chosen_turns) > 1:  # the implicit-prompt form: whole conversations
            prompt, chosen_turns, rejected_turns = split_shared_start(chosen_turns, rejected_turns)
            plain_text = plain(prompt) + "assistant:"
        return prompt or [], plain_text, chosen_turns, rejected_turns

    def problem(self, row):
        prompt, _, chosen, rejected = self._answers(row)
        chosen_text = "".join(m["content"] for m in chosen)
        rejected_text = "".join(m["content"] for m in rejected)
        if not prompt or not any(m["content"].strip() for m in prompt):
            return "its prompt is empty"
        if not chosen_text.strip():
            return "its chosen answer is empty"
        if not rejected_text.strip():
            return "its rejected answer is empty"
        if chosen_text.strip() == rejected_text.strip():
            return "its chosen and rejected answers are the same text (the pair teaches nothing)"
        return None

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        prompt, plain_text, chosen, rejected = self._answers(row)
        if chat_template:
            return [{"prompt": prompt, "chosen": chosen, "rejected": rejected}]
        # Without a template the answer follows the prompt after one space, as the plain chat layout's answers do.
        return [{"prompt": plain_text, "chosen": " " + "".join(m["content"] for m in chosen).lstrip(),
                 "rejected": " " + "".join(m["content"] for m in rejected).lstrip()}]

    def record_kind(self, chat_template, train_on_prompt):
        return "preference"

    def example(self, text):
        return {"prompt": text, "chosen": "", "rejected": ""}


TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no")


def label_of(value) -> bool | None:
    """KTO's label as a bool: true/false (a CSV's words too) or 1/0; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    return None


@dataclass(frozen=True, kw_only=True, eq=False)
class Unpaired(PreferenceFormat):
    """A prompt, one completion and a label: is the completion desirable (KTO's unpaired form)."""

    objective: str = "kto"

    def parts(self, row):
        turns, plain_text = _prompt(row)
        return turns, plain_text, row.get("completion"), row.get("label")

    def problem(self, row):
        prompt, _, completion, label = self.parts(row)
        if not prompt or not any(m["content"].strip() for m in prompt):
            return "its prompt is empty"
        if not answer_text(completion).strip():
            return "its completion is empty"
        if label_of(label) is None:
            return (f"its label {str(label)[:40]!r} is not true or false (KTO's label says whether the completion "
                    f"is a desirable answer)")
        return None

    def render(self, row, *, chat_template, train_on_prompt, text_column=None):
        prompt, plain_text, completion, label = self.parts(row)
        turns = messages_of(completion) or [_message(completion)]
        if chat_template:
            return [{"prompt": prompt, "completion": turns, "label": bool(label_of(label))}]
        return [{"prompt": plain_text, "completion": " " + answer_text(completion).lstrip(),
                 "label": bool(label_of(label))}]

    def record_kind(self, chat_template, train_on_prompt):
        return "unpaired"


def first_problem(fmt: Format, rows, where: str) -> None:
    """DataError naming the first row a preference format refuses (`rows`: dicts, counted from 1)."""
    check = getattr(fmt, "problem", None)
    if check is None:
        return
    for number, row in enumerate(rows, 1):
        problem = check(row)
        if problem:
            raise DataError(f"{where}, row {number}: {problem}; fix or remove that row")


__all__ = ["CHAT_ROLES", "PREFERENCE_RECORDS", "Paired", "PreferenceFormat", "Unpaired", "answer_text",
           "first_problem", "label_of", "messages_of", "split_shared_start"]
