"""The one execution path: a pipeline's stages on a validated batch, on either backend.

:func:`run` walks the stages with the backend's math namespace (numpy for ``cv``, TensorFlow for
``tf``): consecutive geometric ops become one matrix and one warp (which also moves the targets),
other ops call their kernel. Where values are rounded to uint8 levels is the same on both
backends, so they agree; on cv a warp followed by a rescale is fused per image.
:class:`augkit.Pipeline` validates its inputs and calls :func:`run`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit import rng
from augkit.geometry import invert
from augkit.kernels import lookup
from augkit.kernels.common import Ctx
from augkit.ops.base import GeometricOp, Op

#: Images of these dtypes have a fixed value range; float32 takes the pipeline's.
DTYPES = {"uint8": (0.0, 255.0), "float32": None}


def run(pipeline: Any, x: Any, keys: Any, xp: Any, warp: Any, *, backend: str,
        targets: Any = None) -> Any:
    """Run the stages on a validated batch with per-sample ``keys`` (internal).

    With ``targets`` (an :class:`augkit.targets.batch.TargetBatch`) every geometric stage
    moves them with its own matrices, and ``(images, targets)`` is returned.
    """
    source = x
    dtype = "uint8" if _is_uint8(x) else "float32"
    vrange = DTYPES[dtype] or pipeline.value_range
    is_float = dtype == "float32"
    height, width = _hw(x, xp)
    draws = rng.op_draws(keys, len(pipeline.ops), xp)
    stages = pipeline.stages()
    fused_rescale = -1
    for k, (start, ops) in enumerate(stages):
        if k == fused_rescale:
            continue
        if all(op.p == 0.0 and not getattr(op, "resizes", False) for op in ops):
            continue
        if ops[0].geometric:
            rescale = _following_rescale(stages, k)
            if backend == "cv" and dtype == "uint8" and not is_float and rescale:
                # warp + rescale per image, while the image is in cache and on the warp's
                # threads: the float conversion is a third of the work at 224 px
                x, height, width = _warp(pipeline, x, ops, draws[start:start + len(ops)], xp,
                                              warp, height, width, vrange,
                                              scale=(rescale.scale, rescale.offset),
                                              targets=targets)
                fused_rescale, is_float = k + 1, True
                dtype, vrange = rescale.output_dtype(dtype), rescale.output_range(vrange)
                continue
            if backend == "cv" and dtype == "uint8" and is_float:
                x, is_float = _to_uint8(x, xp), False  # cv2 warps uint8 fastest
            elif backend == "tf" and not is_float:
                x, is_float = xp.f32(x), True  # see kernels.tf.warp on truncation
            elif backend == "tf" and dtype == "uint8":
                x = _round_levels(x, xp)  # quantize where cv does (before its uint8 warp)
            x, height, width = _warp(pipeline, x, ops, draws[start:start + len(ops)], xp, warp,
                                          height, width, vrange, targets=targets)
            if backend == "tf" and dtype == "uint8":
                x = _round_levels(x, xp)  # cv's warp returns uint8: round at the same point
            continue
        op = ops[0]
        if not is_float and not op.takes_uint8:
            x, is_float = xp.f32(x), True
        d = draws[start]
        params = {**op.values, **op.sample(d, height, width), "_op": op}
        if targets is not None and targets.moved_by(op):  # e.g. albumentations' distortions
            y = lookup(op.name, backend, "targets")(x, params, Ctx(xp, vrange), targets,
                                                    d.bernoulli(0, op.p))
        else:
            y = lookup(op.name, backend)(x, params, Ctx(xp, vrange))
        if op.p < 1.0:
            y = xp.where(xp.reshape(d.bernoulli(0, op.p), (-1, 1, 1, 1)), y, x)
        x, is_float = y, is_float or op.output_dtype(dtype) == "float32"
        dtype, vrange = op.output_dtype(dtype), op.output_range(vrange)
    out = _to_uint8(x, xp) if dtype == "uint8" else xp.f32(x)
    if out is source and isinstance(out, np.ndarray):
        out = out.copy()  # nothing ran: never hand the caller's array back as the output
    return out if targets is None else (out, targets)

def _warp(pipeline: Any, x: Any, ops: list[Op], draws: list[rng.Draws], xp: Any, warp: Any,
          height: Any, width: Any, vrange: tuple, targets: Any = None,
          **kwargs: Any) -> tuple[Any, Any, Any]:
    """One geometric stage: compose its ops' matrices, move the targets, warp once."""
    n = xp.shape0(draws[0].keys)
    total = None
    for op, d in zip(ops, draws):
        assert isinstance(op, GeometricOp)
        m = op.matrix(op.sample(d, height, width), height, width, xp)
        if op.p < 1.0:
            keep = xp.reshape(d.bernoulli(0, op.p), (-1, 1, 1))
            m = xp.where(keep, m, op.identity_matrix(n, height, width, xp))
        total = m if total is None else xp.matmul(m, total)
        height, width = op.output_size(height, width)
    cval = min(max(pipeline.cval, vrange[0]), vrange[1])  # a fill value never leaves the range
    inv = invert(xp, total)
    flips_only = all(op.exact for op in ops)
    if targets is not None:  # the same matrices as the image: they can never disagree
        targets.move(total, inv, height, width, flips_only=flips_only, nudge=_NEAREST_NUDGE)
    if pipeline.interpolation == "nearest" and not flips_only:
        # Resizes put source coordinates exactly on half pixels, where the last bit (which
        # numpy and TF round differently in exp/log/sin/cos) would pick the neighbour.
        inv = inv + _NEAREST_NUDGE
    out = warp(x, inv, (height, width), fill_mode=pipeline.fill_mode, cval=cval,
               interpolation=pipeline.interpolation, flips_only=flips_only, **kwargs)
    return out, height, width


_NEAREST_NUDGE = np.zeros((1, 3, 3), np.float32)
_NEAREST_NUDGE[0, :2, 2] = 2.0**-10  # moves ties off .5, far above float32 noise at < 64k px


def _round_levels(x: Any, xp: Any) -> Any:
    """Round float32 pixel values to whole uint8 levels, staying float32 (tf path)."""
    return xp.round(xp.clip(x, 0.0, 255.0))


def _following_rescale(stages: list[tuple[int, list[Op]]], k: int) -> Op | None:
    """The rescale op right after stage ``k``, if there is one (it always has ``p=1``)."""
    if k + 1 < len(stages) and stages[k + 1][1][0].name == "rescale":
        return stages[k + 1][1][0]
    return None


def _is_uint8(x: Any) -> bool:
    return str(getattr(x.dtype, "name", x.dtype)) == "uint8"


def _hw(x: Any, xp: Any) -> tuple[Any, Any]:
    if isinstance(x, np.ndarray) or (x.shape[1] is not None and x.shape[2] is not None):
        return int(x.shape[1]), int(x.shape[2])
    shape = xp.shape(x)
    return shape[1], shape[2]


def _to_uint8(x: Any, xp: Any) -> Any:
    if _is_uint8(x):
        return x
    if isinstance(x, np.ndarray):
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    import tensorflow as tf

    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)
