"""albumentations 2.0 transforms to augkit pipelines: ``from_albumentations``.

Transforms with an augkit equivalent become augkit ops; every other public transform is wrapped
in the ``albumentations`` adapter op (cv backend only). The forward direction and the tables
both directions share are :mod:`augkit.albu`; a ``Compose``'s ``bbox_params``/
``keypoint_params`` become the pipeline's ``targets`` settings in :mod:`augkit.albu_targets`.
The table of what maps, and what is lossy, is ``docs/albumentations.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from augkit import albu_targets
from augkit import ops as O
from augkit.albu import _BORDER, _INTERP, _JITTER_NEUTRAL, _Unmapped
from augkit.errors import SpecError
from augkit.ops.adapters import allowed_transforms, plain
from augkit.ops.noise import blur_radius

_BORDER_BACK = {v: k for k, v in _BORDER.items()}
_INTERP_BACK = {v: k for k, v in _INTERP.items()}
# Transforms the adapter op cannot run, by module: why.
_REFUSED_MODULES = {
    "crops.transforms": "changes the image size", "geometric.resize": "changes the image size",
    "geometric.pad": "changes the image size", "transforms3d.transforms": "works on 3-D volumes",
    "mixing.transforms": "needs extra inputs", "text.transforms": "needs extra inputs",
    "type_transform": "changes the value range", "lambda_transform": "runs code (specs are data)",
}


def _invert(y: float, fwd: Callable[[float], float], inv: Callable[[float], float]) -> float:
    """The shortest-written ``x`` with ``fwd(x) == y``: a short decimal, or ``inv`` of one.

    Keeps round trips exact for numbers people write: ``100 * 0.07`` is ``7.000000000000001``,
    whose plain inverse is ``0.07000000000000001``; ``1 / 2295`` comes back as ``1 / 2295``.
    """
    x = float(inv(y))
    for digits in range(1, 18):
        for c in (float(f"{x:.{digits}g}"), float(inv(float(f"{y:.{digits}g}")))):
            if fwd(c) == y:
                return c
    return x


def _recip(y: float) -> float:
    return _invert(y, lambda c: 1.0 / c, lambda v: 1.0 / v)


def _pair(v: Any) -> tuple[float, float]:
    if isinstance(v, (int, float)):
        return (float(v), float(v))
    return (float(v[0]), float(v[1]))


# A reverse mapping returns (augkit ops, pipeline settings it implies), or None when augkit has
# no faithful equivalent (the adapter op then runs the transform itself).
_Mapped = tuple[list, dict] | None


def _settings(t: Any, border: bool = True) -> dict | None:
    """The pipeline settings a geometric transform implies, or None if augkit has none."""
    if t.interpolation not in _INTERP_BACK:
        return None
    out: dict[str, Any] = {"interpolation": _INTERP_BACK[t.interpolation]}
    if border:
        fill = np.unique(np.asarray(t.fill, dtype=np.float64))
        if t.border_mode not in _BORDER_BACK or fill.size != 1:
            return None
        out["fill_mode"], out["cval"] = _BORDER_BACK[t.border_mode], float(fill[0])
    return out


def _rev_affine(t: Any) -> _Mapped:
    """One Affine is ``T · Shear · R · S`` about the centre: augkit zoom, rotate, shear,
    translate in that order give the same matrix."""
    if t.fit_output or t.balanced_scale or t.rotate_method != "largest_box":
        return None  # ellipse: tighter rotated boxes than augkit's moved corners
    parts: list[tuple[type, dict]] = []
    sx, sy = _pair(t.scale["x"]), _pair(t.scale["y"])
    if (sx, sy) != ((1.0, 1.0), (1.0, 1.0)):
        if sx != sy or sx[0] <= 0:
            return None
        parts.append((O.Zoom, {"factor_range": (_recip(sx[1]), _recip(sx[0])),
                               "keep_aspect": bool(t.keep_ratio)}))
    if _pair(t.rotate) != (0.0, 0.0):
        parts.append((O.Rotate, {"angle_range": _pair(t.rotate)}))
    shears = [(k, _pair(t.shear[k])) for k in ("x", "y") if _pair(t.shear[k]) != (0.0, 0.0)]
    if len(shears) == 2:  # one matrix [[1, tx], [ty, 1]]: not a product of augkit shears
        return None
    parts += [(O.Shear, {"angle_range": (-r[1], -r[0]), "axis": k}) for k, r in shears]
    unit, tr = ("fraction", t.translate_percent) if t.translate_percent is not None else (
        "pixels", t.translate_px)
    if tr is not None and (_pair(tr["x"]), _pair(tr["y"])) != ((0.0, 0.0), (0.0, 0.0)):
        parts.append((O.Translate, {"x_range": _pair(tr["x"]), "y_range": _pair(tr["y"]),
                                    "unit": unit}))
    if len(parts) > 1 and t.p < 1.0:  # one p for all parts, augkit would draw one per op
        return None
    settings = _settings(t)
    return None if settings is None else ([c(p=t.p, **kw) for c, kw in parts], settings)


def _rev_jitter(t: Any) -> _Mapped:
    moved = [(k, _pair(getattr(t, k))) for k, neutral in _JITTER_NEUTRAL.items()
             if _pair(getattr(t, k)) != neutral]
    if len(moved) > 1:  # ColorJitter applies them in a random order; augkit's order is fixed
        return None
    cls = {"brightness": O.Brightness, "contrast": O.Contrast, "saturation": O.Saturation}
    return ([O.Hue(shift_range=r, p=t.p) if k == "hue" else cls[k](factor_range=r, p=t.p)
             for k, r in moved], {})


def _rev_brightness_contrast(t: Any) -> _Mapped:
    # img * (1 + c) + b: with b = 0 it is augkit's multiplicative brightness
    if _pair(t.brightness_limit) != (0.0, 0.0) or t.ensure_safe_range:
        return None
    c = _pair(t.contrast_limit)
    factors = tuple(_invert(v, lambda f: f - 1.0, lambda y: 1.0 + y) for v in c)
    return ([O.Brightness(factor_range=factors, p=t.p)] if c != (0.0, 0.0) else [], {})


def _rev_normalize(t: Any) -> _Mapped:
    mean, std, mpv = t.mean, t.std, t.max_pixel_value
    if t.normalization == "standard" and t.p == 1.0:
        if isinstance(mean, (list, tuple)) and isinstance(std, (list, tuple)) and mpv == 255.0:
            return [O.Normalize(mean=list(mean), std=list(std))], {}
        m, s = np.unique(np.asarray(mean, float)), np.unique(np.asarray(std, float))
        if m.size == 1 and s.size == 1 and s[0] * mpv != 0:
            return [O.Rescale(scale=_recip(float(s[0]) * mpv),
                              offset=float(-m[0] / s[0]))], {}
    raise _Unmapped(
        f"Normalize(mean={mean}, std={std}, max_pixel_value={mpv}, normalization="
        f"{t.normalization!r}, p={t.p}) changes the value range in a way augkit cannot "
        f"express: per-channel statistics with max_pixel_value=255 map to normalize, one mean "
        f"and one std to rescale, both only with p=1")


def _only(ok: Callable[[Any], bool], build: Callable[[Any], list],
          settings: Callable[[Any], dict | None] = lambda t: {}) -> Callable[[Any], _Mapped]:
    """A reverse mapping that applies when ``ok(t)`` and the settings are expressible."""
    def rev(t: Any) -> _Mapped:
        s = settings(t) if ok(t) else None
        return None if s is None else (build(t), s)
    return rev


def _blur_ok(t: Any) -> bool:
    k = 2 * blur_radius(_pair(t.sigma_limit)[1]) + 1  # augkit's kernel, or albumentations' auto
    return _pair(t.blur_limit) in ((0.0, 0.0), (k, k))


_REVERSE: dict[str, Callable[[Any], _Mapped]] = {
    "HorizontalFlip": lambda t: ([O.FlipHorizontal(p=t.p)], {}),
    "VerticalFlip": lambda t: ([O.FlipVertical(p=t.p)], {}),
    "NoOp": lambda t: ([], {}),
    "Affine": _rev_affine,
    "Rotate": _only(lambda t: not t.crop_border and t.rotate_method == "largest_box",
                    lambda t: [O.Rotate(angle_range=_pair(t.limit), p=t.p)], _settings),
    "RandomResizedCrop": _only(
        lambda t: t.p == 1.0 and t.area_for_downscale is None,
        lambda t: [O.RandomResizedCrop(size=t.size, scale_range=t.scale, ratio_range=t.ratio)],
        lambda t: _settings(t, border=False)),
    "CropAndPad": _only(
        lambda t: t.px is None and isinstance(t.percent, (list, tuple)) and len(t.percent) == 2
        and t.sample_independently and t.keep_size,
        lambda t: [O.CropAndPad(percent_range=_pair(t.percent), p=t.p)], _settings),
    "ColorJitter": _rev_jitter,
    "RandomBrightnessContrast": _rev_brightness_contrast,
    "RandomGamma": lambda t: ([O.Gamma(gamma_range=tuple(
        _invert(v, lambda c: 100.0 * c, lambda y: y / 100.0) for v in _pair(t.gamma_limit)),
        p=t.p)], {}),
    "GaussNoise": _only(
        lambda t: _pair(t.mean_range) == (0.0, 0.0) and t.noise_scale_factor == 1,
        lambda t: [O.GaussianNoise(std_range=_pair(t.std_range),
                                   per_channel=bool(t.per_channel), p=t.p)]),
    "GaussianBlur": _only(_blur_ok, lambda t: [O.GaussianBlur(sigma_range=_pair(t.sigma_limit),
                                                              p=t.p)]),
    "Erasing": _only(
        lambda t: t.fill == "random" if isinstance(t.fill, str) else (
            isinstance(t.fill, (int, float)) and t.fill == 0),
        lambda t: [O.Erasing(scale_range=_pair(t.scale), ratio_range=_pair(t.ratio),
                             fill="random" if isinstance(t.fill, str) else 0.0, p=t.p)]),
    "Normalize": _rev_normalize,
    "ToFloat": _only(lambda t: t.p == 1.0,
                     lambda t: [O.Rescale(scale=_recip(float(t.max_value or 255.0)))]),
}


def _adapter(t: Any, path: str) -> Any:
    """The ``albumentations`` adapter op running ``t``, with its non-default arguments."""
    name = type(t).__name__
    if allowed_transforms().get(name) is not type(t):
        raise SpecError(f"{path}: {type(t).__module__}.{name} is not a public albumentations "
                        f"transform; allowed: the classes in albumentations.__all__")
    why = next((r for m, r in _REFUSED_MODULES.items() if type(t).__module__.endswith(m)), None)
    if why and not (name == "CropAndPad" and t.keep_size):
        raise SpecError(f"{path}: {name} {why}, which the albumentations adapter op cannot "
                        f"carry; augkit's random_resized_crop, crop_and_pad and rescale may fit")
    args = plain({k: v for k, v in t.get_transform_init_args().items() if k != "p"},
                  f"{path} ({name})")
    try:
        defaults = plain(type(t)().get_transform_init_args(), name)
    except Exception:  # noqa: BLE001  (required arguments or odd defaults: keep every argument)
        defaults = {}
    args = {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}
    return O.Albumentations(transform=name, args=args, p=float(t.p), _path=path)


def _transforms(compose: Any) -> list:
    """The flat list of transforms, after refusing what augkit cannot represent yet."""
    import albumentations as A
    from albumentations.core.composition import BaseCompose
    from albumentations.core.transforms_interface import BasicTransform

    if isinstance(compose, A.Compose):
        if compose.p != 1.0:
            raise SpecError(f"Compose.p: got {compose.p}; allowed: 1 (augkit has per-op p "
                            f"only)")
        if compose.additional_targets:
            raise SpecError(f"Compose.additional_targets: got {compose.additional_targets}; "
                            f"allowed: none (an augkit pipeline takes one image, mask, set of "
                            f"boxes and set of keypoints per sample)")
        items = list(compose.transforms)
    elif isinstance(compose, BasicTransform):
        items = [compose]
    elif isinstance(compose, (list, tuple)):
        items = list(compose)
    else:
        raise SpecError(f"from_albumentations: got {type(compose).__name__}; allowed: an "
                        f"albumentations Compose, a list of transforms or one transform")
    for i, t in enumerate(items):
        if isinstance(t, BaseCompose):
            raise SpecError(f"transforms[{i}]: {type(t).__name__} (a nested composition) is not "
                            f"supported yet; allowed: a flat list of transforms")
        if not isinstance(t, BasicTransform):
            raise SpecError(f"transforms[{i}]: got {type(t).__name__}; allowed: an "
                            f"albumentations transform")
    return items


def _compatible(have: dict, new: dict) -> bool:
    """Whether a transform's settings agree with the pipeline settings chosen so far."""
    if any(have.get(k, new.get(k)) != new.get(k, have.get(k))
           for k in ("fill_mode", "interpolation")):
        return False
    constant = have.get("fill_mode", new.get("fill_mode")) == "constant"
    return not constant or have.get("cval", new.get("cval")) == new.get("cval", have.get("cval"))


def from_albumentations(cls: Any, compose: Any) -> Any:
    """Build an augkit pipeline from albumentations transforms.

    Transforms with an augkit equivalent become augkit ops (they then run on both backends);
    every other public transform becomes an ``albumentations`` adapter op (cv backend only).
    Geometric transforms also set the pipeline's ``fill_mode``, ``cval`` and
    ``interpolation``; one whose settings differ from the first one's stays an adapter op.
    A Compose's ``bbox_params`` (``format``, ``min_area``, ``min_visibility``) and
    ``keypoint_params`` (``format='xy'``) become the pipeline's ``targets`` settings.

    Args:
        cls: the pipeline class.
        compose: an ``albumentations.Compose``, a list of transforms or a single transform.

    Returns:
        A ``cls`` instance.

    Raises:
        SpecError: nested compositions (OneOf, SomeOf, Sequential, ...), additional targets,
            ``Compose(p < 1)``, transforms that change the image size or the value range
            without an augkit equivalent, arguments that are not data; ``bbox_params`` or
            ``keypoint_params`` settings augkit does not implement identically, and dropouts
            whose effect on targets depends on them (:mod:`augkit.albu_targets`).

    Example:
        >>> import albumentations as A, augkit
        >>> p = augkit.Pipeline.from_albumentations(A.Compose([A.HorizontalFlip(p=0.5),
        ...                                                    A.CLAHE(p=0.2)]))
        >>> [op.name for op in p.ops]
        ['flip_horizontal', 'albumentations']
    """
    ops: list = []
    settings: dict[str, Any] = {}
    items = _transforms(compose)
    ct = albu_targets.from_compose(compose)
    for i, t in enumerate(items):
        path, name = f"transforms[{i}]", type(t).__name__
        mapped = None
        if albu_targets.adapter_only(t, ct, path):  # its own box handling, not augkit's
            ops.append(_adapter(t, path))
            continue
        if name in _REVERSE and allowed_transforms().get(name) is type(t):
            try:
                mapped = _REVERSE[name](t)
            except _Unmapped as exc:
                raise SpecError(f"{path}: {exc}") from None
            except SpecError:
                mapped = None  # outside augkit's parameter bounds: the adapter runs it as is
        if mapped is None or not _compatible(settings, mapped[1]):
            ops.append(_adapter(t, path))
            continue
        settings = {**mapped[1], **settings}
        ops.extend(mapped[0])
    return cls(ops, **settings, targets=ct.settings)
