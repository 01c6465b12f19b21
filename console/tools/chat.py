"""Chat with a run's model, next to its base model: the engine behind `training-console chat` and the console's chat
screen.

    python -m console.tools.chat RUN_PATH --serve [--checkpoint final|best|checkpoint-N] [--no-base]

runs a child process that loads the model once and answers prompts sent as JSON lines on stdin (the console's chat
screen starts it so: the UI process never imports torch). Its stdout carries the protocol only (library messages go
to stderr):

    -> {"event": "ready", "loaded": "the final model (model/, step 8)", "method": "lora", "base": "...",
        "layout": "through the chat template", "which": ["base", "tuned"], "device": "cpu", "seconds": 1.2}
    <- {"prompt": "...", "temperature": 0.0, "max_new_tokens": 256, "which": ["base", "tuned"]}
    -> {"event": "token", "which": "base", "text": "..."} ...          the answer as it is generated
    -> {"event": "done", "which": "base", "text": "...", "ended": true, "tokens": 12, "seconds": 0.3,
        "stopped": false}
    -> ... the same for "tuned"
    <- {"stop": true}                                                   ends the answer being generated now
    -> {"event": "error", "message": "one line"}                        a bad request (the server goes on), or a
                                                                        model that cannot load (it then exits 1)

The streamed texts of an answer concatenate to its done event's text. Each prompt is answered on its own: a
single-turn prompt, formatted the way the run's training data was (a user turn through the chat template, or the
alpaca / plain layout when the run trained without one), with no history of earlier prompts. Greedy unless a
temperature above 0 is given. When its stdin closes the server answers the requests already sent, then exits (a
parent that has gone ends it at its next line: a broken pipe); the console's screen ends it with SIGTERM.

Which model: `final` (default) is RUN/model; a run still training, or one that ended without a final model, is
answered by its newest whole checkpoint (`loaded` says which). An adapter run (lora, qlora, adapter) loads its base
once (QLoRA: in 4-bit, as it trained) with the adapter laid on it by peft; the base model's answer comes from the same
object with the adapter disabled. A full fine-tuning run loads the base model as a second model.

The light part (choosing what to load: `plan_chat`, `prompt_layout`) imports no torch; the rest imports torch,
transformers and peft inside the functions that need them.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.common.errors import RunError, UserError
from console.runs.rundir import ACTIVE_PHASES, RunDir
from console.trainer.lean_imports import leave_out_bitsandbytes

WHICH = ("base", "tuned")
DEFAULT_MAX_NEW_TOKENS = 256
MAX_NEW_TOKENS_LIMIT = 32768
MAX_PROMPT_CHARS = 100_000
_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
            "pytorch_model.bin", "pytorch_model.bin.index.json")
_FORMAT = re.compile(r"\b(text|prompt_completion|instruction|chat|sharegpt) format\b")


# -- what to load (light: no torch) ----------------------------------------------------------------------------------

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


def _has_weights(folder: Path) -> bool:
    try:
        return any((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in _WEIGHTS)
    except OSError:
        return False


def plan_chat(run: RunDir, checkpoint: str | None = None) -> ChatPlan:
    """What chatting with `run` loads, checked without loading anything. `checkpoint`: None (the final model, else
    the newest whole checkpoint: a run still training has no final model yet), 'final', 'best' or 'checkpoint-N'
    (or N). RunError / UserError in one line saying what the run has and what to do."""
    from console.config.run_config import load_run_config
    from console.tools.export import resolve_source, what_exists

    if not run.path.is_dir():
        raise RunError(f"{run.path} is not a run folder: `training-console runs` lists them")
    config = load_run_config(run.path)
    status = run.status(repair=False)
    phase = status.get("phase", "?")
    active = phase in ACTIVE_PHASES
    step = status.get("step")
    final = run.path / "model"
    notes: list[str] = []
    wanted = (checkpoint or "").strip()
    if wanted in ("", "final", "model", "model/"):
        if not active and _has_weights(final):
            folder, label = final, "the final model (model/" + (f", step {step})" if step is not None else ")")
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
    """The format the run's data was in: the config's dataset_format, else what the trainer said it found
    (status.json's data line), else what the dataset's columns say now; prompt_completion when none can tell."""
    from console.data.formats import FORMATS

    wanted = values.get("dataset_format")
    if wanted in FORMATS:
        return wanted
    found = _FORMAT.search(str(status.get("data") or ""))
    if found:
        return found.group(1)
    try:
        from console.data.datasets import preflight

        found = _FORMAT.search(preflight(values.get("dataset"), "auto", values.get("text_column"),
                                         values.get("columns")))
    except (UserError, OSError):
        found = None
    return found.group(1) if found else "prompt_completion"


def prompt_layout(fmt: str, chat_template: bool) -> str:
    """How a prompt reaches the model, in words (the ready event, the CLI's first line, the screen's status)."""
    if fmt == "text":
        return "as plain text to continue (the run trained on plain text)"
    if chat_template:
        return "as a user turn through the chat template"
    if fmt == "instruction":
        return "in the alpaca layout (### Instruction: ... ### Response:)"
    if fmt in ("chat", "sharegpt"):
        return "as 'user: ...' / 'assistant:' lines (no chat template)"
    return "as plain text (no chat template)"


def format_prompt(text: str, fmt: str, chat_template: bool):
    """The prompt for console.trainer.generate from what the user typed, laid out as the run's training examples were
    (console.data.formats.to_records, with an empty answer): a user turn (chat template) or a string."""
    from console.data.formats import to_records

    if fmt == "text":
        return text
    if fmt == "instruction":
        row, kind = {"instruction": text, "output": ""}, "instruction"
    elif fmt in ("chat", "sharegpt"):
        row, kind = {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]}, "chat"
    else:
        row, kind = {"prompt": text, "completion": ""}, "prompt_completion"
    return to_records(row, kind, chat_template=chat_template, train_on_prompt=False)[0]["prompt"]


# -- loading and answering (imports torch) ---------------------------------------------------------------------------

class Stopped(Exception):
    """Raised from the streamer to end an answer early (a stop request, or the server's stdin closed)."""


def _streamer(tokenizer, on_text, should_stop):
    """A transformers streamer that decodes the new tokens so far at each one and hands on the text not yet handed
    on: everything but a trailing '\\ufffd' (an incomplete UTF-8 character, which the next token may complete),
    and whatever is left at the end. What it hands on concatenates to the decoded answer (when decoding more tokens
    rewrites earlier text, which a tokenizer may do, the rest waits for the end). Raises Stopped when
    `should_stop()` says so."""
    from transformers.generation.streamers import BaseStreamer

    class Streamer(BaseStreamer):
        def __init__(self):
            self.prompt_seen = False
            self.ids: list[int] = []
            self.sent = ""
            self.broken = False  # the decoded text stopped extending what was sent: the rest goes at the end

        def put(self, value):
            if should_stop is not None and should_stop():
                raise Stopped()
            if not self.prompt_seen:  # the first call holds the prompt
                self.prompt_seen = True
                return
            self.ids.extend(int(i) for i in value.reshape(-1).tolist())
            if on_text is None or self.broken:
                return
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if not text.startswith(self.sent):
                self.broken = True
                return
            ready = text[:-1] if text.endswith("\ufffd") else text
            if len(ready) > len(self.sent):
                on_text(ready[len(self.sent):])
                self.sent = ready

        def end(self):
            pass

        def rest(self, final: str) -> str:
            """What is still to hand on for the answer's final text."""
            return final[len(self.sent):] if final.startswith(self.sent) else ""

    return Streamer()


class Chat:
    """A run's model loaded for chat: `answer(text, which)` with which = 'tuned' or 'base'."""

    def __init__(self, plan: ChatPlan, with_base: bool = True):
        import torch

        from console.trainer.model import from_pretrained, hub_revision, load_kwargs, load_tokenizer, model_source

        self.plan = plan
        t0 = time.perf_counter()
        values = plan.values
        source = model_source(values)  # the demo model is built here when it is the base and missing
        has_tokenizer = (plan.folder / "tokenizer_config.json").is_file() or (plan.folder / "tokenizer.json").is_file()
        # the run's own tokenizer (saved beside its model: the padding token and chat template it trained with)
        self.tokenizer = load_tokenizer(str(plan.folder) if has_tokenizer else source, values)
        cuda = torch.cuda.is_available() and not values.get("use_cpu")
        self.device = "cuda" if cuda else "cpu"
        self.models: dict[str, object] = {}
        self.peft = False
        if plan.method != "full" and plan.adapter:
            from peft import PeftModel

            base = from_pretrained(source, load_kwargs(plan.method, values))
            base = self._placed(base)
            try:
                model = PeftModel.from_pretrained(base, str(plan.folder))
            except (OSError, ValueError, RuntimeError, KeyError) as err:
                raise RunError(f"cannot load the adapter in {plan.folder} on {plan.base_name}: "
                               f"{_one_line(err)}") from None
            self.models["tuned"] = model
            self.peft = True
            if with_base:
                self.models["base"] = model  # answered with the adapter disabled: no second copy
        else:
            if plan.method != "full":
                plan.notes.append(f"{plan.label} holds a whole model, not an adapter: it is loaded as it is")
            kwargs: dict = {"trust_remote_code": bool(values.get("trust_remote_code"))}
            if values.get("attn_implementation"):  # the kernel the run trained with
                kwargs["attn_implementation"] = values["attn_implementation"]
            if cuda and (values.get("bf16") or values.get("fp16")):  # answering needs no fp32 master weights
                kwargs["dtype"] = torch.bfloat16 if values.get("bf16") else torch.float16
            self.models["tuned"] = self._placed(from_pretrained(str(plan.folder), kwargs))
            if with_base:  # the base at the run's Hub revision (console.trainer.model.hub_revision: none for a folder)
                self.models["base"] = self._placed(from_pretrained(source, {**kwargs, **hub_revision(source, values)}))
        for model in {id(m): m for m in self.models.values()}.values():
            model.eval()
        self.chat_template = bool(getattr(self.tokenizer, "chat_template", None)) and \
            values.get("use_chat_template", True) is not False
        self.layout = prompt_layout(plan.fmt, self.chat_template)
        self.seconds = time.perf_counter() - t0

    def _placed(self, model):
        if self.device == "cuda" and not getattr(model, "hf_device_map", None):
            model = model.to("cuda")
        return model

    @property
    def which(self) -> list[str]:
        return [w for w in WHICH if w in self.models]

    def ready_event(self) -> dict:
        return {"event": "ready", "run": self.plan.run.id, "loaded": self.plan.label, "method": self.plan.method,
                "base": self.plan.base_name, "layout": self.layout, "which": self.which, "device": self.device,
                "seconds": round(self.seconds, 2), "notes": list(self.plan.notes)}

    def answer(self, text: str, which: str = "tuned", temperature: float = 0.0,
               max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, on_text=None, should_stop=None) -> dict:
        """One answer to `text` by `which` model, streamed to on_text(str) as it is generated. Returns the done
        event's fields: text, ended, tokens, seconds, stopped."""
        from contextlib import nullcontext

        from console.trainer.generate import generate

        if which not in self.models:
            raise UserError(f"the {which} model is not loaded" + (" (start with the base model: --base)"
                                                                   if which == "base" else ""))
        model = self.models[which]
        prompt = format_prompt(text, self.plan.fmt, self.chat_template)
        streamer = _streamer(self.tokenizer, on_text, should_stop)
        context = model.disable_adapter() if (self.peft and which == "base") else nullcontext()
        t0 = time.perf_counter()
        try:
            with context:
                answer = generate(model, self.tokenizer, prompt, max_new_tokens=max_new_tokens,
                                  temperature=temperature, streamer=streamer)
        except Stopped:
            final = self.tokenizer.decode(streamer.ids, skip_special_tokens=True)
            if on_text is not None and streamer.rest(final):
                on_text(streamer.rest(final))
            return {"text": final, "ended": False, "tokens": len(streamer.ids),
                    "seconds": round(time.perf_counter() - t0, 3), "stopped": True}
        if on_text is not None and streamer.rest(answer.text):
            on_text(streamer.rest(answer.text))
        return {"text": answer.text, "ended": answer.ended, "tokens": answer.tokens,
                "seconds": round(answer.seconds, 3), "stopped": False}


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__


def quiet_libraries() -> None:
    """Library chatter kept out of what the user reads: the known noise filtered, transformers' warnings and
    progress bars off (they go to stderr in any case)."""
    from console.trainer.quiet import quiet_known_noise

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_known_noise()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001  a missing or changed helper only makes it noisier
        pass


# -- the child-process server ----------------------------------------------------------------------------------------

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
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"the prompt is {len(prompt)} characters long: at most {MAX_PROMPT_CHARS}")
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


class _Protocol:
    """The protocol's output: one JSON object per line, flushed, on a stream of its own (see serve)."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, event: dict) -> None:
        with self.lock:
            self.stream.write(json.dumps(event, ensure_ascii=False) + "\n")
            self.stream.flush()


def _protocol_stream():
    """A stream on the process' original stdout, with fd 1 (and sys.stdout) pointed at stderr from now on: a
    library that prints (bitsandbytes, a C extension) can never break a protocol line."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", errors="replace", buffering=1)


def serve(run_path: str, checkpoint: str | None = None, with_base: bool = True, stdin=None, out=None) -> int:
    """The chat server's loop (module docstring): load, say ready, answer requests until stdin closes."""
    out = _Protocol(out if out is not None else _protocol_stream())
    stdin = stdin if stdin is not None else sys.stdin
    requests: queue.Queue = queue.Queue()
    stop = threading.Event()  # set by a stop request: the answer being generated ends

    def read() -> None:
        for line in stdin:
            if not line.strip():
                continue
            if line.lstrip().startswith("{") and '"stop"' in line:
                try:
                    if json.loads(line).get("stop") is True:
                        stop.set()
                        continue
                except (ValueError, AttributeError):
                    pass
            requests.put(line)
        requests.put(None)  # the end of stdin: the requests already sent are answered, then the server exits

    reader = threading.Thread(target=read, name="chat-stdin", daemon=True)
    reader.start()
    try:
        plan = plan_chat(RunDir(run_path), checkpoint)
        leave_out_bitsandbytes(plan.method, plan.values)  # a second off the load when the run never called it
        quiet_libraries()
        chat = Chat(plan, with_base=with_base)
    except UserError as err:
        out.send({"event": "error", "message": _first(str(err)), "fatal": True})
        return 1
    except Exception as err:  # noqa: BLE001  the screen shows one line; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        out.send({"event": "error", "message": f"the model could not be loaded: {_one_line(err)}", "fatal": True})
        return 1
    out.send(chat.ready_event())
    while True:
        line = requests.get()
        if line is None:
            return 0
        try:
            request = parse_request(line, chat.which)
        except UserError as err:
            out.send({"event": "error", "message": _first(str(err))})
            continue
        if request.get("stop"):
            continue  # nothing is being generated
        stop.clear()  # a stop sent after the last answer ended is not for this one
        for which in request["which"]:
            try:
                done = chat.answer(request["prompt"], which, request["temperature"], request["max_new_tokens"],
                                   on_text=lambda text, w=which: out.send({"event": "token", "which": w,
                                                                           "text": text}),
                                   should_stop=stop.is_set)
            except UserError as err:
                out.send({"event": "error", "message": _first(str(err))})
                break
            except Exception as err:  # noqa: BLE001  one failed answer (out of memory, a template error) is said
                import traceback

                traceback.print_exc()
                out.send({"event": "error", "message": f"the {which} model could not answer: {_one_line(err)}"})
                break
            out.send(dict({"event": "done", "which": which}, **done))
            if done["stopped"]:
                break


def _first(text: str) -> str:
    return " ".join(text.split())[:1000]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.tools.chat",
                                     description="the chat server of a run's model (JSON lines on stdin/stdout)")
    parser.add_argument("run", help="the run folder")
    parser.add_argument("--serve", action="store_true", help="answer JSON-line requests on stdin (required)")
    parser.add_argument("--checkpoint", help="final (default), best or checkpoint-N")
    parser.add_argument("--no-base", action="store_true",
                        help="do not load the base model (a full fine-tuning run's second model)")
    args = parser.parse_args(argv)
    if not args.serve:
        parser.error("give --serve (the command for people is `training-console chat RUN`)")
    try:
        return serve(args.run, args.checkpoint, with_base=not args.no_base)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0


if __name__ == "__main__":
    sys.exit(main())
