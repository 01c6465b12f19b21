"""Pre-launch checks of the model-loading settings (attn_implementation, revision, chat_template, load_in_8bit).

Run by console.loop.preflight.check_inputs, the one check both front ends run before a launch, so it stays light: no
torch or
transformers import (seconds each); installed packages are looked up with importlib.util.find_spec. Each problem is
one line (DataError) naming what to install or change; what only loading can tell (a kernel that does not build, a
revision that does not exist) is left to the trainer, which says it in one line too.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from console.common.bounded_read import FileTooLarge, NotARegularFile, read_text
from console.common.errors import DataError, first_line

MAX_TEMPLATE_BYTES = 4 * 2**20  # the longest real chat templates are tens of KiB

# transformers 5's own attention names (ALL_ATTENTION_FUNCTIONS plus eager); a Hub kernel is 'org/repo', with an
# optional '@revision' and ':function' (transformers.integrations.hub_kernels.is_kernel's pattern)
ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4", "flex_attention",
             "paged|eager")
_KERNEL = re.compile(r"^[^/:]+/[^/:]+(?:@[^/:]+)?(?::[^/:]+)?$")
# the module each flash-attention version imports (transformers' is_flash_attn_*_available) and its pip name
_FLASH = {"flash_attention_2": ("flash_attn", "flash-attn"),
          "flash_attention_3": ("flash_attn_interface", "flash-attn-3 (built from flash-attention's hopper/ folder)"),
          "flash_attention_4": ("flash_attn", "flash-attn-4")}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_attention(name: str | None, cuda: bool) -> None:
    if not name:
        return
    if name not in ATTENTION and not _KERNEL.match(name):
        raise DataError(f"attn_implementation {name!r} is not one transformers knows: use eager, sdpa, "
                        f"flash_attention_2, flash_attention_3, flex_attention or a kernels-hub name (org/repo)")
    if name in _FLASH:
        module, package = _FLASH[name]
        if not cuda:
            raise DataError(f"attn_implementation {name} needs a CUDA GPU and this run has none: use sdpa "
                            f"(--set attn_implementation=sdpa)")
        # transformers falls back to the Hub's build through the `kernels` package when flash-attn is missing
        if not installed(module) and not installed("kernels"):
            raise DataError(f"attn_implementation {name} needs the {package} package, which is not installed: "
                            f"pip install {package.split()[0]} (or kernels), or use sdpa")
    elif "/" in name and not installed("kernels"):
        raise DataError(f"attn_implementation {name} is a kernels-hub kernel: pip install kernels, or use sdpa")


def check_revision(revision: str | None, model: str | None) -> None:
    if not revision:
        return
    if not model:
        raise DataError("revision applies to Hub models; the built-in demo model is a local folder: remove revision")
    if Path(model).expanduser().exists():
        raise DataError(f"revision applies to Hub models; {model} is a local folder: remove revision")


def chat_template_text(value: str) -> str:
    """The Jinja template a chat_template value gives: the file's text when it names a .jinja/.j2 file, else the
    value itself. DataError in one line for a file that is not there or not readable."""
    value = str(value)
    if "\n" in value or "{" in value or not value.strip().endswith((".jinja", ".j2")):
        return value
    path = Path(value.strip()).expanduser()
    try:
        # bounded and regular files only: a FIFO hung the CLI and froze the console, a link to /dev/zero read
        # until MemoryError
        return read_text(path, MAX_TEMPLATE_BYTES, "chat_template file")
    except FileNotFoundError:
        raise DataError(f"chat_template file {path} not found: give the path of a .jinja file, or the template "
                        f"itself") from None
    except (NotARegularFile, FileTooLarge) as err:
        raise DataError(str(err)) from None
    except (OSError, ValueError) as err:
        raise DataError(f"chat_template file {path} cannot be read ({first_line(err)}): check the file") from None


def check_chat_template(text: str) -> None:
    """A template that is not Jinja (a name such as chatml or llama3, which other tools build in) or does not parse:
    one line before launch. Taken as the template, the name 'chatml' rendered every example as the word itself and
    the run failed later on "no example keeps an answer token: raise max_length", the wrong fix."""
    if "{{" not in text and "{%" not in text:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise DataError(f"chat_template {shown!r} is not a Jinja template (no {{{{ or {{% in it) nor a .jinja file: "
                        f"named templates of other tools (chatml, llama3, ...) are not built in; give the template "
                        f"text or a .jinja file, or leave chat_template empty to use the model's own")
    import jinja2  # small, and a dependency of transformers' own chat templates

    try:
        # the extension transformers' chat templates use ({% break %}, {% continue %})
        jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).parse(text)
    except jinja2.TemplateSyntaxError as err:
        raise DataError(f"chat_template is not valid Jinja (line {err.lineno}: {err.message}): fix the template"
                        ) from None
    except RecursionError:  # jinja2's parser recurses per nesting level: 5000 nested parentheses overflowed it
        raise DataError("chat_template is nested too deeply for Jinja to parse (brackets or blocks inside each other "
                        "thousands of levels deep): fix the template") from None


def _checks(values: dict) -> dict:
    """field -> its check over `values` (raises DataError in one line)."""
    cuda = not values.get("use_cpu")  # resolve() sets use_cpu on a machine without CUDA

    def eight_bit() -> None:
        if values.get("load_in_8bit") and not installed("bitsandbytes"):
            raise DataError("load_in_8bit needs bitsandbytes, which is not installed: pip install bitsandbytes")

    def template() -> None:
        if values.get("chat_template"):
            check_chat_template(chat_template_text(values["chat_template"]))

    def optimiser() -> None:
        # transformers imports these packages only when it builds the optimiser, after the model has loaded
        optim = str(values.get("optim") or "")
        for prefix, module, package in (("galore_", "galore_torch", "galore-torch"),
                                        ("apollo_", "apollo_torch", "apollo-torch")):
            if optim.startswith(prefix) and not installed(module):
                raise DataError(f"optim {optim} needs {module}, which is not installed: pip install {package}")

    def liger() -> None:
        if values.get("use_liger_kernel") and not installed("liger_kernel"):
            raise DataError("use_liger_kernel needs liger-kernel, which is not installed: pip install liger-kernel")

    return {"attn_implementation": lambda: check_attention(values.get("attn_implementation"), cuda),
            "revision": lambda: check_revision(values.get("revision"), values.get("model")),
            "chat_template": template, "load_in_8bit": eight_bit, "optim": optimiser, "use_liger_kernel": liger}


def check_model_loading(values: dict) -> None:
    """Every pre-launch problem of the model-loading settings, the first one as a DataError."""
    for check in _checks(values).values():
        check()


def field_problems(values: dict) -> dict[str, str]:
    """field -> its one-line problem, for every model-loading setting that would be refused at launch: the arguments
    screen marks the field while it is typed (flash_attention_2 on a machine without CUDA was refused only at F5)."""
    problems = {}
    for name, check in _checks(values).items():
        try:
            check()
        except DataError as err:
            problems[name] = str(err)
    return problems
