"""Box formats, converted to and from pixel corners (``pascal_voc``), on both backends.

Each function takes a flat ``(M, 4)`` float32 array or tensor and the image size; the math is
written once against the backend namespace (``xp``), like the value kernels.

Example:
    >>> import numpy as np
    >>> from augkit.kernels.cv import NP
    >>> from augkit.targets.formats import to_pascal_voc, from_pascal_voc
    >>> coco = np.array([[10, 20, 30, 40]], np.float32)          # x, y, width, height
    >>> to_pascal_voc(NP, coco, "coco", height=100, width=200).tolist()
    [[10.0, 20.0, 40.0, 60.0]]
    >>> from_pascal_voc(NP, np.array([[0, 0, 100, 50]], np.float32), "yolo", 100, 200).tolist()
    [[0.25, 0.25, 0.5, 0.5]]
"""

from __future__ import annotations

from typing import Any


def _columns(xp: Any, boxes: Any) -> tuple[Any, Any, Any, Any]:
    boxes = xp.f32(boxes)
    return boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]


def to_pascal_voc(xp: Any, boxes: Any, fmt: str, height: Any, width: Any) -> Any:
    """Boxes in ``fmt`` to pixel corners ``(x_min, y_min, x_max, y_max)``.

    Args:
        xp: the backend math namespace.
        boxes: ``(M, 4)`` boxes in ``fmt``.
        fmt: one of :data:`augkit.targets.BBOX_FORMATS`.
        height: image height in pixels (normalized formats are fractions of it).
        width: image width in pixels.
    """
    a, b, c, d = _columns(xp, boxes)
    h, w = xp.f32(height), xp.f32(width)
    if fmt == "pascal_voc":
        return xp.f32(boxes)
    if fmt == "coco":
        return xp.stack([a, b, a + c, b + d], axis=-1)
    if fmt == "yolo":
        return xp.stack([(a - c * 0.5) * w, (b - d * 0.5) * h, (a + c * 0.5) * w,
                         (b + d * 0.5) * h], axis=-1)
    if fmt == "albumentations":
        return xp.stack([a * w, b * h, c * w, d * h], axis=-1)
    raise ValueError(f"unknown box format {fmt!r}")  # validated by TargetSettings


def from_pascal_voc(xp: Any, boxes: Any, fmt: str, height: Any, width: Any) -> Any:
    """Pixel corners to ``fmt`` (the inverse of :func:`to_pascal_voc`)."""
    x0, y0, x1, y1 = _columns(xp, boxes)
    h, w = xp.f32(height), xp.f32(width)
    if fmt == "pascal_voc":
        return xp.f32(boxes)
    if fmt == "coco":
        return xp.stack([x0, y0, x1 - x0, y1 - y0], axis=-1)
    if fmt == "yolo":
        return xp.stack([(x0 + x1) * 0.5 / w, (y0 + y1) * 0.5 / h, (x1 - x0) / w,
                         (y1 - y0) / h], axis=-1)
    if fmt == "albumentations":
        return xp.stack([x0 / w, y0 / h, x1 / w, y1 / h], axis=-1)
    raise ValueError(f"unknown box format {fmt!r}")
