"""One argument on the arguments screen: name, the typed value, its recommended range with a within/outside
mark, and the message of an invalid value under it. What was typed is never replaced."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from console.config.analysis import fmt


def value_text(value) -> str:
    """A value as the user would type it back (empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, list) and any(isinstance(item, (dict, list)) or (isinstance(item, str) and "," in item)
                                       for item in value) or isinstance(value, list) and all(
            isinstance(item, str) and ("/" in item or "." in item) for item in value):
        import yaml  # several datasets (paths, or mappings): YAML's [a, {path: b, rows: 10}], which reads back

        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        import yaml

        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


class FieldRow(Widget):
    """Posts FieldRow.Edited whenever the text changes; the screen validates and sets the mark and message.

    A field with a fixed set of words (lr_scheduler_type, optim, eval_strategy, dataset_format, ...) completes what
    is typed (the rest of the first word that starts so is shown dimmed; Right at the end takes it: Textual's own
    suggester) and Ctrl-N / Ctrl-P go to its next / previous word: they were free text, a typo found only at
    launch."""

    BINDINGS = [Binding("ctrl+n", "cycle(1)", "Next choice", show=False),
                Binding("ctrl+p", "cycle(-1)", "Previous choice", show=False)]

    @dataclass
    class Edited(Message):
        row: FieldRow
        text: str

    def __init__(self, name: str, value, help_text: str = "", choices: tuple | None = None):
        super().__init__(classes="field-row", id=f"row-{name}")
        self.field_name = name
        # the words a value can take (placeholders such as 'pissa_niter_<n>' are not offered as they are)
        self.choices = tuple(c for c in choices or () if isinstance(c, str) and "<" not in c)
        self.initial_text = value_text(value)
        self.help_text = help_text
        self.error: str | None = None
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        # One grid (name, input, mark; the error spans the row under them): few widgets for ~50 fields.
        yield Label(self.field_name, classes="field-name")
        placeholder = "(demo)" if self.field_name in ("model", "dataset") else ""
        suggester = SuggestFromList(self.choices, case_sensitive=False) if self.choices else None
        field_input = Input(self.initial_text, placeholder=placeholder, classes="field-input", compact=True,
                            select_on_focus=False, id=f"input-{self.field_name}", suggester=suggester)
        field_input.cursor_blink = False
        yield field_input
        yield Static("", classes="field-mark")
        # the error line under the field is mounted only when there is an error (most rows never have one)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def text(self) -> str:
        return self.input.value

    def set_text(self, text: str) -> None:
        self.input.value = text
        self.call_after_refresh(self.show_end)

    def on_mount(self) -> None:
        self.call_after_refresh(self.show_end)

    def show_end(self) -> None:
        """The cursor at the value's end once the field has its size: a long value (a dataset's or an adapter's
        path) shows its end, where the names that tell two paths apart are (it showed '/tmp/nu-work' for a whole
        adapter path). A move of the cursor is what scrolls an Input (it starts at the end, unscrolled)."""
        field_input = self.input
        end = len(field_input.value)
        if end:
            field_input.cursor_position = end - 1
            field_input.cursor_position = end

    def action_cycle(self, step: int) -> None:
        """The next (step 1) or previous (-1) word of the field's choices, from the one typed (or the first one
        that starts with what is typed); nothing on a field without choices."""
        if not self.choices:
            return
        typed = self.text.strip().lower()
        words = [c.lower() for c in self.choices]
        if typed in words:
            i = (words.index(typed) + step) % len(words)
        else:
            starts = [j for j, w in enumerate(words) if typed and w.startswith(typed)]
            i = starts[0] if starts else (0 if step > 0 else len(words) - 1)
        self.set_text(self.choices[i])
        self.input.action_end()

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(self, event.value))

    def show(self, error: str | None, within: bool | None, lo=None, hi=None) -> None:
        """Mark the row: the error under it (or none), and ✓ (within) or ! (outside) the recommended range, ✗ when
        the value is invalid."""
        shown = (error, within, lo, hi)
        if shown == self._shown:  # most rows do not change when one is typed into: leave them alone
            return
        self._shown = shown
        self.error = error
        self.set_class(error is not None, "-invalid")
        self.set_class(within is False and error is None, "-outside")
        found = self.query(".field-error")
        if found:
            found.first(Static).update(Text(error or ""))
        elif error is not None:
            self.mount(Static(error, classes="field-error", markup=False))  # it quotes what was typed: text
        mark = self.query_one(".field-mark", Static)
        if lo is None:
            mark.update("")
            return
        span = fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"
        # ✗ a value that cannot launch, ! one that launches outside the method's recommended range (both read ✗, and a
        # new user took an out-of-range value for an invalid one)
        symbol = "✗" if error is not None else "✓" if within else "!"
        mark.update(f"{symbol} {span}")
