"""Geometric ops. Each returns forward matrices; the pipeline fuses consecutive ones.

The fill mode, fill value and interpolation of the one warp are pipeline settings
(``Pipeline(fill_mode=..., cval=..., interpolation=...)``), as in Keras' ImageDataGenerator.
"""

from __future__ import annotations

import math
from typing import Any

from augkit.geometry import about_center, affine, region_to_size
from augkit.ops.base import GeometricOp, register, sample_box_size
from augkit.params import Choice, Flag, OptionalFloats, Range, Size, fail


def _const(xp: Any, params: dict[str, Any], value: float) -> Any:
    first = next(iter(params.values()))
    return first * 0.0 + value


@register
class Rotate(GeometricOp):
    """Rotate about the image centre by an angle drawn from ``angle_range`` (degrees).

    A positive angle turns the content counter-clockwise on screen.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).

    Example:
        >>> import augkit
        >>> op = augkit.ops.Rotate(angle_range=(-15, 15))
    """

    name = "rotate"
    params = {"angle_range": Range((-15.0, 15.0), "rotation angle", min=-360, max=360,
                                   unit="degrees")}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.angle_range
        return {"angle": draws.uniform(1, lo, hi)}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        t = params["angle"] * (math.pi / 180.0)
        c, s = xp.cos(t), xp.sin(t)
        return about_center(xp, c, s, -s, c, height, width)


@register
class Translate(GeometricOp):
    """Shift the content horizontally by ``x`` and vertically by ``y``.

    Each offset is drawn uniformly from its range, or, when ``*_choices`` is given, picked from
    that list and given a random sign (Keras' ``width_shift_range=[...]``/int behaviour).
    ``unit="fraction"`` measures offsets in image widths/heights, ``"pixels"`` in pixels, and
    ``"fraction_swapped"`` x in heights and y in widths (only to reproduce Keras' legacy swapped
    axes, ``from_keras(..., legacy_shift_axes=True)``).

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "translate"
    params = {
        "x_range": Range((-0.1, 0.1), "horizontal offset", min=-1e6, max=1e6),
        "y_range": Range((-0.1, 0.1), "vertical offset", min=-1e6, max=1e6),
        "unit": Choice("fraction", "unit of the offsets",
                       options=("fraction", "pixels", "fraction_swapped")),
        "x_choices": OptionalFloats(None, "offsets picked with a random sign", max_len=4096,
                                    min=-1e6, max=1e6),
        "y_choices": OptionalFloats(None, "offsets picked with a random sign", max_len=4096,
                                    min=-1e6, max=1e6),
    }

    def _offset(self, draws: Any, slot: int, rng: tuple, choices: Any) -> Any:
        if choices is None:
            return draws.uniform(slot, rng[0], rng[1])
        xp = draws.xp
        picked = xp.take(choices, draws.integers(slot, len(choices)))
        sign = xp.where(draws.bernoulli(slot + 1, 0.5), 1.0, -1.0)
        return xp.f32(picked) * sign

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        dx = self._offset(draws, 1, self.x_range, self.x_choices)
        dy = self._offset(draws, 3, self.y_range, self.y_choices)
        if self.unit == "fraction":
            dx, dy = dx * draws.xp.f32(width), dy * draws.xp.f32(height)
        elif self.unit == "fraction_swapped":  # Keras' legacy axes: x in heights, y in widths
            dx, dy = dx * draws.xp.f32(height), dy * draws.xp.f32(width)
        return {"dx": dx, "dy": dy}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        one = _const(xp, params, 1.0)
        return affine(xp, one, 0.0, params["dx"], 0.0, one, params["dy"])


@register
class Zoom(GeometricOp):
    """Zoom about the centre by factors drawn from ``factor_range``, Keras' convention.

    As in Keras' ``ImageDataGenerator``, the factor scales the *sampling grid*: a factor above
    1 shows more of the scene (the content shrinks), below 1 magnifies. Width and height factors
    are drawn independently unless ``keep_aspect`` is true.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "zoom"
    params = {
        "factor_range": Range((0.9, 1.1), "zoom factor (Keras convention)", min=0.01, max=100.0),
        "keep_aspect": Flag(False, "use one factor for both axes"),
    }

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.factor_range
        zx = draws.uniform(1, lo, hi)
        zy = zx if self.keep_aspect else draws.uniform(2, lo, hi)
        return {"zx": zx, "zy": zy}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        sx, sy = 1.0 / params["zx"], 1.0 / params["zy"]
        return about_center(xp, sx, sx * 0.0, sy * 0.0, sy, height, width)


@register
class Shear(GeometricOp):
    """Shear about the centre by an angle drawn from ``angle_range`` (degrees).

    ``axis="x"`` slides rows sideways (``x' = x + tan(angle) * y``), ``"y"`` slides columns.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "shear"
    params = {
        "angle_range": Range((-10.0, 10.0), "shear angle", min=-85, max=85, unit="degrees"),
        "axis": Choice("x", "which coordinate moves", options=("x", "y")),
    }

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.angle_range
        return {"angle": draws.uniform(1, lo, hi)}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        k = xp.tan(params["angle"] * (math.pi / 180.0))
        one, zero = k * 0.0 + 1.0, k * 0.0
        if self.axis == "x":
            return about_center(xp, one, k, zero, one, height, width)
        return about_center(xp, one, zero, k, one, height, width)


class _Flip(GeometricOp):
    default_p = 0.5
    exact = True
    params = {}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        return {"flip": draws.xp.full(draws.xp.shape0(draws.keys), 1.0)}

    def pinned(self, t: float) -> GeometricOp:
        if not 0.0 <= t <= 1.0:
            raise fail("t", t, "a number in [0, 1]")
        return type(self)(p=1.0 if t >= 0.5 else 0.0)


@register
class FlipHorizontal(_Flip):
    """Mirror left–right with probability ``p`` (default 0.5).

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "flip_horizontal"

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        one = params["flip"]
        return affine(xp, -one, 0.0, xp.f32(width) - 1.0, 0.0, one, 0.0)


@register
class FlipVertical(_Flip):
    """Mirror top–bottom with probability ``p`` (default 0.5).

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "flip_vertical"

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        one = params["flip"]
        return affine(xp, one, 0.0, 0.0, 0.0, -one, xp.f32(height) - 1.0)


@register
class RandomResizedCrop(GeometricOp):
    """Crop a random region and resize it to ``size`` (torchvision/Inception style).

    The region's area is a fraction drawn from ``scale_range`` of the image area and its aspect
    ratio (width/height) is log-uniform in ``ratio_range``; a region larger than the image is
    clipped to it (instead of torchvision's ten retries, so sampling stays one vectorized step).
    With ``p < 1`` a sample that is not cropped is resized whole to ``size``.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "random_resized_crop"
    resizes = True
    params = {
        "size": Size((224, 224), "output [height, width]"),
        "scale_range": Range((0.08, 1.0), "area fraction", min=1e-4, max=1.0),
        "ratio_range": Range((3 / 4, 4 / 3), "aspect ratio width/height", min=1e-2, max=100.0),
    }

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        cw, ch = sample_box_size(draws, height, width, self.scale_range, self.ratio_range)
        x0 = draws.uniform(3) * (draws.xp.f32(width) - cw)
        y0 = draws.uniform(4) * (draws.xp.f32(height) - ch)
        return {"x0": x0, "y0": y0, "cw": cw, "ch": ch}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        return region_to_size(xp, params["x0"], params["y0"], params["cw"], params["ch"],
                              *self.size)

    def identity_matrix(self, n: Any, height: Any, width: Any, xp: Any) -> Any:
        """What a sample skipped by ``p`` gets: the whole image resized to ``size``."""
        zero = xp.full(n, 0.0)
        return region_to_size(xp, zero, zero, zero + xp.f32(width), zero + xp.f32(height),
                              *self.size)

    def output_size(self, height: Any, width: Any) -> tuple[Any, Any]:
        return self.size


@register
class CropAndPad(GeometricOp):
    """Crop or pad each side by a fraction of the image size, then resize back to the input size.

    Each of the four sides gets its own fraction from ``percent_range``: negative crops,
    positive pads (filled by the pipeline's ``fill_mode``), as imgaug's and albumentations'
    ``CropAndPad`` with ``keep_size=True``.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    name = "crop_and_pad"
    params = {"percent_range": Range((-0.1, 0.1), "fraction per side", min=-0.45, max=1.0)}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.percent_range
        return {side: draws.uniform(slot, lo, hi)
                for slot, side in enumerate(("top", "right", "bottom", "left"), start=1)}

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        h, w = xp.f32(height), xp.f32(width)
        x0, y0 = -params["left"] * w, -params["top"] * h
        cw = w * (1.0 + params["left"] + params["right"])
        ch = h * (1.0 + params["top"] + params["bottom"])
        return region_to_size(xp, x0, y0, cw, ch, height, width)
