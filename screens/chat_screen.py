"""Chat with a run's model next to its base model: t on the runs screen (the run under the cursor) and on the training
screen (the run shown).

Two panes side by side, the base model's answers on the left and the fine-tuned model's on the right, each streamed
as it is generated; a prompt line at the bottom. The model runs in a child process (screens/workers/chat_child.py,
console/tools/chat.py); Esc ends it and goes back. Greedy by default; ^t (or F2) cycles the temperature 0 -> 0.7 -> 1.0.
Each prompt is answered on its own (no history). Model text is drawn as plain text with its control characters
written out (the demo model emits them).
"""
from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.common.errors import UserError
from console.common.safe_text import printable
from console.runs.rundir import RunDir
from screens.workers.chat_child import ChatChild, ChatEnded, ChatEvents, child_command, start

TEMPERATURES = (0.0, 0.7, 1.0)
MAX_NEW_TOKENS = 256
PANES = {"base": "base model", "tuned": "fine-tuned"}


def open_chat(app, run: RunDir | None) -> None:
    """Push the chat screen for `run`, or say in one line why it cannot chat (no model and no checkpoint yet)."""
    from console.tools.chat_plan import plan_chat

    if run is None:
        return
    try:
        plan = plan_chat(run)
    except UserError as err:
        app.notify(str(err), severity="error", timeout=10, markup=False)
        return
    app.push_screen(ChatScreen(run, plan.folder.name if plan.folder.name != "model" else "final", plan.label,
                               plan.method, plan.base_name))


class Exchange:
    """One prompt and the answer of one model to it, as shown in its pane."""

    def __init__(self, prompt: str):
        self.prompt = prompt
        self.answer = ""
        self.stats = ""
        self.waiting = True

    def text(self) -> Text:
        out = Text()
        out.append("> " + printable(self.prompt), style="bold")
        out.append("\n")
        out.append(printable(self.answer))
        if self.waiting and not self.answer:
            out.append("…", style="dim")
        if self.stats:
            out.append("\n" + self.stats, style="dim")
        return out


class ChatScreen(Screen):
    HELP_NAME = "chat"
    TYPES_LETTERS = True  # the prompt has the focus: q and t are letters of it (screens/help.py)
    AUTO_FOCUS = "#chat-input"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+t", "temperature", "Temperature", key_display="^t"),
        Binding("f2", "temperature", "Temperature", show=False),
        Binding("f3", "stop_answer", "Stop answer"),
        Binding("pageup", "scroll(-1)", "Scroll answers", show=False),
        Binding("pagedown", "scroll(1)", "Scroll answers", show=False),
        Binding("up", "history(-1)", "Earlier prompt", show=False),
        Binding("down", "history(1)", "Later prompt", show=False),
    ]
    HELP_MORE = {
        "back": "end the chat (its process too) and go back",
        "temperature": "the temperature: 0 (greedy) -> 0.7 -> 1.0 (sampled)",
        "stop_answer": "stop the answer being generated",
        "scroll": "scroll both panes",
        "history": "the prompts sent before",
    }
    HELP_EXTRA = ("Enter sends the prompt: the base model answers on the left, then the fine-tuned one on the right.\n"
                  "Each prompt is answered on its own (no history of the earlier ones), laid out as the run's "
                  "training examples were (through the chat template when it used one).")

    def __init__(self, run: RunDir, checkpoint: str | None, label: str, method: str, base: str):
        super().__init__()
        self.run = run
        self.label = label
        self.method = method
        self.base = base
        self.child = ChatChild(child_command(str(run.path), checkpoint))
        self.ready: dict | None = None
        self.queued = False  # Enter pressed before the model was ready: send the box's prompt when it is
        self.failed = ""  # why there is no model to chat with (a load error, the child's end)
        self.temperature = 0
        self.answering: list[str] = []  # the models still to answer the prompt sent
        self.current: dict[str, tuple[Exchange, Static]] = {}
        self.last: dict[str, dict] = {}  # each model's last done event
        self.history: list[str] = []
        self.history_at = 0
        self.closing = False

    def compose(self) -> ComposeResult:
        yield Static(id="chat-title")
        with Horizontal(id="chat-panes"):
            for which, title in PANES.items():
                pane = VerticalScroll(id=f"pane-{which}", classes="chat-pane")
                pane.border_title = title
                pane.can_focus = False
                yield pane
        yield Static(id="chat-status")
        yield Input(placeholder="a prompt; Enter sends it (each is answered on its own)", id="chat-input",
                    compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#chat-title", Static).update(
            Text.assemble(("Chat", "bold"), f" {self.run.id} ({self.method}): ", printable(self.label)))
        # as Text: a string title is read as markup (a model folder named m[link=x:y] ended the console)
        self.query_one("#pane-base").border_title = Text(f"base: {printable(self._short_base())}")
        self.query_one("#pane-tuned").border_title = Text(f"fine-tuned: {printable(self._short_label())}")
        self.query_one(Input).cursor_blink = False
        self.show_status()
        start(self, self.child)

    def _short_base(self) -> str:
        if self.base == "the built-in demo model":
            return "demo model"
        return self.base.rstrip("/").rsplit("/", 1)[-1] if self.base.startswith(("/", ".", "~")) else self.base

    def _short_label(self) -> str:
        if self.label.startswith("the final model"):
            return "final model"
        return self.label.split(" (")[0].removeprefix("the ")

    def on_unmount(self) -> None:
        self.child.close()

    # -- what the child says -------------------------------------------------------------------------------------
    def on_chat_events(self, message: ChatEvents) -> None:
        changed: set[str] = set()
        for event in message.events:
            kind = event.get("event")
            if kind == "ready":
                self.ready = event
                self.failed = ""
                for note in event.get("notes") or []:
                    self.notify(printable(note), timeout=8, markup=False)
                if self.queued:  # Enter was pressed while it loaded: the prompt in the box goes now
                    self.queued = False
                    self.call_after_refresh(self.send_prompt, self.query_one("#chat-input", Input))
            elif kind == "token":
                which = event.get("which")
                if which in self.current:
                    self.current[which][0].answer += str(event.get("text", ""))
                    changed.add(which)
            elif kind == "done":
                which = event.get("which")
                if which in self.current:
                    exchange = self.current[which][0]
                    exchange.answer = str(event.get("text", exchange.answer))
                    exchange.waiting = False
                    exchange.stats = self.stats_text(event)
                    changed.add(which)
                self.last[str(which)] = event
                if which in self.answering:
                    self.answering.remove(which)
                if event.get("stopped"):
                    self._end_request("stopped")
            elif kind == "error":
                text = str(event.get("message") or "the chat process failed")
                if event.get("fatal"):
                    self.failed = text
                self.notify(printable(text), severity="error", timeout=15, markup=False)  # paths in it: text
                self._end_request("")
        for which in changed:
            exchange, widget = self.current[which]
            widget.update(exchange.text())
            self.query_one(f"#pane-{which}", VerticalScroll).scroll_end(animate=False)
        self.show_status()
        self.refresh_bindings()

    def on_chat_ended(self, message: ChatEnded) -> None:
        if self.closing:
            return
        if not self.failed:
            self.failed = f"the chat process ended (exit {message.returncode})" + (
                f": {message.stderr}" if message.stderr else "")
            self.notify(self.failed, severity="error", timeout=15)
        self.ready = None
        self._end_request("")
        self.show_status()
        self.refresh_bindings()

    def _end_request(self, why: str) -> None:
        for which in self.answering:
            if which in self.current:
                exchange, widget = self.current[which]
                exchange.waiting = False
                exchange.stats = exchange.stats or (f"({why})" if why else "(no answer)")
                widget.update(exchange.text())
        self.answering = []

    @staticmethod
    def stats_text(event: dict) -> str:
        tokens, seconds = int(event.get("tokens") or 0), float(event.get("seconds") or 0.0)
        rate = f", {tokens / seconds:.0f}/s" if seconds > 0 and tokens else ""
        end = ("stopped" if event.get("stopped") else "ended" if event.get("ended")
               else "no end token")
        return f"({tokens} tokens, {seconds:.2f} s{rate}; {end})"

    def show_status(self) -> None:
        temp = TEMPERATURES[self.temperature]
        mode = "greedy" if temp == 0 else f"temperature {temp:g}"
        if self.failed and self.ready is None:
            status = Text(printable(self.failed), style="red")
        elif self.ready is None:
            status = Text("loading the model in a child process...")
        elif self.answering:
            which = self.answering[0]
            exchange = self.current.get(which, (None,))[0]
            chars = len(exchange.answer) if exchange else 0
            status = Text(f"{PANES[which]} answering ({chars} characters so far; F3 stops)")
        else:
            parts = [f"{PANES[w]} {self._rate(self.last[w])}" for w in PANES if w in self.last]
            status = Text("; ".join(parts) if parts else
                          f"ready in {self.ready.get('seconds', 0):.1f} s on {self.ready.get('device', '?')}: "
                          f"prompts go {self.ready.get('layout', '')}")
        self.query_one("#chat-status", Static).update(Text.assemble((f"[{mode}] ", "bold"), status))

    @staticmethod
    def _rate(event: dict) -> str:
        tokens, seconds = int(event.get("tokens") or 0), float(event.get("seconds") or 0.0)
        return f"{tokens} tokens, {tokens / seconds:.0f}/s" if seconds > 0 else f"{tokens} tokens"

    # -- the prompt ------------------------------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def submitted(self, event: Input.Submitted) -> None:
        self.send_prompt(event.input)

    def send_prompt(self, field: Input) -> None:
        prompt = field.value
        if not prompt.strip():
            return
        if self.ready is None:
            # Enter pressed while the model loads waits for it (a new user's Enter was dropped: the prompt stayed
            # in the box until Enter was pressed again)
            self.queued = not self.failed
            self.notify(self.failed or "the model is still loading: the prompt is sent once it is ready",
                        severity="warning")
            return
        if self.answering:
            self.notify("still answering the last prompt: F3 stops it", severity="warning")
            return
        which = [w for w in PANES if w in (self.ready.get("which") or [])]
        if not self.child.send({"prompt": prompt, "temperature": TEMPERATURES[self.temperature],
                                "max_new_tokens": MAX_NEW_TOKENS, "which": which}):
            self.notify("the chat process is not running", severity="error")
            return
        self.answering = list(which)
        self.current = {}
        for w in which:
            exchange = Exchange(prompt)
            widget = Static(exchange.text(), classes="exchange")
            self.current[w] = (exchange, widget)
            pane = self.query_one(f"#pane-{w}", VerticalScroll)
            pane.mount(widget)
            pane.scroll_end(animate=False)
        if not self.history or self.history[-1] != prompt:
            self.history.append(prompt)
        self.history_at = len(self.history)
        field.value = ""
        self.show_status()
        self.refresh_bindings()

    # -- keys ------------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        if action == "stop_answer":
            return bool(self.answering)
        return True

    def action_back(self) -> None:
        self.closing = True
        self.child.close()
        self.app.pop_screen()

    def action_temperature(self) -> None:
        self.temperature = (self.temperature + 1) % len(TEMPERATURES)
        temp = TEMPERATURES[self.temperature]
        self.notify("greedy (temperature 0): the same answer each time" if temp == 0 else
                    f"temperature {temp:g}: sampled answers, different each time", timeout=3)
        self.show_status()

    def action_stop_answer(self) -> None:
        if self.answering:
            self.child.send({"stop": True})

    def action_scroll(self, direction: int) -> None:
        for which in PANES:
            pane = self.query_one(f"#pane-{which}", VerticalScroll)
            if direction < 0:
                pane.scroll_page_up(animate=False)
            else:
                pane.scroll_page_down(animate=False)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self.history_at = max(0, min(len(self.history), self.history_at + step))
        field = self.query_one(Input)
        field.value = self.history[self.history_at] if self.history_at < len(self.history) else ""
        field.cursor_position = len(field.value)
