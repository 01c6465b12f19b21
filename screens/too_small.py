"""Shown instead of the console while the terminal is below the size its layouts need."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Static


class TooSmallScreen(ModalScreen[None]):
    """'Enlarge the terminal to at least WxH'; it closes by itself once the terminal is large enough."""

    def __init__(self, min_width: int, min_height: int):
        super().__init__()
        self.min_width, self.min_height = min_width, min_height

    def compose(self) -> ComposeResult:
        yield Static(id="too-small-text")

    def on_mount(self) -> None:
        self.on_resize()

    def on_resize(self, event=None) -> None:
        width, height = self.app.size
        if width >= self.min_width and height >= self.min_height:
            self.app.check_size()
            return
        self.query_one("#too-small-text", Static).update(
            f"Enlarge the terminal to at least {self.min_width}x{self.min_height} (it is {width}x{height} now).")
