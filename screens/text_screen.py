"""A read-only page of text: the SFTConfig snippet, the CLI command, a config diff, the log."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.safe_text import printable


class TextScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),  # F1 opens the help page and F1 closes it
        Binding("w", "write", "Write to file"),
    ]

    def __init__(self, title: str, text: str, filename: str | None = None, is_help: bool = False,
                 wide: bool = False):
        super().__init__(classes="-wide" if wide else None)  # wide: most of the terminal (sample answers)
        self.title_text = title
        from console.safe_text import printable

        self.text = printable(text)  # a log or a config from a run folder: no control characters to the terminal
        self.filename = filename  # where `w` writes the text (None: no writing)
        self.is_help = is_help  # the F1 page: F1 closes it again

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(printable(self.title_text), style="bold"), id="text-title")  # run ids, paths: text, not markup
            with VerticalScroll(id="text-body"):
                yield Static(Text(self.text), id="text-content")
            keys = Text.assemble(("Esc", "bold"), " close")
            if self.filename:
                keys.append_text(Text.assemble("   ", ("w", "bold"), f" write to {self.filename}"))
            yield Static(keys, id="text-keys")

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
