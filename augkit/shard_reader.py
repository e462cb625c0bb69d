"""``augkit expand`` shards as one image array read on demand, and what a data path names.

:func:`open_shards` reads only what describes a shard folder — per shard the image count,
shape and dtype (the ``.npy`` header inside an ``.npz``, :mod:`augkit.shard_npz`; for
TFRecord, both ends of every record, :mod:`augkit.shard_tfrecord`), plus the labels and class
names — and returns a :class:`ShardArray`: an ``(N, H, W, C)`` array whose rows are the
shards' images in shard order, read from disk only when indexed (``x[rows]``). ``.npz`` shards
are uncompressed zips, so a row is one positioned read at a known offset; a TFRecord row is one
read of its PNG and one decode. Nothing is cached: memory holds what was asked for, never the
data set.

:func:`path_kind` and :func:`load_arrays` are the one dispatch of path sources shared by
:func:`augkit.stream` and ``augkit train``. No TensorFlow here.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.shard_npz import index_npz
from augkit.shard_tfrecord import decode_png, index_tfrecord

__all__ = ["ShardArray", "find_shards", "load_arrays", "open_shards", "path_kind"]

#: File descriptors a ShardArray keeps open; shards beyond are opened for each read.
_MAX_OPEN = 256


def find_shards(folder: Any) -> list[Path]:
    """The ``shard-*-of-*.npz`` (else ``.tfrecord``) files of an ``augkit expand`` output folder,
    sorted; ``[]`` when ``folder`` is not a folder or holds none."""
    if isinstance(folder, (str, os.PathLike)) and os.path.isdir(folder):
        return (sorted(Path(folder).glob("shard-*-of-*.npz"))
                or sorted(Path(folder).glob("shard-*-of-*.tfrecord")))
    return []


def path_kind(path: Any) -> str | None:
    """What a data path names: ``"shards"`` (an ``augkit expand`` output of ``npz`` or
    ``tfrecord`` shards), ``"folder"`` (any other directory: one subfolder per class),
    ``"npz"`` (a path ending in ``.npz``) or ``None`` (none of these)."""
    if os.path.isdir(path):
        return "shards" if find_shards(path) else "folder"
    return "npz" if str(path).lower().endswith(".npz") else None


def load_arrays(path: Any) -> tuple[Any, np.ndarray, list[str] | None]:
    """``(images, labels, class names)`` of an ``.npz`` file (in memory, no class names) or of
    a shard folder (a :class:`ShardArray`, read on demand).

    Raises:
        InputError: an unreadable file or shard, missing arrays, mismatched shapes.
    """
    if find_shards(path):
        x = open_shards(path)
        return x, x.labels, x.class_names
    from augkit.sources import load_npz

    x, y = load_npz(path)
    return x, y, None


@dataclass(frozen=True)
class _Shard:
    path: str
    stat: tuple[int, int]  # (size, mtime_ns) when indexed: a changed file is refused
    count: int
    offset: int = 0  # npz: byte offset of row 0 (uncompressed ``x``)
    disk_dtype: Any = None  # npz: ``x``'s dtype in the file
    whole: bool = False  # npz: compressed or Fortran-ordered ``x``, read whole when used


class _Files:
    """Open file descriptors shared by the views of one ShardArray, closed with it."""

    def __init__(self, shards: list[_Shard], row_shape: tuple[int, ...]) -> None:
        self.shards = shards
        # the usual case: uncompressed C-order shards of one dtype, read by vectorized offsets
        self.disk_dtype = shards[0].disk_dtype
        self.uniform = all(not s.whole and s.disk_dtype == self.disk_dtype for s in shards)
        self.offsets = np.array([s.offset for s in shards], np.int64)
        self.row_bytes = (int(np.prod(row_shape)) * self.disk_dtype.itemsize
                          if self.disk_dtype is not None else 0)
        self.fds: dict[int, int] = {}
        self.lock = threading.Lock()
        self.whole: dict[int, np.ndarray] = {}
        weakref.finalize(self, _close, self.fds)

    def open(self, s: int) -> tuple[int, bool]:
        """``(fd, keep)``: the descriptor of shard ``s``; close it after use unless ``keep``."""
        with self.lock:
            if s in self.fds:
                return self.fds[s], True
        shard = self.shards[s]
        try:
            fd = os.open(shard.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise InputError(f"{shard.path}: not readable ({exc})") from None
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns) != shard.stat:
            os.close(fd)
            raise InputError(f"{shard.path}: changed since the stream was built (rewritten by "
                             f"another augkit expand?); build the stream again")
        with self.lock:
            if s in self.fds:  # another thread opened it meanwhile
                os.close(fd)
                return self.fds[s], True
            if len(self.fds) < _MAX_OPEN:
                self.fds[s] = fd
                return fd, True
        return fd, False


def _close(fds: dict[int, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


def _locked_pread(fd: int, size: int, offset: int) -> bytes:
    with _SEEK_LOCK:  # no positioned read (Windows): seek and read under a lock
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)


_SEEK_LOCK = threading.Lock()
_pread = getattr(os, "pread", _locked_pread)
_HAS_PREADV = hasattr(os, "preadv")


def _iov_max() -> int:
    """Buffers one ``preadv`` call may take (Linux: 1024; POSIX guarantees 16)."""
    try:
        value = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):
        value = -1
    return min(512, value) if value >= 16 else 16


_IOV_MAX = _iov_max()


class ShardArray:
    """The images of a shard folder as a read-only ``(N, H, W, C)`` array, read on demand.

    ``x[rows]`` (an int, a slice or an integer array) reads just those rows, in the order given;
    ``len(x)``, ``x.shape``, ``x.dtype`` and ``x.ndim`` need no reading. ``labels`` and
    ``class_names`` are the shards' own. Converting the whole array (``np.asarray(x)``) is
    refused so that nothing loads the data set by accident: use :meth:`load` for that.
    Reads are thread-safe.

    Row ``i`` is image ``i`` of the shards concatenated in file order (empty shards, whose
    outputs all failed, hold none) — the row order of the arrays ``augkit.stream`` loaded
    before it read shards lazily.

    Example:
        >>> from augkit.shard_reader import open_shards
        >>> x = open_shards("flowers-shards/")            # doctest: +SKIP
        >>> x.shape, x.labels[:3], x[[5, 0]].shape        # doctest: +SKIP
        ((3670, 224, 224, 3), array([0, 0, 0]), (2, 224, 224, 3))
    """

    def __init__(self, files: _Files, starts: np.ndarray, shape: tuple[int, ...], dtype: Any,
                 kind: str, labels: np.ndarray, class_names: list[str] | None,
                 png: tuple[np.ndarray, np.ndarray] | None,
                 value_range: tuple[float, float] | None = None) -> None:
        self._files, self._starts, self._kind, self._png = files, starts, kind, png
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = 4
        self.labels = labels
        self.class_names = class_names
        self.value_range = value_range

    @property
    def files(self) -> list[str]:
        """The shard files that hold images, in row order."""
        return [s.path for s in self._files.shards]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (f"ShardArray(shape={self.shape}, dtype={self.dtype}, "
                f"{len(self._files.shards)} {self._kind} shards)")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(f"{self!r} is read on demand and is never converted whole by "
                        f"accident; index it (x[rows]) or call x.load()")

    def checked(self, value_range: tuple[float, float] | None) -> ShardArray:
        """A view of the same shards whose float reads must lie in ``value_range``
        (``InputError`` otherwise, naming the shard); ``None`` checks nothing."""
        return ShardArray(self._files, self._starts, self.shape, self.dtype, self._kind,
                          self.labels, self.class_names, self._png, value_range)

    def load(self) -> np.ndarray:
        """Every image in memory (the eager form; what the tf.data service needs)."""
        return self.read(np.arange(len(self), dtype=np.int64))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self.read(np.array([key], np.int64))[0]
        if isinstance(key, slice):
            return self.read(np.arange(*key.indices(len(self)), dtype=np.int64))
        rows = np.asarray(key)
        if rows.dtype.kind not in "iu":
            raise TypeError(f"ShardArray: index with an int, a slice or integer rows; got "
                            f"{type(key).__name__} of dtype {rows.dtype}")
        return self.read(rows.reshape(-1)).reshape(*rows.shape, *self.shape[1:])

    def read(self, rows: Any) -> np.ndarray:
        """Images ``rows`` (a 1-D integer array; negative counts from the end), in that order.

        Raises:
            InputError: naming the shard, when it changed or is unreadable, or holds values
                outside ``value_range`` (NaN included) or integers outside [0, 255].
        """
        rows = np.asarray(rows, np.int64).reshape(-1)
        n = len(self)
        if len(rows) and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"ShardArray: rows must lie in [-{n}, {n}); got "
                             f"{int(rows.min())} .. {int(rows.max())}")
        rows = np.where(rows < 0, rows + n, rows)
        order = np.argsort(rows, kind="stable")  # read in file order
        ordered = rows[order]
        shard_of = np.searchsorted(self._starts, ordered, side="right") - 1
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        handles: dict[int, tuple[int, bool]] = {}
        shards = self._files.shards
        try:
            if self._kind == "tfrecord":
                raw = self._read_png(ordered, shard_of, handles)
            elif self._files.uniform and self._files.disk_dtype == self.dtype and _HAS_PREADV:
                self._read_npz_into(out, order, ordered, shard_of, handles)
                self._convert(out, lambda k: shards[int(shard_of[np.argmax(order == k)])].path)
                return out
            else:  # shards not written by augkit (compressed, other dtypes), or no preadv
                for s in np.unique(shard_of).tolist():
                    mask = shard_of == s
                    out[order[mask]] = self._read_other(s, ordered[mask] - self._starts[s],
                                                        handles)
                return out
        finally:
            for fd, keep in handles.values():
                if not keep:
                    os.close(fd)
        out[order] = self._convert(raw, lambda k: shards[int(shard_of[k])].path)
        return out

    def _fd(self, s: int, handles: dict[int, tuple[int, bool]]) -> int:
        if s not in handles:
            handles[s] = self._files.open(s)
        return handles[s][0]

    def _read_npz_into(self, out: np.ndarray, order: np.ndarray, ordered: np.ndarray,
                       shard_of: np.ndarray, handles: dict[int, tuple[int, bool]]) -> None:
        """Sorted rows straight into their places in ``out``: one ``preadv`` per run of
        consecutive rows scatters them, so the bytes are copied once, by the kernel."""
        flat = out.reshape(len(out), -1)
        dest = order.tolist()
        first = np.flatnonzero(np.r_[True, (np.diff(ordered) != 1) | (np.diff(shard_of) != 0)])
        counts = np.diff(np.r_[first, len(ordered)])
        shards = shard_of[first]
        offsets = self._files.offsets[shards] + (ordered[first] - self._starts[shards]) \
            * self._files.row_bytes
        for k, count, s, offset in zip(first.tolist(), counts.tolist(), shards.tolist(),
                                       offsets.tolist()):
            fd = self._fd(s, handles)
            targets = dest[k:k + count]
            start = targets[0]
            if count == 1 or targets == list(range(start, start + count)):
                buffers = [[flat[start:start + count]]]  # in place already: one buffer
            else:
                rows = [flat[t] for t in targets]
                buffers = [rows[i:i + _IOV_MAX] for i in range(0, count, _IOV_MAX)]
            for chunk in buffers:
                size = sum(b.nbytes for b in chunk)
                if os.preadv(fd, chunk, offset) != size:
                    raise InputError(f"{self._files.shards[s].path}: truncated since the "
                                     f"stream was built")
                offset += size

    def _read_png(self, ordered: np.ndarray, shard_of: np.ndarray,
                  handles: dict[int, tuple[int, bool]]) -> np.ndarray:
        offsets, lengths = self._png
        out = np.empty((len(ordered), *self.shape[1:]), np.uint8)
        shards = self._files.shards
        for k, (row, s) in enumerate(zip(ordered.tolist(), shard_of.tolist())):
            size = int(lengths[row])
            data = _pread(self._fd(s, handles), size, int(offsets[row]))
            where = f"{shards[s].path}, record {row - int(self._starts[s])}"
            if len(data) != size:
                raise InputError(f"{where}: truncated since the stream was built")
            out[k] = decode_png(data, self.shape[1:], where)
        return out

    def _read_other(self, s: int, local: np.ndarray,
                    handles: dict[int, tuple[int, bool]]) -> np.ndarray:
        """Rows ``local`` of one npz shard, by one ``pread`` per row; a compressed shard is
        decompressed whole once and kept."""
        shard = self._files.shards[s]
        if shard.whole:
            with self._files.lock:
                if s not in self._files.whole:
                    from augkit.sources import load_npz

                    self._files.whole[s] = load_npz(shard.path)[0]
            raw = self._files.whole[s][local]
        else:
            row_bytes = int(np.prod(self.shape[1:])) * shard.disk_dtype.itemsize
            data = b"".join(_pread(self._fd(s, handles), row_bytes, shard.offset + r * row_bytes)
                            for r in local.tolist())
            if len(data) != len(local) * row_bytes:
                raise InputError(f"{shard.path}: truncated since the stream was built")
            raw = np.frombuffer(data, shard.disk_dtype).reshape(len(local), *self.shape[1:])
        return self._convert(raw, lambda k: shard.path)

    def _convert(self, raw: np.ndarray, path_of: Any) -> np.ndarray:
        """``raw`` in the array's dtype, checked; ``path_of(k)`` names the file of row ``k``."""
        if raw.dtype.kind in "iu" and raw.dtype != np.uint8 and raw.size:
            bad = ((raw < 0) | (raw > 255)).reshape(len(raw), -1).any(axis=1)
            if bad.any():
                raise InputError(f"{path_of(int(np.argmax(bad)))}: integer images outside "
                                 f"[0, 255] (dtype {raw.dtype}); allowed: uint8, float, or "
                                 f"integers in [0, 255]")
        raw = raw.astype(self.dtype, copy=False)
        if self.value_range is not None and self.dtype == np.float32 and raw.size:
            lo, hi = self.value_range
            flat = raw.reshape(len(raw), -1)
            mn, mx = flat.min(axis=1), flat.max(axis=1)
            bad = ~((mn >= lo) & (mx <= hi))  # NaN fails too
            if bad.any():
                k = int(np.argmax(bad))
                raise InputError(f"{path_of(k)}: float values span [{mn[k]:g}, {mx[k]:g}], "
                                 f"outside the pipeline's value_range [{lo:g}, {hi:g}]; build "
                                 f"the pipeline with the shards' value_range")
        return raw


def open_shards(folder: Any) -> ShardArray:
    """Index the shards of an ``augkit expand --format npz|tfrecord`` output folder.

    Raises:
        InputError: no shards; an unreadable or truncated shard (named); images of different
            sizes (both named); no images at all.
    """
    paths = find_shards(folder)
    if not paths:
        raise InputError(f"{folder}: no shard-*-of-*.npz or .tfrecord files; expected the "
                         f"output folder of augkit expand --format npz or tfrecord")
    kind = "npz" if paths[0].suffix == ".npz" else "tfrecord"
    shards, counts, ys, names, row_shape, dtype, first = [], [], [], None, None, None, None
    offsets, lengths, tf_names = [], [], {}
    for path in map(str, paths):
        try:
            st = os.stat(path)  # before indexing: a change from now on is refused when read
        except OSError as exc:
            raise InputError(f"{path}: not readable ({exc})") from None
        stat = (st.st_size, st.st_mtime_ns)
        if kind == "npz":
            npz = index_npz(path)
            shard = _Shard(path, stat, npz.count, npz.offset, npz.dtype, npz.whole)
            shape, y, shard_names, this_dtype = npz.row_shape, npz.labels, npz.class_names, \
                npz.dtype
        else:
            index = index_tfrecord(path)
            shard = _Shard(path, stat, len(index.labels))
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
        counts.append(shard.count)
        ys.append(y)
    if not shards:
        raise InputError(f"{paths[0].parent}: its .{kind} shards hold no images")
    if kind == "tfrecord":
        names = [tf_names.get(i, str(i)) for i in range(max(tf_names) + 1)] if tf_names else None
    out_dtype = np.float32 if dtype.kind == "f" else np.uint8
    starts = np.r_[0, np.cumsum(counts)].astype(np.int64)
    png = (np.concatenate(offsets), np.concatenate(lengths)) if kind == "tfrecord" else None
    return ShardArray(_Files(shards, row_shape), starts, (int(starts[-1]), *row_shape), out_dtype,
                      kind, np.concatenate(ys), names, png)
