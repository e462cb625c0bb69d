"""Box and keypoint kernels, written once against the backend math namespace (both backends).

A geometric stage hands every target the same forward matrices as its image (one per sample,
gathered per box or keypoint). Masks are warped by the backend's own kernel
(``warp_mask`` in :mod:`augkit.kernels.cv` and :mod:`augkit.kernels.tf`).
"""

from __future__ import annotations

from typing import Any

from augkit.kernels import BACKENDS, kernel


def _rows(m: Any) -> tuple[Any, ...]:
    return m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]


@kernel("warp", BACKENDS, "bboxes")
def warp_bboxes(xp: Any, boxes: Any, m: Any) -> Any:
    """Bounds of the four moved corners of pixel-edge boxes ``(M, 4)``, one matrix per box.

    The matrices act on pixel indices (centres on integers); boxes are pixel edges, so the
    matrix is conjugated by the half-pixel shift first. A flip's translation then becomes
    exactly ``w`` and its boxes ``w - x`` (one rounding, exact for whole and half pixels).
    """
    a, b, c, d, e, f = _rows(m)
    ce = c + 0.5 - 0.5 * (a + b)
    fe = f + 0.5 - 0.5 * (d + e)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    xs = [a * x + b * y + ce for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    ys = [d * x + e * y + fe for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    lo_x = xp.minimum(xp.minimum(xs[0], xs[1]), xp.minimum(xs[2], xs[3]))
    hi_x = xp.maximum(xp.maximum(xs[0], xs[1]), xp.maximum(xs[2], xs[3]))
    lo_y = xp.minimum(xp.minimum(ys[0], ys[1]), xp.minimum(ys[2], ys[3]))
    hi_y = xp.maximum(xp.maximum(ys[0], ys[1]), xp.maximum(ys[2], ys[3]))
    return xp.stack([lo_x, lo_y, hi_x, hi_y], axis=-1)


@kernel("warp", BACKENDS, "keypoints")
def warp_keypoints(xp: Any, points: Any, m: Any) -> Any:
    """Keypoints ``(K, 2)`` in pixel indices moved by one matrix each."""
    a, b, c, d, e, f = _rows(m)
    x, y = points[:, 0], points[:, 1]
    return xp.stack([a * x + b * y + c, d * x + e * y + f], axis=-1)
