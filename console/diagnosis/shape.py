"""The overall shape of the loss, one verdict shared by three rules: rising or erratic (not_decreasing), flat
(stuck) or still falling but too slowly (slow). Judged with hysteresis over the last few checkpoints, so a curve
sitting on a threshold keeps its verdict instead of flickering as points arrive."""
from __future__ import annotations

from typing import TYPE_CHECKING

from console.diagnosis.curves import Curve, SeriesView, median, prefix, rel, tau

if TYPE_CHECKING:  # for annotations only
    from console.config.run_config import RunConfig
    from console.runs.metrics import History


def half_fall(levels: list) -> float:
    """The relative fall over the second half of a sequence of levels (median of its first third against its
    last third): how much the curve still moves lately, whatever its consistency."""
    half = levels[len(levels) // 2:] if len(levels) >= 4 else list(levels)
    if len(half) < 2:
        return 0.0
    m = max(1, len(half) // 3)
    return -rel(median(half[-m:]), median(half[:m]))


def still_falling(d: float, tau_: float, half_fall_: float, cut: float) -> bool:
    """Falling, not flat: a fall overall, a consistent direction lately (Kendall tau) and a second-half fall of some
    size (tau ignores magnitude: a curve creeping 0.05% a step is consistent but flat): 1% of the level, or a quarter
    of the whole fall when that is smaller."""
    return d > 0.01 and tau_ <= cut and half_fall_ >= min(0.01, 0.25 * d)


def shape(train: Curve, eval_: Curve, prefer: tuple | None = None) -> tuple[str, str, dict] | None:
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
    fall_t = half_fall(half_t)
    half_t = half_t[len(half_t) // 2:] if len(half_t) >= 6 else half_t
    tau_t = tau(half_t)
    half_e = eval_.values[len(eval_.values) // 2:] if eval_.n >= 6 else eval_.values
    tau_e = tau(half_e) if has_eval else 0.0
    fall_e = half_fall(eval_.values) if has_eval else 0.0
    cut = -0.3 if p == "slow" else -0.7 if p else -0.5
    numbers = {"d_train": d_train, "d_eval": d_eval, "tau_train": tau_t, "tau_eval": tau_e,
               "fall_train": fall_t, "fall_eval": fall_e if has_eval else None, "on_eval": on_eval}
    if on_eval:
        falling = still_falling(d_eval, tau_e, fall_e, cut)
    else:
        falling = still_falling(d_train, tau_t, fall_t, cut) or (
            has_eval and still_falling(d_eval, tau_e, fall_e, cut))
    if falling:
        return "slow", "falling", numbers
    if eval_falls:
        return None  # neither flat nor erratic: the held-out loss fell
    if has_eval and d_eval > (0.07 if p else 0.05):
        return None  # eval improved and has levelled off: converged, not flat
    if on_eval and tau_t <= cut and fall_t >= 0.03:
        return None  # eval flat but the train loss still falls clearly: not stuck (the overfitting rules watch it)
    if on_eval and eval_dead_flat(eval_):
        return "stuck", "flat", numbers  # the train loss wanders by batch, the eval does not move at all
    levels = train.bins(16)[1]
    wobble = median([abs(levels[i] - levels[i - 1]) for i in range(1, len(levels))]) / abs(train.end) \
        if len(levels) > 2 and train.end else 0.0
    numbers["wobble"] = wobble
    if wobble > (0.045 if why == "erratic" else 0.08 if why == "flat" else 0.06):
        return "not_decreasing", "erratic", numbers
    return "stuck", "flat", numbers


def eval_dead_flat(eval_: Curve) -> bool:
    """Every eval within 1% of their median: the model's predictions on a fixed set are not changing."""
    mid = median(eval_.values)
    return mid > 0 and (max(eval_.values) - min(eval_.values)) <= 0.01 * mid


def shape_with_hysteresis(history: History, train: Curve, eval_: Curve):
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
        t = Curve(train.steps[:m], train.values[:m])
        es, evs = prefix(SeriesView(eval_.steps, eval_.values), train.steps[m - 1])
        verdict = shape(t, Curve(es, evs), verdict)
    return shape(train, eval_, verdict)


def lr_range(config: RunConfig) -> tuple:
    """(learning rate, bottom, top of the method's range), any of them None when unknown."""
    if config is None:
        return None, None, None
    lo, hi = config.ranges.get("learning_rate") or (None, None)
    return config.get("learning_rate"), lo, hi
