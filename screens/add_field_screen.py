"""Pick an argument by typing part of its name: any other SFTConfig (TrainingArguments + TRL) field, or console
setting, to add to the arguments screen, or one of its fields to jump to."""
from __future__ import annotations

from textwrap import shorten, wrap

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from console.common.safe_text import printable
from console.config.fields import all_fields

HELP_LINES = 4  # #field-help's max-height in app.tcss
HELP_WIDTH = 72  # its width inside the 76-column dialog, until it is laid out


class AddFieldScreen(ModalScreen[str | None]):
    """Type to filter; up/down to choose; Enter adds it."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # Enter dismisses at once, while the key is handled: through Input.Submitted the dismissal came a message
        # later, and a key typed right after Enter (tmux send-keys 'F8 model Enter XYZ') went into this dialog
        Binding("enter", "choose", "Choose", show=False, priority=True),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    def __init__(self, names: list[str], question: str = "Add an argument (type to filter, Enter adds, Esc cancels)",
                 on_screen: list[str] | None = None):
        super().__init__()
        self.names = names
        self.filled_for = ""  # the filter text the list was last filled for
        self.question = question
        self.on_screen = on_screen or []  # F7: the fields already there, named when the filter finds only them

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            yield Input(placeholder="filter, e.g. lr_ or label_smoothing", id="filter", compact=True)
            yield OptionList(id="field-list")
            yield Static(id="field-help")

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False
        self.fill("")
        self.query_one(Input).focus()

    def fill(self, text: str) -> None:
        self.filled_for = text
        specs = all_fields()
        wanted = [n for n in self.names if text.lower() in n.lower()]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(f"{n}  [dim]{specs[n].kind}[/dim]", id=n) for n in wanted])
        if wanted:
            options.highlighted = 0
        self.show_help()

    @on(Input.Changed)
    def filtered(self, event: Input.Changed) -> None:
        self.fill(event.value)

    @on(OptionList.OptionHighlighted)
    def show_help(self) -> None:
        options = self.query_one(OptionList)
        help_widget = self.query_one("#field-help", Static)
        if options.highlighted is None:
            text = self.query_one(Input).value.lower()
            there = [n for n in self.on_screen if text and text in n.lower()]
            # 'no argument matches' for weight_decay, which is on the screen already, read as if it did not exist
            help_widget.update(Text(f"{', '.join(there[:3])} {'is' if len(there) == 1 else 'are'} on the screen "
                                    "already: Esc, then F8 goes to it") if there else "no argument matches")
            return
        spec = all_fields()[options.get_option_at_index(options.highlighted).id]
        head = f"{spec.name} ({spec.section}, default {printable(repr(spec.default))}): "
        # Text, not markup: peft's help holds brackets (['q', 'v']); cut at a word to the lines the box shows (a
        # 240-character cut still ran past them after a long name and default, and the end was lost mid-sentence)
        width = help_widget.content_size.width or HELP_WIDTH
        # no more than the box can show before the word-by-word cut (the helps are whole now: up to 1000 characters)
        words = shorten(printable(spec.help), max(20, width * HELP_LINES), placeholder=" ...")
        while words and len(wrap(head + words, width)) > HELP_LINES:
            words = shorten(words, max(1, len(words) - 8), placeholder=" ...")
            if words == "...":
                break
        help_widget.update(Text.assemble((spec.name, "bold"), head[len(spec.name):], words))

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = max(0, min(options.option_count - 1, (options.highlighted or 0) + delta))

    def action_choose(self) -> None:
        typed = self.query_one(Input).value
        if typed != self.filled_for:
            # keys typed in a burst (a paste, a fast typist over SSH, a loaded machine): Enter can come before the
            # Input's Changed for the last letters has refiltered the list, and chose from the list of fewer letters
            self.fill(typed)
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
