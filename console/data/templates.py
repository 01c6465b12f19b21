"""What a model's chat template does with the turns a dataset holds, checked before launch (pure Python + jinja2,
no transformers: the console's own process runs it) and again by the trainer on the tokenizer it loaded.

Two ways a template breaks training without failing:
- it cannot render a role the data holds (Gemma-2 and Mistral v0.1 raise on a system turn): the run failed after the
  model had loaded, with the template's own words ("roles must alternate");
- it moves text between turns (Mistral v0.3 / Nemo put the system text into the *last* user turn): the prompt
  rendered alone is not the start of the prompt rendered with its answer, so the answer-only loss mask lands on
  the question and the system text is in no example. TRL only warns in train.log.
Both are refused in one line that names the role and what to do.

Rendering follows transformers' own chat-template environment (a sandboxed jinja2 with trim_blocks, lstrip_blocks,
loopcontrols, raise_exception, tojson); `{% generation %}` markers (training templates) are dropped here, as they
only mark spans.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from console.common.bounded_read import read_json, read_text
from console.common.errors import DataError

_GENERATION = re.compile(r"{%-?\s*(end)?generation\s*-?%}")
MAX_TEMPLATE_FILE = 4 * 2**20  # a tokenizer_config.json of a real model is at most a few hundred KiB

# A probe conversation per role the data may hold: the role's turn where data puts it.
_PROBES = {
    "system": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
               {"role": "assistant", "content": "Hello."}],
    "tool": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Looking."},
             {"role": "tool", "content": "42"}, {"role": "assistant", "content": "It is 42."}],
}


class TemplateFailed(Exception):
    """The template raised (raise_exception or a Jinja error) while rendering."""


@lru_cache(maxsize=16)
def _compiled(text: str):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateFailed(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda x, indent=None, separators=None, sort_keys=False, ensure_ascii=False: json.dumps(
        x, indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: "26 Jul 2024"
    try:
        return env.from_string(_GENERATION.sub("", text))
    except jinja2.TemplateError as err:
        raise DataError(f"the chat template does not parse: {type(err).__name__}: {err}") from None
    except RecursionError:  # jinja2 parses and compiles recursively: 5000 nested parentheses overflowed it
        raise DataError("the chat template is nested too deeply for Jinja to parse: fix the template") from None


def render(text: str, messages: list[dict], *, bos: str = "", eos: str = "", add_generation_prompt: bool = False,
           **extra) -> str:
    """The template rendered as transformers renders it; TemplateFailed with the template's words."""
    import jinja2

    try:
        return _compiled(text).render(messages=messages, bos_token=bos, eos_token=eos,
                                      add_generation_prompt=add_generation_prompt, **extra)
    except TemplateFailed:
        raise
    except (jinja2.TemplateError, TypeError, KeyError, IndexError, AttributeError) as err:
        raise TemplateFailed(f"{type(err).__name__}: {err}") from None
    except RecursionError:  # a template calling a macro within itself without end
        raise TemplateFailed("the template recursed without end") from None


def role_problem(text: str, roles, *, bos: str = "", eos: str = "") -> str | None:
    """One line when the template cannot render a role the data holds (which role, the template's words, what to
    do); None when it renders them all."""
    for role in sorted(set(roles) & set(_PROBES)):
        try:
            render(text, _PROBES[role], bos=bos, eos=eos)
        except TemplateFailed as err:
            fix = ("fold the system text into the first user turn, or remove the system turns"
                   if role == "system" else f"remove the {role} turns, or use a model whose template has them")
            return (f"the model's chat template cannot render a {role!r} turn, which the data holds (it says: "
                    f"{str(err)[:120]}): {fix}, or give a chat_template that renders it")
    return None


def moves_system_text(text: str, *, bos: str = "", eos: str = "") -> bool:
    """True when the prompt rendered alone is not the start of the prompt rendered with its answer for a
    conversation with a system turn and two questions: the template moves text between turns (Mistral v0.3's
    system text goes into the last user turn), so an answer-only mask would land on the wrong tokens."""
    prompt = [{"role": "system", "content": "SYSTEM-TEXT"}, {"role": "user", "content": "First?"},
              {"role": "assistant", "content": "One."}, {"role": "user", "content": "Second?"}]
    try:
        alone = render(text, prompt, bos=bos, eos=eos, add_generation_prompt=True)
        whole = render(text, prompt + [{"role": "assistant", "content": "Two."}], bos=bos, eos=eos)
    except TemplateFailed:
        return False  # a system turn it cannot render at all: role_problem says so
    return not whole.startswith(alone)


MOVES_SYSTEM = ("the model's chat template moves the system text into the last user turn (Mistral v0.3 / Nemo "
                "style): rendered without its answer, a prompt is not the start of the same prompt with it, so the "
                "loss cannot be put on the answers alone; remove the system turns (or put their text in the first "
                "user turn), give a chat_template that keeps the system turn first, or set train_on_prompt=true")


def check_roles(text: str | None, roles, *, bos: str = "", eos: str = "", train_on_prompt: bool = False) -> None:
    """DataError in one line when the template cannot render a role the data holds, or (answer-only loss) moves the
    system text the data holds."""
    if not text:
        return
    problem = role_problem(text, roles, bos=bos, eos=eos)
    if problem:
        raise DataError(problem)
    if "system" in roles and not train_on_prompt and moves_system_text(text, bos=bos, eos=eos):
        raise DataError(MOVES_SYSTEM)


def _token(value) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def model_template(model: str | None) -> tuple[str, str, str] | None:
    """(chat template, bos, eos) of a local model folder, read from its tokenizer files without transformers; None
    for a Hub name, a folder without a template, or files this light reader cannot read (the trainer checks)."""
    if not model:
        from console.data.demo import BOS, CHAT_TEMPLATE, EOS

        return CHAT_TEMPLATE, BOS, EOS
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return None
    config: dict = {}
    try:
        # regular files only, bounded (a FIFO or a link to /dev/zero in a model folder must not hang the preflight)
        path = folder / "tokenizer_config.json"
        if path.exists():
            config = read_json(path, MAX_TEMPLATE_FILE)
        template = config.get("chat_template") if isinstance(config, dict) else None
        jinja = folder / "chat_template.jinja"
        if jinja.exists():
            template = read_text(jinja, MAX_TEMPLATE_FILE)
    except (OSError, ValueError):
        return None
    if isinstance(template, list):  # named templates: the default one
        template = next((t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"),
                        None)
    if not isinstance(template, str) or not template.strip():
        return None
    return template, _token(config.get("bos_token")), _token(config.get("eos_token"))
