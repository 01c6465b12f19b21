"""The Training Console application: screens, the trainer worker, and the state of the run on screen."""
from __future__ import annotations

import sys
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

    async def show_arguments(self, config, title: str = "") -> None:
        """The arguments screen with `config` (a fix carried into the next run, a run to edit and rerun); Esc on it
        goes back to where it was opened from."""
        from screens.arguments_screen import ArgumentsScreen

        came_from = self.current_mode
        await self.goto("setup")
        if isinstance(self.screen, ArgumentsScreen):
            await self.screen.load_config(config, title)
            self.screen.came_from = came_from
        else:
            await self.push_screen(ArgumentsScreen(config, title, came_from=came_from))

    async def new_run(self) -> None:
        """Back to the method screen (the arguments screen, if open, is closed)."""
        await self.goto("setup")
        while len(self.screen_stack) > 2:
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
                             config=config, command=["training-console", *sys.argv[1:2]], stop_first=stop_first,
                             poll=self.poll or watcher.POLL_S)

    @work(thread=True, exclusive=True, exit_on_error=False, group="memory")
    def memory_worker(self, config, key: tuple, reply_to) -> None:
        """The memory estimate of `config`, posted to `reply_to` as MemoryEstimated (it may read a Hub model's
        config.json over the network and run nvidia-smi: never on the main thread)."""
        from console.config.memory import estimate_text

        try:
            text = estimate_text(config)
        except Exception as err:  # noqa: BLE001  an estimate is advice: it never takes the screen down
            text = f"memory: no estimate ({type(err).__name__}: {err})"
        if not get_current_worker().is_cancelled:
            reply_to.post_message(MemoryEstimated(key, text))

    def on_worker_state_changed(self, event) -> None:
        """A watcher that failed (an unreadable file, a bug) is said and started again, a few times: the screen
        froze at step 15 while its trainer reached 210 when it died silently."""

        worker = event.worker
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
        if message.records:
            self.live.history.extend(message.records)
        self.opening = None
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
        if live is not None:
            live.history.extend(message.records)
            live.changed()

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
        phase = message.status.get("phase")
        if phase == "failed":
            self.notify(message.status.get("message") or "the trainer failed", title=f"{live.id} failed",
                        severity="error", timeout=10)
        self._redraw_now()
        self.screen.refresh_bindings()
