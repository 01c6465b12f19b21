"""Progress of a run as numbers and plain-text lines: shared by the headless commands and the screens."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from console.runs.metrics import History

if TYPE_CHECKING:  # for annotations only
    from console.runs.rundir import RunDir


@dataclass
class Progress:
    step: float
    max_steps: int | None
    epoch: float | None
    train_loss: float | None
    eval_loss: float | None
    best_eval: float | None
    best_eval_step: float | None
    learning_rate: float | None
    grad_norm: float | None
    steps_per_second: float | None
    samples_per_second: float | None
    elapsed: float | None
    eta: float | None
    tokens_per_second: float | None = None
    token_accuracy: float | None = None  # the latest eval's, else the latest training log's
    eval_perplexity: float | None = None  # exp(eval loss), where it is finite (not for a preference loss)
    finished: bool = False  # the run ended (done, failed, stopped): no ETA, no speed "now"
    note: str = ""  # a word about the figures ("loss from step 1: logging_steps 10 > the run's 4 steps")
    reward_margin: float | None = None  # preference runs: the latest eval's margin, else the latest training log's
    reward_accuracy: float | None = None  # the share of pairs whose chosen answer has the higher reward


def _median_tail(values: list[float], n: int = 5) -> float | None:
    tail = sorted(v for v in values[-n:] if v == v)
    return tail[len(tail) // 2] if tail else None


def _is_step(value) -> bool:
    """A step a status.json may say: a finite, non-negative number (Infinity there reached int() in `runs`)."""
    # compared, never converted: an integer of 300 digits overflowed float() (NaN and Infinity fail the range)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1e15


def progress(history: History, status: dict | None = None, logging_steps: int | float | None = None) -> Progress:
    """Where a run is, from its log; `status` (status.json) adds the step the trainer last reported, which can be
    past the last logged one (a stop between two logging steps), and whether it ended; `logging_steps` (the
    config's) lets it say when the train loss shown is from long before, logging_steps being larger than the run."""
    step = history.last_step
    said = (status or {}).get("step")
    if _is_step(said) and said > step:
        step = said
    ev = history.eval_loss.finite()
    best = min(range(len(ev)), key=lambda i: ev.values[i]) if len(ev) else None
    elapsed = history.wall_time.last()
    finished = history.final is not None or (status or {}).get("phase") in ("done", "failed", "stopped")
    rate = _median_tail(history.steps_per_second.values)
    if rate is None:
        rate = _rate_between_logs(history)  # not step / elapsed: elapsed counts loading the model (0:10 ETA 53:19)
    eta = None
    # an ETA once it means something: 5 % of the steps done and three train logs, and never for a run that ended
    known = history.max_steps and step >= 0.05 * history.max_steps and len(history.train_loss) >= 3
    # the ETA from the wall clock between the first and the last log (evaluations, saves and sampling included):
    # from the trainer's per-log speed it left them out, and jumped back after each evaluation
    eta_rate = _rate_over_eval_cycles(history) or _rate_between_logs(history) or rate
    if history.max_steps and eta_rate and known and not finished:
        eta = max(0.0, (history.max_steps - step) / eta_rate)
    note = ""
    total = history.max_steps
    losses = history.train_loss.steps
    if logging_steps and total and logging_steps > total and losses and losses[-1] < step:
        note = (f"loss from step {int(losses[-1])}: logging_steps {logging_steps:g} > the run's {total} steps")
    return Progress(
        step=step, max_steps=history.max_steps, epoch=history.epoch.last(), train_loss=history.train_loss.last(),
        eval_loss=history.eval_loss.last(), best_eval=ev.values[best] if best is not None else None,
        best_eval_step=ev.steps[best] if best is not None else None, learning_rate=history.learning_rate.last(),
        grad_norm=history.grad_norm.last(), steps_per_second=rate,
        samples_per_second=_median_tail(history.samples_per_second.values), elapsed=elapsed, eta=eta,
        tokens_per_second=_median_tail(history.tokens_per_second.values),
        token_accuracy=history.eval_token_accuracy.last() if len(history.eval_token_accuracy)
        else history.token_accuracy.last(),
        eval_perplexity=None if history.preference else perplexity(history.eval_loss.last()), finished=finished,
        note=note, reward_margin=_latest(history.eval_reward_margin, history.reward_margin),
        reward_accuracy=_latest(history.eval_reward_accuracy, history.reward_accuracy),
    )


def _latest(evaluated, trained) -> float | None:
    return evaluated.last() if len(evaluated) else trained.last()


def _rate_over_eval_cycles(history: History) -> float | None:
    """Steps per second on the clock from the end of the first evaluation after step 0 to the end of the last: whole
    cycles of training and one evaluation each, so the ETA counts down between evaluations instead of jumping back
    at each (the rate between any two logs counts an evaluation the moment it ends, before the steps it is spread
    over). None with fewer than two evaluations that carry a time."""
    ends: dict[float, float] = {}
    evals = {s for s in history.eval_loss.steps if s > 0}
    for s, t in zip(history.wall_time.steps, history.wall_time.values):
        if s in evals and t == t:
            ends[s] = max(t, ends.get(s, t))
    if len(ends) < 2:
        return None
    (s0, t0), (s1, t1) = min(ends.items()), max(ends.items())
    return (s1 - s0) / (t1 - t0) if s1 > s0 and t1 > t0 else None


def _rate_between_logs(history: History) -> float | None:
    """Steps per second between the first and the last logged step that carry a time (None with fewer than two)."""
    points = [(s, t) for s, t in zip(history.wall_time.steps, history.wall_time.values) if s > 0 and t == t]
    if len(points) < 2 or points[-1][1] <= points[0][1] or points[-1][0] <= points[0][0]:
        return None
    return (points[-1][0] - points[0][0]) / (points[-1][1] - points[0][1])


def perplexity(loss: float | None) -> float | None:
    """exp(loss) for a mean token cross-entropy; None where it would overflow or is not a number."""
    if loss is None or not math.isfinite(loss) or loss > 50:
        return None
    return math.exp(loss)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def where(p: Progress, epoch_word: str = "epoch") -> list[str]:
    """'step 40/100', 'epoch 0.50': where a run is, the head of the CLI's progress line and the screen's."""
    total = f"/{p.max_steps}" if p.max_steps else ""
    parts = [f"step {int(p.step)}{total}"]
    if p.epoch is not None:
        parts.append(f"{epoch_word} {p.epoch:.2f}")
    return parts


def progress_line(p: Progress) -> str:
    parts = where(p)
    parts.append(f"loss {_num(p.train_loss)}" + (f" ({p.note})" if p.note else ""))
    if p.eval_loss is not None:
        parts.append(f"eval {_num(p.eval_loss)}" + (f" (ppl {p.eval_perplexity:.3g})" if p.eval_perplexity else ""))
    if p.reward_margin is not None:  # a preference run: its own figures stand for the token accuracy
        parts.append(f"margin {p.reward_margin:.3g}")
        if p.reward_accuracy is not None:
            parts.append(f"pairs right {100 * p.reward_accuracy:.0f}%")
    elif p.token_accuracy is not None:
        parts.append(f"acc {100 * p.token_accuracy:.1f}%")
    if p.learning_rate is not None:
        parts.append(f"lr {p.learning_rate:.2e}")
    if p.grad_norm is not None:
        parts.append(f"grad {p.grad_norm:.3g}")
    if p.steps_per_second and not p.finished:  # a speed is news while it trains; show's summary has its time
        parts.append(f"{p.steps_per_second:.1f} step/s")
    if p.tokens_per_second and not p.finished:
        parts.append(f"{p.tokens_per_second:,.0f} tok/s")
    parts.append(f"elapsed {duration(p.elapsed)}")
    if p.eta is not None:
        parts.append(f"ETA {duration(p.eta)}")
    return "  ".join(parts)


def run_progress(run: RunDir, status: dict | None = None, logging_steps=None) -> Progress:
    """Where a run is, from its metrics summary (console.runs.summary: only what was appended since the last
    reader is read, never the whole metrics.jsonl again) and its status; with `logging_steps`, the line's note on
    a loss logged less often than the run has steps (show)."""
    from console.runs.summary import stored_row, summarise

    status = run.status() if status is None else status
    said = status.get("step")
    row = stored_row(run.path, summary_row) if logging_steps is None else None
    if row is not None and not (_is_step(said) and said > row["step"]):
        return Progress(**row)  # nothing appended since the stored row: the summary's points are not needed
    summary = summarise(run.path, row_of=summary_row)
    if summary.row is not None and not (_is_step(said) and said > summary.row["step"]):
        if logging_steps is None:
            return Progress(**summary.row)  # the status adds nothing to the log's own numbers
    return progress(summary.history(), status, logging_steps)


def summary_row(history: History) -> dict:
    """What a row of `runs` or the runs screen reads of a history: its progress without a status, as a dict (kept
    in the run's metrics summary, console.runs.summary)."""
    return asdict(progress(history))


def _tail(value, width: int = 32) -> str:
    text = str(value)
    return text if len(text) <= width else "…" + text[-(width - 1):]


def method_label(info: dict) -> str:
    """A run's method as its row shows it: 'lora', or 'lora+dpo' for preference training on LoRA (run.json's
    objective; a run from before it was written shows its method alone)."""
    method, objective = info.get("method", "?"), info.get("objective")
    return f"{method}+{objective}" if isinstance(objective, str) and objective not in ("", "sft") else method


def run_summary(run: RunDir, info: dict | None = None) -> dict:
    """One row of `runs` and of the runs screen: id, method, status, steps, best eval loss, parent, fix, message,
    the datasets it trains on (run.json's data: '' for a run from before it was written). Its cost follows what it
    shows: status.json, run.json and the metrics summary (console.runs.summary)."""

    info = info if info is not None else getattr(run, "listed_info", None) or run.read_info()
    status = run.status()
    p = run_progress(run, status)
    fixes = info.get("fixes") or []
    # a long value (a path: a DPO run's adapter_name_or_path) by its end, where the run folder's name is
    fix = ", ".join(f"{k}={_tail(v)}" for f in fixes if isinstance(f.get("changes"), dict)
                    for k, v in f["changes"].items())
    if "objective" not in info:  # a run from before run.json said it: its config.yaml's first lines do
        info = {**info, "objective": run.objective_in_config()}
    return {"id": run.id, "method": method_label(info), "status": status.get("phase", "?"),
            "step": int(p.step), "max_steps": p.max_steps, "best_eval": p.best_eval, "parent": info.get("parent"),
            "fix": fix or "", "message": status.get("not_responding") or status.get("message", ""),
            "stalled": bool(status.get("not_responding")), "data": info.get("data") or ""}
