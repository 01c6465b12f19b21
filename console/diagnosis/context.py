"""What one call of the diagnosis hands its rules: the inputs, the problems found so far, and the features several
rules read (the coarse curve, the explosion, the damaged start, the shape verdict), each computed once per call.

Context serves diagnose(history, config); CrashContext crash_findings(kind, config, message); AnswersContext
sample_findings(samples, config, status). A rule's `needs=(...)` names boolean attributes of its context.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from console.diagnosis.curves import MIN_TRAIN, NOISE_FLOOR, Curve, finite, num, rel, train_level_at
from console.diagnosis.evidence import Seen
from console.diagnosis.shape import lr_range, shape_with_hysteresis
from console.diagnosis.vocabulary import _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.diagnosis.vocabulary import Finding
    from console.runs.metrics import History
    from console.runs.samples import Sample


RATE_STEPS = 100  # steps after warm-up before a fall is judged too slow or flat (see Context.rate_judgeable)


class Context:
    """One diagnose() call: the history, the config, the finite train and eval curves, how far the run is, the
    findings so far (by problem, in the order found) and the shared features, computed when first asked for."""

    def __init__(self, history: History, config: RunConfig):
        self.history = history
        self.config = config
        self.train = Curve(*finite(history.train_loss.steps, history.train_loss.values))
        self.eval_ = Curve(*finite(history.eval_loss.steps, history.eval_loss.values))
        self.progress, self.done = progress(history, config)
        self.found: dict[str, Finding] = {}

    @cached_property
    def seen(self) -> Seen:
        """What this call has seen of the run, for the rules' evidence gate (console.diagnosis.evidence)."""
        warm = warmup_end(self.config, self.total_steps)
        evaluates = self.eval_.n > 0  # no eval logged (none planned, or none yet): judged on the train loss
        share = 1.0 if self.done else self.progress
        points = sum(1 for s in self.train.steps if s > warm) + sum(1 for s in self.eval_.steps if s > warm)
        return Seen(points=points, steps=self.history.last_step,
                    share=share, evals=self.eval_.n, evaluates=evaluates)

    @cached_property
    def coarse(self) -> Curve:
        """The train curve judged by the shape rules: long histories as ~320 bin medians (the same verdicts for a
        fraction of the sorting)."""
        return Curve(*self.train.bins(320)) if self.train.n > 640 else self.train

    @cached_property
    def explosion(self) -> tuple[float, float, float, float] | None:
        """(step, reference level, peak level, end level) of a loss explosion on the coarse curve, or None."""
        return explosion(self.coarse)

    def explosion_that(self, recovered: bool) -> tuple[float, dict] | None:
        """(step, numbers) of the loss explosion when it came back down below 1.5x its level before (`recovered`:
        oscillating's) or did not (diverged's); None when there is none, or it is the other kind."""
        if not self.explosion:
            return None
        step, ref, peak, tail = self.explosion
        if (self.train.end >= 1.5 * ref or tail >= 1.5 * ref) == recovered:
            return None
        return step, {"from": ref, "peak": peak, "now": tail}

    def shape_says(self, problem: str) -> tuple[str, dict] | None:
        """(why, numbers) when the shape verdict is `problem`, else None."""
        if not self.shape or self.shape[0] != problem:
            return None
        return self.shape[1], self.shape[2]

    @cached_property
    def worse(self) -> dict | None:
        """The numbers of a start that made the model worse than before training (see worse_than_start), or None."""
        return worse_than_start(self.train, self.eval_)

    @property
    def start_intact(self) -> bool:
        """No damaged start: when there is one, its finding says what went wrong and the shape is not judged."""
        return not self.worse

    @property
    def rate_judgeable(self) -> bool:
        """A fall can be called too slow or flat: 100 steps trained after warm-up, or a learning rate below the
        method's range or a warm-up as long as the run (a cause to name). A shorter run at a learning rate in the
        range falls as far as its length lets it: a 35-step demo LoRA whose eval fell 6.72 -> 6.44 was 'stuck', a
        4-step smoke test 'slow'."""
        lr, lo, _hi = lr_range(self.config)
        if lr is not None and lo is not None and lr < lo:
            return True
        warm, total = self.config.get("warmup_steps") or 0, self.total_steps
        if total and warm >= 1 and warm >= total:  # the rate never left warm-up: a cause to name too
            return True
        return self.history.last_step - warmup_end(self.config, self.total_steps) >= RATE_STEPS

    @property
    def loss_rising(self) -> bool:
        """The shape verdict is a rising train loss (not_decreasing, 'rising')."""
        return self.shape is not None and self.shape[1] == "rising"

    @property
    def train_falls(self) -> bool:
        """The train loss fell from its start level: overfitting needs it (a rising one is instability)."""
        return self.train.drop() > 0

    @cached_property
    def shape(self) -> tuple[str, str, dict] | None:
        """(problem, why, numbers): the shape verdict (rising / erratic / flat / slow), not judged on too little
        evidence (10 train points, or 3 evals: each eval is a pass over the whole validation set), nor too early (a
        quarter of the run, warmup over) unless the run ended or the loss is rising."""
        train, eval_ = self.train, self.eval_
        if not (train.n >= MIN_TRAIN or (train.n >= 3 and eval_.n >= 3)):
            return None
        verdict = shape_with_hysteresis(self.history, self.coarse, eval_)
        early = (self.progress is not None and self.progress < 0.25 and not self.done) or (
            in_warmup(self.history) and not self.done)
        if verdict and early and verdict[1] != "rising":
            return None
        return verdict

    @property
    def alone(self) -> str:
        """' (no eval loss logged: judged on the train loss alone)' and the like, '' with 3 evals or more."""
        n = self.eval_.n
        return ("" if n >= 3 else " (no eval loss logged: judged on the train loss alone)" if not n else
                f" (only {n} eval{'s' if n > 1 else ''}: judged on the train loss alone)")

    @property
    def total_steps(self) -> int | None:
        """The run's planned steps: the log's max_steps, else the config's when set."""
        config = self.config
        return self.history.max_steps or (config.get("max_steps") if (config.get("max_steps") or 0) > 0 else None)


@dataclass
class CrashContext:
    """One crash_findings() call: the crash's kind (normalised: 'out_of_memory', 'nan', ...), config, message."""

    kind: str
    config: RunConfig
    message: str | None = None
    found: dict = field(default_factory=dict)


@dataclass
class AnswersContext:
    """One sample_findings() call: the first sampling (the base model's when it is step 0), the latest, the token
    limit of an answer and the trainer's status (its report of examples cut by max_length)."""

    first: list[Sample]
    latest: list[Sample]
    config: RunConfig | None
    status: dict
    limit: int
    found: dict = field(default_factory=dict)

    @property
    def seen(self) -> Seen:
        """The steps trained at the latest sampling and the share of the run they are (the samples are the
        evidence: points and evals are not counted)."""
        step = self.latest[0].step if self.latest else 0
        total = self.status.get("max_steps") or (self.config.get("max_steps") if self.config is not None else None)
        done = self.status.get("phase") in ("done", "stopped", "failed")
        share = 1.0 if done else (step / total if total and total > 0 else None)
        return Seen(points=0, steps=step, share=share, evals=0, evaluates=False)


def progress(history: History, config: RunConfig) -> tuple[float | None, bool]:
    """(fraction of the planned steps done, whether training has ended)."""
    last = history.last_step
    total = history.max_steps
    if not total and config is not None:
        ms = config.get("max_steps")
        total = ms if ms and ms > 0 else None
    done = history.final is not None or bool(total and last >= total)
    return ((last / total) if total else None), done


def warmup_end(config: RunConfig, total: int | None) -> float:
    """The step warm-up ends at: warmup_steps when a count, a ratio of the planned run when below 1 (transformers
    5), 0 when neither is known; at most half the planned run."""
    warm = (config.get("warmup_steps") if config is not None else None) or 0
    if not isinstance(warm, (int, float)) or warm <= 0:
        ratio = config.get("warmup_ratio") if config is not None else None
        warm = ratio if isinstance(ratio, (int, float)) and 0 < ratio < 1 else 0
    if 0 < warm < 1:
        warm = warm * total if total else 0.0
    # a warm-up longer than half the run (its own advisory) does not hide the rest of the run
    return min(float(warm), total / 2) if total else float(warm)


def in_warmup(history: History) -> bool:
    """The learning rate is still climbing at the last logged point."""
    lr = history.learning_rate.values
    return len(lr) >= 2 and lr[-1] > lr[-2] * 1.0001 and lr[-1] >= max(lr) * 0.9999


def explosion(train: Curve) -> tuple[float, float, float, float] | None:
    """A sustained loss explosion: bin levels 4x above the best level before them (and above the first point).

    Returns (step, reference level, peak level, end level). The first raw point counts as a reference because a run
    can blow up on its second log (learning_rate=5); a single spike is not an explosion (two bins at least).
    Diverged when it has not recovered, oscillating when it has.
    """
    if train.n < 3 or not train.positive:
        return None
    steps, levels = train.bins(64)
    ref = train.values[0]
    origin = min(ref, train.start)  # an explosion ends above where the run started, not just above its best
    run_start, run_len, peak = None, 0, -math.inf
    for i, (s, lv) in enumerate(zip(steps, levels)):
        if lv >= 4.0 * ref and lv > 0 and lv >= 2.0 * origin and lv - ref >= NOISE_FLOOR:
            if run_start is None:
                run_start, run_len = s, 0
            run_len += 1
            peak = max(peak, lv)
            if run_len >= 2 or (i == len(levels) - 1 and run_len >= 1 and len(levels) > 3 and train.w > 2):
                tail = levels[-1]
                return run_start, ref, peak, tail
        else:
            run_start, run_len = None, 0
            ref = min(ref, lv)
    return None


def worse_than_start(train: Curve, eval_: Curve) -> dict | None:
    """An eval before the first training step (eval_on_start) is the base model's: when the next eval is 5 % worse
    and the train loss has not fallen by then, the first steps damaged what the model knew (a pretrained model at
    far too high a learning rate: SmolLM2-135M at 2e-3 went from 4.02 to 4.55 in ten steps). Overfitting is the
    other order (evals first improve while the train loss falls), and is left to its own rules.
    Not decreasing when the eval is still worse than before training, oscillating when it came back."""
    ev, es = eval_.values, eval_.steps
    if eval_.n < 3 or not train.n or not eval_.positive or es[0] != 0:  # eval_on_start logs it at step 0
        return None
    before, first = ev[0], ev[1]
    if first < 1.05 * before or first - before < NOISE_FLOOR:
        return None
    if train_level_at(train, es[1]) < train.values[0]:
        return None  # the train loss fell meanwhile: not damage from the first steps
    i = max(range(1, len(ev)), key=ev.__getitem__)
    return {"before": before, "peak": ev[i], "peak_step": es[i], "first_step": es[1], "rise": rel(ev[i], before),
            "now": ev[-1], "still": ev[-1] > 1.02 * before and ev[-1] - before >= NOISE_FLOOR}


def worse_words(nums: dict) -> str:
    """The damaged start's evidence, as both of its findings begin it."""
    return (f"eval loss rose from {num(nums['before'])} before training to {num(nums['peak'])} "
            f"(+{100 * nums['rise']:.0f}%) at step {_fmt_step(nums['peak_step'])} while the train loss did not "
            f"fall")
