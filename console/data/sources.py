"""A run's datasets: one, or several mixed, each with its own format, columns, split (slice) and share of rows.

The `dataset` setting holds either one dataset (a path or Hub name, as always) or a list of them; each item of the
list is a path or a mapping:

    dataset:
      - data/instructions.jsonl                  # the run's dataset_format, columns, dataset_split...
      - path: data/chats.jsonl
        format: chat                             # dataset_format for this one
        split: train[:50%]                       # datasets' slice syntax (train[:10%], train[100:200])
        rows: 300                                # or share: 0.5 (half its rows; 2: each row twice)

Pure Python (the console's own process reads it: the pre-launch check, the screens, the importers). The trainer
(console/data/prepare.py) loads each entry with `datasets`, renders it in its own format, and mixes them.

For importers (console/config/foreign/): build `DatasetEntry` objects and give `as_setting(entries)` as the
`dataset` value; `entries_of(values)` reads any config's datasets back as entries.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from console.common.errors import DataError

# What an entry's keys may be called (other tools' words and the run-level settings' names) -> DatasetEntry's.
KEY_ALIASES = {"dataset": "path", "data_files": "path", "file": "path", "file_name": "path", "name": "path",
               "dataset_format": "format", "type": "format", "dataset_split": "split", "dataset_config": "config",
               "subset": "config", "max_samples": "rows", "num_samples": "rows"}

# A split as `datasets` reads it: a name, an optional [from:to] slice (rows or percent), several joined by '+'.
_SLICE = r"\[\s*-?\d*\s*%?\s*:\s*-?\d*\s*%?\s*\]"
_PART = rf"[A-Za-z_][\w.-]*(?:{_SLICE})?"
_SPLIT = re.compile(rf"\s*{_PART}(?:\s*\+\s*{_PART})*\s*")


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of a run. None: the run-level setting applies (dataset_format, columns, text_column,
    dataset_split, dataset_config); `rows` or `share` sample its training rows (a share above 1 repeats them)."""

    path: str | None  # a local file or folder, a Hub name; None: the demo dataset
    format: str | None = None
    columns: str | dict | None = None
    split: str | None = None
    config: str | None = None
    text_column: str | None = None
    rows: int | None = None
    share: float | None = None

    @property
    def label(self) -> str:
        """A short name for people: the file or Hub name, its split when sliced, its sample."""
        local = self.path and self.path.startswith(("/", ".", "~"))
        name = Path(self.path).name if local else (self.path or "demo")
        split = f"[{self.split}]" if self.split and self.split != "train" else ""
        sample = f" x{self.share:g}" if self.share is not None else f" ({self.rows} rows)" if self.rows else ""
        return f"{name}{split}{sample}"

    def as_value(self) -> str | dict | None:
        """The entry as the `dataset` setting holds it: its path alone when nothing else is set."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "path"
               and getattr(self, f.name) is not None}
        return {"path": self.path, **own} if own else self.path


_NAMES = tuple(f.name for f in fields(DatasetEntry))


def check_split(split: str | None) -> None:
    """DataError in one line unless `split` is in the slice syntax `datasets` reads."""
    if split is None:
        return
    if not isinstance(split, str) or not _SPLIT.fullmatch(split):
        raise DataError(f"split {split!r} is not a split name with an optional slice: write e.g. train, "
                        f"train[:10%], train[100:200] or train[:50%]+validation")


def split_names(split: str) -> list[str]:
    """The split names a split expression reads ('train[:10%]+test' -> ['train', 'test'])."""
    return [part.split("[", 1)[0].strip() for part in split.split("+")]


def entry_from(raw, where: str = "dataset") -> DatasetEntry:
    """One item of the `dataset` setting as an entry; DataError in one line saying what is wrong."""
    if raw is None or isinstance(raw, str):
        path = raw.strip() if isinstance(raw, str) else None
        return DatasetEntry(path or None)
    if not isinstance(raw, dict):
        raise DataError(f"{where}: each dataset is a path or a mapping (path: ..., format: ..., split: ..., rows: "
                        f"...), got {type(raw).__name__}")
    values: dict = {}
    for key, value in raw.items():
        name = KEY_ALIASES.get(str(key), str(key))
        if name not in _NAMES:
            raise DataError(f"{where}: {key!r} is not a dataset's key; use {', '.join(_NAMES)}")
        if name in values:
            raise DataError(f"{where}: {key!r} gives the {name} a second time")
        values[name] = value
    if not values.get("path") or not isinstance(values["path"], str):
        raise DataError(f"{where}: needs a path (a local file or folder, or a Hub dataset name)")
    for key in ("format", "split", "config", "text_column"):
        if values.get(key) is not None and not isinstance(values[key], str):
            raise DataError(f"{where}: {key} must be text, got {values[key]!r}")
    check_split(values.get("split"))
    rows, share = values.get("rows"), values.get("share")
    if rows is not None and share is not None:
        raise DataError(f"{where}: give rows or share, not both")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        raise DataError(f"{where}: rows must be a whole number of rows, 1 or more, got {rows!r}")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 100):
        raise DataError(f"{where}: share must be a number above 0 (0.5: half its rows; 2: each row twice), got "
                        f"{share!r}")
    if values.get("format") is not None:
        from console.data.formats import FORMATS

        if values["format"] not in ("auto", *FORMATS):
            raise DataError(f"{where}: format {values['format']!r} is not one of auto, {', '.join(FORMATS)}")
    values["path"] = values["path"].strip()
    return DatasetEntry(**values)


def dataset_value(raw, resolve: Callable[[str], str] | None = None):
    """The `dataset` setting from what a file, --set or the command line gave: None, one path (text), or a list of
    entries (paths or mappings); each path made absolute by `resolve`. A list of one plain path is that path.
    DataError in one line."""
    if isinstance(raw, (list, tuple)):
        if not raw:
            return None
        entries = [entry_from(item, f"dataset {i + 1}") for i, item in enumerate(raw)]
    elif isinstance(raw, dict):
        entries = [entry_from(raw)]
    else:
        entry = entry_from(raw)
        return resolve(entry.path) if resolve and entry.path else entry.path
    if resolve:
        entries = [replace(e, path=resolve(e.path)) if e.path else e for e in entries]
    return as_setting(entries)


def as_setting(entries: list[DatasetEntry]):
    """The `dataset` setting holding these entries (importers build entries and call this)."""
    if not entries:
        return None
    values = [e.as_value() for e in entries]
    return values[0] if len(values) == 1 and not isinstance(values[0], dict) else values


def entries_of(values: dict) -> list[DatasetEntry]:
    """Every dataset of a run's settings, each with the run-level settings filled in where it leaves them
    (dataset_format, columns, dataset_split, dataset_config, text_column)."""
    raw = values.get("dataset")
    items = raw if isinstance(raw, list) and raw else [raw]
    run_level = {"format": values.get("dataset_format") or "auto", "columns": values.get("columns"),
                 "split": values.get("dataset_split"), "config": values.get("dataset_config"),
                 "text_column": values.get("text_column")}
    out = []
    for i, item in enumerate(items):
        entry = entry_from(item, f"dataset {i + 1}" if len(items) > 1 else "dataset")
        out.append(replace(entry, **{k: v for k, v in run_level.items() if getattr(entry, k) is None}))
    return out


def describe(value) -> str:
    """The `dataset` setting in a few words, for headers and lists: 'demo', 'a.jsonl', 'a.jsonl + b.jsonl[train[:10%]]'.
    """
    try:
        items = value if isinstance(value, list) and value else [value]
        return " + ".join(entry_from(item).label for item in items)
    except DataError:
        return str(value)
