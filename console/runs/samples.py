"""Sample answers: what the model says to a few fixed prompts as it trains (samples.jsonl in the run folder): the
records, how to choose the prompts, read the file and show it. The findings they lead to ("answers do not end",
"answers repeat") are the diagnosis' (console.diagnosis.diagnose.sample_findings).

The trainer writes one line per prompt per sampling: {"step", "prompt", "answer", "ended", "tokens", "seconds",
"reference"}; step 0 holds the base model's answers (taken at the evaluation before the first step). No torch here:
the screens and the CLI read these files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.common.bounded_read import is_regular, loads_json, open_regular

DEFAULT_PROMPTS = 3  # held-out eval rows sampled when the user gives no sample_prompts
MAX_PROMPTS = 16
MAX_PROMPT_CHARS = 4000


@dataclass
class Sample:
    step: int
    prompt: str  # as shown (the user's turn of a chat prompt)
    answer: str
    ended: bool
    tokens: int
    seconds: float
    reference: str = ""  # the dataset's own answer, for held-out rows


# -- choosing the prompts (in the trainer, from the prepared eval records) ------------------------------------

def prompts_from_records(records: list[dict], n: int = DEFAULT_PROMPTS) -> list[tuple[object, str, str]]:
    """(prompt for the model, prompt as shown, reference answer) of the first n eval records: the prompt part of
    prompt/completion and chat records; the first third of a plain text (its continuation is the reference)."""
    out = []
    for rec in records[:n]:
        if "prompt" in rec:
            # a preference pair's reference is its chosen answer; a KTO row's completion only when labelled good
            completion = rec.get("chosen") if "chosen" in rec else (
                rec.get("completion") if rec.get("label", True) is not False else "")
            prompt = rec["prompt"]
            reference = completion[-1].get("content", "") if isinstance(completion, list) and completion else \
                str(completion or "")
            out.append((prompt, shown(prompt), reference))
        elif "messages" in rec or "conversation" in rec:  # a conversation trained whole: its JSON text
            messages = list(rec["messages"]) if "messages" in rec else _conversation(rec["conversation"])
            last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
            if last:
                out.append((messages[:last], shown(messages[:last]), str(messages[last].get("content", ""))))
        elif "text" in rec:
            words = str(rec["text"]).split(" ")
            cut = max(1, min(32, len(words) // 3))
            out.append((" ".join(words[:cut]), " ".join(words[:cut]), " ".join(words[cut:])))
    return out


def _conversation(text) -> list[dict]:
    try:
        messages = loads_json(text) if isinstance(text, str) else []
    except ValueError:
        return []
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def user_prompts(value, chat: bool) -> list[tuple[object, str, str]]:
    """The user's own sample_prompts: a list of strings, or a file (.txt: one per line; .jsonl: {"prompt": ...}).
    Each goes to the model as the records it trained on did: a user turn through the chat template, or plain."""
    if isinstance(value, str):
        path = Path(value).expanduser()
        if is_regular(path):
            # only the head that can hold MAX_PROMPTS prompts is read (the whole file was, a link to /dev/zero
            # never ended), and only from a regular file (a FIFO hung the trainer)
            try:
                with open_regular(path) as f:
                    text = f.read(MAX_PROMPTS * MAX_PROMPT_CHARS * 8).decode("utf-8", "replace")
            except OSError:
                text = ""
            if path.suffix == ".jsonl":
                items = []
                for line in text.splitlines():
                    try:
                        row = loads_json(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict) and isinstance(row.get("prompt"), str):
                        items.append(row["prompt"])
            else:
                items = [line for line in text.splitlines() if line.strip()]
        else:
            items = [value]
    else:
        items = [str(v) for v in (value or []) if str(v).strip()]
    out = []
    for text in items[:MAX_PROMPTS]:
        text = text[:MAX_PROMPT_CHARS]
        out.append(([{"role": "user", "content": text}] if chat else text, text, ""))
    return out


def shown(prompt) -> str:
    """A prompt as a person reads it: the last user turn of a conversation, the text itself otherwise."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1] if users else "")
    return str(prompt)


# -- reading samples.jsonl (written by the trainer; read whatever it holds) -----------------------------------

def parse(record) -> Sample | None:
    """A Sample from one JSON line, or None for anything that is not one (a reader of another process' file)."""
    if not isinstance(record, dict):
        return None
    step, answer = record.get("step"), record.get("answer")
    # compared, not math.isfinite(): an integer of 400 digits overflowed it (NaN fails the comparison too)
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 <= step <= 1e15 \
            or not isinstance(answer, str):
        return None
    tokens, seconds = record.get("tokens"), record.get("seconds")
    return Sample(step=int(step), prompt=str(record.get("prompt") or "")[:MAX_PROMPT_CHARS], answer=answer[:20000],
                  ended=record.get("ended") is True,
                  tokens=int(tokens) if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0
                  else 0,
                  seconds=float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
                  and 0 <= seconds <= 1e9 else 0.0,
                  reference=str(record.get("reference") or "")[:20000])


def load_samples(path) -> list[Sample]:
    from console.runs.metrics import MetricsTail

    return [s for s in (parse(r) for r in MetricsTail(path).read_new()) if s is not None]


def by_step(samples: list[Sample]) -> dict[int, list[Sample]]:
    out: dict[int, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.step, []).append(s)
    return out


def first_and_latest(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """The first sampling (step 0: the base model, when there is one) and the latest."""
    steps = by_step(samples)
    if not steps:
        return [], []
    return steps[min(steps)], steps[max(steps)]


# -- what the answers show ------------------------------------------------------------------------------------

def repeats(text: str, n: int = 3, share: float = 0.5) -> bool:
    """A degenerate loop: over half of the answer's word n-grams are repeats of earlier ones ("the the the",
    a sentence said again and again), in an answer long enough to tell (12 words or more)."""
    words = text.split()
    if len(words) < 12:
        return False
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return (len(grams) - len(set(grams))) / len(grams) > share


ANSWER_LINES = 6  # an answer of 64 tokens is 3 or 4 lines at 100 columns; a longer one is cut with "…"


def _wrapped(text: str, width: int, lines: int = ANSWER_LINES) -> list[str]:
    """The text on up to `lines` lines of `width`, words kept whole, "…" where it is cut (an answer cut to its first
    line hid what the fine-tune changed further on). Its own newlines are spaces (they would break the layout), and
    its control characters are written out before it is fitted: a demo model's answers hold them, and written out
    they are four times as long."""
    from textwrap import wrap

    from console.common.safe_text import printable

    out = wrap(printable(" ".join(text.split())), max(1, width), break_long_words=True) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:max(0, width - 1)] + "…"
    return out


def samples_text(samples: list[Sample], width: int = 100) -> str:
    """The first sampling (the base model at step 0) next to the latest, prompt by prompt, with the dataset's own
    answer where there is one: what the fine-tune changed in what the model says. Plain text (the screens and
    `watch --samples` show it as text)."""
    first, latest = first_and_latest(samples)
    if not latest:
        return "no sample answers yet: they are taken at each evaluation (sample_every), step 0 before training"
    rows = [("expected", None), (f"step {first[0].step}" + (" (base)" if first[0].step == 0 else ""), first)]
    if latest[0].step != first[0].step:
        rows.append((f"step {latest[0].step}", latest))
    label = max(len(r[0]) for r in rows)
    body = max(20, width - label - 4)
    out = []
    for i, base in enumerate(first):
        out.append(f"[{i + 1}] {_wrapped(base.prompt, width - 4, lines=1)[0]}")
        for name, group in rows:
            if group is None:
                if base.reference:
                    first_line, *more = _wrapped(base.reference, body)
                    out.append(f"  {name:<{label}}  {first_line}")
                    out += [f"  {'':<{label}}  {line}" for line in more]
                continue
            if i >= len(group):
                continue
            s = group[i]
            end = "ended" if s.ended else "no end token"
            first_line, *more = _wrapped(s.answer, body) if s.answer.strip() else ["(empty)"]
            out.append(f"  {name:<{label}}  {first_line}")
            out += [f"  {'':<{label}}  {line}" for line in more]
            out.append(f"  {'':<{label}}  ({s.tokens} tokens, {end}{', repeats itself' if repeats(s.answer) else ''})")
        out.append("")
    return "\n".join(out).rstrip()
