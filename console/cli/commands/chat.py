"""`training-console chat RUN [--base] [--checkpoint final|best|checkpoint-N] [--temperature T]
[--max-new-tokens N] [--prompt TEXT]`

Answers prompts with the run's model (console.tools.chat, in this process): `--prompt` answers one and exits; otherwise
each line read from stdin is a prompt (typed, or piped: `echo hi | training-console chat RUN`). The answer is
streamed to stdout as it is generated; with `--base` the base model answers first, and each answer is labelled.
What was loaded, each piped prompt, and each answer's tokens, time and whether it ended go to stderr: stdout holds the
answers only.
"""
from __future__ import annotations

import sys

from console.cli.args import add_runs_dir

COMMAND = "chat"


def add_parser(sub) -> None:
    p = sub.add_parser(COMMAND, help="answer prompts with a run's model (and its base model with --base)")
    add_runs_dir(p)
    p.add_argument("run", nargs="?", default="latest", help="a run id, a unique part of one, latest (default) or a "
                                                          "run folder's path")
    p.add_argument("--base", action="store_true", help="the base model answers too, first (labelled)")
    p.add_argument("--checkpoint", metavar="WHICH",
                   help="final (default: the final model, else the newest checkpoint), best, or checkpoint-N")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T",
                   help="sampling temperature (default 0: greedy, the same answer every time)")
    p.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="the longest answer, in tokens (default 256)")
    p.add_argument("--prompt", help="answer this prompt and exit (else: one prompt per line from stdin)")


def run(args) -> int:
    from console.common.errors import UserError
    from console.common.safe_text import printable
    from console.runs.rundir import find_run
    from console.tools.chat import load_chat
    from console.tools.chat_plan import DEFAULT_MAX_NEW_TOKENS, MAX_NEW_TOKENS_LIMIT, plan_chat, prompt_problem
    from console.trainer.quiet import quiet_libraries

    temperature = args.temperature
    if not 0 <= temperature <= 5:  # NaN too
        raise UserError(f"--temperature {temperature}: a number from 0 (greedy) to 5")
    max_new = DEFAULT_MAX_NEW_TOKENS if args.max_new_tokens is None else args.max_new_tokens
    if not 1 <= max_new <= MAX_NEW_TOKENS_LIMIT:
        raise UserError(f"--max-new-tokens {max_new}: a whole number from 1 to {MAX_NEW_TOKENS_LIMIT}")
    if args.prompt is not None and not args.prompt.strip():
        raise UserError("--prompt is empty: give the text to answer")
    if args.prompt is not None:
        problem = prompt_problem(args.prompt)
        if problem:
            raise UserError(f"--prompt {problem}")
    run_dir = find_run(args.runs_dir, args.run)
    plan = plan_chat(run_dir, args.checkpoint)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"loading {run_dir.id}: {plan.label}, {plan.method} on {plan.base_name}...")
    quiet_libraries()
    chat = load_chat(run_dir, args.checkpoint, with_base=args.base, plan=plan)
    for note in chat.plan.notes:
        say(f"note: {note}")
    mode = "greedy" if temperature == 0 else f"temperature {temperature:g}"
    say(f"loaded in {chat.seconds:.1f} s on {chat.device}; prompts go {chat.layout}; {mode}, at most {max_new} new "
        f"tokens; each prompt is answered on its own (no history)")
    which = ["base", "tuned"] if args.base else ["tuned"]

    def answer(prompt: str) -> None:
        for name in which:
            if args.base:
                print(f"[{name}]", flush=True)
            done = chat.answer(prompt, name, temperature, max_new,
                               on_text=lambda text: (sys.stdout.write(text), sys.stdout.flush()))
            print(flush=True)
            say(f"({name}: {done['tokens']} tokens in {done['seconds']:.2f} s"
                f"{_rate(done)}, {'ended' if done['ended'] else 'no end token: cut at --max-new-tokens'})")

    if args.prompt is not None:
        answer(args.prompt)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        say("type a prompt and Enter; an empty line does nothing, Ctrl-D ends")
    refused = 0
    for number, prompt, problem in _prompts(sys.stdin.buffer, interactive):
        if problem:  # said and skipped: the other prompts are answered; the exit status says one was refused
            refused += 1
            say(f"error: the prompt {'' if interactive else f'on line {number} '}{problem}")
            continue
        if prompt.strip():
            if not interactive:  # piped: each answer under its prompt on the terminal (stdout keeps answers only)
                say(f"> {printable(prompt)}")
            answer(prompt)
    if interactive:
        say("")  # Ctrl-D: the shell's prompt on a line of its own
    return 2 if refused else 0


def _prompts(stream, interactive: bool):
    """(line number, prompt, problem) for each line of a binary stream, read with the server's bound
    (chat_plan.MAX_PROMPT_CHARS): a longer line is read on to its end in bounded pieces and refused (a 1.2 MB piped
    prompt ran 300 s at 3 GB with no answer), and a line that is not UTF-8 is refused (it was a traceback). The
    text decoder of sys.stdin has neither bound, so the bytes are read here."""
    from console.tools.chat_plan import MAX_PROMPT_CHARS, prompt_problem

    limit = MAX_PROMPT_CHARS * 4 + 1  # UTF-8: at most 4 bytes a character
    number = 0
    while True:
        if interactive:
            sys.stderr.write("> ")
            sys.stderr.flush()
        raw = stream.readline(limit)
        if not raw:
            return
        number += 1
        if len(raw) == limit and not raw.endswith(b"\n"):
            size = len(raw)
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(1 << 20)
                size += len(raw)
            yield number, "", f"is {size} bytes long, more than a prompt may be (at most {MAX_PROMPT_CHARS} characters)"
            continue
        try:
            text = raw.decode("utf-8").rstrip("\n").removesuffix("\r")
        except UnicodeDecodeError as err:
            yield number, "", (f"is not UTF-8 text (a bad byte at position {err.start}): convert the input to "
                               f"UTF-8 (e.g. iconv -f latin1 -t utf-8)")
            continue
        yield number, text, prompt_problem(text) if text.strip() else None


def _rate(done: dict) -> str:
    return f", {done['tokens'] / done['seconds']:.1f} tokens/s" if done["seconds"] > 0 and done["tokens"] else ""
