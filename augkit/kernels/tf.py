"""TensorFlow kernels: TF ops only, batched, graph-safe (``tf.data.Dataset.map``, Keras layers).

Imported only when ``backend="tf"`` is used, so the cv path never pays TensorFlow's import.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from augkit.geometry import matmul3 as _matmul3
from augkit.kernels import kernel
from augkit.kernels.common import Ctx


def _lanes(fn: Any) -> Any:
    """Wrap a transcendental TF op so every element takes Eigen's vectorized path.

    Eigen computes whole SIMD packets with a polynomial and the leftover tail with the scalar
    libm function; the two differ in the last bit, so without this a sample's result would
    depend on where it sits in the batch (and thus on the batch size). Padding the flattened
    input to a multiple of 64 lanes leaves no tail.
    """

    def run(x: Any) -> tf.Tensor:
        x = tf.convert_to_tensor(x, tf.float32)
        flat = tf.reshape(x, [-1])
        size = tf.size(flat)
        padded = tf.pad(flat, [[0, tf.math.floormod(-size, 64)]], constant_values=1.0)
        return tf.reshape(fn(padded)[:size], tf.shape(x))

    return staticmethod(run)


class _TFMath:
    """The array namespace ops and common kernels use on the tf backend."""

    name = "tf"
    cos, sin, tan, exp, log = (_lanes(f) for f in (tf.cos, tf.sin, tf.tan, tf.exp, tf.math.log))
    sqrt = staticmethod(tf.sqrt)  # correctly rounded: no lane dependence
    floor, round, abs = map(staticmethod, (tf.floor, tf.round, tf.abs))

    @staticmethod
    def minimum(a: Any, b: Any) -> tf.Tensor:
        return tf.minimum(a, tf.cast(b, a.dtype) if isinstance(b, tf.Tensor) else b)

    @staticmethod
    def maximum(a: Any, b: Any) -> tf.Tensor:
        return tf.maximum(a, b)

    @staticmethod
    def clip(x: Any, lo: Any, hi: Any) -> tf.Tensor:
        return tf.clip_by_value(x, lo, hi)

    @staticmethod
    def where(c: Any, a: Any, b: Any) -> tf.Tensor:
        a = tf.convert_to_tensor(a, dtype=tf.float32) if not isinstance(a, tf.Tensor) else a
        b = tf.convert_to_tensor(b, dtype=a.dtype) if not isinstance(b, tf.Tensor) else b
        return tf.where(c, a, b)

    @staticmethod
    def mean(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def min(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_min(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def max(x: Any, axis: Any = None, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_max(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def f32(x: Any) -> tf.Tensor:
        return tf.cast(x, tf.float32)

    @staticmethod
    def i64(x: Any) -> tf.Tensor:
        return tf.cast(x, tf.int64)

    @staticmethod
    def arange(n: Any) -> tf.Tensor:
        return tf.range(tf.cast(n, tf.int64), dtype=tf.int64)

    @staticmethod
    def stack(xs: list, axis: int = -1) -> tf.Tensor:
        return tf.stack([tf.cast(x, tf.float32) for x in xs], axis=axis)

    @staticmethod
    def concat(xs: list, axis: int = -1) -> tf.Tensor:
        return tf.concat(xs, axis=axis)

    @staticmethod
    def reshape(x: Any, shape: Any) -> tf.Tensor:
        return tf.reshape(x, shape)

    @staticmethod
    def shape(x: Any) -> tf.Tensor:
        return tf.shape(x, out_type=tf.int64)

    @staticmethod
    def shape0(x: Any) -> tf.Tensor:
        return tf.shape(x)[0]

    @staticmethod
    def with_channels(shape: Any, c: int) -> tf.Tensor:
        return tf.concat([shape[:-1], tf.constant([c], tf.int64)], axis=0)

    @staticmethod
    def size_per_sample(shape: Any) -> tf.Tensor:
        return tf.reduce_prod(shape[1:])

    @staticmethod
    def take(values: Any, idx: Any) -> tf.Tensor:
        return tf.gather(tf.constant(values, tf.float32), idx)

    @staticmethod
    def gather(values: Any, idx: Any) -> tf.Tensor:
        """Rows ``values[idx]`` (any dtype): a sample's matrix for each of its boxes."""
        return tf.gather(values, idx)

    @staticmethod
    def matmul(a: Any, b: Any) -> tf.Tensor:
        return _matmul3(a, b)

    @staticmethod
    def scale_values(x: Any, scale: float, offset: float) -> tf.Tensor:
        out = tf.cast(x, tf.float32) * scale
        if isinstance(offset, (int, float)) and offset == 0:
            return out  # as the cv backend: no pass for a zero offset (and -0.0 stays -0.0)
        return out + offset

    @staticmethod
    def eye3(n: Any) -> tf.Tensor:
        return tf.eye(3, batch_shape=[n], dtype=tf.float32)

    @staticmethod
    def full(n: Any, value: float) -> tf.Tensor:
        return tf.fill(tf.reshape(tf.cast(n, tf.int32), [1]), tf.constant(value, tf.float32))


TF = _TFMath()

_FILL = {"nearest": "NEAREST", "constant": "CONSTANT", "reflect": "REFLECT", "wrap": "WRAP"}
_INTERP = {"bilinear": "BILINEAR", "nearest": "NEAREST"}


def warp(x: tf.Tensor, inv: tf.Tensor, out_size: tuple, *, fill_mode: str, cval: float,
         interpolation: str, flips_only: bool = False) -> tf.Tensor:
    """Warp a float32 batch with inverse (output → input) matrices, TF's projective transform.

    The caller passes float32: TF's kernel casts its float result to the image dtype by
    truncation, which on uint8 would darken every interpolated pixel by half a level on average.
    Flips need no special path here: their source coordinates are integers, so they are exact.
    """
    if fill_mode == "wrap":
        return _warp_wrap(x, inv, out_size, interpolation)
    transforms = tf.reshape(inv, (-1, 9))[:, :8]
    transforms = transforms / tf.reshape(inv[:, 2, 2], (-1, 1))
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.cast(tf.stack([out_size[0], out_size[1]]), tf.int32),
        fill_value=tf.cast(cval, tf.float32),
        interpolation=_INTERP[interpolation],
        fill_mode=_FILL[fill_mode],
    )
    static_h = out_size[0] if isinstance(out_size[0], int) else None
    static_w = out_size[1] if isinstance(out_size[1], int) else None
    return tf.ensure_shape(out, [None, static_h, static_w, x.shape[-1]])


def _warp_wrap(x: tf.Tensor, inv: tf.Tensor, out_size: tuple, interpolation: str) -> tf.Tensor:
    """Periodic ("wrap") warp by explicit gathers.

    TensorFlow's ``ImageProjectiveTransformV3`` wraps with a period of ``len - 1`` past the
    first repetition and clamps the seam, so far-away or seam pixels come out wrong; this
    matches OpenCV's ``BORDER_WRAP`` instead.
    """
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    ys, xs = tf.meshgrid(tf.range(out_size[0], dtype=tf.float32),
                         tf.range(out_size[1], dtype=tf.float32), indexing="ij")
    m = tf.cast(inv, tf.float32)[:, :, :, None, None]
    sx = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    sy = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]

    def gather(row: tf.Tensor, col: tf.Tensor) -> tf.Tensor:
        idx = tf.stack([tf.math.floormod(tf.cast(row, tf.int32), h),
                        tf.math.floormod(tf.cast(col, tf.int32), w)], axis=-1)
        return tf.gather_nd(x, idx, batch_dims=1)

    if interpolation == "nearest":
        out = gather(tf.floor(sy + 0.5), tf.floor(sx + 0.5))
    else:
        x0, y0 = tf.floor(sx), tf.floor(sy)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        top = gather(y0, x0) * (1.0 - fx) + gather(y0, x0 + 1.0) * fx
        bottom = gather(y0 + 1.0, x0) * (1.0 - fx) + gather(y0 + 1.0, x0 + 1.0) * fx
        out = top * (1.0 - fy) + bottom * fy
    static_h = out_size[0] if isinstance(out_size[0], int) else None
    static_w = out_size[1] if isinstance(out_size[1], int) else None
    return tf.ensure_shape(out, [None, static_h, static_w, x.shape[-1]])


@kernel("warp", "tf", "mask")
def warp_mask(masks: tf.Tensor, inv: tf.Tensor, out_size: tuple, *, fill: Any,
              flips_only: bool = False) -> tf.Tensor:
    """Warp class masks ``(N, H, W, K)`` of any dtype: nearest neighbour, ``fill`` outside.

    An explicit gather with the arithmetic of the cv backend's nearest warp (itself
    TensorFlow's ``MapCoordinate`` and round-half-away), so both backends pick the same source
    pixel and no dtype goes through float. Flips have integer source coordinates: exact.
    """
    shape = tf.shape(masks, out_type=tf.int64)
    h, w = shape[1], shape[2]
    ys, xs = tf.meshgrid(tf.range(out_size[0], dtype=tf.float32),
                         tf.range(out_size[1], dtype=tf.float32), indexing="ij")
    m = tf.cast(inv, tf.float32)[:, :, :, None, None]
    sx = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    sy = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    col = tf.cast(tf.sign(sx) * tf.floor(tf.abs(sx) + 0.5), tf.int64)
    row = tf.cast(tf.sign(sy) * tf.floor(tf.abs(sy) + 0.5), tf.int64)
    valid = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    idx = tf.stack([tf.clip_by_value(row, 0, h - 1), tf.clip_by_value(col, 0, w - 1)], axis=-1)
    out = tf.gather_nd(masks, idx, batch_dims=1)
    filled = tf.cast(tf.constant(fill), masks.dtype)
    return tf.where(valid[..., None], out, filled)


@kernel("gaussian_blur", "tf")
def gaussian_blur_image(x: tf.Tensor, params: dict, ctx: Ctx) -> tf.Tensor:
    from augkit.ops.noise import blur_radius

    radius = blur_radius(params["sigma_range"][1])
    k = tf.range(-radius, radius + 1, dtype=tf.float32)
    sigma = tf.reshape(tf.cast(params["sigma"], tf.float32), (-1, 1))
    wts = TF.exp(-(k * k)[None, :] / (2.0 * sigma * sigma))  # no tf.pow: lane-dependent
    size = 2 * radius + 1
    # An explicit sum: a reduce_sum's order of additions can depend on the batch size.
    wts = wts / tf.reshape(tf.add_n([wts[:, i] for i in range(size)]), (-1, 1))
    # Separable blur as a weighted sum of shifted copies: per-sample kernels, no loops over
    # samples. REFLECT padding is OpenCV's BORDER_REFLECT_101.
    padded = tf.pad(x, [[0, 0], [0, 0], [radius, radius], [0, 0]], mode="REFLECT")
    width = tf.shape(x)[2]
    rows = tf.add_n([padded[:, :, i:i + width, :] * tf.reshape(wts[:, i], (-1, 1, 1, 1))
                     for i in range(size)])
    padded = tf.pad(rows, [[0, 0], [radius, radius], [0, 0], [0, 0]], mode="REFLECT")
    height = tf.shape(x)[1]
    out = tf.add_n([padded[:, i:i + height, :, :] * tf.reshape(wts[:, i], (-1, 1, 1, 1))
                    for i in range(size)])
    return ctx.clip(tf.ensure_shape(out, x.shape))
