"""Kernels of the mixing ops (:mod:`augkit.ops.mixing`), target ``"batch"``, both backends.

Each takes ``(x, y, params, ctx)``: float32 images ``(N, H, W, C)``, float32 labels ``(N, K)``,
the op's sampled parameters (``lam`` and ``partner`` per sample; CutMix's box) and a
:class:`~augkit.kernels.common.Ctx`, and returns the mixed ``(images, labels)``. The same
elementwise float32 operations in the same order on both backends.
"""

from __future__ import annotations

from typing import Any

from augkit.kernels import BACKENDS, kernel
from augkit.kernels.common import Ctx


def _gather(xp: Any, x: Any, idx: Any) -> Any:
    if xp.name == "cv":
        return x[idx]
    import tensorflow as tf

    return tf.gather(x, idx)


@kernel("mixup", BACKENDS, "batch")
def mixup_batch(x: Any, y: Any, params: dict, ctx: Ctx) -> tuple[Any, Any]:
    xp = ctx.xp
    lam, partner = params["lam"], params["partner"]
    lam4 = xp.reshape(lam, (-1, 1, 1, 1))
    images = ctx.clip(x * lam4 + _gather(xp, x, partner) * (1.0 - lam4))
    lam2 = xp.reshape(lam, (-1, 1))
    return images, y * lam2 + _gather(xp, y, partner) * (1.0 - lam2)


@kernel("cutmix", BACKENDS, "batch")
def cutmix_batch(x: Any, y: Any, params: dict, ctx: Ctx) -> tuple[Any, Any]:
    xp = ctx.xp
    shape = xp.shape(x)
    cols = xp.reshape(xp.f32(xp.arange(shape[2])), (1, 1, -1, 1))
    rows = xp.reshape(xp.f32(xp.arange(shape[1])), (1, -1, 1, 1))

    def edge(name: str) -> Any:
        return xp.reshape(params[name], (-1, 1, 1, 1))

    inside = ((cols >= edge("x0")) & (cols < edge("x1"))) & ((rows >= edge("y0"))
                                                           & (rows < edge("y1")))
    images = xp.where(inside, _gather(xp, x, params["partner"]), x)
    area = (params["x1"] - params["x0"]) * (params["y1"] - params["y0"])
    pasted = xp.reshape(area / (xp.f32(shape[1]) * xp.f32(shape[2])), (-1, 1))
    return images, y * (1.0 - pasted) + _gather(xp, y, params["partner"]) * pasted
