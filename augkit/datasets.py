"""The course's data sets: handwritten digits (bundled), CIFAR-10 and the flowers photos.

* :func:`digits`: scikit-learn's copy of the UCI handwritten digits, 1797 real 8×8 scans,
  shipped inside augkit (``augkit/data/digits.npz``; licences in ``augkit/data/README.md``), so
  it needs neither scikit-learn nor a download. Upsampled for a CNN.
* :func:`cifar10`: Keras' own loader, ``keras.datasets.cifar10.load_data()``.
* :func:`flowers`: the TensorFlow flowers photo archive through ``keras.utils.get_file``,
  returned as a folder with one subfolder per class, ready for :func:`augkit.stream`.

CIFAR-10 and the flowers live in the Keras cache, ``$KERAS_HOME/datasets`` (default
``~/.keras/datasets``), and are downloaded into it on first use. Without a network they must
already be there; the error says which file to put where. See ``docs/train.md``.

TensorFlow/Keras is imported only by :func:`cifar10` and :func:`flowers`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import InputError

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_ORIGIN",
    "FLOWERS_ORIGIN",
    "NAMES",
    "cifar10",
    "digits",
    "flowers",
    "keras_cache",
]

#: The built-in data set names :func:`augkit.train.train` and ``augkit train`` accept.
NAMES = ("digits", "cifar10", "flowers")

#: CIFAR-10's class names, in label order.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

#: Where Keras downloads CIFAR-10 from (its loader's own URL).
CIFAR10_ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: Where the flowers photos are downloaded from.
FLOWERS_ORIGIN = ("https://storage.googleapis.com/download.tensorflow.org/example_images/"
                  "flower_photos.tgz")

# The names Keras 3's get_file gives the archives in the cache (fname + "_archive").
_CIFAR10_ARCHIVE = "cifar-10-batches-py-target_archive"
_FLOWERS_ARCHIVE = "flower_photos_archive"

#: Seconds a blocked connection may stall a download before it fails (no endless hang).
DOWNLOAD_TIMEOUT = 60.0

_DIGITS_LEVELS = 16  # the UCI digits count "on" pixels of 4×4 blocks: values 0..16


def digits(size: int = 32, *, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits, bundled with augkit, as uint8 images.

    1797 real 8×8 scans of digits 0–9 written by 43 people (about 180 per class): white ink on
    black. Values 0..16 are scaled to 0..255 and the images upsampled (bilinear) to
    ``size`` × ``size``.

    Args:
        size: output height and width in pixels (8 keeps the originals).
        channels: 3 (grey copied to RGB, for CNNs built for colour) or 1.

    Returns:
        ``(x, y)``: ``x`` uint8 ``(1797, size, size, channels)``, ``y`` int64 labels 0–9.

    Raises:
        ValueError: ``size`` or ``channels`` is not allowed.

    Example:
        >>> import augkit.datasets
        >>> x, y = augkit.datasets.digits(size=16)
        >>> x.shape, x.dtype, sorted(set(y.tolist())) == list(range(10))
        ((1797, 16, 16, 3), dtype('uint8'), True)
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 8 <= size <= 1024:
        raise ValueError(f"size: got {size!r}; allowed: an integer from 8 to 1024")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels: got {channels!r}; allowed: 1 or 3")
    bundled = resources.files("augkit") / "data" / "digits.npz"
    with resources.as_file(bundled) as path, np.load(path, allow_pickle=False) as data:
        raw, y = data["x"], data["y"].astype(np.int64)
    x = np.round(raw.astype(np.float32) * (255.0 / _DIGITS_LEVELS)).astype(np.uint8)
    if size != x.shape[1]:
        import cv2

        x = np.stack([cv2.resize(im, (int(size), int(size)), interpolation=cv2.INTER_LINEAR)
                      for im in x])
    x = x[..., None]
    if channels == 3:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x), y


def keras_cache() -> Path:
    """The folder Keras downloads data sets into: ``$KERAS_HOME/datasets`` (or ``~/.keras/...``).

    Keras reads ``KERAS_HOME`` once, when it is first imported.
    """
    from keras.src.backend import config

    return Path(os.path.expanduser(config.keras_home())) / "datasets"


def cifar10() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 through Keras' loader (``keras.datasets.cifar10.load_data``).

    Keras keeps the archive in its cache as ``cifar-10-batches-py-target_archive`` and checks
    its sha256, so only the real 163 MiB archive is accepted from the cache; anything else is
    downloaded again.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 images ``(50000, 32, 32, 3)`` and
        ``(10000, 32, 32, 3)``; labels as int64 vectors (Keras gives ``(N, 1)`` uint8), in the
        order of :data:`CIFAR10_CLASSES`.

    Raises:
        InputError: the archive is not in the cache and cannot be downloaded; the message
            names the file to provide.
    """
    import keras

    with _download(CIFAR10_ORIGIN, _CIFAR10_ARCHIVE, "cifar10"):
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    return ((x_train, y_train.reshape(-1).astype(np.int64)),
            (x_test, y_test.reshape(-1).astype(np.int64)))


def flowers() -> Path:
    """The flowers photos (3670 JPEGs of 5 kinds) through ``keras.utils.get_file``.

    The archive is cached as ``$KERAS_HOME/datasets/flower_photos_archive`` and extracted
    beside it (Keras 3 extracts it again on every call).

    Returns:
        The folder with one subfolder per class (``daisy``, ``dandelion``, ``roses``,
        ``sunflowers``, ``tulips``), for :func:`augkit.stream` or ``augkit train --data``.

    Raises:
        InputError: the archive is not in the cache and cannot be downloaded, or it holds no
            class folders.
    """
    import keras

    with _download(FLOWERS_ORIGIN, _FLOWERS_ARCHIVE, "flowers"):
        path = Path(keras.utils.get_file("flower_photos", origin=FLOWERS_ORIGIN, extract=True))
    inner = path / "flower_photos"  # the archive's own top folder
    root = inner if inner.is_dir() else path
    if not any(p.is_dir() for p in root.iterdir()):
        raise InputError(f"{root}: the flowers archive holds no class folders")
    return root


def load(name: str, *, image_size: Any = None) -> Any:
    """A built-in data set by name, as a stream source: ``(x, y, class_names)`` or a folder.

    ``digits`` is upsampled to ``image_size`` (default 32×32; square sizes only); ``cifar10``
    is its 50 000 training images (their size is fixed: ``image_size`` must be ``None`` or
    32×32); ``flowers`` is a folder, resized by the stream.

    Raises:
        InputError: an unknown name, an unusable size, or a data set that cannot be loaded.
    """
    if name == "digits":
        size = 32 if image_size is None else image_size
        if size[0] != size[1]:
            raise InputError(f"image_size: got {tuple(size)} for the digits; allowed: a square "
                             f"size such as 32x32")
        x, y = digits(size=int(size[0]))
        return x, y, [str(i) for i in range(10)]
    if name == "cifar10":
        if image_size is not None and tuple(image_size) != (32, 32):
            raise InputError(f"image_size: got {tuple(image_size)} for cifar10; its images are "
                             f"32x32 (leave --image-size out)")
        (x, y), _ = cifar10()
        return x, y, list(CIFAR10_CLASSES)
    if name == "flowers":
        return flowers()
    raise InputError(f"data: {name!r} is not a built-in data set; allowed: "
                     f"{', '.join(NAMES)}")


@contextlib.contextmanager
def _download(origin: str, archive: str, name: str) -> Iterator[None]:
    """Turn a failed download into an InputError naming the cache file; bound socket stalls."""
    previous = socket.getdefaulttimeout()
    if previous is None:  # urlretrieve takes no timeout: a dropped connection would hang
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        yield
    except (OSError, InputError):
        raise
    except Exception as exc:
        text = str(exc)
        if "URL fetch failure" not in text and "file hash" not in text:
            raise
        target = keras_cache() / archive
        raise InputError(f"{name}: not in the Keras cache and could not be downloaded "
                         f"({text.splitlines()[0] if text else type(exc).__name__}); download "
                         f"{origin} on a machine with internet access and copy it to "
                         f"{target}") from None
    finally:
        if previous is None:
            socket.setdefaulttimeout(None)
