"""Annotations in previews: resolved per image, moved by the pipeline, turned into marks.

The bridge between :mod:`augkit.annotations` (what the user gave), the pipeline (which moves
the targets in the call that makes each variant's pixels) and :mod:`augkit._overlay` (what is
drawn). Boxes and keypoints travel through ``pipeline.augment`` with their positions as
labels, so any label type works on both backends and the user's labels are looked up after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from augkit._overlay import Marks, Palette, draw, marks
from augkit.annotations import Annotation, coerce, load
from augkit.errors import InputError
from augkit.io import sample_path
from augkit.params import short_repr


# -- what the user gave ---------------------------------------------------------------------------
def resolve(annotations: Any, images: Any, sources: list[np.ndarray],
            pipeline: Any) -> list[Annotation | None]:
    """One validated annotation (or None) per loaded image, boxes in the pipeline's format.

    Args:
        annotations: what ``render_grid(annotations=...)`` was given.
        images: what ``render_grid(images=...)`` was given (an annotation file matches paths).
        sources: the loaded images.
        pipeline: the pipeline (its ``targets.bbox_format``).
    """
    if annotations is None:
        return [None] * len(sources)
    bbox_format = pipeline.targets.bbox_format
    if isinstance(annotations, (str, os.PathLike)):
        annotations = load(annotations, _paths(images))
    elif isinstance(annotations, (Mapping, Annotation)):
        if len(sources) != 1:
            raise InputError(f"annotations: one mapping for {len(sources)} images; allowed: a "
                             f"list with one entry (or None) per image")
        annotations = [annotations]
    allowed = "a list with one entry (a mapping or None) per image, or a file path"
    if not isinstance(annotations, (list, tuple)):
        raise InputError(f"annotations: got {short_repr(annotations)}; allowed: {allowed}")
    if len(annotations) != len(sources):
        raise InputError(f"annotations: {len(annotations)} entries for {len(sources)} images; "
                         f"allowed: {allowed}")
    out: list[Annotation | None] = []
    for i, (value, image) in enumerate(zip(annotations, sources)):
        ann = coerce(value, f"annotations[{i}]")
        if ann is not None and not ann.is_empty():
            out.append(ann.resolved(image.shape[0], image.shape[1], bbox_format))
        else:
            out.append(None)
    return out


def _paths(images: Any) -> list[str]:
    """Image names an annotation file's keys match: the paths as given."""
    if images is None:
        return [sample_path()]
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, np.ndarray):
        images = [images]
    names = []
    for i, item in enumerate(images):
        if not isinstance(item, (str, os.PathLike)):
            raise InputError(f"annotations: a file keys images by file name, but images[{i}] "
                             f"is not a path; allowed: image paths with an annotation file, "
                             f"or annotations as a list of mappings")
        names.append(os.fspath(item))
    return names


def palette(anns: list[Annotation | None]) -> Palette:
    """One palette for a picture: every label of every annotation (see :mod:`augkit._overlay`)."""
    labels: list = []
    for ann in anns:
        if ann is not None:
            labels += list(ann.bbox_labels or []) + list(ann.keypoint_labels or [])
    return Palette(labels)


def cell(tile: np.ndarray, caption: str, m: Marks | None, colours: Palette) -> tuple:
    """A cell for :func:`augkit._canvas.compose`: the tile, its caption, and what to draw."""
    if m is None:
        return (tile, caption)
    return (tile, caption, partial(draw, m=m, palette=colours))


# -- through the pipeline -----------------------------------------------------------------------
def original_marks(ann: Annotation | None, image: np.ndarray) -> Marks | None:
    """The marks of an input image: its :class:`augkit.annotations.Annotation` as given
    (boxes in ``ann.bbox_format``; keypoints outside the image count as not visible)."""
    from augkit.kernels.cv import NP
    from augkit.targets.batch import _inside

    if ann is None:
        return None
    height, width = image.shape[:2]
    pts = ann.keypoints
    if pts is not None and len(pts):
        inside = _inside(NP, pts, height, width)
        vis = (pts[:, 2] > 0) & inside if pts.shape[1] == 3 else inside
        pts = np.concatenate([pts[:, :2], vis[:, None].astype(np.float64)], axis=1)
    return marks(height, width, ann.mask, ann.pixel_boxes(height, width), ann.bbox_labels,
                 pts, ann.keypoint_labels)


def batch_targets(ann: Any, k: int) -> dict[str, Any]:
    """The keyword arguments of ``pipeline.augment`` for ``k`` copies of an annotated image.

    Boxes and keypoints travel with their *positions* as labels, whatever the user's labels
    are (any type works on both backends); :func:`variant_marks` maps them back.
    """
    given: dict[str, Any] = {}
    if ann.mask is not None:
        given["masks"] = np.repeat(ann.mask[None], k, axis=0)
    for key, labels in (("bboxes", "bbox_labels"), ("keypoints", "keypoint_labels")):
        values = getattr(ann, key)
        if values is not None and len(values):
            given[key] = [values.astype(np.float32)] * k
            given[labels] = [np.arange(len(values), dtype=np.int64)] * k
    return given


def variant_marks(result: dict[str, Any], ann: Any, k: int, bbox_format: str) -> list[Marks]:
    """Marks of the ``k`` variants ``pipeline.augment`` returned (numpy or TensorFlow)."""
    from augkit.kernels.cv import NP
    from augkit.targets.formats import to_pascal_voc

    images = np.asarray(result["images"])
    masks = np.asarray(result["masks"]) if "masks" in result else None
    boxes, box_pos = _rows(result.get("bboxes"), k), _rows(result.get("bbox_labels"), k)
    points, point_pos = _rows(result.get("keypoints"), k), _rows(result.get("keypoint_labels"), k)
    out = []
    for j in range(k):
        h, w = images[j].shape[:2]
        px = None
        if boxes[j] is not None:
            px = to_pascal_voc(NP, boxes[j].reshape(-1, 4), bbox_format, h, w)
        out.append(marks(h, w, None if masks is None else masks[j], px,
                         _pick(ann.bbox_labels, box_pos[j]), points[j],
                         _pick(ann.keypoint_labels, point_pos[j]), box_pos[j], point_pos[j]))
    return out


def _pick(labels: list | None, positions: np.ndarray | None) -> list | None:
    if labels is None or positions is None:
        return None
    return [labels[int(i)] for i in positions]


def _rows(value: Any, k: int) -> list[np.ndarray | None]:
    """Per-variant arrays from a list of arrays (cv) or a ``tf.RaggedTensor`` (tf)."""
    if value is None:
        return [None] * k
    if hasattr(value, "row_lengths"):
        flat = np.asarray(value.values)
        return np.split(flat, np.cumsum(np.asarray(value.row_lengths()))[:-1])
    return [np.asarray(v) for v in value]
