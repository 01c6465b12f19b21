"""Datasets: local files or folders and Hub names, in the formats of console.data.formats, checked with clear messages.

`preflight()` is light (no `datasets` import) and runs before launch so that a wrong path, a malformed line or a
missing column is said at once; `prepare()` runs in the trainer and turns the rows into TRL's records, which
SFTTrainer tokenises.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from console.common.errors import DataError, path_problem
from console.data.formats import RECORD_KEYS, detect_format, loss_on, parse_columns, record_kind, to_records

LOADERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
# One row (a JSONL line, a CSV field, a text line) longer than this is refused by the preflight: a 1 GB single-line
# file was read whole (6 GB, then an abort). 16 MiB of text is millions of tokens, far past any max_length.
MAX_ROW_CHARS = 16 * 2**20


MAX_JSON_ARRAY_BYTES = 256 * 2**20  # a JSON array file is parsed whole by the preflight only up to this size


def _exists(path: Path, what: str) -> bool:
    """Path.exists() that turns an OSError other than "not there" (a name over 255 bytes, a permission, a loop
    of links) into one line: it was a traceback in six commands and a silent nothing in the editor."""
    try:
        path.stat()
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as err:
        raise DataError(path_problem(err, what)) from None


def _lines(f, path: Path):
    """(line number, line) of a text file, each line read with a bound (MAX_ROW_CHARS)."""
    lineno = 0
    while True:
        line = f.readline(MAX_ROW_CHARS + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_ROW_CHARS:
            raise DataError(f"{path}, line {lineno}: longer than {MAX_ROW_CHARS // 2**20} MiB (one row per line is "
                            f"expected; is this a JSON array or minified file? Save it as JSONL, one object per line)")
        yield lineno, line


def _local_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOADERS)
    if not files:
        raise DataError(f"the folder {path} holds no .json/.jsonl/.csv/.parquet/.txt file")
    return files


def _sample_rows(path: Path, limit: int = 50) -> tuple[list[str], int]:
    """(columns, rows seen) from the start of a local file, with line-exact messages for malformed input."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            with open(path, encoding="utf-8") as f:
                head = f.read(1)
                f.seek(0)
                if suffix == ".json" and head == "[" and path.stat().st_size > MAX_JSON_ARRAY_BYTES:
                    return [], -1  # too big to parse here in bounded memory: the trainer's loader checks it
                if suffix == ".json" and head == "[":
                    try:
                        data = json.load(f)
                    except ValueError as err:
                        raise DataError(f"{path} is not valid JSON: {err}. Fix the file and try again.") from None
                    rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
                    return (list(rows[0]) if rows else []), len(rows)
                columns, n = [], 0
                for lineno, line in _lines(f, path):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError as err:
                        raise DataError(f"{path}, line {lineno}: malformed JSON ({err.msg}). Fix or remove that "
                                        f"line.") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}, line {lineno}: expected a JSON object ({{\"text\": ...}}), got "
                                        f"{type(row).__name__}")
                    for key in row:
                        if key not in columns:
                            columns.append(key)
                    n += 1
                return columns, n
        if suffix == ".csv":
            limit = csv.field_size_limit()
            csv.field_size_limit(MAX_ROW_CHARS)  # csv's own 128 KiB default refused long texts with a traceback
            try:
                with open(path, encoding="utf-8", newline="") as f:
                    reader = csv.DictReader(f)
                    rows = sum(1 for _ in reader)
                    return list(reader.fieldnames or []), rows
            except csv.Error as err:
                raise DataError(f"{path}, line {reader.line_num}: {err} (the limit is {MAX_ROW_CHARS // 2**20} "
                                f"MiB per field). Fix that line.") from None
            finally:
                csv.field_size_limit(limit)
        if suffix == ".txt":
            with open(path, encoding="utf-8") as f:
                return ["text"], sum(1 for _, line in _lines(f, path) if line.strip())
    except OSError as err:
        raise DataError(path_problem(err, "dataset file")) from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (bad byte at position {err.start}): convert it to UTF-8, "
                        f"e.g. `iconv -f latin1 -t utf-8`.") from None
    return [], -1  # parquet: checked by the trainer


def preflight(dataset: str | None, dataset_format: str = "auto", text_column: str | None = None,
              columns=None) -> str:
    """Check a dataset before launch; returns a one-line description. Hub names are checked by the trainer."""
    mapping = parse_columns(columns)
    if not dataset:
        from console.data.demo import demo_dataset_path

        dataset = str(demo_dataset_path())
    path = Path(dataset).expanduser()
    if not check_dataset_path(dataset):
        return f"Hub dataset {dataset} (loaded by the trainer)"
    total = 0
    found: list[str] = []
    for file in _local_files(path):
        cols, rows = _sample_rows(file)
        if rows == 0:
            continue
        total += max(rows, 0)
        found = found or cols
    if total == 0 and not any(f.suffix.lower() == ".parquet" for f in _local_files(path)):
        raise DataError(f"dataset {dataset} is empty: it holds no rows")
    if found:
        fmt = detect_format(found, dataset_format, text_column, mapping)
        return f"{path.name}: {total} rows, {fmt} format (columns: {', '.join(found)})"
    return f"{path.name}"


def check_dataset_path(dataset: str | None) -> bool:
    """True for a local dataset (file or folder) that exists, False for a Hub name; DataError in one line for a
    local path that does not exist. Cheap: reads no rows (the trainer runs it before loading its libraries)."""
    if not dataset:
        return True  # the built-in demo dataset
    if _exists(Path(dataset).expanduser(), "dataset"):
        return True
    if _looks_like_hub_name(dataset):
        return False
    raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                    f"or a Hub dataset name (org/name)")


def check_inputs(values: dict) -> tuple[str, str]:
    """(model, data) descriptions after checking both before launch; the one check both front ends run (the run's
    trackers and scale too)."""
    from console.machine.load_checks import check_model_loading
    from console.machine.scale import check_scale
    from console.machine.trackers import check_trackers

    check_trackers(values.get("report_to"))  # report_to's packages installed (console/machine/trackers.py)
    check_scale(values)  # accelerate_config and the machines (console/machine/scale.py)
    model = check_model_path(values.get("model"))
    # attn_implementation, revision, chat_template, load_in_8bit (console/machine/load_checks.py)
    check_model_loading(values)
    return model, preflight(
        values.get("dataset"), values.get("dataset_format", "auto"), values.get("text_column"), values.get("columns"))


def _looks_like_hub_name(name: str) -> bool:
    if name.startswith(("/", ".", "~")):
        return False
    parts = name.split("/")
    return len(parts) <= 2 and all(p and not p.startswith(".") for p in parts) and not name.endswith(
        tuple(LOADERS))


def check_model_path(model: str | None) -> str:
    """A local model folder must exist and hold a config.json; a Hub name is left to the trainer."""
    if not model:
        return "built-in demo model"
    path = Path(model).expanduser()
    if _exists(path, "model"):
        if not _exists(path / "config.json", "model"):
            raise DataError(f"model folder {path} has no config.json: point --model at a folder saved with "
                            f"save_pretrained(), or give a Hub name (org/model)")
        return f"local model {path}"
    if model.startswith((".", "/", "~")) or not _looks_like_hub_name(model):
        raise DataError(f"model {model} not found: give a local folder or a Hub name (org/model)")
    return f"Hub model {model}"


# -- in the trainer (imports datasets) -----------------------------------------------------------------------

def load_raw(dataset: str | None, config_name: str | None = None, split: str | None = None):
    """A DatasetDict from a local file/folder or the Hub (with its configuration/subset and training split)."""
    import datasets

    if not dataset:
        from console.data.demo import demo_dataset_path

        dataset = str(demo_dataset_path())
    path = Path(dataset).expanduser()
    if path.exists():
        files = _local_files(path)
        kinds = {LOADERS[f.suffix.lower()] for f in files}
        if len(kinds) > 1:
            raise DataError(f"{path} mixes file types ({', '.join(sorted(kinds))}): keep one kind per dataset")
        split_files: dict[str, list[str]] = {}
        for f in files:
            stem = f.stem.lower()
            name = ("validation" if stem in ("validation", "valid", "val", "eval", "dev")
                    else "test" if stem == "test" else "train")
            split_files.setdefault(name, []).append(str(f))
        return datasets.load_dataset(kinds.pop(), data_files=split_files)
    if not _looks_like_hub_name(dataset):
        raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                        f"or a Hub dataset name (org/name)")
    try:
        loaded = datasets.load_dataset(dataset, config_name)
    except Exception as err:  # not found, private, or no network: one clear line, the traceback in train.log
        raise DataError(f"cannot load the Hub dataset {dataset}: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err
    if split:
        if split not in loaded:
            raise DataError(f"the Hub dataset {dataset} has no split {split!r}; its splits: {', '.join(loaded)}")
        loaded = datasets.DatasetDict({"train": loaded[split], **{k: v for k, v in loaded.items() if k in (
            "validation", "eval", "test") and k != split}})
    return loaded


def _rename(split, mapping: dict[str, str]):
    """The user's column mapping applied: each named column takes the name its format reads."""
    renames = {column: name for name, column in mapping.items() if column in split.column_names and column != name}
    clashes = [name for name in renames.values() if name in split.column_names]
    if clashes:  # the format's own column already exists: the mapped one replaces it
        split = split.remove_columns(clashes)
    return split.rename_columns(renames) if renames else split


def prepare(values: dict, tokenizer, need_eval: bool, seed: int = 42):
    """(train, eval or None, PreparedData): the splits as TRL records, ready for SFTTrainer to tokenise."""

    raw = load_raw(values.get("dataset"), values.get("dataset_config"), values.get("dataset_split"))
    train_split = raw["train"] if "train" in raw else raw[next(iter(raw))]
    eval_split = next((raw[s] for s in ("validation", "eval", "test") if s in raw and s != "train"), None)
    if len(train_split) == 0:
        raise DataError(f"dataset {values.get('dataset') or 'demo'} is empty: it holds no rows")
    mapping = parse_columns(values.get("columns"))
    train_split = _rename(train_split, mapping)
    eval_split = _rename(eval_split, mapping) if eval_split is not None else None
    text_column = values.get("text_column")
    fmt = detect_format(list(train_split.column_names), values.get("dataset_format", "auto"), text_column)
    if need_eval and eval_split is None:
        val_size = values.get("val_size") or 0.1
        if len(train_split) < 4:
            raise DataError(f"only {len(train_split)} rows: too few to hold out an evaluation split; add data or "
                            f"set eval_strategy=no")
        parts = train_split.train_test_split(test_size=val_size, seed=seed)
        train_split, eval_split = parts["train"], parts["test"]
    max_samples = values.get("max_samples")
    if max_samples:
        train_split = train_split.select(range(min(max_samples, len(train_split))))
    template = bool(getattr(tokenizer, "chat_template", None)) and values.get("use_chat_template", True) is not False
    if values.get("chat_template"):
        check_template_renders(tokenizer)
    train_on_prompt = bool(values.get("train_on_prompt"))
    options = dict(chat_template=template, train_on_prompt=train_on_prompt, text_column=text_column)

    keys = RECORD_KEYS[record_kind(fmt, template, train_on_prompt)]

    def convert(batch):
        rows = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
        records = [rec for row in rows for rec in to_records(row, fmt, **options)]
        return {k: [r[k] for r in records] for k in keys}  # empty lists, not {}, for a batch with no example

    def build(split):
        out = split.map(convert, batched=True, remove_columns=split.column_names)
        if keys == ["text"]:
            out = out.filter(lambda r: bool(r["text"].strip()))
        return out

    train = build(train_split)
    if len(train) == 0:
        raise DataError(f"no training example left after formatting the {fmt} rows: check the columns "
                        f"({', '.join(train_split.column_names)}); a chat needs at least one assistant turn")
    evaluation = build(eval_split) if (need_eval and eval_split is not None) else None
    if evaluation is not None and len(evaluation) == 0:
        evaluation = None
    skipped = 0
    if fmt in ("chat", "sharegpt"):  # rows whose conversation has no answer to a question give no example
        column = "messages" if fmt == "chat" else "conversations"
        skipped = sum(1 for turns in train_split[column]
                      if not to_records({column: turns}, fmt, **options))
    info = PreparedData(fmt=fmt, rows=len(train_split), examples=len(train), skipped=skipped,
                        eval_examples=len(evaluation) if evaluation is not None else 0,
                        chat_template=template, loss_on=loss_on(fmt, train_on_prompt))
    return train, evaluation, info


def check_template_renders(tokenizer) -> None:
    """The run's own chat_template rendered once on a two-turn conversation: a Jinja mistake is one line here,
    not a traceback from deep inside TRL's tokenisation."""
    conversation = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hello."}]
    try:
        tokenizer.apply_chat_template(conversation, tokenize=False)
    except Exception as err:  # noqa: BLE001  jinja2's TemplateSyntaxError/UndefinedError, transformers' own
        where = f" (line {err.lineno})" if getattr(err, "lineno", None) else ""
        text = str(err).strip().splitlines()
        raise DataError(f"chat_template does not render{where}: {type(err).__name__}: "
                        f"{text[0][:200] if text else ''}; fix the template") from None


@dataclass
class PreparedData:
    """What prepare() made of the dataset, for the trainer's log and status."""

    fmt: str
    rows: int
    examples: int  # training records (a multi-turn chat gives one per answer)
    eval_examples: int
    skipped: int  # training rows that gave no example (a conversation without an answer to a question)
    chat_template: bool
    loss_on: str

    def describe(self) -> str:
        per = f" ({self.examples} examples)" if self.examples != self.rows else ""
        layout = ", through the chat template" if self.chat_template and self.fmt != "text" else ""
        skipped = f"; {self.skipped} rows without an answer to a question skipped" if self.skipped else ""
        return (f"{self.rows} train{per} / {self.eval_examples} eval rows, {self.fmt} format{layout}; "
                f"loss on {self.loss_on}{skipped}")
