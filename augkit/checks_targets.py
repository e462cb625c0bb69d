"""The target invariants: masks, boxes and keypoints, runnable on any pipeline.

Like :mod:`augkit.checks`, each invariant is a plain function raising
:class:`augkit.checks.InvariantError`; ``tests/test_targets_invariants.py`` drives them with
hypothesis over every registered op on both backends, and :func:`augkit.check` runs them on a
user's pipeline (when all its ops support masks, boxes and keypoints). Test data comes from
numpy's seeded generator: *test input*, not augmentation randomness.

The generated case (:mod:`augkit.targets.cases`) makes the invariants checkable without
trusting the code under test: each box is the exact rectangle of one mask object (box ``k`` of
an image is the region of mask value ``k + 1``, its label is ``k``), and the keypoints are the
box centres plus a few points, some outside the image, labelled by their position. A reference
composes the sampled matrices in float64 from the ops' own ``sample``/``matrix``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit import rng
from augkit.checks import InvariantError, Result, _describe
from augkit.kernels.cv import NP
from augkit.pipeline import Pipeline
from augkit.targets.cases import TargetCase, call, make_case

__all__ = ["ON_RESULT", "PER_CASE", "TargetCase", "call", "make_case", "target_results"]

#: Coordinates: largest allowed error (pixels) against the float64 reference, and between
#: the backends (float32 matrices from sin/cos/exp that differ in the last bit).
COORD_TOLERANCE = 1e-2
#: Masks: largest share of pixels allowed to differ between the backends (exact ties under
#: nearest sampling, decided by the last bit of a matrix entry); each one must sit next to a
#: pixel of the same class in the other backend's mask.
MASK_SHARE = 0.01


# -- a float64 reference of the geometry --------------------------------------------------------
def reference_stages(pipeline: Pipeline, case: TargetCase) -> list[tuple[np.ndarray, tuple]]:
    """Per geometric stage: the forward matrices ``(N, 3, 3)`` (float64) and output size.

    Composed here from each op's ``sample`` and ``matrix`` and its ``p`` draw, with the same
    draws as the pipeline (op position ``i`` draws with key ``combine(keys, i + 1)``).

    Raises:
        NotImplementedError: an op moves targets other than by a matrix (albumentations).
    """
    if not affine_only(pipeline):
        raise NotImplementedError("an op moves targets without a matrix")
    n, height, width = case.images.shape[:3]
    keys = rng.sample_keys(case.seed, np.asarray(case.index, np.int64), 0)
    draws = rng.op_draws(keys, len(pipeline.ops), NP)
    out = []
    for start, ops in pipeline.stages():
        if not ops[0].geometric:
            continue
        total = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        for j, op in enumerate(ops):
            d = draws[start + j]
            m = np.asarray(op.matrix(op.sample(d, height, width), height, width, NP), np.float64)
            if op.p < 1.0:
                keep = np.asarray(d.bernoulli(0, op.p)).reshape(-1, 1, 1)
                m = np.where(keep, m, op.identity_matrix(n, height, width, NP))
            total = m @ total
            height, width = op.output_size(height, width)
        out.append((total, (int(height), int(width))))
    return out


def affine_only(pipeline: Pipeline) -> bool:
    """Whether every op moves targets by its matrix or keeps them (no albumentations
    distortion, whose boxes need not bound their masks)."""
    return not any(op.target_effect(t) not in ("keep", "matrix", None)
                   for op in pipeline.ops for t in ("mask", "bboxes", "keypoints"))


def _moved_boxes(box: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Bounds of the moved corners of pixel-edge boxes (float64)."""
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
    idx = corners - 0.5
    moved = idx @ m[:2, :2].T + m[:2, 2] + 0.5
    return np.array([*moved.min(axis=0), *moved.max(axis=0)])


def _inside(p: np.ndarray, h: int, w: int, margin: float = 0.0) -> np.ndarray:
    return ((p[:, 0] >= -0.5 + margin) & (p[:, 0] <= w - 0.5 - margin)
            & (p[:, 1] >= -0.5 + margin) & (p[:, 1] <= h - 0.5 - margin))


# -- the invariants -------------------------------------------------------------------------
def boxes_inside_and_paired(pipeline: Pipeline, case: TargetCase, backend: str,
                            res: dict | None = None) -> None:
    """Boxes stay inside the image with positive area, one label each, labels in order."""
    res = res if res is not None else call(pipeline, case, backend)
    oh, ow = res["images"].shape[1:3]
    for i, (boxes, labels) in enumerate(zip(res["bboxes"], res["bbox_labels"])):
        if len(boxes) != len(labels):
            raise InvariantError(f"image {i}: {len(boxes)} boxes but {len(labels)} labels")
        if len(labels) and (np.any(np.diff(labels) <= 0) or labels.min() < 0
                            or labels.max() >= len(case.boxes[i])):
            raise InvariantError(f"image {i}: labels {labels.tolist()} are not an ordered "
                                 f"subset of the {len(case.boxes[i])} input boxes")
        t = 1e-3
        if len(boxes) and (np.any(boxes[:, 0] < -t) or np.any(boxes[:, 1] < -t)
                           or np.any(boxes[:, 2] > ow + t) or np.any(boxes[:, 3] > oh + t)):
            raise InvariantError(f"image {i}: a box leaves the {ow}x{oh} image: "
                                 f"{boxes.tolist()}")
        if len(boxes) and np.any((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])):
            raise InvariantError(f"image {i}: a box without area was kept: {boxes.tolist()}")


def box_bounds_its_mask(pipeline: Pipeline, case: TargetCase, backend: str,
                        res: dict | None = None) -> None:
    """Every mask pixel of object ``k`` has its centre inside box ``k`` (which therefore
    survived, when no threshold drops boxes); masks keep their class set.

    Exact (to :data:`COORD_TOLERANCE`, plus the 2**-10 px tie-breaking nudge of nearest
    sampling times the warp's magnification) after one warp: a pixel is ``k`` only if its
    centre maps into a source pixel of ``k``. Each further warp resamples a mask whose pixel
    squares reach up to half a pixel past the box: 1 px of slack per extra geometric stage.
    """
    res = res if res is not None else call(pipeline, case, backend)
    warps = sum(1 for _, ops in pipeline.stages() if ops[0].geometric)
    masks = res["masks"]
    allowed = set(np.unique(case.masks).tolist()) | {pipeline.targets.mask_fill}
    extra = set(np.unique(masks).tolist()) - allowed
    if extra:
        raise InvariantError(f"masks gained values {sorted(extra)} (classes: {sorted(allowed)})")
    thresholds = pipeline.targets.min_area > 0 or pipeline.targets.min_visibility > 0
    if not affine_only(pipeline):
        return
    magnification = np.ones(masks.shape[0])
    for m, _ in reference_stages(pipeline, case):
        magnification *= np.abs(m[:, :2, :2]).sum(axis=2).max(axis=1)
    for i in range(masks.shape[0]):
        by_label = dict(zip(res["bbox_labels"][i].tolist(), res["bboxes"][i]))
        for k in range(len(case.boxes[i])):
            rows, cols = np.nonzero(masks[i] == k + 1)
            if rows.size == 0:
                continue
            if k not in by_label:
                if thresholds:
                    continue
                raise InvariantError(f"image {i}: object {k} is visible in the mask "
                                     f"({rows.size} px) but its box was dropped")
            x0, y0, x1, y1 = by_label[k]
            cx, cy = cols + 0.5, rows + 0.5
            t = COORD_TOLERANCE + 2.0**-10 * magnification[i] + max(warps - 1, 0)
            if (cx.min() < x0 - t or cx.max() > x1 + t or cy.min() < y0 - t
                    or cy.max() > y1 + t):
                raise InvariantError(
                    f"image {i}: object {k}'s mask pixels span x [{cx.min()}, {cx.max()}], "
                    f"y [{cy.min()}, {cy.max()}], outside its box {[x0, y0, x1, y1]}")


def targets_follow_matrix(pipeline: Pipeline, case: TargetCase, backend: str,
                          res: dict | None = None) -> None:
    """Boxes are the clipped bounds of their moved corners and keypoints move by the sampled
    matrix (float64 reference); boxes and keypoints are dropped exactly when the rules say."""
    try:
        stages = reference_stages(pipeline, case)
    except NotImplementedError:
        return
    res = res if res is not None else call(pipeline, case, backend)
    s = pipeline.targets
    h0, w0 = case.images.shape[1:3]
    t = COORD_TOLERANCE
    for i in range(case.images.shape[0]):
        boxes, points = case.boxes[i].astype(np.float64), case.points[i].astype(np.float64)
        alive = np.ones(len(boxes), bool)
        inside = _inside(points, h0, w0)
        margin = np.zeros(len(points), bool)  # within the tolerance of an edge somewhere
        cum = np.eye(3)
        for m, (h, w) in stages:
            boxes = np.array([_moved_boxes(b, m[i]) for b in boxes]).reshape(-1, 4)
            boxes = np.clip(boxes, 0, [w, h, w, h])
            cum = m[i] @ cum
            alive &= (boxes[:, 2] > boxes[:, 0] + t) & (boxes[:, 3] > boxes[:, 1] + t)
            points = points @ m[i, :2, :2].T + m[i, :2, 2]
            margin |= _inside(points, h, w, -t) & ~_inside(points, h, w, t)
            inside &= _inside(points, h, w)
        full = np.array([_moved_boxes(b, cum) for b in case.boxes[i]]).reshape(-1, 4)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        full_area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
        keep = alive & (area >= s.min_area) & (area >= s.min_visibility * full_area)
        got = dict(zip(res["bbox_labels"][i].tolist(), res["bboxes"][i]))
        for k in range(len(boxes)):
            edge = abs(area[k] - s.min_area) < 1.0 or abs(area[k] - s.min_visibility
                                                         * full_area[k]) < 1.0
            if keep[k] and k not in got and not edge:
                raise InvariantError(f"image {i}: box {k} should survive as "
                                     f"{boxes[k].round(3).tolist()} but was dropped")
            if k in got and not keep[k] and not edge and alive[k]:
                raise InvariantError(f"image {i}: box {k} should be dropped (area {area[k]:g}, "
                                     f"visible {area[k] / max(full_area[k], 1e-9):.3f}) but was "
                                     f"kept")
            if k in got and np.abs(got[k] - boxes[k]).max() > t * (1 + np.abs(boxes[k]).max()
                                                                     / 64):
                raise InvariantError(f"image {i}: box {k} is {got[k].tolist()}, the moved "
                                     f"corners' bounds are {boxes[k].round(4).tolist()}")
        out_pts = res["keypoints"][i]
        labels = res["keypoint_labels"][i]
        for row, k in zip(out_pts, labels.tolist()):
            if np.abs(row[:2] - points[k]).max() > t * (1 + np.abs(points[k]).max() / 64):
                raise InvariantError(f"image {i}: keypoint {k} is at {row[:2].tolist()}, the "
                                     f"matrix puts it at {points[k].round(4).tolist()}")
        expected = {k for k in range(len(points)) if inside[k] and not margin[k]}
        present = set(labels.tolist())
        if s.keypoint_mode == "drop":
            unexpected = present - {k for k in range(len(points)) if inside[k] or margin[k]}
            if not expected <= present or unexpected:
                raise InvariantError(f"image {i}: keypoints kept {sorted(present)}, inside the "
                                     f"image: {sorted(expected)}")
        else:
            vis = dict(zip(labels.tolist(), out_pts[:, 2]))
            if present != set(range(len(points))) or any(
                    (vis[k] > 0) != bool(inside[k]) for k in range(len(points)) if not margin[k]):
                raise InvariantError(f"image {i}: flagged visibility {vis} disagrees with the "
                                     f"points inside the image {sorted(expected)}")


def twice_is_identity(pipeline: Pipeline, case: TargetCase, backend: str) -> None:
    """For an involution (flips): applying the pipeline twice with the same seed gives the
    image, mask, boxes and keypoints back."""
    back = Pipeline(pipeline.ops, fill_mode=pipeline.fill_mode, cval=pipeline.cval,
                    interpolation=pipeline.interpolation, value_range=pipeline.value_range,
                    targets={**pipeline.targets.to_dict(), "bbox_format": "pascal_voc",
                             "keypoint_mode": "drop"})
    once = call(back, case, backend)
    twice = back.augment(once["images"], masks=once["masks"], bboxes=once["bboxes"],
                         keypoints=[p[:, :2] for p in once["keypoints"]], seed=case.seed,
                         index=case.index, backend=backend)
    if not np.array_equal(np.asarray(twice["images"]), case.images):
        raise InvariantError("the image is not restored")
    if not np.array_equal(np.asarray(twice["masks"]), case.masks):
        raise InvariantError("the mask is not restored")
    def rows(v: Any) -> Any:
        return v.to_list() if hasattr(v, "to_list") else v

    for i, (b, p) in enumerate(zip(rows(twice["bboxes"]), rows(twice["keypoints"]))):
        want_b = case.boxes[i][once["bbox_labels"][i]]
        want_p = case.points[i][once["keypoint_labels"][i]]
        if not np.allclose(np.asarray(b).reshape(-1, 4), want_b, atol=1e-4):
            raise InvariantError(f"image {i}: boxes {b} are not restored to {want_b.tolist()}")
        if not np.allclose(np.asarray(p).reshape(-1, 2), want_p, atol=1e-4):
            raise InvariantError(f"image {i}: keypoints are not restored")


def targets_backends_agree(pipeline: Pipeline, case: TargetCase, backend: str = "tf",
                           results: tuple[dict, dict] | None = None) -> None:
    """cv and tf: the same boxes and keypoints (labels equal, coordinates within
    :data:`COORD_TOLERANCE`); masks equal except exact ties (at most :data:`MASK_SHARE` of the
    pixels, each next to its class in the other mask). ``results``: the two :func:`call`
    results, if already computed."""
    a, b = results or (call(pipeline, case, "cv"), call(pipeline, case, "tf"))
    diff = a["masks"] != b["masks"]
    if diff.mean() > MASK_SHARE:
        raise InvariantError(f"masks differ on {diff.mean():.2%} of the pixels (> "
                             f"{MASK_SHARE:.0%})")
    for i, r, c in zip(*np.nonzero(diff)):
        near = b["masks"][i, max(r - 1, 0):r + 2, max(c - 1, 0):c + 2]
        if a["masks"][i, r, c] not in near:
            raise InvariantError(f"image {i}: mask pixel ({r}, {c}) is {a['masks'][i, r, c]} "
                                 f"on cv and {b['masks'][i, r, c]} on tf, with no such class "
                                 f"next to it")
    for key, coords in (("bbox_labels", "bboxes"), ("keypoint_labels", "keypoints")):
        for i, (la, lb) in enumerate(zip(a[key], b[key])):
            if not np.array_equal(la, lb):
                raise InvariantError(f"image {i}: {key} {la.tolist()} on cv, {lb.tolist()} on "
                                     f"tf")
            gap = np.abs(a[coords][i] - b[coords][i]).max(initial=0.0)
            if gap > COORD_TOLERANCE:
                raise InvariantError(f"image {i}: {coords} differ by {gap:g} px")


def targets_batch_independent(pipeline: Pipeline, case: TargetCase, backend: str) -> None:
    """Each sample's targets depend on its own index only (same as when applied alone)."""
    whole = call(pipeline, case, backend)
    for i in range(case.images.shape[0]):
        one = TargetCase(case.images[i:i + 1], case.masks[i:i + 1], case.boxes[i:i + 1],
                         case.points[i:i + 1], case.seed, case.index[i:i + 1])
        alone = call(pipeline, one, backend)
        for key in ("bboxes", "keypoints"):
            a, b = whole[key][i], alone[key][0]
            if a.shape != b.shape or np.abs(a - b).max(initial=0.0) > COORD_TOLERANCE:
                raise InvariantError(f"sample {i}: {key} differ when applied alone")
        if np.mean(whole["masks"][i] != alone["masks"][0]) > MASK_SHARE:
            raise InvariantError(f"sample {i}: the mask differs when applied alone")


#: Invariants checked on one :func:`call` result (``fn(pipeline, case, backend, res)``).
ON_RESULT = {
    "boxes inside, one label each": boxes_inside_and_paired,
    "boxes bound their masks; mask classes kept": box_bounds_its_mask,
    "boxes and keypoints follow the matrix": targets_follow_matrix,
}
#: Every per-case target invariant (``fn(pipeline, case, backend)``).
PER_CASE = {**ON_RESULT, "targets batch independent": targets_batch_independent}


# -- the runner's part (augkit.check) ------------------------------------------------------------
def target_results(pipeline: Pipeline, backends: tuple[str, ...], cases: int,
                   seed: int = 0) -> list[Result]:
    """The target invariants as :class:`augkit.checks.Result` rows for :func:`augkit.check`:
    none when an op refuses a target (the pipeline is then for images and labels only)."""
    from augkit.checks import _channels, _min_side

    if any(op.target_effect(t) is None for op in pipeline.ops
           for t in ("mask", "bboxes", "keypoints")):
        return []
    gen = np.random.default_rng(seed + 1)
    side = max(_min_side(pipeline), 8)
    channels = _channels(pipeline) or [3]
    count = max(4, cases // 4)
    made = [make_case(gen, int(gen.integers(1, 4)), *(int(v) for v in gen.integers(
        side, side + 24, size=2)), channels[k % len(channels)], seed=int(gen.integers(0, 2**31)))
        for k in range(count)]
    out = []
    for backend in backends:
        chosen = made if backend == "cv" else made[: max(2, count // 4)]
        rows = {name: Result(name, backend) for name in PER_CASE}
        for case in chosen:
            try:
                res = call(pipeline, case, backend)
            except Exception as exc:  # noqa: BLE001  (reported, never fatal for the check)
                for row in rows.values():
                    row.record(_describe(exc), case)
                continue
            for name, fn in PER_CASE.items():
                rows[name].record(_error(fn, pipeline, case, backend,
                                         res if name in ON_RESULT else None), case)
        out.extend(rows.values())
        if backend == "tf":
            agree = Result("targets: cv and tf agree", "both")
            for case in chosen:
                agree.record(_error(targets_backends_agree, pipeline, case, "tf"), case)
            out.append(agree)
    return out


def _error(fn: Any, pipeline: Pipeline, case: TargetCase, backend: str,
           res: dict | None = None) -> str | None:
    try:
        fn(pipeline, case, backend, res) if res is not None else fn(pipeline, case, backend)
    except InvariantError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001  (an op crashing is a failed invariant)
        return _describe(exc)
    return None
