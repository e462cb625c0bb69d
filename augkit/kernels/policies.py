"""The value part of the policy ops (:mod:`augkit.ops.policies`), both backends.

For each slot in order and each value sub-op, the sub-op's kernel runs on the samples that
picked it and its results are written back in place of theirs: the same result as computing it
for every sample and selecting with ``where`` (every kernel is per-sample), at the cost of only
the selected samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from augkit.kernels import BACKENDS, kernel
from augkit.kernels.common import (
    Ctx,
    brightness_image,
    contrast_image,
    saturation_image,
)
from augkit.kernels.tone import (
    autocontrast_image,
    equalize_image,
    posterize_image,
    sharpness_image,
    solarize_image,
)
from augkit.ops.policies import SUB_OPS

_VALUE_KERNELS: dict[str, Callable[[Any, Any, Ctx], Any]] = {
    "brightness": lambda x, v, ctx: brightness_image(x, {"factor": v}, ctx),
    "color": lambda x, v, ctx: saturation_image(x, {"factor": v}, ctx),
    "contrast": lambda x, v, ctx: contrast_image(x, {"factor": v}, ctx),
    "sharpness": lambda x, v, ctx: sharpness_image(x, {"factor": v}, ctx),
    "posterize": lambda x, v, ctx: posterize_image(x, {"bits": v}, ctx),
    "solarize": lambda x, v, ctx: solarize_image(x, {"threshold": v}, ctx),
    "autocontrast": lambda x, v, ctx: autocontrast_image(x, {}, ctx),
    "equalize": lambda x, v, ctx: equalize_image(x, {}, ctx),
}


def _apply_where_chosen(x: Any, chosen: Any, value: Any, fn: Callable, ctx: Ctx) -> Any:
    """``fn`` on the samples where ``chosen`` is true, written back into ``x``."""
    if ctx.xp.name == "cv":
        idx = np.flatnonzero(chosen)
        if idx.size:
            x[idx] = fn(x[idx], value[idx], ctx)
        return x
    import tensorflow as tf

    idx = tf.where(chosen)
    y = fn(tf.gather(x, idx[:, 0]), tf.gather(value, idx[:, 0]), ctx)
    return tf.tensor_scatter_nd_update(x, idx, y)


def policy_image(x: Any, params: dict, ctx: Ctx) -> Any:
    choice, value = params["choice"], params["value"]
    if ctx.xp.name == "cv":
        x = np.array(x, dtype=np.float32)  # written in place below: never the caller's array
    for s in range(int(choice.shape[1])):
        for name, fn in _VALUE_KERNELS.items():
            x = _apply_where_chosen(x, choice[:, s] == SUB_OPS.index(name), value[:, s], fn, ctx)
    return x


kernel("randaugment", BACKENDS)(policy_image)
kernel("trivialaugment", BACKENDS)(policy_image)
