"""Affine matrices, batched and backend neutral.

Conventions (shared by both backends and documented in ``docs/backends-and-seeding.md``):
coordinates are ``(x, y)`` pixel indices, x to the right and y down, pixel centres on integers,
so an image spans ``[-0.5, w - 0.5]``; the centre is ``((w - 1) / 2, (h - 1) / 2)``. Matrices
are *forward* maps (input pixel → output pixel); the kernels invert them once per sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def affine(xp: Any, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any) -> Any:
    """``(N, 3, 3)`` matrices ``[[a, b, c], [d, e, f], [0, 0, 1]]`` from broadcastable entries."""
    if xp.name == "cv":  # filling one array costs a third of stacking nine (hot at 32 px)
        entries = (a, b, c, d, e, f)
        n = max(np.size(v) for v in entries)
        out = np.zeros((n, 3, 3), np.float32)
        for k, v in enumerate(entries):
            out[:, k // 3, k % 3] = v
        out[:, 2, 2] = 1.0
        return out
    zero = (a + b + c + d + e + f) * 0.0
    row = [xp.f32(v + zero) for v in (a, b, c, d, e, f)]
    bottom = [zero, zero, zero + 1.0]
    return xp.reshape(xp.stack(row + bottom, axis=-1), (-1, 3, 3))


def about_center(xp: Any, a: Any, b: Any, d: Any, e: Any, height: Any, width: Any) -> Any:
    """The linear map ``[[a, b], [d, e]]`` acting about the image centre, as affine matrices.

    ``T(c) · L · T(-c)`` written out: the translation is ``c - L c``.
    """
    cx = (xp.f32(width) - 1.0) / 2.0
    cy = (xp.f32(height) - 1.0) / 2.0
    return affine(xp, a, b, cx - (a * cx + b * cy), d, e, cy - (d * cx + e * cy))


def region_to_size(
    xp: Any, x0: Any, y0: Any, cw: Any, ch: Any, out_h: Any, out_w: Any
) -> Any:
    """Map the region with top-left edge ``(x0, y0)`` and size ``(cw, ch)`` onto ``out_h×out_w``.

    Edges are continuous coordinates (an image's edges are 0 and w); the map is
    ``x' = (x + 0.5 - x0) * out_w / cw - 0.5``.
    """
    sx = xp.f32(out_w) / cw
    sy = xp.f32(out_h) / ch
    zero = sx * 0.0
    return affine(xp, sx, zero, (0.5 - x0) * sx - 0.5, zero, sy, (0.5 - y0) * sy - 0.5)


def invert(xp: Any, m: Any) -> Any:
    """Inverse of affine ``(N, 3, 3)`` matrices (closed form, no general solver)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return affine(xp, ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f))


def matmul3(a: Any, b: Any) -> Any:
    """Batched 3×3 products as explicit sums in a fixed order.

    A library matmul may block, vectorize or fuse multiply-adds differently for different batch
    sizes, which would make a sample's matrix, and so its pixels, depend on the batch around
    it. Elementwise products and sums are exact and the same on numpy and TensorFlow.
    """
    return (a[:, :, 0:1] * b[:, 0:1, :] + a[:, :, 1:2] * b[:, 1:2, :]
            + a[:, :, 2:3] * b[:, 2:3, :])
