"""``augkit expand`` shard folders opened as one image array read on demand, and what a data
path names.

:func:`open_shards` first checks that the folder holds a whole expansion: shards
``shard-<j>-of-<M>`` for every ``j`` in ``0 .. M-1`` with one ``M``, and, when expand's
``manifest.csv`` is there, no output still pending. Then it reads only what describes each
shard — the image count, shape and dtype (the ``.npy`` header inside an ``.npz``,
:mod:`augkit.shard_npz`; for TFRecord, both ends of every record,
:mod:`augkit.shard_tfrecord`), plus the labels and class names — and returns a
:class:`~augkit.shard_array.ShardArray`, whose rows are the shards' images in shard order, read
from disk only when indexed (``x[rows]``).

:func:`path_source` (and :func:`path_kind`) and :func:`load_arrays` are the one dispatch of
path sources shared by :func:`augkit.stream` and ``augkit train``. No TensorFlow here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.shard_array import Shard, ShardArray
from augkit.shard_npz import index_npz
from augkit.shard_tfrecord import index_tfrecord

__all__ = ["ShardArray", "check_complete", "find_shards", "load_arrays", "open_shards",
           "path_kind", "path_source"]

_NAME = re.compile(r"shard-(\d+)-of-(\d+)\.(?:npz|tfrecord)")
_RESUME = "rerun augkit expand with the same arguments to resume it"


def _number(path: Path) -> tuple[int, str]:
    match = _NAME.fullmatch(path.name)
    return (int(match[1]) if match else -1), path.name


def find_shards(folder: Any) -> list[Path]:
    """The ``shard-*-of-*.npz`` (else ``.tfrecord``) files of an ``augkit expand`` output folder,
    in shard order; ``[]`` when ``folder`` is not a folder or holds none."""
    if isinstance(folder, (str, os.PathLike)) and os.path.isdir(folder):
        for ext in ("npz", "tfrecord"):
            found = list(Path(folder).glob(f"shard-*-of-*.{ext}"))
            if found:
                return sorted(found, key=_number)
    return []


def path_source(path: Any) -> tuple[str | None, list[Path]]:
    """``(path_kind(path), its shards)``, listing the folder once (pass the shards on to
    :func:`load_arrays`)."""
    if os.path.isdir(path):
        shards = find_shards(path)
        return ("shards" if shards else "folder"), shards
    return ("npz" if str(path).lower().endswith(".npz") else None), []


def path_kind(path: Any) -> str | None:
    """What a data path names: ``"shards"`` (an ``augkit expand`` output of ``npz`` or
    ``tfrecord`` shards), ``"folder"`` (any other directory: one subfolder per class),
    ``"npz"`` (a path ending in ``.npz``) or ``None`` (none of these)."""
    return path_source(path)[0]


def load_arrays(path: Any, shards: list[Path] | None = None
                ) -> tuple[Any, np.ndarray, list[str] | None]:
    """``(images, labels, class names)`` of an ``.npz`` file (in memory, no class names) or of
    a shard folder (a :class:`ShardArray`, read on demand). ``shards``: the folder's shards,
    when already found (:func:`path_source`).

    Raises:
        InputError: an unreadable file or shard, missing arrays, mismatched shapes, an
            unfinished expansion.
    """
    shards = find_shards(path) if shards is None else shards
    if shards:
        x = open_shards(path, shards)
        return x, x.labels, x.class_names
    from augkit.sources import load_npz

    x, y = load_npz(path)
    return x, y, None


def open_shards(folder: Any, paths: list[Path] | None = None) -> ShardArray:
    """Index the shards of an ``augkit expand --format npz|tfrecord`` output folder.

    ``paths``: its shards, when already found (:func:`find_shards`).

    Raises:
        InputError: no shards; an unfinished or mixed expansion (shards missing, of different
            expansions, or outputs still pending in ``manifest.csv``); an unreadable, truncated
            or compressed shard (named); images of different sizes (both named); no images.
    """
    paths = find_shards(folder) if paths is None else paths
    if not paths:
        raise InputError(f"{folder}: no shard-*-of-*.npz or .tfrecord files; expected the "
                         f"output folder of augkit expand --format npz or tfrecord")
    check_complete(folder, paths)
    kind = "npz" if paths[0].suffix == ".npz" else "tfrecord"
    shards, ys, names, row_shape, dtype, first = [], [], None, None, None, None
    offsets, lengths, tf_names = [], [], {}
    for path in map(str, paths):
        try:
            st = os.stat(path)  # before indexing: a change from now on is refused when read
        except OSError as exc:
            raise InputError(f"{path}: not readable ({exc})") from None
        stat = (st.st_size, st.st_mtime_ns)
        if kind == "npz":
            npz = index_npz(path)
            shard = Shard(path, stat, npz.count, npz.offset, npz.dtype, npz.row_bytes)
            shape, y, shard_names, this_dtype = npz.row_shape, npz.labels, npz.class_names, \
                npz.dtype
        else:
            index = index_tfrecord(path)
            shard = Shard(path, stat, len(index.labels))
            shape, y, shard_names, this_dtype = index.shape, np.asarray(index.labels, np.int64), \
                None, np.dtype(np.uint8)
            offsets.append(np.asarray(index.png_offset, np.int64))
            lengths.append(np.asarray(index.png_length, np.int64))
            tf_names.update(index.class_names)
        if shard.count == 0:
            continue  # every output of this shard failed
        if row_shape is None:
            row_shape, dtype, first = shape, this_dtype, path
        elif shape != row_shape:
            raise InputError(f"{path}: images of shape {shape}, but {Path(first).name} holds "
                             f"{row_shape}; a stream needs one size")
        elif this_dtype.kind != dtype.kind:
            raise InputError(f"{path}: images of dtype {this_dtype}, but {Path(first).name} "
                             f"holds {dtype}; a stream needs one dtype")
        if names is None and shard_names is not None:
            names = shard_names
        shards.append(shard)
        ys.append(y)
    if not shards:
        raise InputError(f"{paths[0].parent}: its .{kind} shards hold no images")
    if kind == "tfrecord":  # labels were bounded when indexed (shard_tfrecord.MAX_LABEL)
        names = [tf_names.get(i, str(i)) for i in range(max(tf_names) + 1)] if tf_names else None
    out_dtype = np.float32 if dtype.kind == "f" else np.uint8
    count = sum(s.count for s in shards)
    png = (np.concatenate(offsets), np.concatenate(lengths)) if kind == "tfrecord" else None
    return ShardArray(shards, (count, *row_shape), out_dtype, kind, np.concatenate(ys), names, png)


# -- a whole expansion --------------------------------------------------------------------------
def check_complete(folder: Any, paths: list[Path]) -> None:
    """Refuse a folder that does not hold one whole expansion (see the module docstring).

    A shard may be missing only when ``manifest.csv`` says every output planned for it failed
    (expand could not write it, e.g. a full disk): failed outputs are skipped by design, and a
    shard whose outputs all failed but was written is an empty shard, read as none.

    Raises:
        InputError: naming the folder, what is wrong, and what to do.
    """
    parsed: list[tuple[int, int, str]] = []
    totals: dict[int, str] = {}
    for path in paths:
        match = _NAME.fullmatch(path.name)
        if match is None or int(match[1]) >= int(match[2]):
            raise InputError(f"{folder}: {path.name} is not a shard name augkit expand writes "
                             f"(shard-<j>-of-<M> with j < M); move it out of the folder")
        parsed.append((int(match[1]), int(match[2]), path.name))
        totals.setdefault(int(match[2]), path.name)
    if len(totals) > 1:
        (m1, a), (m2, b) = sorted(totals.items())[:2]
        raise InputError(f"{folder}: shards of different expansions ({a} is one of {m1}, {b} "
                         f"one of {m2}); keep one expansion per folder: rerun augkit expand "
                         f"into an empty folder")
    total = next(iter(totals))
    numbers: dict[int, str] = {}
    for j, _, name in parsed:
        if j in numbers:
            raise InputError(f"{folder}: {numbers[j]} and {name} are both shard {j}; keep one "
                             f"copy of each shard")
        numbers[j] = name
    manifest = os.path.join(folder, "manifest.csv")
    failed_shards: set[int] = set()
    if os.path.isfile(manifest):
        failed_shards = _check_manifest(manifest)
    allowed = {j for j in failed_shards if j < total and j not in numbers}
    missing = total - len(numbers) - len(allowed)
    if missing:
        absent: list[int] = []
        for j in range(total):  # the first few only: M may be large
            if j not in numbers and j not in allowed:
                absent.append(j)
                if len(absent) == 10:
                    break
        more = f", ... ({missing} in all)" if missing > len(absent) else ""
        raise InputError(f"{folder}: shard(s) {', '.join(map(str, absent))}{more} of the "
                         f"{total} shards (shard-<j>-of-{total}) are missing: an unfinished or "
                         f"interrupted augkit expand, or an incomplete copy; {_RESUME} (or "
                         f"copy the missing shards)")


def _check_manifest(path: str) -> set[int]:
    """The shards whose every planned output failed; refuse a manifest with pending rows."""
    from augkit.expansion.manifest import STATUSES, read_manifest

    _, failed, pending = STATUSES  # ok, failed, pending
    waiting, rows = 0, 0
    written: set[str] = set()
    failed_outputs: set[str] = set()
    for _, row in read_manifest(path):
        rows += 1
        status = row["status"]
        if status == pending:
            waiting += 1
        elif status == failed:
            failed_outputs.add(row["output"])
        else:
            written.add(row["output"])
    if waiting:
        raise InputError(f"{path}: {waiting} of the {rows} planned outputs are still pending "
                         f"(augkit expand was interrupted, or is still running); {_RESUME}")
    out = set()
    for name in failed_outputs - written:
        match = _NAME.fullmatch(name)
        if match:
            out.add(int(match[1]))
    return out
