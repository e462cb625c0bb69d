"""Targets on the cv backend: numpy containers in, validated flat state, numpy containers out.

Representation (batch call, :meth:`augkit.Pipeline.augment`):

* ``masks``: one array ``(N, H, W)`` or ``(N, H, W, K)`` of integer or bool class maps, the
  images' height and width; returned with the same shape and dtype (the size of the output).
* ``bboxes``: a list of ``N`` arrays ``(B_i, 4)`` (an ``(N, B, 4)`` array is accepted too),
  in the pipeline's ``bbox_format``; returned as a list of float32 arrays ``(B_i', 4)``.
* ``keypoints``: a list of ``N`` arrays ``(K_i, 2)`` ``(x, y)`` or ``(K_i, 3)`` with a
  visibility column; returned as a list of float32 arrays.
* ``bbox_labels`` / ``keypoint_labels``: lists of ``N`` arrays with one entry (row) per box /
  keypoint, any dtype; returned filtered exactly like their boxes / keypoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.kernels.cv import NP
from augkit.targets import (  # the adapter module registers its targets kernel
    TargetSettings,
    adapter,  # noqa: F401
)
from augkit.targets.batch import TargetBatch, require_pairs
from augkit.targets.formats import from_pascal_voc, to_pascal_voc

#: How far (pixels) an input box may reach outside the image before it is refused; within it
#: the box is clipped (float rounding of normalized formats).
BOX_TOLERANCE = 0.01


def check_mask_fill(dtype: np.dtype, fill: int, name: str) -> None:
    """Refuse a ``mask_fill`` the mask dtype cannot hold."""
    if dtype == np.bool_:
        ok = fill in (0, 1)
    else:
        info = np.iinfo(dtype)
        ok = info.min <= fill <= info.max
    if not ok:
        raise InputError(f"{name}: mask_fill {fill} does not fit the masks' dtype {dtype}; set "
                         f"Pipeline(targets={{'mask_fill': ...}}) to a value of that dtype")


def check_masks(value: Any, n: int, height: int, width: int, fill: int,
                name: str = "masks") -> tuple[np.ndarray, int]:
    """``(N, H, W, K)`` masks and the rank they were given with (3 or 4)."""
    m = np.asarray(value)
    if m.ndim not in (3, 4) or m.shape[:3] != (n, height, width) or 0 in m.shape:
        raise InputError(f"{name}: expected shape (N, H, W) or (N, H, W, K) matching the images "
                         f"{(n, height, width)}, got {m.shape}")
    if m.dtype.kind not in "biu":
        raise InputError(f"{name}: dtype {m.dtype} is not supported; allowed: integer or bool "
                         f"class maps (one class index per pixel)")
    check_mask_fill(m.dtype, fill, name)
    return (m if m.ndim == 4 else m[..., None]), m.ndim


def _rows(value: Any, n: int, name: str) -> list[np.ndarray]:
    if isinstance(value, np.ndarray) and value.ndim >= 2:
        value = list(value)
    if isinstance(value, (str, bytes, np.ndarray)) or not isinstance(value, (list, tuple)) \
            or len(value) != n:
        count = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise InputError(f"{name}: expected a list of {n} arrays (one per image), got {count}")
    return [np.asarray(v) for v in value]


def flatten(value: Any, n: int, name: str, columns: tuple[int, ...]) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Per-image ``(k_i, c)`` float arrays to one ``(M, c)`` float32 array and row ids."""
    rows = _rows(value, n, name)
    out = []
    for i, a in enumerate(rows):
        if a.size == 0:
            a = a.reshape(0, columns[0])
        if a.ndim != 2 or a.shape[1] not in columns:
            allowed = " or ".join(f"(k, {c})" for c in columns)
            raise InputError(f"{name}[{i}]: expected shape {allowed}, got {a.shape}")
        if a.dtype.kind not in "biuf":
            raise InputError(f"{name}[{i}]: dtype {a.dtype} is not supported; allowed: numbers")
        a = a.astype(np.float32)
        if not np.isfinite(a).all():
            raise InputError(f"{name}[{i}]: contains NaN or inf; allowed: finite coordinates")
        out.append(a)
    if len({a.shape[1] for a in out}) > 1:
        raise InputError(f"{name}: images have arrays with different column counts "
                         f"{sorted({a.shape[1] for a in out})}; allowed: one for the batch")
    width = out[0].shape[1] if out else columns[0]
    flat = np.concatenate(out) if out else np.zeros((0, width), np.float32)
    ids = np.repeat(np.arange(n, dtype=np.int64), [len(a) for a in out])
    return flat.reshape(-1, width), ids


def flatten_labels(value: Any, counts: np.ndarray, name: str, of: str) -> np.ndarray:
    """Per-image labels to one array, checking one label (row) per box or keypoint."""
    rows = _rows(value, len(counts), name)
    for i, (a, k) in enumerate(zip(rows, counts)):
        if a.ndim == 0 or len(a) != k:
            got = "a scalar" if a.ndim == 0 else f"{len(a)} labels"
            raise InputError(f"{name}[{i}]: {got} for {k} {of}; allowed: one label per "
                             f"{of.rstrip('es') if of == 'boxes' else of.rstrip('s')}, in a "
                             f"list with one array per image")
    non_empty = [a for a in rows if len(a)]  # an empty np.asarray([]) is float64: skip it
    if not non_empty:
        return rows[0] if rows else np.zeros((0,), np.int64)
    return np.concatenate(non_empty)


def check_boxes(boxes: np.ndarray, ids: np.ndarray | None, fmt: str, height: int, width: int,
                name: str = "bboxes") -> np.ndarray:
    """Boxes in ``fmt`` to pixel corners; refuse empty, inverted or outside boxes.

    Args:
        boxes: ``(B, 4)`` boxes in ``fmt``.
        ids: the (sorted) image index of each box, naming box ``k`` ``name[image][j]`` in
            messages; ``None`` for one image's boxes, named ``name[k]``.
        fmt: the boxes' format.
        height: image height.
        width: image width.
        name: what the boxes are called in messages (e.g. ``"ann.json: cat.jpg: bboxes"``).
    """
    px = to_pascal_voc(NP, boxes, fmt, height, width)

    def where(k: int) -> str:
        if ids is None:
            return f"{name}[{k}]"
        return f"{name}[{ids[k]}][{k - int(np.searchsorted(ids, ids[k]))}]"

    bad = np.flatnonzero((px[:, 2] <= px[:, 0]) | (px[:, 3] <= px[:, 1]))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{where(k)}: {boxes[k].tolist()} ({fmt}) has no area (x_max <= x_min "
                         f"or y_max <= y_min); allowed: boxes with positive width and height")
    t = BOX_TOLERANCE
    out = ((px[:, 0] < -t) | (px[:, 1] < -t) | (px[:, 2] > width + t)
           | (px[:, 3] > height + t))
    bad = np.flatnonzero(out)
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{where(k)}: {boxes[k].tolist()} ({fmt}) reaches outside the "
                         f"{width}x{height} image ([0, {width}] x [0, {height}] in pixels); "
                         f"allowed: boxes inside the image (clip them first, or check "
                         f"bbox_format={fmt!r})")
    return np.clip(px, 0.0, [width, height, width, height]).astype(np.float32)


def prepare(given: dict[str, Any], n: int, height: int, width: int,
            settings: TargetSettings) -> tuple[TargetBatch, dict[str, Any]]:
    """Validate batch targets (keys of :data:`augkit.targets.BATCH_KEYS`) into a
    :class:`TargetBatch`, plus what :func:`finish` needs to rebuild the containers."""
    extra: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if "masks" in given:
        kwargs["masks"], extra["mask_rank"] = check_masks(given["masks"], n, height, width,
                                                          settings.mask_fill)
    require_pairs(given)
    if "bboxes" in given:
        boxes, ids = flatten(given["bboxes"], n, "bboxes", (4,))
        kwargs["boxes"] = check_boxes(boxes, ids, settings.bbox_format, height, width)
        kwargs["box_rows"] = ids
        if "bbox_labels" in given:
            extra["bbox_labels"] = flatten_labels(given["bbox_labels"],
                                                  np.bincount(ids, minlength=n), "bbox_labels",
                                                  "boxes")
    if "keypoints" in given:
        points, ids = flatten(given["keypoints"], n, "keypoints", (2, 3))
        kwargs["points"], kwargs["point_rows"] = points[:, :2].copy(), ids
        extra["point_vis"] = points[:, 2] if points.shape[1] == 3 else None
        if "keypoint_labels" in given:
            extra["keypoint_labels"] = flatten_labels(
                given["keypoint_labels"], np.bincount(ids, minlength=n), "keypoint_labels",
                "keypoints")
    return TargetBatch(NP, "cv", height, width, settings, **kwargs), extra


def _split(values: np.ndarray, rows: np.ndarray, n: int) -> list[np.ndarray]:
    counts = np.bincount(rows, minlength=n)
    return np.split(values, np.cumsum(counts)[:-1])


def finish(tb: TargetBatch, extra: dict[str, Any], n: int) -> dict[str, Any]:
    """The batch's targets back in the user's containers (keys of ``BATCH_KEYS``)."""
    out: dict[str, Any] = {}
    if tb.masks is not None:
        out["masks"] = tb.masks if extra["mask_rank"] == 4 else tb.masks[..., 0]
    if tb.boxes is not None:
        keep = tb.box_keep()
        boxes = from_pascal_voc(NP, tb.boxes[keep], tb.settings.bbox_format, tb.height,
                                tb.width)
        out["bboxes"] = _split(boxes.astype(np.float32), tb.box_rows[keep], n)
        if "bbox_labels" in extra:
            out["bbox_labels"] = _split(extra["bbox_labels"][keep], tb.box_rows[keep], n)
    if tb.points is not None:
        points, vis, rows = tb.points, extra["point_vis"], tb.point_rows
        inside = tb.point_keep()
        labels = extra.get("keypoint_labels")
        if tb.settings.keypoint_mode == "flag":
            vis = np.ones(len(points), np.float32) if vis is None else vis
            points = np.concatenate([points, np.where(inside, vis, 0.0)[:, None]], axis=1)
        else:
            if vis is not None:
                points = np.concatenate([points, vis[:, None]], axis=1)
            points, rows = points[inside], rows[inside]
            labels = labels[inside] if labels is not None else None
        out["keypoints"] = _split(points.astype(np.float32), rows, n)
        if labels is not None:
            out["keypoint_labels"] = _split(labels, rows, n)
    return out
