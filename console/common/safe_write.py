"""Writing the console's own files, and never anyone else's through them.

A run folder (and a folder the user names for an export or an import) can hold what someone else put there: a link
named `train.log` pointing at `~/.bashrc`, a hard link to a file elsewhere, a FIFO. Python's `open(path, "a")`
follows the link and appends to its target; `"wb"` empties it first. Every write the console makes goes through
one of these helpers instead:

- `open_append(path)`: an append-only file opened with O_NOFOLLOW (a link is refused by the kernel, not by a check
  that a link planted a moment later would pass), then checked to be a regular file with one name;
- `write_new(path, data)`: a file made anew with O_EXCL (nothing that was there is opened: an old regular file of
  ours is removed first, anything else is refused);
- `atomic_write(path, text)` (console/common/files.py): a temp file made with O_EXCL, renamed over the name; a
  rename replaces a link, it never writes through one;
- `replace_file(path, text)`: the same for a file the user named, refusing a link there (the user's link is theirs
  to keep: replacing it silently would break what it was for);
- `check_own(path)`: what the launcher and the trainer ask of every name they will write before they start, so a
  planted link is said in one line naming it (the helpers above hold even when that check is raced).

Kept here rather than taken from a library: Python's own `open` has no no-follow mode, and the checks are a few
`os` calls.
"""
from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

from console.common.bounded_read import file_kind
from console.common.errors import UserError


class NotOwnFile(OSError, UserError):
    """A name the console would write holds something it did not make there (a link, a FIFO, a folder, a file
    with other names). An OSError, so the writers that carry on past a failed write (a heartbeat, a sample
    answer) carry on past this one; a UserError, so a command or the trainer says it in one line."""

    def __init__(self, path, message: str, code: int = errno.EPERM):
        super().__init__(code, message, str(path))
        self.message = message

    def __str__(self) -> str:
        return self.message


def _link_target(path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def link_refused(path) -> NotOwnFile:
    return NotOwnFile(path, f"{path} is a link to {_link_target(path)}: the console never writes through a link. "
                            f"Remove the link (`rm '{path}'`) and try again", errno.ELOOP)


def refused(path, st: os.stat_result, folder: bool = False, one_name: bool = True) -> NotOwnFile | None:
    """Why the console must not write at `path`, whose lstat is `st` (None when it may): a link, something
    other than a regular file (or a folder, where `folder`), a regular file with other names (a hard link: writing
    it writes the same file elsewhere; `one_name=False` where the file is replaced by a rename, which leaves the
    other names alone)."""
    if stat.S_ISLNK(st.st_mode):
        return link_refused(path)
    if folder and stat.S_ISDIR(st.st_mode):
        return None
    if not stat.S_ISREG(st.st_mode):
        return NotOwnFile(path, f"{path} is {file_kind(st.st_mode)}, not a file the console wrote: move it away "
                                f"and try again")
    if one_name and st.st_nlink > 1:
        return NotOwnFile(path, f"{path} has {st.st_nlink} names (a hard link to a file elsewhere): the console "
                                f"writes only files of its own. Replace it by a copy (`cp --remove-destination "
                                f"'{path}' '{path}.copy' && mv '{path}.copy' '{path}'`) and try again")
    return None


def check_own(path, folder: bool = False, one_name: bool = True) -> None:
    """Raise NotOwnFile when `path` exists and is not the console's to write (see `refused`); a missing one is
    fine (it will be made)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    problem = refused(path, st, folder, one_name)
    if problem is not None:
        raise problem


def _open_checked(path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW and O_NONBLOCK (a FIFO must not block the open), then the descriptor checked to be
    a regular file with one name; O_NONBLOCK cleared again. NotOwnFile when it is not."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP and os.path.islink(path):
            raise link_refused(path) from None
        if err.errno == errno.ENXIO:  # a FIFO nobody reads: the kernel refuses a non-blocking write open
            raise NotOwnFile(path, f"{path} is a FIFO (named pipe), not a file the console wrote: move it away and "
                                   f"try again") from None
        raise
    try:
        st = os.fstat(fd)
        problem = refused(path, st)
        if problem is not None:
            raise problem
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_append(path, text: bool = True) -> io.IOBase:
    """`path` opened to append (made if missing), never through a link, only if it is a regular file of one
    name: a text file (UTF-8) or, with text=False, a binary one."""
    fd = _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a", encoding="utf-8") if text else os.fdopen(fd, "ab")


def open_lock(path) -> int:
    """A lock file's descriptor (read-write, made if missing), never through a link."""
    return _open_checked(path, os.O_RDWR | os.O_CREAT)


def write_new(path, data: bytes, sync: bool = False) -> None:
    """`data` in a file made anew at `path`: a regular file of ours there is removed first (an unlink removes a
    name, never what a link points to); anything else there is refused; O_EXCL makes the new one, so what appears
    at the name meanwhile is refused too, never opened. sync: fsync before returning."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        problem = refused(path, st)
        if problem is not None:
            raise problem
        os.unlink(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        check_own(path)  # something appeared there since: say what
        raise
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if sync:  # on the disk, not only in the page cache: a full disk says so here
            f.flush()
            os.fsync(f.fileno())


def replace_file(path, text: str) -> None:
    """`text` as the whole of the file `path` names (written atomically), refusing a link or a non-file there:
    for a file the user named, whose link is theirs."""
    from console.common.files import atomic_write

    check_own(Path(path), one_name=False)
    atomic_write(path, text)


def touch(path) -> None:
    """The file's times set to now, never a link's target's (os.utime follows links)."""
    os.utime(path, follow_symlinks=False)
