"""Parameter declarations: ranges and options as data, validated with one kind of message.

Every op declares its parameters with these classes. Validation happens once, when the op is
built (from Python, a dict, YAML/JSON or Keras keyword arguments), and every failure raises
:class:`augkit.errors.SpecError` naming the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from augkit.errors import SpecError


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr`` cut to ``limit`` characters (a hostile spec can hold a huge value)."""
    text = reprlib.repr(value) if not isinstance(value, (str, int, float)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(path: str, value: Any, allowed: str) -> SpecError:
    """Build the one error message format used for every bad spec value."""
    return SpecError(f"{path}: got {short_repr(value)}; allowed: {allowed}")


def closest(name: str, options: Sequence[str]) -> str:
    """A ``"; did you mean ...?"`` suffix with the closest valid names (or empty)."""
    near = difflib.get_close_matches(str(name), list(options), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _fmt(x: float) -> str:
    return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"


@dataclass(frozen=True)
class Param:
    """Base declaration: a documented, defaulted parameter."""

    default: Any
    doc: str = ""

    def validate(self, value: Any, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def pin(self, value: Any, t: float) -> Any:
        """The value with its randomness removed at position ``t`` in [0, 1] (ranges only)."""
        return value


@dataclass(frozen=True)
class Range(Param):
    """A closed interval ``[low, high]`` sampled uniformly, inside ``[min, max]``."""

    min: float = -math.inf
    max: float = math.inf
    unit: str = ""

    def validate(self, value: Any, path: str) -> tuple[float, float]:
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(_is_number(v) for v in value)
        ):
            raise fail(path, value, self.describe())
        lo, hi = float(value[0]), float(value[1])
        if not (self.min <= lo <= hi <= self.max):
            raise fail(path, value, self.describe())
        return (lo, hi)

    def describe(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"a pair [low, high] with {_fmt(self.min)} <= low <= high <= {_fmt(self.max)}{unit}"

    def pin(self, value: tuple[float, float], t: float) -> tuple[float, float]:
        v = value[0] + t * (value[1] - value[0])
        return (v, v)


@dataclass(frozen=True)
class Number(Param):
    """A single finite number inside ``[min, max]``."""

    min: float = -math.inf
    max: float = math.inf
    integer: bool = False

    def validate(self, value: Any, path: str) -> float | int:
        ok = _is_number(value) and (not self.integer or float(value).is_integer())
        if not ok or not (self.min <= float(value) <= self.max):
            raise fail(path, value, self.describe())
        return int(value) if self.integer else float(value)

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} with {_fmt(self.min)} <= value <= {_fmt(self.max)}"


@dataclass(frozen=True)
class Flag(Param):
    """A boolean."""

    def validate(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise fail(path, value, self.describe())
        return value

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Choice(Param):
    """One of a fixed set of strings."""

    options: tuple[str, ...] = ()

    def validate(self, value: Any, path: str) -> str:
        if value not in self.options:
            hint = closest(value, self.options) if isinstance(value, str) else ""
            raise fail(path, value, self.describe() + hint)
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Size(Param):
    """An output size ``[height, width]`` of positive integers."""

    def validate(self, value: Any, path: str) -> tuple[int, int]:
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(_is_number(v) and float(v).is_integer() and 1 <= v <= 65536 for v in value)
        ):
            raise fail(path, value, self.describe())
        return (int(value[0]), int(value[1]))

    def describe(self) -> str:
        return "a pair [height, width] of integers from 1 to 65536"


@dataclass(frozen=True)
class Floats(Param):
    """A number, or a list of 1 to ``max_len`` numbers (per channel), each in ``[min, max]``."""

    min: float = -math.inf
    max: float = math.inf
    max_len: int = 4
    exclusive_min: bool = False

    def validate(self, value: Any, path: str) -> tuple[float, ...]:
        values = value if isinstance(value, (list, tuple)) else [value]
        ok = 1 <= len(values) <= self.max_len and all(
            _is_number(v)
            and (float(v) > self.min if self.exclusive_min else float(v) >= self.min)
            and float(v) <= self.max
            for v in values
        )
        if not ok:
            raise fail(path, value, self.describe())
        return tuple(float(v) for v in values)

    def describe(self) -> str:
        op = "<" if self.exclusive_min else "<="
        return (
            f"a number or a list of 1 to {self.max_len} numbers, each with "
            f"{_fmt(self.min)} {op} value <= {_fmt(self.max)}"
        )


@dataclass(frozen=True)
class OptionalFloats(Floats):
    """Like :class:`Floats` but ``null``/``None`` is allowed (meaning "not used")."""

    min_len: int = 1

    def validate(self, value: Any, path: str) -> tuple[float, ...] | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or len(value) < self.min_len:
            raise fail(path, value, self.describe())
        return super().validate(value, path)

    def describe(self) -> str:
        return f"null or a list of {self.min_len} to {self.max_len} numbers"


@dataclass(frozen=True)
class FillValue(Param):
    """A fill value as a fraction of the value range in [0, 1], or the string ``"random"``."""

    def validate(self, value: Any, path: str) -> float | str:
        if value == "random":
            return value
        if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
            raise fail(path, value, self.describe())
        return float(value)

    def describe(self) -> str:
        return "a number in [0, 1] (fraction of the value range) or \"random\""


@dataclass(frozen=True)
class Anything(Param):
    """A free-form value checked by the op itself (used by the albumentations adapter)."""

    kinds: tuple[type, ...] = field(default=(object,))

    def validate(self, value: Any, path: str) -> Any:
        if not isinstance(value, self.kinds):
            raise fail(path, value, self.describe())
        return value

    def describe(self) -> str:
        return " or ".join(k.__name__ for k in self.kinds)


PROBABILITY = Number(1.0, "probability that the op is applied to a sample", min=0.0, max=1.0)
