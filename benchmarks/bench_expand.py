#!/usr/bin/env python
"""Throughput of ``augkit expand`` against a bare loop, side by side on the same data.

Rows (images per second, outputs = source images x (copies + 1 original)):

* ``bare loop`` -- one Python loop in this process: ``read_image`` -> ``Pipeline.apply`` (N=1)
  -> PNG encode -> atomic write, exactly the per-image work of an expansion, no dask, no plan;
* ``expand synchronous`` -- :func:`augkit.expand` without dask (plan, manifest, resume scan);
* ``expand processes/threads xN`` -- on a local dask cluster of N worker processes (one thread
  each) or of one process with N threads.

Each row is timed twice: ``wall`` (the whole call: listing, planning, cluster start, manifest)
and ``work`` (the steady rate while tasks run, from the first progress report past 10 % of the
outputs to the last: the per-image cost the dask machinery adds, without start-up). OpenCV runs
single-threaded everywhere (as in expand's local workers), so one worker means one core. The
load average is printed too: on a shared machine other jobs take cores and flatten scaling;
``cpu ms/img`` (CPU time of this process and of the local worker processes, start-up included,
per output) does not depend on what else runs.

Usage::

    python benchmarks/bench_expand.py                      # 600 images, 64 px, 4 copies
    python benchmarks/bench_expand.py --images 120 --size 224 --copies 4
    python benchmarks/bench_expand.py --quick               # smoke run
    python benchmarks/bench_expand.py --dir /dev/shm        # in memory: no disk noise

Timing numbers belong here and in docs/expand.md, never in tests.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)


def _make_source(root: str, images: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(images):
        folder = os.path.join(root, f"class{i % 4}")
        os.makedirs(folder, exist_ok=True)
        # smooth gradients plus a little noise: compresses like a photo, not like pure noise
        base = rng.integers(0, 256, 3)
        img = (base + x[..., None] * rng.integers(1, 4, 3) + y[..., None] * rng.integers(1, 4, 3)
               + rng.integers(0, 8, (size, size, 3))) % 256
        Image.fromarray(img.astype(np.uint8)).save(os.path.join(folder, f"img{i:05d}.png"))


def _bare_loop(src: str, out: str, pipeline, copies: int) -> tuple[int, float]:
    import cv2

    from augkit.expansion.worker import encode, write_atomic
    from augkit.io import read_image
    from augkit.sources import scan_directory

    cv2.setNumThreads(1)
    listing = scan_directory(src)
    for name in listing.class_names:
        os.makedirs(os.path.join(out, name), exist_ok=True)
    start = time.perf_counter()
    n = 0
    for i, rel in enumerate(listing.paths):
        x = read_image(listing.absolute(i))
        stem = os.path.splitext(rel)[0]
        for k in range(copies + 1):
            y = x if k == 0 else pipeline.apply(x[None], seed=0, index=[i], epoch=k)[0][0]
            write_atomic(os.path.join(out, f"{stem}_c{k}.png"), encode(y, "png", 0))
            n += 1
    return n, time.perf_counter() - start


def _expand(src: str, out: str, pipeline, copies: int, **kwargs) -> tuple[int, float, float]:
    from augkit.expansion import expand

    ticks: list[tuple[float, int]] = []
    start = time.perf_counter()
    summary = expand(src, out, pipeline=pipeline, copies=copies,
                     progress=lambda p: ticks.append((time.perf_counter(), p.written)), **kwargs)
    wall = time.perf_counter() - start
    assert summary.ok, summary.text()
    # Steady state: from the first report past 10 % to the end (new worker processes import
    # augkit, OpenCV and Pillow on their first task; that is start-up, not per-image cost).
    t0, n0 = next((t, n) for t, n in ticks if n >= 0.1 * summary.written)
    t1, n1 = ticks[-1]
    return summary.written, wall, (t1 - t0) * summary.written / max(n1 - n0, 1)


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (local dask workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs per row")
    parser.add_argument("--quick", action="store_true", help="60 images, 1 repeat")
    parser.add_argument("--dir", default=None,
                        help="where to write (e.g. /dev/shm to take disk noise out of the "
                             "comparison); default: the system's temporary folder")
    args = parser.parse_args()
    if args.quick:
        args.images, args.repeat = 60, 1

    import augkit

    pipeline = augkit.Pipeline.default()
    work = tempfile.mkdtemp(prefix="augkit-bench-expand-", dir=args.dir)
    try:
        src = os.path.join(work, "src")
        _make_source(src, args.images, args.size)
        outputs = args.images * (args.copies + 1)
        print(f"{args.images} source images of {args.size}x{args.size} px, {args.copies} copies "
              f"+ original = {outputs} PNG outputs; {os.cpu_count()} cores; best of "
              f"{args.repeat}; writing to {work}; load average {os.getloadavg()[0]:.2f}")
        rows: dict[str, tuple[float, float]] = {}
        modes = [
            ("bare loop", None),
            ("expand synchronous", {"scheduler": "synchronous"}),
            ("expand processes x1", {"scheduler": "processes", "workers": 1}),
            ("expand processes x2", {"scheduler": "processes", "workers": 2}),
            ("expand threads x1", {"scheduler": "threads", "workers": 1}),
            ("expand threads x2", {"scheduler": "threads", "workers": 2}),
        ]
        for run in range(args.repeat):
            for label, kwargs in modes:
                out = os.path.join(work, f"out-{run}-{label.replace(' ', '-')}")
                cpu = _cpu()
                if kwargs is None:
                    n, seconds = _bare_loop(src, out, pipeline, args.copies)
                    wall = work_s = seconds
                else:
                    n, wall, work_s = _expand(src, out, pipeline, args.copies, **kwargs)
                cpu = (_cpu() - cpu) * 1000 / n
                assert n == outputs, (label, n)
                best = rows.get(label, (0.0, 0.0, float("inf")))
                rows[label] = (max(best[0], n / wall), max(best[1], n / work_s), min(best[2], cpu))
                shutil.rmtree(out)
        bare = rows["bare loop"][1]
        print(f"\n{'mode':<22}{'wall img/s':>12}{'work img/s':>12}{'vs bare (work)':>16}"
              f"{'cpu ms/img':>12}")
        for label, (wall_rate, work_rate, cpu_ms) in rows.items():
            print(f"{label:<22}{wall_rate:>12.1f}{work_rate:>12.1f}{work_rate / bare:>15.2f}x"
                  f"{cpu_ms:>12.2f}")
        p1, p2 = rows["expand processes x1"][1], rows["expand processes x2"][1]
        t1, t2 = rows["expand threads x1"][1], rows["expand threads x2"][1]
        cpu_bare, cpu_p1 = rows["bare loop"][2], rows["expand processes x1"][2]
        print(f"\nprocesses: 2 workers / 1 worker = {p2 / p1:.2f}x (target >= 1.7x)")
        print(f"threads:   2 workers / 1 worker = {t2 / t1:.2f}x")
        print(f"dask overhead per image, 1 worker process vs bare loop: "
              f"{(bare / p1 - 1) * 100:+.1f}% (target <= +20%)")
        print(f"CPU per image, 1 worker process (all processes, start-up included) vs bare loop: "
              f"{(cpu_p1 / cpu_bare - 1) * 100:+.1f}%")
        print(f"processes x2 vs threads x2: {p2 / t2:.2f}x")
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (1.0 = one core busy)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
