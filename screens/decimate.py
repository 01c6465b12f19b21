"""Decimating long curves to a chart's width, keeping every spike (min and max of each bucket)."""
from __future__ import annotations

import math
from typing import Sequence


def decimate(steps: Sequence[float], values: Sequence[float], buckets: int) -> tuple[list[float], list[float]]:
    """At most ~2 * buckets points: per bucket of consecutive points, its min and max in step order.

    Non-finite values (NaN, inf) are kept as they are: a divergence must stay visible. The first and last points
    are always kept. Input with no more than 2 * buckets points is returned unchanged (as lists).
    """
    n = min(len(steps), len(values))
    steps, values = list(steps[:n]), list(values[:n])
    buckets = max(1, int(buckets))
    if n <= 2 * buckets:
        return steps, values
    out_s: list[float] = []
    out_v: list[float] = []
    size = n / buckets
    for b in range(buckets):
        lo, hi = int(round(b * size)), int(round((b + 1) * size))
        if hi <= lo:
            continue
        idx = range(lo, hi)
        bad = [i for i in idx if not math.isfinite(values[i])]
        good = [i for i in idx if math.isfinite(values[i])]
        keep = set(bad[:1])
        if good:
            keep.add(min(good, key=lambda i: values[i]))
            keep.add(max(good, key=lambda i: values[i]))
        for i in sorted(keep):
            out_s.append(steps[i])
            out_v.append(values[i])
    if out_s[0] != steps[0]:
        out_s.insert(0, steps[0])
        out_v.insert(0, values[0])
    if out_s[-1] != steps[-1]:
        out_s.append(steps[-1])
        out_v.append(values[-1])
    return out_s, out_v
