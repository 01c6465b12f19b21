"""A read-only page of text: the SFTConfig snippet, the CLI command, a config diff, the log."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class TextScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("w", "write", "Write to file"),
    ]

    def __init__(self, title: str, text: str, filename: str | None = None):
        super().__init__()
        self.title_text = title
        self.text = text
        self.filename = filename  # where `w` writes the text (None: no writing)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="text-title")
            with VerticalScroll(id="text-body"):
                yield Static(Text(self.text), id="text-content")
            yield Static("[b]Esc[/b] close" + ("   [b]w[/b] write to " + self.filename if self.filename else ""),
                         id="text-keys")

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "write":
            return self.filename is not None
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_write(self) -> None:
        from pathlib import Path

        path = Path(self.filename).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.text + "\n", encoding="utf-8")
        except OSError as err:
            self.notify(f"cannot write {path}: {err.strerror or err}", severity="error")
            return
        self.notify(f"written to {path}")
