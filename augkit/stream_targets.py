"""Streams that carry masks, boxes and keypoints with their images (array sources).

:func:`augkit.stream` calls :func:`target_stream` when it is given any of ``masks``,
``bboxes``, ``bbox_labels``, ``keypoints``, ``keypoint_labels``. Each batch is then a dict:

======================  =========================================================
``"images"``            ``(B, H', W', C)``, as in an image-only stream
``"labels"``            ``(B, ...)``, when labels were given
``"masks"``             ``(B, H', W')`` or ``(B, H', W', K)``, the masks' dtype
``"bboxes"``            ``tf.RaggedTensor`` ``(B, None, 4)`` float32, ``bbox_format``
``"bbox_labels"``       ``tf.RaggedTensor`` ``(B, None)`` (or ``(B, None, ...)``)
``"keypoints"``         ``tf.RaggedTensor`` ``(B, None, 2)``, or ``3`` columns with a
                        visibility (``keypoint_mode="flag"`` or 3-column input)
``"keypoint_labels"``   ``tf.RaggedTensor`` ``(B, None)``
======================  =========================================================

Order, seeding and epochs are those of the image-only array stream (:mod:`augkit.stream_arrays`).
Labels never pass through the augmentation: the pipeline moves each box (keypoint) with its
*flat position* in the data set as its label, and the stream gathers the user's labels by the
positions that survive, in the graph, so they stay paired with their boxes whatever their
dtype (strings included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from augkit.errors import InputError
from augkit.pipeline import Pipeline, split_tail
from augkit.stream_core import Options, cv_call, distribute, finish, index_batches
from augkit.targets import TargetSettings
from augkit.targets import cv as tcv

#: The stream arguments (and element keys) of targets.
TARGET_KEYS = ("masks", "bboxes", "bbox_labels", "keypoints", "keypoint_labels")


@dataclass
class _Ragged:
    """Per-image rows of a data set, flat: values, row lengths, labels (or None)."""

    values: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray | None

    def rows(self, idx: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The rows of images ``idx`` and, as their labels, their flat positions."""
        starts = np.concatenate([[0], np.cumsum(self.lengths)])
        pos = [np.arange(starts[i], starts[i + 1]) for i in idx]
        return [self.values[p] for p in pos], pos

    def ragged(self) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
        """Values and positions as ragged constants (gathered per batch on tf)."""
        lengths = tf.constant(self.lengths, tf.int64)
        return (tf.RaggedTensor.from_row_lengths(tf.constant(self.values), lengths),
                tf.RaggedTensor.from_row_lengths(tf.range(int(self.lengths.sum()),
                                                          dtype=tf.int64), lengths))


def check_targets(given: dict[str, Any], x: np.ndarray,
                  pipeline: Pipeline | None) -> dict[str, Any]:
    """Validate a data set's targets up front (so a bad box fails before training starts)."""
    n, height, width = x.shape[:3]
    settings = pipeline.targets if pipeline is not None else TargetSettings()
    if pipeline is not None:
        pipeline.require_targets(given)
    out: dict[str, Any] = {}
    if "masks" in given:
        masks, rank = tcv.check_masks(given["masks"], n, height, width, settings.mask_fill)
        out["masks"] = masks if rank == 4 else masks[..., 0]
    for key, cols, of in (("bboxes", (4,), "boxes"), ("keypoints", (2, 3), "keypoints")):
        label_key = "bbox_labels" if key == "bboxes" else "keypoint_labels"
        if label_key in given and key not in given:
            raise InputError(f"{label_key}: given without {key}; pass both")
        if key not in given:
            continue
        values, ids = tcv.flatten(given[key], n, key, cols)
        if key == "bboxes" and pipeline is not None:
            tcv.check_boxes(values, ids, settings.bbox_format, height, width)
        counts = np.bincount(ids, minlength=n)
        labels = (tcv.flatten_labels(given[label_key], counts, label_key, of)
                  if label_key in given else None)
        out[key] = _Ragged(values, counts, labels)
    return out


def target_stream(x: np.ndarray, y: np.ndarray | None, targets: dict[str, Any],
                  items: np.ndarray, opts: Options, service: str | None,
                  job_name: str | None) -> tf.data.Dataset:
    """The data set of an array source with targets (elements: dicts, see the module doc)."""
    n, batch = len(items), opts.batch_size
    steps = opts.steps(n)
    pipe, seed = opts.pipeline, opts.seed
    in_dtype = str(x.dtype)
    out_dtype = opts.out_dtype(in_dtype)
    out_shape = (*opts.out_size(x.shape[1], x.shape[2]), x.shape[3])
    batch_dim = batch if opts.drop_remainder else None
    y_t = tf.constant(y) if y is not None else None
    masks = targets.get("masks")
    boxes, points = targets.get("bboxes"), targets.get("keypoints")
    flag = pipe is not None and pipe.targets.keypoint_mode == "flag"
    point_cols = 3 if (points is not None and (flag or points.values.shape[1] == 3)) else 2
    label_t = {key: tf.constant(r.labels) for key, r in (("bbox_labels", boxes),
                                                         ("keypoint_labels", points))
               if r is not None and r.labels is not None}
    on_tf = opts.backend == "tf" or service is not None
    head, tail = (None, None) if on_tf else split_tail(pipe)
    if head is None and pipe is not None:
        head, tail = pipe, None  # value ops only: still one call, which flags keypoints
    if on_tf:
        x_t = tf.constant(x)
        masks_t = tf.constant(masks) if masks is not None else None
        box_rt = boxes.ragged() if boxes is not None else None
        point_rt = points.ragged() if points is not None else None

    def graph_batch(idx: tf.Tensor, epoch: tf.Tensor) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if masks is not None:
            given["masks"] = tf.gather(masks_t, idx)
        if boxes is not None:
            given["bboxes"], given["bbox_labels"] = (tf.gather(t, idx) for t in box_rt)
        if points is not None:
            given["keypoints"], given["keypoint_labels"] = (tf.gather(t, idx) for t in point_rt)
        images = tf.gather(x_t, idx)
        if pipe is None:
            return {"images": images, **given}
        return pipe.augment(images, seed=seed, backend="tf", index=idx, epoch=epoch, **given)

    def cv_batch(idx: np.ndarray, ep: np.ndarray) -> list[np.ndarray]:
        given: dict[str, Any] = {}
        if masks is not None:
            given["masks"] = masks[idx]
        if boxes is not None:
            given["bboxes"], given["bbox_labels"] = boxes.rows(idx)
        if points is not None:
            given["keypoints"], given["keypoint_labels"] = points.rows(idx)
        images = x[idx]
        res = {"images": images, **given}
        if head is not None:
            res = head.augment(images, seed=seed, index=idx, epoch=int(ep), **given)
        flat = [res["images"]] + ([res["masks"]] if masks is not None else [])
        for key in ("bboxes", "keypoints"):
            if key in res:
                lab = "bbox_labels" if key == "bboxes" else "keypoint_labels"
                cols = 4 if key == "bboxes" else point_cols
                flat += [np.concatenate([np.reshape(v, (-1, cols)) for v in res[key]]
                                        + [np.zeros((0, cols))]).astype(np.float32),
                         np.asarray([len(v) for v in res[key]], np.int64),
                         np.concatenate([np.asarray(v, np.int64) for v in res[lab]]
                                        + [np.zeros(0, np.int64)])]
        return flat

    def batch_at(idx: tf.Tensor, epoch: tf.Tensor) -> dict[str, Any]:
        if on_tf:
            res = graph_batch(idx, epoch)
        else:
            natural = head.output_dtype(in_dtype) if head is not None else in_dtype
            tout = [tf.as_dtype(natural)] + ([tf.as_dtype(masks.dtype)] if masks is not None
                                             else [])
            for r in (boxes, points):
                if r is not None:
                    tout += [tf.float32, tf.int64, tf.int64]
            flat = list(cv_call(cv_batch, [idx, epoch], tout))
            res = {"images": tf.ensure_shape(flat.pop(0), (batch_dim, *out_shape))}
            if masks is not None:
                res["masks"] = flat.pop(0)
            for key, r, cols in (("bboxes", boxes, 4), ("keypoints", points, point_cols)):
                if r is not None:
                    values, lengths, pos = flat[0], flat[1], flat[2]
                    del flat[:3]
                    values = tf.ensure_shape(values, (None, cols))
                    lengths, pos = tf.ensure_shape(lengths, (None,)), tf.ensure_shape(pos, (None,))
                    lab = "bbox_labels" if key == "bboxes" else "keypoint_labels"
                    res[key] = tf.RaggedTensor.from_row_lengths(values, lengths)
                    res[lab] = tf.RaggedTensor.from_row_lengths(pos, lengths)
            if tail is not None:
                res["images"], _ = tail.apply(res["images"], seed=seed, backend="tf", index=idx,
                                              epoch=epoch)
        images = res["images"]
        if images.dtype != tf.as_dtype(out_dtype):
            images = tf.cast(images, out_dtype)
        element: dict[str, Any] = {"images": tf.ensure_shape(images, (batch_dim, *out_shape))}
        if y_t is not None:
            element["labels"] = tf.gather(y_t, idx)
        if masks is not None:
            m = res["masks"]
            element["masks"] = tf.ensure_shape(m, (batch_dim, *out_shape[:2], *masks.shape[3:]))
        for key, lab in (("bboxes", "bbox_labels"), ("keypoints", "keypoint_labels")):
            if key in res:
                element[key] = tf.cast(res[key], tf.float32)
                if lab in label_t:  # positions -> the user's labels, in the graph
                    pos = res[lab]
                    element[lab] = pos.with_values(tf.gather(label_t[lab], pos.values))
        return element

    ds, counter = index_batches(items, opts, steps, batch, graph_only=service is not None)
    ds = ds.map(batch_at, num_parallel_calls=opts.parallel, deterministic=opts.deterministic)
    ds = distribute(ds, opts, service, job_name)
    return finish(ds, opts, steps, counter)
