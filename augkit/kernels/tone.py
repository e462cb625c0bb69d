"""Kernels of the tone ops (:mod:`augkit.ops.tone`), registered for both backends.

Written once against the math namespace, like :mod:`augkit.kernels.common`; only equalize's
histogram needs backend code (numpy ``bincount`` / TF ``bincount``), in integers, so both
backends compute the same lookup tables exactly. Pixel levels are on the 0–255 grid of the
value range: exact on uint8, and the grid float input is quantized to where a kernel needs
levels (equalize, posterize).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit.kernels import BACKENDS, kernel
from augkit.kernels.common import Ctx, _color_part, _join, _per_sample


def _levels(color: Any, ctx: Ctx) -> Any:
    """Values as 0–255 levels of the value range (exact integers for uint8 input)."""
    return (color - ctx.value_range[0]) * (255.0 / ctx.span)


def _from_levels(levels: Any, ctx: Ctx) -> Any:
    return ctx.value_range[0] + levels * (ctx.span / 255.0)


@kernel("autocontrast", BACKENDS)
def autocontrast_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    color, alpha = _color_part(x, ctx)
    low = xp.min(color, axis=(1, 2), keepdims=True)
    high = xp.max(color, axis=(1, 2), keepdims=True)
    flat = high <= low
    scale = ctx.span / xp.where(flat, 1.0, high - low)
    out = xp.where(flat, color, ctx.value_range[0] + (color - low) * scale)
    return _join(ctx.clip(out), alpha, ctx)


def _equalize_numpy(levels: np.ndarray) -> np.ndarray:
    n, h, w, c = levels.shape
    rows = np.arange(n * c, dtype=np.int32)  # one histogram per (sample, channel)
    ids = levels.astype(np.int32) + (rows * 256).reshape(n, 1, 1, c)
    hist = np.bincount(ids.ravel(), minlength=n * c * 256).reshape(n * c, 256)
    last = hist[rows, levels.max(axis=(1, 2)).astype(np.int64).ravel()]
    lut = _equalize_lut(np, np.concatenate, hist, last, h * w, np.zeros((n * c, 1), np.int64),
                        np.arange(256)[None])
    return lut.astype(np.float32).ravel()[ids]


def _equalize_tf(levels: Any) -> Any:
    import tensorflow as tf

    shape = tf.shape(levels)
    n, c = shape[0], shape[3]
    rows = tf.range(n * c)
    ids = tf.cast(levels, tf.int32) + tf.reshape(rows * 256, [n, 1, 1, c])
    hist = tf.reshape(tf.math.bincount(tf.reshape(ids, [-1]), minlength=n * c * 256,
                                       maxlength=n * c * 256, dtype=tf.int32), [-1, 256])
    top = tf.reshape(tf.cast(tf.reduce_max(levels, axis=[1, 2]), tf.int32), [-1])
    last = tf.gather(hist, top, batch_dims=1)
    lut = _equalize_lut(tf, tf.concat, hist, last, shape[1] * shape[2],
                        tf.zeros([n * c, 1], tf.int32), tf.range(256)[None])
    return tf.gather(tf.reshape(tf.cast(lut, tf.float32), [-1]), ids)


def _equalize_lut(lib: Any, concat: Any, hist: Any, last: Any, total: Any, zero: Any,
                  identity: Any) -> Any:
    """PIL's equalize lookup tables, one row per ``(sample, channel)`` histogram, in integers.

    ``step`` is the pixel count outside the highest occupied level over 255; a channel with a
    single level (``step == 0``) maps to itself.
    """
    step = (total - last) // 255
    cum = lib.cumsum(hist, axis=1)
    lut = (cum + (step // 2)[:, None]) // lib.maximum(step, 1)[:, None]
    lut = lib.minimum(concat([zero, lut[:, :-1]], axis=1), 255)
    return lib.where((step == 0)[:, None], identity + zero, lut)


@kernel("equalize", BACKENDS)
def equalize_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    color, alpha = _color_part(x, ctx)
    levels = xp.clip(xp.round(_levels(color, ctx)), 0.0, 255.0)
    out = _equalize_numpy(levels) if xp.name == "cv" else _equalize_tf(levels)
    return _join(ctx.clip(_from_levels(out, ctx)), alpha, ctx)


@kernel("solarize", BACKENDS)
def solarize_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    lo, hi = ctx.value_range
    color, alpha = _color_part(x, ctx)
    unit = (color - lo) / ctx.span
    out = xp.where(unit >= _per_sample(xp, params["threshold"]), (lo + hi) - color, color)
    return _join(ctx.clip(out), alpha, ctx)


_STEPS = tuple(2.0 ** (8 - b) for b in range(9))  # level step that keeps `b` bits


@kernel("posterize", BACKENDS)
def posterize_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    color, alpha = _color_part(x, ctx)
    bits = xp.i64(params["bits"])
    step = _per_sample(xp, xp.take(_STEPS, bits))
    levels = xp.floor(_levels(color, ctx) / step) * step
    keep = _per_sample(xp, bits >= 8)
    out = xp.where(keep, color, _from_levels(levels, ctx))
    return _join(ctx.clip(out), alpha, ctx)


def smoothed(color: Any, ctx: Ctx) -> Any:
    """PIL's SMOOTH filter ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``, border pixels kept."""
    xp = ctx.xp
    shape = xp.shape(color)
    h, w = shape[1], shape[2]
    padded = xp.concat([color[:, :1], color, color[:, -1:]], axis=1)
    padded = xp.concat([padded[:, :, :1], padded, padded[:, :, -1:]], axis=2)
    total = None
    for i in range(3):  # a fixed order of additions: the same bits on both backends
        for j in range(3):
            if (i, j) != (1, 1):
                part = padded[:, i:i + h, j:j + w]
                total = part if total is None else total + part
    blur = (total + color * 5.0) / 13.0
    rows = xp.reshape(xp.arange(h), (1, -1, 1, 1))
    cols = xp.reshape(xp.arange(w), (1, 1, -1, 1))
    border = (rows == 0) | (rows == h - 1) | (cols == 0) | (cols == w - 1)
    return xp.where(border, color, blur)


@kernel("sharpness", BACKENDS)
def sharpness_image(x: Any, params: dict, ctx: Ctx) -> Any:
    color, alpha = _color_part(x, ctx)
    factor = _per_sample(ctx.xp, params["factor"])
    degenerate = smoothed(color, ctx)
    out = ctx.clip(color * factor + degenerate * (1.0 - factor))
    return _join(out, alpha, ctx)
