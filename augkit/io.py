"""Reading and writing image files, with guards against hostile input.

Every file that cannot be used raises :class:`augkit.errors.InputError` whose message starts with
the file's path and says why, so a long job can report and skip it (``except InputError``) instead
of dying half-way, and nothing is ever written half-way (:func:`write_png` is atomic).

Decoding choices, all deliberate:

* **Decompression bombs.** The pixel count is read from the header *before* any pixel is decoded
  and compared with ``max_pixels`` (default 89,478,485 pixels, Pillow's own default: about
  a 9459×9459 image, 256 MiB of RGBA). Pillow's process-wide guard
  (``PIL.Image.MAX_IMAGE_PIXELS``) still applies on top; raise it too if you raise ``max_pixels``
  above twice its value.
* **EXIF orientation** is applied (``PIL.ImageOps.exif_transpose``), so a phone photo taken in
  portrait comes out in portrait, as every image viewer shows it. A box or keypoint annotated on
  the displayed image stays valid.
* **16-bit** images are scaled to 8 bits by keeping the high byte (``value >> 8``), for grey and
  colour alike. Pillow's own ``convert("L")`` clips 16-bit grey to 255 instead, which turns most
  images white.
* **Alpha** is dropped when ``color_mode="rgb"`` (the colour channels are kept as stored, not
  composited on a background), as Keras' ``load_img`` does. Use ``color_mode="rgba"`` to keep it.
* **Multi-frame files** (animated GIF, multi-page TIFF): the first frame is read.
"""

from __future__ import annotations

import contextlib
import difflib
import numbers
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from importlib import resources
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from augkit.errors import InputError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "COLOR_MODES",
    "read_image",
    "write_png",
    "check_pixels",
    "sample_image",
    "sample_names",
    "sample_path",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Largest image (width × height) :func:`read_image` decodes by default; Pillow's own default.
DEFAULT_MAX_PIXELS = 89_478_485

#: ``color_mode`` values accepted by :func:`read_image`, with the number of channels returned.
COLOR_MODES = {"rgb": 3, "grayscale": 1, "rgba": 4}

_PIL_MODES = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}

# What Pillow's decoders raise on damaged or hostile data; anything else is a bug worth seeing.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (os.umask is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_image(
    path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, color_mode: str = "rgb"
) -> np.ndarray:
    """Read an image file into a ``uint8`` array, safely.

    Args:
        path: The image file (any format Pillow reads: PNG, JPEG, BMP, GIF, TIFF, WebP, ...).
        max_pixels: Refuse images with more than this many pixels (width × height), checked on
            the header before decoding. ``None`` turns augkit's limit off (Pillow's global limit
            still applies).
        color_mode: ``"rgb"`` (H×W×3), ``"grayscale"`` (H×W×1) or ``"rgba"`` (H×W×4).

    Returns:
        A new, writable, C-contiguous ``uint8`` array of shape ``(height, width, channels)`` in
        the display orientation given by the file's EXIF tag.

    Raises:
        InputError: The file is missing, unreadable, not an image, corrupt or truncated, or has
            more than ``max_pixels`` pixels. The message starts with the path.
        ValueError: ``color_mode`` or ``max_pixels`` is not an allowed value.

    Example:
        >>> from augkit.io import read_image, sample_path
        >>> read_image(sample_path("chelsea")).shape
        (128, 192, 3)
    """
    if color_mode not in COLOR_MODES:
        raise ValueError(
            f"color_mode={color_mode!r} is not supported; allowed: {', '.join(COLOR_MODES)}"
        )
    if max_pixels is not None and (
        isinstance(max_pixels, bool)
        or not isinstance(max_pixels, numbers.Integral)
        or max_pixels < 1
    ):
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    name = os.fspath(path)
    _check_file(name)
    try:
        with Image.open(name) as image:
            check_pixels(name, image.size, max_pixels)
            image.load()
            image = _exif_transpose(name, image)
            array = _to_mode(name, image, color_mode)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{name}: image too large ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS to read it"
        ) from None
    except _DECODE_ERRORS as exc:
        raise InputError(f"{name}: not a readable image ({_reason(exc)})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    return np.array(array, dtype=np.uint8, order="C", copy=True)


def _check_file(name: str) -> None:
    """Raise InputError unless ``name`` is an existing, non-empty regular file."""
    try:
        size = os.stat(name).st_size
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot access ({exc.strerror or exc})") from None
    if os.path.isdir(name):
        raise InputError(f"{name}: is a directory, not an image file")
    if size == 0:
        raise InputError(f"{name}: not a readable image (empty file, 0 bytes)")


def check_pixels(name: str, size: tuple[int, int], max_pixels: int | None) -> None:
    """The decompression-bomb guard: refuse an image of ``size`` = ``(width, height)`` (read
    from its header) with more than ``max_pixels`` pixels, or an empty one.

    Raises:
        InputError: starting with ``name`` (the file, or file and record).
    """
    width, height = size
    if width < 1 or height < 1:
        raise InputError(f"{name}: not a readable image (header says {width}x{height} pixels)")
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        raise InputError(
            f"{name}: image has {pixels:,} pixels ({width}x{height}), more than the limit of "
            f"{int(max_pixels):,} (max_pixels); refusing to decode it (decompression-bomb guard)"
        )


def _exif_transpose(name: str, image: Image.Image) -> Image.Image:
    try:
        rotated = ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as exc:
        raise InputError(f"{name}: not a readable image (corrupt EXIF data: {exc})") from None
    return image if rotated is None else rotated


def _to_mode(name: str, image: Image.Image, color_mode: str) -> np.ndarray:
    """Convert a decoded Pillow image to the requested mode as an array (2-D for grayscale)."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        image = Image.fromarray(_sixteen_to_eight(name, np.asarray(image), mode), mode="L")
    elif mode == "F":
        raise InputError(
            f"{name}: not a readable image (32-bit floating-point pixels are not supported; "
            "allowed: 8- or 16-bit grey, RGB, RGBA, palette)"
        )
    elif mode == "P":
        # A palette with a transparent entry must go through RGBA, or Pillow guesses (and warns).
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    target = _PIL_MODES[color_mode]
    if image.mode != target:
        image = image.convert(target)
    return np.asarray(image)


def _sixteen_to_eight(name: str, values: np.ndarray, mode: str) -> np.ndarray:
    values = values.astype(np.int64, copy=False)
    if values.size and (values.min() < 0 or values.max() > 0xFFFF):
        raise InputError(
            f"{name}: not a readable image (32-bit integer pixels in [{values.min()}, "
            f"{values.max()}] are not supported; allowed: 8- or 16-bit unsigned)"
        )
    return (values >> 8).astype(np.uint8)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, Image.UnidentifiedImageError) or text.startswith("cannot identify"):
        return "unknown or unsupported image format"
    if not text:
        return type(exc).__name__
    return text


def write_png(path: PathLike, array: np.ndarray) -> None:
    """Write an image array to a PNG file atomically.

    The data goes to a temporary file in the destination folder, which is flushed to disk and
    then renamed over ``path`` (``os.replace``): readers see either the old file or the complete
    new one, never a half-written PNG, even if the process is killed.

    Args:
        path: Destination file; its folder must exist. Any existing file is replaced.
        array: ``uint8`` or ``uint16`` image, ``(H, W)`` or ``(H, W, C)`` with C in (1, 3, 4),
            channels in RGB(A) order.

    Raises:
        InputError: The array cannot be stored as PNG.
        OSError: The file cannot be written (missing folder, no permission, disk full).

    Example:
        >>> import numpy as np, tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "black.png")
        >>> write_png(out, np.zeros((4, 6, 3), np.uint8))
        >>> read_image(out).shape
        (4, 6, 3)
    """
    from augkit.png import encode_png

    data = encode_png(array)
    name = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(name))
    try:
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix="." + os.path.basename(name) + ".", suffix=".tmp"
        )
    except OSError as exc:  # name the destination, not the temporary file
        raise OSError(exc.errno, exc.strerror, name) from None
    with replacing(tmp, name):
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes owner-only files; a finished PNG gets the mode open() would have given.
        os.chmod(tmp, 0o666 & ~_umask())


@contextlib.contextmanager
def replacing(tmp: str, final: str) -> Iterator[None]:
    """Rename ``tmp`` onto ``final`` when the block succeeds; delete ``tmp`` when it fails.

    augkit's one exactly-once write: a reader sees the old file or the whole new one, never
    a part, and a failure (or Ctrl-C) leaves no temporary file behind.
    """
    try:
        yield
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def sample_names() -> list[str]:
    """List the sample images bundled with augkit.

    Returns:
        Sorted names accepted by :func:`sample_image`, e.g. ``["astronaut", "chelsea", "coffee"]``.
    """
    folder = resources.files("augkit") / "data"
    return sorted(
        entry.name[: -len(".png")] for entry in folder.iterdir() if entry.name.endswith(".png")
    )


def sample_path(name: str = "astronaut") -> str:
    """Return the file path of a bundled sample image.

    Args:
        name: One of :func:`sample_names`.

    Returns:
        Path of the PNG file inside the installed package.

    Raises:
        ValueError: ``name`` is not a bundled sample; the message lists the valid names.
    """
    names = sample_names()
    if name not in names:
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown sample image {name!r}; allowed: {', '.join(names)}{hint}")
    return os.fspath(resources.files("augkit") / "data" / f"{name}.png")


def sample_image(name: str = "astronaut", *, color_mode: str = "rgb") -> np.ndarray:
    """Load one of the small public-domain sample images bundled with augkit.

    Args:
        name: One of :func:`sample_names`: ``"astronaut"`` (192×192), ``"chelsea"`` (a cat,
            192×128) or ``"coffee"`` (192×128). Sources and licences: ``augkit/data/README.md``.
        color_mode: As in :func:`read_image`.

    Returns:
        A new ``uint8`` array, ``(H, W, 3)`` for ``color_mode="rgb"``.

    Raises:
        ValueError: ``name`` is not a bundled sample; the message lists the valid names.

    Example:
        >>> sample_image("coffee").shape
        (128, 192, 3)
    """
    return read_image(sample_path(name), color_mode=color_mode)
