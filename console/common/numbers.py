"""The one way a number is written for a person: in fixes, findings, `inspect`, `watch`, `rerun` and the screens.

The same fix printed as `0.0002 -> 0.0001` in one place and `2e-4 -> 1e-4` in another; now every text form goes
through `fmt`.
"""
from __future__ import annotations


def fmt(value) -> str:
    """Numbers the way the guide writes them: 2e-4, 0.01, 4, 1.5e6; anything else as str()."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value == int(value) and 1 <= abs(value) < 1e6:
            return str(int(value))
        if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e6):
            mantissa, exp = f"{value:.1e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exp)}"
        return f"{value:g}"
    return str(value)
