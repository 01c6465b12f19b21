"""Diagnosis: what is going wrong in a run, in plain words, with the numbers behind it and the guide's fixes.

`diagnose(history, config)` is a pure function of a metrics History and a RunConfig. It runs on every UI refresh, so
it works on a few robust summaries (medians of the first/last tenth, bin medians, the eval points) rather than on
every logged point, and it never imports torch, transformers or textual.

Problems (the guide's numbering): not_decreasing (1: a rising or erratic loss), overfitting (2: eval rises from its
best, or never improves while train falls a lot), stuck (3: a smooth flat loss, with or without an eval), slow (4: still
falling by a measurable amount, judged on the eval loss when there are 4 evals), oscillating (5), and diverged (NaN/inf
or an explosion). Advisories of our own: warmup_too_long, lr_never_peaked, nonfinite_grad_norm,
out_of_memory (crashes, see crash_findings).

The rules work on relative changes (losses live anywhere from 1e-4 to 1e4, and gradient accumulation may scale
the logged train loss) above an absolute floor (NOISE_FLOOR: a change too small to matter in nats), need a
minimum of evidence before they fire, and keep a finding once raised unless the curve clearly clears it
(hysteresis), so a live view does not flicker as points arrive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.diagnosis import fixes as fixtable
from console.diagnosis.vocabulary import PROBLEMS, TITLES, Finding, Severity, _fmt_step

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.runs.metrics import History

_MIN_TRAIN = 10  # train points before a shape verdict on the train loss alone (fewer are noise, not evidence)
# The absolute floor under the relative rules. The console's losses are per-token cross-entropy in nats: a change
# of less than 0.01 (1 % in perplexity) means nothing for what the model does, however large it is relative to a
# loss that sits near zero (a trivial task whose losses wiggle around 1e-5 tripled "relatively" on noise). Rises,
# jumps and falls smaller than this raise no shape finding, and a curve already below it has nothing left to learn.
NOISE_FLOOR = 0.01


def _num(x: float) -> str:
    """A loss for prose: 3 significant digits, whatever the scale."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.4g}"


# -- small robust statistics (pure Python: a few sorts of at most a tenth of the points) ---------------------------

def _median(xs) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def _bins(steps: list, values: list, count: int) -> tuple[list, list]:
    """Bin medians over about `count` equal runs of points (and each bin's last step): per-step noise averages out."""
    n = len(values)
    k = max(1, n // max(1, count))
    ms, ss = [], []
    for i in range(0, n - n % k if n >= k else n, k):
        ms.append(_median(values[i:i + k]))
        ss.append(steps[i + k - 1] if i + k - 1 < n else steps[-1])
    rest = n % k
    if rest and n >= k:  # a short last bin: merged into the previous one rather than dropped (it is the newest)
        ms[-1] = _median(values[n - rest - k:])
        ss[-1] = steps[-1]
    return ss, ms


def _tau(xs: list) -> float:
    """Kendall's tau against time (-1: always falling, +1: always rising); O(n^2) on at most a few dozen points."""
    n = len(xs)
    if n < 3:
        return 0.0
    s = 0
    for i in range(n - 1):
        xi = xs[i]
        for j in range(i + 1, n):
            d = xs[j] - xi
            s += (d > 0) - (d < 0)
    return s / (n * (n - 1) / 2)


def _rel(a: float, b: float) -> float:
    """(a - b) relative to |b|: losses can be near zero or in the thousands."""
    return (a - b) / abs(b) if b else (0.0 if a == b else math.copysign(math.inf, a - b))


@dataclass
class _Curve:
    """A finite loss curve and its robust summaries."""

    steps: list
    values: list

    def __post_init__(self):
        n = len(self.values)
        self.n = n
        w = max(1, n // 10)
        self.w = w
        self.start = _median(self.values[:w]) if n else float("nan")
        self.end = _median(self.values[-w:]) if n else float("nan")
        # ratios (4x, +50%) only mean something for a loss bounded below by zero, as cross-entropy and MSE are
        self.positive = bool(n) and min(self.values) > 0
        # already at the floor (fell 98% or more): flatness there is convergence, not a problem
        self.at_floor = bool(n) and self.positive and (self.end <= 0.02 * max(self.values[:w] + [self.values[0]])
                                                       or self.end < NOISE_FLOOR)

    def bins(self, count: int) -> tuple[list, list]:
        """_bins of this curve, cached: several detectors ask for the same cut."""
        cache = self.__dict__.setdefault("_bins", {})
        if count not in cache:
            cache[count] = _bins(self.steps, self.values, count)
        return cache[count]

    def drop(self) -> float:
        """Relative decrease from the start level to the end level (0.3: fell 30%; negative: rose)."""
        return -_rel(self.end, self.start) if self.n else 0.0


def _prefix(series, last_step: float | None):
    if last_step is None:
        return list(series.steps), list(series.values)
    steps, values = series.steps, series.values
    i = len(steps)
    while i and steps[i - 1] > last_step:
        i -= 1
    return steps[:i], values[:i]


def _all_finite(values) -> bool:
    return all(map(math.isfinite, values))  # C speed: the common case costs ~0.1 ms on 10k points


def _finite(steps, values):
    if _all_finite(values):
        return steps, values
    fs, fv = [], []
    for s, v in zip(steps, values):
        if math.isfinite(v):
            fs.append(s)
            fv.append(v)
    return fs, fv


# -- the detectors -------------------------------------------------------------------------------------------------

def _nonfinite_loss(history: History) -> Finding | None:
    """NaN or inf in the train or eval loss: the run has diverged (or a fp16 overflow poisoned the loss)."""
    first = None
    for name, series in (("train", history.train_loss), ("eval", history.eval_loss)):
        if _all_finite(series.values):
            continue
        for s, v in zip(series.steps, series.values):
            if not math.isfinite(v):
                if first is None or s < first[0]:
                    first = (s, name, v)
                break
    if first is None:
        return None
    step, name, value = first
    last = history.train_loss.values[-1] if history.train_loss.values else None
    still = last is not None and not math.isfinite(last)
    before = [v for s, v in zip(history.train_loss.steps, history.train_loss.values) if s < step and math.isfinite(v)]
    was = f" (it was {_num(before[-1])} just before)" if before else ""
    text = (f"{name} loss became {value} at step {_fmt_step(step)}{was}"
            + ("; it is still not a number" if still else "; later values are finite again, but the weights may be "
               "damaged") + ": the learning rate is too high for this run or a fp16 overflow occurred.")
    return Finding("diverged", Severity.ERROR, step, text, numbers={"nonfinite_step": step, "loss": name})


def _explosion(train: _Curve) -> tuple[float, float, float, float] | None:
    """A sustained loss explosion: bin levels 4x above the best level before them (and above the first point).

    Returns (step, reference level, peak level, end level). The first raw point counts as a reference because a run
    can blow up on its second log (learning_rate=5); a single spike is not an explosion (two bins at least).
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


def _oscillation(train: _Curve, eval_: _Curve) -> tuple[float, str, dict] | None:
    """Up-and-down excursions well above noise: the smoothed train loss climbs 50% above its best so far (and by a
    tenth of its start level) then comes back down; or an eval point sits 40% above both its neighbours."""
    if train.n >= _MIN_TRAIN and train.positive:
        # bins of 3 points at least once there are 15: one lucky low batch must not become "the best so far"
        size = max(min(3, train.n // 5), train.n // 32)
        count = max(1, train.n // size)
        k = max(1, train.n // count)  # raw points per bin, as _bins cuts them
        steps, levels = train.bins(count)
        need = 2 if size < 3 else 1  # raw points: two in a row
        best = levels[0]
        i = 1
        while i < len(levels):
            lv = levels[i]
            if lv >= 1.5 * best and lv - best >= max(0.1 * abs(train.start), NOISE_FLOOR):
                j, peak = i, lv
                while j < len(levels) and levels[j] >= 1.5 * best:
                    peak = max(peak, levels[j])
                    j += 1
                back = j < len(levels) and min(levels[j:]) <= best + 0.5 * (peak - best)
                a, b = i * k, min(train.n, j * k)
                exc, pre = train.values[a:b], train.values[max(0, a - max(3, b - a)):a]
                # heavy-tailed batch noise moves bin medians too: the raised points must stand apart from those just
                # before them (probability of superiority), as a real excursion's do
                if j - i >= need and back and len(exc) >= 4 and len(pre) >= 4 and _superiority(exc, pre) >= 0.85:
                    return steps[i], (f"train loss climbed from {_num(best)} to {_num(peak)} "
                                      f"(+{100 * _rel(peak, best):.0f}%) around step {_fmt_step(steps[i])} and came "
                                      f"back down"), {"from": best, "peak": peak}
                i = j
                continue
            best = min(best, lv)
            i += 1
    ev, es = eval_.values, eval_.steps
    for i in range(1, len(ev) - 1):
        nb = max(ev[i - 1], ev[i + 1])
        if nb > 0 and ev[i] >= 1.4 * nb and ev[i] - nb >= max(0.05 * abs(ev[0]), NOISE_FLOOR):
            return es[i], (f"eval loss jumped to {_num(ev[i])} at step {_fmt_step(es[i])} between "
                           f"{_num(ev[i - 1])} and {_num(ev[i + 1])}"), {"spike": ev[i]}
    return None


def _worse_than_start(train: _Curve, eval_: _Curve) -> dict | None:
    """An eval before the first training step (eval_on_start) is the base model's: when the next eval is 5 % worse
    and the train loss has not fallen by then, the first steps damaged what the model knew (a pretrained model at
    far too high a learning rate: SmolLM2-135M at 2e-3 went from 4.02 to 4.55 in ten steps). Overfitting is the
    other order (evals first improve while the train loss falls), and is left to its own rules."""
    ev, es = eval_.values, eval_.steps
    if eval_.n < 3 or not train.n or not eval_.positive or es[0] != 0:  # eval_on_start logs it at step 0
        return None
    before, first = ev[0], ev[1]
    if first < 1.05 * before or first - before < NOISE_FLOOR:
        return None
    if _train_level_at(train, es[1]) < train.values[0]:
        return None  # the train loss fell meanwhile: not damage from the first steps
    i = max(range(1, len(ev)), key=ev.__getitem__)
    return {"before": before, "peak": ev[i], "peak_step": es[i], "first_step": es[1], "rise": _rel(ev[i], before),
            "now": ev[-1], "still": ev[-1] > 1.02 * before and ev[-1] - before >= NOISE_FLOOR}


def _eval_worsens(train: _Curve, eval_: _Curve) -> dict | None:
    """Instability seen on the eval set: no new best for 3 evals or more, one of them 10 % or more above the best
    (their median 1 % or more: not a plateau with one wiggle), while the train loss has not improved since that best
    eval. Overfitting is the same eval shape with a falling train loss (its own rules); here the updates undo what
    the model learned, batch noise at too high a learning rate. SmolLM2-135M, LoRA at 3e-3 constant, batch 1, the
    same scenario three times (CPU arithmetic at this rate does not repeat exactly): after the best eval at step 20
    the median rose 5.6 %, 4.7 %, 2.9 % and the peak 19 %, 12 %, 19 %, the train loss wandering 2-5.4 with no trend.
    The threshold that matters is the train loss: on the 121 real curves the rule fires on the same 3 (all labelled
    or found unstable or not decreasing by the other rules, no healthy one) with a median threshold of 0 to 5 % and
    a peak of 10 to 15 %."""
    ev, es = eval_.values, eval_.steps
    if eval_.n < 5 or not eval_.positive or train.n < 4 or not train.positive:
        return None
    b = min(range(len(ev)), key=ev.__getitem__)
    after = ev[b + 1:]
    if len(after) < 3:
        return None
    med, peak = _median(after), max(after)
    if _rel(med, ev[b]) < 0.01 or _rel(peak, ev[b]) < 0.10 or med - ev[b] < NOISE_FLOOR:
        return None
    train_at_best = _train_level_at(train, es[b])
    if _rel(train.end, train_at_best) <= -0.02:
        return None  # the train loss still falls: that is overfitting's shape
    p = b + 1 + after.index(peak)
    return {"best": ev[b], "best_step": es[b], "median_after": med, "peak": peak, "peak_step": es[p],
            "evals_after": len(after), "now": ev[-1], "train_at_best": train_at_best, "train_now": train.end}


def _superiority(xs: list, ys: list) -> float:
    """P(x > y) for x from xs, y from ys (ties count half): 1.0 when every x is above every y."""
    if len(xs) < 2 or len(ys) < 2:
        return 1.0 if xs and ys and min(xs) > max(ys) else 0.0
    from bisect import bisect_left, bisect_right

    ys = sorted(ys)
    wins = 0.0
    for x in xs:
        lo, hi = bisect_left(ys, x), bisect_right(ys, x)
        wins += lo + 0.5 * (hi - lo)
    return wins / (len(xs) * len(ys))


def _train_level_at(train: _Curve, step: float) -> float:
    """The train level around a step: the median of the points within half a window of it."""
    if not train.n:
        return float("nan")
    i = 0
    while i < train.n and train.steps[i] < step:
        i += 1
    h = max(1, train.w // 2)
    return _median(train.values[max(0, i - h):min(train.n, i + h + 1)])


def _overfitting(train: _Curve, eval_: _Curve) -> tuple[int, float, dict] | None:
    """Prechelt's generalisation loss with hysteresis, scanned over the eval points in order.

    Raised when the last two evals (at least two after the best) both sit above the best eval by a margin
    (5-10%, scaled to the eval's own step-to-step noise) while the train loss has kept falling; cleared only by a new
    best eval. Returns (index of the best eval, GL, numbers) for the state at the last point.
    """
    ev = eval_.values
    if len(ev) < 3 or train.n < 2 or not eval_.positive:
        return None
    diffs = [abs(ev[i] - ev[i - 1]) / abs(ev[i - 1]) for i in range(1, len(ev)) if ev[i - 1]]
    margin = min(0.10, max(0.05, 1.5 * _median(diffs))) if diffs else 0.05
    best_i, raised = 0, False
    for i in range(1, len(ev)):
        if ev[i] < ev[best_i]:
            best_i, raised = i, False  # a new best clears it (the run generalises again)
            continue
        if raised or i - best_i < 2:
            continue
        recent = min(ev[i - 1], ev[i])
        if _rel(recent, ev[best_i]) >= margin and recent - ev[best_i] >= NOISE_FLOOR:
            tr_best = _train_level_at(train, eval_.steps[best_i])
            tr_now = _train_level_at(train, eval_.steps[i])
            if tr_now < tr_best and _rel(tr_now, tr_best) <= -0.02:
                raised = True
    if not raised:
        return None
    tr_best = _train_level_at(train, eval_.steps[best_i])
    return best_i, _rel(ev[-1], ev[best_i]), {"best": ev[best_i], "best_step": eval_.steps[best_i],
                                               "eval_now": ev[-1], "train_at_best": tr_best,
                                               "train_now": train.end, "margin": margin}


def _eval_not_improving(train: _Curve, eval_: _Curve) -> dict | None:
    """Overfitting of the other shape: from the first eval on, the eval loss never gets 5% below its first value while
    the train loss falls 20% or more over the same span (the model learns the training set and nothing that
    carries over). Needs 4 evals; the train fall is measured from the first eval, so a run that learned before its
    first eval and then levelled off on both curves is converged, not overfitting."""
    ev = eval_.values
    if eval_.n < 4 or not eval_.positive or not train.positive or train.n < 2:
        return None
    best_i = min(range(len(ev)), key=ev.__getitem__)
    gain = -_rel(ev[best_i], ev[0])
    t0 = _train_level_at(train, eval_.steps[0])
    fall = -_rel(train.end, t0)
    if gain >= 0.05 or fall < 0.20 or t0 - train.end < NOISE_FLOOR or ev[0] < NOISE_FLOOR:
        return None
    return {"eval_first": ev[0], "first_step": eval_.steps[0], "best": ev[best_i], "best_step": eval_.steps[best_i],
            "gain": gain, "eval_now": ev[-1], "train_at_first": t0, "train_now": train.end, "train_fall": fall}


def _half_fall(levels: list) -> float:
    """The relative fall over the second half of a sequence of levels (median of its first third against its
    last third): how much the curve still moves lately, whatever its consistency."""
    half = levels[len(levels) // 2:] if len(levels) >= 4 else list(levels)
    if len(half) < 2:
        return 0.0
    m = max(1, len(half) // 3)
    return -_rel(_median(half[-m:]), _median(half[:m]))


def _still_falling(d: float, tau: float, half_fall: float, cut: float) -> bool:
    """Falling, not flat: a fall overall, a consistent direction lately (Kendall tau) and a second-half fall of some
    size (tau ignores magnitude: a curve creeping 0.05% a step is consistent but flat): 1% of the level, or a quarter
    of the whole fall when that is smaller."""
    return d > 0.01 and tau <= cut and half_fall >= min(0.01, 0.25 * d)


def _shape(train: _Curve, eval_: _Curve, prefer: tuple | None = None) -> tuple[str, str, dict] | None:
    """Judge the overall shape: rising or erratic (not_decreasing), flat (stuck) or too slow.

    'drop' is the relative fall from the start level (median of the first tenth) to the end level (median of the
    last tenth). With 4 evals or more the eval loss decides between falling and flat (it is what the run is for,
    and each eval is a whole pass over the validation set); without, the train loss does. A smooth flat train loss
    is 'stuck' with or without an eval. `prefer` is the verdict at the previous checkpoint: every boundary moves in
    its favour (hysteresis), so a curve sitting on a threshold keeps its verdict instead of flickering.
    """
    if train.n < 3 or not train.positive or train.at_floor:
        return None
    p = prefer[0] if prefer else None
    why = prefer[1] if prefer else None
    d_train = train.drop()
    has_eval = eval_.n >= 3
    d_eval = eval_.drop() if has_eval else None
    on_eval = has_eval and eval_.n >= 4
    # With 4 evals the eval must rise too: the eval set is the same every time, while each train point is a small
    # batch of other rows. On a pretrained model at batch 2 x 2 the first batches happened to be easy (2.9, then
    # 3.3-4.1 at a learning rate of 1e-7), a +17% "rise" while the eval moved 0.02%: noise, not a climbing loss.
    # Two or three evals, the last 5% below the first: the held-out loss falls, whatever the few train batches do (a
    # 10-step LoRA of SmolLM2-135M at batch 4 x 2 logged steps wandering 15% (each point one batch, nothing to average
    # over) while its eval fell 4.05 -> 3.48: "not decreasing" there was a false alarm). From 4 evals on, the rules
    # below read the eval's whole course.
    eval_falls = 2 <= eval_.n < 4 and eval_.values[-1] < eval_.values[0] - 0.05 * abs(eval_.values[0])
    if d_train < (-0.035 if why == "rising" else -0.05) and not (on_eval and d_eval > -0.02) and not eval_falls:
        return "not_decreasing", "rising", {"d_train": d_train, "d_eval": d_eval}
    learned = 0.17 if p else 0.12
    if d_train >= learned or (has_eval and d_eval >= learned):
        return None
    # the second half's trend decides between "still falling, slowly" and "flat"
    half_t = train.bins(32)[1]  # 16 points in the second half: enough for a steady trend statistic
    fall_t = _half_fall(half_t)
    half_t = half_t[len(half_t) // 2:] if len(half_t) >= 6 else half_t
    tau_t = _tau(half_t)
    half_e = eval_.values[len(eval_.values) // 2:] if eval_.n >= 6 else eval_.values
    tau_e = _tau(half_e) if has_eval else 0.0
    fall_e = _half_fall(eval_.values) if has_eval else 0.0
    cut = -0.3 if p == "slow" else -0.7 if p else -0.5
    numbers = {"d_train": d_train, "d_eval": d_eval, "tau_train": tau_t, "tau_eval": tau_e,
               "fall_train": fall_t, "fall_eval": fall_e if has_eval else None, "on_eval": on_eval}
    if on_eval:
        falling = _still_falling(d_eval, tau_e, fall_e, cut)
    else:
        falling = _still_falling(d_train, tau_t, fall_t, cut) or (
            has_eval and _still_falling(d_eval, tau_e, fall_e, cut))
    if falling:
        return "slow", "falling", numbers
    if eval_falls:
        return None  # neither flat nor erratic: the held-out loss fell
    if has_eval and d_eval > (0.07 if p else 0.05):
        return None  # eval improved and has levelled off: converged, not flat
    if on_eval and tau_t <= cut and fall_t >= 0.03:
        return None  # eval flat but the train loss still falls clearly: not stuck (the overfitting rules watch it)
    if on_eval and _eval_dead_flat(eval_):
        return "stuck", "flat", numbers  # the train loss wanders by batch, the eval does not move at all
    levels = train.bins(16)[1]
    wobble = _median([abs(levels[i] - levels[i - 1]) for i in range(1, len(levels))]) / abs(train.end) \
        if len(levels) > 2 and train.end else 0.0
    numbers["wobble"] = wobble
    if wobble > (0.045 if why == "erratic" else 0.08 if why == "flat" else 0.06):
        return "not_decreasing", "erratic", numbers
    return "stuck", "flat", numbers


def _eval_dead_flat(eval_: _Curve) -> bool:
    """Every eval within 1% of their median: the model's predictions on a fixed set are not changing."""
    mid = _median(eval_.values)
    return mid > 0 and (max(eval_.values) - min(eval_.values)) <= 0.01 * mid


def _progress(history: History, config: RunConfig) -> tuple[float | None, bool]:
    """(fraction of the planned steps done, whether training has ended)."""
    last = history.last_step
    total = history.max_steps
    if not total and config is not None:
        ms = config.get("max_steps")
        total = ms if ms and ms > 0 else None
    done = history.final is not None or bool(total and last >= total)
    return ((last / total) if total else None), done


def _in_warmup(history: History) -> bool:
    """The learning rate is still climbing at the last logged point."""
    lr = history.learning_rate.values
    return len(lr) >= 2 and lr[-1] > lr[-2] * 1.0001 and lr[-1] >= max(lr) * 0.9999


def _shape_with_hysteresis(history: History, train: _Curve, eval_: _Curve):
    """The shape verdict, run as a small state machine over the last few checkpoints (prefixes of the history)
    so that each verdict biases the next one's thresholds."""
    n = train.n
    # checkpoints on a fixed grid (a power of two, so it moves only when the history doubles): re-running on a
    # slightly longer history replays the same chain and reaches the same state
    grid = 1 << max(0, (n // 16).bit_length() - 1)
    last = (n - 1) // grid * grid
    prefixes = [m for m in range(last - 15 * grid, last + 1, grid) if m >= 5]
    verdict = None
    for m in prefixes:
        t = _Curve(train.steps[:m], train.values[:m])
        es, evs = _prefix(_SeriesView(eval_.steps, eval_.values), train.steps[m - 1])
        verdict = _shape(t, _Curve(es, evs), verdict)
    return _shape(train, eval_, verdict)


@dataclass
class _SeriesView:
    steps: list
    values: list


def _flat_since(train: _Curve) -> float:
    """The step after which the train level stayed near its end level (for 'stuck since step N'): within 5% of it,
    or within three standard deviations of the bin-to-bin noise when the curve is noisier than that; a single bin
    outside the band does not end the flat stretch (one noisy bin must not move the onset to the end of the run)."""
    steps, levels = train.bins(32)
    noise = _median([abs(levels[i] - levels[i - 1]) for i in range(1, len(levels))]) if len(levels) > 2 else 0.0
    band = max(0.05 * abs(train.end), 3.0 * noise / 0.954)  # median |difference| of two bins = 0.954 sd of one

    def near(j: int) -> bool:
        return abs(levels[j] - train.end) <= band

    i = len(levels) - 1
    while i > 0:
        if near(i - 1):
            i -= 1
        elif i >= 2 and near(i - 2):
            i -= 2
        else:
            break
    return steps[i - 1] if i > 0 else train.steps[0]


def _lr_range(config: RunConfig) -> tuple:
    """(learning rate, bottom, top of the method's range), any of them None when unknown."""
    if config is None:
        return None, None, None
    lo, hi = config.ranges.get("learning_rate") or (None, None)
    return config.get("learning_rate"), lo, hi


def _lr_cause(history: History, train: _Curve, config: RunConfig, why: str, numbers: dict) -> tuple[str, str]:
    """('high' | 'low' | 'unclear', the reason in words) for a train loss that does not decrease.

    'high' needs a sign of it (a rising or wandering loss, a growing gradient norm); 'low' needs the learning rate at
    or below the bottom of the method's range; anything else is 'unclear' (the data or the model may be the cause)."""
    reasons_high = []
    if why == "rising":
        reasons_high.append(f"train loss rose {_num(train.start)} -> {_num(train.end)} "
                            f"(+{100 * -numbers['d_train']:.0f}%)")
    if why == "erratic":
        reasons_high.append(f"train loss wanders {100 * numbers.get('wobble', 0):.0f}% between neighbouring "
                            f"windows with no trend")
    gn = _finite(history.grad_norm.steps, history.grad_norm.values)[1]
    if len(gn) >= 4:
        q = len(gn) // 4
        early, late = _median(gn[:q]), _median(gn[-q:])
        if early > 0 and late > 3 * early:
            reasons_high.append(f"gradient norm grew {_num(early)} -> {_num(late)}")
    lr, lo, _hi = _lr_range(config)
    if reasons_high and not (lr is not None and lo is not None and lr < lo):  # below the range it is not too high
        return "high", "; ".join(reasons_high)
    words = (f"train loss {_num(train.start)} -> {_num(train.end)} ({_pct(-numbers['d_train'])})"
             + (", smooth" if not reasons_high else ""))
    if lr is not None and lo is not None and lr <= lo:
        where = "at the bottom of" if lr == lo else "below"
        return "low", words + f"; learning_rate {lr:g} is {where} the {config.method} range ({lo:g})"
    return "unclear", words


def _stuck_cause(config: RunConfig) -> tuple[str, str]:
    """('low' | 'unclear', a sentence) for a flat loss: the learning rate is only blamed when it is at or below the
    bottom of the method's range."""
    lr, lo, hi = _lr_range(config)
    method = config.method if config is not None else "this method"
    if lr is not None and lo is not None and lr <= lo:
        where = "at the bottom of" if lr == lo else "below"
        return "low", (f"learning_rate {lr:g} is {where} the {method} range ({lo:g}): the learning rate "
                       "looks too low.")
    where = ""
    if lr is not None and lo is not None and hi is not None:
        where = f" (learning_rate {lr:g} is {'within' if lr <= hi else 'above'} the {method} range, {lo:g} to {hi:g})"
    return "unclear", (f"The cause is unclear{where}: try another schedule, and check the data (quality, size, "
                       "preprocessing) and whether the model is big enough.")


def _movement(name: str, curve: _Curve, d: float, half_fall: float | None, span: float | None,
              tau: float = 0.0) -> str:
    """'train loss flat: 2.16 -> 2.13 (-1.4%)' or 'train loss barely moving: 1.25 -> 1.16 (-7.2%) over 1876 steps,
    no fall in the last half': the words follow the size of the change, and of the last half's."""
    size = abs(d)
    head = "flat" if size < 0.02 else "barely moving" if d > 0 else "drifting up"
    text = f"{name} loss {head}: {_num(curve.start)} -> {_num(curve.end)} ({_pct(-d)})"
    if span:
        text += f" over {_fmt_step(span)} steps"
    if size >= 0.02 and half_fall is not None:
        if half_fall < 0.005:
            text += ", no fall in the last half"
        elif tau <= -0.5:  # a steady fall, too small to count
            text += f", only {_pct(-half_fall)} in the last half"
        else:
            text += f", no steady fall in the last half ({_pct(-half_fall)} between its ends)"
    return text


# -- the entry points ----------------------------------------------------------------------------------------------

def diagnose(history: History, config: RunConfig | None = None) -> list[Finding]:
    """Every problem the curves show now, most severe first, each with its evidence and fixes for this config."""

    if config is None:  # not our run: the preset, with the values the log shows (its learning rate, eval interval)
        config = fixtable.assumed_config(history)
    train = _Curve(*_finite(history.train_loss.steps, history.train_loss.values))
    eval_ = _Curve(*_finite(history.eval_loss.steps, history.eval_loss.values))
    progress, done = _progress(history, config)
    out: list[Finding] = []
    seen = set()

    def add(f: Finding):
        if f.problem in seen:
            return
        seen.add(f.problem)
        out.append(f)

    # diverged: NaN/inf loss, or an explosion
    nf = _nonfinite_loss(history)
    if nf:
        nf.fixes = fixtable.fixes_for("diverged", config, history=history)
        add(nf)
    # long histories are judged on ~320 bin medians: the same verdicts for a fraction of the sorting
    coarse = _Curve(*train.bins(320)) if train.n > 640 else train
    boom = _explosion(coarse)
    if boom and not nf:
        step, ref, peak, tail = boom
        if train.end >= 1.5 * ref or tail >= 1.5 * ref:  # not recovered: the last tenth (or last bin) still high
            text = (f"train loss exploded from {_num(ref)} to {_num(peak)} ({peak / ref:.0f}x) at step "
                    f"{_fmt_step(step)} and is still {_num(tail)} ({tail / ref:.1f}x its best before)")
            add(Finding("diverged", Severity.ERROR, step, text + ": the learning rate is too high.",
                        fixtable.fixes_for("diverged", config, history=history),
                        {"from": ref, "peak": peak, "now": tail}))
        else:
            text = (f"train loss blew up from {_num(ref)} to {_num(peak)} at step {_fmt_step(step)}, then "
                    f"recovered to {_num(tail)}")
            add(Finding("oscillating", Severity.WARNING, step, text + ": training is unstable.",
                        fixtable.fixes_for("oscillating", config, history=history),
                        {"from": ref, "peak": peak, "now": tail}))

    # the first steps made the model worse than it was before training (needs an eval before the first step)
    worse = _worse_than_start(train, eval_) if "diverged" not in seen else None
    if worse:
        nums = worse
        head = (f"eval loss rose from {_num(nums['before'])} before training to {_num(nums['peak'])} "
                f"(+{100 * nums['rise']:.0f}%) at step {_fmt_step(nums['peak_step'])} while the train loss did not "
                f"fall")
        if nums["still"]:
            add(Finding("not_decreasing", Severity.ERROR, nums["first_step"],
                        f"{head}, and is still {_num(nums['now'])}: the first steps made the model worse, the "
                        "learning rate looks too high.",
                        fixtable.fixes_for("not_decreasing", config, history=history, cause="high"),
                        dict(nums, cause="high")))
        else:
            add(Finding("oscillating", Severity.WARNING, nums["first_step"],
                        f"{head}, then came back to {_num(nums['now'])} as the learning rate decayed: the early "
                        "steps damaged the model, training is unstable.",
                        fixtable.fixes_for("oscillating", config, history=history), nums))

    # overfitting (only while the train loss itself is falling: else it is instability, not memorising)
    of = _overfitting(train, eval_) if train.drop() > 0 else None
    if of:
        best_i, gl, nums = of
        rise = nums["eval_now"] - nums["best"]
        fall = nums["train_at_best"] - nums["train_now"]
        text = (f"eval loss rose {_num(rise)} (+{100 * gl:.0f}%) from its best ({_num(nums['best'])} at step "
                f"{_fmt_step(nums['best_step'])}) while train loss fell {_num(fall)} "
                f"({_num(nums['train_at_best'])} -> {_num(nums['train_now'])}).")
        epoch = _epoch_at(history, nums["best_step"])
        severity, text = _caught_by_early_stopping(history, config, text)
        add(Finding("overfitting", severity, nums["best_step"], text,
                    fixtable.fixes_for("overfitting", config, history=history, best_epoch=epoch,
                                       best_step=nums["best_step"]), dict(nums, gl=gl, best_epoch=epoch)))

    # oscillating
    osc = _oscillation(coarse, eval_)
    if osc:
        step, words, nums = osc
        add(Finding("oscillating", Severity.WARNING, step, words + ": training is unstable.",
                    fixtable.fixes_for("oscillating", config, history=history), nums))

    # unstable on the eval set: worse than its best eval for several evals while the train loss does not improve
    if "oscillating" not in seen and "overfitting" not in seen and "diverged" not in seen:
        drift = _eval_worsens(train, eval_)
        if drift:
            nums = drift
            add(Finding("oscillating", Severity.WARNING, nums["best_step"],
                        f"eval loss has been above its best ({_num(nums['best'])} at step "
                        f"{_fmt_step(nums['best_step'])}) for {nums['evals_after']} evals, up to {_num(nums['peak'])} "
                        f"(+{100 * _rel(nums['peak'], nums['best']):.0f}%) at step {_fmt_step(nums['peak_step'])}, "
                        f"now {_num(nums['now'])}, while the train loss did not improve ({_num(nums['train_at_best'])}"
                        f" -> {_num(nums['train_now'])}): the updates undo what the model learned, training is "
                        "unstable.", fixtable.fixes_for("oscillating", config, history=history), nums))

    # overfitting, the other form: the eval never really improves while the train loss falls a lot
    if "overfitting" not in seen:
        flat = _eval_not_improving(train, eval_)
        if flat:
            nums = flat
            epoch = _epoch_at(history, nums["best_step"])
            text = (f"eval loss not improving while train loss falls: eval {_num(nums['eval_first'])} at step "
                    f"{_fmt_step(nums['first_step'])}, at best {_num(nums['best'])} ({_pct(-nums['gain'])}), now "
                    f"{_num(nums['eval_now'])} over {eval_.n} evals, while train loss fell "
                    f"{_num(nums['train_at_first'])} -> {_num(nums['train_now'])} ({_pct(-nums['train_fall'])}).")
            severity, text = _caught_by_early_stopping(history, config, text)
            add(Finding("overfitting", severity, nums["first_step"], text,
                        fixtable.fixes_for("overfitting", config, history=history, best_epoch=epoch,
                                           best_step=nums["best_step"]), dict(nums, best_epoch=epoch)))

    # shape: rising / flat / slow, not judged too early (a quarter of the run, warmup over) unless the run ended,
    # nor on too little evidence (10 train points, or 3 evals: each eval is a pass over the whole validation set)
    shape = None
    early = (progress is not None and progress < 0.25 and not done) or (_in_warmup(history) and not done)
    # (not when the step-0 eval already explained the curve: the damage finding says what went wrong)
    if "diverged" not in seen and not worse and (train.n >= _MIN_TRAIN or (train.n >= 3 and eval_.n >= 3)):
        shape = _shape_with_hysteresis(history, coarse, eval_)
        if shape and early and shape[1] != "rising":
            shape = None
    alone = ("" if eval_.n >= 3 else " (no eval loss logged: judged on the train loss alone)" if not eval_.n else
             f" (only {eval_.n} eval{'s' if eval_.n > 1 else ''}: judged on the train loss alone)")
    if shape:
        problem, why, nums = shape
        if problem == "not_decreasing":
            cause, words = _lr_cause(history, train, config, why, nums)
            if problem not in seen:
                step = _min_step_before_rise(train) if why == "rising" else train.steps[0]
                verdict = (f"the learning rate looks too {cause}" if cause in ("high", "low") else
                           "the cause is unclear")
                text = f"{words}: {verdict}.{alone}"
                add(Finding("not_decreasing", Severity.ERROR if why == "rising" else Severity.WARNING, step, text,
                            fixtable.fixes_for("not_decreasing", config, history=history, cause=cause),
                            dict(nums, cause=cause)))
                # a rising loss with an erratic eval is unstable as well
                if why == "rising" and "oscillating" not in seen and _erratic_eval(eval_):
                    add(Finding("oscillating", Severity.WARNING, eval_.steps[0],
                                f"eval loss jumps up and down by 10% or more while the train loss rises "
                                f"({_zigzag_text(eval_)}): training is unstable.",
                                fixtable.fixes_for("oscillating", config, history=history), {}))
        elif problem == "stuck" and "overfitting" not in seen:
            step = _flat_since(train)
            span = history.last_step - (train.steps[0] if train.n else 0)
            parts = [_movement("train", train, nums["d_train"], nums["fall_train"], span, nums["tau_train"])]
            if nums["d_eval"] is not None:
                parts.append(_movement("eval", eval_, nums["d_eval"], nums["fall_eval"], None, nums["tau_eval"]))
            cause, words = _stuck_cause(config)
            text = (" and ".join(parts) + (": neither is going down." if nums["d_eval"] is not None else
                                           f"{alone}.") + " " + words)
            title = TITLES["stuck"] if nums["d_eval"] is not None else "Training loss stuck"
            add(Finding("stuck", Severity.WARNING, step, text, fixtable.fixes_for("stuck", config, history=history,
                                                                           cause=cause),
                        dict(nums, cause=cause, title=title)))
        elif problem == "slow":
            parts = [f"train loss {_num(train.start)} -> {_num(train.end)} ({_pct(-nums['d_train'])})"]
            if nums["d_eval"] is not None:
                parts.append(f"eval loss {_num(eval_.start)} -> {_num(eval_.end)} ({_pct(-nums['d_eval'])})")
            text = (" and ".join(parts) + f" over {_fmt_step(history.last_step)} steps: still falling, but only a "
                    "little.")
            add(Finding("slow", Severity.INFO if not done else Severity.WARNING, train.steps[0], text,
                        fixtable.fixes_for("slow", config, history=history), nums))

    out.extend(_advisories(history, config, train, done))
    out.sort(key=lambda f: (f.severity.rank, f.problem not in PROBLEMS))
    return out


def _caught_by_early_stopping(history: History, config: RunConfig, text: str) -> tuple[Severity, str]:
    """An overfitting run that early stopping ended is handled: said as information, not as a warning."""
    if config is None or history.final is None:
        return Severity.WARNING, text
    if config.get("early_stopping_patience") and config.get("load_best_model_at_end"):
        total = history.max_steps or config.get("max_steps")
        if total and total > 0 and history.last_step < total:
            return Severity.INFO, text + (f" Early stopping ended the run at step {_fmt_step(history.last_step)} and "
                                          "the best checkpoint is kept.")
        return Severity.INFO, text + " The best checkpoint is kept (load_best_model_at_end)."
    return Severity.WARNING, text


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _min_step_before_rise(train: _Curve) -> float:
    steps, levels = train.bins(32)
    i = min(range(len(levels)), key=levels.__getitem__) if levels else 0
    return steps[i] if levels else train.steps[0]


def _erratic_eval(eval_: _Curve) -> bool:
    ev = eval_.values
    ups = sum(1 for i in range(1, len(ev)) if ev[i - 1] and _rel(ev[i], ev[i - 1]) >= 0.10
              and ev[i] - ev[i - 1] >= NOISE_FLOOR)
    downs = sum(1 for i in range(1, len(ev)) if ev[i - 1] and _rel(ev[i], ev[i - 1]) <= -0.09)
    return ups >= 2 and downs >= 1


def _zigzag_text(eval_: _Curve) -> str:
    return f"between {_num(min(eval_.values))} and {_num(max(eval_.values))}"


def _epoch_at(history: History, step: float) -> float | None:
    ep = history.epoch
    best = None
    for s, e in zip(ep.steps, ep.values):
        if s <= step:
            best = e
        else:
            break
    return best


def _advisories(history: History, config: RunConfig, train: _Curve, done: bool) -> list[Finding]:

    out = []
    warm = config.get("warmup_steps") or 0
    total = history.max_steps or (config.get("max_steps") if (config.get("max_steps") or 0) > 0 else None)
    if warm >= 1 and total and warm >= total:
        out.append(Finding("warmup_too_long", Severity.WARNING, None,
                           f"warmup_steps {warm:g} >= the run's {total} steps: the learning rate never leaves warmup.",
                           fixtable.fixes_for("warmup_too_long", config, history=history, total_steps=total)))
    lr = _finite(history.learning_rate.steps, history.learning_rate.values)[1]
    peak = config.get("learning_rate")
    if done and len(lr) >= 2 and peak and max(lr) < 0.8 * peak and "warmup_too_long" not in {f.problem for f in out}:
        i = lr.index(max(lr))
        if i == len(lr) - 1:  # still climbing when the run ended: warmup was longer than the run
            out.append(Finding("lr_never_peaked", Severity.WARNING, None,
                               f"the learning rate reached only {max(lr):.3g} of its {peak:g} peak before the run "
                               "ended: warmup took the whole run.",
                               fixtable.fixes_for("warmup_too_long", config, history=history,
                                                  total_steps=total)))
    gn = history.grad_norm
    bad = [] if _all_finite(gn.values) else [s for s, v in zip(gn.steps, gn.values) if not math.isfinite(v)]
    if bad and train.n and _all_finite(history.train_loss.values):
        out.append(Finding("nonfinite_grad_norm", Severity.INFO, bad[0],
                           f"{len(bad)} of {len(gn.values)} logged gradient norms are NaN/inf while the loss stays "
                           "finite: skipped fp16 overflow steps, harmless unless it becomes frequent.", []))
    return out


def crash_findings(kind: str, config: RunConfig | None = None, message: str | None = None) -> Finding | None:
    """The finding for a run that crashed: kind 'out_of_memory' (or 'oom'); None for a crash we have no fix for."""

    if config is None:
        config = fixtable.default_config()
    kind = (kind or "").lower().replace("-", "_")
    if kind in ("oom", "out_of_memory", "cuda_oom", "outofmemory"):
        return Finding("out_of_memory", Severity.ERROR, None,
                       f"the run ran out of memory (per-device batch {config.get('per_device_train_batch_size')}, "
                       f"method {config.method}).", fixtable.fixes_for("out_of_memory", config))
    if kind in ("nan", "diverged", "nonfinite"):
        return Finding("diverged", Severity.ERROR, None, (message.rstrip(".") + ": the run was stopped.") if message
                       else "the run stopped on a non-finite loss.",
                       fixtable.fixes_for("diverged", config))
    return None
