"""What runs on a worker: read, augment, encode and atomically write one batch of planned rows.

:func:`run_task` is the only function dask ships to workers; everything it needs travels in a
small :class:`TaskSpec` and :class:`Task` (no pixels, no open files), so it runs the same in
the calling process, in threads, in local processes or on a remote ``dask.distributed`` cluster
that sees the same file system paths.

Files are written under a temporary name ``.augkit-tmp-<random>.<name>`` in their final folder
and renamed into place (``os.replace``), so a reader never sees a partial file and a killed
writer leaves at most a temporary file, which the coordinator removes. Each task writes only
while it holds a shared lock on ``OUT/.augkit-expand.lock`` and only if ``OUT/.augkit-expand.gen``
still names its run: a rerun changes the generation and then takes the lock exclusively, which
waits for any writer of the killed run that is still finishing, and stops all later ones.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.expansion.inputs import ArrayRef, Item
from augkit.expansion.manifest import printable
from augkit.io import replacing

try:  # advisory locks; absent on Windows, where stale-writer fencing is not available
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

TMP_PREFIX = ".augkit-tmp-"
LOCK = ".augkit-expand.lock"
GENERATION = ".augkit-expand.gen"

OK, FAILED, SUPERSEDED = "ok", "failed", "superseded"


@dataclass(frozen=True)
class TaskSpec:
    """Everything about the job a worker needs (the same for every task of a run)."""

    out_dir: str
    fmt: str
    seed: int
    pipeline: dict
    pipeline_hash: str
    generation: str
    version: str
    jpeg_quality: int = 95
    max_pixels: int | None = None
    color_mode: str = "rgb"
    fsync: bool = False
    cv2_threads: int | None = None
    arrays: dict[str, ArrayRef] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """A batch of planned rows: ``(row, item, copy, output path relative to OUT)``.

    For shard formats all rows belong to shard ``shard`` (whose file is ``rows[0][3]``).
    """

    key: int
    rows: tuple[tuple[int, Item, int, str], ...]
    shard: int = -1


@dataclass
class TaskResult:
    """Outcome of a task: ``(row, status, error, shard_row)`` per row."""

    key: int
    rows: list[tuple[int, str, str, int]]
    written: int = 0


# -- fencing --------------------------------------------------------------------------------
def read_generation(out_dir: str) -> str:
    try:
        with open(os.path.join(out_dir, GENERATION), encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""


@contextmanager
def writer_fence(out_dir: str, generation: str) -> Iterator[bool]:
    """Hold a shared lock on the output folder; yields whether ``generation`` is current."""
    if fcntl is None:  # pragma: no cover
        yield read_generation(out_dir) == generation
        return
    fd = os.open(os.path.join(out_dir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        # Read the generation only once the lock is held: see the module docstring.
        yield read_generation(out_dir) == generation
    finally:
        os.close(fd)


# -- writing --------------------------------------------------------------------------------
def write_atomic(path: str, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f"{TMP_PREFIX}{secrets.token_hex(6)}.{name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                 | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with replacing(tmp, path):
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)


def encode(image: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode one ``(H, W, C)`` uint8 image as PNG or JPEG bytes (deterministic)."""
    if fmt == "png":
        from augkit.png import encode_png

        return encode_png(image)
    import cv2

    if image.shape[2] == 1:
        pixels = np.ascontiguousarray(image[:, :, 0])
    else:
        pixels = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - shapes are checked before
        raise InputError(f"OpenCV could not encode an image of shape {image.shape} as JPEG")
    return buffer.tobytes()


#: What a complete file of each format ends with (checked when resuming).
TRAILERS = {"png": b"\x00\x00\x00\x00IEND\xaeB`\x82", "jpeg": b"\xff\xd9"}


def complete(path: str, fmt: str) -> bool:
    """Whether ``path`` holds a complete file (not truncated by a crash of the machine)."""
    try:
        with open(path, "rb") as handle:
            if fmt in TRAILERS:
                trailer = TRAILERS[fmt]
                handle.seek(0, os.SEEK_END)
                if handle.tell() < len(trailer):
                    return False
                handle.seek(-len(trailer), os.SEEK_END)
                return handle.read() == trailer
            if fmt == "npz":
                handle.seek(0, os.SEEK_END)
                if handle.tell() < 22:
                    return False
                handle.seek(-22, os.SEEK_END)
                return handle.read(4) == b"PK\x05\x06"
            return True
    except OSError:
        return False


# -- reading and augmenting -----------------------------------------------------------------
_PIPELINES: dict[str, Any] = {}
_ARRAYS: dict[ArrayRef, np.ndarray] = {}


def _pipeline(spec: TaskSpec) -> Any:
    pipeline = _PIPELINES.get(spec.pipeline_hash)
    if pipeline is None:
        from augkit.pipeline import Pipeline

        pipeline = _PIPELINES.setdefault(spec.pipeline_hash, Pipeline.from_dict(spec.pipeline))
    return pipeline


def _read(item: Item, spec: TaskSpec) -> np.ndarray:
    if item.error:
        raise InputError(item.error)
    if item.path is not None:
        from augkit.io import read_image

        return read_image(item.path, max_pixels=spec.max_pixels, color_mode=spec.color_mode)
    ref = spec.arrays.get(item.array)
    if ref is None:
        raise InputError(f"{item.source or item.array}: array file is missing")
    array = _ARRAYS.get(ref)
    if array is None:
        try:
            array = _ARRAYS.setdefault(ref, ref.open())
        except (OSError, ValueError) as exc:
            raise InputError(f"{ref.path}: cannot read the array ({exc})") from None
    if not 0 <= item.row < array.shape[0]:
        raise InputError(f"{item.source or ref.path}: row {item.row} is out of range "
                         f"(0..{array.shape[0] - 1})")
    x = np.array(array[item.row])
    if x.ndim == 2:
        x = x[:, :, None]
    return x.astype(np.float32) if x.dtype == np.float64 else x


def _to_uint8(x: np.ndarray, value_range: tuple[float, float], where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    lo, hi = value_range
    if not np.isfinite(x).all() or x.min() < lo or x.max() > hi:
        raise InputError(f"{where}: float pixels outside the pipeline's value_range "
                         f"[{lo:g}, {hi:g}] (or not finite)")
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _variants(item: Item, copies: list[int], spec: TaskSpec) -> Iterator[tuple[int, Any]]:
    """``(copy, image or InputError)`` for each requested copy of ``item``."""
    try:
        x = _read(item, spec)
        pipeline = _pipeline(spec)
        if spec.fmt != "npz":  # image files and TFRecords store uint8 pictures
            x = _to_uint8(x, pipeline.value_range, item.source or f"x[{item.row}]")
    except InputError as exc:
        for copy in copies:
            yield copy, exc
        return
    for copy in copies:
        if copy == 0:
            if spec.fmt == "npz" and pipeline.value_only().ops:
                # a shard holds one dtype and range: the original gets the value ops that
                # every augmented copy got (rescale/normalize), nothing else
                try:
                    x0, _ = pipeline.value_only().apply(x[None], seed=spec.seed,
                                                        index=[item.index])
                    yield copy, x0[0]
                except InputError as exc:
                    yield copy, exc
                continue
            yield copy, x
            continue
        try:
            out, _ = pipeline.apply(x[None], seed=spec.seed, index=[item.index], epoch=copy)
            yield copy, out[0]
        except InputError as exc:
            yield copy, exc


def _group(task: Task) -> Iterator[tuple[Item, list[tuple[int, int, str]]]]:
    """Consecutive rows of the same item, so each source image is decoded once."""
    current: Item | None = None
    rows: list[tuple[int, int, str]] = []
    for r, item, copy, out in task.rows:
        if current is not None and item.index != current.index:
            yield current, rows
            rows = []
        current = item
        rows.append((r, copy, out))
    if current is not None:
        yield current, rows


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (InputError, OSError)):
        text = str(exc)
    else:  # a bug or an unexpected decoder failure: keep the job going, but say what it was
        text = f"internal error ({type(exc).__name__}: {exc})"
    return printable(" ".join(text.split()))  # valid UTF-8 even for undecodable file names


# -- the task ---------------------------------------------------------------------------------
def run_task(spec: TaskSpec, task: Task) -> TaskResult:
    """Produce every row of ``task``; per-row failures are reported, never raised.

    Raises:
        RuntimeError: the worker runs another augkit version than the client (outputs could
            differ from a clean run, so the job stops).
    """
    import augkit

    if augkit.__version__ != spec.version:
        raise RuntimeError(f"this worker has augkit {augkit.__version__}, the client "
                           f"{spec.version}; install the same version everywhere")
    if spec.cv2_threads is not None:
        import cv2

        cv2.setNumThreads(spec.cv2_threads)
    with writer_fence(spec.out_dir, spec.generation) as current:
        if not current:  # a newer run owns the folder: write nothing
            return TaskResult(task.key, [(r, SUPERSEDED, "", -1) for r, *_ in task.rows])
        if task.shard >= 0:
            return _run_shard(spec, task)
        return _run_files(spec, task)


def _run_files(spec: TaskSpec, task: Task) -> TaskResult:
    result = TaskResult(task.key, [])
    for item, rows in _group(task):
        outputs = {copy: (r, out) for r, copy, out in rows}
        for copy, image in _variants(item, list(outputs), spec):
            r, out = outputs[copy]
            try:
                if isinstance(image, BaseException):
                    raise image
                write_atomic(os.path.join(spec.out_dir, *out.split("/")),
                             encode(image, spec.fmt, spec.jpeg_quality), fsync=spec.fsync)
            except Exception as exc:  # noqa: BLE001 - one bad row never stops the job
                result.rows.append((r, FAILED, _describe(exc), -1))
            else:
                result.rows.append((r, OK, "", -1))
                result.written += 1
    return result


def _run_shard(spec: TaskSpec, task: Task) -> TaskResult:
    good: list[tuple[int, Item, int, np.ndarray]] = []
    failed: list[tuple[int, Item, int, str]] = []
    for item, rows in _group(task):
        outputs = {copy: r for r, copy, _ in rows}
        for copy, image in _variants(item, list(outputs), spec):
            r = outputs[copy]
            try:
                if isinstance(image, BaseException):
                    raise image
                if spec.fmt == "npz" and good and image.shape != good[0][3].shape:
                    raise InputError(
                        f"{item.source or f'x[{item.row}]'}: output of shape {image.shape} "
                        f"differs from the shard's {good[0][3].shape}; an {spec.fmt} shard "
                        "holds one image size: add a resizing op or use --format png")
                if spec.fmt == "tfrecord":
                    image = encode(image, "png", 0)
                good.append((r, item, copy, image))
            except Exception as exc:  # noqa: BLE001
                failed.append((r, item, copy, _describe(exc)))
    from augkit.expansion.shards import write_npz_shard, write_tfrecord_shard

    path = os.path.join(spec.out_dir, task.rows[0][3])
    try:
        if spec.fmt == "npz":
            write_npz_shard(path, good, failed, spec)
        else:
            write_tfrecord_shard(path, good, failed, spec)
    except Exception as exc:  # noqa: BLE001 - e.g. disk full: every row of the shard failed
        reason = _describe(exc)
        return TaskResult(task.key, [(r, FAILED, reason, -1) for r, *_ in task.rows])
    rows = [(r, OK, "", i) for i, (r, *_) in enumerate(good)]
    rows += [(r, FAILED, error, -1) for r, _, _, error in failed]
    return TaskResult(task.key, sorted(rows), written=len(good))
