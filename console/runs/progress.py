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
    eval_perplexity: float | None = None  # exp(eval loss), where it is finite


def _median_tail(values: list[float], n: int = 5) -> float | None:
    tail = sorted(v for v in values[-n:] if v == v)
    return tail[len(tail) // 2] if tail else None


def progress(history: History, status: dict | None = None) -> Progress:
    """Where a run is, from its log; `status` (status.json) adds the step the trainer last reported, which can be
    past the last logged one (a stop between two logging steps)."""
    step = history.last_step
    said = (status or {}).get("step")
    if isinstance(said, (int, float)) and not isinstance(said, bool) and said == said and said > step:
        step = said
    ev = history.eval_loss.finite()
    best = min(range(len(ev)), key=lambda i: ev.values[i]) if len(ev) else None
    elapsed = history.wall_time.last()
    rate = _median_tail(history.steps_per_second.values)
    if rate is None and elapsed and step:
        rate = step / elapsed
    eta = None
    if history.max_steps and rate:
        eta = max(0.0, (history.max_steps - step) / rate)
    return Progress(
        step=step, max_steps=history.max_steps, epoch=history.epoch.last(), train_loss=history.train_loss.last(),
        eval_loss=history.eval_loss.last(), best_eval=ev.values[best] if best is not None else None,
        best_eval_step=ev.steps[best] if best is not None else None, learning_rate=history.learning_rate.last(),
        grad_norm=history.grad_norm.last(), steps_per_second=rate,
        samples_per_second=_median_tail(history.samples_per_second.values), elapsed=elapsed, eta=eta,
        tokens_per_second=_median_tail(history.tokens_per_second.values),
        token_accuracy=history.eval_token_accuracy.last() if len(history.eval_token_accuracy)
        else history.token_accuracy.last(),
        eval_perplexity=perplexity(history.eval_loss.last()),
    )


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
    parts.append(f"loss {_num(p.train_loss)}")
    if p.eval_loss is not None:
        parts.append(f"eval {_num(p.eval_loss)}" + (f" (ppl {p.eval_perplexity:.3g})" if p.eval_perplexity else ""))
    if p.token_accuracy is not None:
        parts.append(f"acc {100 * p.token_accuracy:.1f}%")
    if p.learning_rate is not None:
        parts.append(f"lr {p.learning_rate:.2e}")
    if p.grad_norm is not None:
        parts.append(f"grad {p.grad_norm:.3g}")
    if p.steps_per_second:
        parts.append(f"{p.steps_per_second:.1f} step/s")
    if p.tokens_per_second:
        parts.append(f"{p.tokens_per_second:,.0f} tok/s")
    parts.append(f"elapsed {duration(p.elapsed)}")
    if p.eta is not None:
        parts.append(f"ETA {duration(p.eta)}")
    return "  ".join(parts)


def run_progress(run: RunDir, status: dict | None = None) -> Progress:
    """Where a run is, from its metrics summary (console.runs.summary: only what was appended since the last
    reader is read, never the whole metrics.jsonl again) and its status."""
    from console.runs.summary import summarise

    status = run.status() if status is None else status
    summary = summarise(run.path, row_of=summary_row)
    said = status.get("step")
    if summary.row is not None and not (isinstance(said, (int, float)) and not isinstance(said, bool)
                                        and said == said and said > summary.row["step"]):
        return Progress(**summary.row)  # the status adds nothing to the log's own numbers
    return progress(summary.history(), status)


def summary_row(history: History) -> dict:
    """What a row of `runs` or the runs screen reads of a history: its progress without a status, as a dict (kept
    in the run's metrics summary, console.runs.summary)."""
    return asdict(progress(history))


def run_summary(run: RunDir, info: dict | None = None) -> dict:
    """One row of `runs` and of the runs screen: id, method, status, steps, best eval loss, parent, fix, message.
    Its cost follows what it shows: status.json, run.json and the metrics summary (console.runs.summary)."""

    info = info if info is not None else getattr(run, "listed_info", None) or run.read_info()
    status = run.status()
    p = run_progress(run, status)
    fixes = info.get("fixes") or []
    fix = ", ".join(f"{k}={v}" for f in fixes if isinstance(f.get("changes"), dict) for k, v in f["changes"].items())
    return {"id": run.id, "method": info.get("method", "?"), "status": status.get("phase", "?"),
            "step": int(p.step), "max_steps": p.max_steps, "best_eval": p.best_eval, "parent": info.get("parent"),
            "fix": fix or "", "message": status.get("not_responding") or status.get("message", ""),
            "stalled": bool(status.get("not_responding"))}
