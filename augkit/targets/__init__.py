"""Dense and sparse targets: masks, bounding boxes and keypoints riding with their images.

A pipeline moves every target with the *same* sampled matrix as its image (one fused matrix
per geometric stage, see :mod:`augkit.pipeline`), so image and targets can never disagree.
This package holds the pipeline's target settings (:class:`TargetSettings`), the box formats
(:mod:`augkit.targets.formats`), the flat per-batch state that the stages move
(:mod:`augkit.targets.batch`) and the containers users pass in and get back: lists of numpy
arrays on the cv backend (:mod:`augkit.targets.cv`), ``tf.RaggedTensor`` on the tf backend
(:mod:`augkit.targets.tf`). See ``docs/targets.md``.

Coordinate conventions (the same on both backends):

* boxes are pixel *edges*: an image spans ``[0, W] x [0, H]`` and pixel ``(row r, col c)``
  covers ``[c, c + 1] x [r, r + 1]`` (``pascal_voc``; the other formats convert to it);
* keypoints are pixel *indices* ``(x, y)``: the centre of pixel ``(r, c)`` is ``(c, r)``, the
  convention of augkit's matrices and of albumentations' keypoints; a keypoint is inside the
  image when ``-0.5 <= x <= W - 0.5`` and ``-0.5 <= y <= H - 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from augkit.errors import SpecError
from augkit.params import Choice, Number, closest, fail, short_repr

#: Names of the targets an op declares its effect on (``Op.targets``).
TARGETS = ("mask", "bboxes", "keypoints")
#: Box formats: pixel corners, COCO's pixel ``(x, y, w, h)``, YOLO's normalized centre and
#: size, albumentations' normalized corners.
BBOX_FORMATS = ("pascal_voc", "coco", "yolo", "albumentations")
#: What happens to a keypoint that leaves the image.
KEYPOINT_MODES = ("drop", "flag")
#: The keyword arguments of the per-sample call, and the keys of its result, by target.
SAMPLE_KEYS = ("mask", "bboxes", "bbox_labels", "keypoints", "keypoint_labels")
#: The same for the batch call (:meth:`augkit.Pipeline.augment`).
BATCH_KEYS = ("masks", "bboxes", "bbox_labels", "keypoints", "keypoint_labels")

_DECLS = {
    "bbox_format": Choice("pascal_voc", "box format of input and output", options=BBOX_FORMATS),
    "min_area": Number(0.0, "boxes whose clipped area (output px²) is below it are dropped",
                       min=0.0, max=1e12),
    "min_visibility": Number(0.0, "boxes keeping a smaller fraction of their area are dropped",
                             min=0.0, max=1.0),
    "keypoint_mode": Choice("drop", "keypoints outside the image: dropped or flagged",
                            options=KEYPOINT_MODES),
    "mask_fill": Number(0, "mask value of pixels that come from outside the image",
                        min=-(2**31), max=2**32 - 1, integer=True),
}


@dataclass(frozen=True)
class TargetSettings:
    """How a pipeline treats masks, boxes and keypoints (``Pipeline(targets=...)``).

    Args:
        bbox_format: ``"pascal_voc"`` (pixel corners ``x_min, y_min, x_max, y_max``, the
            default), ``"coco"`` (pixel ``x_min, y_min, width, height``), ``"yolo"``
            (``x_centre, y_centre, width, height`` as fractions of the image size) or
            ``"albumentations"`` (corners as fractions of the image size). Input and output
            boxes use it; normalized formats are relative to the output image's size.
        min_area: a box whose area left inside the output image is below this many square
            pixels is dropped, with its label.
        min_visibility: a box keeping less than this fraction of its area is dropped, with its
            label. The fraction is the clipped box's area over the area of the same box moved
            by all the pipeline's geometric ops without clipping (see ``docs/targets.md``).
        keypoint_mode: ``"drop"`` removes keypoints that leave the image (with their labels);
            ``"flag"`` keeps every keypoint and adds or updates a third column, the
            visibility: 1 inside, 0 outside.
        mask_fill: the mask value of pixels a warp pulls from outside the image (whatever the
            image's ``fill_mode``); it must fit the mask's dtype.

    Example:
        >>> import augkit
        >>> pipe = augkit.Pipeline([augkit.ops.FlipHorizontal(p=1.0)],
        ...                        targets={"bbox_format": "coco", "min_visibility": 0.3})
        >>> pipe.targets.bbox_format
        'coco'
    """

    bbox_format: str = "pascal_voc"
    min_area: float = 0.0
    min_visibility: float = 0.0
    keypoint_mode: str = "drop"
    mask_fill: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _DECLS[f.name].validate(getattr(self, f.name), f"targets.{f.name}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def build(cls, value: Any, path: str = "targets") -> TargetSettings:
        """Settings from ``None`` (defaults), a :class:`TargetSettings` or its dict form.

        Raises:
            SpecError: not a mapping, an unknown key (with the closest valid ones) or a bad
                value (naming ``targets.<key>``).
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise fail(path, value, "a mapping of target settings (" + ", ".join(_DECLS) + ")")
        for key in value:
            if key not in _DECLS:
                raise SpecError(f"{path}.{short_repr(key)}: unknown target setting"
                                f"{closest(str(key), list(_DECLS))} (allowed: "
                                f"{', '.join(_DECLS)})")
        return cls(**value)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain data (defaults included)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def is_default(self) -> bool:
        """Whether every setting has its default value."""
        return self == TargetSettings()


def describe() -> str:
    """The settings table (name, default, allowed) as Markdown, for ``docs/targets.md``."""
    rows = ["| setting | default | allowed | meaning |", "|---|---|---|---|"]
    for name, decl in _DECLS.items():
        rows.append(f"| `{name}` | `{decl.default!r}` | {decl.describe()} | {decl.doc} |")
    return "\n".join(rows)


__all__ = ["BATCH_KEYS", "BBOX_FORMATS", "KEYPOINT_MODES", "SAMPLE_KEYS", "TARGETS",
           "TargetSettings", "describe"]
