"""The images of ``augkit expand`` shards as one array, read from disk when indexed.

:class:`ShardArray` is built by :func:`augkit.shard_reader.open_shards` from what describes each
shard (its image count and where its images lie). ``x[rows]`` then reads just those rows: in an
``npz`` shard (an uncompressed zip, :mod:`augkit.shard_npz`) a run of consecutive rows is one
positioned read at a known offset, scattered by the kernel straight into the output; a TFRecord
row is one read of its PNG and one decode (:func:`augkit.png.decode_png`). Nothing is cached:
memory holds what was asked for, never the data set. Values are not range-checked here: the
pipeline checks every batch it is given (:func:`augkit.batch_checks.check_images`, and the tf
backend in the graph), as it does for arrays.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from augkit.batch_checks import as_image_array
from augkit.errors import InputError
from augkit.png import decode_png

__all__ = ["Shard", "ShardArray"]

#: File descriptors a ShardArray keeps open; shards beyond are opened for each read.
_MAX_OPEN = 256


@dataclass(frozen=True)
class Shard:
    """One shard that holds images, as indexed."""

    path: str
    stat: tuple[int, int]  # (size, mtime_ns) when indexed: a changed file is refused
    count: int
    offset: int = 0  # npz: byte offset of row 0
    disk_dtype: Any = None  # npz: ``x``'s dtype in the file
    row_bytes: int = 0  # npz: bytes of one row in the file


class _Files:
    """Open file descriptors shared by the views of one ShardArray, closed with it."""

    def __init__(self, shards: list[Shard]) -> None:
        self.shards = shards
        # the usual case: shards of one dtype, read by vectorized offsets
        self.disk_dtype = shards[0].disk_dtype
        self.uniform = all(s.disk_dtype == self.disk_dtype for s in shards)
        self.offsets = np.array([s.offset for s in shards], np.int64)
        self.row_bytes = np.array([s.row_bytes for s in shards], np.int64)
        self.fds: dict[int, int] = {}
        self.lock = threading.Lock()
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


_SEEK_LOCK = threading.Lock()
_HAS_PREADV = hasattr(os, "preadv")


def _pread(fd: int, size: int, offset: int) -> bytes:
    """One positioned read (looked up when called, so that it can be replaced in tests)."""
    pread = getattr(os, "pread", None)
    if pread is not None:
        return pread(fd, size, offset)
    with _SEEK_LOCK:  # no positioned read (Windows): seek and read under a lock
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)


def _truncated(where: str) -> InputError:
    return InputError(f"{where}: truncated since the stream was built")


def _read_exactly(fd: int, size: int, offset: int, where: str) -> bytes:
    """``size`` bytes at ``offset``. One read may return fewer (Linux caps a read at
    0x7ffff000 bytes): read on; only a read of nothing is the end of the file."""
    parts, got = [], 0
    while got < size:
        data = _pread(fd, size - got, offset + got)
        if not data:
            raise _truncated(where)
        parts.append(data)
        got += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _readv_exactly(fd: int, buffers: list[np.ndarray], offset: int, where: str) -> None:
    """Fill ``buffers`` from ``offset`` on, by ``preadv`` until they are full (see
    :func:`_read_exactly`)."""
    size = sum(b.nbytes for b in buffers)
    got = os.preadv(fd, buffers, offset)
    if got == size:  # the usual case: one call
        return
    views = [memoryview(b).cast("B") for b in buffers]
    done = 0
    while True:
        if got <= 0:
            raise _truncated(where)
        done += got
        if done >= size:
            return
        while got:  # drop what was filled from the front of the buffers
            if got >= len(views[0]):
                got -= len(views.pop(0))
            else:
                views[0], got = views[0][got:], 0
        got = os.preadv(fd, views, offset + done)


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

    Row ``i`` is image ``i`` of the shards concatenated in shard order (empty shards, whose
    outputs all failed, hold none) — the row order of the arrays ``augkit.stream`` loaded
    before it read shards lazily.

    Example:
        >>> from augkit.shard_reader import open_shards
        >>> x = open_shards("flowers-shards/")            # doctest: +SKIP
        >>> x.shape, x.labels[:3], x[[5, 0]].shape        # doctest: +SKIP
        ((3670, 224, 224, 3), array([0, 0, 0]), (2, 224, 224, 3))
    """

    def __init__(self, shards: list[Shard], shape: tuple[int, ...], dtype: Any, kind: str,
                 labels: np.ndarray, class_names: list[str] | None,
                 png: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self._files = _Files(shards)
        self._starts = np.r_[0, np.cumsum([s.count for s in shards])].astype(np.int64)
        self._kind, self._png = kind, png
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.ndim = 4
        self.labels = labels
        self.class_names = class_names

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def shards(self) -> list[Shard]:
        """The shards holding images, in row order."""
        return self._files.shards

    def __repr__(self) -> str:
        return (f"ShardArray(shape={self.shape}, dtype={self.dtype}, "
                f"{len(self._files.shards)} {self._kind} shards)")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(f"{self!r} is read on demand and is never converted whole by "
                        f"accident; index it (x[rows]) or call x.load()")

    def load(self) -> np.ndarray:
        """Every image in memory (the eager form; what the tf.data service needs)."""
        return self.read(np.arange(len(self), dtype=np.int64))

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self.read(np.array([key], np.int64))[0]
        if isinstance(key, slice):
            return self.read(np.arange(*key.indices(len(self)), dtype=np.int64))
        rows = np.asarray(key)
        if rows.size == 0:  # x[[]] is float64: any empty selection selects nothing
            return np.empty((*rows.shape, *self.shape[1:]), self.dtype)
        if rows.dtype.kind not in "iu":
            raise TypeError(f"ShardArray: index with an int, a slice or integer rows; got "
                            f"{type(key).__name__} of dtype {rows.dtype}")
        return self.read(rows.reshape(-1)).reshape(*rows.shape, *self.shape[1:])

    def read(self, rows: Any) -> np.ndarray:
        """Images ``rows`` (a 1-D integer array; negative counts from the end), in that order.

        Raises:
            InputError: naming the shard, when it changed or is unreadable, or (shards not
                written by augkit expand) holds integers outside [0, 255].
        """
        rows = np.asarray(rows, np.int64).reshape(-1)
        n = len(self)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        if not len(rows):
            return out
        if rows.min() < -n or rows.max() >= n:
            raise IndexError(f"ShardArray: rows must lie in [-{n}, {n}); got "
                             f"{int(rows.min())} .. {int(rows.max())}")
        rows = np.where(rows < 0, rows + n, rows)
        order = np.argsort(rows, kind="stable")  # read in file order
        ordered = rows[order]
        shard_of = np.searchsorted(self._starts, ordered, side="right") - 1
        handles: dict[int, tuple[int, bool]] = {}
        try:
            if self._kind == "tfrecord":
                self._read_png(out, order, ordered, shard_of, handles)
            elif self._files.uniform and self._files.disk_dtype == self.dtype and _HAS_PREADV:
                self._read_npz_into(out, order, ordered, shard_of, handles)
            else:  # shards not written by augkit (other dtypes), or no preadv
                for s in np.unique(shard_of).tolist():
                    mask = shard_of == s
                    out[order[mask]] = self._read_rows(s, ordered[mask] - self._starts[s],
                                                       handles)
        finally:
            for fd, keep in handles.values():
                if not keep:
                    os.close(fd)
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
            * self._files.row_bytes[shards]
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
                _readv_exactly(fd, chunk, offset, self._files.shards[s].path)
                offset += sum(b.nbytes for b in chunk)

    def _read_png(self, out: np.ndarray, order: np.ndarray, ordered: np.ndarray,
                  shard_of: np.ndarray, handles: dict[int, tuple[int, bool]]) -> None:
        offsets, lengths = self._png
        shards = self._files.shards
        for k, (row, s) in enumerate(zip(ordered.tolist(), shard_of.tolist())):
            where = f"{shards[s].path}, record {row - int(self._starts[s])}"
            data = _read_exactly(self._fd(s, handles), int(lengths[row]), int(offsets[row]),
                                 where)
            out[order[k]] = decode_png(data, self.shape[1:], where)

    def _read_rows(self, s: int, local: np.ndarray,
                   handles: dict[int, tuple[int, bool]]) -> np.ndarray:
        """Rows ``local`` of one npz shard, by one ``pread`` per row, in the array's dtype."""
        shard = self._files.shards[s]
        fd, size = self._fd(s, handles), shard.row_bytes
        data = b"".join(_read_exactly(fd, size, shard.offset + r * size, shard.path)
                        for r in local.tolist())
        raw = np.frombuffer(data, shard.disk_dtype).reshape(len(local), *self.shape[1:])
        return as_image_array(raw, shard.path)  # integers must lie in [0, 255]
