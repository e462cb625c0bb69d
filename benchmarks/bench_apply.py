#!/usr/bin/env python
"""Throughput of the "seed pipeline" in augkit against the usual alternatives.

The seed pipeline is the augmentation from the course material augkit grew from::

    rotation 15 deg, width/height shift 0.1, zoom 0.1, horizontal flip, rescale 1/255

It is run, in one process and on the same uint8 images, by

* ``ImageDataGenerator.flow`` -- Keras' legacy generator (needs scipy);
* Keras 3 preprocessing layers, called eagerly and inside ``tf.function``;
* albumentations, one ``Compose`` call per image (how it is normally used);
* augkit ``Pipeline.apply`` with ``backend="cv"`` and ``backend="tf"``;
* a bare-OpenCV "ceiling": one ``cv2.warpAffine`` per image in a Python loop (flip folded
  into the matrix) and one vectorized rescale per batch, from one Python thread (cv2's own
  worker threads on) and from one Python thread per core (cv2's threads off) -- roughly
  the least work any correct implementation of this pipeline can do on this machine.

Every method produces a float32 batch in [0, 1] as a numpy array (TF outputs are copied
back), so every row pays for the same end result. Each method is warmed up first (TF
tracing is excluded from timing), the methods are timed round-robin ``--repeat`` times
and the best run is kept. Rates are images per second.

Usage::

    python benchmarks/bench_apply.py                     # 32 and 224 px, best of 3
    python benchmarks/bench_apply.py --quick             # a fast smoke run
    python benchmarks/bench_apply.py --sizes 32 --repeat 5 --json bench.json
    python benchmarks/bench_apply.py --methods idg albumentations cv2-ceiling

Timing numbers belong here and in docs/benchmarks.md, never in tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# Benchmark the checkout this script lives in, whether or not augkit is pip-installed.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

# Seed pipeline, in ImageDataGenerator's words.
SEED_KWARGS = dict(
    rotation_range=15,
    width_shift_range=0.1,
    height_shift_range=0.1,
    zoom_range=0.1,
    horizontal_flip=True,
    rescale=1 / 255,
)
BATCH = {32: 128, 224: 32}  # batch sizes from the issue; other sizes interpolate below
POOL = {32: 2048, 224: 256}  # distinct images held in memory per size
# (size, baseline method, required augkit-cv / baseline ratio)
TARGETS = [
    (32, "idg", 15.0),
    (32, "albumentations", 3.0),
    (224, "idg", 20.0),
    (224, "albumentations", 1.5),
]

METHOD_LABELS = {
    "idg": "ImageDataGenerator.flow",
    "keras-eager": "Keras 3 layers, eager",
    "keras-tf.function": "Keras 3 layers, tf.function",
    "albumentations": "albumentations, per image",
    "augkit-cv": 'augkit apply backend="cv"',
    "augkit-tf": 'augkit apply backend="tf"',
    "cv2-ceiling": "ceiling: cv2.warpAffine loop",
    "cv2-ceiling-threads": "ceiling: cv2.warpAffine loop, {} threads",
}
ALL_METHODS = list(METHOD_LABELS)


class Skip(Exception):
    """A method cannot run here (missing dependency, augkit not importable yet, ...)."""


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def _source_images() -> list[np.ndarray]:
    try:
        from skimage import data as skd
    except ImportError:
        return []
    out = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
                 "hubble_deep_field", "motorcycle_left"):
        try:
            img = getattr(skd, name)()
        except Exception:  # some scikit-image samples need a download; skip them
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


def make_pool(size: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """n uint8 RGB images of size x size: random crops of real photos, resized."""
    import cv2

    rng = np.random.default_rng(seed)
    sources = _source_images()
    x = np.empty((n, size, size, 3), np.uint8)
    if not sources:
        # Fallback: smooth random colour fields, still not white noise.
        for i in range(n):
            small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            x[i] = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        kind = "smooth random uint8 (scikit-image not installed)"
    else:
        for i in range(n):
            src = sources[i % len(sources)]
            h, w = src.shape[:2]
            side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
            top = int(rng.integers(0, h - side + 1))
            left = int(rng.integers(0, w - side + 1))
            crop = src[top:top + side, left:left + side]
            interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
            x[i] = cv2.resize(crop, (size, size), interpolation=interp)
        kind = "random crops of %d scikit-image photos, resized" % len(sources)
    y = rng.integers(0, 10, n).astype(np.int64)
    return x, y, kind


def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "numpy"):
        return a.numpy()
    return np.asarray(a)


def _batches(n: int, pool_n: int, batch: int):
    """Start offsets of n//batch full batches cycling through the pool."""
    per_pool = pool_n // batch
    for k in range(n // batch):
        yield (k % per_pool) * batch


# --------------------------------------------------------------------------------------
# methods: each factory returns run(x_pool, y_pool, n) -> last output batch
# --------------------------------------------------------------------------------------
def _batchwise(fn, batch):
    def run(x, y, n):
        out = None
        for s in _batches(n, len(x), batch):
            out = fn(x[s:s + batch], y[s:s + batch])
        return out
    return run


def make_idg(size, batch, args):
    try:
        import scipy  # noqa: F401  (ImageDataGenerator's affine transform uses scipy.ndimage)
    except ImportError as e:
        raise Skip("scipy missing (pip install -r benchmarks/requirements.txt)") from e
    import tensorflow as tf

    gen = tf.keras.preprocessing.image.ImageDataGenerator(**SEED_KWARGS)

    def run(x, y, n):
        out = None
        done = 0
        while done < n:
            m = min(n - done, len(x))
            m -= m % batch
            # .flow converts to float32 on construction; that is part of using it.
            it = gen.flow(x[:m], y[:m], batch_size=batch, shuffle=False, seed=0)
            for _ in range(len(it)):
                out, _labels = next(it)
            done += m
        return out
    return run


def _keras_model(size):
    import keras
    L = keras.layers
    # fill_mode="nearest" matches ImageDataGenerator's default (Keras layers default to
    # "reflect"). RandomZoom: positive factor = zoom out, negative = zoom in, so
    # (-0.1, 0.1) on both axes is ImageDataGenerator's zoom_range=0.1 (independent x/y).
    return keras.Sequential([
        keras.Input((size, size, 3)),
        L.RandomRotation(15 / 360, fill_mode="nearest", seed=1),
        L.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=2),
        L.RandomZoom((-0.1, 0.1), (-0.1, 0.1), fill_mode="nearest", seed=3),
        L.RandomFlip("horizontal", seed=4),
        L.Rescaling(1 / 255),
    ])


def make_keras_eager(size, batch, args):
    model = _keras_model(size)
    return _batchwise(lambda xb, yb: _to_numpy(model(xb, training=True)), batch)


def make_keras_function(size, batch, args):
    import tensorflow as tf
    model = _keras_model(size)

    @tf.function(input_signature=[tf.TensorSpec((batch, size, size, 3), tf.uint8)])
    def augment(t):
        return model(t, training=True)

    return _batchwise(lambda xb, yb: augment(xb).numpy(), batch)


def make_albumentations(size, batch, args):
    try:
        import albumentations as A
    except ImportError as e:
        raise Skip("albumentations not installed") from e
    import cv2

    aug = A.Compose(
        [
            # p=1: Affine defaults to p=0.5, which would skip half the work.
            # BORDER_REPLICATE = ImageDataGenerator's fill_mode="nearest".
            A.Affine(rotate=(-15, 15), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1),
                     interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_REPLICATE, p=1.0),
            A.HorizontalFlip(p=0.5),
            A.ToFloat(max_value=255.0),  # the rescale 1/255
        ],
        seed=0,
    )

    def fn(xb, yb):
        out = np.empty(xb.shape, np.float32)
        for i in range(len(xb)):
            out[i] = aug(image=xb[i])["image"]
        return out
    return opencv_threads(_batchwise(fn, batch))


def _ceiling_matrices(rng, n, size):
    """Forward 2x3 matrices (src -> dst, as cv2.warpAffine takes them) for the seed pipeline."""
    theta = np.deg2rad(rng.uniform(-15, 15, n))
    tx = rng.uniform(-0.1, 0.1, n) * size
    ty = rng.uniform(-0.1, 0.1, n) * size
    zx = rng.uniform(0.9, 1.1, n)
    zy = rng.uniform(0.9, 1.1, n)
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    c = (size - 1) / 2.0
    cos, sin = np.cos(theta), np.sin(theta)
    # forward A = R(theta) @ diag(zx*flip, zy) about the centre, then translate
    a00, a01 = cos * zx * flip, -sin * zy
    a10, a11 = sin * zx * flip, cos * zy
    m = np.empty((n, 2, 3), np.float64)
    m[:, 0, 0], m[:, 0, 1] = a00, a01
    m[:, 1, 0], m[:, 1, 1] = a10, a11
    m[:, 0, 2] = c - a00 * c - a01 * c + tx
    m[:, 1, 2] = c - a10 * c - a11 * c + ty
    return m


def _make_ceiling(size, batch, threads):
    import cv2
    rng = np.random.default_rng(0)
    scale = np.float32(1 / 255)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def warp(xb, m, out, lo, hi):
        for i in range(lo, hi):
            cv2.warpAffine(xb[i], m[i], (size, size), dst=out[i], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)

    def fn(xb, yb):
        m = _ceiling_matrices(rng, len(xb), size)
        out = np.empty_like(xb)
        if pool is None:
            warp(xb, m, out, 0, len(xb))
        else:  # one image per task per thread
            step = -(-len(xb) // threads)
            futs = [pool.submit(warp, xb, m, out, lo, min(lo + step, len(xb)))
                    for lo in range(0, len(xb), step)]
            for f in futs:
                f.result()
        f = out.astype(np.float32)
        return np.multiply(f, scale, out=f)
    # one thread: cv2's own worker threads stay on (they split a 224 px warp across cores);
    # several: cv2's internal threads off, not to oversubscribe the cores
    return opencv_threads(_batchwise(fn, batch), -1 if pool is None else 1)


def opencv_threads(run, count=-1):
    """``run`` with OpenCV's thread count set to ``count`` (-1: OpenCV's default), restored
    afterwards.

    augkit sets OpenCV to one thread once it has run in this process; baselines that call
    OpenCV run with its default, as they would without augkit.
    """
    import cv2

    def wrapped(*args, **kwargs):
        saved = cv2.getNumThreads()
        cv2.setNumThreads(count)
        try:
            return run(*args, **kwargs)
        finally:
            cv2.setNumThreads(saved)
    return wrapped


def make_ceiling(size, batch, args):
    return _make_ceiling(size, batch, 1)


def make_ceiling_threads(size, batch, args):
    return _make_ceiling(size, batch, max(2, os.cpu_count() or 2))


def _augkit_pipeline():
    try:
        import augkit
    except Exception as e:  # ImportError, or a half-written package raising anything
        raise Skip("augkit not importable yet: %s: %s" % (type(e).__name__, e)) from e
    try:
        return augkit.Pipeline.from_keras(**SEED_KWARGS)
    except Exception as e:
        raise Skip("augkit.Pipeline.from_keras(**seed kwargs) failed: %s: %s"
                   % (type(e).__name__, e)) from e


def _make_augkit(size, batch, backend):
    pipeline = _augkit_pipeline()

    def fn(xb, yb):
        images, _labels = pipeline.apply(xb, yb, seed=0, backend=backend)
        return _to_numpy(images)
    return _batchwise(fn, batch)


def make_augkit_cv(size, batch, args):
    return _make_augkit(size, batch, "cv")


def make_augkit_tf(size, batch, args):
    return _make_augkit(size, batch, "tf")


FACTORIES = {
    "idg": make_idg,
    "keras-eager": make_keras_eager,
    "keras-tf.function": make_keras_function,
    "albumentations": make_albumentations,
    "augkit-cv": make_augkit_cv,
    "augkit-tf": make_augkit_tf,
    "cv2-ceiling": make_ceiling,
    "cv2-ceiling-threads": make_ceiling_threads,
}


# --------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------
def _check_output(out, batch, size) -> str | None:
    """A method that returns the wrong thing is not comparable; say so in the table."""
    if out is None:
        return "no output"
    problems = []
    if tuple(out.shape) != (batch, size, size, 3):
        problems.append("shape %s" % (tuple(out.shape),))
    if out.dtype != np.float32:
        problems.append("dtype %s" % out.dtype)
    if out.size and (np.nanmin(out) < -1e-6 or np.nanmax(out) > 1 + 1e-6):
        problems.append("range [%.3g, %.3g]" % (np.nanmin(out), np.nanmax(out)))
    if out.size and not np.isfinite(out).all():
        problems.append("non-finite values")
    return ", ".join(problems) or None


def _timed(run, x, y, n):
    t0 = time.perf_counter()
    out = run(x, y, n)
    return time.perf_counter() - t0, out


def bench_size(size, methods, args, log):
    batch = BATCH.get(size) or max(8, int(round(128 * (32 / size) ** 2 / 8)) * 8)
    pool_n = POOL.get(size) or max(batch * 4, 256)
    if args.quick:
        pool_n = max(batch * 2, pool_n // 4)
    pool_n -= pool_n % batch
    x, y, kind = make_pool(size, pool_n)
    log("\n== %d x %d px, batch %d, pool of %d images (%s)" % (size, size, batch, pool_n, kind))

    rows, runners = {}, {}
    for name in methods:
        row = dict(size=size, method=name, label=METHOD_LABELS[name].format(
            max(2, os.cpu_count() or 2)), batch=batch)
        rows[name] = row
        try:
            run = FACTORIES[name](size, batch, args)
            # warm-up: traces TF functions, fills caches, imports lazily-imported modules
            t_warm, out = _timed(run, x, y, batch * 2)
            row["note"] = _check_output(out, batch, size)
            # calibrate n to ~target seconds from a probe run
            probe = batch * max(2, int(args.probe_batches))
            t_probe, _ = _timed(run, x, y, probe)
            rate = probe / max(t_probe, 1e-9)
            n = fixed_n(args, size, name)
            if n is None:
                n = int(rate * args.target_seconds)
            n = max(probe, n - n % batch)  # never fewer images than the probe
            row.update(n=n, times=[])
            runners[name] = (run, n)
            log("  %-22s warm-up %.2fs, ~%.0f img/s, will time %d images"
                % (name, t_warm, rate, n))
        except Skip as e:
            row["skipped"] = str(e)
            log("  %-22s SKIPPED: %s" % (name, e))
        except Exception as e:
            row["error"] = "%s: %s" % (type(e).__name__, e)
            log("  %-22s ERROR: %s" % (name, row["error"]))
            if args.verbose:
                traceback.print_exc()

    # round-robin so a burst of noise on a shared machine hits every method alike
    for r in range(args.repeat):
        for name, (run, n) in list(runners.items()):
            try:
                t, _ = _timed(run, x, y, n)
                rows[name]["times"].append(t)
            except Exception as e:
                rows[name]["error"] = "%s: %s" % (type(e).__name__, e)
                del runners[name]
                log("  %-22s ERROR during repeat %d: %s" % (name, r, rows[name]["error"]))
    return rates(rows)


def fixed_n(args, size, name):
    src = args.idg_n if name == "idg" else args.n
    if not src:
        return None
    if len(src) == 1:
        return src[0]
    try:
        return src[args.sizes.index(size)]
    except (ValueError, IndexError):
        return src[-1]


def ratios_and_targets(results):
    by = {(r["size"], r["method"]): r.get("rate") for r in results}
    ratios = []
    for (size, method), rate in by.items():
        for num in ("augkit-cv", "augkit-tf"):
            top = by.get((size, num))
            if method != num and top and rate:
                ratios.append(dict(size=size, numerator=num, baseline=method, ratio=top / rate))
    targets = []
    for size, base, need in TARGETS:
        top, rate = by.get((size, "augkit-cv")), by.get((size, base))
        if (size, base) not in by and (size, "augkit-cv") not in by:
            continue
        ratio = top / rate if top and rate else None
        targets.append(dict(size=size, baseline=base, required=need, ratio=ratio,
                            status=("n/a" if ratio is None else
                                    "met" if ratio >= need else "not met")))
    return ratios, targets


def print_tables(results, ratios, targets):
    print("\n%-5s %-40s %6s %8s %8s %10s %10s %12s %12s" % (
        "px", "method", "batch", "images", "best s", "img/s", "median", "augkit-cv /",
        "augkit-tf /"))
    rat = {(r["size"], r["numerator"], r["baseline"]): r["ratio"] for r in ratios}
    for r in results:
        if "rate" not in r:
            why = r.get("skipped") or r.get("error") or "not run"
            print("%-5d %-40s %6d  -- %s" % (r["size"], r["label"], r["batch"], why[:90]))
            continue
        cells = []
        for num in ("augkit-cv", "augkit-tf"):
            v = rat.get((r["size"], num, r["method"]))
            cells.append("%11.2fx" % v if v else "%12s" % ("--" if r["method"] != num else "1x"))
        print("%-5d %-40s %6d %8d %8.3f %10.0f %10.0f %s %s" % (
            r["size"], r["label"], r["batch"], r["n"], r["best_s"], r["rate"],
            r["median_rate"], *cells))
        if r.get("note"):
            print("      ^ output check: %s" % r["note"])
    if targets:
        print("\nTargets (augkit-cv images/s divided by the baseline's):")
        print("%-5s %-28s %10s %10s  %s" % ("px", "baseline", "measured", "required", "status"))
        for t in targets:
            m = "%9.2fx" % t["ratio"] if t["ratio"] else "%10s" % "--"
            print("%-5d %-28s %s %9.1fx  %s" % (
                t["size"], METHOD_LABELS[t["baseline"]], m, t["required"], t["status"]))


def environment():
    env = dict(python=platform.python_version(), platform=platform.platform(),
               cpu_count=os.cpu_count(), numpy=np.__version__)
    try:
        with open("/proc/cpuinfo") as f:
            env["cpu"] = next((line.split(":", 1)[1].strip() for line in f
                               if line.startswith("model name")), None)
    except OSError:
        pass
    for mod in ("cv2", "tensorflow", "keras", "albumentations", "scipy", "augkit"):
        try:
            m = __import__(mod)
            env[mod] = getattr(m, "__version__", "?")
        except Exception:
            env[mod] = None
    try:
        import cv2
        env["cv2_threads"] = cv2.getNumThreads()
    except Exception:
        pass
    return env


def rates(rows):
    """Each timed row's best and median rate (images/s); the rows as a list."""
    for row in rows.values():
        if row.get("times"):
            row["best_s"] = min(row["times"])
            row["rate"] = row["n"] / row["best_s"]
            # the median shows how noisy the machine was for this row
            row["median_rate"] = row["n"] / float(np.median(row["times"]))
    return list(rows.values())


def add_timing_args(ap):
    """The calibration and repeat options every benchmark script here shares."""
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method; best kept")
    ap.add_argument("--target-seconds", type=float, default=1.5,
                    help="aim each measurement at this many seconds (default 1.5)")
    ap.add_argument("--probe-batches", type=int, default=4,
                    help="batches in the calibration probe")


def parse_timing_args(ap, argv):
    """Add ``--quick``, ``--json`` and ``-v``, parse, and apply ``--quick``."""
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: repeat 1, ~0.3 s per measurement, smaller pools")
    ap.add_argument("--json", metavar="OUT", help="also write results to this JSON file")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks on errors")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat = 1
        args.target_seconds = min(args.target_seconds, 0.3)
        args.probe_batches = min(args.probe_batches, 2)
    return args


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 224],
                    help="square image sizes in px (default: 32 224)")
    ap.add_argument("--n", type=int, nargs="+",
                    help="images per measurement, one value or one per size "
                         "(default: calibrated to --target-seconds)")
    ap.add_argument("--idg-n", type=int, nargs="+",
                    help="like --n, for ImageDataGenerator only (it is slow)")
    add_timing_args(ap)
    ap.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=ALL_METHODS)
    args = parse_timing_args(ap, argv)

    def log(msg):
        print(msg, flush=True)

    env = environment()
    log("augkit bench_apply: %s, %s cores, cv2 %s (%s threads), TF %s, Keras %s, "
        "albumentations %s, augkit %s" % (env.get("cpu"), env["cpu_count"], env["cv2"],
                                          env.get("cv2_threads"), env["tensorflow"],
                                          env["keras"], env["albumentations"], env["augkit"]))
    results = []
    for size in args.sizes:
        results.extend(bench_size(size, args.methods, args, log))
    ratios, targets = ratios_and_targets(results)
    print_tables(results, ratios, targets)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(env=env, args=vars(args), seed_pipeline=SEED_KWARGS,
                           results=results, ratios=ratios, targets=targets), f, indent=2)
        log("\nwrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
