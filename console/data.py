"""Datasets: local files or folders and Hub names, in three formats, checked with clear messages.

`preflight()` is light (no `datasets` import) and runs before launch so that a wrong path, a malformed line or a
missing column is said at once; `prepare()` runs in the trainer and builds the tokenised splits.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from console.errors import DataError

LOADERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
FORMATS = ("text", "instruction", "chat")


def detect_format(columns: list[str], wanted: str = "auto", text_column: str | None = None) -> str:
    """text / instruction / chat from the columns, or a DataError listing the columns found."""
    cols = set(columns)
    if wanted != "auto":
        needed = {"text": [text_column or "text"], "instruction": ["instruction", "output"], "chat": ["messages"]}
        missing = [c for c in needed[wanted] if c not in cols]
        if missing:
            raise DataError(f"dataset_format is {wanted!r} but the dataset has no column {', '.join(missing)}; "
                            f"columns found: {', '.join(columns) or 'none'}. Set dataset_format/text_column to "
                            f"match, or leave dataset_format at auto.")
        return wanted
    if "messages" in cols:
        return "chat"
    if "instruction" in cols and ("output" in cols or "response" in cols):
        return "instruction"
    if (text_column or "text") in cols:
        return "text"
    raise DataError(f"no usable column: columns found: {', '.join(columns) or 'none'}. Expected 'text' (plain text), "
                    f"'instruction' + 'output' (instruction format) or 'messages' (chat); or set text_column to the "
                    f"column that holds the text.")


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
                if suffix == ".json" and head == "[":
                    try:
                        data = json.load(f)
                    except ValueError as err:
                        raise DataError(f"{path} is not valid JSON: {err}. Fix the file and try again.") from None
                    rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
                    return (list(rows[0]) if rows else []), len(rows)
                columns, n = [], 0
                for lineno, line in enumerate(f, 1):
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
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                rows = sum(1 for _ in reader)
                return list(reader.fieldnames or []), rows
        if suffix == ".txt":
            with open(path, encoding="utf-8") as f:
                return ["text"], sum(1 for line in f if line.strip())
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (bad byte at position {err.start}): convert it to UTF-8, "
                        f"e.g. `iconv -f latin1 -t utf-8`.") from None
    return [], -1  # parquet: checked by the trainer


def preflight(dataset: str | None, dataset_format: str = "auto", text_column: str | None = None) -> str:
    """Check a dataset before launch; returns a one-line description. Hub names are checked by the trainer."""
    if not dataset:
        from console.demo_model import demo_dataset_path

        dataset = str(demo_dataset_path())
    path = Path(dataset).expanduser()
    if not path.exists():
        if _looks_like_hub_name(dataset):
            return f"Hub dataset {dataset} (loaded by the trainer)"
        raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                        f"or a Hub dataset name (org/name)")
    total = 0
    columns: list[str] = []
    for file in _local_files(path):
        cols, rows = _sample_rows(file)
        if rows == 0:
            continue
        total += max(rows, 0)
        columns = columns or cols
    if total == 0 and not any(f.suffix.lower() == ".parquet" for f in _local_files(path)):
        raise DataError(f"dataset {dataset} is empty: it holds no rows")
    if columns:
        fmt = detect_format(columns, dataset_format, text_column)
        return f"{path.name}: {total} rows, {fmt} format (columns: {', '.join(columns)})"
    return f"{path.name}"


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
    if path.exists():
        if not (path / "config.json").exists():
            raise DataError(f"model folder {path} has no config.json: point --model at a folder saved with "
                            f"save_pretrained(), or give a Hub name (org/model)")
        return f"local model {path}"
    if model.startswith((".", "/", "~")) or not _looks_like_hub_name(model):
        raise DataError(f"model {model} not found: give a local folder or a Hub name (org/model)")
    return f"Hub model {model}"


# -- in the trainer (imports datasets) -----------------------------------------------------------------------

def load_raw(dataset: str | None):
    """A DatasetDict from a local file/folder or the Hub."""
    import datasets

    if not dataset:
        from console.demo_model import demo_dataset_path

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
            split = ("validation" if stem in ("validation", "valid", "val", "eval", "dev")
                     else "test" if stem == "test" else "train")
            split_files.setdefault(split, []).append(str(f))
        return datasets.load_dataset(kinds.pop(), data_files=split_files)
    if not _looks_like_hub_name(dataset):
        raise DataError(f"dataset {dataset} not found: give a local .jsonl/.json/.csv/.parquet/.txt file or folder, "
                        f"or a Hub dataset name (org/name)")
    try:
        return datasets.load_dataset(dataset)
    except Exception as err:  # not found, private, or no network: one clear line, the traceback in train.log
        raise DataError(f"cannot load the Hub dataset {dataset}: {type(err).__name__}: "
                        f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err


def render_row(row: dict, fmt: str, tokenizer, text_column: str | None = None) -> str:
    if fmt == "text":
        return str(row.get(text_column or "text") or "")
    if fmt == "instruction":
        instruction = str(row.get("instruction") or "")
        extra = str(row.get("input") or "")
        output = str(row.get("output") if row.get("output") is not None else row.get("response") or "")
        prompt = f"### Instruction:\n{instruction}\n\n"
        if extra:
            prompt += f"### Input:\n{extra}\n\n"
        return prompt + f"### Response:\n{output}" + (tokenizer.eos_token or "")
    messages = row.get("messages") or []
    if getattr(tokenizer, "chat_template", None):
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False)
        except Exception:  # a template that rejects these messages: fall back to the plain form
            pass
    return "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in messages) + (tokenizer.eos_token or "")


def prepare(values: dict, tokenizer, need_eval: bool, seed: int = 42):
    """(train, eval or None, description): tokenised datasets ready for the Trainer."""
    raw = load_raw(values.get("dataset"))
    train_split = raw["train"] if "train" in raw else raw[next(iter(raw))]
    eval_split = next((raw[s] for s in ("validation", "eval", "test") if s in raw and s != "train"), None)
    if len(train_split) == 0:
        raise DataError(f"dataset {values.get('dataset') or 'demo'} is empty: it holds no rows")
    fmt = detect_format(list(train_split.column_names), values.get("dataset_format", "auto"),
                        values.get("text_column"))
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
    max_len = int(values.get("max_seq_length") or 256)
    text_column = values.get("text_column")

    def tokenize(batch):
        rows = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
        texts = [render_row(r, fmt, tokenizer, text_column) for r in rows]
        return tokenizer(texts, truncation=True, max_length=max_len)

    def build(split):
        out = split.map(tokenize, batched=True, remove_columns=split.column_names, desc=None)
        out = out.filter(lambda r: len(r["input_ids"]) > 1)
        return out

    train = build(train_split)
    if len(train) == 0:
        raise DataError("every training row is empty after formatting: check the text column")
    evaluation = build(eval_split) if (need_eval and eval_split is not None) else None
    desc = f"{len(train)} train / {len(evaluation) if evaluation is not None else 0} eval rows, {fmt} format"
    return train, evaluation, desc
