"""What chatting with a run loads, how a prompt is laid out, and what a request line may hold (light: no torch).

The console's chat screen plans here in its own process; console.tools.chat (the child process that loads the model
and answers) reads the plan back.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from console.common.errors import RunError, UserError
from console.runs.checkpoints import final_model_label, has_weights
from console.runs.rundir import ACTIVE_PHASES, RunDir

WHICH = ("base", "tuned")


DEFAULT_MAX_NEW_TOKENS = 256


MAX_NEW_TOKENS_LIMIT = 32768


MAX_PROMPT_CHARS = 100_000




@dataclass
class ChatPlan:
    run: RunDir
    method: str
    values: dict
    folder: Path  # RUN/model or a checkpoint
    label: str  # "the final model (model/, step 8)", "checkpoint-4 (the newest: the run is still training)"
    fmt: str  # the training data's format (console.data.formats), which decides how a prompt is laid out
    notes: list[str] = field(default_factory=list)

    @property
    def adapter(self) -> bool:
        """The folder holds an adapter (laid on the base model) rather than a whole model."""
        return (self.folder / "adapter_config.json").is_file()

    @property
    def base_name(self) -> str:
        return str(self.values.get("model") or "") or "the built-in demo model"


def plan_chat(run: RunDir, checkpoint: str | None = None) -> ChatPlan:
    """What chatting with `run` loads, checked without loading anything. `checkpoint`: None (the final model, else
    the newest whole checkpoint: a run still training has no final model yet), 'final', 'best' or 'checkpoint-N'
    (or N). RunError / UserError in one line saying what the run has and what to do."""
    from console.tools.export_plan import resolve_source, what_exists

    if not run.path.is_dir():
        raise RunError(f"{run.path} is not a run folder: `training-console runs` lists them")
    config = run.config()
    status = run.status()
    phase = status.get("phase", "?")
    active = phase in ACTIVE_PHASES
    final = run.path / "model"
    notes: list[str] = []
    wanted = (checkpoint or "").strip()
    if wanted in ("", "final", "model", "model/"):
        if not active and has_weights(final):
            folder, label = final, final_model_label(status, bool(config.get("load_best_model_at_end")))
        elif wanted:
            why = (f"{run.id} is still {phase}: its final model is written when it ends" if active else
                   f"{run.id} ({phase}) has no final model (model/)")
            raise RunError(f"{why}; it has: {what_exists(run, status)}: leave out --checkpoint for its newest "
                           f"checkpoint, or give one (--checkpoint checkpoint-N)")
        else:
            newest, skipped = run.checkpoint_to_resume()
            if newest is None:
                why = (f"{run.id} is still {phase} and has saved no checkpoint yet: chat once it has one (save_steps, "
                       f"or c on its training screen saves one now)" if active else
                       f"{run.id} ({phase}) has no final model and no checkpoint to chat with")
                raise RunError(why + (f" ({'; '.join(skipped)})" if skipped else ""))
            folder = newest
            label = f"{newest.name} (the newest: " + (f"the run is still {phase})" if active else
                                                     "the run has no final model)")
            notes += skipped
    else:  # best or a checkpoint: read as export reads it
        folder, label = resolve_source(run, wanted, status, verb="loaded")
    return ChatPlan(run=run, method=config.method, values=dict(config.values), folder=folder, label=label,
                    fmt=data_format(config.values, status), notes=notes)


def data_format(values: dict, status: dict) -> str:
    """The format the run's data was in (a name of console.data.formats' registry): the config's dataset_format,
    else what the trainer found (status.json's data_format), else, for a run folder from before that key, what the
    dataset's columns say now; the registry's FALLBACK when none can tell."""
    from console.data.formats import FALLBACK, FORMATS

    for said in (values.get("dataset_format"), status.get("data_format")):
        if said in FORMATS:
            return said
    try:
        from console.data.preflight import local_format

        found = local_format(values.get("dataset"), "auto", values.get("text_column"), values.get("columns"))
    except (UserError, OSError):
        found = None
    return found or FALLBACK


def _entry(fmt: str):
    from console.data.formats import FALLBACK, FORMATS, get_format

    return get_format(fmt if fmt in FORMATS else FALLBACK)


def prompt_layout(fmt: str, chat_template: bool) -> str:
    """How a prompt reaches the model, in words (the ready event, the CLI's first line, the screen's status)."""
    return _entry(fmt).prompt_layout(chat_template)


def format_prompt(text: str, fmt: str, chat_template: bool):
    """The prompt for console.trainer.generate from what the user typed, laid out as the run's training examples were
    (the format's rendering of a row with an empty answer): a user turn (chat template) or a string."""
    return _entry(fmt).chat_prompt(text, chat_template)


def prompt_problem(prompt: str) -> str | None:
    """What makes a prompt one the model is not given, in words, or None: longer than MAX_PROMPT_CHARS, or holding
    text that is not Unicode (lone surrogates: bytes that were not UTF-8, kept by the command line's decoding). The
    server and the CLI apply the same bound."""
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"is {len(prompt)} characters long: at most {MAX_PROMPT_CHARS}"
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"is not UTF-8 text (a bad character at position {err.start}): give UTF-8 text"
    return None


def parse_request(line: str, loaded: list[str]) -> dict:
    """A request line as {prompt, temperature, max_new_tokens, which} or {stop: True}; UserError (one line) for
    anything else."""
    try:
        request = json.loads(line)
    except ValueError:
        raise UserError("a request is one JSON object per line, e.g. {\"prompt\": \"Hello\"}") from None
    if not isinstance(request, dict):
        raise UserError("a request is a JSON object, e.g. {\"prompt\": \"Hello\"}")
    if request.get("stop") is True:
        return {"stop": True}
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("the request has no prompt (a non-empty string)")
    problem = prompt_problem(prompt)
    if problem:
        raise UserError(f"the prompt {problem}")
    temperature = request.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 5:
        raise UserError(f"temperature {temperature!r}: a number from 0 (greedy) to 5")
    tokens = request.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_NEW_TOKENS_LIMIT:
        raise UserError(f"max_new_tokens {tokens!r}: a whole number from 1 to {MAX_NEW_TOKENS_LIMIT}")
    which = request.get("which", loaded)
    if isinstance(which, str):
        which = [which]
    if not isinstance(which, list) or not which or any(w not in WHICH for w in which):
        raise UserError(f"which {which!r}: a list of 'base' and/or 'tuned'")
    missing = [w for w in which if w not in loaded]
    if missing:
        raise UserError(f"the {missing[0]} model is not loaded in this server (loaded: {', '.join(loaded)})")
    return {"prompt": prompt, "temperature": float(temperature), "max_new_tokens": tokens, "which": which}


# -- the chat process' events, typed before any reader uses them ------------------------------------------------------

MAX_EVENT_TEXT = 1 << 20  # an answer of 32768 tokens is a few hundred KiB of text


def _text(value, default: str = "") -> str:
    return value[:MAX_EVENT_TEXT] if isinstance(value, str) else default


def _seconds(value) -> float:
    # compared before any conversion: float() of a 400-digit integer overflows; NaN and Infinity fail the range
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1e9
    return float(value) if ok else 0.0


def _count(value) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**9
    return value if ok else 0


def typed_event(event) -> dict | None:
    """One event of the chat process (console.tools.chat's protocol) with each field of the type its readers use,
    or None for a line that is no event of the protocol. The process is ours, but its stdout is another process'
    output: a wrong-typed field ({"event": "done", "tokens": "many"}) reached int() in the screen and ended the
    console."""
    if not isinstance(event, dict):
        return None
    kind = event.get("event")
    if kind == "ready":
        which = event.get("which")
        return {"event": "ready", "run": _text(event.get("run")), "loaded": _text(event.get("loaded"), "?"),
                "method": _text(event.get("method"), "?"), "base": _text(event.get("base"), "?"),
                "layout": _text(event.get("layout")), "device": _text(event.get("device"), "?"),
                "which": [w for w in WHICH if isinstance(which, list) and w in which],
                "seconds": _seconds(event.get("seconds")),
                "notes": [n[:1000] for n in event.get("notes") or [] if isinstance(n, str)]
                if isinstance(event.get("notes"), list) else []}
    if kind in ("token", "done"):
        which = event.get("which")
        if which not in WHICH:
            return None
        if kind == "token":
            return {"event": "token", "which": which, "text": _text(event.get("text"))}
        done = {"event": "done", "which": which, "ended": event.get("ended") is True,
                "tokens": _count(event.get("tokens")), "seconds": _seconds(event.get("seconds")),
                "stopped": event.get("stopped") is True}
        if isinstance(event.get("text"), str):  # else the streamed text stands
            done["text"] = _text(event["text"])
        return done
    if kind == "error":
        return {"event": "error", "message": " ".join(_text(event.get("message"), "the chat process failed").split())
                [:1000] or "the chat process failed", "fatal": event.get("fatal") is True}
    return None
