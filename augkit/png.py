"""PNG bytes to and from image arrays (OpenCV), and a PNG's header read without decoding.

:func:`encode_png` is what ``augkit expand`` stores in PNG files and TFRecord records;
:func:`decode_png` is its inverse for the shard reader, checking the header (size and the
decompression-bomb limit of :mod:`augkit.io`) before any pixel is decoded. Both are also
importable from :mod:`augkit.io`.
"""

from __future__ import annotations

import struct

import numpy as np

from augkit.errors import InputError
from augkit.io import DEFAULT_MAX_PIXELS, check_pixels

__all__ = ["PNG_CHANNELS", "decode_png", "encode_png", "png_header"]


def encode_png(array: np.ndarray) -> bytes:
    """Encode an image array as PNG bytes.

    Args:
        array: ``uint8`` or ``uint16`` array, ``(H, W)`` or ``(H, W, C)`` with C = 1 (grey),
            3 (RGB) or 4 (RGBA).

    Returns:
        The PNG file contents.

    Raises:
        InputError: The dtype or shape cannot be stored as PNG; the message says what is allowed.
    """
    import cv2  # cv2 is heavy to import; only writers need it

    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise InputError(
            f"cannot write a {array.dtype} array as PNG; allowed: uint8 or uint16 "
            "(convert floats in [0, 1] with (x * 255).round().astype(np.uint8))"
        )
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else None)
    if channels not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise InputError(
            f"cannot write an array of shape {array.shape} as PNG; allowed: (H, W) or "
            "(H, W, C) with C in (1, 3, 4) and H, W >= 1"
        )
    if channels == 3:
        array = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    elif channels == 4:
        array = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(array))
    if not ok:  # pragma: no cover - OpenCV only fails here on shapes rejected above
        raise InputError(f"OpenCV could not encode an array of shape {array.shape} as PNG")
    return buffer.tobytes()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types :func:`encode_png` writes from uint8, with their channels (grey, RGB, RGBA).
PNG_CHANNELS = {0: 1, 2: 3, 6: 4}


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """``(width, height, bit depth, colour type)`` from a PNG's first 26 bytes (its IHDR).

    Raises:
        ValueError: the bytes do not start a PNG.
    """
    if len(data) < 26 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("the image is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, data[24], data[25]


def decode_png(data: bytes, shape: tuple[int, int, int], where: str, *,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode 8-bit PNG bytes (what :func:`encode_png` writes from ``uint8``) into a new
    ``uint8`` array of exactly ``shape`` = ``(height, width, channels)``, RGB(A) order.

    The header is checked before any pixel is decoded: its size must be ``shape``'s and within
    ``max_pixels`` (the decompression-bomb guard of :func:`read_image`). The pixels are decoded
    to ``shape``'s channels: an RGB PNG with a transparent colour (a ``tRNS`` chunk), which
    libpng would expand to RGBA, stays RGB, as :func:`read_image` drops alpha for ``"rgb"``.

    Raises:
        InputError: starting with ``where``: not an 8-bit PNG of that size, too large, corrupt,
            or not decodable to ``shape``.
    """
    import cv2  # cv2 is heavy to import; only PNG readers need it

    try:
        width, height, depth, _ = png_header(data[:26])
        check_pixels(where, (width, height), max_pixels)
        if (height, width) != tuple(shape[:2]):
            raise ValueError(f"{width}x{height} pixels, expected {shape[1]}x{shape[0]}")
        if depth != 8:
            raise ValueError(f"bit depth {depth}; allowed: 8")
        flags = {1: cv2.IMREAD_GRAYSCALE, 3: cv2.IMREAD_COLOR, 4: cv2.IMREAD_UNCHANGED}
        if shape[2] not in flags:
            raise ValueError(f"{shape[2]} channels asked for; allowed: 1, 3 or 4")
        # EXIF orientation is not applied: the pixels are the array encode_png was given
        image = cv2.imdecode(np.frombuffer(data, np.uint8),
                             flags[shape[2]] | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise ValueError("corrupt PNG data")
    except InputError:
        raise
    except (ValueError, cv2.error) as exc:
        raise InputError(f"{where}: not a readable image ({exc})") from None
    if image.ndim == 2:
        image = image[..., None]
    if image.shape != tuple(shape):
        raise InputError(f"{where}: not a readable image (it decodes to shape {image.shape}, "
                         f"expected {tuple(shape)})")
    if shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image
