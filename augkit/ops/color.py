"""Colour and value ops. Their kernels live in :mod:`augkit.kernels.common` (both backends).

All of them keep values inside the current value range (uint8: [0, 255]; float: the declared
range) except ``rescale`` and ``normalize``, which change the range on purpose and produce
float32. On RGBA images the alpha channel is left untouched; hue and saturation leave
single-channel images unchanged.
"""

from __future__ import annotations

from typing import Any

from augkit.ops.base import KEEPS_TARGETS, Op, register
from augkit.params import Floats, Number, Range


class _FactorOp(Op):
    """An op with one random ``factor`` per sample drawn from its single range parameter."""

    _range_name = "factor_range"
    targets = KEEPS_TARGETS

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.values[self._range_name]
        return {"factor": draws.uniform(1, lo, hi)}


@register
class Brightness(_FactorOp):
    """Multiply brightness by a factor from ``factor_range`` (Keras' ``brightness_range``).

    Values are scaled about the bottom of the value range and clipped to it, like PIL's
    ``ImageEnhance.Brightness`` that Keras uses.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "brightness"
    params = {"factor_range": Range((0.8, 1.2), "brightness factor", min=0.0, max=100.0)}


@register
class ChannelShift(_FactorOp):
    """Add one offset from ``intensity_range`` to every channel, in the image's own units.

    As Keras' ``channel_shift_range``: the same offset for all channels, and the result is
    clipped to the image's own minimum and maximum before the shift.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "channel_shift"
    _range_name = "intensity_range"
    params = {"intensity_range": Range((-20.0, 20.0), "offset in pixel units",
                                       min=-1e6, max=1e6)}


@register
class Contrast(_FactorOp):
    """Scale each image's deviations from its mean grey level by a factor from ``factor_range``.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "contrast"
    params = {"factor_range": Range((0.8, 1.2), "contrast factor", min=0.0, max=100.0)}


@register
class Saturation(_FactorOp):
    """Blend each pixel with its grey level: factor 0 is greyscale, 1 unchanged, >1 more vivid.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "saturation"
    params = {"factor_range": Range((0.8, 1.2), "saturation factor", min=0.0, max=100.0)}


@register
class Hue(_FactorOp):
    """Rotate hue (in HSV) by a shift from ``shift_range``, in turns (0.5 = 180°).

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "hue"
    _range_name = "shift_range"
    params = {"shift_range": Range((-0.05, 0.05), "hue shift in turns", min=-0.5, max=0.5)}


@register
class Gamma(_FactorOp):
    """Apply ``v ** gamma`` to values normalized to [0, 1], gamma from ``gamma_range``.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "gamma"
    _range_name = "gamma_range"
    params = {"gamma_range": Range((0.8, 1.25), "exponent", min=0.01, max=100.0)}


@register
class Rescale(Op):
    """Multiply by ``scale`` and add ``offset``; produces float32 (Keras' ``rescale``).

    Not random: ``p`` defaults to 1 and anything else is rejected, since a data set half
    rescaled would mix value ranges.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "rescale"
    targets = KEEPS_TARGETS
    takes_uint8 = True
    params = {
        "scale": Number(1.0 / 255.0, "multiplier", min=-1e6, max=1e6),
        "offset": Number(0.0, "added after scaling", min=-1e6, max=1e6),
    }

    def _check(self, path: str) -> None:
        _require_p_one(self, path)

    def output_range(self, value_range: tuple[float, float]) -> tuple[float, float]:
        a = value_range[0] * self.scale + self.offset
        b = value_range[1] * self.scale + self.offset
        return (min(a, b), max(a, b))

    def output_dtype(self, dtype: str) -> str:
        return "float32"


@register
class Normalize(Op):
    """``(v - mean) / std`` per channel, on values first scaled to [0, 1]; produces float32.

    With uint8 input this equals albumentations' ``Normalize`` (``max_pixel_value=255``).
    ``mean``/``std`` take one value or one per channel.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "normalize"
    targets = KEEPS_TARGETS
    params = {
        "mean": Floats((0.485, 0.456, 0.406), "per-channel mean", min=-1e6, max=1e6),
        "std": Floats((0.229, 0.224, 0.225), "per-channel std", min=0.0, max=1e6,
                      exclusive_min=True),
    }

    def _check(self, path: str) -> None:
        _require_p_one(self, path)

    def check_input(self, shape: tuple, path: str) -> None:
        from augkit.errors import InputError

        channels = shape[-1]
        for key in ("mean", "std"):
            if len(self.values[key]) not in (1, channels):
                raise InputError(
                    f"{path}.{key}: has {len(self.values[key])} values but the images have "
                    f"{channels} channels; allowed: 1 value or {channels}"
                )

    def output_range(self, value_range: tuple[float, float]) -> tuple[float, float]:
        lows = [(0.0 - m) / s for m, s in _pairs(self.mean, self.std)]
        highs = [(1.0 - m) / s for m, s in _pairs(self.mean, self.std)]
        return (min(lows), max(highs))

    def output_dtype(self, dtype: str) -> str:
        return "float32"


def _pairs(a: tuple, b: tuple) -> list[tuple[float, float]]:
    n = max(len(a), len(b))
    return [(a[i % len(a)], b[i % len(b)]) for i in range(n)]


def _require_p_one(op: Op, path: str) -> None:
    from augkit.params import fail

    if op.p != 1.0:
        raise fail(f"{path}.p", op.p, "1 (a value-range change must apply to every sample)")
