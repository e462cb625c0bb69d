"""``augkit expand --format npz`` shards described from their headers, for reading by row.

An ``npz`` shard is an uncompressed zip of ``.npy`` arrays (``docs/expand.md``). Its images
``x`` are therefore a plain C-order array at a fixed place in the file: the zip entry's local
header, then the ``.npy`` header, then the rows. :func:`index_npz` reads those headers (and the
small ``y`` and ``class_names``), never the images, and returns where row 0 starts, so that row
``i`` is one positioned read at ``offset + i * row_bytes``. A shard whose ``x`` is compressed
(``np.savez_compressed``) or in Fortran order cannot be read by row and is refused: expand never
writes one, and reading it would mean holding it whole.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from augkit.errors import InputError

__all__ = ["NpzIndex", "index_npz"]


@dataclass(frozen=True)
class NpzIndex:
    """What one ``npz`` shard holds (see :func:`index_npz`)."""

    count: int  # images (0: every output of the shard failed)
    offset: int  # byte offset of row 0 in the file
    dtype: Any  # ``x``'s dtype as stored
    row_bytes: int  # bytes of one image as stored
    row_shape: tuple[int, ...]  # (height, width, channels); () when empty
    labels: np.ndarray
    class_names: list[str] | None


def index_npz(path: str) -> NpzIndex:
    """Describe one ``augkit expand`` ``.npz`` shard from its headers (see the module docstring).

    Raises:
        InputError: naming the file, when it is not a readable ``.npz``, lacks ``x`` or ``y``,
            holds images of an unusable shape or dtype, stores ``x`` compressed or in Fortran
            order, or is truncated.
    """
    try:
        st = os.stat(path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            missing = [k for k in ("x", "y") if f"{k}.npy" not in names]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)}; expected 'x' "
                                 f"(images) and 'y' (labels)")
            info = archive.getinfo("x.npy")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"unsupported .npy version {version}")
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(member)
                header = member.tell()
        with open(path, "rb") as handle:  # where x's bytes start: after its local zip header
            handle.seek(info.header_offset)
            local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError("bad zip entry header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        offset = info.header_offset + 30 + name_len + extra_len + header
        with np.load(path, allow_pickle=False) as data:
            y = data["y"]
            class_names = ([str(v) for v in data["class_names"]]
                           if "class_names" in data.files else None)
    except InputError:
        raise
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, struct.error) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    if dtype.hasobject or dtype.kind not in "uif":
        raise InputError(f"{path}: x of dtype {dtype}; allowed: uint8, float, or integers in "
                         f"[0, 255]")
    count = int(shape[0]) if len(shape) else 0
    if count and len(shape) == 3:
        shape = (*shape, 1)
    if count and (len(shape) != 4 or shape[-1] not in (1, 3, 4) or 0 in shape):
        raise InputError(f"{path}: x has shape {tuple(shape)}; expected (N, H, W, C) with C in "
                         f"1, 3, 4")
    if y.ndim == 0 or len(y) != count:
        raise InputError(f"{path}: {y.size if y.ndim == 0 else len(y)} labels for {count} "
                         f"images; expected one per image")
    if info.compress_type != zipfile.ZIP_STORED or fortran:
        found = "compressed (np.savez_compressed)" if info.compress_type != zipfile.ZIP_STORED \
            else "in Fortran order"
        raise InputError(f"{path}: x is stored {found}, so its images cannot be read one by one "
                         f"without holding the whole shard; augkit expand writes uncompressed, "
                         f"C-order npz shards. Re-save it so: d = dict(np.load(path)); "
                         f"np.savez(path, **{{k: np.ascontiguousarray(v) for k, v in d.items()}})")
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize if count else 0
    if offset + count * row_bytes > st.st_size:
        raise InputError(f"{path}: truncated ({st.st_size} bytes, x needs "
                         f"{offset + count * row_bytes})")
    return NpzIndex(count, offset, dtype, row_bytes, tuple(int(v) for v in shape[1:]), y,
                    class_names)
