"""Targets on the tf backend: tensors and ``tf.RaggedTensor`` in and out, graph-safe.

Representation (batch call, :meth:`augkit.Pipeline.augment` with ``backend="tf"``):

* ``masks``: a tensor ``(N, H, W)`` or ``(N, H, W, K)``, integer or bool, returned with the
  same rank and dtype;
* ``bboxes``: a ``tf.RaggedTensor`` ``(N, None, 4)`` (ragged rank 1) in the pipeline's
  ``bbox_format``; a dense ``(N, B, 4)`` tensor or a list of ``N`` numpy arrays is accepted
  too. Returned as a float32 ``tf.RaggedTensor`` ``(N, None, 4)``: boxes drop per image;
* ``keypoints``: the same with 2 columns ``(x, y)`` or 3 ``(x, y, visibility)``;
* ``bbox_labels`` / ``keypoint_labels``: ``tf.RaggedTensor`` ``(N, None)`` (or ``(N, None,
  ...)``) of any dtype with the same row lengths as their boxes / keypoints, or a dense
  ``(N, B)`` tensor, or a list of arrays; returned as ``tf.RaggedTensor``.

Everything works inside ``tf.data.Dataset.map`` and ``tf.function``: boxes are checked by an
in-graph assertion (like the value range of float images), never silently clipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from augkit.errors import InputError
from augkit.kernels.tf import TF
from augkit.targets import TargetSettings
from augkit.targets.batch import TargetBatch, require_pairs
from augkit.targets.cv import BOX_TOLERANCE
from augkit.targets.formats import from_pascal_voc, to_pascal_voc

_MASK_DTYPES = (tf.bool, tf.uint8, tf.uint16, tf.uint32, tf.int8, tf.int16, tf.int32, tf.int64)


def ragged(value: Any, name: str, columns: tuple[int, ...] | None = None) -> tf.RaggedTensor:
    """A ``(N, None, ...)`` ragged tensor from a ragged tensor, a dense tensor or a list of
    per-image arrays."""
    if isinstance(value, tf.RaggedTensor):
        rt = value
    elif isinstance(value, (list, tuple)):
        arrays = [np.asarray(v) for v in value]
        if columns is not None:
            arrays = [a.reshape(0, columns[0]) if a.size == 0 else a for a in arrays]
        non_empty = [a for a in arrays if len(a)] or arrays[:1]
        values = np.concatenate(non_empty) if non_empty else np.zeros((0,), np.int64)
        rt = tf.RaggedTensor.from_row_lengths(values, [len(a) for a in arrays])
    else:
        dense = tf.convert_to_tensor(value)
        if dense.shape.rank is None or dense.shape.rank < 2:
            raise InputError(f"{name}: expected a tf.RaggedTensor (N, None, ...) or a tensor "
                             f"(N, k, ...), got shape {dense.shape}")
        rt = tf.RaggedTensor.from_tensor(dense)
    if rt.ragged_rank != 1:
        raise InputError(f"{name}: expected ragged rank 1 (N, None, ...), got ragged rank "
                         f"{rt.ragged_rank}")
    if columns is not None and (rt.shape.rank != 3 or rt.shape[-1] not in columns):
        allowed = " or ".join(f"(N, None, {c})" for c in columns)
        raise InputError(f"{name}: expected shape {allowed}, got {rt.shape}")
    return rt


def _check_boxes(px: tf.Tensor, height: Any, width: Any, fmt: str) -> tf.Tensor:
    t = BOX_TOLERANCE
    w, h = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
    ok = tf.reduce_all((px[:, 2] > px[:, 0]) & (px[:, 3] > px[:, 1]) & (px[:, 0] >= -t)
                       & (px[:, 1] >= -t) & (px[:, 2] <= w + t) & (px[:, 3] <= h + t))
    message = (f"bboxes: a box has no area or reaches outside the image (format {fmt!r}); "
               f"allowed: x_min < x_max, y_min < y_max, inside [0, W] x [0, H] pixels")
    check = tf.debugging.Assert(ok, [message, w, h])
    with tf.control_dependencies([check]):
        return tf.stack([tf.clip_by_value(px[:, 0], 0.0, w), tf.clip_by_value(px[:, 1], 0.0, h),
                         tf.clip_by_value(px[:, 2], 0.0, w), tf.clip_by_value(px[:, 3], 0.0, h)],
                        axis=-1)


def _labels(value: Any, of: tf.RaggedTensor, name: str) -> tf.Tensor:
    labels = ragged(value, name)
    check = tf.debugging.assert_equal(
        labels.row_lengths(), of.row_lengths(),
        message=f"{name}: the number of labels differs from the number of boxes/keypoints in "
                f"an image; allowed: one label per box or keypoint")
    with tf.control_dependencies([check]):
        return tf.identity(labels.values)


def check_masks(value: Any, n: Any, height: Any, width: Any, fill: int,
                name: str = "masks") -> tuple[tf.Tensor, int]:
    """``(N, H, W, K)`` masks (asserted to match the images) and their given rank."""
    m = tf.convert_to_tensor(value)
    if m.shape.rank not in (3, 4):
        raise InputError(f"{name}: expected shape (N, H, W) or (N, H, W, K), got {m.shape}")
    if m.dtype not in _MASK_DTYPES:
        raise InputError(f"{name}: dtype {m.dtype.name} is not supported; allowed: integer or "
                         f"bool class maps (one class index per pixel)")
    from augkit.targets.cv import check_mask_fill

    check_mask_fill(np.dtype(m.dtype.as_numpy_dtype), fill, name)
    rank = m.shape.rank
    m = m if rank == 4 else m[..., None]
    shape = tf.shape(m, out_type=tf.int64)
    want = tf.stack([tf.cast(v, tf.int64) for v in (n, height, width)])
    check = tf.debugging.assert_equal(shape[:3], want, message=f"{name}: (N, H, W) differs from "
                                      f"the images'; allowed: one mask per image, same size")
    with tf.control_dependencies([check]):
        return tf.identity(m), rank


def prepare(given: dict[str, Any], n: Any, height: Any, width: Any,
            settings: TargetSettings) -> tuple[TargetBatch, dict[str, Any]]:
    """Batch targets (keys of :data:`augkit.targets.BATCH_KEYS`) into a :class:`TargetBatch`,
    plus what :func:`finish` needs."""
    extra: dict[str, Any] = {"n": n}
    kwargs: dict[str, Any] = {}
    if "masks" in given:
        kwargs["masks"], extra["mask_rank"] = check_masks(given["masks"], n, height, width,
                                                          settings.mask_fill)
    require_pairs(given)
    if "bboxes" in given:
        rt = ragged(given["bboxes"], "bboxes", (4,))
        px = to_pascal_voc(TF, rt.values, settings.bbox_format, height, width)
        kwargs["boxes"] = _check_boxes(px, height, width, settings.bbox_format)
        kwargs["box_rows"] = rt.value_rowids()
        if "bbox_labels" in given:
            extra["bbox_labels"] = _labels(given["bbox_labels"], rt, "bbox_labels")
    if "keypoints" in given:
        rt = ragged(given["keypoints"], "keypoints", (2, 3))
        values = tf.cast(rt.values, tf.float32)
        kwargs["points"], kwargs["point_rows"] = values[:, :2], rt.value_rowids()
        extra["point_vis"] = values[:, 2] if rt.shape[-1] == 3 else None
        if "keypoint_labels" in given:
            extra["keypoint_labels"] = _labels(given["keypoint_labels"], rt, "keypoint_labels")
    return TargetBatch(TF, "tf", height, width, settings, **kwargs), extra


def _rebuild(values: tf.Tensor, rows: tf.Tensor, n: Any) -> tf.RaggedTensor:
    return tf.RaggedTensor.from_value_rowids(values, rows, nrows=tf.cast(n, tf.int64))


def finish(tb: TargetBatch, extra: dict[str, Any]) -> dict[str, Any]:
    """The batch's targets as tensors and ragged tensors (keys of ``BATCH_KEYS``)."""
    out: dict[str, Any] = {}
    n = extra["n"]
    if tb.masks is not None:
        out["masks"] = tb.masks if extra["mask_rank"] == 4 else tb.masks[..., 0]
    if tb.boxes is not None:
        keep = tb.box_keep()
        rows = tf.boolean_mask(tb.box_rows, keep)
        boxes = from_pascal_voc(TF, tf.boolean_mask(tb.boxes, keep), tb.settings.bbox_format,
                                tb.height, tb.width)
        out["bboxes"] = _rebuild(boxes, rows, n)
        if "bbox_labels" in extra:
            out["bbox_labels"] = _rebuild(tf.boolean_mask(extra["bbox_labels"], keep), rows, n)
    if tb.points is not None:
        points, vis, rows = tb.points, extra["point_vis"], tb.point_rows
        inside = tb.point_keep()
        labels = extra.get("keypoint_labels")
        if tb.settings.keypoint_mode == "flag":
            vis = tf.ones_like(points[:, 0]) if vis is None else vis
            points = tf.concat([points, tf.where(inside, vis, 0.0)[:, None]], axis=1)
        else:
            if vis is not None:
                points = tf.concat([points, vis[:, None]], axis=1)
            points, rows = tf.boolean_mask(points, inside), tf.boolean_mask(rows, inside)
            labels = tf.boolean_mask(labels, inside) if labels is not None else None
        out["keypoints"] = _rebuild(points, rows, n)
        if labels is not None:
            out["keypoint_labels"] = _rebuild(labels, rows, n)
    return out
