"""What an expansion reads: a class-per-folder directory, an ``.npz``, or a previous manifest.

A source is listed up front without decoding any pixel: the items (one per source image, in a
fixed order that gives each its seeding index), their labels and class names, and for array
sources a memory-mappable description of the pixel array so that workers read only the rows they
need (the data set is never loaded whole).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from augkit.errors import InputError
from augkit.sources import scan_directory

#: Pixel dtypes accepted from ``.npz`` sources (float data must lie in the pipeline's
#: ``value_range``; float64 is read as float32).
ARRAY_DTYPES = ("uint8", "float32", "float64")


@dataclass(frozen=True)
class Item:
    """One source image.

    Attributes:
        index: its position in the source: the ``index`` the pipeline is seeded with.
        label: integer class label.
        source: what the manifest shows in its ``source`` column (a path relative to the
            source, ``""`` for rows of an ``.npz``).
        name: naming hint for its outputs (relative path inside its class, without suffix).
        path: absolute path of an image file, or ``None`` for an array row.
        array: key into :attr:`Source.arrays` for an array row.
        row: row of that array.
        error: set when the item is known to be unusable before reading it (e.g. a manifest
            row pointing outside its folder); the worker reports it as the item's failure.
    """

    index: int
    label: int
    source: str
    name: str
    path: str | None = None
    array: str = ""
    row: int = -1
    error: str = ""


@dataclass(frozen=True)
class ArrayRef:
    """A ``.npy`` payload stored uncompressed at ``offset`` inside ``path``: memory-mappable.

    ``member`` is set (and ``offset`` is -1) for a compressed ``.npz`` member, which must first be
    extracted to a plain ``.npy`` file (see :func:`extract`).
    """

    path: str
    offset: int
    dtype: str
    shape: tuple[int, ...]
    fortran: bool = False
    member: str = ""

    def open(self) -> np.ndarray:
        """The array, memory-mapped read-only (no pixel is read until a row is used)."""
        return np.memmap(self.path, dtype=np.dtype(self.dtype), mode="r", offset=self.offset,
                         shape=self.shape, order="F" if self.fortran else "C")


@dataclass
class Source:
    """A listed source.

    Attributes:
        kind: ``"directory"``, ``"npz"`` or ``"manifest"``.
        path: absolute path of the folder or file.
        items: the images, in seeding order.
        class_names: class name of each label.
        arrays: memory-mappable arrays that array items read from.
    """

    kind: str
    path: str
    items: list[Item]
    class_names: dict[int, str]
    arrays: dict[str, ArrayRef] = field(default_factory=dict)

    def channels(self) -> set[int]:
        """Channel counts of the array sources (empty for image files)."""
        return {ref.shape[3] if len(ref.shape) == 4 else 1 for ref in self.arrays.values()}


def open_source(source: str | os.PathLike, *, max_pixels: int | None) -> Source:
    """List a source: a class-per-folder directory, an ``.npz`` with ``x``/``y``, or a manifest.

    Args:
        source: the folder, the ``.npz`` file, or a ``manifest.csv`` written by
            :func:`augkit.expand` (or the folder holding one and no class folders).
        max_pixels: per-image pixel limit, checked on array shapes here.

    Raises:
        InputError: the source is missing, empty, or malformed; the message says why.
    """
    path = Path(source)
    if path.is_dir():
        if (path / "manifest.csv").is_file() and (path / "expand.json").is_file():
            return _from_manifest(path / "manifest.csv")
        return _from_directory(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; expected a class-per-folder "
                         "directory, an .npz with 'x' and 'y', or a manifest.csv")
    if path.suffix.lower() == ".npz":
        return _from_npz(path, max_pixels)
    if path.suffix.lower() == ".csv":
        return _from_manifest(path)
    raise InputError(f"{path}: unsupported source; allowed: a class-per-folder directory, an "
                     ".npz with 'x' and 'y', or a manifest.csv written by augkit expand")


def _from_directory(root: Path) -> Source:
    listing = scan_directory(root)
    items = []
    for i, rel in enumerate(listing.paths):
        inside = PurePosixPath(rel).relative_to(listing.class_names[int(listing.labels[i])])
        name = str(inside.with_suffix("")) if inside.suffix else str(inside)
        items.append(Item(index=i, label=int(listing.labels[i]), source=rel, name=name,
                          path=os.path.join(os.path.abspath(root), *rel.split("/"))))
    return Source("directory", os.path.abspath(root), items, dict(enumerate(listing.class_names)))


# -- .npz ---------------------------------------------------------------------------------------
def _npy_header(handle: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{where}: not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{where}: holds Python objects (dtype {dtype}); refusing to unpickle. "
                         "Allowed: numeric arrays")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _member_ref(path: Path, archive: zipfile.ZipFile, name: str) -> ArrayRef:
    """Describe member ``name`` (``x.npy``) of an open ``.npz`` without reading its data."""
    info = archive.getinfo(name)
    where = f"{path}: {name[:-4]}"
    with archive.open(info) as member:
        shape, fortran, dtype = _npy_header(member, where)
        header_size = member.tell()
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return ArrayRef(str(path), -1, dtype.str, shape, fortran, member=name)
    with open(path, "rb") as raw:  # the data starts after the local header and the .npy header
        raw.seek(info.header_offset)
        local = raw.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise InputError(f"{where}: damaged zip entry; cannot locate the array data")
        skip = int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    return ArrayRef(str(path), info.header_offset + 30 + skip + header_size, dtype.str, shape,
                    fortran)


def _read_member(archive: zipfile.ZipFile, name: str, where: str, rows: int) -> np.ndarray:
    with archive.open(name) as member:
        shape, fortran, dtype = _npy_header(member, where)
        if not shape or shape[0] != rows or len(shape) > 2 or (len(shape) == 2
                                                                 and shape[1] > 100_000):
            raise InputError(f"{where}: shape {shape}; expected ({rows},) labels or "
                             f"({rows}, classes) one-hot rows, one per image")
        count = int(np.prod(shape))
        data = member.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise InputError(f"{where}: truncated array data")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _labels(y: np.ndarray, where: str) -> tuple[np.ndarray, dict[int, str]]:
    """Integer labels and class names from ``y``: integers, strings, or one-hot rows."""
    if y.ndim == 2:
        ok = np.issubdtype(y.dtype, np.number) and ((y == 0) | (y == 1)).all() and (
            y.sum(axis=1) == 1).all()
        if not ok:
            raise InputError(f"{where}: 2-D labels must be one-hot rows (exactly one 1 per row); "
                             "allowed: integer class labels, strings, or one-hot rows")
        y = y.argmax(axis=1)
    if y.dtype.kind in "U":
        names = sorted(set(y.tolist()))
        lookup = {name: i for i, name in enumerate(names)}
        return np.array([lookup[v] for v in y.tolist()], np.int64), dict(enumerate(names))
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise InputError(f"{where}: labels of dtype {y.dtype}; allowed: integers, strings, or "
                         "one-hot rows")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise InputError(f"{where}: negative label {int(y.min())}; allowed: labels >= 0")
    width = len(str(int(y.max()))) if y.size else 1
    # Zero-padded so that folder names sort like the numbers (Keras sorts class folders).
    return y, {int(v): f"{int(v):0{width}d}" for v in np.unique(y)}


def _from_npz(path: Path, max_pixels: int | None) -> Source:
    try:
        return _read_npz(path, max_pixels)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None


def _read_npz(path: Path, max_pixels: int | None) -> Source:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        missing = [k for k in ("x", "y") if f"{k}.npy" not in names]
        if missing:
            raise InputError(f"{path}: missing array(s) {', '.join(missing)}; expected 'x' "
                             f"(images) and 'y' (labels), found "
                             f"{', '.join(n[:-4] for n in names if n.endswith('.npy')) or 'none'}")
        ref = _member_ref(path, archive, "x.npy")
        shape = ref.shape
        if len(shape) == 3:
            shape = (*shape, 1)
        if len(shape) != 4 or shape[3] not in (1, 3, 4) or 0 in shape[1:]:
            raise InputError(f"{path}: x has shape {ref.shape}; expected (N, H, W, C) with C in "
                             "1, 3, 4 (or (N, H, W) grey)")
        if np.dtype(ref.dtype).name not in ARRAY_DTYPES:
            raise InputError(f"{path}: x has dtype {np.dtype(ref.dtype)}; allowed: "
                             f"{', '.join(ARRAY_DTYPES)}")
        if max_pixels is not None and shape[1] * shape[2] > max_pixels:
            raise InputError(f"{path}: images of {shape[1]}x{shape[2]} pixels exceed the limit "
                             f"of {max_pixels:,} (max_pixels)")
        ref = ArrayRef(ref.path, ref.offset, ref.dtype, shape, ref.fortran, ref.member)
        y, class_names = _labels(_read_member(archive, "y.npy", f"{path}: y", shape[0]),
                                 f"{path}: y")
    width = len(str(max(shape[0] - 1, 0)))
    items = [Item(index=i, label=int(y[i]), source="", name=f"{i:0{width}d}", array="x", row=i)
             for i in range(shape[0])]
    if not items:
        raise InputError(f"{path}: x holds no images")
    return Source("npz", os.path.abspath(path), items, class_names, {"x": ref})


def extract(ref: ArrayRef, folder: str) -> ArrayRef:
    """Make a compressed ``.npz`` member memory-mappable by extracting it to ``folder``.

    The copy streams in bounded memory and is named after the member and the archive's size and
    modification time, so a rerun reuses it. Returns ``ref`` itself if it needs no extraction.

    Raises:
        InputError: the member is damaged or bigger than the free disk space.
    """
    if not ref.member:
        return ref
    import hashlib
    import shutil

    stat = os.stat(ref.path)
    key = hashlib.sha256(f"{ref.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{ref.member}"
                         .encode("utf-8", "surrogateescape")).hexdigest()[:16]
    target = os.path.join(folder, f".augkit-cache-{key}.npy")
    need = int(np.prod(ref.shape)) * np.dtype(ref.dtype).itemsize
    if not os.path.exists(target):
        if need > shutil.disk_usage(folder).free:
            raise InputError(f"{ref.path}: x needs {need:,} bytes uncompressed, more than the free "
                             f"space in {folder}; store it uncompressed (np.savez) instead")
        tmp = target + ".augkit-tmp"
        try:
            with zipfile.ZipFile(ref.path) as archive, archive.open(ref.member) as src, \
                    open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, target)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            _unlink(tmp)
            raise InputError(f"{ref.path}: cannot read x ({exc})") from None
    with open(target, "rb") as handle:
        shape, fortran, dtype = _npy_header(handle, target)
        offset = handle.tell()
    if int(np.prod(shape)) * dtype.itemsize != need or os.path.getsize(target) != offset + need:
        _unlink(target)
        raise InputError(f"{ref.path}: x is truncated or damaged")
    return ArrayRef(target, offset, ref.dtype, ref.shape, fortran)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- a previous manifest --------------------------------------------------------------------
def _from_manifest(path: Path) -> Source:
    """The images a previous expansion wrote (rows with status ``ok``), in manifest order."""
    from augkit.expansion.manifest import read_manifest

    root = os.path.realpath(path.parent)
    items: list[Item] = []
    class_names: dict[int, str] = {}
    arrays: dict[str, ArrayRef] = {}
    broken: dict[str, str] = {}
    for line, row in read_manifest(path):
        if row["status"] != "ok":
            continue
        where = f"{path}, line {line}"
        try:
            label = int(row["label"])
        except ValueError:
            raise InputError(f"{where}: label {row['label']!r} is not an integer") from None
        if label < 0:
            raise InputError(f"{where}: negative label {label}")
        class_names.setdefault(label, row["class_name"] or str(label))
        output = row["output"]
        full = os.path.realpath(os.path.join(root, output))
        inside = full.startswith(root + os.sep)
        stem = PurePosixPath(output).stem
        index = len(items)
        if not inside:
            items.append(Item(index, label, output, stem, error=(
                f"{output}: path leaves the manifest's folder {root}; refusing to read it")))
        elif full.lower().endswith(".tfrecord"):
            raise InputError(f"{where}: expanding from TFRecord shards is not supported; expand "
                             "from the original images or from npz shards")
        elif full.lower().endswith(".npz"):
            try:
                shard_row = int(row["shard_row"])
            except ValueError:
                raise InputError(f"{where}: shard_row {row['shard_row']!r} is not an "
                                 "integer") from None
            if full not in arrays and full not in broken:
                try:
                    with zipfile.ZipFile(full) as archive:
                        arrays[full] = _member_ref(Path(full), archive, "x.npy")
                except (OSError, zipfile.BadZipFile, KeyError, EOFError, InputError) as exc:
                    broken[full] = f"{output}: not a readable npz shard ({exc})"
            error = broken.get(full, "")
            items.append(Item(index, label, output, f"{stem}_{shard_row}", array=full,
                              row=shard_row, error=error))
        else:
            items.append(Item(index, label, output, stem, path=full))
    if not items:
        raise InputError(f"{path}: the manifest lists no written outputs (status 'ok')")
    return Source("manifest", str(path.resolve()), items, class_names, arrays)
