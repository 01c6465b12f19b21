"""The curve helpers every rule reads: a finite loss curve and its robust summaries (Curve), bin medians, Kendall's
tau, relative change, finite filtering, and the numbers as the evidence prints them.

The rules work on relative changes (losses live anywhere from 1e-4 to 1e4, and gradient accumulation may scale
the logged train loss) above an absolute floor (NOISE_FLOOR: a change too small to matter in nats). Pure Python: a
few sorts of at most a tenth of the points.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass

MIN_TRAIN = 10  # train points before a shape verdict on the train loss alone (fewer are noise, not evidence)
# The absolute floor under the relative rules. The console's losses are per-token cross-entropy in nats: a change
# of less than 0.01 (1 % in perplexity) means nothing for what the model does, however large it is relative to a
# loss that sits near zero (a trivial task whose losses wiggle around 1e-5 tripled "relatively" on noise). Rises,
# jumps and falls smaller than this raise no shape finding, and a curve already below it has nothing left to learn.
NOISE_FLOOR = 0.01


def num(x: float) -> str:
    """A loss for prose: 3 significant digits, whatever the scale."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.4g}"


def pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


# -- small robust statistics ---------------------------------------------------------------------------------------

def median(xs) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def bins(steps: list, values: list, count: int) -> tuple[list, list]:
    """Bin medians over about `count` equal runs of points (and each bin's last step): per-step noise averages out."""
    n = len(values)
    k = max(1, n // max(1, count))
    ms, ss = [], []
    for i in range(0, n - n % k if n >= k else n, k):
        ms.append(median(values[i:i + k]))
        ss.append(steps[i + k - 1] if i + k - 1 < n else steps[-1])
    rest = n % k
    if rest and n >= k:  # a short last bin: merged into the previous one rather than dropped (it is the newest)
        ms[-1] = median(values[n - rest - k:])
        ss[-1] = steps[-1]
    return ss, ms


def tau(xs: list) -> float:
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


def rel(a: float, b: float) -> float:
    """(a - b) relative to |b|: losses can be near zero or in the thousands."""
    return (a - b) / abs(b) if b else (0.0 if a == b else math.copysign(math.inf, a - b))


def superiority(xs: list, ys: list) -> float:
    """P(x > y) for x from xs, y from ys (ties count half): 1.0 when every x is above every y."""
    if len(xs) < 2 or len(ys) < 2:
        return 1.0 if xs and ys and min(xs) > max(ys) else 0.0
    ys = sorted(ys)
    wins = 0.0
    for x in xs:
        lo, hi = bisect_left(ys, x), bisect_right(ys, x)
        wins += lo + 0.5 * (hi - lo)
    return wins / (len(xs) * len(ys))


@dataclass
class Curve:
    """A finite loss curve and its robust summaries."""

    steps: list
    values: list

    def __post_init__(self):
        n = len(self.values)
        self.n = n
        w = max(1, n // 10)
        self.w = w
        self.start = median(self.values[:w]) if n else float("nan")
        self.end = median(self.values[-w:]) if n else float("nan")
        # ratios (4x, +50%) only mean something for a loss bounded below by zero, as cross-entropy and MSE are
        self.positive = bool(n) and min(self.values) > 0
        # already at the floor (fell 98% or more): flatness there is convergence, not a problem
        self.at_floor = bool(n) and self.positive and (self.end <= 0.02 * max(self.values[:w] + [self.values[0]])
                                                       or self.end < NOISE_FLOOR)

    def bins(self, count: int) -> tuple[list, list]:
        """bins() of this curve, cached: several detectors ask for the same cut."""
        cache = self.__dict__.setdefault("_bins", {})
        if count not in cache:
            cache[count] = bins(self.steps, self.values, count)
        return cache[count]

    def window_median(self, lo: int, hi: int) -> float:
        """median(values[lo:hi]), the same number: each window asked is remembered, and the last one is slid to
        the next by inserting and removing the points that differ (the overfitting rule asks at every evaluation,
        moving forward, and a window of a tenth of the curve sorted each time was quadratic in the log's length)."""
        levels = self.__dict__.setdefault("_levels", {})
        if (lo, hi) in levels:
            return levels[(lo, hi)]
        last = self.__dict__.get("_window")
        if last is not None and last[0] <= lo <= last[1] and last[1] <= hi:
            window = last[2]
            for k in range(last[0], lo):
                del window[bisect_left(window, self.values[k])]
            for k in range(last[1], hi):
                insort(window, self.values[k])
        else:
            window = sorted(self.values[lo:hi])
        self._window = (lo, hi, window)
        n = len(window)
        level = float("nan") if not n else window[n // 2] if n % 2 else 0.5 * (window[n // 2 - 1] + window[n // 2])
        levels[(lo, hi)] = level
        return level

    def drop(self) -> float:
        """Relative decrease from the start level to the end level (0.3: fell 30%; negative: rose)."""
        return -rel(self.end, self.start) if self.n else 0.0


@dataclass
class SeriesView:
    """Steps and values, as a metrics Series holds them."""

    steps: list
    values: list


def prefix(series, last_step: float | None):
    """(steps, values) of a series up to `last_step` (all of it for None)."""
    if last_step is None:
        return list(series.steps), list(series.values)
    steps, values = series.steps, series.values
    i = len(steps)
    while i and steps[i - 1] > last_step:
        i -= 1
    return steps[:i], values[:i]


def all_finite(values) -> bool:
    return all(map(math.isfinite, values))  # C speed: the common case costs ~0.1 ms on 10k points


def finite(steps, values):
    """The finite points of a series (the same lists when all are)."""
    if all_finite(values):
        return steps, values
    fs, fv = [], []
    for s, v in zip(steps, values):
        if math.isfinite(v):
            fs.append(s)
            fv.append(v)
    return fs, fv


def train_level_at(train: Curve, step: float) -> float:
    """The train level around a step: the median of the points within half a window of it."""
    if not train.n:
        return float("nan")
    # the first point at or after the step, by bisection (the steps are sorted): a scan from the start, called at
    # each evaluation, made the overfitting rule quadratic (23 s of CPU at 100k log events)
    i = bisect_left(train.steps, step, 0, train.n)
    h = max(1, train.w // 2)
    return train.window_median(max(0, i - h), min(train.n, i + h + 1))


def epoch_at(history, step: float) -> float | None:
    """The last logged epoch at or before a step."""
    ep = history.epoch
    best = None
    for s, e in zip(ep.steps, ep.values):
        if s <= step:
            best = e
        else:
            break
    return best
