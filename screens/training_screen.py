"""Screen 3: the run on screen: loss curves, progress, warnings with their fixes, stop/save keys."""
from __future__ import annotations

import re
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.common.safe_text import printable
from console.loop.findings import title_of
from console.runs.progress import duration, perplexity, where
from screens.widgets.findings_panel import FindingsPanel
from screens.widgets.metric_chart import Curve, MetricChart

REDRAW_HZ = 2  # the text lines: at most this many redraws a second, and only when something changed
RESUMED_CHECK_S = 2.0  # how often a stopped run on screen is looked at for a resume started elsewhere
CHART_HZ = 1  # the charts (most of the bytes sent) at most this often while the run trains,
CHART_CPU_SHARE = 0.005  # and no more often than keeps their drawing under this share of a core

PHASE_TEXT = {
    "starting": "starting the trainer...",
    "loading libraries": "loading libraries (torch, transformers)...",
    "loading model": "loading model...",
    "preparing data": "preparing data...",
}


def ema(values: list, weight: float = 0.9) -> list:
    """TensorBoard's smoothing: an exponential moving average, debiased so that the first points are not pulled
    towards zero. Pure Python: one pass, at most once a second while the view is on."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        if v != v or v in (float("inf"), float("-inf")):  # a NaN/inf point is shown as it is, not spread
            out.append(v)
            continue
        last = weight * last + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(last / norm)
    return out



# How much a part of the progress line is needed (the lowest go first when it is too long for the terminal)
KEPT_RANK = 90  # the step, the clock and the loss: never dropped for the others


def _part_rank(part: str) -> int:
    if part.startswith(("step ", "loss ")) or "ETA" in part or re.fullmatch(r"\d+(:\d\d)+", part):
        return KEPT_RANK
    if part.startswith(("margin ", "acc ")):
        return 60
    if part.startswith("ep "):
        return 50
    return 40  # throughput, anything else


def reading_text(reading: tuple | None) -> str:
    """'reading its log: 46% of 303 MB' while a long log is still being read, else ''."""
    if not reading:
        return ""
    done, size = reading
    return f"reading its log: {100 * done // max(size, 1)}% of {size / 2**20:.0f} MB"

class TrainingScreen(Screen):
    AUTO_FOCUS = ""  # the findings panel takes the focus on Tab only: every key here is the screen's
    BINDINGS = [
        # short words: with a warning on a run still training the footer ran past 80 columns ('q Quit f1'), and
        # '1-9 Pick a Fix→next' read as one phrase; the findings panel says what each does in full
        Binding("1", "pick(1)", "Fix", key_display="1-9", tooltip="Pick fix 1-9 of the warnings"),
        *[Binding(str(n), f"pick({n})", f"Pick fix {n}", show=False) for n in range(2, 10)],
        Binding("a", "apply_next", "Next run", tooltip="The picked fix into the next run's arguments"),
        Binding("r", "apply_restart", "Rerun now", tooltip="The picked fix applied, the run restarted now"),
        Binding("s", "stop", "Stop"),
        Binding("c", "checkpoint", "Ckpt", tooltip="Save a checkpoint now"),  # g, l, e, n, b are under F1
        Binding("b", "stop_best", "Stop, keep best", show=False),
        Binding("g", "toggle_charts", "LR/grad charts", show=False),
        Binding("y", "toggle_log", "Log scale", show=False),
        Binding("m", "toggle_smooth", "Smooth", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("l", "log", "Log", show=False),
        Binding("v", "samples", "Samples"),
        Binding("e", "edit", "Edit+rerun", show=False),
        Binding("n", "new_run", "New run", show=False),
        Binding("p", "preference_run", "DPO from it", show=False),
        Binding("u", "runs", "Runs"),
        Binding("t", "chat", "Chat", show=False),  # the footer is full at 80 columns: under F1
        Binding("escape", "back", "Back", show=False),
        Binding("pageup", "scroll_findings(-1)", "Scroll findings", show=False),
        Binding("pagedown", "scroll_findings(1)", "Scroll findings", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.picked = 1
        self.drawn = (None, -1)  # (run id, version) last drawn
        self._reading_id = None  # the run whose long log was still being read at the last draw
        self.charted = (None, -1)  # (run id, version) the charts last showed
        self._charted_at = -1e9  # time.monotonic() of that
        self.show_small = False  # LR and grad norm charts instead of the loss chart
        self.preference_view = False  # with show_small on a preference run: rewards and accuracies instead
        self.log_y = False  # y: log-scale loss axis
        self.smooth = False  # m: the train loss with an EMA over it (the raw curve dimmed behind)
        self.zoom = "all"  # z: all -> since the best eval -> the last quarter of the steps -> all
        self._ticked = 0.0  # time.monotonic() of the last clock tick of the progress line
        self._reopened: tuple | None = None  # the ended run (id, its LiveRun) followed again after a resume
        self.seen_problems: set[str] = set()
        self.shown_titles: dict[str, str] = {}  # problem -> title of the findings shown in this view of the run
        self._opened_id, self._opened_final = None, False  # the run shown, and whether it had ended when opened
        self._shown: dict[str, object] = {}  # widget id -> what it shows: unchanged text is not sent again
        self._bindings_key: tuple | None = None  # what the footer's keys depend on, when last refreshed

    def compose(self) -> ComposeResult:
        yield Static(id="run-line")
        yield Static(id="progress-line")
        with Vertical(id="charts"):
            yield MetricChart("loss", id="loss-chart")
            with Horizontal(id="small-charts"):
                yield MetricChart("learning rate", id="lr-chart")
                yield MetricChart("grad norm", id="grad-chart")
        yield FindingsPanel(id="findings")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.charts = list(self.query(MetricChart))
        self.query_one("#small-charts").display = False
        self.set_interval(1 / REDRAW_HZ, self.tick)
        self.set_interval(RESUMED_CHECK_S, self.check_resumed)
        self.redraw()

    def on_screen_resume(self) -> None:
        if self.live is not None:
            self.redraw()

    @property
    def live(self):
        return self.app.live

    def tick(self) -> None:
        """Timer: redraw only if the screen is visible and the run changed since the last draw."""
        live = self.live
        if not self.is_current or live is None:
            return
        if self.drawn != (live.id, live.version) or live.findings_due() or self._charts_due(live):
            self.redraw()
        elif live.active and time.monotonic() - self._ticked >= 1.0:  # the clock and ETA between log records
            self._ticked = time.monotonic()
            self._update("progress-line", self.fitted(self.progress_text(live, live.progress())))

    def check_resumed(self) -> None:
        """Timer: a stopped or failed run shown here that a `resume` from another shell has started again is followed
        live again (the screen kept saying 'stopped' while `runs` said 'training')."""
        from console.runs.rundir import ACTIVE_PHASES

        live = self.live
        if not self.is_current or live is None or live.active or self._reopened == (live.id, id(live)):
            return
        status = live.run.read_status_file() or {}
        if status.get("phase") in ACTIVE_PHASES and live.run.trainer_alive(status):
            self._reopened = (live.id, id(live))
            self.notify(f"{live.id} was resumed: following it live", timeout=5)
            self.app.open_run(live.run)

    def _charts_due(self, live) -> bool:
        if self.charted == (live.id, live.version):
            return False
        build_s = max((chart.last_build_s for chart in self.charts if chart.display), default=0.0)
        interval = max(1 / CHART_HZ, build_s / CHART_CPU_SHARE)
        return (self.charted[0] != live.id or not live.active
                or time.monotonic() - self._charted_at >= interval)

    def _update(self, widget_id: str, content) -> None:
        """Static.update only when the content changed (an update repaints the widget: bytes over SSH). The lines
        are one row high (app.tcss): no layout pass of the whole screen for a new step count."""
        if self._shown.get(widget_id) != content:
            self._shown[widget_id] = content
            self.query_one(f"#{widget_id}", Static).update(content, layout=False)

    def _refresh_keys(self) -> None:
        """The footer is rebuilt on every refresh_bindings: only when the keys that apply may have changed."""
        live = self.live
        key = (None,) if live is None else (live.id, live.active, len(live.fixes()), live.config is not None)
        if key != self._bindings_key:
            self._bindings_key = key
            self.refresh_bindings()

    def redraw(self) -> None:
        live = self.live
        if live is None:
            opening = getattr(self.app, "opening", None)
            self._update("run-line", f"opening {opening}..." if opening else
                         "No run yet: n for a new run, u for the runs.")
            return
        if self.drawn[0] != live.id:
            self.picked = 1
            # what a run already shows when opened (ended, or attached to while it trains) is in the panel without
            # toasts: not news (every attach toasted the existing warnings again over the chart)
            self.seen_problems = {f.problem for f in live.findings()}
            self.shown_titles = {}
        self.drawn = (live.id, live.version)
        config = live.config
        p = live.progress()
        method = config.preset.name if config is not None else "?"
        from screens.runs_screen import short_id

        parent = f"  from {short_id(config.parent)}" if config is not None and config.parent else ""
        phase = live.phase
        phase_style = {"failed": "bold red", "done": "bold green", "stopped": "bold yellow"}.get(phase, "bold")
        # text from run folders (a phase, a parent id) is shown as text, never as markup
        stall = printable(live.status.get("not_responding") or "") if live.active else ""
        head = stall.split(": ", 1)[0]  # "not responding since 05:36:34" on the line, the why in a toast once
        reading = reading_text(live.reading)
        self._update("run-line", Text.assemble((live.id, "bold"), f"  {method}  ", (phase, phase_style), parent,
                                               (f"  {head}" if stall else "", "bold red"),
                                               (f"  {reading}" if reading else "", "bold yellow")))
        if stall and head not in self.seen_problems:
            self.seen_problems.add(head)
            self.notify(stall, title=live.id, severity="error", timeout=30, markup=False)
        self._update("progress-line", self.fitted(self.progress_text(live, p)))
        if self._charts_due(live):
            self.draw_charts(live, p)
        findings = live.findings()
        if live.diagnosis_error and live.diagnosis_error not in self.seen_problems:
            self.seen_problems.add(live.diagnosis_error)
            self.notify(live.diagnosis_error, severity="error", timeout=10)
        if self._reading_id == live.id and live.reading is None:
            # its whole history just came in: what it shows was there before the run was opened, not news
            self.seen_problems.update(f.problem for f in findings)
        self._reading_id = live.id if live.reading else None
        new = [f for f in findings if f.problem not in self.seen_problems]
        if new:
            self.seen_problems.update(f.problem for f in new)
        if self._opened_id != live.id:
            self._opened_id, self._opened_final = live.id, live.final
        if new and not (live.final and self._opened_final):
            # a toast is news about a run seen training; a run opened finished has its findings on the panel (its
            # sample answers arrive a moment after its curves: their finding toasted each time it was opened)
            self.notify(f"{title_of(new[0])}: a carries fix 1 into the next run, r restarts with it",
                        title="warning", severity="warning", timeout=4)
        crash = live.status if phase == "failed" else None
        cut = live.status.get("cut_text")
        # what was shown in this view and holds no more: the panel said 'No warnings so far' as if none had been
        shown = self.shown_titles
        shown.update((f.problem, title_of(f)) for f in findings)
        now = {f.problem for f in findings}
        self.query_one(FindingsPanel).show(findings, config, self.picked, crash, live.log_tail,
                                           notes=[cut] if isinstance(cut, str) and cut else None,
                                           reading=f"{reading}: the curves so far are part of the run; its "
                                                   "warnings come once it is read" if reading else "",
                                           ending=self.next_steps(live),
                                           gone=[t for p, t in shown.items() if p not in now])
        self._refresh_keys()

    @staticmethod
    def next_steps(live) -> list[str]:
        """At the end of a run: where its model is and what to do with it."""
        if live.phase not in ("done", "stopped"):
            return []
        status, out = live.status, []
        model, best = status.get("final_model"), status.get("best_checkpoint")
        diverged = any(f.problem == "diverged" for f in live.findings())
        if isinstance(model, str) and model:
            out.append(f"the model is in {model}" + (f" (the best checkpoint: {best})" if isinstance(best, str)
                                                     and best and live.phase == "done" else "")
                       # a new user was pointed at a diverged run's weights with no word of caution
                       + (": saved after the run diverged, not worth loading (r restarts with the fix)"
                          if diverged else ""))
            adapter = live.config is not None and live.config.method in ("lora", "qlora", "adapter")
            out.append("load it: " + (f"peft.AutoPeftModelForCausalLM.from_pretrained('{model}')" if adapter else
                                      f"transformers.AutoModelForCausalLM.from_pretrained('{model}')"))
        elif isinstance(best, str) and best:
            out.append(f"the best checkpoint is {best}")
        if live.phase == "stopped":
            checkpoint, _ = live.run.checkpoint_to_resume()
            out.append(f"resume it from {checkpoint.name}: training-console resume {live.id}" if checkpoint else
                       "no checkpoint to resume from: e edits and reruns it")  # a stop --kill before any save
        out.append(f"next: e edits and reruns it, u compares it with other runs, `training-console show {live.id}` "
                   "prints its config")
        return out

    def _zoom_from(self, live, p) -> float | None:
        """The first step shown: None (all), the best eval's step, or the start of the last quarter."""
        last = max(p.max_steps or 0, p.step or 0)
        if self.zoom == "best" and p.best_eval_step is not None and p.best_eval_step < last:
            return p.best_eval_step
        if self.zoom in ("best", "last") and p.step:  # the best eval at the last step: nothing after it to show
            return p.step * 0.75
        return None

    def draw_charts(self, live, p) -> None:
        """Hand the curves to the charts; each redraws only if what it shows changed."""
        from bisect import bisect_left

        self.charted = (live.id, live.version)
        self._charted_at = time.monotonic()
        h = live.history
        loss = self.query_one("#loss-chart", MetricChart)
        loss.empty_text = PHASE_TEXT.get(live.phase, "no steps logged") if not h.train_loss.steps else ""
        # a run that ended draws to its last step: a run stopped at 77 of 300 steps (or a zoom into the end of one)
        # was drawn as a sliver at the left of an axis to its plan
        xmax = (p.step if live.final and p.step else max(p.max_steps or 0, p.step or 0)) or None
        x0 = self._zoom_from(live, p)
        for chart in self.charts:
            chart.xmax, chart.xmin = xmax, x0

        def cut(series):  # the points from the zoom's first step on (the series' own lists when not zoomed)
            if x0 is None:
                return series.steps, series.values
            i = bisect_left(series.steps, x0)
            return series.steps[i:], series.values[i:]

        if not self.show_small:
            loss.log_y = self.log_y
            train_steps, train_values = cut(h.train_loss)
            curves = [Curve("train", train_steps, train_values, color="gray" if self.smooth else "cyan")]
            if self.smooth:
                curves.append(Curve("train EMA", train_steps, ema(train_values), color="cyan"))
            curves.append(Curve("eval", *cut(h.eval_loss), markers=True, color="orange"))
            view = [w for w, on in (("log y", self.log_y), ("EMA", self.smooth)) if on]
            if x0 is not None:
                view.append(f"from step {int(x0)}")
            loss.set_curves(curves, title=f"loss{' (' + ', '.join(view) + ')' if view else ''}   "
                                          "g lr/grad · y log · m smooth · z zoom")
        elif self.preference_view and h.preference:
            # preference training: the chosen and rejected answers' rewards and their margin; the pairs ranked right
            self.query_one("#lr-chart", MetricChart).set_curves(
                [Curve("chosen", h.chosen_reward.steps, h.chosen_reward.values, color="green"),
                 Curve("rejected", h.rejected_reward.steps, h.rejected_reward.values, color="red"),
                 Curve("margin", h.reward_margin.steps, h.reward_margin.values, color="cyan"),
                 Curve("eval margin", h.eval_reward_margin.steps, h.eval_reward_margin.values, markers=True,
                       color="orange")], title="rewards   g next view")
            if len(h.kl) and not len(h.reward_accuracy):
                # KTO ranks no pairs (its rows are single answers): its estimate of the distance from the reference
                # instead of a chart that said 'pairs ranked right: no data yet' for the whole run
                self.query_one("#grad-chart", MetricChart).set_curves(
                    [Curve("kl", h.kl.steps, h.kl.values, color="magenta")], title="KL from the reference")
            else:
                self.query_one("#grad-chart", MetricChart).set_curves(
                    [Curve("train", h.reward_accuracy.steps, h.reward_accuracy.values, color="cyan"),
                     Curve("eval", h.eval_reward_accuracy.steps, h.eval_reward_accuracy.values, markers=True,
                           color="orange")], title="pairs ranked right")
        else:
            self.query_one("#lr-chart", MetricChart).set_curves(
                [Curve("lr", h.learning_rate.steps, h.learning_rate.values, color="green")], title="learning rate")
            self.query_one("#grad-chart", MetricChart).set_curves(
                [Curve("grad", h.grad_norm.steps, h.grad_norm.values, color="magenta")], title="grad norm")

    def fitted(self, text: str) -> str:
        """The progress line fitted to the width, cut between its parts, never inside one (at 80 columns it ended
        '· margin' without its value). The least needed parts go first (throughput, the epoch, the accuracy or
        margin: PART_RANK), then those that fit again come back; the step, the clock and the loss stay (the loss
        losing its perplexity, then its best eval, before any of them is cut)."""
        width = self.size.width - 2  # the line's padding
        if width <= 0 or len(text) <= width:
            return text
        parts = text.split(" · ")

        def fits(kept) -> bool:
            return len(" · ".join(kept)) <= width

        order = sorted(range(len(parts)), key=lambda i: _part_rank(parts[i]))
        dropped = []
        for i in order:
            if fits([p for j, p in enumerate(parts) if j not in dropped]) or _part_rank(parts[i]) >= KEPT_RANK:
                break
            dropped.append(i)
        for i in reversed(dropped):  # the most needed of those dropped first, if it fits again
            if fits([p for j, p in enumerate(parts) if j not in dropped or j == i]):
                dropped.remove(i)
        kept = [p for j, p in enumerate(parts) if j not in dropped]
        for cut in (r", ppl [^)]*", r" \(best eval [^)]*\)"):
            if fits(kept):
                break
            kept = [re.sub(cut, "", p) if p.startswith("loss ") else p for p in kept]
        while len(kept) > 1 and not fits(kept):
            kept.pop()
        return " · ".join(kept)

    @staticmethod
    def progress_text(live, p) -> str:
        if not live.history.train_loss.steps and live.active:
            text = PHASE_TEXT.get(live.phase, live.phase + "...")
            started = live.status.get("started")
            if live.phase not in PHASE_TEXT and isinstance(started, (int, float)):
                # before the first logged step (minutes for a real model on a loaded CPU) the clock and the step the
                # trainer reached still move: the line said 'training...' and nothing else, as if stuck
                step, total = live.status.get("step"), p.max_steps
                at = f" step {step}/{total}" if isinstance(step, int) and total else ""
                text = (f"{live.phase}{at} · {duration(max(0.0, time.time() - started))} since the start, "
                        "waiting for the first logged step")
        else:
            parts = where(p, epoch_word="ep")
            elapsed, eta = p.elapsed, p.eta
            started = live.status.get("started")
            if live.active and isinstance(started, (int, float)) and elapsed is not None:
                # the clock ticks between log records (the trainer's `time` counts from the same start)
                now = time.time() - started
                if now > elapsed:
                    elapsed = now  # the ETA stays as the last log put it: counted down, it sat at 0:00 waiting
            # an ETA once it means something: 5% of the steps done and three throughput readings
            known = p.max_steps and p.step >= 0.05 * p.max_steps and len(live.history.train_loss) >= 3
            parts.append(f"{duration(elapsed)}" + (f" ETA {duration(eta)}" if eta is not None and live.active
                                                   and known else ""))
            # Loss first, throughput last: at 80 columns the line is cut at the right.
            best_ppl = perplexity(p.best_eval) if not live.history.preference else None
            ppl = f", ppl {best_ppl:.3g}" if best_ppl else ""
            if p.train_loss is not None and p.best_eval is not None:
                parts.append(f"loss {p.train_loss:.3f} (best eval {p.best_eval:.3f}{ppl})")
            elif p.train_loss is not None:
                parts.append(f"loss {p.train_loss:.3f}")
            if p.note:  # logging_steps larger than the run: the loss shown is from its first step
                parts[-1] += f" ({p.note})"
            if p.reward_margin is not None:  # a preference run: its margin and pairs ranked right
                parts.append(f"margin {p.reward_margin:.3g}" + (f", {100 * p.reward_accuracy:.0f}% right"
                                                                 if p.reward_accuracy is not None else ""))
            elif p.token_accuracy is not None:
                parts.append(f"acc {100 * p.token_accuracy:.0f}%")
            if p.tokens_per_second:
                parts.append(f"{p.tokens_per_second:,.0f} tok/s")
            elif p.samples_per_second:
                parts.append(f"{p.samples_per_second:.3g} samples/s")
            text = " · ".join(parts)
        if live.gpu:
            used, total = live.gpu
            text += "  GPU " + ", ".join(f"{u / 1024:.1f}/{t / 1024:.0f} GiB" for u, t in zip(used, total))
        precision = live.status.get("precision")
        if precision and live.active:
            text += f"  {live.status.get('device', '')} {precision}"
        return text

    # -- keys ------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters) -> bool | None:
        live = self.live
        # Keys that do not apply now are hidden (the footer at 80 columns has room for the ones that do).
        if action == "pick":
            return bool(live and parameters and parameters[0] <= len(live.fixes()))
        if action in ("apply_next", "apply_restart"):
            return bool(live is not None and live.fixes())
        if action in ("stop", "checkpoint", "stop_best"):
            return bool(live is not None and live.active)
        if action in ("log", "edit", "chat"):
            return live is not None
        return True

    def action_pick(self, n: int) -> None:
        if self.live and n <= len(self.live.fixes()):
            self.picked = n
            self.redraw()

    def picked_fix(self):
        fixes = self.live.fixes() if self.live else []
        if not fixes:
            return None
        return fixes[min(self.picked, len(fixes)) - 1][1]

    def next_config(self):
        from console.loop.next_run import child_config

        fix = self.picked_fix()
        if fix is None or self.live.config is None:
            return None
        return child_config(self.live.config, self.live.id, fix)

    def action_apply_next(self) -> None:
        from console.common.errors import UserError

        try:
            config = self.next_config()
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        if config is not None:
            self.app.run_worker(self.app.show_arguments(config, "next run, fix applied"), exclusive=True,
                                group="nav")

    def action_apply_restart(self) -> None:
        from console.common.errors import UserError
        from console.config.run_config import resolve

        try:
            config = self.next_config()
        except UserError as err:
            self.notify(str(err), severity="error")
            return
        if config is None:
            return
        live = self.live
        if not live.active:
            self.app.launch(resolve(config))
            return
        from console.loop.findings import describe_fix
        from screens.confirm import ConfirmScreen

        def decided(choice: str | None) -> None:
            if choice == "yes" and self.live is live:
                self.app.launch(resolve(config), stop_first=live.run if live.active else None)

        change = describe_fix(self.picked_fix(), live.config)

        def question() -> str:  # re-read each second: the run may end while it is asked
            if live.active:
                return f"Stop {live.id} now (a checkpoint is saved) and start the next run with {change}?"
            return f"{live.id} has ended ({live.phase}). Start the next run with {change}?"

        self.app.push_screen(ConfirmScreen(question(), [("y", "Yes, restart", "yes"), ("n", "No", "no")],
                                           refresh=question), decided)

    def action_stop(self) -> None:
        self._confirm_stop("Stop the run now? A checkpoint is saved and it can be resumed.", keep_best=False)

    def action_stop_best(self) -> None:
        self._confirm_stop("Stop the run now and keep its best checkpoint (lowest eval loss) as the final model?",
                           keep_best=True)

    def _confirm_stop(self, question: str, keep_best: bool) -> None:
        from screens.confirm import ConfirmScreen

        live = self.live

        def decided(choice: str | None) -> None:
            if choice != "stop" or live is None:
                return
            from console.runs.launcher import request_stop

            if request_stop(live.run):
                from screens.messages import PhaseChanged

                # said at once in the header: on a loaded machine the trainer's own 'stopping' came a minute later
                # and the screen read 'training...' as if the answer had been lost
                if live.active:
                    self.app.post_message(PhaseChanged(live.id, dict(live.status, phase="stopping")))
                stall = live.run.status().get("not_responding")
                if stall:  # a stopped or hung trainer cannot act on it: say so, as `training-console stop` does
                    self.notify(f"{stall}. The stop waits until it runs again; to end it now without a "
                                f"checkpoint: training-console stop {live.id} --kill", severity="error", timeout=30)
                    return
                best = live.progress()
                extra = (f"; the best eval loss {best.best_eval:.4g} was at step {int(best.best_eval_step)}"
                         if keep_best and best.best_eval is not None else "")
                self.notify(f"stopping {live.id}: saving a checkpoint{extra}", timeout=6)
            else:
                self.notify(f"{live.id} is not running", severity="warning")

        self.app.push_screen(ConfirmScreen(question, [("y", "Yes, stop", "stop"), ("n", "No", "no")]), decided)

    def action_checkpoint(self) -> None:
        from console.runs.launcher import request_save

        if self.live and request_save(self.live.run):
            self.notify("a checkpoint is saved at the next step")

    def action_scroll_findings(self, direction: int) -> None:
        panel = self.query_one(FindingsPanel)
        panel.scroll_to(y=panel.scroll_y + direction * max(1, panel.size.height - 1), animate=False)

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self._redraw_charts()

    def action_toggle_smooth(self) -> None:
        self.smooth = not self.smooth
        self._redraw_charts()

    def action_zoom(self) -> None:
        self.zoom = {"all": "best", "best": "last", "last": "all"}[self.zoom]
        live = self.live
        if self.zoom == "best" and (live is None or live.progress().best_eval_step is None):
            self.zoom = "last"  # no eval yet: nothing to zoom to
        self._redraw_charts()

    def _redraw_charts(self) -> None:
        live = self.live
        if live is not None:
            self.draw_charts(live, live.progress())

    def action_toggle_charts(self) -> None:
        """g: the loss, then the learning rate and grad norm, then (a preference run) its rewards and accuracies."""
        preference = self.live is not None and self.live.history.preference
        if self.show_small and preference and not self.preference_view:
            self.preference_view = True
        else:
            self.show_small, self.preference_view = not self.show_small, False
        self.query_one("#loss-chart").display = not self.show_small
        self.query_one("#small-charts").display = self.show_small
        if self.live is not None:
            self.charted = (None, -1)  # the charts now shown have not been given the curves yet
            self.redraw()

    def action_log(self) -> None:
        from screens.text_screen import TextScreen, file_stamp

        if self.live:
            run = self.live.run

            def text() -> str:
                return "\n".join(run.tail_log(200)) or "(empty)"

            # the page follows the log while it is open (from its end), read again only when the file changed
            self.app.push_screen(TextScreen(f"train.log of {self.live.id}", text(), refresh=text,
                                            changed=lambda: file_stamp(run.log_path), at_end=True))

    def action_samples(self) -> None:
        """The sample answers: the base model's (step 0) next to the latest, prompt by prompt."""
        from console.runs.samples import samples_text
        from screens.text_screen import TextScreen

        live = self.live
        if live is not None:
            width = max(40, int(self.app.size.width * 0.96) - 6)  # the wide dialog, less its border and scrollbar
            # the page follows the run: the next evaluation's answers replace the latest while it is open
            self.app.push_screen(TextScreen(f"sample answers of {live.id}", samples_text(live.samples, width),
                                            wide=True, refresh=lambda: samples_text(live.samples, width),
                                            changed=lambda: len(live.samples)))  # answers are only appended

    def action_edit(self) -> None:
        if self.live is None or self.live.config is None:
            return
        from console.loop.next_run import child_config

        config = child_config(self.live.config, self.live.id)
        self.app.run_worker(self.app.show_arguments(config, f"edit of {self.live.id}"), exclusive=True,
                            group="nav")

    def action_preference_run(self) -> None:
        """p: a DPO run that starts from this finished run's model (its adapter trained further), as its child; the
        arguments screen opens on it for the preference data."""
        if self.live is None or self.live.config is None:
            return
        from console.common.errors import UserError
        from console.loop.next_run import from_model

        try:
            config = from_model(self.live.run)
        except UserError as err:
            self.notify(str(err), severity="warning", timeout=6, markup=False)
            return
        from screens.runs_screen import short_id

        # one short line (the header cut the longer one at 80 columns): what to do, and the demo's pairs to try
        self.app.run_worker(self.app.show_arguments(config, f"DPO from {short_id(self.live.id)}: dataset = pairs "
                                                            f"(try demo-pairs)", focus_field="dataset"),
                          exclusive=True, group="nav")

    def action_new_run(self) -> None:
        self.app.run_worker(self.app.new_run(), exclusive=True, group="nav")

    def action_runs(self) -> None:
        self.app.run_worker(self.app.goto("runs"), exclusive=True, group="nav")

    def action_chat(self) -> None:
        """t: chat with this run's model (its newest checkpoint while it trains) next to its base model."""
        from screens.chat_screen import open_chat

        if self.live is not None:
            open_chat(self.app, self.live.run)

    def action_back(self) -> None:
        self.app.run_worker(self.app.back(), exclusive=True, group="nav")
