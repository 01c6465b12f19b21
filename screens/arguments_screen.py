"""Screen 2: every argument of the run, grouped, checked as typed; the analysis beside it; launch."""
from __future__ import annotations

import re
from textwrap import shorten

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from console.common.errors import ConfigError
from console.common.safe_text import printable
from console.config.analysis import analyse, check, cli_command, fmt, training_arguments_snippet
from console.config.fields import SECTIONS, all_fields
from console.config.run_config import RunConfig, resolve, to_yaml, value_from_text
from console.machine.load_checks import field_problems
from screens.messages import DataChecked, MemoryEstimated
from screens.widgets.field_row import FieldRow, value_text


def fix_record_text(record: dict) -> str:
    """'learning_rate 0.03 -> 0.0002' from a lineage record as console.diagnosis.fixes.apply writes it (id, changes,
    why,
    from): the title read 'label'/'problem', which apply never writes, and was always blank."""

    changes = record.get("changes") if isinstance(record.get("changes"), dict) else {}
    before = record.get("from") if isinstance(record.get("from"), dict) else {}
    return ", ".join(f"{k} {fmt(before[k])} -> {fmt(v)}" if before.get(k) is not None else f"{k} -> {fmt(v)}"
                     for k, v in changes.items())


ALWAYS_SHOWN = ("max_steps",)  # not in every preset, but what a short first run needs
# What the memory estimate depends on (console.config.memory reads these): it is computed again only when one changes.
# What the check of the datasets as typed reads (screens/workers/data_preview.check_text).
DATA_INPUTS = ("dataset", "dataset_format", "columns", "text_column", "dataset_split", "dataset_config", "model",
               "chat_template", "use_chat_template", "train_on_prompt")
MEMORY_INPUTS = ("model", "per_device_train_batch_size", "max_length", "activation_checkpointing", "fp16", "bf16",
                 "use_cpu", "load_in_4bit", "bnb_4bit_use_double_quant", "lora_r", "lora_target_modules",
                 "lora_dropout", "adapter_type", "optim", "processes", "gradient_accumulation_steps")


def memory_key(config: RunConfig) -> tuple:
    return (config.method, *(repr(config.values.get(name)) for name in MEMORY_INPUTS))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class ArgumentsScreen(Screen):
    """Fields keep what was typed; an invalid value shows its message and blocks the launch."""

    TYPES_LETTERS = True  # letters go into the fields: the app's q is not a key here (screens/help.py)
    HELP_EXTRA = ("A field with fixed words (lr_scheduler_type, optim, eval_strategy, dataset_format, ...): Ctrl-N / "
                  "Ctrl-P its next / previous word; what you type is completed, Right takes the rest.")
    BINDINGS = [
        Binding("f5", "launch", "Launch"),
        Binding("f2", "snippet", "Python"),
        Binding("f3", "command", "CLI"),
        Binding("f4", "save_preset", "Save"),
        Binding("f6", "reset_field", "Reset"),
        Binding("f7", "add_field", "Add", tooltip="Add a field: any argument of the trainer"),
        Binding("f8", "goto_field", "Go to field", show=False),
        Binding("f9", "theme", "Light/dark", show=False),
        Binding("f11", "data_page", "Data"),
        Binding("ctrl+o", "data_page", "Data", show=False),  # for terminals that take F11 (full screen) themselves
        Binding("f10", "quit_app", "Quit", show=False),
        Binding("escape", "back", "Back"),
        # priority: the fields' scroll container would otherwise take the arrows to scroll
        Binding("down", "next_field", "Next field", show=False, priority=True),
        Binding("up", "previous_field", "Previous field", show=False, priority=True),
    ]

    def __init__(self, config: RunConfig, title: str = "", came_from: str = "setup", focus_field: str | None = None):
        super().__init__()
        self.came_from = came_from  # the mode it was opened from: Esc goes back there
        self.focus_field = focus_field  # the field the cursor starts in (the one the title asks for), else the first
        self.original = config  # the config the screen opened with; edits are laid over it
        self.title_text = title or config.preset.name
        self.typed: dict[str, object] = {}  # field -> valid value typed (differs or not from the original)
        self.checked_text: dict[str, str] = {}  # field -> the text its last check was of (what is on screen now)
        self._machine_for: RunConfig | None = None  # the draft _machine was resolved from (on_machine)
        self._machine: RunConfig | None = None
        self.errors: dict[str, str] = {}  # field -> message of the invalid text typed
        self.draft: RunConfig = config
        self.cross_problems: dict[str, str] = {}
        self._rebuild_pending = False
        self.data_text = ""  # the last check of the datasets as typed (DataChecked), and its problem
        self.data_problem: str | None = None
        self.model_problem: str | None = None  # the model cannot load here (from the memory worker: it may ask the
        # network whether the Hub answers)
        self.data_for: tuple | None = None
        self._data_wanted: tuple | None = None
        self.memory_text = ""  # the last estimate received (console.config.memory.estimate_text)
        self.memory_for: tuple | None = None  # the inputs it is for
        self._memory_wanted: tuple | None = None  # the inputs of the draft now

    # -- layout --------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Horizontal(id="launch-line"):
            yield Button("Launch (F5)", id="launch", compact=True, variant="primary")
            yield Static(id="launch-status")
        with Horizontal(id="args-body"):
            fields = VerticalScroll(id="fields")
            fields.can_focus = False
            yield fields
            with VerticalScroll(id="analysis"):
                yield Static(id="analysis-text")
        yield Footer(compact=True)

    async def on_mount(self) -> None:
        # the fields are mounted after the screen itself: keys wait until they are there (F8 pressed as the screen
        # opened found no field to go to, and its dialog said "no argument matches")
        hold = getattr(self.app, "_hold_keys", None)
        if hold is not None:
            hold(self)
        try:
            await self.build_rows()
            self.focus_first_field()
        finally:
            if hold is not None:
                self.app._release_keys(self)

    def focus_first_field(self) -> None:
        """The cursor starts in the first field: on the Launch button a stray Enter launched a run."""
        rows = self.rows()
        # `p` asks for the dataset: the cursor starts there (it started in `model`, and a new user typed the
        # dataset's name into the model field)
        chosen = next((r for r in rows if r.field_name == self.focus_field), rows[0] if rows else None)
        if chosen is not None:
            chosen.input.focus()
            chosen.input.action_end()
        else:
            self.query_one("#launch", Button).focus()

    async def build_rows(self) -> None:
        fields = self.query_one("#fields", VerticalScroll)
        await fields.remove_children()
        specs = all_fields()
        lineage = ""
        if self.original.parent:
            fixes = [f for f in self.original.fixes or [] if isinstance(f, dict)]
            fix = fix_record_text(fixes[-1]) if fixes else ""
            from screens.runs_screen import short_id

            # the parent as method-hash, as the training screen names it: the whole id left no room for the fix
            # at 80 columns ('from run 20261206-204850-full-a621:')
            lineage = f"  from {short_id(self.original.parent)}{': ' + fix if fix else ''}"
        # a title, a parent id, a fix label from a run folder: text, never markup
        self.query_one("#title", Static).update(Text.assemble(
            ("Arguments", "bold"), f"  {printable(self.title_text)} ({self.original.method})",
            (printable(lineage), "dim")))
        by_section: dict[str, list[str]] = {s: [] for s in SECTIONS}
        for name in [*self.original.values, *(n for n in ALWAYS_SHOWN if n not in self.original.values)]:
            spec = specs.get(name)
            by_section.setdefault(spec.section if spec else "advanced", []).append(name)
        boxes = []
        for section in SECTIONS:
            rows = [FieldRow(name, self.original.values.get(name, specs[name].default if name in specs else None),
                             specs[name].help if name in specs else "",
                             choices=specs[name].choices if name in specs else None)
                    for name in by_section.get(section, [])]
            boxes.append(Vertical(Static(section, classes="section-title"), *rows, id=f"section-{_slug(section)}",
                                  classes="section"))
        await fields.mount_all(boxes)
        self.revalidate()

    async def load_config(self, config: RunConfig, title: str = "", focus_field: str | None = None) -> None:
        """Show another config (a fix carried over, a run to edit)."""
        self.focus_field = focus_field
        self.original = config
        self.title_text = title or config.preset.name
        self.typed, self.errors, self.cross_problems = {}, {}, {}
        self.draft = config
        await self.build_rows()
        self.focus_first_field()

    def rows(self) -> list[FieldRow]:
        return list(self.query(FieldRow))

    def row(self, name: str) -> FieldRow | None:
        found = self.query(f"#row-{name}")
        return found.first() if found else None  # type: ignore[return-value]

    # -- validation ----------------------------------------------------------------------------------------
    @on(FieldRow.Edited)
    def edited(self, event: FieldRow.Edited) -> None:
        self.validate_row(event.row, event.text)
        if not self._rebuild_pending:  # one rebuild for a burst of edits (mounting posts one per field)
            self._rebuild_pending = True
            self.call_after_refresh(self.rebuild_draft)

    def validate_row(self, row: FieldRow, text: str) -> None:
        name = row.field_name
        self.checked_text[name] = text
        if text == row.initial_text:  # unchanged: the config's own value (or the field's default)
            self.errors.pop(name, None)
            self.typed.pop(name, None)
            return
        try:
            value = value_from_text(name, text)
        except ConfigError as err:
            self.errors[name] = " ".join(err.problems.values()) or str(err)
            self.typed.pop(name, None)
            return
        self.errors.pop(name, None)
        self.typed[name] = value

    def rebuild_draft(self) -> None:
        self._rebuild_pending = False
        changes = dict(self.typed)
        try:
            self.draft = self.original.with_changes(changes) if changes else self.original
            self.cross_problems = {}
        except ConfigError as err:
            self.cross_problems = dict(err.problems)
        # what the launch's own check would refuse (flash attention without CUDA, a revision on a local folder, a
        # chat_template that is not Jinja), on the field as it is typed rather than at F5
        for name, problem in field_problems(self.machine_values()).items():
            self.cross_problems.setdefault(name, problem)
        self.update_marks()
        self.request_memory()
        self.request_data_check()
        self.update_analysis()
        self.refresh_bindings()

    def request_data_check(self) -> None:
        """Ask the App to check the draft's datasets (files, format, columns, split, the template's roles) when
        what that check reads changed: the dataset is checked as it is typed, not only at F5."""
        key = tuple(repr(self.draft.values.get(k)) for k in DATA_INPUTS)
        if key != self._data_wanted:
            self._data_wanted = key
            self.app.data_check_worker(dict(self.draft.values), key, self)

    @on(DataChecked)
    def data_checked(self, message: DataChecked) -> None:
        if message.key != self._data_wanted:
            return  # for inputs changed since
        self.data_text, self.data_problem, self.data_for = message.text, message.problem, message.key
        self.update_analysis()
        self.refresh_bindings()

    def action_data_page(self) -> None:
        self.app.show_data_page(self.draft)

    def request_memory(self) -> None:
        """Ask the App for the draft's memory estimate, if what it depends on changed (off the main thread)."""
        key = memory_key(self.draft)
        if key != self._memory_wanted:
            self._memory_wanted = key
            self.app.memory_worker(self.draft, key, self)

    @on(MemoryEstimated)
    def memory_estimated(self, message: MemoryEstimated) -> None:
        if message.key != self._memory_wanted:
            return  # for inputs changed since
        self.memory_text, self.memory_for = message.text, message.key
        self.model_problem = message.model_problem
        self.update_analysis()
        self.refresh_bindings()

    def revalidate(self) -> None:
        for row in self.rows():
            self.validate_row(row, row.text)
        self.rebuild_draft()

    def update_marks(self) -> None:
        for row in self.rows():
            name = row.field_name
            error = self.errors.get(name) or self.cross_problems.get(name)
            value = self.typed.get(name, self.draft.values.get(name))
            c = check(self.draft, name, value) if error is None else check(self.draft, name,
                                                                           self.draft.values.get(name))
            row.show(error, c.within, c.lo, c.hi)

    @property
    def problems(self) -> dict[str, str]:
        data = {"dataset": f"data: {self.data_problem}"} if self.data_problem and self.data_for == self._data_wanted \
            and "dataset" not in self.errors else {}
        model = {"model": self.model_problem} if self.model_problem and self.memory_for == self._memory_wanted \
            and "model" not in self.errors else {}
        return {**data, **model, **self.cross_problems, **self.errors}

    def update_analysis(self) -> None:
        text = Text()
        problems = self.problems
        status = self.query_one("#launch-status", Static)
        if problems:
            status.update(f"[b red]{len(problems)} invalid: fix to launch[/]")
        else:
            status.update(f"effective batch [b]{self.draft.effective_batch}[/b]")
        self.query_one("#launch", Button).disabled = bool(problems)
        for message in problems.values():
            text.append(f"✗ {printable(message)}\n", style="bold red")
        for line in analyse(self.draft):
            if line.startswith("ok "):  # each field's own mark says it already
                continue
            style = "yellow" if line.startswith("!!") else ""
            if any(f"{name}=" in line for name in problems):
                continue  # a check of a value that is not in the field now (what is there is invalid, said above)
            text.append(printable(line[3:]) + "\n", style=style)
        for notice in self.draft.notices:
            text.append(f"note: {printable(notice)}\n", style="dim")
        if self.data_text and not self.data_problem:
            text.append(f"data: {printable(self.data_text)}\n", style="dim")
        self.append_machine(text)
        focused = self.focused_row()
        if focused is not None:
            spec = all_fields().get(focused.field_name)
            if spec is not None:
                default = self.original.preset.defaults.get(spec.name, spec.default)
                text.append(f"\n{spec.name}", style="bold")
                text.append(f" (default {value_text(default) or 'empty'})\n"
                            f"{shorten(printable(spec.help), 300, placeholder=' ...')}\n")
        text.append("\n")
        self.append_memory(text)  # after the focused field's help: at 80x24 that help stays in view
        text.rstrip()
        self.query_one("#analysis-text", Static).update(text)

    def on_machine(self) -> RunConfig | None:
        """The draft as the launch's resolve() will make it on this machine (use_cpu set without CUDA), once the
        hardware is known (None before, or when resolve refuses it: the checks say why). One resolve per draft,
        shared by the field marks and the machine line."""
        from console.machine.hardware import probed

        if not probed():
            return None
        if self._machine_for is not self.draft:
            self._machine_for, self._machine = self.draft, None
            try:
                self._machine = resolve(self.draft)
            except Exception:  # noqa: BLE001  advice only: a config resolve refuses is said by the checks
                pass
        return self._machine

    def machine_values(self) -> dict:
        machine = self.on_machine()
        return machine.values if machine is not None else self.draft.values

    def append_machine(self, text: Text) -> None:
        """What this machine will really use (device, precision), said on a fresh preset too: 'fp16 ignored: no
        CUDA device' before launch, not after. Once the hardware is known (the memory worker probes it off the main
        thread: nvidia-smi can be slow), it is the resolve() the launch will do."""
        machine = self.on_machine()
        if machine is None:
            return
        said = [n for n in machine.notices[len(self.draft.notices):] if not n.startswith("4-bit compute dtype")]
        text.append(f"this machine: {machine.resolved.get('device')}, {machine.resolved.get('precision')}"
                    + (f" ({'; '.join(said)})" if said else "") + "\n", style="yellow" if said else "")

    def append_memory(self, text: Text) -> None:
        if not self.memory_text:
            text.append("memory: estimating...\n", style="dim")
            return
        lines = self.memory_text.splitlines()
        if lines[0].startswith("memory: no estimate"):
            text.append(lines[0] + "\n", style="dim")
            return
        stale = self.memory_for != self._memory_wanted
        text.append(lines[0] + (" (updating...)" if stale else "") + "\n", style="dim" if stale else "")
        for line in lines[1:]:
            line = line.strip()
            dim = stale or line.startswith("note:")
            warn = not dim and ("won't fit" in line or "tight" in line or "no estimate" in line)
            text.append(f"  {line}\n", style="dim" if dim else "yellow" if warn else "")

    def focused_row(self) -> FieldRow | None:
        node = self.focused
        while node is not None and not isinstance(node, FieldRow):
            node = node.parent
        return node

    def on_descendant_focus(self) -> None:
        self.update_analysis()
        self.refresh_bindings()

    # -- keys ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        if action == "launch":
            return None if self.problems else True
        if action == "reset_field":
            return True if self.focused_row() is not None else None
        return True

    @on(Button.Pressed, "#launch")
    def launch_pressed(self) -> None:
        self.action_launch()

    @on(Input.Submitted)
    def field_submitted(self) -> None:
        self.focus_next()

    def action_next_field(self) -> None:
        if self.focused is not None and self.focused.id == "analysis":
            self.focused.scroll_down()
        else:
            self.focus_next()

    def action_previous_field(self) -> None:
        if self.focused is not None and self.focused.id == "analysis":
            self.focused.scroll_up()
        else:
            self.focus_previous()

    def action_launch(self) -> None:
        if self.problems:
            # the first invalid field down the screen (a cross-field problem may name no field on it)
            name = next((row.field_name for row in self.rows() if row.field_name in self.problems),
                        next(iter(self.problems)))
            row = self.row(name)
            if row is not None:
                row.input.focus()
            self.notify(f"{name}: {self.problems[name]}", title="fix this to launch", severity="error")
            return
        self.launching = {row.field_name: row.text for row in self.rows()}  # launched, once its run starts
        from console.loop.next_run import with_hand_changes

        # a run made from another (a fix carried, a DPO from its model): what was edited here joins its lineage
        draft = with_hand_changes(self.original, self.draft.copy(), "changed on the arguments screen")
        self.app.launch(resolve(draft))

    def mark_launched(self) -> None:
        """The run of these fields started: what they hold is in its config.yaml, nothing to discard (Esc after F5
        asked to discard the changes just launched)."""
        self.launched = dict(getattr(self, "launching", None) or {})

    def changed_fields(self) -> list[str]:
        """The fields whose text differs from what the screen opened with, and from what was last launched or saved
        as a preset."""
        launched = getattr(self, "launched", None) or {}
        return [row.field_name for row in self.rows()
                if row.text != row.initial_text and row.text != launched.get(row.field_name)]

    def action_back(self) -> None:
        """Back to where the screen was opened from; edits are not dropped without asking."""
        from screens.confirm import ConfirmScreen

        def leave(choice: str | None = "discard") -> None:
            if choice != "discard":
                return
            came_from = self.came_from
            self.dismiss()
            if came_from != "setup":  # opened from a run (a fix, an edit): back to it, not to the method screen
                self.app.run_worker(self.app.back(), exclusive=True, group="nav")

        changed = self.changed_fields()
        if not changed:
            leave()
            return
        names = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        self.app.push_screen(ConfirmScreen(f"Discard your changes to {names}?",
                                           [("y", "Yes, discard", "discard"), ("n", "No, keep editing", "keep")]),
                             leave)

    def action_theme(self) -> None:
        self.app.action_toggle_theme()

    async def action_quit_app(self) -> None:
        await self.app.action_quit()

    def action_snippet(self) -> None:
        from screens.text_screen import TextScreen

        self.app.push_screen(TextScreen("SFTConfig (TRL)", training_arguments_snippet(self.draft)))

    def action_command(self) -> None:
        from screens.text_screen import TextScreen

        self.app.push_screen(TextScreen("Command line", cli_command(self.draft)))

    def action_save_preset(self) -> None:
        from console.common.safe_write import replace_file
        from console.config.presets import user_presets_dir
        from screens.prompt_screen import PromptScreen

        def save(name: str | None) -> None:
            if not name:
                return
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "preset"
            path = user_presets_dir() / f"{safe}.yaml"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                replace_file(path, to_yaml(self.draft))  # a link at the name is refused, never written through
            except OSError as err:
                self.notify(f"cannot save {path}: {err.strerror or err}", severity="error")
                return
            self.notify(f"saved preset {safe} ({path})")
            # kept in the preset: Esc no longer asks to discard them (it did, right after the save)
            self.launched = {row.field_name: row.text for row in self.rows()}

        self.app.push_screen(PromptScreen("Save these arguments as a preset named:", self.original.method,
                                          hint=f"in {user_presets_dir()}"), save)

    def action_reset_field(self) -> None:
        row = self.focused_row()
        if row is None:
            return
        spec = all_fields().get(row.field_name)
        default = self.original.preset.defaults.get(row.field_name, spec.default if spec else None)
        row.set_text(value_text(default))

    def action_add_field(self) -> None:
        from screens.add_field_screen import AddFieldScreen

        present = {row.field_name for row in self.rows()}
        objective = self.draft.objective  # the arguments this run's trainer takes (beta: DPO's and KTO's, not SFT's)
        self.app.push_screen(AddFieldScreen(sorted(
            n for n, spec in all_fields().items() if n not in present
            and (spec.objectives is None or objective in spec.objectives)), on_screen=sorted(present)), self.add_field)

    def action_goto_field(self) -> None:
        from screens.add_field_screen import AddFieldScreen

        def goto(name: str | None) -> None:
            row = self.row(name) if name else None
            if row is not None:
                row.input.focus()
                row.input.action_end()
                row.scroll_visible()

        names = [row.field_name for row in self.rows()]
        self.app.push_screen(AddFieldScreen(names, "Go to field (type part of its name, Enter goes there)"), goto)

    async def add_field(self, name: str | None) -> None:
        if not name or self.row(name) is not None:
            return
        spec = all_fields()[name]
        box = self.query_one(f"#section-{_slug(spec.section)}", Vertical)
        row = FieldRow(name, spec.default, spec.help, choices=spec.choices)
        await box.mount(row)
        row.input.focus()
        row.scroll_visible()
