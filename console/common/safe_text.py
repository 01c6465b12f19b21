"""Text from users, files, datasets and run folders, made safe to print or draw.

Control characters (C0 but newline and tab, DEL, C1) are shown as visible escapes (`\\x1b`) instead of reaching the
terminal: an escape sequence in a dataset's column name retitled the terminal (OSC) when printed raw. Rich's own
strip_control_codes leaves ESC in, so this is ours. Markup is the other half: the screens draw such text as
rich.text.Text or with markup=False, never through the markup parser.
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """str(text) with every control character but newline and tab written as a visible \\xNN escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


class PrintableStream:
    """A text stream that passes what is written through printable(): the CLI's stdout and stderr."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def __getattr__(self, name):  # flush, isatty, encoding, fileno... as the stream has them
        return getattr(self._stream, name)
