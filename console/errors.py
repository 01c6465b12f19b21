"""Errors that are the user's to fix: shown as one clear message, never as a traceback."""
from __future__ import annotations


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
