"""Conversion between augkit pipelines and albumentations 2.0 ``Compose`` objects.

``to_albumentations`` maps every augkit op to the albumentations transform with the same
meaning and refuses (``SpecError``, naming each op and why) where none exists.
``from_albumentations`` maps transforms back to augkit ops where the meaning is the same and
wraps every other public transform in the ``albumentations`` adapter op (cv backend only).
A ``Compose``'s ``bbox_params``/``keypoint_params`` and the pipeline's ``targets`` settings
convert in :mod:`augkit.albu_targets`. The table of what maps, and what is lossy, is
``docs/albumentations.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from augkit import albu_targets
from augkit import ops as O
from augkit.errors import SpecError
from augkit.ops.adapters import allowed_transforms
from augkit.ops.noise import blur_radius

_BORDER = {"nearest": 1, "constant": 0, "reflect": 2, "wrap": 3}  # cv2.BORDER_*
_INTERP = {"bilinear": 1, "nearest": 0}  # cv2.INTER_LINEAR, cv2.INTER_NEAREST
_BORDER_BACK = {v: k for k, v in _BORDER.items()}
_INTERP_BACK = {v: k for k, v in _INTERP.items()}
# Transforms the adapter op cannot run, by module: why.
_REFUSED_MODULES = {
    "crops.transforms": "changes the image size", "geometric.resize": "changes the image size",
    "geometric.pad": "changes the image size", "transforms3d.transforms": "works on 3-D volumes",
    "mixing.transforms": "needs extra inputs", "text.transforms": "needs extra inputs",
    "type_transform": "changes the value range", "lambda_transform": "runs code (specs are data)",
}


class _Unmapped(Exception):
    """An op or transform (as configured) has no faithful counterpart; the message says why."""


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


# -- augkit -> albumentations ------------------------------------------------------------------
_JITTER_NEUTRAL = {"brightness": (1.0, 1.0), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0),
                   "hue": (0.0, 0.0)}


def _jitter(key: str) -> Callable[..., Any]:
    """One ColorJitter component (torchvision semantics), the other three left neutral."""
    param = "shift_range" if key == "hue" else "factor_range"
    return lambda A, op, geo: A.ColorJitter(**{**_JITTER_NEUTRAL, key: op.values[param]},
                                            p=op.p)


def _fwd_translate(A: Any, op: Any, geo: dict) -> Any:
    if op.x_choices is not None or op.y_choices is not None:
        raise _Unmapped("offsets picked from x_choices/y_choices with a random sign (Keras' "
                        "integer or list shifts) have no albumentations equivalent")
    if op.unit == "fraction_swapped":
        raise _Unmapped("unit 'fraction_swapped' (Keras' legacy swapped shift axes) has no "
                        "albumentations equivalent")
    x, y = op.x_range, op.y_range
    if op.unit == "fraction":
        return A.Affine(translate_percent={"x": x, "y": y}, **geo, p=op.p)
    if not all(float(v).is_integer() for v in (*x, *y)):
        raise _Unmapped("albumentations' translate_px draws whole pixels; use integer bounds")
    px = {k: (int(r[0]), int(r[1])) for k, r in (("x", x), ("y", y))}
    return A.Affine(translate_px=px, **geo, p=op.p)


def _fwd_rrc(A: Any, op: Any, geo: dict) -> Any:
    if op.p != 1.0:
        raise _Unmapped("with p < 1 augkit resizes a skipped sample to `size`; albumentations "
                        "leaves it at its input size")
    return A.RandomResizedCrop(size=op.size, scale=op.scale_range, ratio=op.ratio_range,
                               interpolation=geo["interpolation"], p=1.0)


def _fwd_erasing(A: Any, op: Any, geo: dict) -> Any:
    if op.fill not in (0.0, "random"):
        raise _Unmapped("albumentations' fill is in pixel units (dtype dependent), augkit's a "
                        "fraction of the value range; only fill 0 or 'random' map")
    return A.Erasing(scale=op.scale_range, ratio=op.ratio_range, fill=op.fill, p=op.p)


def _fwd_posterize(A: Any, op: Any, geo: dict) -> Any:
    lo, hi = (int(v) for v in op.bits_range)
    if not 1 <= lo <= hi <= 7:
        raise _Unmapped("albumentations' Posterize keeps 1 to 7 bits; bits_range must lie in "
                        "[1, 7]")
    return A.Posterize(num_bits=(lo, hi), p=op.p)


def _fwd_rescale(A: Any, op: Any, geo: dict) -> Any:
    if op.scale == 0.0:
        raise _Unmapped("scale 0 has no albumentations Normalize form")
    # (x - mean * mpv) / (std * mpv) == x * scale + offset, on every dtype
    return A.Normalize(mean=0.0 - op.offset, std=1.0, max_pixel_value=1.0 / op.scale, p=1.0)


_FORWARD: dict[str, Callable[[Any, Any, dict], Any]] = {
    "flip_horizontal": lambda A, op, geo: A.HorizontalFlip(p=op.p),
    "flip_vertical": lambda A, op, geo: A.VerticalFlip(p=op.p),
    "rotate": lambda A, op, geo: A.Rotate(limit=op.angle_range, **geo, p=op.p),
    "translate": _fwd_translate,
    "zoom": lambda A, op, geo: A.Affine(  # grid scale (Keras) -> content scale
        scale={k: (1.0 / op.factor_range[1], 1.0 / op.factor_range[0]) for k in "xy"},
        keep_ratio=op.keep_aspect, **geo, p=op.p),
    "shear": lambda A, op, geo: A.Affine(  # albumentations negates the sampled angle
        shear={"x": (0.0, 0.0), "y": (0.0, 0.0),
               op.axis: (-op.angle_range[1], -op.angle_range[0])}, **geo, p=op.p),
    "random_resized_crop": _fwd_rrc,
    "crop_and_pad": lambda A, op, geo: A.CropAndPad(
        percent=op.percent_range, sample_independently=True, keep_size=True, **geo, p=op.p),
    **{key: _jitter(key) for key in _JITTER_NEUTRAL},
    "gamma": lambda A, op, geo: A.RandomGamma(
        gamma_limit=(100.0 * op.gamma_range[0], 100.0 * op.gamma_range[1]), p=op.p),
    "gaussian_noise": lambda A, op, geo: A.GaussNoise(
        std_range=op.std_range, mean_range=(0.0, 0.0), per_channel=op.per_channel, p=op.p),
    "gaussian_blur": lambda A, op, geo: A.GaussianBlur(  # augkit's fixed kernel size
        blur_limit=(2 * op.radius + 1,) * 2, sigma_limit=op.sigma_range, p=op.p),
    "erasing": _fwd_erasing,
    "solarize": lambda A, op, geo: A.Solarize(threshold_range=op.threshold_range, p=op.p),
    "posterize": _fwd_posterize,
    "rescale": _fwd_rescale,
    "normalize": lambda A, op, geo: A.Normalize(
        mean=op.mean, std=op.std, max_pixel_value=255.0, p=1.0),
    "albumentations": lambda A, op, geo: type(op.instance)(
        **{k: v for k, v in op.args.items() if k != "p"}, p=op.p),
}
_NO_EQUIVALENT = {
    "channel_shift": "it clips to each image's own minimum and maximum (Keras' "
                     "channel_shift_range); albumentations' RGBShift draws a shift per channel "
                     "and clips to the dtype's range",
    "autocontrast": "albumentations' AutoContrast quantizes float images to 256 histogram bins; "
                    "augkit stretches their values exactly",
    "equalize": "albumentations' Equalize(mode='pil') builds its lookup table without PIL's "
                "one-level shift and mode='cv' is OpenCV's equalizeHist; augkit's is PIL's "
                "(and torchvision's)",
    "sharpness": "albumentations' Sharpen blends with a Laplacian-style kernel (alpha, "
                 "lightness); augkit's is PIL's ImageEnhance.Sharpness",
    **dict.fromkeys(("randaugment", "trivialaugment"),
                    "albumentations 2.0 has no RandAugment or TrivialAugment policy"),
    **dict.fromkeys(("mixup", "cutmix"),
                    "it mixes images and labels across a batch; albumentations 2.0 transforms "
                    "see one image at a time"),
}


def _range_problems(pipeline: Any) -> dict[int, str]:
    """Ops whose albumentations form would assume another value range than augkit uses."""
    out, vrange, changed = {}, (0.0, 255.0), False
    for i, op in enumerate(pipeline.ops):
        dependent = not op.geometric and op.name != "rescale"
        if dependent and pipeline.value_range != (0.0, 1.0):
            out[i] = (f"it works on the declared value_range {list(pipeline.value_range)}; "
                      f"albumentations assumes float images in [0, 1]")
        elif dependent and changed and not all(
                math.isclose(a, b, abs_tol=1e-9) for a, b in zip(vrange, (0.0, 1.0))):
            out[i] = (f"it follows rescale/normalize, so augkit applies it on the range "
                      f"[{vrange[0]:g}, {vrange[1]:g}]; albumentations assumes [0, 1]")
        vrange = op.output_range(vrange)
        changed = changed or op.name in ("rescale", "normalize")
    return out


def to_albumentations(pipeline: Any) -> Any:
    """Convert an augkit pipeline to an albumentations ``Compose``.

    Each op becomes one transform with the same meaning and the same ``p``; the pipeline's
    ``fill_mode``, ``cval`` and ``interpolation`` go onto every geometric transform. When the
    pipeline's ``targets`` settings are not the defaults (which are albumentations' own), the
    Compose gets the matching ``bbox_params`` and ``keypoint_params``. See
    ``docs/albumentations.md`` for the table and what is lossy.

    Args:
        pipeline: an :class:`augkit.Pipeline`.

    Returns:
        An ``albumentations.Compose`` of the mapped transforms, in order.

    Raises:
        SpecError: some ops or target settings have no faithful albumentations form; the
            message names every one (position, name, why) and lists the ops that do map.
            ``targets.keypoint_mode='flag'`` and a non-zero ``targets.mask_fill`` never map,
            nor, next to non-default targets settings, ``erasing`` and adapter dropouts.

    Example:
        >>> import augkit
        >>> p = augkit.Pipeline([augkit.ops.FlipHorizontal(p=0.5)])
        >>> [type(t).__name__ for t in p.to_albumentations().transforms]
        ['HorizontalFlip']
    """
    import albumentations as A

    geo = {"border_mode": _BORDER[pipeline.fill_mode], "fill": float(pipeline.cval),
           "interpolation": _INTERP[pipeline.interpolation]}
    problems = _range_problems(pipeline)
    params, target_ops, target_problems = albu_targets.to_params(pipeline)
    for i, why in target_ops.items():
        problems.setdefault(i, why)
    transforms = []
    for i, op in enumerate(pipeline.ops):
        if i in problems:
            continue
        if op.name not in _FORWARD:
            problems[i] = _NO_EQUIVALENT.get(op.name, "augkit has no mapping for it")
            continue
        try:
            transforms.append(_FORWARD[op.name](A, op, geo))
        except _Unmapped as exc:
            problems[i] = str(exc)
    if problems or target_problems:
        listed = "; ".join([f"ops[{i}] ({pipeline.ops[i].name}): {why}"
                            for i, why in sorted(problems.items())] + target_problems)
        raise SpecError(f"to_albumentations: no faithful albumentations equivalent for "
                        f"{listed}. Ops that map: {', '.join(sorted(_FORWARD))} "
                        f"(see docs/albumentations.md)")
    return A.Compose(transforms, **params)


# -- albumentations -> augkit ------------------------------------------------------------------
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


def _plain(value: Any, path: str) -> Any:
    """Init arguments as YAML-safe data (tuples become lists), or a SpecError."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{path}.{k}") for k, v in value.items()}
    raise SpecError(f"{path}: got a {type(value).__name__}; allowed: plain data (numbers, "
                    f"strings, lists, mappings), since augkit specs are data, never code")


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
    args = _plain({k: v for k, v in t.get_transform_init_args().items() if k != "p"},
                  f"{path} ({name})")
    try:
        defaults = _plain(type(t)().get_transform_init_args(), name)
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
