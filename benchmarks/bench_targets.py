#!/usr/bin/env python
"""Throughput of the seed pipeline with masks and boxes: augkit against albumentations.

The seed pipeline (rotation 15 deg, width/height shift 0.1, zoom 0.1, horizontal flip, rescale
1/255 for the image) runs on the same uint8 images, the same integer class masks (a few
ellipses and polygons per image, class ids 1-5) and the same boxes (the exact bounds of each
mask object, pascal_voc, labelled with its class id), with the same ``min_visibility``, in

* albumentations: ``A.Compose([Affine(p=1, BORDER_REPLICATE), HorizontalFlip, ToFloat],
  bbox_params=A.BboxParams("pascal_voc", label_fields=["bbox_labels"], min_visibility=...),
  seed=0)``, one call per image (how it is normally used);
* augkit: ``pipeline.augment(images, labels, masks=..., bboxes=..., bbox_labels=..., seed=0,
  backend="cv")`` per batch, and ``backend="tf"`` (eager; output copied back to numpy);

and, as the reference for what targets cost, the same images alone through each library
(albumentations without target params, augkit ``pipeline.apply``). ``--keypoints`` adds one
keypoint per object (its centre, labelled with the object's index) to the target rows.

Every method hands back numpy: a float32 image batch in [0, 1], the masks (N, H, W) uint8 and
per image a box array and a label array. Each method's output is checked once (shapes, dtype,
range, mask classes a subset of the input's, boxes inside the image with positive area, one
label per box from the input's labels); a failure is flagged under its row. Methods are warmed
up, calibrated to ``--target-seconds``, timed round-robin ``--repeat`` times, best run kept,
exactly as in ``bench_apply.py``.

Usage::

    python benchmarks/bench_targets.py                   # 32 and 224 px, best of 3
    python benchmarks/bench_targets.py --quick           # a fast smoke run
    python benchmarks/bench_targets.py --sizes 32 --repeat 5 --keypoints --json targets.json
    python benchmarks/bench_targets.py --methods augkit-cv-targets albumentations-targets

Timing numbers belong here and in docs/benchmarks.md, never in tests.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
for _path in (_REPO, _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_apply import (  # the data, batching and environment of the image benchmark
    BATCH,
    POOL,
    SEED_KWARGS,
    Skip,
    _batches,
    _to_numpy,
    add_timing_args,
    environment,
    make_pool,
    opencv_threads,
    parse_timing_args,
    rates,
)

N_CLASSES = 5  # mask class ids 1..5, 0 is background
METHOD_LABELS = {
    "albumentations": "albumentations, images only",
    "albumentations-targets": "albumentations + {targets}",
    "augkit-cv": 'augkit apply cv, images only',
    "augkit-cv-targets": 'augkit augment cv + {targets}',
    "augkit-tf": 'augkit apply tf, images only',
    "augkit-tf-targets": 'augkit augment tf + {targets}',
}
ALL_METHODS = list(METHOD_LABELS)
# (numerator, baseline): the ratios printed under the table
RATIOS = [("augkit-cv-targets", "albumentations-targets"), ("augkit-cv", "albumentations"),
          ("augkit-tf-targets", "albumentations-targets")]


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
@dataclass
class Data:
    """A pool of images with their targets; ``boxes[i]`` bounds mask object ``i`` exactly."""

    images: np.ndarray        # (N, S, S, 3) uint8
    labels: np.ndarray        # (N,) image class labels
    masks: np.ndarray         # (N, S, S) uint8 class ids, 0 = background
    boxes: list               # N arrays (B_i, 4) float32, pascal_voc pixel corners
    box_labels: list          # N arrays (B_i,) int64: each box's class id
    points: list              # N arrays (B_i, 2) float32: object centres (pixel indices)
    point_labels: list        # N arrays (B_i,) int64: the object's index in its image


def make_targets(n: int, size: int, seed: int = 0):
    """Masks with up to four objects per image, one per quadrant (so they never overlap and
    each box is the exact bounds of its object), half ellipses and half polygons; their boxes,
    class ids, centre keypoints. Some images have no object (empty box arrays)."""
    import cv2

    gen = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), np.uint8)
    scratch = np.zeros((size, size), np.uint8)
    half = size // 2
    boxes, box_labels, points, point_labels = [], [], [], []
    for i in range(n):
        rows, cls = [], []
        for qy in (0, 1):
            for qx in (0, 1):
                if gen.random() < 0.3:
                    continue
                scratch[:] = 0
                lo_x, lo_y = qx * half, qy * half
                if gen.random() < 0.5:
                    axes = gen.integers(max(1, half // 8), max(2, half // 2 - 1), 2)
                    centre = (int(lo_x + gen.integers(axes[0], half - axes[0])),
                              int(lo_y + gen.integers(axes[1], half - axes[1])))
                    cv2.ellipse(scratch, centre, (int(axes[0]), int(axes[1])),
                                float(gen.uniform(0, 180)), 0, 360, 1, -1)
                else:
                    k = int(gen.integers(3, 7))
                    pts = gen.integers(0, half, (k, 2)) + [lo_x, lo_y]
                    cv2.fillPoly(scratch, [pts.astype(np.int32)], 1)
                ys, xs = np.nonzero(scratch)
                if len(xs) == 0:
                    continue
                c = int(gen.integers(1, N_CLASSES + 1))
                masks[i][scratch > 0] = c
                rows.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])  # pixel edges
                cls.append(c)
        box = np.asarray(rows, np.float32).reshape(-1, 4)
        boxes.append(box)
        box_labels.append(np.asarray(cls, np.int64))
        # keypoints are pixel indices: the centre of box [x0, x1) is (x0 + x1) / 2 - 0.5
        points.append(np.stack([(box[:, 0] + box[:, 2]) / 2 - 0.5,
                                (box[:, 1] + box[:, 3]) / 2 - 0.5], axis=1).astype(np.float32))
        point_labels.append(np.arange(len(box), dtype=np.int64))
    return masks, boxes, box_labels, points, point_labels


def make_data(size: int, n: int, seed: int = 0) -> tuple[Data, str]:
    x, y, kind = make_pool(size, n, seed)
    return Data(x, y, *make_targets(n, size, seed)), kind


# --------------------------------------------------------------------------------------
# methods: each factory returns fn(data, start) -> the output dict of one batch
# --------------------------------------------------------------------------------------
def _albumentations(min_visibility, targets, keypoints):
    try:
        import albumentations as A
    except ImportError as e:
        raise Skip("albumentations not installed") from e
    import cv2

    params = {}
    if targets:
        params["bbox_params"] = A.BboxParams(format="pascal_voc", label_fields=["bbox_labels"],
                                             min_visibility=min_visibility)
        if keypoints:
            params["keypoint_params"] = A.KeypointParams(format="xy",
                                                         label_fields=["keypoint_labels"])
    return A.Compose(
        [
            # as in bench_apply.py: p=1 (Affine's default p=0.5 would skip half the work),
            # BORDER_REPLICATE = ImageDataGenerator's fill_mode="nearest"; masks keep
            # Affine's default mask_interpolation=INTER_NEAREST
            A.Affine(rotate=(-15, 15), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1),
                     interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_REPLICATE, p=1.0),
            A.HorizontalFlip(p=0.5),
            A.ToFloat(max_value=255.0),
        ],
        seed=0, **params)


def make_albumentations(batch, args, targets):
    aug = _albumentations(args.min_visibility, targets, args.keypoints)

    def fn(d, s):
        xb = d.images[s:s + batch]
        out = np.empty(xb.shape, np.float32)
        if not targets:
            for i in range(batch):
                out[i] = aug(image=xb[i])["image"]
            return {"images": out}
        masks = np.empty(d.masks[s:s + batch].shape, d.masks.dtype)
        res = {"images": out, "masks": masks, "bboxes": [], "bbox_labels": []}
        kp = {}
        if args.keypoints:
            res.update(keypoints=[], keypoint_labels=[])
        for i in range(batch):
            j = s + i
            if args.keypoints:
                kp = {"keypoints": d.points[j], "keypoint_labels": d.point_labels[j]}
            r = aug(image=d.images[j], mask=d.masks[j], bboxes=d.boxes[j],
                    bbox_labels=d.box_labels[j], **kp)
            out[i], masks[i] = r["image"], r["mask"]
            for key in ("bboxes", "bbox_labels", "keypoints", "keypoint_labels"):
                if key in res:
                    res[key].append(np.asarray(r[key]))
        return res
    return opencv_threads(fn)


def _augkit_pipeline(min_visibility):
    try:
        import augkit
    except Exception as e:  # ImportError, or a half-written package raising anything
        raise Skip(f"augkit not importable: {type(e).__name__}: {e}") from e
    spec = augkit.Pipeline.from_keras(**SEED_KWARGS).to_dict()
    spec["targets"]["min_visibility"] = min_visibility
    return augkit.Pipeline.from_dict(spec)


def _ragged_rows(t):
    """A ragged (N, None, ...) tensor as a list of N numpy arrays (a list passes through)."""
    if not hasattr(t, "row_splits"):
        return [np.asarray(r) for r in t]
    values, splits = t.values.numpy(), t.row_splits.numpy()
    return np.split(values, splits[1:-1])


def make_augkit(batch, args, targets, backend):
    pipeline = _augkit_pipeline(args.min_visibility)

    def fn(d, s):
        sl = slice(s, s + batch)
        index = np.arange(s, s + batch)
        if not targets:
            images, _ = pipeline.apply(d.images[sl], d.labels[sl], seed=0, backend=backend,
                                       index=index)
            return {"images": _to_numpy(images)}
        kp = {}
        if args.keypoints:
            kp = {"keypoints": d.points[sl], "keypoint_labels": d.point_labels[sl]}
        out = pipeline.augment(d.images[sl], d.labels[sl], masks=d.masks[sl],
                               bboxes=d.boxes[sl], bbox_labels=d.box_labels[sl], seed=0,
                               backend=backend, index=index, **kp)
        res = {"images": _to_numpy(out["images"]), "masks": _to_numpy(out["masks"])}
        for key in ("bboxes", "bbox_labels", "keypoints", "keypoint_labels"):
            if key in out:
                res[key] = _ragged_rows(out[key])
        return res
    return fn


FACTORIES = {
    "albumentations": lambda b, a: make_albumentations(b, a, False),
    "albumentations-targets": lambda b, a: make_albumentations(b, a, True),
    "augkit-cv": lambda b, a: make_augkit(b, a, False, "cv"),
    "augkit-cv-targets": lambda b, a: make_augkit(b, a, True, "cv"),
    "augkit-tf": lambda b, a: make_augkit(b, a, False, "tf"),
    "augkit-tf-targets": lambda b, a: make_augkit(b, a, True, "tf"),
}


# --------------------------------------------------------------------------------------
# checking
# --------------------------------------------------------------------------------------
def check_output(out, d: Data, s: int, batch: int, targets: bool, keypoints: bool):
    """What is wrong with one batch's output (a string), or None."""
    size = d.images.shape[1]
    problems = []
    img = out.get("images")
    if img is None or tuple(img.shape) != (batch, size, size, 3):
        problems.append(f"images shape {None if img is None else tuple(img.shape)}")
    elif img.dtype != np.float32:
        problems.append(f"images dtype {img.dtype}")
    elif not np.isfinite(img).all() or img.min() < -1e-6 or img.max() > 1 + 1e-6:
        problems.append(f"images range [{np.nanmin(img):.3g}, {np.nanmax(img):.3g}]")
    if not targets:
        return ", ".join(problems) or None
    masks = out.get("masks")
    if masks is None or tuple(masks.shape) != (batch, size, size) or masks.dtype != d.masks.dtype:
        problems.append(f"masks {None if masks is None else (masks.shape, masks.dtype)}")
    else:
        bad = [i for i in range(batch)
               if not set(np.unique(masks[i])) <= set(np.unique(d.masks[s + i])) | {0}]
        if bad:
            problems.append(f"mask classes not in the input's (image {bad[0]})")
    keys = [("bboxes", "bbox_labels", d.box_labels, 4)]
    if keypoints:
        keys.append(("keypoints", "keypoint_labels", d.point_labels, 2))
    for key, lkey, in_labels, cols in keys:
        rows, labels = out.get(key), out.get(lkey)
        if rows is None or labels is None or len(rows) != batch or len(labels) != batch:
            problems.append(f"{key}/{lkey} missing or not one entry per image")
            continue
        for i, (r, lab) in enumerate(zip(rows, labels)):
            r = np.asarray(r, np.float64).reshape(-1, cols)
            lab = np.asarray(lab)
            why = None
            if len(lab) != len(r):
                why = f"{len(lab)} {lkey} for {len(r)} {key}"
            elif not set(lab.tolist()) <= set(in_labels[s + i].tolist()):
                why = f"{lkey} not among the input's"
            elif len(r) > len(in_labels[s + i]):
                why = f"more {key} than given"
            elif cols == 4 and len(r) and (
                    (r[:, :2] < -1e-3).any() or (r[:, 2:] > size + 1e-3).any()
                    or (r[:, 2:] <= r[:, :2]).any()):
                why = "a box outside the image or without area"
            elif cols == 2 and len(r) and ((r < -0.5 - 1e-3).any() or (r > size).any()):
                why = "a keypoint outside the image"
            if why:
                problems.append(f"image {i}: {why}")
                break
    return ", ".join(problems) or None


# --------------------------------------------------------------------------------------
# measurement (the protocol of bench_apply.py)
# --------------------------------------------------------------------------------------
def _run(fn, d, batch, n):
    t0 = time.perf_counter()
    for s in _batches(n, len(d.images), batch):
        fn(d, s)
    return time.perf_counter() - t0


def bench_size(size, args, log):
    batch = BATCH.get(size) or max(8, round(128 * (32 / size) ** 2 / 8) * 8)
    pool_n = POOL.get(size) or max(batch * 4, 256)
    if args.quick:
        pool_n = max(batch * 2, pool_n // 4)
    pool_n -= pool_n % batch
    d, kind = make_data(size, pool_n)
    n_boxes = sum(len(b) for b in d.boxes)
    log(f"\n== {size} x {size} px, batch {batch}, pool of {pool_n} images ({kind}), "
        f"{n_boxes} boxes ({n_boxes / pool_n:.1f} per image)")
    what = "masks, boxes" + (", keypoints" if args.keypoints else "")
    rows, fns = {}, {}
    for name in args.methods:
        row = rows[name] = {"size": size, "method": name, "batch": batch,
                            "label": METHOD_LABELS[name].format(targets=what)}
        try:
            fn = FACTORIES[name](batch, args)
            t_warm = _run(fn, d, batch, batch * 2)  # tracing, lazy imports, caches
            out = fn(d, 0)
            row["note"] = check_output(out, d, 0, batch, name.endswith("-targets"),
                                       args.keypoints)
            if "bboxes" in out:  # both libraries should drop about as many
                row["boxes_kept"] = [sum(len(b) for b in out["bboxes"]),
                                     sum(len(b) for b in d.boxes[:batch])]
            probe = batch * max(2, args.probe_batches)
            rate = probe / max(_run(fn, d, batch, probe), 1e-9)
            n = args.n or int(rate * args.target_seconds)
            n = max(probe, n - n % batch)  # never fewer images than the probe
            row.update(n=n, times=[])
            fns[name] = fn
            kept = ("; boxes kept in batch 0: {} of {}".format(*row["boxes_kept"])
                    if "boxes_kept" in row else "")
            log(f"  {name:<24} warm-up {t_warm:.2f}s, ~{rate:.0f} img/s, "
                f"will time {n} images{kept}")
        except Skip as e:
            row["skipped"] = str(e)
            log(f"  {name:<24} SKIPPED: {e}")
        except Exception as e:  # noqa: BLE001  (a failing method is a row, not a crash)
            row["error"] = f"{type(e).__name__}: {e}"
            log(f"  {name:<24} ERROR: {row['error']}")
            if args.verbose:
                traceback.print_exc()
    # round-robin so a burst of noise on a shared machine hits every method alike
    for r in range(args.repeat):
        for name, fn in list(fns.items()):
            try:
                rows[name]["times"].append(_run(fn, d, batch, rows[name]["n"]))
            except Exception as e:  # noqa: BLE001
                rows[name]["error"] = f"{type(e).__name__}: {e}"
                del fns[name]
                log(f"  {name:<24} ERROR during repeat {r}: {rows[name]['error']}")
    return rates(rows)


def summarize(results):
    """Ratios between libraries, and what adding targets costs each (images-only / targets)."""
    by = {(r["size"], r["method"]): r.get("rate") for r in results}
    ratios, costs = [], []
    for size in sorted({r["size"] for r in results}):
        for num, base in RATIOS:
            top, bottom = by.get((size, num)), by.get((size, base))
            if top and bottom:
                ratios.append({"size": size, "numerator": num, "baseline": base,
                               "ratio": top / bottom})
        for lib in ("albumentations", "augkit-cv", "augkit-tf"):
            alone, full = by.get((size, lib)), by.get((size, lib + "-targets"))
            if alone and full:
                costs.append({"size": size, "method": lib, "slowdown": alone / full,
                              "ms_per_image": 1e3 * (1 / full - 1 / alone)})
    return ratios, costs


def print_tables(results, ratios, costs):
    by = {(r["size"], r["method"]): r.get("rate") for r in results}
    print(f"\n{'px':<5} {'method':<48} {'batch':>6} {'images':>8} {'best s':>8} "
          f"{'img/s':>10} {'median':>10} {'augkit-cv /':>12}")
    for r in results:
        if "rate" not in r:
            why = r.get("skipped") or r.get("error") or "not run"
            print(f"{r['size']:<5} {r['label']:<48} {r['batch']:>6}  -- {why[:90]}")
            continue
        # compare like with like: targets rows against augkit-cv with targets
        num = "augkit-cv-targets" if r["method"].endswith("-targets") else "augkit-cv"
        top = by.get((r["size"], num))
        if r["method"] == num:
            cell = f"{'1x':>12}"
        else:
            cell = f"{top / r['rate']:>11.2f}x" if top else f"{'--':>12}"
        print(f"{r['size']:<5} {r['label']:<48} {r['batch']:>6} {r['n']:>8} "
              f"{r['best_s']:>8.3f} {r['rate']:>10.0f} {r['median_rate']:>10.0f} {cell}")
        if r.get("note"):
            print(f"      ^ output check FAILED: {r['note']}")
    if ratios:
        print("\nRatios (images/s of the first divided by the second's):")
        for x in ratios:
            print(f"{x['size']:<5} {x['numerator']:<22} / {x['baseline']:<24} "
                  f"{x['ratio']:>7.2f}x")
    if costs:
        print("\nCost of the targets (images-only rate / rate with targets; extra ms per image):")
        for c in costs:
            print(f"{c['size']:<5} {c['method']:<22} {c['slowdown']:>7.2f}x  "
                  f"{c['ms_per_image']:>+8.3f} ms")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 224],
                    help="square image sizes in px (default: 32 224)")
    ap.add_argument("--n", type=int, help="images per measurement (default: calibrated)")
    add_timing_args(ap)
    ap.add_argument("--min-visibility", type=float, default=0.3,
                    help="min_visibility for both libraries (default 0.3)")
    ap.add_argument("--keypoints", action="store_true",
                    help="also pass one keypoint per object (object centre) to target rows")
    ap.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=ALL_METHODS)
    args = parse_timing_args(ap, argv)

    def log(msg):
        print(msg, flush=True)

    env = environment()
    log(f"augkit bench_targets: {env.get('cpu')}, {env['cpu_count']} cores, cv2 {env['cv2']} "
        f"({env.get('cv2_threads')} threads), TF {env['tensorflow']}, albumentations "
        f"{env['albumentations']}, augkit {env['augkit']}; min_visibility "
        f"{args.min_visibility:g}{', with keypoints' if args.keypoints else ''}")
    results = []
    for size in args.sizes:
        results.extend(bench_size(size, args, log))
    ratios, costs = summarize(results)
    print_tables(results, ratios, costs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "args": vars(args), "seed_pipeline": SEED_KWARGS,
                       "results": results, "ratios": ratios, "target_costs": costs},
                      f, indent=2)
        log(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
