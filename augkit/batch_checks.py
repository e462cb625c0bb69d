"""Validation of what a cv batch call receives: images, labels, seed, index, epoch.

Every message names the argument, what it got and what is allowed. :class:`augkit.Pipeline`
adds its own checks on top (each op's backends and input shape).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit import rng
from augkit.errors import InputError

_MAX_SEED = 2**63 - 1


def check_images(images: Any, value_range: tuple[float, float]) -> np.ndarray:
    """A batch ``(N, H, W, C)``, C in 1, 3, 4, uint8 or finite float32 within ``value_range``."""
    x = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or 0 in x.shape:
        raise InputError(f"images: expected shape (N, H, W, C) with C in 1, 3, 4 and no "
                         f"empty axis, got {x.shape}")
    if x.dtype == np.uint8:
        pass
    elif x.dtype == np.float32:
        lo, hi = value_range
        if not np.isfinite(x).all():
            raise InputError("images: contain NaN or inf; allowed: finite values")
        mn, mx = float(x.min()), float(x.max())
        if mn < lo or mx > hi:
            raise InputError(
                f"images: float values span [{mn:g}, {mx:g}], outside the declared "
                f"value_range [{lo:g}, {hi:g}]; rescale the data or pass "
                f"Pipeline(value_range=...)"
            )
    else:
        raise InputError(f"images: dtype {x.dtype} is not supported; allowed: uint8 or "
                         f"float32 (convert with .astype)")
    return x


def check_labels(labels: Any, n: int) -> None:
    """``None``, or anything with one row per image."""
    if labels is None:
        return
    count = len(labels) if hasattr(labels, "__len__") else None
    if count != n:
        raise InputError(f"labels: {count} labels for {n} images; allowed: one per image")


def cv_keys(seed: Any, index: Any, epoch: Any, n: int) -> np.ndarray:
    """Validated per-sample keys of a cv batch of ``n`` (``rng.sample_keys``)."""
    idx = check_index(index, n)
    check_int(seed, "seed")
    check_int(epoch, "epoch")
    return rng.sample_keys(int(seed), idx, int(epoch))


def check_int(value: Any, name: str) -> None:
    """A non-negative integer up to 2**63-1 (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name}: got {value!r}; allowed: a non-negative integer")
    if not 0 <= int(value) <= _MAX_SEED:
        raise InputError(f"{name}: got {value!r}; allowed: an integer from 0 to 2**63-1")


def check_index(index: Any, n: int) -> np.ndarray:
    """``n`` non-negative integer sample positions as int64; ``None`` means ``arange(n)``."""
    if index is None:
        return np.arange(n, dtype=np.int64)
    idx = np.asarray(index)
    if idx.shape != (n,) or not np.issubdtype(idx.dtype, np.integer) or (idx < 0).any():
        raise InputError(f"index: expected {n} non-negative integers (one per image), got "
                         f"shape {idx.shape} dtype {idx.dtype}")
    return idx.astype(np.int64)


def as_image_array(source: Any, what: str = "images") -> np.ndarray:
    """Images as an ``(N, H, W, C)`` uint8 or float32 array, C in 1, 3, 4.

    ``(N, H, W)`` gains a channel axis; other float dtypes become float32 and integers within
    [0, 255] uint8. ``what`` names the images in error messages.
    """
    x = np.asarray(source)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or 0 in x.shape:
        empty = " (no images)" if x.ndim == 4 and x.shape[0] == 0 else ""
        raise InputError(f"{what}: expected shape (N, H, W, C) with C in 1, 3, 4 (or "
                         f"(N, H, W)) and N, H, W at least 1, got {np.shape(source)}{empty}")
    if x.dtype == np.uint8 or x.dtype == np.float32:
        pass
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    elif np.issubdtype(x.dtype, np.integer) and x.min() >= 0 and x.max() <= 255:
        x = x.astype(np.uint8)
    else:
        raise InputError(f"{what}: dtype {x.dtype} is not supported; allowed: uint8, float "
                         f"(in the pipeline's value_range), or integers in [0, 255]")
    return x
