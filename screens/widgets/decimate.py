"""Decimating long curves to a chart's width, keeping every spike (min and max of each bucket).

Vectorised with numpy: a million points take a few milliseconds. `SeriesBuffer` keeps a numpy copy of a growing
list (a History series) up to date by converting only the points added since the last look. numpy is imported only
when a series is long enough to need it (it costs ~60 ms of start-up).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def decimate_arrays(steps: np.ndarray, values: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2 * buckets + 2 points: per bucket of consecutive points, its min and max, in step order.

    Non-finite values (NaN, inf) are kept (the first of each bucket): a divergence must stay visible. The first
    and last points are always kept. Input with no more than 2 * buckets points is returned as it is.
    """
    import numpy as np

    n = min(len(steps), len(values))
    steps, values = steps[:n], values[:n]
    buckets = max(1, int(buckets))
    if n <= 2 * buckets:
        return steps, values
    size = -(-n // buckets)  # points per bucket (ceil): at most `buckets` buckets
    rows = -(-n // size)
    pad = rows * size - n
    offsets = np.arange(rows) * size
    finite = np.isfinite(values)
    all_finite = bool(finite.all())

    def padded(array: np.ndarray, fill) -> np.ndarray:
        return (np.concatenate([array, np.full(pad, fill, dtype=array.dtype)]) if pad else array).reshape(rows, size)

    low = values if all_finite else np.where(finite, values, np.inf)
    high = values if all_finite else np.where(finite, values, -np.inf)
    keep = [padded(low, np.inf).argmin(axis=1) + offsets, padded(high, -np.inf).argmax(axis=1) + offsets,
            np.array([0, n - 1])]
    if not all_finite:
        bad = padded(~finite, False)
        keep.append((bad.argmax(axis=1) + offsets)[bad.any(axis=1)])
    index = np.unique(np.concatenate(keep))  # sorted, each point once
    return steps[index], values[index]


def _same(a: float, b: float) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


class SeriesBuffer:
    """A numpy copy of two parallel growing lists (steps, values), extended with only what was appended.

    `update` returns True when the content changed. A list that was replaced, shortened or rewritten (a resumed
    run's log replaces the steps it repeats) is converted again from the start.
    """

    def __init__(self):
        import numpy as np

        self._source: tuple | None = None  # (steps list, values list) last converted
        self._steps = np.empty(0)
        self._values = np.empty(0)
        self.n = 0
        self.generation = 0  # bumped on every change

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self.n]

    @property
    def values(self) -> np.ndarray:
        return self._values[: self.n]

    def update(self, steps: Sequence[float], values: Sequence[float]) -> bool:
        import numpy as np

        n = min(len(steps), len(values))
        old = self.n
        same_source = (self._source is not None and self._source[0] is steps and self._source[1] is values
                       and n >= old)
        if same_source and old and not (_same(steps[old - 1], float(self._steps[old - 1]))
                                        and _same(values[old - 1], float(self._values[old - 1]))):
            same_source = False  # rewritten under us
        if same_source and n == old:
            return False
        start = old if same_source else 0
        if n > len(self._steps):  # grow by doubling: appending stays cheap at a million points
            capacity = max(64, n, 2 * len(self._steps))
            new_steps, new_values = np.empty(capacity), np.empty(capacity)
            new_steps[:start], new_values[:start] = self._steps[:start], self._values[:start]
            self._steps, self._values = new_steps, new_values
        self._steps[start:n] = np.asarray(steps[start:n], dtype=float)
        self._values[start:n] = np.asarray(values[start:n], dtype=float)
        self.n = n
        self._source = (steps, values)
        self.generation += 1
        return True
