"""Label-mixing ops: MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019).

Unlike every other op, a mixing op works on a whole batch: each sample is blended with a
*partner* from the same batch, and the labels are blended with the same weights, so a mixing op
needs labels (one-hot or soft: 2-D floats whose rows sum to 1) and its result depends on the
batch composition. What stays a pure function of ``(seed, index, epoch)``:

* the mixing coefficient ``lambda`` of each sample, drawn per sample from Beta(alpha, alpha)
  by inverting a tabulated quantile function with augkit's hash uniforms (no transcendental
  function, so both backends draw the same bits);
* the partners: the batch sorted by a per-sample hash, each sample paired with the next one in
  that order (cyclically). The pairing depends on the set of samples in the batch, not on their
  order within it, and never pairs a sample with itself in a batch of two or more.

Mixing ops come after the per-sample ops: only other mixing ops, ``rescale`` and ``normalize``
may follow one (:func:`check_order`). The pipeline runs the ops before the first mixing op as
usual, then the mixing ops (with the labels) and what follows them (:func:`run_mixing`).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

from augkit import rng
from augkit.errors import InputError, SpecError
from augkit.ops.base import Op, register
from augkit.params import Number

_TABLE = 4096  # quantile table intervals: lambda = Q(u) interpolated between u = k / 4096
_AFTER_MIXING = ("rescale", "normalize")  # ops allowed after a mixing op besides mixing ops
_SUM_TOLERANCE = 1e-3


@functools.lru_cache(maxsize=64)
def beta_quantiles(alpha: float) -> np.ndarray:
    """The quantile function of Beta(alpha, alpha) at ``u = k / 4096``, ``k = 0..4096`` (float32).

    Computed once per alpha by integrating the density numerically (normalized so that
    ``F(1/2) = 1/2``, which holds by symmetry); for ``alpha < 1`` the integral is taken over
    ``s = x ** alpha``, where the integrand ``(1 - s ** (1/alpha)) ** (alpha - 1)`` is smooth.
    """
    u = np.arange(_TABLE // 2 + 1) / _TABLE  # 0 .. 1/2; the upper half by symmetry
    if alpha < 1.0:
        s = np.linspace(0.0, 0.5**alpha, 200_001)
        cdf = _cumulative((1.0 - s ** (1.0 / alpha)) ** (alpha - 1.0), s)
        q = np.interp(u, cdf, s) ** (1.0 / alpha)
    else:
        x = np.linspace(0.0, 0.5, 200_001)
        cdf = _cumulative((x * (1.0 - x)) ** (alpha - 1.0), x)
        q = np.interp(u, cdf, x)
    q[0] = 0.0
    return np.concatenate([q, 1.0 - q[-2::-1]]).astype(np.float32)


def _cumulative(f: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid cumulative integral, scaled to end at 1/2."""
    out = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) * np.diff(x) / 2.0)])
    return out * (0.5 / out[-1])


def sample_lambda(draws: Any, slot: int, alpha: float) -> Any:
    """Beta(alpha, alpha) per sample: the tabulated quantile function at a hash uniform.

    Only exact float32 operations (products by a power of two, floor, gathers) and one
    interpolation whose additions happen in the same order on both backends: bit-identical.
    """
    xp = draws.xp
    table = beta_quantiles(float(alpha))
    pos = draws.uniform(slot) * float(_TABLE)
    low = xp.floor(pos)
    i = xp.i64(low)
    a, b = xp.take(table, i), xp.take(table, i + 1)
    return a + (pos - low) * (b - a)


def partners(draws: Any, slot: int) -> Any:
    """Each sample's partner (int64 positions): the next sample in hash order, cyclically."""
    keys = draws.bits(slot)
    if draws.xp.name == "cv":
        order = np.argsort(keys, kind="stable")
        return np.roll(order, -1)[np.argsort(order, kind="stable")]
    import tensorflow as tf

    order = tf.argsort(keys, stable=True)
    return tf.cast(tf.gather(tf.roll(order, -1, 0), tf.argsort(order, stable=True)), tf.int64)


class OptionalClasses(Number):
    """``null`` or a class count."""

    def validate(self, value: Any, path: str) -> int | None:
        return None if value is None else super().validate(value, path)

    def describe(self) -> str:
        return "null or " + super().describe()


class Mixing(Op):
    """Base of the batch-level mixing ops (see the module docstring)."""

    mixes: ClassVar[bool] = True

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        xp = draws.xp
        lam = sample_lambda(draws, 1, self.alpha)
        return {"lam": xp.where(draws.bernoulli(0, self.p), lam, 1.0),
                "partner": partners(draws, 4)}


_ALPHA = "Beta(alpha, alpha) parameter of the mixing coefficient"
_CLASSES = OptionalClasses(None, "one-hot integer labels to this many classes first", min=2,
                           max=1_000_000, integer=True)


@register
class MixUp(Mixing):
    """MixUp: blend each image and its label with a partner's, ``lam * own + (1 - lam) *
    partner``, ``lam`` drawn per sample from Beta(``alpha``, ``alpha``).

    Needs a batch and its one-hot or soft labels (or integer labels with ``num_classes``);
    ``p`` is the probability that a sample is mixed at all. uint8 images stay uint8 (the blend
    is rounded). See ``docs/mixing-and-policies.md``.

    Targets:
        image, label.

    Example:
        >>> import numpy as np, augkit
        >>> pipe = augkit.Pipeline([augkit.ops.MixUp(alpha=0.4)])
        >>> y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
        >>> images, labels = pipe.apply(np.zeros((4, 8, 8, 3), np.uint8), y, seed=0)
        >>> bool(np.allclose(labels.sum(axis=1), 1.0))
        True
    """

    name = "mixup"
    params = {"alpha": Number(0.2, _ALPHA, min=0.01, max=100.0), "num_classes": _CLASSES}


@register
class CutMix(Mixing):
    """CutMix: paste a box of a partner image into each image; the label weight of the partner
    is the pasted box's exact pixel fraction.

    The box's area fraction is ``1 - lam`` (``lam`` per sample from Beta(``alpha``,
    ``alpha``)), its sides ``floor(W * sqrt(1 - lam))`` by ``floor(H * sqrt(1 - lam))``, its
    centre uniform over the image; it is clipped to the image and the label weight recomputed
    from the box actually pasted (Yun et al.'s reference code).

    Targets:
        image, label.
    """

    name = "cutmix"
    params = {"alpha": Number(1.0, _ALPHA, min=0.01, max=100.0), "num_classes": _CLASSES}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        xp = draws.xp
        out = super().sample(draws, height, width)
        h, w = xp.f32(height), xp.f32(width)
        ratio = xp.sqrt(1.0 - out["lam"])
        half_w, half_h = xp.floor(xp.floor(w * ratio) / 2.0), xp.floor(xp.floor(h * ratio) / 2.0)
        cx, cy = xp.f32(draws.integers(2, w)), xp.f32(draws.integers(3, h))
        out.update(x0=xp.clip(cx - half_w, 0.0, w), x1=xp.clip(cx + half_w, 0.0, w),
                   y0=xp.clip(cy - half_h, 0.0, h), y1=xp.clip(cy + half_h, 0.0, h))
        return out


def is_mixing(op: Any) -> bool:
    """Whether ``op`` mixes samples within a batch."""
    return bool(getattr(op, "mixes", False))


def check_order(ops: list) -> None:
    """Refuse a per-sample op after a mixing op (``SpecError`` naming both)."""
    first = next((i for i, op in enumerate(ops) if is_mixing(op)), None)
    if first is None:
        return
    for i in range(first + 1, len(ops)):
        if not is_mixing(ops[i]) and ops[i].name not in _AFTER_MIXING:
            raise SpecError(
                f"ops[{i}] ({ops[i].name}): comes after the mixing op ops[{first}] "
                f"({ops[first].name}); allowed after a mixing op: other mixing ops, rescale, "
                f"normalize. Put per-sample ops first: a geometric op after cutmix would move "
                f"the box its label weight was measured on")


# -- labels ------------------------------------------------------------------------------------
def _label_error(path: str, what: str) -> InputError:
    return InputError(
        f"labels: {what}; {path} mixes labels and needs one-hot or soft labels (2-D floats, "
        f"one row per image, rows summing to 1). One-hot integer labels first (e.g. "
        f"keras.utils.to_categorical(y, num_classes)) or give the op num_classes=K")


def prepare_labels(labels: Any, op: Mixing, path: str, xp: Any) -> Any:
    """Validate labels for a mixing op; one-hot integer labels when the op has num_classes.

    Returns float32 ``(N, K)`` labels (numpy on cv, a tensor on tf; on tf the value checks run
    in the graph).
    """
    if labels is None:
        raise _label_error(path, "got None")
    if xp.name == "tf":
        return _prepare_tf(labels, op, path)
    y = np.asarray(labels)
    k = op.num_classes
    if np.issubdtype(y.dtype, np.integer):
        if k is None:
            raise _label_error(path, f"got integer class indices of shape {y.shape}")
        flat = y.reshape(len(y), -1)
        if flat.shape[1] != 1:
            raise _label_error(path, f"got integers of shape {y.shape}; class indices are "
                                     f"(N,) or (N, 1)")
        bad = flat[(flat < 0) | (flat >= k)]
        if bad.size:
            raise InputError(f"labels: class index {int(bad[0])} is outside 0..{k - 1} "
                             f"({path} has num_classes={k})")
        return np.eye(k, dtype=np.float32)[flat[:, 0]]
    if not np.issubdtype(y.dtype, np.floating) or y.ndim != 2:
        raise _label_error(path, f"got dtype {y.dtype} and shape {y.shape}")
    if k is not None and y.shape[1] != k:
        raise InputError(f"labels: {y.shape[1]} classes per row, but {path} has "
                         f"num_classes={k}")
    y = y.astype(np.float32)
    sums = y.sum(axis=1)
    if not np.isfinite(y).all() or (y < 0).any() or (np.abs(sums - 1.0) > _SUM_TOLERANCE).any():
        worst = int(np.argmax(np.abs(np.nan_to_num(sums, nan=np.inf) - 1.0)))
        raise _label_error(path, f"row {worst} sums to {sums[worst]:g} (or holds a negative "
                                 f"or non-finite value)")
    return y


def _prepare_tf(labels: Any, op: Mixing, path: str) -> Any:
    import tensorflow as tf

    y = tf.convert_to_tensor(labels)
    k = op.num_classes
    if y.dtype.is_integer:
        if k is None:
            raise _label_error(path, f"got integer class indices of shape {y.shape}")
        if y.shape.rank not in (1, 2) or (y.shape.rank == 2 and y.shape[1] != 1):
            raise _label_error(path, f"got integers of shape {y.shape}; class indices are "
                                     f"(N,) or (N, 1)")
        flat = tf.reshape(tf.cast(y, tf.int64), [-1])
        ok = tf.reduce_all((flat >= 0) & (flat < k))
        message = f"labels: a class index is outside 0..{k - 1} ({path} has num_classes={k})"
        check = tf.debugging.Assert(ok, [message, flat])
        with tf.control_dependencies([check]):
            return tf.one_hot(flat, k, dtype=tf.float32)
    if not y.dtype.is_floating or y.shape.rank != 2:
        raise _label_error(path, f"got dtype {y.dtype.name} and shape {y.shape}")
    if k is not None and y.shape[1] is not None and y.shape[1] != k:
        raise InputError(f"labels: {y.shape[1]} classes per row, but {path} has "
                         f"num_classes={k}")
    y = tf.cast(y, tf.float32)
    sums = tf.reduce_sum(y, axis=1)
    ok = tf.reduce_all(tf.abs(sums - 1.0) <= _SUM_TOLERANCE) & tf.reduce_all(y >= 0.0)
    message = (f"labels: {path} needs one-hot or soft labels (rows summing to 1, no negative "
               f"value); row sums:")
    check = tf.debugging.Assert(ok, [message, sums])
    with tf.control_dependencies([check]):
        return tf.identity(y)


# -- running -----------------------------------------------------------------------------------
def run_mixing(pipeline: Any, x: Any, labels: Any, keys: Any, xp: Any, warp: Any, *,
               backend: str) -> tuple[Any, Any]:
    """Run a pipeline that holds mixing ops: returns ``(images, mixed labels)``.

    The ops before the first mixing op run as a pipeline of their own (their draws are keyed
    by position, so they are the same as in the whole pipeline); then each mixing op blends
    images and labels (uint8 results rounded back to uint8) and each ``rescale``/``normalize``
    after it runs on the result.
    """
    from augkit.kernels import lookup
    from augkit.kernels.common import Ctx

    ops = pipeline.ops
    first = next(i for i, op in enumerate(ops) if is_mixing(op))
    settings = {k: getattr(pipeline, k) for k in ("fill_mode", "cval", "interpolation",
                                                  "value_range")}
    dtype = "uint8" if str(getattr(x.dtype, "name", x.dtype)) == "uint8" else "float32"
    head = type(pipeline)(ops[:first], **settings)
    x = head.run(x, keys, xp, warp, backend=backend)
    dtype, vrange = head.output_dtype(dtype), head.output_range(dtype)
    y = labels
    for i in range(first, len(ops)):
        op = ops[i]
        if not is_mixing(op):  # rescale / normalize: p == 1, no draws
            step = type(pipeline)([op], **{**settings, "value_range": vrange})
            x = step.run(x, keys, xp, warp, backend=backend)
            dtype, vrange = op.output_dtype(dtype), op.output_range(vrange)
            continue
        path = f"ops[{i}] ({op.name})"
        y = prepare_labels(y, op, path, xp)
        draws = rng.Draws(rng.combine(keys, i + 1), xp)
        shape = xp.shape(x)
        params = {**op.values, **op.sample(draws, shape[1], shape[2])}
        mixed, y = lookup(op.name, backend, "batch")(xp.f32(x), y, params, Ctx(xp, vrange))
        x = _round_uint8(mixed, xp) if dtype == "uint8" else mixed
    return x, y


def _round_uint8(x: Any, xp: Any) -> Any:
    if xp.name == "cv":
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    import tensorflow as tf

    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)
