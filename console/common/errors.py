"""Errors that are the user's to fix: shown as one clear message, never as a traceback."""
from __future__ import annotations

import errno


class UserError(Exception):
    """Something the user can fix. str(err) is the whole message: what is wrong and what to do."""


class ConfigError(UserError):
    """One or more invalid settings. `problems` maps a field (or '' for the file) to its message."""

    def __init__(self, problems: dict[str, str] | str, field: str = ""):
        if isinstance(problems, str):
            problems = {field: problems}
        self.problems = dict(problems)
        super().__init__("\n".join(self.problems.values()))


class DataError(UserError):
    """The dataset cannot be used as given."""


class RunError(UserError):
    """A run directory is missing, unreadable or in the wrong state for the action."""


def path_problem(err: OSError, what: str = "") -> str:
    """One line for an OSError about a path the user gave (a name too long, a permission, a loop of links), with
    what to do; the path shortened so that the line stays one line."""
    name = str(err.filename) if err.filename is not None else ""
    shown = name if len(name) <= 120 else f"{name[:60]}...{name[-40:]} ({len(name)} characters)"
    subject = f"{what} {shown}".strip() or "a path"
    if err.errno == errno.ENAMETOOLONG:
        return (f"{subject}: a name in this path is longer than the file system allows (255 bytes per folder or "
                f"file name, 4096 for the whole path): shorten it")
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"{subject}: permission denied: check its permissions and those of the folders above it"
    if err.errno == errno.ELOOP:
        return f"{subject}: too many levels of symbolic links (a link that points to itself?)"
    return f"{subject}: {err.strerror or err}"


def first_line(err: BaseException, with_type: bool = False) -> str:
    """An exception as one line of at most 300 characters (a library's message may run over pages), optionally
    after its type's name ("OSError: ..."), which says what failed when the message alone does not."""
    lines = str(err).strip().splitlines()
    if not lines:
        return type(err).__name__
    return f"{type(err).__name__}: {lines[0][:300]}" if with_type else lines[0][:300]
