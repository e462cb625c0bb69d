"""The seeding contract: every random number is a pure function of integers.

A draw is ``hash(seed, sample index, epoch, op slot, draw slot, element)``, computed with a
counter-based hash (murmur3's 32-bit finalizer, chained). The hash uses only ``+ * // & ^`` on
non-negative int64 values below 2**49, so numpy and TensorFlow evaluate it with identical
results: the cv and tf backends sample *the same* parameters from the same seed, whatever the
batch size, thread count, partitioning or order of calls. See ``docs/backends-and-seeding.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(x: Any, c: int) -> Any:
    """``(x * c) mod 2**32`` for ``0 <= x < 2**32`` without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + ((x * hi) & 0xFFFF) * 65536) & _M32


def _fmix32(h: Any) -> Any:
    """murmur3's finalizer: a bijection on 32-bit integers with full avalanche."""
    h = h ^ (h // 65536)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h // 8192)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h // 65536)


def _fmix32_np(h: np.ndarray) -> np.ndarray:
    """:func:`_fmix32` on numpy uint32 (wrapping arithmetic: same bits, ~3× fewer ops)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _u32(v: Any) -> np.ndarray:
    return (np.asarray(v, dtype=np.int64) & _M32).astype(np.uint32)


def combine(h: Any, v: Any) -> Any:
    """Mix the 32-bit value ``v`` into the 32-bit hash state ``h`` (arrays broadcast).

    numpy inputs take a uint32 fast path; everything else (Python ints, TF tensors) the
    portable int64 path. Both give identical bits.
    """
    if isinstance(h, np.ndarray) or isinstance(v, np.ndarray):
        h, v = _u32(h), _u32(v)
        with np.errstate(over="ignore"):
            mixed = _fmix32_np(v) + np.uint32(_GOLDEN) + (h << np.uint32(6)) + (h >> np.uint32(2))
            return _fmix32_np(h ^ mixed).astype(np.int64)
    mixed = (_fmix32(v & _M32) + _GOLDEN + (h * 64 & _M32) + h // 4) & _M32
    return _fmix32(h ^ mixed)


def _split64(v: Any) -> tuple[Any, Any]:
    return v & _M32, (v // 4294967296) & _M32


def sample_keys(seed: Any, index: Any, epoch: Any) -> Any:
    """Per-sample hash keys for ``(seed, index, epoch)``.

    Args:
        seed: non-negative integer (Python int, numpy or tf scalar) below 2**63.
        index: int64 array of the samples' positions in their data set.
        epoch: epoch or copy number (scalar or array broadcasting with ``index``).

    Returns:
        int64 array shaped like ``index`` with values in [0, 2**32).
    """
    s_lo, s_hi = _split64(seed)
    i_lo, i_hi = _split64(index)
    h = combine(combine(_fmix32(s_lo ^ 0x5BD1E995), s_hi), epoch & _M32)
    return combine(combine(h, i_lo), i_hi)


class Draws:
    """Random numbers for one op across a batch, from per-sample keys.

    Every method takes a ``slot`` (a small integer unique within the op) so that the op's
    draws are independent of each other and of draws added later.

    Args:
        keys: int64 per-sample keys for this op, shape ``(N,)``.
        xp: the backend's math namespace (``augkit.kernels.cv.NP`` or ``augkit.kernels.tf.TF``).
        block: optional precomputed ``bits(0..BLOCK-1)``, shape ``(N, BLOCK)`` (see
            :func:`op_draws`).
    """

    BLOCK = 8  # scalar slots hashed together in one vectorized call (numpy path)

    def __init__(self, keys: Any, xp: Any, block: Any = None) -> None:
        self.keys = keys
        self.xp = xp
        self._block: Any = block

    def bits(self, slot: int, size: int | None = None) -> Any:
        """Raw 32-bit hashes, ``(N,)`` or ``(N, size)``."""
        if size is None and isinstance(self.keys, np.ndarray) and 0 <= slot < self.BLOCK:
            if self._block is None:
                self._block = combine(self.keys[:, None], np.arange(self.BLOCK))
            return self._block[:, slot]
        k = combine(self.keys, slot)
        if size is None:
            return k
        return combine(self.xp.reshape(k, (-1, 1)), self.xp.arange(size))

    def uniform(self, slot: int, low: Any = 0.0, high: Any = 1.0, size: int | None = None) -> Any:
        """Uniform float32 in ``[low, high)``, shape ``(N,)`` or ``(N, size)``."""
        u = self.xp.f32(self.bits(slot, size) // 256) * np.float32(2.0**-24)
        return low + u * (high - low)

    def bernoulli(self, slot: int, p: float, size: int | None = None) -> Any:
        """Booleans that are True with probability ``p``."""
        return self.uniform(slot, size=size) < p

    def integers(self, slot: int, n: Any, size: int | None = None) -> Any:
        """Integers uniform in ``[0, n)`` as int64."""
        u = self.uniform(slot, size=size)
        return self.xp.i64(self.xp.minimum(self.xp.floor(u * n), n - 1))

    def normal(self, slot: int, size: int | None = None) -> Any:
        """Standard normal float32 (Box–Muller over two uniform draws)."""
        xp = self.xp
        u1 = self.uniform(slot, size=size)
        u2 = self.uniform(slot + 7919, size=size)
        return xp.sqrt(-2.0 * xp.log(1.0 - u1)) * xp.cos((2.0 * math.pi) * u2)


def op_draws(keys: Any, count: int, xp: Any) -> list[Draws]:
    """``Draws`` for ops 1..count of a pipeline (op ``i`` keyed ``combine(keys, i + 1)``).

    On numpy, every op's first :attr:`Draws.BLOCK` slots are hashed in two vectorized calls
    for the whole pipeline, instead of a few per op: at 32 px the per-call overhead costs more
    than the hashing. The bits are the same either way.
    """
    if not isinstance(keys, np.ndarray) or count == 0:
        return [Draws(combine(keys, i + 1), xp) for i in range(count)]
    op_keys = combine(keys[:, None], np.arange(1, count + 1))
    blocks = combine(op_keys[:, :, None], np.arange(Draws.BLOCK))
    return [Draws(op_keys[:, i], xp, blocks[:, i]) for i in range(count)]
