"""Dataset checks before launch: local files or folders and Hub names, in the formats of console.data.formats.

Light on purpose (no `datasets` import): it runs in the console's own process and before every launch, so that a
wrong path, a malformed line or a missing column is said at once. console.data.prepare does the real reading in the
trainer.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from console.common.bounded_read import (
    MAX_JSON_DEPTH,
    FileTooLarge,
    NotARegularFile,
    json_depth,
    loads_json,
    open_regular,
    read_text,
    size_text,
)
from console.common.errors import DataError, path_problem
from console.data.formats import detect_format, parse_columns

LOADERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
# One row (a JSONL line, a CSV field, a text line) longer than this is refused by the preflight: a 1 GB single-line
# file was read whole (6 GB, then an abort). 16 MiB of text is millions of tokens, far past any max_length.
MAX_ROW_CHARS = 16 * 2**20


MAX_JSON_ARRAY_BYTES = 256 * 2**20  # a JSON array file is parsed whole by the preflight only up to this size


def _open_text(path: Path, newline: str | None = None):
    """A dataset file opened as UTF-8 text, only when it is a regular file (a FIFO would hang the preflight)."""
    import io

    return io.TextIOWrapper(open_regular(path, "dataset file"), encoding="utf-8", newline=newline)


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


def _json_array_rows(path: Path, limit: int | None = None) -> list:
    """The rows of a .json file holding one JSON array, each row's own size checked against MAX_ROW_CHARS (an array
    of one 240 MB row among small ones passed a check of the mean row and took the trainer past 3 GB). Parsed one
    row at a time with the standard decoder's raw_decode, which says where each row ends; json has no streaming
    reader, hence this loop. DataError in one line for a file over MAX_JSON_ARRAY_BYTES (the trainer's loader
    reads a JSON array whole), invalid JSON, a row over the bound or nested too deep; `limit`: stop after so many."""
    try:
        text = read_text(path, MAX_JSON_ARRAY_BYTES)
    except ValueError as err:  # not UTF-8
        raise DataError(str(err)) from None
    except FileTooLarge:
        raise DataError(f"{path} is a JSON array larger than {MAX_JSON_ARRAY_BYTES // 2**20} MiB: the trainer would "
                        f"read it whole (many times its size in memory); save it as JSON Lines, one object per line "
                        f"(.jsonl)") from None
    decoder = json.JSONDecoder()
    rows, i, n = [], text.index("[") + 1, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == "]" and not rows:
            return rows
        try:
            row, end = decoder.raw_decode(text, i)
        except ValueError as err:  # JSONDecodeError, or an integer past Python's 4300 digits
            raise DataError(f"{path} is not valid JSON: {str(err).splitlines()[0][:200]}. Fix the file and try "
                            f"again.") from None
        except RecursionError:
            raise DataError(f"{path}, row {len(rows) + 1}: nested too deep to read (thousands of brackets inside "
                            f"each other): fix or remove that row") from None
        if end - i > MAX_ROW_CHARS:
            raise DataError(f"{path}: row {len(rows) + 1} is longer than {size_text(MAX_ROW_CHARS)} "
                            f"({(end - i) / 2**20:.1f} MiB), far past any max_length (the trainer would read it "
                            f"whole): split or shorten it")
        if not json_depth(row):
            raise DataError(f"{path}, row {len(rows) + 1}: nested more than {MAX_JSON_DEPTH} levels deep: no "
                            f"dataset row is; fix or remove that row")
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            return rows
        i = end
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]" and not text[i + 1:].strip():
            return rows
        raise DataError(f"{path} is not valid JSON: expected ',' or ']' after row {len(rows)} (at character {i}). "
                        f"Fix the file and try again.")


def _local_files(path: Path) -> list[Path]:
    if path.is_file():
        suffix = "".join(path.suffixes[-2:]).lower() if len(path.suffixes) > 1 else path.suffix.lower()
        if path.suffix.lower() not in LOADERS:  # a .tsv or a .jsonl.gz was called "empty"
            raise DataError(f"dataset {path}: {suffix or 'a file without a suffix'} is not a format the console reads:"
                            f" give a .jsonl, .json, .csv, .parquet or .txt file (uncompressed; a .tsv saved as "
                            f".csv)")
        return [path]
    if not path.is_dir():
        try:
            open_regular(path, "dataset")
        except OSError as err:  # a FIFO or a device (or a link to one): reading it would hang or never end
            raise DataError(str(err) if isinstance(err, NotARegularFile) else path_problem(err, "dataset")) from None
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in LOADERS)
    if not files:
        raise DataError(f"the folder {path} holds no .json/.jsonl/.csv/.parquet/.txt file")
    return files


def _sample_rows(path: Path, limit: int = 50) -> tuple[list[str], int]:
    """(columns, rows seen) from the start of a local file, with line-exact messages for malformed input."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            with _open_text(path) as f:
                head = f.read(1)
                f.seek(0)
                if suffix == ".json" and head == "[":
                    rows = [r for r in _json_array_rows(path) if isinstance(r, dict)]
                    return (list(rows[0]) if rows else []), len(rows)
                columns, n = [], 0
                for lineno, line in _lines(f, path):
                    if not line.strip():
                        continue
                    try:
                        row = loads_json(line)  # a row nested 100k deep raised RecursionError
                    except ValueError as err:
                        raise DataError(f"{path}, line {lineno}: malformed JSON ({getattr(err, 'msg', err)}). Fix "
                                        f"or remove that line.") from None
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
                with _open_text(path, newline="") as f:
                    reader = csv.DictReader(f)
                    rows = sum(1 for _ in reader)
                    return list(reader.fieldnames or []), rows
            except csv.Error as err:
                raise DataError(f"{path}, line {reader.line_num}: {err} (the limit is {MAX_ROW_CHARS // 2**20} "
                                f"MiB per field). Fix that line.") from None
            finally:
                csv.field_size_limit(limit)
        if suffix == ".txt":
            with _open_text(path) as f:
                return ["text"], sum(1 for _, line in _lines(f, path) if line.strip())
        if suffix == ".parquet":
            return _parquet_rows(path)
    except NotARegularFile as err:
        raise DataError(str(err)) from None
    except OSError as err:
        raise DataError(path_problem(err, "dataset file")) from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (bad byte at position {err.start}): convert it to UTF-8, "
                        f"e.g. `iconv -f latin1 -t utf-8`.") from None
    return [], -1


def _parquet_rows(path: Path) -> tuple[list[str], int]:
    """Columns and rows of a parquet file from its footer alone (pyarrow, which `datasets` itself reads parquet with),
    and the row bound checked per row group: a group whose uncompressed size over its rows passes MAX_ROW_CHARS holds
    a row past it (its mean does), the same rule as a JSON array's. No row is read."""
    import pyarrow.lib
    import pyarrow.parquet as pq

    try:
        with open_regular(path, "dataset file") as f:  # never a FIFO (pyarrow would wait on it)
            meta = pq.ParquetFile(f).metadata
    except (pyarrow.lib.ArrowException, ValueError) as err:
        raise DataError(f"{path} is not a readable parquet file ({str(err).splitlines()[0] if str(err) else err!r}): "
                        f"write it again, e.g. with `datasets`' to_parquet.") from None
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows and group.total_byte_size / group.num_rows > MAX_ROW_CHARS:
            raise DataError(f"{path}: row group {i} holds {group.num_rows} row{'s' if group.num_rows != 1 else ''} "
                            f"in {size_text(group.total_byte_size)}: a row is longer than {size_text(MAX_ROW_CHARS)}, "
                            f"far past any max_length (the trainer would read it whole): split or shorten it")
    return [name for name in meta.schema.to_arrow_schema().names], meta.num_rows


def preflight(dataset: str | None, dataset_format: str = "auto", text_column: str | None = None,
              columns=None) -> str:
    """Check a dataset before launch; returns a one-line description. Hub names are checked by the trainer."""
    mapping = parse_columns(columns)
    dataset = _or_demo(dataset)
    path = Path(dataset).expanduser()
    if not check_dataset_path(dataset):
        return f"Hub dataset {dataset} (loaded by the trainer)"
    total, found = _local_columns(path, dataset)
    if found:
        fmt = detect_format(found, dataset_format, text_column, mapping)
        return f"{path.name}: {total} rows, {fmt} format (columns: {', '.join(found)})"
    return f"{path.name}"


def preflight_datasets(values: dict) -> str:
    """Check every dataset of a run's settings before launch (each with its own format, columns and split);
    returns a one-line description. DataError names the dataset at fault when there are several."""
    from console.data.sources import entries_of

    entries = entries_of(values)
    described = []
    for entry in entries:
        try:
            check_local_split(entry.path, entry.split)
            described.append(preflight(entry.path, entry.format or "auto", entry.text_column, entry.columns)
                             + (f", split {entry.split}" if entry.split else "")
                             + (f", {entry.rows} rows drawn" if entry.rows else "")
                             + (f", x{entry.share:g}" if entry.share is not None else ""))
        except DataError as err:
            if len(entries) == 1:
                raise
            raise DataError(f"dataset {entry.label}: {err}") from None
    if len(described) == 1:
        return described[0]
    return f"{len(described)} datasets mixed: " + "; ".join(described)


def dataset_roles(dataset: str | None, dataset_format: str = "auto", text_column: str | None = None,
                  columns=None, limit: int = 200) -> set[str]:
    """The chat roles the first rows of a local JSON/JSONL dataset hold (system, tool, ... beside user and
    assistant), for the chat template's check before launch; empty for other files and Hub datasets."""
    from console.data.formats import Conversation, get_format, mapped

    dataset = _or_demo(dataset)
    if not check_dataset_path(dataset):
        return set()
    mapping = parse_columns(columns)
    roles: set[str] = set()
    for file in _local_files(Path(dataset).expanduser()):
        rows = _first_rows(file, limit)
        if not rows:
            continue
        names = mapped(list(rows[0]), mapping)
        fmt = get_format(detect_format(list(rows[0]), dataset_format, text_column, mapping))
        back = dict(zip(names, rows[0]))
        for row in rows:
            row = {name: row.get(back.get(name, name)) for name in names}
            if isinstance(fmt, Conversation):
                try:
                    roles.update(m["role"] for m in fmt.messages(row.get(fmt.column)))
                except DataError:
                    continue
            elif row.get("system"):
                roles.add("system")
    return roles


def _first_rows(path: Path, limit: int) -> list[dict]:
    """The first JSON objects of a .jsonl file (or a small .json array); [] for other files."""
    suffix = path.suffix.lower()
    rows: list[dict] = []
    try:
        with _open_text(path) as f:
            if suffix == ".json" and f.read(1) == "[":
                return [r for r in _json_array_rows(path, limit) if isinstance(r, dict)]
            if suffix not in (".jsonl", ".json"):
                return []
            f.seek(0)
            for _, line in _lines(f, path):
                if line.strip():
                    row = loads_json(line)
                    if isinstance(row, dict):
                        rows.append(row)
                if len(rows) >= limit:
                    break
    except (OSError, ValueError, DataError):
        return rows  # the format check (preflight) says what is wrong with the file
    return rows


def first_example(values: dict, limit: int = 240) -> str:
    """The first row of the (first) local dataset as its format renders it without a chat template (question, then
    answer), shortened; '' for a Hub dataset or a file this light reader does not read row by row."""
    from console.data.formats import get_format, parse_columns
    from console.data.sources import entries_of

    entry = entries_of(values)[0]
    dataset = _or_demo(entry.path)
    if not check_dataset_path(dataset):
        return ""
    mapping = parse_columns(entry.columns)
    for file in _local_files(Path(dataset).expanduser()):
        rows = _first_rows(file, 1)
        if not rows:
            continue
        row = rows[0]
        fmt = get_format(detect_format(list(row), entry.format or "auto", entry.text_column, mapping))
        back = {name: column for name, column in mapping.items()}
        row = {**row, **{name: row.get(column) for name, column in back.items()}}
        records = fmt.render(row, chat_template=False, train_on_prompt=False, text_column=entry.text_column)
        if not records:
            return ""
        record = records[0]
        text = record["text"] if "text" in record else f"{record['prompt']} -> {record['completion']}"
        text = " ".join(str(text).split())
        return text if len(text) <= limit else text[:limit - 3] + "..."
    return ""


def check_local_split(dataset: str | None, split: str | None) -> None:
    """A local dataset's split must name its files' splits (a file named validation/val/eval/dev or test is that
    split, any other is train): said before launch, not after the model has loaded."""
    from console.data.sources import check_split, split_names

    if not split:
        return
    check_split(split)
    dataset = _or_demo(dataset)
    if not check_dataset_path(dataset):
        return
    have = set()
    for f in _local_files(Path(dataset).expanduser()):
        stem = f.stem.lower()
        have.add("validation" if stem in ("validation", "valid", "val", "eval", "dev")
                 else "test" if stem == "test" else "train")
    missing = [n for n in split_names(split) if n not in have]
    if missing:
        raise DataError(f"dataset {Path(dataset).name} has no split {missing[0]!r}: its splits are "
                        f"{', '.join(sorted(have))} (a file named validation/val/eval/dev or test is that split, any "
                        f"other is train)")


def local_format(dataset: str | None, dataset_format: str = "auto", text_column: str | None = None,
                 columns=None) -> str | None:
    """The format a local dataset is in (a name of the format registry), as its columns say now; None for a Hub
    dataset or a file whose columns this light check does not read (a very large JSON array). DataError
    as `preflight`. Several datasets: the first one's."""
    if isinstance(dataset, list):
        from console.data.sources import entry_from

        first = entry_from(dataset[0]) if dataset else None
        dataset = first.path if first else None
        if first and isinstance(dataset_format, str) and dataset_format == "auto" and first.format:
            dataset_format = first.format
    mapping = parse_columns(columns)
    dataset = _or_demo(dataset)
    if not check_dataset_path(dataset):
        return None
    _, found = _local_columns(Path(dataset).expanduser(), dataset)
    return detect_format(found, dataset_format, text_column, mapping) if found else None


def _or_demo(dataset: str | None) -> str:
    if dataset:
        return dataset
    from console.data.demo import demo_dataset_path

    return str(demo_dataset_path())


def _local_columns(path: Path, dataset: str) -> tuple[int, list[str]]:
    """(rows, the first non-empty file's columns) of a local dataset; DataError when it holds no rows."""
    files = _local_files(path)
    total = 0
    found: list[str] = []
    for file in files:
        cols, rows = _sample_rows(file)
        if rows == 0:
            continue
        total += max(rows, 0)
        found = found or cols
    if total == 0 and not any(f.suffix.lower() == ".parquet" for f in files):
        raise DataError(f"dataset {dataset} is empty: it holds no rows")
    return total, found


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


def _looks_like_hub_name(name: str) -> bool:
    if name.startswith(("/", ".", "~")):
        return False
    parts = name.split("/")
    return len(parts) <= 2 and all(p and not p.startswith(".") for p in parts) and not name.endswith(
        tuple(LOADERS))


def check_model_path(model: str | None, ask_network: bool = False) -> str:
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
    problem = _hub_model_problem(model, ask_network)
    if problem:
        raise DataError(problem)
    return f"Hub model {model}"


def hub_model_unavailable(model: str | None) -> str | None:
    """Why a model cannot load here, the network asked too (one short connection attempt: seconds at most), or None.
    For the console's worker, off the main thread: a new user's uncached model launched and failed 50 s later."""
    try:
        check_model_path(model, ask_network=True)
    except DataError as err:
        return str(err)
    return None


def _hub_model_problem(model: str, ask_network: bool = False) -> str | None:
    """Why a Hub name cannot load, when that is known without the network: a name whose first part is a folder here
    (a local model folder missing, e.g. a path copied from another machine, read as an org/model name), or a model
    that is not in the Hugging Face cache while the Hub is offline (the trainer failed after its start with a long
    'cannot reach the Hub'). huggingface_hub's own cache look-up, so HF_HOME/HF_HUB_CACHE are honoured."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import try_to_load_from_cache

    from console.common.offline import hub_offline, hub_reachable

    try:
        cached = try_to_load_from_cache(model, "config.json")
    except (ValueError, OSError):  # a name huggingface_hub refuses as a repo id: the trainer's loader says why
        return None
    if isinstance(cached, str):
        return None
    first = model.split("/")[0]
    if "/" in model and Path(first).is_dir():
        return (f"model {model} not found: there is no folder {model} here ({first}/ is), and it is not a cached "
                f"Hub model: give the model folder's path as it is on this machine")
    if hub_offline():
        return (f"model {model} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub is offline "
                f"(HF_HUB_OFFLINE): download it where there is a network (`hf download {model}`), or give a local "
                f"folder")
    if ask_network and not hub_reachable():
        return (f"model {model} is not in the Hugging Face cache and the Hub cannot be reached: download it where "
                f"there is a network (`hf download {model}`), or give a local folder")
    return None


def sample_rows(dataset: str | None, columns=None, limit: int = 200) -> list[dict]:
    """The first rows (up to `limit`) of a local JSON Lines, JSON or CSV dataset, its columns renamed by the user's
    mapping, for the checks a format makes of its rows before launch (a preference pair's answers); [] for a Hub
    dataset or another kind of file. Bounded: each line by MAX_ROW_CHARS, a JSON array by MAX_JSON_ARRAY_BYTES."""
    dataset = _or_demo(dataset)
    if not check_dataset_path(dataset):
        return []
    back = {column: name for name, column in parse_columns(columns).items()}
    rows: list[dict] = []
    for path in _local_files(Path(dataset).expanduser()):
        suffix = path.suffix.lower()
        try:
            with _open_text(path, newline="" if suffix == ".csv" else None) as f:
                if suffix == ".csv":
                    found = (row for row in csv.DictReader(f))
                elif suffix == ".json" and f.read(1) == "[":
                    found = iter(_json_array_rows(path, limit))
                elif suffix in (".json", ".jsonl"):
                    f.seek(0)
                    found = (loads_json(line) for _, line in _lines(f, path) if line.strip())
                else:
                    continue
                for row in found:
                    if isinstance(row, dict):
                        rows.append({back.get(k, k): v for k, v in row.items()})
                    if len(rows) >= limit:
                        return rows
        except (OSError, ValueError, csv.Error, DataError):
            continue  # the columns check (preflight) has said what is wrong with the file
    return rows
