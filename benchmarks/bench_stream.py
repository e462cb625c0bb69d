#!/usr/bin/env python
"""Throughput of ``augkit.stream`` against the usual ways of feeding augmented batches to Keras.

The seed pipeline (rotation 15 deg, width/height shift 0.1, zoom 0.1, horizontal flip,
rescale 1/255) is run in one process, on the same uint8 images, by

* ``augkit.stream`` -- the default backend, and ``backend="cv"`` / ``backend="tf"`` side by side
  (the numbers that chose the default), and ``processes=<cores>`` (worker processes; every
  target is printed for it too);
* ``augkit.ImageDataGenerator.flow`` -- the drop-in, drained by indexing;
* Keras' legacy ``ImageDataGenerator.flow`` (needs scipy), drained by indexing;
* Keras 3 preprocessing layers mapped over batches in ``tf.data`` (``num_parallel_calls=AUTOTUNE``);
* albumentations through ``tf.numpy_function``, one image per call, in ``tf.data`` with AUTOTUNE,
  then batched (the usual recipe);
* a bare OpenCV loop on one core: per batch, numpy draws the parameters, one
  ``cv2.warpAffine`` per image with the flip folded into the matrix, one vectorized rescale --
  the least work this pipeline can take, i.e. the ceiling per core.

Every method hands out float32 batches in [0, 1] (checked once); data sets are drained, a new
pass per timing (for a stream, a new epoch: new order, new augmentation). Methods are timed
round-robin ``--repeat`` times and the best pass is kept. ``--rss`` also measures a folder
stream's peak memory on folders of N and 4N PNG files (each in a fresh process).

Usage::

    python benchmarks/bench_stream.py                   # 32 px and 224 px, best of 3
    python benchmarks/bench_stream.py --quick           # smoke run
    python benchmarks/bench_stream.py --sizes 32 --repeat 5 --json stream.json
    python benchmarks/bench_stream.py --rss             # plus the folder memory check
    python benchmarks/bench_stream.py --sizes 32 --pool 50000   # CIFAR-10-sized epochs

Timing numbers belong here and in docs/stream.md, never in tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
for _path in (_REPO, _HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_apply import (  # noqa: E402
    SEED_KWARGS,
    _ceiling_matrices,
    _keras_model,
    make_pool,
    opencv_threads,
)

BATCH = {32: 128, 224: 32}
POOL = {32: 16384, 224: 1024}  # most distinct images any method is given per size
METHODS = {
    "stream": "augkit.stream (default backend)",
    "stream-cv": 'augkit.stream backend="cv"',
    "stream-tf": 'augkit.stream backend="tf"',
    "stream-procs": "augkit.stream processes=<cores>",
    "augkit-idg": "augkit.ImageDataGenerator.flow",
    "idg": "Keras ImageDataGenerator.flow (legacy)",
    "keras-layers": "Keras 3 layers, tf.data map AUTOTUNE",
    "albumentations": "albumentations, numpy_function, AUTOTUNE",
    "ceiling": "ceiling: bare cv2 loop, 1 core",
}
# (baseline, required augkit.stream / baseline, sizes it applies to)
TARGETS = [("idg", 15.0, (32,)), ("idg", 20.0, (224,)), ("keras-layers", 3.0, (32, 224)),
           ("albumentations", 2.0, (32, 224))]
CEILING_TARGET = 0.5


class Skip(Exception):
    """The method cannot run here (missing dependency)."""


# -- methods: factory(x, y, batch) -> run() that drains one pass and returns the last batch -----
def _drain(ds):
    last = None
    for element in ds:
        last = element
    return last[0] if isinstance(last, tuple) else last


def _drain_indexed(it):
    last = None
    for i in range(len(it)):
        last = it[i]
    return last[0] if isinstance(last, tuple) else last


def make_stream(backend, processes=None):
    def factory(x, y, batch):
        import augkit
        from augkit.stream import stream

        pipeline = augkit.Pipeline.from_keras(**SEED_KWARGS)
        ds = stream(x, y, pipeline=pipeline, batch_size=batch, backend=backend,
                    processes=processes)
        return lambda: _drain(ds)
    return factory


def make_augkit_idg(x, y, batch):
    from augkit.idg import ImageDataGenerator

    it = ImageDataGenerator(**SEED_KWARGS).flow(x, y, batch_size=batch, seed=0)
    return lambda: _drain_indexed(it)


def make_idg(x, y, batch):
    try:
        import scipy  # noqa: F401
    except ImportError as exc:
        raise Skip("scipy missing (Keras' class warps with scipy.ndimage)") from exc
    import tensorflow as tf

    gen = tf.keras.preprocessing.image.ImageDataGenerator(**SEED_KWARGS)

    def run():
        # flow() converts x to float32 when created: part of using it, so timed too
        return _drain_indexed(gen.flow(x, y, batch_size=batch, seed=0))
    return run


def make_keras_layers(x, y, batch):
    import tensorflow as tf

    size = x.shape[1]
    model = _keras_model(size)
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
          .map(lambda images, labels: (model(images, training=True), labels),
               num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))
    return lambda: _drain(ds)


def make_albumentations(x, y, batch):
    try:
        import albumentations as A
    except ImportError as exc:
        raise Skip("albumentations not installed") from exc
    import cv2
    import tensorflow as tf

    aug = A.Compose([
        A.Affine(rotate=(-15, 15), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1),
                 interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_REPLICATE, p=1.0),
        A.HorizontalFlip(p=0.5),
        A.ToFloat(max_value=255.0),
    ], seed=0)
    shape = x.shape[1:]

    def one(image):
        return aug(image=image)["image"]

    def mapped(image, label):
        out = tf.numpy_function(one, [image], tf.float32, stateful=False)
        return tf.ensure_shape(out, shape), label

    ds = (tf.data.Dataset.from_tensor_slices((x, y))
          .map(mapped, num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch).prefetch(tf.data.AUTOTUNE))
    return opencv_threads(lambda: _drain(ds))


def make_ceiling(x, y, batch):
    import cv2

    size = x.shape[1]
    rng = np.random.default_rng(0)
    scale = np.float32(1 / 255)

    def run():
        out = None
        for start in range(0, len(x), batch):
            xb = x[start:start + batch]
            m = _ceiling_matrices(rng, len(xb), size)
            warped = np.empty_like(xb)
            for i in range(len(xb)):
                cv2.warpAffine(xb[i], m[i], (size, size), dst=warped[i],
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out = warped.astype(np.float32)
            np.multiply(out, scale, out=out)
        return out
    return opencv_threads(run, 1)  # one core: this row is the per-core ceiling


FACTORIES = {
    "stream": make_stream(None), "stream-cv": make_stream("cv"), "stream-tf": make_stream("tf"),
    "stream-procs": make_stream(None, processes=os.cpu_count() or 1),
    "augkit-idg": make_augkit_idg, "idg": make_idg, "keras-layers": make_keras_layers,
    "albumentations": make_albumentations, "ceiling": make_ceiling,
}


# -- measurement --------------------------------------------------------------------------------
def _check(out, batch, size):
    out = np.asarray(out)
    problems = []
    if out.shape[1:] != (size, size, 3) or out.shape[0] > batch:
        problems.append(f"shape {out.shape}")
    if out.dtype != np.float32:
        problems.append(f"dtype {out.dtype}")
    elif out.size and (out.min() < -1e-6 or out.max() > 1 + 1e-6 or not np.isfinite(out).all()):
        problems.append(f"range [{out.min():.3g}, {out.max():.3g}]")
    return ", ".join(problems) or None


def _timed(run):
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def bench_size(size, methods, args, log):
    batch = BATCH.get(size, 32)
    pool = POOL.get(size, 1024) // (4 if args.quick else 1)
    if args.pool:
        pool = args.pool[min(args.sizes.index(size), len(args.pool) - 1)]
    x, y, kind = make_pool(size, pool)
    log(f"\n== {size}x{size} px, batch {batch}, up to {pool} images ({kind})")
    rows, runners = {}, {}
    for name in methods:
        row = rows[name] = dict(size=size, method=name, label=METHODS[name], batch=batch)
        try:
            probe_n = batch * 4
            run = FACTORIES[name](x[:probe_n], y[:probe_n], batch)
            _timed(run)  # warm-up: tracing, lazy imports
            t_probe, _ = _timed(run)
            if args.pool:  # an epoch over the whole pool, for every method
                n = pool // batch * batch
            else:  # a pass of about --target-seconds at the probe's rate
                n = int(probe_n / max(t_probe, 1e-9) * args.target_seconds)
                n = int(min(max(n, probe_n), pool)) // batch * batch
            run = FACTORIES[name](x[:n], y[:n], batch)
            _, out = _timed(run)  # warm-up of the full-size data set
            row.update(n=n, times=[], note=_check(out, batch, size))
            runners[name] = run
            log(f"  {name:15s} ~{probe_n / t_probe:9.0f} img/s in the probe, timing {n} images")
        except Skip as exc:
            row["skipped"] = str(exc)
            log(f"  {name:15s} SKIPPED: {exc}")
        except Exception as exc:  # a broken baseline must not hide the others
            row["error"] = f"{type(exc).__name__}: {exc}"
            log(f"  {name:15s} ERROR: {row['error']}")
            if args.verbose:
                traceback.print_exc()
    for _ in range(args.repeat):  # round-robin: load bursts hit every method alike
        for name, run in runners.items():
            seconds, _ = _timed(run)
            rows[name]["times"].append(seconds)
    for row in rows.values():
        if row.get("times"):
            row["rate"] = row["n"] / min(row["times"])
            row["median_rate"] = row["n"] / float(np.median(row["times"]))
    return list(rows.values())


def summarize(results, cores):
    """Each target's ratio from the best passes, and from the median passes (how reliably),
    for the default stream and for the stream with worker processes."""
    rate = {(r["size"], r["method"]): r.get("rate") for r in results}
    median = {(r["size"], r["method"]): r.get("median_rate") for r in results}

    def ratio(table, size, top, base, per=1):
        mine, other = table.get((size, top)), table.get((size, base))
        return mine / per / other if mine and other else None

    targets = []
    for size in sorted({r["size"] for r in results}):
        for top in ("stream", "stream-procs"):
            if not rate.get((size, top)):
                continue
            for base, need, sizes in TARGETS:
                if size in sizes and (size, base) in rate:
                    targets.append(dict(size=size, top=top, baseline=base, required=need,
                                        ratio=ratio(rate, size, top, base),
                                        median_ratio=ratio(median, size, top, base)))
            if rate.get((size, "ceiling")):
                targets.append(dict(size=size, top=top, baseline="ceiling",
                                    required=CEILING_TARGET,
                                    ratio=ratio(rate, size, top, "ceiling", cores),
                                    median_ratio=ratio(median, size, top, "ceiling", cores),
                                    per_core=rate[(size, top)] / cores))
    for t in targets:
        t["status"] = "n/a" if t["ratio"] is None else (
            "met" if t["ratio"] >= t["required"] else "not met")
    return targets


def print_tables(results, targets, cores):
    rate = {(r["size"], r["method"]): r.get("rate") for r in results}
    print(f"\n{'px':>4} {'method':44s} {'batch':>5} {'images':>7} {'img/s':>9} {'median':>9} "
          f"{'stream /':>9}")
    for r in results:
        if "rate" not in r:
            reason = r.get("skipped") or r.get("error") or "not run"
            print(f"{r['size']:4d} {r['label']:44s} {r['batch']:5d}  -- {reason[:80]}")
            continue
        top = rate.get((r["size"], "stream"))
        ratio = f"{top / r['rate']:8.2f}x" if top else "       --"
        print(f"{r['size']:4d} {r['label']:44s} {r['batch']:5d} {r['n']:7d} {r['rate']:9.0f} "
              f"{r['median_rate']:9.0f} {ratio}")
        if r.get("note"):
            print(f"     ^ output check: {r['note']}")
    print(f"\nTargets ({cores} cores, from the best passes; 'ceiling' compares augkit.stream "
          f"img/s per core with the one-core OpenCV loop):")
    for t in targets:
        measured = f"{t['ratio']:.2f}x" if t["ratio"] is not None else "--"
        extra = f"  (median passes {t['median_ratio']:.2f}x)" if t.get("median_ratio") else ""
        extra += f"  ({t['per_core']:.0f} img/s per core)" if "per_core" in t else ""
        print(f"{t['size']:4d}  {t['top']:12s} vs {t['baseline']:15s} {measured:>8s}  required "
              f"{t['required']:g}x  {t['status']}{extra}")


# -- folder memory (--rss) ----------------------------------------------------------------------
def _peak_rss_mib():
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_child(folder, size):
    import augkit
    from augkit.stream import stream

    ds = stream(folder, pipeline=augkit.Pipeline.from_keras(**SEED_KWARGS), batch_size=32,
                image_size=(size, size))
    baseline = _peak_rss_mib()  # TensorFlow and Keras imported, nothing decoded yet
    start = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in ds)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(files=count, seconds=seconds, peak_mib=_peak_rss_mib(),
                          baseline_mib=baseline)))


def bench_rss(args, log):
    from augkit.io import write_png

    size, base = 224, (64 if args.quick else 250)
    x, _, _ = make_pool(size, base * 4)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in (base, base * 4):
            folder = os.path.join(tmp, f"n{count}")
            for i in range(count):
                cls = os.path.join(folder, f"c{i % 4}")
                os.makedirs(cls, exist_ok=True)
                write_png(os.path.join(cls, f"{i:05d}.png"), x[i])
            out = subprocess.run([sys.executable, __file__, "--rss-child", folder, str(size)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["decoded_mib"] = count * size * size * 3 / 2**20
            results.append(row)
            log(f"  folder of {count} PNG files ({size} px): peak RSS {row['peak_mib']:.0f} MiB, "
                f"{row['peak_mib'] - row['baseline_mib']:+.0f} MiB over the process with TF "
                f"loaded (all images decoded: {row['decoded_mib']:.0f} MiB), "
                f"{row['files'] / row['seconds']:.0f} files/s")
    growth = results[1]["peak_mib"] - results[0]["peak_mib"]
    log(f"  RSS growth for 4x the files: {growth:+.0f} MiB "
        f"(decoded size grew by {results[1]['decoded_mib'] - results[0]['decoded_mib']:.0f} MiB)")
    return results


def environment():
    env = dict(python=platform.python_version(), platform=platform.platform(),
               cores=os.cpu_count())
    for mod in ("numpy", "cv2", "tensorflow", "keras", "albumentations", "scipy"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:
            env[mod] = None
    try:
        env["load_average"] = os.getloadavg()
    except OSError:
        pass
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best is kept")
    parser.add_argument("--target-seconds", type=float, default=2.0,
                        help="aim each pass at about this long (default 2)")
    parser.add_argument("--pool", type=int, nargs="+", metavar="N",
                        help="distinct images per size, one value or one per size (default "
                             "16384 at 32 px, 1024 at 224 px). Given, every method drains all of "
                             "them per pass (an epoch, e.g. 50000 as CIFAR-10); otherwise each "
                             "pass is sized to about --target-seconds from a short probe")
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--rss", action="store_true", help="also measure folder-stream memory")
    parser.add_argument("--json", metavar="OUT", help="also write the results here")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--rss-child", nargs=2, metavar=("FOLDER", "SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _rss_child(args.rss_child[0], int(args.rss_child[1]))
        return 0
    if args.quick:
        args.repeat, args.target_seconds = 1, 0.5

    def log(message):
        print(message, flush=True)

    env = environment()
    cores = env["cores"] or 1
    log(f"augkit bench_stream: {cores} cores, TF {env['tensorflow']}, Keras {env['keras']}, "
        f"cv2 {env['cv2']}, albumentations {env['albumentations']}, load {env.get('load_average')}")
    results = []
    for size in args.sizes:
        results += bench_size(size, args.methods, args, log)
    targets = summarize(results, cores)
    print_tables(results, targets, cores)
    rss = bench_rss(args, log) if args.rss else None
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(dict(env=env, args=vars(args), results=results, targets=targets, rss=rss),
                      handle, indent=2)
        log(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
