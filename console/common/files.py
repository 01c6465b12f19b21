"""Files another process writes or reads: written so that a reader never sees half of one, read with bounds so
that a FIFO, a folder or a huge file in their place never hangs or floods the reader."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from console.common.bounded_read import loads_json, read_prefix


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a file. Never through a link: the temp file
    is made with O_EXCL (mkstemp), and a rename replaces a link at `path` itself, not what it points to
    (console/common/safe_write.py has the other no-follow writes)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


MAX_RUN_FILE_BYTES = 1 << 20  # status.json and run.json are a few hundred bytes; a bigger one is not the console's


def read_head(path: Path, limit: int) -> bytes | None:
    """Up to `limit` bytes of a regular file; None for a FIFO or a folder in its place (which must not hang or
    break the reader) or an unreadable one."""
    try:
        return read_prefix(path, limit + 1)  # never a FIFO or a device, even one swapped in after a check
    except OSError:
        return None


def read_json_object(path: Path, limit: int = MAX_RUN_FILE_BYTES) -> dict | None:
    """The JSON object in a file of at most `limit` bytes; None for a bigger, unreadable or non-object one."""
    raw = read_head(path, limit)
    if raw is None or len(raw) > limit:
        return None
    try:
        data = loads_json(raw.decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
