"""Reading a file that another process or the user wrote: only a regular file (never a FIFO, a device, a folder or a
link to one), never more than a stated number of bytes, and JSON never nested past a stated depth.

Each was a hang, a flood or a traceback in an attack run: a FIFO named as `chat_template` hung the CLI and froze the
console (open() waits for a writer), a link to /dev/zero read until MemoryError, a 300 MB YAML config was read whole
before its 1 MiB limit was checked, a `train.log` FIFO hung `runs`, and 100k-deep JSON arrays in metrics, samples or
a trainer_state.json raised RecursionError. Python's open() and json have no such bounds, so they are here.

Every refusal is an OSError (a ValueError for JSON) whose text is one line naming the file, so the handlers that
already turn an unreadable file into one line keep doing so.
"""
from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

MAX_JSON_DEPTH = 100  # no file of ours or of the libraries we read nests past a dozen levels


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder (or a link to one): reading it could hang or never end."""


class FileTooLarge(OSError):
    """The file holds more bytes than its reader accepts."""


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (for the one-line refusals of readers and writers)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(path, mode: int, what: str) -> NotARegularFile:
    return NotARegularFile(f"{f'{what} {path}'.strip()} is {file_kind(mode)}, not a regular file: give a file")


def _open_regular_fd(path: str | os.PathLike, what: str) -> int:
    """A descriptor open for reading (O_NONBLOCK set), only when it is a regular file (a link to one is followed):
    the check is made before the open (no side effect, unlike opening a device) and again on the opened descriptor,
    and the open itself never waits (a FIFO without a writer opens at once), so a file swapped for a FIFO between a
    check and the open cannot hang the reader either."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, mode, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike, what: str = ""):
    """The file opened for binary reading, only when it is a regular file (_open_regular_fd's checks)."""
    fd = _open_regular_fd(path, what)
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def size_text(limit: int) -> str:
    """A byte count for a person: 16 MiB, 256 KiB, 300 bytes."""
    if limit >= 2**20 and limit % 2**20 == 0:
        return f"{limit // 2**20} MiB"
    if limit >= 2**10 and limit % 2**10 == 0:
        return f"{limit // 2**10} KiB"
    return f"{limit} bytes"


READ_CHUNK = 1 << 16


def read_prefix(path: str | os.PathLike, limit: int, offset: int = 0, what: str = "") -> bytes:
    """At most `limit` bytes of a regular file from `offset`, with open_regular's checks (the same refusals) but no
    Python file object, a chunk at a time: `runs` reads four small files a run, and at 3000 runs open_regular's
    buffered file and `f.read(limit)`'s buffer of the whole bound (1 MiB for a 100-byte status.json) were a third
    of its time. O_NONBLOCK is left set: it changes nothing for a regular file."""
    fd = _open_regular_fd(path, what)
    try:
        parts, total = [], 0
        while total < limit:
            chunk = os.pread(fd, min(READ_CHUNK, limit - total), offset + total)
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_bytes(path: str | os.PathLike, limit: int, what: str = "") -> bytes:
    """The whole of a regular file of at most `limit` bytes; FileTooLarge (one line, saying the bound) for a bigger
    one, NotARegularFile for a FIFO or a device, OSError as open() raises it otherwise."""
    data = read_prefix(path, limit + 1, what=what)
    if len(data) > limit:
        subject = f"{what} {path}".strip()
        raise FileTooLarge(f"{subject} is larger than {size_text(limit)}, more than any real one: check that it is "
                           f"the right file")
    return data


def read_text(path: str | os.PathLike, limit: int, what: str = "", errors: str = "strict") -> str:
    """read_bytes decoded as UTF-8; with errors="strict" a file that is not UTF-8 is a ValueError in one line."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode("utf-8", errors)
    except UnicodeDecodeError as err:
        subject = f"{what} {path}".strip()
        raise ValueError(f"{subject} is not UTF-8 text (a bad byte at position {err.start}): convert it to UTF-8"
                         ) from None


def json_depth(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `value` (parsed JSON) nests no deeper than `limit`; iterative, so a deep value cannot overflow."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return True


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """json.loads that never raises RecursionError and never returns a value nested deeper than `max_depth`: a
    ValueError (one line) instead, which every reader of another process' JSON already handles."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None
    if not json_depth(value, max_depth):
        raise ValueError(f"JSON nested more than {max_depth} levels deep: no file the console reads is")
    return value


def read_json(path: str | os.PathLike, limit: int, what: str = "", max_depth: int = MAX_JSON_DEPTH):
    """The JSON value of a regular file of at most `limit` bytes, nested at most `max_depth` levels; otherwise an
    OSError naming the file (not a regular file, too large), or a ValueError saying what is wrong with its text."""
    text = read_text(path, limit, what)
    try:
        return loads_json(text, max_depth)
    except ValueError as err:  # the callers name the file: the line says what is wrong with it
        raise ValueError(f"not valid JSON: {str(err).splitlines()[0][:200]}") from None


def is_regular(path: Path) -> bool:
    """True for a regular file (or a link to one); False for anything else, a missing or unreadable path included."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
