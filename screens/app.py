"""The Training Console application: screens, the trainer worker, and the state of the run on screen."""
from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.widgets import Input
from textual.worker import WorkerState, get_current_worker

from console.common.errors import UserError
from console.runs.rundir import RunDir, active_run_dirs, find_run
from screens.messages import (
    GpuSampled,
    LaunchFailed,
    MemoryEstimated,
    MetricsArrived,
    PhaseChanged,
    RunFinished,
    RunLaunched,
    SamplesArrived,
)

# Only what the first frame needs is imported here; the other screens (and plotext, the config machinery behind
# them) load when first shown, so start-up stays close to a bare Textual app's.
from screens.method_screen import MethodScreen
from screens.too_small import TooSmallScreen

if TYPE_CHECKING:
    from screens.live import LiveRun

MIN_WIDTH, MIN_HEIGHT = 80, 24


def _training_screen():
    from screens.training_screen import TrainingScreen

    return TrainingScreen()


def _runs_screen():
    from screens.runs_screen import RunsScreen

    return RunsScreen()


def _is_arguments_screen(screen) -> bool:
    module = sys.modules.get("screens.arguments_screen")  # not imported yet: no arguments screen exists
    return module is not None and isinstance(screen, module.ArgumentsScreen)


def _run_phrase(run: RunDir) -> str:
    """'20261130-0102-lora-ab12 (training, step 40)': a run as the quit and launch questions name it."""
    status = run.status()
    step = status.get("step")
    return f"{run.id} ({status.get('phase', '?')}" + (f", step {step})" if step is not None else ")")


class TrainingConsoleApp(App):
    """Choose a method, edit its arguments, train, watch the curves, carry a fix into the next run."""

    CSS_PATH = "app.tcss"
    TITLE = "Training Console"
    ENABLE_COMMAND_PALETTE = False
    MODES = {"setup": MethodScreen, "training": _training_screen, "runs": _runs_screen}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("t", "toggle_theme", "Light/dark", show=False),
        Binding("f1", "show_keys", "Help"),
        Binding("f10", "quit", "Quit", show=False),
    ]

    def __init__(self, runs_dir: str | Path = "runs", attach: str | None = None, poll: float | None = None,
                 model: str | None = None, dataset: str | None = None):
        super().__init__()
        self.runs_dir = Path(runs_dir)
        # `training-console --model X --dataset Y`: what every new run of this session starts with (None: the demo)
        self.session = {k: v for k, v in (("model", model), ("dataset", dataset)) if v}
        self.attach_to = attach
        self.poll = poll
        self.live: LiveRun | None = None  # the run on the training screen
        self.opening: str | None = None  # the id of the run being opened, until its RunLaunched arrives
        self.trail: list[str] = []  # the modes shown before this one, newest last (Esc goes back along it)
        self._watch_failures: dict[str, int] = {}  # run id -> how often its watcher failed (re-armed up to 3)
        self.animation_level = "none"  # over SSH every byte counts

    # -- start ---------------------------------------------------------------------------------------------
    async def on_mount(self) -> None:
        run = None
        if self.attach_to:
            try:
                run = find_run(self.runs_dir, self.attach_to)
            except UserError as err:
                self.notify(str(err), severity="error", timeout=10)
        else:
            active = self.active_runs()
            if active:
                run = active[-1]
                if len(active) > 1:
                    self.notify(f"{len(active)} runs are training; showing the newest (u: all runs)", timeout=8)
        # A run to show opens straight on the training screen: the method screen is built when first needed.
        await self.switch_mode("setup" if run is None else "training")
        self.check_size()
        if run is not None:
            self.open_run(run)

    def active_runs(self, max_age: float = 0.0) -> list[RunDir]:
        """The runs training now, from their folders; `max_age` > 0 accepts an answer that many seconds old (the
        footer asks on every refresh of its keys, and each answer reads every run folder and /proc)."""
        import time

        cached = getattr(self, "_active_cache", None)
        if max_age > 0 and cached is not None and time.monotonic() - cached[0] <= max_age:
            return list(cached[1])
        active = active_run_dirs(self.runs_dir)  # reads only the status.json files that changed or say "training"
        self._active_cache = (time.monotonic(), active)
        return active

    # -- keys while a screen opens -------------------------------------------------------------------------
    # A screen opens in steps: a key's action (run when the key has gone down to the focused widget and bubbled
    # back) starts a navigation worker (group "nav") that builds the screen, pushes it, and the screen mounts and
    # takes the focus a few messages later. Keys pressed meanwhile were handled by whatever was focused then: F8
    # pressed right after `d` or Enter reached the method screen, and the field name typed next went into `model`
    # (a run launched with `model: max_ste`). So keys are handed on one at a time, each once the one before it has
    # been handled (typed into a field, or its binding run), and none while a screen is being opened: they go to
    # the screen that opened, in order. Textual has no such queue of its own.
    HOLD_KEYS_S = 3.0  # never hold keys longer than this, whatever happens to the screen asked for
    KEY_HANDLED_S = 3.0  # nor wait longer than this for one key to be handled (Backspace goes up to the app and
    # back: a character typed after it must not overtake it, as it did under load without this queue)

    def _hold_keys(self, token) -> None:
        import time

        holds = self.__dict__.setdefault("_key_holds", {})
        holds[token] = time.monotonic() + self.HOLD_KEYS_S

    def _release_keys(self, token) -> None:
        holds = self.__dict__.setdefault("_key_holds", {})
        if holds.pop(token, None) is not None and not self._holding_keys():
            self.call_after_refresh(self._replay_keys)

    def _holding_keys(self) -> bool:
        import time

        holds = self.__dict__.setdefault("_key_holds", {})
        now = time.monotonic()
        for token in [t for t, until in holds.items() if until < now]:
            del holds[token]  # a screen that never opened: its keys go on
        return bool(holds)

    async def on_event(self, event) -> None:
        from textual import events

        if isinstance(event, events.Key):
            if not event.is_forwarded and not getattr(event, "_replayed", False):
                held = self.__dict__.setdefault("_held_keys", [])
                if held or self._holding_keys() or self._key_in_flight():
                    held.append(event)  # behind the key still being handled, in the order pressed
                    self._replay_keys()
                    return
                self._send_key(event)  # nothing pending: handled now, as it comes
            came_back = event.is_forwarded  # (forwarding sets the flag on this very event: read it before)
            await super().on_event(event)
            if getattr(event, "_replayed", False) and (came_back or not event.is_forwarded):
                # it came back up unhandled (the app's bindings have run), or a priority binding took it before
                # it went down (never forwarded)
                event._handled = True
            return
        await super().on_event(event)

    def _send_key(self, key) -> None:
        """Note `key` as the one in flight: the next waits until it is handled or KEY_HANDLED_S has passed."""
        import time

        key._replayed = True
        key._deadline = time.monotonic() + self.KEY_HANDLED_S
        self._in_flight = key

    def _key_in_flight(self) -> bool:
        import time

        key = self.__dict__.get("_in_flight")
        return key is not None and not (getattr(key, "_handled", False) or key._stop_propagation
                                        or time.monotonic() > key._deadline)

    def _replay_keys(self) -> None:
        if self.__dict__.get("_held_keys") and not self._holding_keys() and not self.__dict__.get("_handing_keys"):
            self._handing_keys = True
            super().run_worker(self._replaying(), group="hand-keys")

    async def _replaying(self) -> None:
        """The keys held, one at a time as if typed now: each once the one before it is handled (typed into the
        focused field, or its binding run and the screen it asks for on its way), none while a screen opens."""
        import asyncio

        from textual import events

        held = self.__dict__.setdefault("_held_keys", [])
        try:
            while held and not self._holding_keys():
                if self._key_in_flight():
                    await asyncio.sleep(0.002)
                    continue
                key = held.pop(0)
                again = events.Key(key.key, key.character)
                self._send_key(again)
                self.post_message(again)
        finally:
            self._handing_keys = False
        if held and not self._holding_keys():
            self.call_after_refresh(self._replay_keys)

    def run_worker(self, work, *args, group: str = "default", **kwargs):
        """A navigation (group "nav") holds the keys from the moment it is asked for until it has finished."""
        worker = super().run_worker(work, *args, group=group, **kwargs)
        if group == "nav":
            self._hold_keys(worker)
        return worker

    def push_screen(self, screen, callback=None, wait_for_dismiss: bool = False, **kwargs):
        """A screen pushed holds the keys until it has mounted (and taken the focus)."""
        result = super().push_screen(screen, callback, wait_for_dismiss, **kwargs)
        if not wait_for_dismiss:
            token = object()
            self._hold_keys(token)

            async def opened() -> None:
                try:
                    await result
                finally:
                    self._release_keys(token)

            super().run_worker(opened(), group="opening")
        return result

    def pop_screen(self):
        """A screen closed holds the keys until the one behind is back and focused (Enter closing F8's dialog, then
        Backspace: it went to the dialog on its way out, not to the field jumped to)."""
        result = super().pop_screen()
        token = object()
        self._hold_keys(token)

        async def closed() -> None:
            try:
                await result
            finally:
                self.call_after_refresh(self._release_keys, token)

        super().run_worker(closed(), group="closing")
        return result

    # -- size guard ----------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.set_timer(0.05, self.check_size)  # after the App has taken its new size

    def on_screen_resume(self) -> None:
        self.check_size()

    def check_size(self) -> None:
        width, height = self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        top = self.screen if self.screen_stack else None
        if small and not isinstance(top, TooSmallScreen):
            self.push_screen(TooSmallScreen(MIN_WIDTH, MIN_HEIGHT))
        elif not small and isinstance(top, TooSmallScreen):
            self.pop_screen()

    # -- navigation ----------------------------------------------------------------------------------------
    async def goto(self, mode: str) -> None:
        if self.current_mode != mode:
            self.trail = (self.trail + [self.current_mode])[-20:]  # where Esc goes back to
            await self.switch_mode(mode)
        self.check_size()

    async def back(self) -> None:
        """Esc: back to the screen the user came from (the run they watched, the runs list), else the method
        screen."""
        while self.trail:
            mode = self.trail.pop()
            if mode != self.current_mode and (mode != "training" or self.live is not None):
                await self.switch_mode(mode)
                self.check_size()
                return
        if self.current_mode != "setup":
            await self.switch_mode("setup")
            self.check_size()

    async def show_arguments(self, config, title: str = "", focus_field: str | None = None) -> None:
        """The arguments screen with `config` (a fix carried into the next run, a run to edit and rerun); Esc on it
        goes back to where it was opened from."""
        from screens.arguments_screen import ArgumentsScreen

        came_from = self.current_mode
        await self.goto("setup")
        if isinstance(self.screen, ArgumentsScreen):
            await self.screen.load_config(config, title, focus_field=focus_field)
            self.screen.came_from = came_from
        else:
            await self.push_screen(ArgumentsScreen(config, title, came_from=came_from, focus_field=focus_field))

    async def new_run(self) -> None:
        """Back to the method screen (the arguments screen, if open, is closed), as F1 says: a mode's stack holds
        its own screens only (the method screen first), so it is popped down to one (`> 2` left the arguments
        screen of an earlier `a` on top, and a digit meant for the method list went into max_steps)."""
        await self.goto("setup")
        while len(self.screen_stack) > 1:
            await self.pop_screen()

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every toast as plain text: messages carry paths, field values and failure messages from run folders
        (a '[/b]' in one crashed the console with a MarkupError; an escape sequence in one reached the terminal)."""
        from console.common.safe_text import printable

        super().notify(printable(message), title=printable(title), severity=severity, timeout=timeout, markup=False)

    # -- actions ---------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        if action in ("quit", "toggle_theme") and (isinstance(self.focused, Input)
                                                   or _is_arguments_screen(self.screen)):
            return False  # letters go into the fields there: Esc goes back, F10 quits, F9 toggles the theme
        return True

    def action_help_quit(self) -> None:
        """Ctrl-C: how to quit, as plain text (Textual's own hint is markup, which our plain toasts showed as
        '[b]ctrl+q[/b]'). Ctrl-C does not quit: it is copy in a field, and a reflex that must not end a session."""
        keys = [key for key, active in self.active_bindings.items() if active.binding.action in ("quit", "app.quit")]
        shown = [k.upper() if k.startswith("f") and k[1:].isdigit() else
                 "Ctrl-" + k[5:].upper() if k.startswith("ctrl+") else k for k in keys]
        self.notify(f"Press {' or '.join(dict.fromkeys(shown)) or 'Ctrl-Q'} to quit (Ctrl-C does not quit here)",
                    title="Do you want to quit?")

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_show_keys(self) -> None:
        """F1: the help page of the screen on top (F1 or Esc closes it)."""
        from screens.help import help_text
        from screens.text_screen import TextScreen

        if isinstance(self.screen, TextScreen) and self.screen.is_help:
            self.screen.dismiss(None)
            return
        title, text = help_text(self.screen, self)
        self.push_screen(TextScreen(title, text, is_help=True))

    async def action_quit(self) -> None:
        """Quit; every run still training (on screen or not) is named first, to leave running or stop."""
        from screens.confirm import ConfirmScreen

        if not self.active_runs():
            self.exit()
            return

        def decided(choice: str | None) -> None:
            if choice not in ("stop", "leave"):
                return
            still = self.active_runs()  # as they are now: a run may have finished while the question was open
            if not still:
                self.exit(message=Text("every run had finished"))
            elif choice == "stop":
                from console.runs.launcher import request_stop

                stopped, frozen = [], []
                for run in still:
                    if request_stop(run):
                        # a trainer stopped by a signal or hung cannot act on the request: it said "stopping" and
                        # the console was gone while the run went on holding its memory
                        (frozen if run.status().get("not_responding") else stopped).append(run.id)
                said = [f"stopping {', '.join(stopped)} (a checkpoint is saved)"] if stopped else []
                if frozen:
                    said.append(f"{', '.join(frozen)} {'is' if len(frozen) == 1 else 'are'} not responding: the stop "
                                f"waits until it runs again; to end it now without a checkpoint: "
                                f"training-console stop {frozen[-1]} --kill")
                self.exit(message=Text("; ".join(said) or "every run had finished"))
            else:
                ids = [r.id for r in still]
                self.exit(message=Text(f"still training: {', '.join(ids)}. `training-console attach {ids[-1]}` "
                                       "shows it again (`training-console runs` lists them)"))

        self.push_screen(ConfirmScreen(self._quit_question(), [("l", "Leave running", "leave"),
                                                               ("s", "Stop all", "stop")],
                                       refresh=self._quit_question), decided)

    def _quit_question(self) -> str:
        """The quit question, from the run folders as they are now (the dialog re-reads it every second)."""
        active = self.active_runs()
        if not active:
            return "Every run has finished. Quit?"
        listing = "; ".join(_run_phrase(r) for r in active[:4]) + (f"; and {len(active) - 4} more"
                                                                  if len(active) > 4 else "")
        if len(active) == 1:
            return f"Run {listing} is still going. Leave it running, or stop it (a checkpoint is saved)?"
        return (f"{len(active)} runs are still going: {listing}. Leave them running, or stop them all (each saves a "
                "checkpoint)?")

    # -- the trainer worker ------------------------------------------------------------------------------------
    def launch(self, config, stop_first: RunDir | None = None) -> None:
        """Start a run of `config` (already resolved), after stopping `stop_first` gracefully if given. When other
        runs still train on this machine the user is asked first: a second run on the same GPU is, on most servers,
        an out-of-memory a minute later."""
        from screens.confirm import ConfirmScreen

        others = [r for r in self.active_runs() if stop_first is None or r.id != stop_first.id]
        if not others:
            self.trainer_worker(config=config, stop_first=[stop_first] if stop_first else [])
            return

        def decided(choice: str | None) -> None:
            if choice == "alongside":
                self.trainer_worker(config=config, stop_first=[stop_first] if stop_first else [])
            elif choice == "stop":
                self.trainer_worker(config=config, stop_first=([stop_first] if stop_first else []) + others)

        listing = "; ".join(_run_phrase(r) for r in others[:4]) + (f"; and {len(others) - 4} more"
                                                                   if len(others) > 4 else "")
        many = len(others) > 1
        self.push_screen(ConfirmScreen(
            f"{'Runs' if many else 'Run'} {listing} {'are' if many else 'is'} still training on this machine. A new "
            "run shares its GPU (or CPU) and memory with "
            f"{'them' if many else 'it'}. Start it alongside, or stop {'them' if many else 'it'} first (a checkpoint "
            "is saved)?", [("a", "Start alongside", "alongside"), ("s", "Stop, then start", "stop")]), decided)

    async def watch_training(self) -> None:
        """The run that trains: the one on screen if it still does, else the newest run training, else the last one
        shown."""
        live = self.live
        if live is None or not live.active:
            active = self.active_runs()
            if active:
                self.open_run(active[-1])  # its RunLaunched switches to the training screen
                return
        await self.goto("training")

    def open_run(self, run: RunDir) -> None:
        """Show a run: its whole history, and live while it trains."""
        self.opening = run.id
        self.trainer_worker(run=run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="trainer")
    def trainer_worker(self, run: RunDir | None = None, config=None, stop_first: list[RunDir] | None = None) -> None:
        from screens.workers import watcher

        worker = get_current_worker()
        watcher.trainer_loop(self.post_message, lambda: worker.is_cancelled, run=run, runs_dir=self.runs_dir,
                             # run.json records the console's own command line (it kept its first word only:
                             # "--runs-dir" without the folder)
                             config=config, command=["training-console", *sys.argv[1:]], stop_first=stop_first,
                             poll=self.poll or watcher.POLL_S)

    @work(thread=True, exclusive=True, exit_on_error=False, group="datacheck")
    def data_check_worker(self, values: dict, key: tuple, reply_to) -> None:
        """The draft's datasets checked as they are typed (the pre-launch data check: files, formats, columns,
        split, the template's roles; it reads files, so never on the main thread), posted as DataChecked."""
        from screens.messages import DataChecked
        from screens.workers.data_preview import check_text

        text, problem = check_text(values)
        if not get_current_worker().is_cancelled:
            reply_to.post_message(DataChecked(key, text, problem))

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def preview_worker(self, config, holder: dict) -> None:
        """The data page's preview of `config`, from a child process (screens/workers/data_preview.py); the page
        reads `holder["text"]` every second."""
        from screens.workers.data_preview import preview_text

        worker = get_current_worker()
        text = preview_text(config, lambda: worker.is_cancelled)
        if text:
            holder["text"] = text

    def show_data_page(self, config) -> None:
        """The data page: the examples as the model sees them, the loss-carrying part marked (F11 on the arguments
        screen, p on the method screen)."""
        from screens.text_screen import TextScreen

        holder = {"text": "reading the data: a child process loads the tokenizer and the datasets and tokenises "
                          "them as the trainer will..."}
        self.push_screen(TextScreen("Data as the model sees it ([[ ]]: the part in the loss)", holder["text"],
                                    wide=True, refresh=lambda: holder["text"]))
        self.preview_worker(config, holder)

    @work(thread=True, exclusive=True, exit_on_error=False, group="memory")
    def memory_worker(self, config, key: tuple, reply_to) -> None:
        """The memory estimate of `config`, posted to `reply_to` as MemoryEstimated (it may read a Hub model's
        config.json over the network and run nvidia-smi: never on the main thread)."""
        from console.config.memory import estimate_text
        from console.data.preflight import hub_model_unavailable

        problem = hub_model_unavailable(config.values.get("model"))  # the launch check's, with the network's word
        try:
            text = estimate_text(config)
        except Exception as err:  # noqa: BLE001  an estimate is advice: it never takes the screen down
            text = f"memory: no estimate ({type(err).__name__}: {err})"
        if not get_current_worker().is_cancelled:
            reply_to.post_message(MemoryEstimated(key, text, problem))

    def on_worker_state_changed(self, event) -> None:
        """A watcher that failed (an unreadable file, a bug) is said and started again, a few times: the screen
        froze at step 15 while its trainer reached 210 when it died silently."""

        worker = event.worker
        if worker.group == "nav" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._release_keys(worker)  # the navigation is over: the keys held meanwhile go to where it led
        if worker.group != "trainer" or event.state != WorkerState.ERROR:
            return
        live = self.live
        error = worker.error
        what = f"{type(error).__name__}: {error}" if error is not None else "an error"
        failures = self._watch_failures.get(live.id, 0) + 1 if live is not None else 99
        if live is not None:
            self._watch_failures[live.id] = failures
        if live is None or failures > 3:
            self.notify(f"watching the run stopped ({what})", severity="error", timeout=15)
            return
        self.notify(f"watching {live.id} failed ({what}): watching it again", severity="warning", timeout=8)
        self.set_timer(1.0 * failures, lambda: self.open_run(live.run))

    # -- handlers: the only place the run's state changes ----------------------------------------------------
    def _live(self, run_id: str) -> LiveRun | None:
        return self.live if self.live is not None and self.live.id == run_id else None

    async def on_run_launched(self, message: RunLaunched) -> None:
        from screens.live import LiveRun

        run = RunDir(message.path)
        try:
            config = run.config()
        except (UserError, OSError, ValueError):
            config = None
        self.live = LiveRun(run, config, status=dict(message.status or {}))
        if message.history is not None:
            self.live.history = message.history
        self.live.reading = message.reading
        self.opening = None
        for screen in self._screen_stacks.get("setup", []):  # the arguments it was launched from: nothing unsaved
            if _is_arguments_screen(screen) and getattr(screen, "launching", None):
                screen.mark_launched()
        await self.goto("training")
        self._redraw_now()
        self.screen.refresh_bindings()

    def _redraw_now(self) -> None:
        """A new run on screen, or its end: drawn at once rather than at the next tick of the screen's timer."""
        screen = self.screen
        if type(screen).__name__ == "TrainingScreen" and screen.is_mounted:
            screen.redraw()

    def on_launch_failed(self, message: LaunchFailed) -> None:
        self.notify(message.message, title="could not launch", severity="error", timeout=15)

    def on_metrics_arrived(self, message: MetricsArrived) -> None:
        live = self._live(message.run_id)
        try:
            if live is not None:
                live.history.extend(message.records)
                live.reading = message.reading
                live.changed()
        finally:
            if message.consumed is not None:
                message.consumed.set()

    def on_samples_arrived(self, message: SamplesArrived) -> None:
        live = self._live(message.run_id)
        if live is not None:
            live.samples.extend(message.samples)
            live.changed()

    def on_phase_changed(self, message: PhaseChanged) -> None:
        live = self._live(message.run_id)
        if live is not None:
            was_active = live.active
            live.status = message.status
            live.changed()
            if live.active != was_active:  # training <-> evaluating changes no key: the footer is not rebuilt
                self.screen.refresh_bindings()

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        live = self._live(message.run_id)
        if live is not None:
            live.gpu = (message.used_mib, message.total_mib)
            live.changed()

    def on_run_finished(self, message: RunFinished) -> None:
        live = self._live(message.run_id)
        if live is None:
            return
        live.status = message.status
        live.log_tail = message.log_tail
        live.changed()
        if message.store_at is not None:
            # a long run of an older trainer, read whole: its history stored for the next time it is opened, in a
            # thread (a few MB of JSON); the history is not changed after the run's end
            from console.runs.history_store import store_at

            self.run_worker(partial(store_at, live.run.path, live.history, message.store_at), thread=True,
                            group="history-store", exit_on_error=False)
        phase = message.status.get("phase")
        if phase == "failed":
            self.notify(message.status.get("message") or "the trainer failed", title=f"{live.id} failed",
                        severity="error", timeout=10)
        self._redraw_now()
        self.screen.refresh_bindings()
