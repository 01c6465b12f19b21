"""A read-only page of text: the SFTConfig snippet, the CLI command, a config diff, the log."""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.common.safe_text import printable


class TextScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),  # F1 opens the help page and F1 closes it
    ]

    def __init__(self, title: str, text: str, is_help: bool = False, wide: bool = False,
                 refresh: Callable[[], str] | None = None, at_end: bool = False):
        super().__init__(classes="-wide" if wide else None)  # wide: most of the terminal (sample answers)
        self.title_text = title
        self.text = printable(text)  # a log or a config from a run folder: no control characters to the terminal
        self.is_help = is_help  # the F1 page: F1 closes it again
        # re-read every second while open: the sample answers of a run still training change at each evaluation
        self.refresh_text = refresh
        self.at_end = at_end  # a log opens at its end: its newest lines are what matters

    def on_mount(self) -> None:
        if self.refresh_text is not None:
            self.set_interval(1.0, self.reread)
        if self.at_end:
            self.call_after_refresh(lambda: self.query_one("#text-body", VerticalScroll).scroll_end(animate=False))

    def reread(self) -> None:
        text = printable(self.refresh_text())
        if text != self.text:  # the scroll position is kept: only the content changes
            self.text = text
            self.query_one("#text-content", Static).update(Text(text))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # run ids and paths are text, never markup
            yield Static(Text(printable(self.title_text), style="bold"), id="text-title")
            with VerticalScroll(id="text-body"):
                yield Static(Text(self.text), id="text-content")
            yield Static(Text.assemble(("Esc", "bold"), " close"), id="text-keys")

    def action_close(self) -> None:
        self.dismiss(None)
