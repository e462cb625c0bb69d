"""What ``augkit train`` trains on: any data source, resolved once into stream arguments.

:func:`resolve_data` turns a folder, an ``.npz``, an ``augkit expand`` output, a built-in data
set name or a pair of arrays into a :class:`Data`: the positional source for
:func:`augkit.stream`, the folder options, the class names and the label encoding, so the
training and validation streams read the same items the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augkit.batch_checks import as_image_array
from augkit.errors import InputError

__all__ = ["Data", "encode_labels", "resolve_data"]

_COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}
_DIGITS_SIZE = 32


@dataclass
class Data:
    """A data set ready for :func:`augkit.stream`.

    Attributes:
        source: positional arguments of ``augkit.stream``: ``(x, y)`` or ``(folder,)``.
        stream_kwargs: folder options (``image_size``, ``color_mode``); empty for arrays.
        class_names: one name per class index.
        in_dtype: the images' dtype as the stream sees them (``"uint8"`` or ``"float32"``).
        channels: channels per image.
        size: number of images.
        description: what the data is, for messages and ``history.json``.
        is_folder: files decoded by the stream (resizable) rather than arrays.
    """

    source: tuple
    class_names: list[str]
    in_dtype: str
    channels: int
    size: int
    description: str
    is_folder: bool = False
    stream_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def resolve_data(data: Any, image_size: tuple[int, int] | None,
                 default_size: tuple[int, int] | None = None,
                 channels: int | None = None) -> Data:
    """Resolve ``data`` (see :func:`augkit.train.train`) into a :class:`Data`.

    Args:
        data: a path (folder, ``.npz``, ``augkit expand`` output), a built-in data set name
            (a path of that name wins) or ``(x, y)`` arrays.
        image_size: the size the user asked for, or ``None``.
        default_size: the model's own input size, used for folders and the digits when the
            user gave none.
        channels: the channels the model expects (folders are decoded to it), or ``None``.

    Raises:
        InputError: missing path, unknown name, unusable arrays or labels, a size for arrays.
    """
    from augkit import datasets

    if isinstance(data, tuple) and len(data) == 2:
        return _arrays(data[0], data[1], None, "arrays", image_size)
    if not isinstance(data, (str, os.PathLike)):
        raise InputError(f"data: got {type(data).__name__}; allowed: a folder, an .npz file, "
                         f"an augkit expand output folder, {', '.join(datasets.NAMES)}, or "
                         f"(x, y) arrays")
    path = Path(data)
    if path.exists():
        from augkit.shard_reader import load_arrays, path_source

        kind, shards = path_source(path)  # the same dispatch as augkit.stream's
        if kind == "folder":
            return _folder(path, image_size or default_size, channels)
        if kind is None or not (path.is_dir() or path.is_file()):
            raise InputError(f"{path}: not a folder or an .npz file; allowed: a folder with one "
                             f"subfolder per class, an .npz with x and y, an augkit expand "
                             f"output folder, or {', '.join(datasets.NAMES)}")
        x, y, names = load_arrays(path, shards)  # expand shards: read on demand, never whole
        return _arrays(x, y, names, str(path), image_size)
    if str(data) in datasets.NAMES:
        return _builtin(str(data), image_size, default_size, channels)
    raise InputError(f"{data}: no such file or folder, and not a built-in data set; allowed: "
                     f"a folder with one subfolder per class, an .npz with x and y, an augkit "
                     f"expand output folder, or {', '.join(datasets.NAMES)}")


def _builtin(name: str, image_size: tuple[int, int] | None,
             default_size: tuple[int, int] | None, channels: int | None) -> Data:
    from augkit import datasets

    if name == "flowers":
        data = _folder(datasets.flowers(), image_size or default_size, channels)
        data.description = "flowers"
        return data
    if name == "digits":
        size = image_size or default_size or (_DIGITS_SIZE, _DIGITS_SIZE)
        x, y, names = datasets.load("digits", image_size=size)
        if channels == 1:
            x = x[..., :1]
        return _arrays(x, y, names, "digits", None)
    x, y, names = datasets.load(name, image_size=image_size)
    return _arrays(x, y, names, name, None)


def _folder(path: Path, size: tuple[int, int] | None, channels: int | None) -> Data:
    from augkit.sources import scan_directory

    source = scan_directory(path)
    channels = 3 if channels is None else channels
    if channels not in _COLOR_MODES:
        raise InputError(f"the model expects {channels}-channel images; folders are decoded as "
                         f"1 (grayscale), 3 (rgb) or 4 (rgba) channels")
    kwargs: dict[str, Any] = {"color_mode": _COLOR_MODES[channels]}
    if size is not None:
        kwargs["image_size"] = tuple(size)
    return Data((source,), list(source.class_names), "uint8", channels, len(source), str(path),
                is_folder=True, stream_kwargs=kwargs)


def _arrays(x: Any, y: Any, names: list[str] | None, description: str,
            image_size: tuple[int, int] | None) -> Data:
    from augkit.shard_reader import ShardArray

    if not isinstance(x, ShardArray):  # shards: shape and dtype were checked when opened
        x = as_image_array(x, description)
    if image_size is not None and tuple(image_size) != x.shape[1:3]:
        raise InputError(f"image size {image_size[0]}x{image_size[1]} asked for, but "
                         f"{description} holds {x.shape[1]}x{x.shape[2]} arrays, which are not "
                         f"resized; leave the image size out")
    labels, class_names = encode_labels(y, names, len(x), description)
    return Data((x, labels), class_names, str(x.dtype), int(x.shape[-1]), len(x), description)


def encode_labels(y: Any, names: list[str] | None, n: int,
                  description: str = "labels") -> tuple[np.ndarray, list[str]]:
    """Labels as int32 class indices, and the class names.

    Integer labels ``0..K-1`` with known ``names`` (a built-in data set, expand shards) are
    kept. Anything else (other integers, strings, floats) is encoded as the index into the
    sorted distinct labels, whose string forms become the class names. One-hot rows are read
    as the index of their 1.

    Raises:
        InputError: not one label per image, bad one-hot rows, or fewer than two classes.

    Example:
        >>> import numpy as np
        >>> idx, names = encode_labels(np.array(["cat", "dog", "cat"]), None, 3)
        >>> idx.tolist(), names
        ([0, 1, 0], ['cat', 'dog'])
    """
    if y is None:
        raise InputError(f"{description}: no labels; training needs one label per image")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise InputError(f"{description}: labels of shape {y.shape} are not one-hot rows "
                             f"(one 1 per row); allowed: one label per image, or one-hot rows")
        if names is None or len(names) != y.shape[1]:
            names = [str(i) for i in range(y.shape[1])]
        y = np.argmax(y, axis=1)
    if y.ndim != 1 or len(y) != n:
        raise InputError(f"{description}: labels of shape {y.shape} for {n} images; allowed: "
                         f"one label per image")
    if names is not None and np.issubdtype(y.dtype, np.integer) and len(y) \
            and y.min() >= 0 and y.max() < len(names):
        labels, class_names = y.astype(np.int32), [str(c) for c in names]
    else:
        values, inverse = np.unique(y, return_inverse=True)
        labels, class_names = inverse.astype(np.int32), [str(v) for v in values.tolist()]
    if len(class_names) < 2:
        raise InputError(f"{description}: {len(class_names)} class(es) "
                         f"({', '.join(class_names)}); a classifier needs at least 2")
    return labels, class_names
