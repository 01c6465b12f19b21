"""A read-only page of text: the SFTConfig snippet, the CLI command, a config diff, the log."""
from __future__ import annotations

import os
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.common.safe_text import printable


def file_stamp(path) -> tuple | None:
    """(size, mtime_ns) of a file, None when it is not there: whether a page showing it has anything new."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class TextScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),  # F1 opens the help page and F1 closes it
    ]

    def __init__(self, title: str, text: str, is_help: bool = False, wide: bool = False,
                 refresh: Callable[[], str] | None = None, changed: Callable[[], object] | None = None,
                 at_end: bool = False):
        super().__init__(classes="-wide" if wide else None)  # wide: most of the terminal (sample answers)
        self.title_text = title
        self.text = printable(text)  # a log or a config from a run folder: no control characters to the terminal
        self.is_help = is_help  # the F1 page: F1 closes it again
        # re-read every second while open: the sample answers of a run still training change at each evaluation;
        # `changed` (a file's size and mtime, a count) says whether there is anything new to read: the page
        # rebuilt its whole text every second, on a finished run too (1.3 % of a core at 30k answers)
        self.refresh_text = refresh
        self.at_end = at_end  # a log opens at its end: its newest lines are what matters
        self.changed = changed
        self._seen = changed() if changed is not None else None

    def on_mount(self) -> None:
        if self.refresh_text is not None:
            self.set_interval(1.0, self.reread)
        if self.at_end:
            self.call_after_refresh(lambda: self.query_one("#text-body", VerticalScroll).scroll_end(animate=False))

    def reread(self) -> None:
        if self.changed is not None:
            seen = self.changed()
            if seen == self._seen:
                return
            self._seen = seen
        text = printable(self.refresh_text())
        if text != self.text:  # the scroll position is kept: only the content changes
            body = self.query_one("#text-body", VerticalScroll)
            # a log read at its end stays at its end as lines come, as `tail -f` does (the page kept its old last
            # line: the run's closing '[console] done' never showed; the tmux drive found it on a quiet machine)
            following = self.at_end and body.scroll_y >= body.max_scroll_y - 1
            self.text = text
            self.query_one("#text-content", Static).update(Text(text))
            if following:
                self.call_after_refresh(lambda: body.scroll_end(animate=False))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # run ids and paths are text, never markup
            yield Static(Text(printable(self.title_text), style="bold"), id="text-title")
            with VerticalScroll(id="text-body"):
                yield Static(Text(self.text), id="text-content")
            yield Static(Text.assemble(("Esc", "bold"), " close"), id="text-keys")

    def action_close(self) -> None:
        self.dismiss(None)
