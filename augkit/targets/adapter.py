"""The ``albumentations`` adapter op with targets (cv only): one albumentations call per sample
moves the image and its masks, boxes and keypoints together.

The sample's transform is seeded exactly as in the image-only kernel
(:func:`augkit.kernels.cv.albumentations_image`), so adding targets does not change the image
albumentations draws. Boxes go in as ``pascal_voc`` pixels with their flat positions as a
label field, keypoints as ``xy`` (albumentations' keypoints use augkit's pixel-index
convention), so whatever albumentations drops or reorders is matched back by position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.kernels import kernel
from augkit.kernels.common import Ctx
from augkit.targets.batch import TargetBatch, _inside, _positive

_BOX_IDS, _POINT_IDS = "augkit_box_ids", "augkit_point_ids"


def _compose(op: Any, boxes: bool, points: bool) -> Any:
    """An albumentations ``Compose`` around the op's transform, cached per target set."""
    import albumentations as A

    cache = op.__dict__.setdefault("_composes", {})
    key = (boxes, points)
    if key not in cache:
        kwargs: dict[str, Any] = {}
        if boxes:
            kwargs["bbox_params"] = A.BboxParams(format="pascal_voc", label_fields=[_BOX_IDS],
                                                 min_area=0.0, min_visibility=0.0, clip=True)
        if points:
            kwargs["keypoint_params"] = A.KeypointParams(format="xy", label_fields=[_POINT_IDS],
                                                         remove_invisible=False)
        cache[key] = A.Compose([op.instance], **kwargs)
    return cache[key]


def _image(res: Any, shape: tuple, name: str) -> np.ndarray:
    res = np.asarray(res)
    if res.ndim == 2:
        res = res[..., None]
    if res.shape != shape:
        raise InputError(f"albumentations.{name} changed the image shape from {shape} to "
                         f"{res.shape}; allowed: shape-preserving transforms only (use augkit's "
                         f"random_resized_crop or crop_and_pad to change geometry)")
    return res


@kernel("albumentations", "cv", "targets")
def albumentations_targets(x: np.ndarray, params: dict, ctx: Ctx, tb: TargetBatch,
                           applied: np.ndarray) -> np.ndarray:
    """Run the transform on each applied sample with its targets; update ``tb`` in place."""
    op = params["_op"]
    name = params["transform"]
    moves = {t: op.target_effect(t) == "albumentations" for t in ("mask", "bboxes",
                                                                  "keypoints")}
    use_boxes = tb.boxes is not None and moves["bboxes"]
    use_points = tb.points is not None and moves["keypoints"]
    use_mask = tb.masks is not None and moves["mask"]
    compose = _compose(op, use_boxes, use_points)
    lo, span = ctx.value_range[0], ctx.span
    as_uint8 = np.clip(np.rint((x - lo) * (255.0 / span)), 0, 255).astype(np.uint8)
    out = np.zeros(x.shape, np.float32)
    if use_boxes:
        tb.rebase()
        boxes, alive = tb.boxes.copy(), tb.alive.copy()
    if use_points:
        points, inside = tb.points.copy(), tb.inside.copy()
    masks = tb.masks.copy() if use_mask else None
    for i in np.flatnonzero(applied):
        data: dict[str, Any] = {"image": as_uint8[i]}
        if use_mask:
            data["mask"] = masks[i]
        if use_boxes:
            box_idx = np.flatnonzero((tb.box_rows == i) & alive)
            data["bboxes"], data[_BOX_IDS] = boxes[box_idx], box_idx
        if use_points:
            point_idx = np.flatnonzero((tb.point_rows == i) & inside)
            data["keypoints"], data[_POINT_IDS] = points[point_idx], point_idx
        compose.set_random_seed(int(params["seed"][i]))
        try:
            res = compose(**data)
        except Exception as exc:  # noqa: BLE001  (albumentations: ValueError, cv2.error, ...)
            raise InputError(f"albumentations.{name} failed on sample {i} with its targets "
                             f"({' '.join(str(exc).split())})") from None
        out[i] = _image(res["image"], x.shape[1:], name)
        if use_mask:
            masks[i] = np.asarray(res["mask"]).reshape(masks.shape[1:])
        if use_boxes:
            kept = np.asarray(res[_BOX_IDS], np.int64)
            alive[box_idx] = False
            if kept.size:
                boxes[kept] = np.asarray(res["bboxes"], np.float32)[:, :4]
                alive[kept] = True
        if use_points:
            kept = np.asarray(res[_POINT_IDS], np.int64)
            inside[point_idx] = False
            if kept.size:
                points[kept] = np.asarray(res["keypoints"], np.float32)[:, :2]
                inside[kept] = True
    if use_mask:
        tb.masks = masks
    if use_boxes:
        tb.boxes, tb.alive = boxes, alive & _positive(tb.xp, boxes)
        tb.origin = boxes
    if use_points:
        tb.points, tb.inside = points, inside & _inside(tb.xp, points, tb.height, tb.width)
    return _to_range(out, applied, x, ctx)


def _to_range(out: np.ndarray, applied: np.ndarray, x: np.ndarray, ctx: Ctx) -> np.ndarray:
    """Applied samples back from uint8 to the value range; the others as they came."""
    lo, span = ctx.value_range[0], ctx.span
    scaled = ctx.clip(lo + out * (span / 255.0))
    return np.where(applied.reshape(-1, 1, 1, 1), scaled, x).astype(np.float32)
