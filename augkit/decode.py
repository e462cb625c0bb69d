"""Loading image files at a fixed size for streams and generators, with bad-file handling.

:func:`load_image` is :func:`augkit.io.read_image` (header-first decompression-bomb guard, EXIF
orientation, 16-bit/palette/alpha/grey conversion) followed by an optional centre crop to the
target aspect ratio and a resize with Pillow. :class:`FileDecoder` wraps it for a data set of
files read by many threads: on ``on_error="skip"`` it warns once per bad file, remembers it and
never decodes it again.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image

from augkit.errors import InputError
from augkit.io import COLOR_MODES, DEFAULT_MAX_PIXELS, read_image

__all__ = ["INTERPOLATIONS", "ON_ERROR", "SkippedFileWarning", "FileDecoder", "load_image",
           "check_size", "check_interpolation"]

#: Resize filters by name (Keras' names; ``area`` is Keras' ``image_dataset_from_directory``
#: name for a box filter).
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "area": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
ON_ERROR = ("raise", "skip")


class SkippedFileWarning(UserWarning):
    """A file of a data set could not be used and was skipped (``on_error="skip"``)."""


def check_size(value: object, name: str = "image_size") -> tuple[int, int]:
    """Validate a ``(height, width)`` pair of positive integers."""
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                    for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name}: got {value!r}; allowed: a pair (height, width) of positive "
                     f"integers")


def check_interpolation(value: object, name: str = "interpolation") -> str:
    """Validate an interpolation name (see :data:`INTERPOLATIONS`)."""
    if value not in INTERPOLATIONS:
        raise ValueError(f"{name}: got {value!r}; allowed: {', '.join(INTERPOLATIONS)}")
    return str(value)


def _crop_to_aspect(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The largest centred window of ``image`` with the aspect ratio ``width / height``."""
    h, w = image.shape[:2]
    crop_h = min(h, max(1, round(w * height / width)))
    crop_w = min(w, max(1, round(h * width / height)))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return image[top:top + crop_h, left:left + crop_w]


def load_image(path: str | os.PathLike, *, size: tuple[int, int] | None,
               color_mode: str = "rgb", interpolation: str = "bilinear",
               crop_to_aspect_ratio: bool = False,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as ``uint8`` ``(height, width, channels)``, resized to ``size``.

    Args:
        path: the image file.
        size: ``(height, width)`` of the result, or ``None`` to keep the file's size.
        color_mode: ``"rgb"``, ``"grayscale"`` or ``"rgba"`` (see :func:`augkit.io.read_image`).
        interpolation: resize filter, one of :data:`INTERPOLATIONS`.
        crop_to_aspect_ratio: crop the largest centred window with the target aspect ratio
            before resizing, instead of stretching.
        max_pixels: the decompression-bomb limit (width × height, checked before decoding);
            ``None`` turns augkit's limit off.

    Returns:
        A C-contiguous ``uint8`` array.

    Raises:
        InputError: the file is missing, empty, not an image, corrupt, truncated or too large;
            the message starts with the path.

    Example:
        >>> from augkit.io import sample_path
        >>> load_image(sample_path("chelsea"), size=(32, 48)).shape
        (32, 48, 3)
    """
    image = read_image(path, max_pixels=max_pixels, color_mode=color_mode)
    if size is None or image.shape[:2] == tuple(size):
        return image
    height, width = size
    if crop_to_aspect_ratio:
        image = _crop_to_aspect(image, height, width)
    channels = image.shape[2]
    pil = Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.resize((width, height), INTERPOLATIONS[interpolation]))
    return np.ascontiguousarray(out.reshape(height, width, channels))


class FileDecoder:
    """Decode files of a data set by index, thread-safely, raising or skipping bad ones.

    Args:
        paths: absolute file paths; items are indices into it.
        size: output ``(height, width)``.
        color_mode: ``"rgb"``, ``"grayscale"`` or ``"rgba"``.
        interpolation: resize filter name.
        crop_to_aspect_ratio: see :func:`load_image`.
        max_pixels: decompression-bomb limit.
        on_error: ``"raise"`` (an :class:`InputError` naming the file) or ``"skip"`` (one
            :class:`SkippedFileWarning` naming the file, the first time it is met; later
            epochs skip it without reading it again).
    """

    def __init__(self, paths: Sequence[str], *, size: tuple[int, int], color_mode: str,
                 interpolation: str, crop_to_aspect_ratio: bool, max_pixels: int | None,
                 on_error: str) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error: got {on_error!r}; allowed: 'raise' or 'skip'")
        self.paths = list(paths)
        self.size = size
        self.channels = COLOR_MODES[color_mode]
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.max_pixels = max_pixels
        self.on_error = on_error
        self.skipped: dict[int, str] = {}  # item -> reason, filled as bad files are met
        self._lock = threading.Lock()

    def blank(self) -> np.ndarray:
        """The placeholder returned for a skipped file (dropped before batching)."""
        return np.zeros((*self.size, self.channels), np.uint8)

    def __call__(self, item: int) -> tuple[np.ndarray, bool]:
        """``(image, ok)`` for item ``item``; ``ok`` is False for a skipped file."""
        item = int(item)
        if item in self.skipped:
            return self.blank(), False
        try:
            image = load_image(self.paths[item], size=self.size, color_mode=self.color_mode,
                               interpolation=self.interpolation,
                               crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                               max_pixels=self.max_pixels)
        except InputError as exc:
            if self.on_error == "raise":
                raise
            with self._lock:
                first = item not in self.skipped
                self.skipped[item] = str(exc)
            if first:
                warnings.warn(f"skipping {exc} (on_error='skip')", SkippedFileWarning,
                              stacklevel=2)
            return self.blank(), False
        return image, True
