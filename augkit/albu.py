"""augkit pipelines to albumentations 2.0 ``Compose`` objects (and the tables both ways share).

``to_albumentations`` maps every augkit op to the albumentations transform with the same
meaning and refuses (``SpecError``, naming each op and why) where none exists. The other
direction, ``from_albumentations``, is :mod:`augkit.albu_reverse`.
A ``Compose``'s ``bbox_params``/``keypoint_params`` and the pipeline's ``targets`` settings
convert in :mod:`augkit.albu_targets`. The table of what maps, and what is lossy, is
``docs/albumentations.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from augkit import albu_targets
from augkit.errors import SpecError

_BORDER = {"nearest": 1, "constant": 0, "reflect": 2, "wrap": 3}  # cv2.BORDER_*
_INTERP = {"bilinear": 1, "nearest": 0}  # cv2.INTER_LINEAR, cv2.INTER_NEAREST


class _Unmapped(Exception):
    """An op or transform (as configured) has no faithful counterpart; the message says why."""


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
