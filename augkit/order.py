"""Shuffled orders as a pure function of ``(seed, epoch)``, in numpy and in TensorFlow.

A stream visits the ``n`` items of its data set in a different order every epoch. The order is a
keyed pseudo-random permutation of ``[0, n)`` that depends on ``(seed, epoch)`` only: no state, no
random generator, no sort. numpy and TensorFlow compute the same permutation bit for bit (the
integer arithmetic of :mod:`augkit.rng`), so the cv and tf paths of ``augkit.stream``, the tf.data
service and ``augkit.ImageDataGenerator`` all agree on it.

How: a 4-round Feistel network on ``b`` bits (``b`` even, ``2**b >= n``, so ``2**b < 4 n``)
whose round function is augkit's counter-based hash keyed by ``(seed, epoch, round)`` is a
bijection of ``[0, 2**b)``; the images of ``0, 1, ..., 2**b - 1`` that fall below ``n``, in that
order, are a permutation of ``[0, n)``. One vectorized pass over fewer than ``4 n`` values, no
loop (cycle walking would need a data-dependent loop, which costs far more inside a graph).

Example:
    >>> import numpy as np
    >>> from augkit.order import epoch_order
    >>> order = epoch_order(10, seed=0, epoch=0)
    >>> sorted(order.tolist()) == list(range(10))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit import rng

__all__ = ["epoch_order", "MAX_ITEMS"]

#: Largest data set the permutation supports (every intermediate stays far from int64 overflow).
MAX_ITEMS = 2**31
_CHUNK = 1 << 20  # numpy evaluates the network in chunks: memory stays O(n)
_ROUNDS = 4
_SALT = 0x0A06_5EED_0DE4  # keeps order keys apart from the augmentation keys of rng


def _half_bits(n: int) -> int:
    bits = max(2, int(n - 1).bit_length())
    return (bits + 1) // 2


def _round_keys(seed: Any, epoch: Any) -> list[Any]:
    base = rng.sample_keys(seed, _SALT, epoch)
    return [rng.combine(base, r + 1) for r in range(_ROUNDS)]


def _feistel(x: Any, keys: list[Any], half: int) -> Any:
    m = 1 << half
    left, right = x // m, x & (m - 1)
    for key in keys:
        left, right = right, left ^ (rng.combine(key, right) & (m - 1))
    return left * m + right


def epoch_order(n: int, seed: Any, epoch: Any, xp: Any = None) -> Any:
    """The order in which epoch ``epoch`` visits ``n`` items: a permutation of ``[0, n)``.

    Args:
        n: the number of items (a Python int, ``1 <= n <= 2**31``).
        seed: non-negative integer (int, or int64 scalar tensor on TF).
        epoch: non-negative integer (int, or int64 scalar tensor on TF).
        xp: ``None``/``"np"`` for numpy, ``"tf"`` for TensorFlow (graph-safe, no loops).

    Returns:
        int64 vector of length ``n``; item ``order[p]`` is visited at position ``p``.

    Raises:
        ValueError: ``n`` out of range.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_ITEMS:
        raise ValueError(f"n: got {n!r}; allowed: an integer from 1 to 2**31")
    n = int(n)
    half = _half_bits(n)
    if xp == "tf":
        import tensorflow as tf

        keys = _round_keys(tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64))
        image = _feistel(tf.range(1 << (2 * half), dtype=tf.int64), keys, half)
        return tf.boolean_mask(image, image < n)
    if xp not in (None, "np"):
        raise ValueError(f"xp: got {xp!r}; allowed: None, 'np' or 'tf'")
    keys = [np.asarray(k, dtype=np.int64) for k in _round_keys(int(seed), int(epoch))]
    parts = []
    for start in range(0, 1 << (2 * half), _CHUNK):
        stop = min(start + _CHUNK, 1 << (2 * half))
        image = np.asarray(_feistel(np.arange(start, stop, dtype=np.int64), keys, half),
                           dtype=np.int64)
        parts.append(image[image < n])
    return np.concatenate(parts)
