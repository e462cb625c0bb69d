"""Validation of plugin options, with augkit's one error format (``augkit.params.fail``)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from augkit.params import fail


def integer(value: Any, path: str, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise fail(path, value, f"an integer in [{lo}, {hi}]")
    return int(value)


def number(value: Any, path: str, lo: float, hi: float, *, hi_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (or ``[lo, hi)``)."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(float(value)) and lo <= value and (value < hi if hi_open
                                                                else value <= hi))
    if not ok:
        raise fail(path, value, f"a number in [{lo:g}, {hi:g}{')' if hi_open else ']'}")
    return float(value)


def flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, value, "true or false")
    return value


def value_range(value: Any, path: str) -> tuple[float, float]:
    """A pair ``(low, high)`` of finite numbers with ``low < high``."""
    try:
        lo, hi = value
        lo, hi = number(lo, path, -1e6, 1e6), number(hi, path, -1e6, 1e6)
    except (TypeError, ValueError):
        raise fail(path, value, "a pair [low, high] of numbers with low < high") from None
    if not lo < hi:
        raise fail(path, value, "a pair [low, high] of numbers with low < high")
    return lo, hi


def shape(value: Any, path: str, *, min_size: int = 1) -> tuple[int, int, int]:
    """An image shape ``(height, width, channels)``."""
    allowed = f"(height, width, channels) with height, width >= {min_size} and channels >= 1"
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise fail(path, value, allowed)
    h, w, c = value
    for v, least in ((h, min_size), (w, min_size), (c, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not least <= v <= 65536:
            raise fail(path, value, allowed)
    return int(h), int(w), int(c)


def num_classes(value: Any, plugin: str) -> int:
    return integer(value, f"{plugin}.num_classes", 2, 1_000_000)
