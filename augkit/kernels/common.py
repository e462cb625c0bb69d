"""Value kernels written once against the backend math namespace, registered for cv and tf.

Each takes ``(x, params, ctx)``: ``x`` float32 ``(N, H, W, C)``, ``params`` the op's sampled
arrays (batch first), ``ctx`` a :class:`Ctx`. They return float32 inside ``ctx.value_range``
unless the op changes the range on purpose (rescale, normalize). Writing them once keeps the
two backends from drifting apart: the cv/tf agreement test checks the warps and the blur, the
rest is the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augkit import rng
from augkit.kernels import BACKENDS, kernel

_GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as PIL and torchvision


@dataclass(frozen=True)
class Ctx:
    """What a kernel knows besides its input: the math namespace and the value range."""

    xp: Any
    value_range: tuple[float, float]

    @property
    def span(self) -> float:
        return self.value_range[1] - self.value_range[0]

    def clip(self, x: Any) -> Any:
        return self.xp.clip(x, self.value_range[0], self.value_range[1])


def _per_sample(xp: Any, v: Any) -> Any:
    return xp.reshape(v, (-1, 1, 1, 1))


def _color_part(x: Any, ctx: Ctx) -> tuple[Any, Any]:
    """Split RGBA into (RGB, alpha); other layouts into (x, None)."""
    if x.shape[-1] == 4:
        return x[..., :3], x[..., 3:]
    return x, None


def _join(color: Any, alpha: Any, ctx: Ctx) -> Any:
    return color if alpha is None else ctx.xp.concat([color, alpha], axis=-1)


def _gray(x: Any, ctx: Ctx) -> Any:
    if x.shape[-1] == 1:
        return x
    r, g, b = x[..., 0:1], x[..., 1:2], x[..., 2:3]
    return r * _GRAY[0] + g * _GRAY[1] + b * _GRAY[2]


@kernel("brightness", BACKENDS)
def brightness_image(x: Any, params: dict, ctx: Ctx) -> Any:
    lo = ctx.value_range[0]
    color, alpha = _color_part(x, ctx)
    out = ctx.clip(lo + (color - lo) * _per_sample(ctx.xp, params["factor"]))
    return _join(out, alpha, ctx)


@kernel("channel_shift", BACKENDS)
def channel_shift_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    color, alpha = _color_part(x, ctx)
    low = xp.min(color, axis=(1, 2, 3), keepdims=True)
    high = xp.max(color, axis=(1, 2, 3), keepdims=True)
    out = xp.minimum(xp.maximum(color + _per_sample(xp, params["factor"]), low), high)
    return _join(out, alpha, ctx)


@kernel("contrast", BACKENDS)
def contrast_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    color, alpha = _color_part(x, ctx)
    mean = xp.mean(_gray(color, ctx), axis=(1, 2, 3), keepdims=True)
    out = ctx.clip(mean + (color - mean) * _per_sample(xp, params["factor"]))
    return _join(out, alpha, ctx)


@kernel("saturation", BACKENDS)
def saturation_image(x: Any, params: dict, ctx: Ctx) -> Any:
    if x.shape[-1] == 1:
        return x
    color, alpha = _color_part(x, ctx)
    gray = _gray(color, ctx)
    out = ctx.clip(gray + (color - gray) * _per_sample(ctx.xp, params["factor"]))
    return _join(out, alpha, ctx)


@kernel("gamma", BACKENDS)
def gamma_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    lo, span = ctx.value_range[0], ctx.span
    color, alpha = _color_part(x, ctx)
    unit = xp.clip((color - lo) / span, 0.0, 1.0)
    out = lo + xp.exp(xp.log(xp.maximum(unit, 1e-12)) * _per_sample(xp, params["factor"])) * span
    out = xp.where(unit > 0.0, out, lo)
    return _join(ctx.clip(out), alpha, ctx)


def _rgb_to_hsv(xp: Any, r: Any, g: Any, b: Any) -> tuple[Any, Any, Any]:
    maxc = xp.maximum(xp.maximum(r, g), b)
    minc = xp.minimum(xp.minimum(r, g), b)
    delta = maxc - minc
    safe = xp.where(delta > 0.0, delta, 1.0)
    s = xp.where(maxc > 0.0, delta / xp.where(maxc > 0.0, maxc, 1.0), 0.0)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = xp.where(r == maxc, bc - gc, xp.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = xp.where(delta > 0.0, (h / 6.0) % 1.0, 0.0)
    return h, s, maxc


def _hsv_to_rgb(xp: Any, h: Any, s: Any, v: Any) -> tuple[Any, Any, Any]:
    h6 = h * 6.0
    i = xp.floor(h6)
    f = h6 - i
    i = i % 6.0
    p, q, t = v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f))

    def pick(*options: Any) -> Any:
        out = options[5]
        for k in range(4, -1, -1):
            out = xp.where(i == float(k), options[k], out)
        return out

    return pick(v, q, p, p, t, v), pick(t, v, v, q, p, p), pick(p, p, t, v, v, q)


@kernel("hue", BACKENDS)
def hue_image(x: Any, params: dict, ctx: Ctx) -> Any:
    if x.shape[-1] == 1:
        return x
    xp = ctx.xp
    lo, span = ctx.value_range[0], ctx.span
    color, alpha = _color_part(x, ctx)
    unit = (color - lo) / span
    h, s, v = _rgb_to_hsv(xp, unit[..., 0], unit[..., 1], unit[..., 2])
    h = (h + xp.reshape(params["factor"], (-1, 1, 1))) % 1.0
    rgb = xp.stack(list(_hsv_to_rgb(xp, h, s, v)), axis=-1)
    return _join(ctx.clip(lo + rgb * span), alpha, ctx)


def _channel_values(xp: Any, values: tuple, channels: int) -> Any:
    vals = [values[i % len(values)] for i in range(channels)]
    return xp.reshape(xp.f32(vals), (1, 1, 1, channels))


@kernel("rescale", BACKENDS)
def rescale_image(x: Any, params: dict, ctx: Ctx) -> Any:
    return ctx.xp.scale_values(x, params["scale"], params["offset"])


@kernel("normalize", BACKENDS)
def normalize_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp, channels = ctx.xp, x.shape[-1]
    unit = (x - ctx.value_range[0]) / ctx.span
    mean = _channel_values(xp, params["mean"], channels)
    std = _channel_values(xp, params["std"], channels)
    return (unit - mean) / std


def _hash_uniform(xp: Any, keys: Any, shape: Any) -> Any:
    """Uniform [0, 1) noise of ``shape`` (N, H, W, C) from per-sample keys, both backends."""
    draws = rng.Draws(keys, xp)
    flat = draws.uniform(0, size=xp.size_per_sample(shape))
    return xp.reshape(flat, shape)


@kernel("gaussian_noise", BACKENDS)
def gaussian_noise_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    shape = xp.shape(x)
    noise_shape = shape if params["per_channel"] else xp.with_channels(shape, 1)
    draws = rng.Draws(params["noise_keys"], xp)
    z = draws.normal(0, size=xp.size_per_sample(noise_shape))
    z = xp.reshape(z, noise_shape)
    return ctx.clip(x + z * _per_sample(xp, params["std"]) * ctx.span)


@kernel("erasing", BACKENDS)
def erasing_image(x: Any, params: dict, ctx: Ctx) -> Any:
    xp = ctx.xp
    shape = xp.shape(x)
    cols = xp.reshape(xp.f32(xp.arange(shape[2])), (1, 1, -1, 1))
    rows = xp.reshape(xp.f32(xp.arange(shape[1])), (1, -1, 1, 1))

    def edge(name: str) -> Any:
        return _per_sample(xp, params[name])

    inside = ((cols >= edge("x0")) & (cols < edge("x1"))) & ((rows >= edge("y0"))
                                                           & (rows < edge("y1")))
    lo = ctx.value_range[0]
    if params["fill"] == "random":
        fill = lo + _hash_uniform(xp, params["noise_keys"], shape) * ctx.span
    else:
        fill = lo + params["fill"] * ctx.span
    return xp.where(inside, fill, x)
