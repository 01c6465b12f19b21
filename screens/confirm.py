"""A question with a few one-letter answers (and Escape to cancel)."""
from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from console.common.safe_text import printable


class ConfirmScreen(ModalScreen[str | None]):
    """Dismissed with the value of the chosen answer, or None on Escape."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[str, str, str]], refresh: Callable[[], str] | None = None):
        super().__init__()
        self.question = question
        self.refresh_question = refresh  # re-read every second: what it asks about may change while it is open
        self.choices = choices  # (key, label, value)
        for key, label, value in choices:
            self._bindings.bind(key, f"choose('{value}')", label)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(printable(self.question), id="question", markup=False)
            answers = "   ".join(f"[b]{key}[/b] {label}" for key, label, _ in self.choices)
            yield Static(f"{answers}   [b]Esc[/b] Cancel", id="answers")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # a toast drawn over the question cut its text
        if self.refresh_question is not None:
            self.set_interval(1.0, self._refresh)

    def _refresh(self) -> None:
        text = self.refresh_question()
        if text != self.question:
            self.question = text
            self.query_one("#question", Static).update(Text(printable(text)))

    def action_choose(self, value: str) -> None:
        self.dismiss(value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
