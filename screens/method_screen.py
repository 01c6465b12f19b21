"""Screen 1: choose the method (full, LoRA, QLoRA, adapter), a demo scenario, or a saved preset."""
from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from console.common.errors import UserError
from console.config.analysis import fmt
from console.config.presets import all_presets, load_preset, load_scenarios, user_presets_dir

SUMMARY_KEYS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
                "max_steps", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm", "fp16", "lora_r",
                "lora_alpha", "lora_dropout", "load_in_4bit", "adapter_type")


class MethodScreen(Screen):
    HELP_MORE = {"pick": "highlight entry N of the list (a method, a demo, a saved preset); Up/Down move too"}
    HELP_EXTRA = ("A method opens its arguments with the guide's defaults; a demo opens a run that goes wrong on "
                  "purpose; a saved preset opens the arguments you saved with F4.")
    """Arrows or digits choose, Enter goes on to the arguments. The demo model and dataset are the default."""

    BINDINGS = [
        Binding("enter", "choose", "Go on"),
        Binding("1", "pick(1)", "Pick", key_display="1-9"),
        *[Binding(str(n), f"pick({n})", f"Pick {n}", show=False) for n in range(2, 10)],
        Binding("d", "demo", "Demo"),
        Binding("u", "runs", "Runs"),
        Binding("w", "watch", "Watch run"),
        Binding("p", "data_page", "Data"),
    ]

    def __init__(self):
        super().__init__()
        self.choices: list[tuple[str, object]] = []  # (kind, preset | scenario | path), in the list's order

    def compose(self) -> ComposeResult:
        yield Static("[b]Training Console[/b]  choose a method: arrows or 1-9, Enter to go on.  [b]d[/b]: the demo "
                     "(a run that goes wrong, and its fix)", id="title")
        yield Static(id="data-line")
        with Horizontal(id="method-body"):
            yield OptionList(id="methods")
            with VerticalScroll(id="method-details"):
                yield Static(id="details")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._fill()
        methods = self.query_one("#methods", OptionList)
        # The cursor starts on LoRA, the method most fine-tunes use; the first demo scenario (the whole loop, warning
        # and fix included) is one key away: d, then Enter.
        lora = next((i for i, (kind, item) in enumerate(self.choices) if kind == "method" and item.method == "lora"), 0)
        methods.highlighted = self._option_index(lora)
        methods.focus()
        session = self.app.session  # paths and names are text, never markup
        line = Text.assemble("model: ", (session.get("model", "demo"), "bold"),
                             "" if "model" in session else " (tiny Llama)", "  data: ",
                             (session.get("dataset", "demo"), "bold"),
                             "" if "dataset" in session else " (2000 examples)", f"  runs: {self.app.runs_dir}")
        self.query_one("#data-line", Static).update(line)
        self.show_details()

    def on_screen_resume(self) -> None:
        """Back from the arguments screen: a preset saved there (F4) is listed at once."""
        if self._saved_presets() != [p for k, p in self.choices if k == "preset"]:
            methods = self.query_one("#methods", OptionList)
            keep = methods.highlighted
            self._fill()
            methods.highlighted = min(keep or 0, methods.option_count - 1)
            self.show_details()

    @staticmethod
    def _saved_presets() -> list[Path]:
        folder = user_presets_dir()
        return sorted(folder.glob("*.yaml")) if folder.is_dir() else []

    def _fill(self) -> None:
        """The list: the methods, the demo scenarios, the presets the user saved (as the folder holds them now)."""
        options: list = []
        self.choices = []
        n = 0
        for preset in all_presets():
            n += 1
            options.append(Option(f"{n} {preset.name}", id=f"method:{preset.method}"))
            self.choices.append(("method", preset))
        scenarios = load_scenarios()
        if scenarios:
            options.append(None)
            for scenario in scenarios:
                n += 1
                options.append(Option(f"{n} {scenario.name}", id=f"scenario:{scenario.id}"))
                self.choices.append(("scenario", scenario))
        saved = self._saved_presets()
        if saved:
            options.append(None)
            for path in saved:
                n += 1
                options.append(Option(Text(f"{n} Preset: {path.stem}"), id=f"preset:{path.stem}"))
                self.choices.append(("preset", path))
        methods = self.query_one("#methods", OptionList)
        methods.clear_options()
        methods.add_options(options)

    def _option_index(self, choice: int) -> int:
        """Index in the OptionList (separators count) of the choice-th selectable entry (0-based)."""
        methods = self.query_one("#methods", OptionList)
        seen = -1
        for index in range(methods.option_count):
            if not methods.get_option_at_index(index).disabled:
                seen += 1
                if seen == choice:
                    return index
        return 0

    def selected(self) -> tuple[str, object] | None:
        methods = self.query_one("#methods", OptionList)
        if methods.highlighted is None:
            return None
        option_id = methods.get_option_at_index(methods.highlighted).id or ""
        kind, _, name = option_id.partition(":")
        for k, item in self.choices:
            key = getattr(item, "method", None) if k == "method" else getattr(item, "id", None) if k == "scenario" \
                else Path(item).stem
            if k == kind and key == name:
                return k, item
        return None

    @on(OptionList.OptionHighlighted)
    def show_details(self) -> None:
        choice = self.selected()
        details = self.query_one("#details", Static)
        if choice is None:
            details.update("")
            return
        kind, item = choice
        text = Text()
        if kind == "preset":
            text.append(f"Saved preset {Path(item).stem}\n", style="bold")
            text.append(f"{item}\n")
            details.update(text)
            return
        if kind == "scenario":

            text.append(f"{item.name}\n", style="bold")
            text.append(f"{item.description}\n\n")
            text.append("changes: " + ", ".join(f"{k}={fmt(v)}" for k, v in item.changes.items()) + "\n\n")
            preset = load_preset(item.method)
        else:
            preset = item
        text.append(f"{preset.name}", style="bold")
        text.append(f": {preset.summary}\n")
        for key, value in preset.characteristics.items():
            text.append(f"  {key.replace('_', ' ')}: ", style="bold")
            text.append(f"{value}\n")
        text.append("defaults\n", style="bold")
        shown = [f"{k}={fmt(preset.defaults[k])}" for k in SUMMARY_KEYS if k in preset.defaults]
        text.append("  " + ", ".join(shown))
        details.update(text)

    def action_pick(self, n: int) -> None:
        if n <= len(self.choices):
            self.query_one("#methods", OptionList).highlighted = self._option_index(n - 1)

    @on(OptionList.OptionSelected)
    def option_selected(self) -> None:
        self.action_choose()

    def action_data_page(self) -> None:
        """The data page for the highlighted method with the session's model and dataset."""
        config = self.chosen_config()
        if config is not None:
            self.app.show_data_page(config[0])

    def chosen_config(self):
        """(config, title) of the highlighted choice with the session's model and dataset; None (said) when it
        cannot be built."""
        choice = self.selected()
        if choice is None:
            return None
        from console.config.run_config import RunConfig, build_config

        kind, item = choice
        try:
            if kind == "method":
                config, title = RunConfig.from_preset(item.method), item.name
            elif kind == "scenario":
                config, title = RunConfig.from_preset(item.method).with_changes(item.changes), item.name
            else:
                config, title = build_config(config_file=str(item)), f"preset {Path(item).stem}"
            if self.app.session:  # the session's model and dataset (training-console --model X --dataset Y)
                config = config.with_changes(self.app.session)
        except UserError as err:
            self.notify(str(err), severity="error", timeout=10)
            return None
        return config, title

    def action_choose(self) -> None:
        chosen = self.chosen_config()
        if chosen is not None:
            self.app.run_worker(self.app.show_arguments(*chosen), exclusive=True, group="nav")

    def action_demo(self) -> None:
        """The first demo scenario, on the arguments screen (F5 launches it)."""
        first = next((i for i, (kind, _) in enumerate(self.choices) if kind == "scenario"), None)
        if first is not None:
            self.query_one("#methods", OptionList).highlighted = self._option_index(first)
            self.action_choose()

    def action_runs(self) -> None:
        self.app.run_worker(self.app.goto("runs"), exclusive=True, group="nav")

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "watch":
            return self.app.live is not None or bool(self.app.active_runs(max_age=2.0))
        if action == "pick" and parameters and parameters[0] > len(self.choices):
            return None
        return True

    def action_watch(self) -> None:
        self.app.run_worker(self.app.watch_training(), exclusive=True, group="nav")
