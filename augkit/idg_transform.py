"""One image at a time: ``get_random_transform`` and ``apply_transform`` of the drop-in generator.

The parameter dictionary has Keras' keys and units: ``theta`` and ``shear`` in degrees, ``tx``
and ``ty`` in pixels, ``zx``/``zy`` zoom factors (above 1 zooms out), ``flip_horizontal``,
``flip_vertical``, ``channel_shift_intensity`` and ``brightness``. As Keras' documentation says
(and unlike what its class draws), ``tx`` is the shift along x (columns, from
``width_shift_range``) and ``ty`` along y (rows, from ``height_shift_range``).

The geometry is composed with augkit's matrices (rotation, shift, shear, zoom about the centre,
as Keras) and warped once with OpenCV; the flows do not go through here, they run whole batches
on augkit's pipeline.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from augkit.geometry import invert, matmul3
from augkit.ops import geometric as g

__all__ = ["get_random_transform", "apply_transform"]


def _shift(rng: np.random.Generator, spec: Any, size: int) -> float:
    """One shift in pixels with Keras' semantics for ``width/height_shift_range``."""
    if isinstance(spec, numbers.Real) and not isinstance(spec, numbers.Integral):
        value = rng.uniform(-spec, spec)
    else:  # int n: choice(range(n)); list: choice(list); both with a random sign
        choices = np.arange(spec) if isinstance(spec, numbers.Integral) else np.asarray(spec)
        value = float(rng.choice(choices)) * float(rng.choice([-1, 1]))
    if np.max(spec) < 1:
        value *= size
    return float(value)


def get_random_transform(gen: Any, img_shape: tuple, seed: int | None = None) -> dict:
    """Random transformation parameters for one image of shape ``img_shape``.

    Args:
        gen: the :class:`augkit.ImageDataGenerator`.
        img_shape: the image's shape (rank 3, in the generator's ``data_format``).
        seed: seed of this draw (default: drawn from numpy's global generator).

    Returns:
        Keras' parameter dictionary (see the module docstring).
    """
    from augkit.idg_stats import draw_seed

    rng = np.random.default_rng(draw_seed(seed))
    rows, cols = img_shape[gen.row_axis - 1], img_shape[gen.col_axis - 1]
    theta = rng.uniform(-gen.rotation_range, gen.rotation_range) if gen.rotation_range else 0
    tx = _shift(rng, gen.width_shift_range, cols) if gen.width_shift_range else 0
    ty = _shift(rng, gen.height_shift_range, rows) if gen.height_shift_range else 0
    shear = rng.uniform(-gen.shear_range, gen.shear_range) if gen.shear_range else 0
    if gen.zoom_range[0] == 1 and gen.zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = (float(v) for v in rng.uniform(gen.zoom_range[0], gen.zoom_range[1], 2))
    flip_h = bool(rng.random() < 0.5) and bool(gen.horizontal_flip)
    flip_v = bool(rng.random() < 0.5) and bool(gen.vertical_flip)
    shift = None
    if gen.channel_shift_range:
        shift = float(rng.uniform(-gen.channel_shift_range, gen.channel_shift_range))
    brightness = None
    if gen.brightness_range is not None:
        brightness = float(rng.uniform(gen.brightness_range[0], gen.brightness_range[1]))
    return {"theta": float(theta), "tx": float(tx), "ty": float(ty), "shear": float(shear),
            "zx": zx, "zy": zy, "flip_horizontal": flip_h, "flip_vertical": flip_v,
            "channel_shift_intensity": shift, "brightness": brightness}


def _matrix(params: dict, height: int, width: int) -> np.ndarray:
    """Forward 3×3 matrix of rotation, shift, shear and zoom (Keras' order), about the centre."""
    from augkit.kernels.cv import NP

    one = np.ones(1, np.float32)
    parts = [
        g.Rotate().matrix({"angle": one * params.get("theta", 0)}, height, width, NP),
        g.Translate().matrix({"dx": one * params.get("tx", 0), "dy": one * params.get("ty", 0)},
                             height, width, NP),
        g.Shear().matrix({"angle": one * params.get("shear", 0)}, height, width, NP),
        g.Zoom().matrix({"zx": one * params.get("zx", 1), "zy": one * params.get("zy", 1)},
                        height, width, NP),
    ]
    total = parts[0]
    for m in parts[1:]:
        total = matmul3(m, total)
    return total


def apply_transform(gen: Any, x: np.ndarray, transform_parameters: dict) -> np.ndarray:
    """Apply Keras-style transformation parameters to one image.

    Args:
        gen: the :class:`augkit.ImageDataGenerator` (fill mode, cval, interpolation, format).
        x: one image, rank 3, in the generator's ``data_format``.
        transform_parameters: the dictionary of :func:`get_random_transform`; missing keys
            mean "no change".

    Returns:
        The transformed image, same shape; uint8 stays uint8, other input becomes float32.

    Raises:
        ValueError: ``x`` is not of rank 3, or a parameter is not a finite number.
    """
    from augkit.kernels.cv import NP, warp

    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"`x` should be a single image of rank 3. Got shape {x.shape}")
    params = dict(transform_parameters)
    for key in ("theta", "tx", "ty", "shear", "zx", "zy"):
        value = params.get(key, 1 if key in ("zx", "zy") else 0)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value) or (key in ("zx", "zy") and value == 0):
            raise ValueError(f"transform_parameters[{key!r}] should be a finite number"
                             f"{' other than 0' if key in ('zx', 'zy') else ''}. "
                             f"Received: {value!r}")
    image = np.moveaxis(x, 0, 2) if gen.data_format == "channels_first" else x
    is_uint8 = image.dtype == np.uint8
    image = np.ascontiguousarray(image if is_uint8 else image.astype(np.float32))
    h, w, channels = image.shape
    inv = invert(NP, _matrix(params, h, w))
    interpolation = "nearest" if gen.interpolation_order == 0 else "bilinear"
    batch = image[None]
    if channels not in (1, 3, 4):
        out = np.concatenate([
            warp(np.ascontiguousarray(batch[..., c:c + 1]), inv, (h, w), fill_mode=gen.fill_mode,
                 cval=float(gen.cval), interpolation=interpolation) for c in range(channels)],
            axis=3)[0]
    else:
        out = warp(batch, inv, (h, w), fill_mode=gen.fill_mode, cval=float(gen.cval),
                   interpolation=interpolation)[0]
    out = out.astype(np.float32)
    if params.get("channel_shift_intensity") is not None:
        low, high = out.min(), out.max()
        out = np.clip(out + float(params["channel_shift_intensity"]), low, high)
    if params.get("flip_horizontal", False):
        out = out[:, ::-1]
    if params.get("flip_vertical", False):
        out = out[::-1]
    if params.get("brightness") is not None:
        out = _brightness(out, float(params["brightness"]))
    if is_uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out = np.ascontiguousarray(out)
    return np.ascontiguousarray(np.moveaxis(out, 2, 0)) if gen.data_format == "channels_first" \
        else out


def _brightness(x: np.ndarray, factor: float) -> np.ndarray:
    """Keras' ``apply_brightness_shift(x, factor, scale=False)`` without the trip through PIL.

    Pixels in [0, 255] are multiplied and clipped at 255; other data is first mapped to
    [0, 255] by its own minimum and maximum and mapped back afterwards, as Keras does.
    """
    low, high = float(x.min()), float(x.max())
    if low >= 0 and high <= 255:
        return np.clip(x * factor, 0, 255)
    span = high - low or 1.0
    scaled = np.clip((x - low) / span * 255.0 * factor, 0, 255)
    return scaled / 255.0 * span + low
