"""The flat state of a batch's targets while the pipeline's stages move them.

Ragged targets are kept flat, whatever the backend: all boxes of the batch in one ``(M, 4)``
array with a row id (the sample each belongs to), all keypoints in one ``(K, 2)`` array with
theirs. A geometric stage gathers its per-sample matrices by row id and moves everything in a
few vectorized operations; nothing is dropped until :meth:`TargetBatch.box_keep` and
:meth:`TargetBatch.point_keep` decide at the end, so row ids, labels and boxes stay aligned.
The containers users see (lists of arrays, ``tf.RaggedTensor``) are built from and back to
this state by :mod:`augkit.targets.cv` and :mod:`augkit.targets.tf`.
"""

from __future__ import annotations

from typing import Any

from augkit.errors import InputError
from augkit.kernels import lookup
from augkit.targets import TargetSettings

# Relative slack of the drop thresholds: a box exactly at min_area or min_visibility survives
# float32 rounding on both backends.
_SLACK = 1e-6


class TargetBatch:
    """Masks, boxes and keypoints of one batch, in the current stage's pixel frame.

    Args:
        xp: the backend math namespace.
        backend: ``"cv"`` or ``"tf"``.
        height: current image height (int, or a scalar tensor on tf).
        width: current image width.
        settings: the pipeline's :class:`TargetSettings`.
        masks: ``(N, H, W, K)`` class masks, or None.
        boxes: ``(M, 4)`` float32 pixel-edge corners of every box of the batch, or None.
        box_rows: ``(M,)`` int64 sample of each box.
        points: ``(K, 2)`` float32 keypoints in pixel indices, or None.
        point_rows: ``(K,)`` int64 sample of each keypoint.
    """

    def __init__(self, xp: Any, backend: str, height: Any, width: Any,
                 settings: TargetSettings, *, masks: Any = None, boxes: Any = None,
                 box_rows: Any = None, points: Any = None, point_rows: Any = None) -> None:
        self.xp, self.backend, self.settings = xp, backend, settings
        self.height, self.width = height, width
        self.masks = masks
        self.boxes, self.box_rows = boxes, box_rows
        self.points, self.point_rows = points, point_rows
        if boxes is not None:
            self.origin = boxes  # the boxes the visibility is measured against
            self.cum = None  # forward matrices since `origin` (None: identity)
            self.alive = _positive(xp, boxes)
            self.factor = xp.f32(boxes[:, 0] * 0.0 + 1.0)  # visibility carried over rebases
        if points is not None:
            self.inside = _inside(xp, points, height, width)

    def present(self) -> list[str]:
        """The targets this batch carries (``"mask"``, ``"bboxes"``, ``"keypoints"``)."""
        return [name for name, v in (("mask", self.masks), ("bboxes", self.boxes),
                                     ("keypoints", self.points)) if v is not None]

    def moved_by(self, op: Any) -> bool:
        """Whether a non-geometric op does more to a present target than keep it (its
        ``(op, backend, "targets")`` kernel then runs instead of the image kernel)."""
        return any(op.target_effect(t) not in (None, "keep") for t in self.present())

    # -- what a geometric stage does ------------------------------------------------------
    def move(self, total: Any, inv: Any, height: Any, width: Any, *, flips_only: bool,
             nudge: Any) -> None:
        """Move every target by the stage's forward matrices ``total`` (``(N, 3, 3)``).

        Args:
            total: forward matrices, input pixel → output pixel.
            inv: their inverses (output → input), for the mask warp.
            height: output height of the stage.
            width: output width.
            flips_only: the stage is made of flips alone (exact paths).
            nudge: the offset added to ``inv`` before a nearest warp (the image's own, so that
                exact half-pixel ties are broken the same way on both backends).
        """
        xp = self.xp
        if self.masks is not None:
            mask_inv = inv if flips_only else inv + nudge
            self.masks = lookup("warp", self.backend, "mask")(
                self.masks, mask_inv, (height, width), fill=self.settings.mask_fill,
                flips_only=flips_only)
        if self.boxes is not None:
            moved = lookup("warp", self.backend, "bboxes")(
                xp, self.boxes, xp.gather(total, self.box_rows))
            self.boxes = _clip(xp, moved, height, width)
            self.alive = self.alive & _positive(xp, self.boxes)
            self.cum = total if self.cum is None else xp.matmul(total, self.cum)
        if self.points is not None:
            self.points = lookup("warp", self.backend, "keypoints")(
                xp, self.points, xp.gather(total, self.point_rows))
            self.inside = self.inside & _inside(xp, self.points, height, width)
        self.height, self.width = height, width

    def rebase(self) -> None:
        """Measure visibility from the current boxes on (after a non-affine op moved them),
        carrying the fraction lost so far."""
        if self.boxes is not None:
            self.factor = self.visibility()
            self.origin, self.cum = self.boxes, None

    # -- what survives ---------------------------------------------------------------------
    def visibility(self) -> Any:
        """Per box: clipped area over the area of the box moved without clipping."""
        xp = self.xp
        full = self.origin
        if self.cum is not None:
            full = lookup("warp", self.backend, "bboxes")(xp, self.origin,
                                                          xp.gather(self.cum, self.box_rows))
        full_area = _area(full)
        safe = xp.where(full_area > 0.0, full_area, 1.0)
        return xp.where(full_area > 0.0, self.factor * _area(self.boxes) / safe, 0.0)

    def box_keep(self) -> Any:
        """Which boxes survive: some area left, ``min_area`` and ``min_visibility`` met."""
        s = self.settings
        area = _area(self.boxes)
        keep = self.alive & (area > 0.0)
        if s.min_area > 0.0:
            keep = keep & (area >= s.min_area * (1.0 - _SLACK))
        if s.min_visibility > 0.0:
            keep = keep & (self.visibility() >= s.min_visibility - _SLACK)
        return keep

    def point_keep(self) -> Any:
        """Which keypoints are inside the output image (every stage along the way)."""
        return self.inside


def require_pairs(given: dict[str, Any]) -> None:
    """Refuse per-box or per-keypoint labels passed without their boxes or keypoints."""
    if "bbox_labels" in given and "bboxes" not in given:
        raise InputError("bbox_labels: given without bboxes; pass both")
    if "keypoint_labels" in given and "keypoints" not in given:
        raise InputError("keypoint_labels: given without keypoints; pass both")


def _area(boxes: Any) -> Any:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _positive(xp: Any, boxes: Any) -> Any:
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _clip(xp: Any, boxes: Any, height: Any, width: Any) -> Any:
    w, h = xp.f32(width), xp.f32(height)
    return xp.stack([xp.clip(boxes[:, 0], 0.0, w), xp.clip(boxes[:, 1], 0.0, h),
                     xp.clip(boxes[:, 2], 0.0, w), xp.clip(boxes[:, 3], 0.0, h)], axis=-1)


def _inside(xp: Any, points: Any, height: Any, width: Any) -> Any:
    """Inside the image's area: ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` in pixel indices."""
    x, y = points[:, 0], points[:, 1]
    return ((x >= -0.5) & (x <= xp.f32(width) - 0.5) & (y >= -0.5)
            & (y <= xp.f32(height) - 0.5))
