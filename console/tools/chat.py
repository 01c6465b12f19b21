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

The light part (choosing what to load, laying out a prompt, reading a request) is console.tools.chat_plan, which
the console's own process imports; this module imports torch,
transformers and peft inside the functions that need them.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time

from console.common.errors import RunError, UserError, first_line
from console.runs.rundir import RunDir
from console.tools.chat_plan import (
    DEFAULT_MAX_NEW_TOKENS,
    MAX_PROMPT_CHARS,
    WHICH,
    ChatPlan,
    format_prompt,
    parse_request,
    plan_chat,
    prompt_layout,
)
from console.trainer.lean_imports import leave_out_bitsandbytes
from console.trainer.quiet import quiet_libraries

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
                               f"{first_line(err, with_type=True)}") from None
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


def load_chat(run: RunDir, checkpoint: str | None = None, with_base: bool = True, plan: ChatPlan | None = None,
              tries: int = 3) -> Chat:
    """The run's model loaded for chat, as planned by plan_chat (or `plan`). A run still training deletes its older
    checkpoints as it saves new ones (save_total_limit): when the folder being loaded is gone after a failed load,
    the newest checkpoint is planned and loaded again (said in the plan's notes), up to `tries` times; a checkpoint
    the user named (checkpoint-N) is named in one line instead. Loading raced that rotation with a traceback."""
    plan = plan or plan_chat(run, checkpoint)
    named = (checkpoint or "").strip() not in ("", "final", "model", "model/", "best")
    for attempt in range(tries):
        try:
            return Chat(plan, with_base=with_base)
        except Exception:
            if plan.folder.exists():
                raise
            gone = plan.folder.name
            if named or attempt == tries - 1:
                raise RunError(f"{gone} of {run.id} was deleted while it was loading (the run keeps save_total_limit "
                               f"checkpoints and removes the oldest as it saves): try again, or give --checkpoint "
                               f"best or final") from None
            notes = plan.notes
            plan = plan_chat(run, checkpoint)
            plan.notes[:0] = notes + [f"{gone} was deleted while it was loading (the run rotates its checkpoints): "
                                      f"{plan.label} was loaded instead"]
    raise AssertionError("unreachable")  # the loop returns or raises


# -- the child-process server ----------------------------------------------------------------------------------------


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
    # bytes (bounded lines, bad UTF-8 replaced, not fatal), through a reader of our own on a copy of fd 0: a daemon
    # thread blocked in sys.stdin.buffer holds its lock, and the interpreter aborted at exit (SIGABRT) reclaiming it
    stdin = stdin if stdin is not None else os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    requests: queue.Queue = queue.Queue()
    stop = threading.Event()  # set by a stop request: the answer being generated ends

    def lines():
        """stdin's lines as text, each read with a bound (a request's JSON: its prompt escaped, and its fields); a
        longer one is read on to its end and given as a UserError, which the loop answers with an error event."""
        limit = 8 * MAX_PROMPT_CHARS + 4096
        while True:
            try:
                line = stdin.readline(limit)
            except (OSError, ValueError):  # closed under us
                return
            if not line:
                return
            if len(line) == limit and not line.endswith(b"\n" if isinstance(line, bytes) else "\n"):
                while line and not line.endswith(b"\n" if isinstance(line, bytes) else "\n"):
                    line = stdin.readline(1 << 20)
                yield UserError(f"a request line is longer than {limit} characters: the prompt may hold at most "
                                f"{MAX_PROMPT_CHARS}")
                continue
            yield line.decode("utf-8", "replace") if isinstance(line, bytes) else line

    def read() -> None:
        for line in lines():
            if isinstance(line, UserError):
                requests.put(line)
                continue
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
        chat = load_chat(plan.run, checkpoint, with_base=with_base, plan=plan)
    except UserError as err:
        out.send({"event": "error", "message": _first(str(err)), "fatal": True})
        return 1
    except Exception as err:  # noqa: BLE001  the screen shows one line; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        out.send({"event": "error", "message": f"the model could not be loaded: {first_line(err, with_type=True)}",
                  "fatal": True})
        return 1
    out.send(chat.ready_event())
    while True:
        line = requests.get()
        if line is None:
            return 0
        try:
            if isinstance(line, UserError):
                raise line
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
                why = first_line(err, with_type=True)
                out.send({"event": "error", "message": f"the {which} model could not answer: {why}"})
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
