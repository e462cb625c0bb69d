"""Tone ops from PIL's ``ImageOps`` family: autocontrast, equalize, solarize, posterize, sharpness.

They are the value ops of RandAugment and TrivialAugment (:mod:`augkit.ops.policies`) that
augkit had no op for; each is also a registered op of its own. Their kernels live in
:mod:`augkit.kernels.tone` (written once for both backends). All keep values inside the
current value range and keep the dtype; on RGBA images the alpha channel is left untouched.
"""

from __future__ import annotations

from typing import Any

from augkit.ops.base import KEEPS_TARGETS, Op, register
from augkit.params import Range, fail


@register
class AutoContrast(Op):
    """Stretch each channel so that its darkest value becomes the bottom of the value range and
    its brightest the top (PIL's and torchvision's ``autocontrast`` without cutoff).

    A channel with a single value is left unchanged. ``p`` defaults to 0.5, as torchvision's
    ``RandomAutocontrast``.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.

    Example:
        >>> import augkit
        >>> op = augkit.ops.AutoContrast(p=0.5)
    """

    name = "autocontrast"
    targets = KEEPS_TARGETS
    default_p = 0.5
    params = {}


@register
class Equalize(Op):
    """Equalize each channel's histogram (PIL's ``ImageOps.equalize``, as torchvision).

    Works on 256 levels: float input is quantized to 256 levels of its value range first, so
    its output lies on that grid. ``p`` defaults to 0.5, as torchvision's ``RandomEqualize``.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "equalize"
    targets = KEEPS_TARGETS
    default_p = 0.5
    params = {}


@register
class Solarize(Op):
    """Invert every value at or above a threshold drawn from ``threshold_range``.

    The threshold is a fraction of the value range (0.5 = mid grey; on uint8 a value ``v`` is
    inverted when ``v >= threshold * 255``, as PIL and torchvision). Inverting maps ``v`` to
    ``low + high - v``, so values stay in range.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "solarize"
    targets = KEEPS_TARGETS
    default_p = 0.5
    params = {"threshold_range": Range((0.5, 1.0), "threshold as a fraction of the range",
                                       min=0.0, max=1.0)}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.threshold_range
        return {"threshold": draws.uniform(1, lo, hi)}


@register
class Posterize(Op):
    """Keep the top ``bits`` bits of each 8-bit level, ``bits`` an integer drawn uniformly from
    ``bits_range`` (both ends included).

    On uint8 this is PIL's ``ImageOps.posterize`` (a bit mask). Float input is posterized on
    the same 256-level grid of its value range (values rounded down to it); 8 bits leave any
    input unchanged, 0 bits make it black.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "posterize"
    targets = KEEPS_TARGETS
    default_p = 0.5
    params = {"bits_range": Range((4.0, 8.0), "bits kept (integers)", min=0.0, max=8.0)}

    def _check(self, path: str) -> None:
        if not all(float(v).is_integer() for v in self.bits_range):
            raise fail(f"{path}.bits_range", list(self.bits_range),
                       "a pair [low, high] of integers with 0 <= low <= high <= 8")

    def pinned(self, t: float) -> Op:
        if not 0.0 <= t <= 1.0:
            raise fail("t", t, "a number in [0, 1]")
        lo, hi = self.bits_range
        bits = float(round(lo + t * (hi - lo)))
        return type(self)(p=1.0, bits_range=(bits, bits))

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.bits_range
        return {"bits": draws.xp.f32(draws.integers(1, int(hi - lo) + 1)) + lo}


@register
class Sharpness(Op):
    """Blend each image with a smoothed copy by a factor drawn from ``factor_range``:
    0 gives the smoothed image, 1 the original, above 1 sharpens (PIL's
    ``ImageEnhance.Sharpness``, as torchvision's ``adjust_sharpness``).

    The smoothing kernel is ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``; the one-pixel border
    keeps its original values. Results are clipped to the value range.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "sharpness"
    targets = KEEPS_TARGETS
    params = {"factor_range": Range((0.5, 1.5), "sharpness factor", min=0.0, max=100.0)}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.factor_range
        return {"factor": draws.uniform(1, lo, hi)}
