"""Offline expansion: write K augmented copies of every source image to files, with dask.

Reproducible (output bytes depend only on pipeline, seed, source item and copy number),
resumable (a rerun finishes what is missing and recomputes nothing), exactly-once (every file
appears atomically under its planned name), safe on hostile input (a bad file becomes a failed
manifest row, never a dead job or a path outside the output folder). See ``docs/expand.md``.

Example:
    >>> import augkit, tempfile, os
    >>> from augkit.expansion import expand
    >>> from PIL import Image
    >>> import numpy as np
    >>> src = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(src, "cat"))
    >>> Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(os.path.join(src, "cat", "a.png"))
    >>> out = os.path.join(tempfile.mkdtemp(), "out")
    >>> summary = expand(src, out, pipeline=augkit.Pipeline.default(), copies=2,
    ...                  scheduler="synchronous")
    >>> summary.written, sorted(os.listdir(os.path.join(out, "cat")))
    (3, ['a_c0.png', 'a_c1.png', 'a_c2.png'])
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from augkit.errors import InputError, SpecError
from augkit.expansion import manifest as mf
from augkit.expansion import state
from augkit.expansion.inputs import Source, extract, open_source
from augkit.expansion.manifest import COLUMNS, MANIFEST, pipeline_hash
from augkit.expansion.plan import FORMATS, Plan, make_plan
from augkit.expansion.run import LOCAL_SCHEDULERS, Executor, make_tasks
from augkit.expansion.summary import ExpandSummary, Progress, ProgressBar
from augkit.expansion.worker import TaskResult, TaskSpec
from augkit.io import COLOR_MODES, DEFAULT_MAX_PIXELS

__all__ = ["COLUMNS", "FORMATS", "LOCAL_SCHEDULERS", "ExpandSummary", "Progress", "ProgressBar",
           "expand", "pipeline_hash"]


def _positive(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum or (
            maximum is not None and value > maximum):
        allowed = f"an integer from {minimum}" + (f" to {maximum}" if maximum else " up")
        raise SpecError(f"{name}: got {value!r}; allowed: {allowed}")
    return int(value)


def _as_pipeline(pipeline: Any) -> Any:
    from augkit.pipeline import Pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, dict):
        return Pipeline.from_dict(pipeline)
    if isinstance(pipeline, (str, os.PathLike)):
        from augkit.spec import load

        return load(pipeline)
    raise SpecError(f"pipeline: got {type(pipeline).__name__}; allowed: an augkit.Pipeline, its "
                    "dict form, or the path of a YAML/JSON spec")


def _check_compatible(pipeline: Any, source: Source, fmt: str, color_mode: str) -> None:
    from augkit.ops.mixing import is_mixing

    for i, op in enumerate(pipeline.ops):
        if is_mixing(op):
            raise SpecError(f"pipeline ops[{i}] ({op.name}) mixes images and labels across a "
                            "batch, which an expansion (one image at a time, class-folder "
                            "labels) cannot store; allowed: per-image ops. Mix on the fly "
                            "instead: augkit.stream(..., pipeline=...) on the expanded output")
        if "cv" not in op.backends:
            raise SpecError(f"pipeline ops[{i}] ({op.name}) does not run on the cv backend, "
                            "which expansion uses; allowed: ops with 'cv' in their backends")
    if fmt != "npz" and pipeline.output_dtype("uint8") != "uint8":
        raise SpecError(f"format={fmt!r} stores 8-bit pictures, but this pipeline outputs "
                        "float32 (it rescales or normalizes). Drop rescale/normalize from the "
                        "expansion pipeline and apply them when training, or use format='npz'")
    if fmt == "jpeg" and (color_mode == "rgba" or 4 in source.channels()):
        raise SpecError("format='jpeg' cannot store an alpha channel; allowed with 4-channel "
                        "images: png, npz, tfrecord (or color_mode='rgb')")


def _check_overlap(source: Source, out_dir: str) -> None:
    out = os.path.realpath(out_dir)
    if source.kind == "npz":  # only the file itself must stay out of the output folder
        inside = os.path.realpath(source.path).startswith(out + os.sep)
    else:  # a folder of images, or an earlier expansion (the manifest's folder)
        src = os.path.realpath(source.path if source.kind == "directory"
                               else os.path.dirname(source.path))
        inside = src == out or out.startswith(src + os.sep) or src.startswith(out + os.sep)
    if inside:
        raise InputError(f"{out_dir}: the output folder and the source {source.path} overlap; "
                         "choose an output folder outside the source (and not containing it)")


def expand(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    pipeline: Any,
    copies: int,
    seed: int = 0,
    format: str = "png",
    include_original: bool = True,
    workers: int | None = None,
    scheduler: Any = None,
    overwrite: bool = False,
    strict: bool = False,
    batch_size: int | None = None,
    shard_size: int = 512,
    jpeg_quality: int = 95,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    color_mode: str = "rgb",
    fsync: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> ExpandSummary:
    """Write ``copies`` augmented copies of every source image (and the original) to ``out_dir``.

    Output: ``out_dir/<class>/<name>_c<copy>.<png|jpg>`` for image formats (readable by
    ``keras.utils.image_dataset_from_directory`` and ``augkit.stream``), or
    ``out_dir/shard-NNNNN-of-MMMMM.<npz|tfrecord>``; plus ``out_dir/manifest.csv`` (one row per
    planned output) and ``out_dir/expand.json`` (the job spec). Copy ``k >= 1`` of source item
    ``i`` is ``pipeline.apply(x, seed=seed, index=[i], epoch=k)``; copy 0 is the decoded original.

    Args:
        source: a class-per-folder directory (searched recursively), an ``.npz`` with ``x``
            (N, H, W[, C]) and ``y`` (labels), or a ``manifest.csv`` of an earlier expansion.
        out_dir: output folder: new, empty, or an earlier expansion of the same job (resumed).
        pipeline: an :class:`augkit.Pipeline`, its dict form, or a YAML/JSON spec path.
        copies: augmented copies per source image (0 with ``include_original`` just converts).
        seed: the pipeline seed, a non-negative integer.
        format: ``"png"``, ``"jpeg"``, ``"npz"`` or ``"tfrecord"`` (TFRecord needs TensorFlow on
            the workers).
        include_original: also write each decoded source image as copy 0.
        workers: local worker count (default: the usable cores). Not for an existing cluster.
        scheduler: ``None`` or ``"processes"`` (local worker processes, the default),
            ``"threads"`` (one local process), ``"synchronous"`` (no dask, this process), an
            address ``"tcp://host:8786"`` / ``"tls://host:8786"`` of a running
            ``dask.distributed`` scheduler, or a ``distributed.Client``.
        overwrite: replace an earlier expansion with a different spec in ``out_dir`` (only
            the files its manifest lists are deleted).
        strict: raise :class:`~augkit.errors.InputError` (after finishing and writing the
            manifest) if any output failed.
        batch_size: outputs per dask task (default: up to 64, at least ~4 tasks per worker).
        shard_size: outputs per shard for ``npz``/``tfrecord``.
        jpeg_quality: 1-100 for ``format="jpeg"``.
        max_pixels: refuse source images with more pixels (decompression-bomb guard, checked
            on the header; default Pillow's 89,478,485); ``None`` for no augkit limit.
        color_mode: how image files are decoded: ``"rgb"``, ``"grayscale"`` or ``"rgba"``.
        fsync: flush every file to disk before renaming it into place (survives power loss,
            costs about a millisecond per file).
        progress: called with a :class:`Progress` as outputs complete (e.g. a
            :class:`ProgressBar`).

    Returns:
        An :class:`ExpandSummary`: counts written / already present / failed, the failures with
        their reasons, images per second.

    Raises:
        SpecError: invalid arguments, or ``out_dir`` holds an expansion with a different
            pipeline, seed, copies, format, options or source listing (and ``overwrite`` is
            off); nothing is changed then.
        InputError: the source is missing or unusable as a whole, ``out_dir`` holds foreign
            files or overlaps the source, or ``strict`` and some outputs failed.
    """
    started = time.monotonic()
    fmt = format
    if fmt not in FORMATS:
        raise SpecError(f"format: got {fmt!r}; allowed: {', '.join(FORMATS)}")
    copies = _positive("copies", copies, minimum=0)
    seed = _positive("seed", seed, minimum=0, maximum=2**63 - 1)
    jpeg_quality = _positive("jpeg_quality", jpeg_quality, 1, 100)
    shard_size = _positive("shard_size", shard_size)
    if batch_size is not None:
        batch_size = _positive("batch_size", batch_size)
    if max_pixels is not None:
        max_pixels = _positive("max_pixels", max_pixels)
    if color_mode not in COLOR_MODES:
        raise SpecError(f"color_mode: got {color_mode!r}; allowed: {', '.join(COLOR_MODES)}")
    if copies == 0 and not include_original:
        raise SpecError("copies=0 with include_original=False plans no output; allowed: "
                        "copies >= 1, or include_original=True")
    pipe = _as_pipeline(pipeline)
    phash = pipeline_hash(pipe)
    out = os.path.abspath(os.fspath(out_dir))
    src = open_source(source, max_pixels=max_pixels)
    _check_overlap(src, out)
    _check_compatible(pipe, src, fmt, color_mode)
    plan = make_plan(src, copies=copies, include_original=bool(include_original), fmt=fmt,
                     shard_size=shard_size)
    import augkit

    options: dict[str, Any] = {"max_pixels": max_pixels, "color_mode": color_mode}
    if fmt == "jpeg":
        options["jpeg_quality"] = jpeg_quality
    if plan.sharded:
        options["shard_size"] = shard_size
    spec = {"augkit_expand": mf.SPEC_VERSION, "augkit_version": augkit.__version__,
            "pipeline": pipe.to_dict(), "pipeline_hash": phash, "seed": seed, "copies": copies,
            "include_original": bool(include_original), "format": fmt, "options": options,
            "plan": plan.digest(), "items": plan.rows, "source": mf.printable(src.path),
            "source_kind": src.kind}
    state.claim(out, spec, overwrite=overwrite)  # refuse before touching anything
    executor = Executor(scheduler, workers)
    try:
        existing = out
        while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        executor.check_paths([existing, src.path])
        os.makedirs(out, exist_ok=True)
        with state.RunLock(out):
            stored = state.claim(out, spec, overwrite=overwrite)
            generation = state.fence(out, say=state.say)
            try:
                if stored is not None and stored.get("_replace"):
                    state.remove_previous(out)
                state.clean_temporaries(out)
                if stored is None or stored.get("_replace"):
                    mf.write_spec(out, spec)
                state.make_folders(out, plan)
                arrays = {key: extract(ref, out) for key, ref in src.arrays.items()}
                task_spec = TaskSpec(
                    out_dir=out, fmt=fmt, seed=seed, pipeline=pipe.to_dict(), pipeline_hash=phash,
                    generation=generation, version=augkit.__version__, jpeg_quality=jpeg_quality,
                    max_pixels=max_pixels, color_mode=color_mode, fsync=bool(fsync),
                    cv2_threads=1 if executor.kind in ("processes", "threads") else None,
                    arrays=arrays, class_names=_class_list(src))
            except BaseException:  # e.g. a symlinked class folder: leave no generation
                state.fence(out, final=True)
                raise
            return _execute(plan, task_spec, executor, out, phash, started, batch_size,
                            progress, strict)
    finally:
        executor.close()


def _class_list(source: Source) -> tuple[str, ...]:
    top = max(source.class_names, default=-1)
    return tuple(source.class_names.get(k, str(k)) for k in range(top + 1))


def _execute(plan: Plan, spec: TaskSpec, executor: Executor, out: str, phash: str,
             started: float, batch_size: int | None, progress: Any,
             strict: bool) -> ExpandSummary:
    status, errors, shard_rows = state.scan(out, plan)
    present = int((status == state.OK).sum())
    earlier_failed = int((status == state.FAILED).sum())
    manifest = os.path.join(out, MANIFEST)
    mf.write_manifest(manifest, _manifest_rows(plan, spec.seed, phash, status, errors,
                                               shard_rows))
    counts = {"written": 0, "failed": earlier_failed}
    work_started = time.monotonic()

    def on_result(result: TaskResult) -> None:
        for r, outcome, error, shard_row in result.rows:
            if outcome == "ok":
                status[r], shard_rows[r] = state.OK, shard_row
                errors.pop(r, None)
            elif outcome == "failed":
                status[r], errors[r] = state.FAILED, error
                counts["failed"] += 1
        counts["written"] += result.written

    def tick() -> None:
        if progress is not None:
            done = present + counts["written"] + counts["failed"]
            progress(Progress(done, plan.rows, counts["written"], present, counts["failed"],
                              time.monotonic() - work_started))

    todo = np.flatnonzero(status == state.PENDING)
    if batch_size is None:
        batch_size = int(max(1, min(64, -(-len(todo) // (4 * executor.threads())))))
    pending = ((int(r), plan.items[int(r) // len(plan.copies)],
                plan.copies[int(r) % len(plan.copies)], plan.output(int(r))) for r in todo)
    tasks = make_tasks(pending, batch=batch_size,
                       shard_size=plan.shard_size if plan.sharded else None)
    tick()
    interrupted = True
    try:
        executor.run(spec, tasks, on_result, tick)
        interrupted = False
    finally:
        executor.close()  # stop local workers before the final fence (Ctrl-C included)
        state.fence(out, final=True)
        state.clean_temporaries(out)
        if interrupted:  # results still in flight were lost: the folder says what exists
            disk, _, disk_rows = state.scan(out, plan)
            fresh = (disk == state.OK) & (status != state.OK)
            status[fresh], shard_rows[fresh] = state.OK, disk_rows[fresh]
        if not (status != state.OK).any():
            for name in os.listdir(out):
                if name.startswith(".augkit-cache-"):
                    os.unlink(os.path.join(out, name))
        mf.write_manifest(manifest, _manifest_rows(plan, spec.seed, phash, status, errors,
                                                   shard_rows))
    summary = ExpandSummary(
        out_dir=out, manifest=manifest, planned=plan.rows, written=counts["written"],
        present=present, failed=int((status == state.FAILED).sum()),
        failures=_failures(plan, errors), seconds=time.monotonic() - started,
        pipeline_hash=phash)
    if strict and summary.failed:
        error = InputError(f"{summary.failed} of {summary.planned} outputs failed "
                           f"(strict):\n{summary.text()}")
        error.summary = summary  # type: ignore[attr-defined]
        raise error
    return summary


def _manifest_rows(plan: Plan, seed: int, phash: str, status: np.ndarray, errors: dict,
                   shard_rows: np.ndarray):
    names = ("pending", "ok", "failed")
    for r in range(plan.rows):
        pos, copy = plan.locate(r)
        item = plan.items[pos]
        yield (plan.output(r), "" if shard_rows[r] < 0 else int(shard_rows[r]),
               mf.printable(item.source), item.index, mf.printable(
                   plan.source.class_names.get(item.label, str(item.label))),
               item.label, copy, seed, phash, names[status[r]], mf.printable(errors.get(r, "")))


def _failures(plan: Plan, errors: dict[int, str]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for r in sorted(errors):
        item = plan.items[r // len(plan.copies)]
        reason = errors[r]
        prefix = mf.printable(item.path or "\0") + ": "
        if reason.startswith(prefix):  # the summary names the source already
            reason = reason[len(prefix):]
        seen.setdefault((mf.printable(item.source) or f"x[{item.row}]", reason), None)
    return list(seen)
