"""Generated test data for the target invariants and for tools (preview, benchmarks).

:func:`make_case` draws images whose mask holds one rectangle object per box (box ``k`` of an
image is the exact region of mask value ``k + 1``), and keypoints at the box centres plus a few
points, some outside the image; :func:`call` runs a pipeline's batch call on it and hands the
results back as numpy, boxes in pixel corners. The data come from numpy's seeded generator:
*test input*, not augmentation randomness (which stays in :mod:`augkit.rng`).

Example:
    >>> import numpy as np, augkit
    >>> from augkit.targets.cases import call, make_case
    >>> case = make_case(np.random.default_rng(0), n=2, height=16, width=20)
    >>> res = call(augkit.Pipeline([augkit.ops.FlipHorizontal(p=1.0)]), case, "cv")
    >>> sorted(res)[:4]
    ['bbox_labels', 'bboxes', 'images', 'keypoint_labels']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from augkit.kernels.cv import NP
from augkit.targets.formats import from_pascal_voc, to_pascal_voc


@dataclass(frozen=True)
class TargetCase:
    """Images with one rectangle object per box in the mask, keypoints, seed and indices.

    Boxes are pascal_voc pixel corners here; :func:`call` converts them to the pipeline's
    ``bbox_format`` and back.
    """

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    points: list[np.ndarray]
    seed: int
    index: np.ndarray

    def describe(self) -> str:
        n, h, w, c = self.images.shape
        return (f"{n}x{h}x{w}x{c}, {sum(len(b) for b in self.boxes)} boxes, seed={self.seed}")


def make_case(gen: np.random.Generator, n: int, height: int, width: int, channels: int = 3,
              seed: int = 0, index: np.ndarray | None = None) -> TargetCase:
    """A case: per image up to four disjoint rectangle objects (one per quadrant) with their
    boxes, and keypoints at the box centres plus three points, one possibly outside."""
    images = gen.integers(0, 256, (n, height, width, channels), dtype=np.uint8)
    masks = np.zeros((n, height, width), np.uint8)
    boxes, points = [], []
    for i in range(n):
        rects = []
        for qy in (0, 1):
            for qx in (0, 1):
                y_lo, y_hi = qy * height // 2, (qy + 1) * height // 2
                x_lo, x_hi = qx * width // 2, (qx + 1) * width // 2
                if y_hi - y_lo < 2 or x_hi - x_lo < 2 or gen.random() < 0.25:
                    continue
                y0 = int(gen.integers(y_lo, y_hi - 1))
                x0 = int(gen.integers(x_lo, x_hi - 1))
                y1 = int(gen.integers(y0 + 1, y_hi + 1))
                x1 = int(gen.integers(x0 + 1, x_hi + 1))
                masks[i, y0:y1, x0:x1] = len(rects) + 1
                rects.append([x0, y0, x1, y1])
        box = np.asarray(rects, np.float32).reshape(-1, 4)
        centres = np.stack([(box[:, 0] + box[:, 2]) / 2 - 0.5,
                            (box[:, 1] + box[:, 3]) / 2 - 0.5], axis=1)
        extra = gen.uniform(-0.5, 1.0, (3, 2)) * [width - 0.5, height - 0.5]
        extra[2] = gen.uniform(-0.3, 1.3, 2) * [width, height]  # maybe outside
        boxes.append(box)
        points.append(np.concatenate([centres, extra]).astype(np.float32))
    index = gen.integers(0, 2**40, size=n) if index is None else index
    return TargetCase(images, masks, boxes, points, seed, index)


def call(pipeline: Any, case: TargetCase, backend: str, **kw: Any) -> dict[str, Any]:
    """``pipeline.augment`` on the case; results as numpy, boxes back in pascal_voc pixels."""
    fmt = pipeline.targets.bbox_format
    h, w = case.images.shape[1:3]
    boxes = [from_pascal_voc(NP, b, fmt, h, w) for b in case.boxes]
    labels = [np.arange(len(b)) for b in case.boxes]
    kwargs = {"seed": case.seed, "index": case.index, "backend": backend, **kw}
    out = pipeline.augment(case.images, masks=case.masks, bboxes=boxes, bbox_labels=labels,
                           keypoints=case.points,
                           keypoint_labels=[np.arange(len(p)) for p in case.points], **kwargs)
    res = {k: (np.asarray(v) if k in ("images", "masks") else v) for k, v in out.items()}
    oh, ow = res["images"].shape[1:3]
    for key in ("bboxes", "bbox_labels", "keypoints", "keypoint_labels"):
        rows = res[key]
        res[key] = [np.asarray(r) for r in (rows.to_list() if hasattr(rows, "to_list")
                                            else rows)]
    res["bboxes"] = [to_pascal_voc(NP, b.reshape(-1, 4), fmt, oh, ow) for b in res["bboxes"]]
    cols = 3 if pipeline.targets.keypoint_mode == "flag" else case.points[0].shape[1]
    res["keypoints"] = [p.reshape(-1, cols).astype(np.float32) for p in res["keypoints"]]
    res["keypoint_labels"] = [np.asarray(v, np.int64) for v in res["keypoint_labels"]]
    res["bbox_labels"] = [np.asarray(v, np.int64) for v in res["bbox_labels"]]
    return res
