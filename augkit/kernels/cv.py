"""CPU kernels: numpy + OpenCV. No TensorFlow here.

The warp runs ``cv2.warpAffine`` per image (OpenCV releases the GIL, so chunks of a large batch
run on threads, see :mod:`augkit.kernels.cv_threads`; a 3-channel image of 64×64 pixels or more
is warped as 4 channels, which OpenCV vectorizes, with identical results); pure flips take an
exact path (one ``cv2.flip`` per flipped image); nearest interpolation is a numpy gather that
reproduces TensorFlow's coordinate arithmetic so the backends agree exactly.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from augkit.geometry import matmul3 as _matmul3
from augkit.kernels import kernel
from augkit.kernels.common import Ctx
from augkit.kernels.cv_threads import map_chunks

_BORDER = {
    "nearest": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT,
    "wrap": cv2.BORDER_WRAP,
}
_INTER = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
# Below this many pixels per image a per-image rescale call costs more than the cache it saves
# (measured: -15 % at 32 px, +17 % at 224 px).
_FUSE_MIN_PIXELS = 1 << 14
# From this many output pixels per image, a 3-channel bilinear warp runs as a 4-channel one
# (OpenCV's vectorized bilinear remap serves 1, 2 and 4 channels, not 3): RGB -> RGBA, warp,
# RGBA -> RGB gives bit-identical pixels. Measured per image, uint8 / float32: 0.84x / 0.74x at
# 32 px, 1.1x / 1.0x at 48 px, 1.2x / 1.4x at 64 px, 1.7x / 2.2x at 128 px, 2.1x / 2.8x at
# 224 px.
_RGBA_MIN_PIXELS = 64 * 64
_RGBA_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))  # cvtColor's


class _NumpyMath:
    """The array namespace ops and common kernels use on the cv backend."""

    name = "cv"
    cos, sin, tan, exp, log, sqrt = map(staticmethod, (np.cos, np.sin, np.tan, np.exp, np.log,
                                                       np.sqrt))
    floor, round, minimum, maximum, abs, clip = map(staticmethod, (
        np.floor, np.rint, np.minimum, np.maximum, np.abs, np.clip))
    where, mean, min, max = map(staticmethod, (np.where, np.mean, np.min, np.max))

    @staticmethod
    def f32(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    @staticmethod
    def i64(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.int64)

    @staticmethod
    def arange(n: Any) -> np.ndarray:
        return np.arange(n, dtype=np.int64)

    @staticmethod
    def stack(xs: list, axis: int = -1) -> np.ndarray:
        return np.stack([np.asarray(x, np.float32) for x in xs], axis=axis)

    @staticmethod
    def concat(xs: list, axis: int = -1) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def reshape(x: Any, shape: Any) -> np.ndarray:
        return np.reshape(x, shape)

    @staticmethod
    def shape(x: Any) -> tuple:
        return x.shape

    @staticmethod
    def shape0(x: Any) -> int:
        return np.shape(x)[0]

    @staticmethod
    def with_channels(shape: tuple, c: int) -> tuple:
        return (*shape[:-1], c)

    @staticmethod
    def size_per_sample(shape: tuple) -> int:
        return int(np.prod(shape[1:]))

    @staticmethod
    def take(values: Any, idx: Any) -> np.ndarray:
        return np.asarray(values, dtype=np.float32)[idx]

    @staticmethod
    def gather(values: Any, idx: Any) -> np.ndarray:
        """Rows ``values[idx]`` (any dtype): a sample's matrix for each of its boxes."""
        return values[idx]

    @staticmethod
    def matmul(a: Any, b: Any) -> np.ndarray:
        return _matmul3(a, b)

    @staticmethod
    def scale_values(x: Any, scale: float, offset: float,
                     out: np.ndarray | None = None) -> np.ndarray:
        """``x * scale + offset`` as float32 (into ``out`` when given): one conversion, then in
        place. The same values as one casting ``np.multiply(x, scale, dtype=float32)``, which
        runs through a small buffer: measured 1.6x slower at 32 and 224 px."""
        if out is None:
            out = np.asarray(x).astype(np.float32)
        else:
            np.copyto(out, x, casting="unsafe")
        np.multiply(out, np.float32(scale), out=out)
        if offset:
            out += np.float32(offset)
        return out

    @staticmethod
    def eye3(n: Any) -> np.ndarray:
        return np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy()

    @staticmethod
    def full(n: Any, value: float) -> np.ndarray:
        return np.full((n,), value, dtype=np.float32)


NP = _NumpyMath()

#: TensorFlow takes a ``tf.numpy_function`` result as it is when its data starts on this
#: boundary (Eigen's largest alignment), and copies it otherwise (``NdarrayToTensor``).
TF_ALIGN = 64


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose data starts on a :data:`TF_ALIGN`-byte boundary.

    A large numpy array's data sits 16 bytes past a page boundary, so TensorFlow copies it
    when a ``tf.numpy_function`` returns it: at 32 px in a stream, a memory copy and fresh
    pages for every call (measured: ~1 µs of CPU per image, ~7 % of the throughput).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + TF_ALIGN, np.uint8)
    start = -raw.ctypes.data % TF_ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def take_rows(x: Any, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` in an :func:`aligned_empty` array, for a result handed to TensorFlow.

    ``x`` may be any array-like that supports fancy indexing (e.g. a lazy shard array); only
    numpy arrays get the aligned copy.

    Raises:
        IndexError: a row outside ``0 .. len(x) - 1`` (never clipped to a wrong row).
    """
    if not isinstance(x, np.ndarray):
        return x[rows]
    if len(rows) and (rows.min() < 0 or rows.max() >= len(x)):
        raise IndexError(f"rows {rows.min()}..{rows.max()} outside the {len(x)} rows")
    out = aligned_empty((len(rows), *x.shape[1:]), x.dtype)
    return np.take(x, rows, axis=0, out=out, mode="clip")  # "raise" buffers: 5x slower


def _flip_only(inv: np.ndarray, h: int, w: int, oh: int, ow: int) -> np.ndarray | None:
    """``(flip_x, flip_y)`` per sample if every matrix is an exact flip/identity, else None."""
    if (oh, ow) != (h, w):
        return None
    a, b, c = inv[:, 0, 0], inv[:, 0, 1], inv[:, 0, 2]
    d, e, f = inv[:, 1, 0], inv[:, 1, 1], inv[:, 1, 2]
    fx = np.isclose(a, -1, atol=1e-6) & np.isclose(c, w - 1, atol=1e-4)
    ix = np.isclose(a, 1, atol=1e-6) & np.isclose(c, 0, atol=1e-4)
    fy = np.isclose(e, -1, atol=1e-6) & np.isclose(f, h - 1, atol=1e-4)
    iy = np.isclose(e, 1, atol=1e-6) & np.isclose(f, 0, atol=1e-4)
    ok = (fx | ix) & (fy | iy) & (np.abs(b) < 1e-6) & (np.abs(d) < 1e-6)
    return np.stack([fx, fy], axis=1) if ok.all() else None


_FLIP_CODES = {(True, False): 1, (False, True): 0, (True, True): -1}  # cv2.flip's
_FLIP_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32,
                                           np.float32, np.float64))


def _flip(x: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Exact flips, ``flips[i] = (horizontal, vertical)``: a copy, then one ``cv2.flip`` per
    flipped image (numpy's fancy indexing on a reversed axis took 4× as long at 32 px);
    numpy for what OpenCV cannot hold (other dtypes, more than 4 channels)."""
    out = aligned_empty(x.shape, x.dtype)
    np.copyto(out, x)
    if x.dtype not in _FLIP_DTYPES or x.shape[-1] > 4:
        out[flips[:, 0]] = out[flips[:, 0], :, ::-1]
        out[flips[:, 1]] = out[flips[:, 1], ::-1]
        return out
    todo = np.flatnonzero(flips.any(axis=1))
    codes = [_FLIP_CODES[(bool(a), bool(b))] for a, b in flips[todo]]

    def run(start: int, stop: int) -> None:
        for i, code in zip(todo[start:stop], codes[start:stop]):
            cv2.flip(x[i], code, dst=out[i])

    map_chunks(run, len(todo), len(todo) * x.shape[1] * x.shape[2])
    return out


def _map_coordinate(v: np.ndarray, size: int, mode: str) -> np.ndarray:
    """TensorFlow's ``MapCoordinate`` (kernels/image/image_ops.h) per fill mode, in float32.

    Except ``wrap``, where TensorFlow's arithmetic is not periodic beyond one image width: here
    it is the true period, as OpenCV's ``BORDER_WRAP`` (and augkit's tf backend).
    """
    if mode == "constant":
        return v
    if mode == "nearest" or size <= 1:
        return np.clip(v, 0.0, size - 1.0).astype(np.float32)
    v = v.astype(np.float32)
    if mode == "reflect":
        sz2 = np.float32(2 * size)
        low = v < 0
        lv = np.where(v < sz2, sz2 * np.trunc(-v / sz2) + v, v)
        lv = np.where(lv < -size, lv + sz2, -lv - 1.0)
        hv = v - sz2 * np.trunc(v / sz2)
        hv = np.where(hv >= size, sz2 - hv - 1.0, hv)
        out = np.where(low, lv, np.where(v > size - 1, hv, v))
    else:  # wrap: a true period of `size` (TF's own kernel differs; see kernels.tf)
        out = np.mod(np.floor(v + 0.5), np.float32(size))
    return np.clip(out, 0.0, size - 1.0).astype(np.float32)


def _nearest_gather(x: np.ndarray, inv: np.ndarray, oh: int, ow: int, mode: str,
                    cval: float) -> np.ndarray:
    n, h, w, _ = x.shape
    ys, xs = np.meshgrid(np.arange(oh, dtype=np.float32), np.arange(ow, dtype=np.float32),
                         indexing="ij")
    m = inv.astype(np.float32)
    sx = m[:, 0, 0, None, None] * xs + m[:, 0, 1, None, None] * ys + m[:, 0, 2, None, None]
    sy = m[:, 1, 0, None, None] * xs + m[:, 1, 1, None, None] * ys + m[:, 1, 2, None, None]
    # std::round: halves away from zero
    col = _round_away(_map_coordinate(sx, w, mode))
    row = _round_away(_map_coordinate(sy, h, mode))
    valid = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    batch = np.arange(n)[:, None, None]
    out = x[batch, np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)]
    if mode == "constant":
        out = np.where(valid[..., None], out, np.asarray(cval, dtype=x.dtype))
    return out


def _round_away(v: np.ndarray) -> np.ndarray:
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def warp(x: np.ndarray, inv: np.ndarray, out_size: tuple[int, int], *, fill_mode: str,
         cval: float, interpolation: str, flips_only: bool = False,
         scale: tuple[float, float] | None = None) -> np.ndarray:
    """Warp a batch ``(N, H, W, C)`` with inverse (output → input) matrices ``(N, 3, 3)``.

    Args:
        x: uint8 or float32 images.
        inv: inverse affine matrices, float.
        out_size: ``(height, width)`` of the output.
        fill_mode: ``nearest``, ``constant``, ``reflect`` or ``wrap`` (Keras' names).
        cval: fill value for ``constant``, in the image's units.
        interpolation: ``bilinear`` or ``nearest``.
        flips_only: the matrices come from flip ops alone (enables the exact numpy path).
        scale: ``(scale, offset)`` of a rescale to fuse: each image is converted to float32
            right after its warp, on the same thread (the result is that of a separate
            rescale).

    Returns:
        The warped batch, same dtype.
    """
    small = int(out_size[0]) * int(out_size[1]) < _FUSE_MIN_PIXELS
    if scale is not None and (small or flips_only or interpolation == "nearest"
                              or x.shape[-1] == 1):
        out = warp(x, inv, out_size, fill_mode=fill_mode, cval=cval,
                   interpolation=interpolation, flips_only=flips_only)
        return NP.scale_values(out, *scale)
    n, h, w, c = x.shape
    oh, ow = int(out_size[0]), int(out_size[1])
    flips = _flip_only(inv, h, w, oh, ow) if flips_only else None
    if flips is not None:
        return _flip(x, flips)
    if interpolation == "nearest":
        return _nearest_gather(x, inv, oh, ow, fill_mode, cval)
    out = aligned_empty((n, oh, ow, c), x.dtype if scale is None else np.float32)
    border, inter = _BORDER[fill_mode], _INTER[interpolation] | cv2.WARP_INVERSE_MAP
    value = (float(cval),) * 4
    mats = inv[:, :2, :].astype(np.float64)

    rgba = c == 3 and oh * ow >= _RGBA_MIN_PIXELS and x.dtype in _RGBA_DTYPES

    def run(start: int, stop: int) -> None:
        if not rgba and scale is None and c > 1:
            # the common case, straight into the output: positional arguments and no
            # per-image branching or indexing (~10 % of a 32 px warp is this loop)
            affine, size = cv2.warpAffine, (ow, oh)
            for src, m, dst in zip(x[start:stop], mats[start:stop], out[start:stop]):
                affine(src, m, size, dst, inter, border, value)
            return
        tmp = np.empty((oh, ow, c), x.dtype)
        if rgba:
            src4, dst4 = np.empty((h, w, 4), x.dtype), np.empty((oh, ow, 4), x.dtype)
        for i in range(start, stop):
            if rgba:
                cv2.cvtColor(x[i], cv2.COLOR_RGB2RGBA, dst=src4)
                cv2.warpAffine(src4, mats[i], (ow, oh), dst=dst4, flags=inter,
                               borderMode=border, borderValue=value)
                if scale is None:
                    cv2.cvtColor(dst4, cv2.COLOR_RGBA2RGB, dst=out[i])
                else:
                    cv2.cvtColor(dst4, cv2.COLOR_RGBA2RGB, dst=tmp)
                    NP.scale_values(tmp, *scale, out=out[i])
            elif scale is not None:
                cv2.warpAffine(x[i], mats[i], (ow, oh), dst=tmp, flags=inter,
                               borderMode=border, borderValue=value)
                NP.scale_values(tmp, *scale, out=out[i])
            else:  # one channel: OpenCV hands back (H, W)
                res = cv2.warpAffine(x[i], mats[i], (ow, oh), flags=inter, borderMode=border,
                                     borderValue=value)
                out[i] = res.reshape(oh, ow, 1)

    map_chunks(run, n, n * oh * ow)
    return out


@kernel("warp", "cv", "mask")
def warp_mask(masks: np.ndarray, inv: np.ndarray, out_size: tuple[int, int], *, fill: Any,
              flips_only: bool = False) -> np.ndarray:
    """Warp class masks ``(N, H, W, K)`` of any dtype: nearest neighbour, ``fill`` outside.

    The source pixel is the image's nearest gather's (TensorFlow's coordinate arithmetic, see
    :func:`_nearest_gather`), so both backends pick the same one; flips take the exact
    reversal path. Per image, on the warp threads, with one flat ``np.take`` from the mask and
    a trailing ``fill`` entry: ~4× faster than the batched gather at 224 px. ``round_away(v)``
    is a valid index exactly when ``v > -0.5`` and ``floor(v + 0.5) < size``, and equals
    ``floor(v + 0.5)`` then.
    """
    n, h, w, k = masks.shape
    oh, ow = int(out_size[0]), int(out_size[1])
    if flips_only and _flip_only(inv, h, w, oh, ow) is not None:
        return warp(masks, inv, out_size, fill_mode="constant", cval=fill,
                    interpolation="nearest", flips_only=True)
    xs = np.arange(ow, dtype=np.float32)
    ys = np.arange(oh, dtype=np.float32)[:, None]
    m32 = np.asarray(inv, np.float32)
    out = np.empty((n, oh, ow, k), masks.dtype)
    half = np.float32(0.5)

    def run(start: int, stop: int) -> None:
        # one gather per mask from the mask plus one trailing `fill` entry, where every
        # outside pixel points (integer indices: float32 is inexact past 2**24 pixels)
        src = np.empty((h * w + 1, k), masks.dtype)
        src[-1] = fill
        for i in range(start, stop):
            m = m32[i]
            sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
            sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
            col, row = np.floor(sx + half), np.floor(sy + half)
            outside = (sx <= -half) | (col >= w) | (sy <= -half) | (row >= h)
            flat = row.astype(np.intp) * w + col.astype(np.intp)
            flat[outside] = h * w
            src[:-1] = masks[i].reshape(h * w, k)
            np.take(src, flat.ravel(), axis=0, out=out[i].reshape(oh * ow, k), mode="clip")

    map_chunks(run, n, n * oh * ow)
    return out


def blur_weights(sigma: np.ndarray, radius: int) -> np.ndarray:
    """Normalized 1-D Gaussian weights ``(N, 2 * radius + 1)`` for per-sample ``sigma``."""
    k = np.arange(-radius, radius + 1, dtype=np.float32)
    wts = np.exp(-(k[None, :] ** 2) / (2.0 * np.asarray(sigma, np.float32)[:, None] ** 2))
    return (wts / wts.sum(axis=1, keepdims=True)).astype(np.float32)


@kernel("gaussian_blur", "cv")
def gaussian_blur_image(x: np.ndarray, params: dict, ctx: Ctx) -> np.ndarray:
    from augkit.ops.noise import blur_radius

    wts = blur_weights(params["sigma"], blur_radius(params["sigma_range"][1]))
    n, h, w, c = x.shape
    out = np.empty_like(x)

    def run(start: int, stop: int) -> None:
        for i in range(start, stop):
            res = cv2.sepFilter2D(x[i], cv2.CV_32F, wts[i], wts[i],
                                  borderType=cv2.BORDER_REFLECT_101)
            out[i] = res.reshape(h, w, c)

    map_chunks(run, n, n * h * w)
    return ctx.clip(out)


@kernel("albumentations", "cv")
def albumentations_image(x: np.ndarray, params: dict, ctx: Ctx) -> np.ndarray:
    from augkit.errors import InputError

    transform = params["_op"].instance
    lo, span = ctx.value_range[0], ctx.span
    as_uint8 = np.clip(np.rint((x - lo) * (255.0 / span)), 0, 255).astype(np.uint8)
    out = np.empty(x.shape, np.float32)
    for i in range(x.shape[0]):
        transform.set_random_seed(int(params["seed"][i]))
        res = np.asarray(transform(image=as_uint8[i])["image"])
        if res.ndim == 2:
            res = res[..., None]
        if res.shape != x.shape[1:]:
            raise InputError(
                f"albumentations.{params['transform']} changed the image shape from "
                f"{x.shape[1:]} to {res.shape}; allowed: shape-preserving transforms only "
                f"(use augkit's random_resized_crop or crop_and_pad to change geometry)"
            )
        out[i] = res
    return ctx.clip(lo + out * (span / 255.0))
