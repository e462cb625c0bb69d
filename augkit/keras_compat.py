"""``Pipeline.from_keras``: Keras ``ImageDataGenerator`` augmentation arguments, Keras' meaning.

Argument -> augkit op: meaning kept from Keras.

- ``rotation_range`` -> rotate: degrees, uniform in [-r, r]
- ``width_shift_range`` -> translate (x): float < 1: fraction of width; >= 1: pixels; int n:
  integer pixels from (-n, n) with Keras' sign trick; list: a random element with a random sign
- ``height_shift_range`` -> translate (y): as width, vertically
- ``shear_range`` -> shear: degrees, uniform in [-s, s]
- ``zoom_range`` -> zoom: float z: [1 - z, 1 + z]; pair: [low, high]; x and y drawn
  independently; > 1 zooms out
- ``channel_shift_range`` -> channel_shift: pixel units, one offset for all channels, clipped to
  the image's min/max
- ``brightness_range`` -> brightness: pair of factors
- ``horizontal_flip`` / ``vertical_flip`` -> flip_horizontal / flip_vertical: p = 0.5
- ``fill_mode``, ``cval`` -> pipeline settings: default "nearest"
- ``rescale`` -> rescale: applied after augmentation, as Keras does

The one deliberate difference: ``width_shift_range`` moves pixels horizontally and
``height_shift_range`` vertically. Keras' class swaps them (keras-team/keras#17398,
tensorflow/tensorflow#82838). ``legacy_shift_axes=True`` reproduces the swap.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from typing import Any

from augkit.errors import SpecError
from augkit.ops import geometric as g
from augkit.ops.base import Op
from augkit.ops.color import Brightness, ChannelShift, Rescale
from augkit.params import closest, fail, short_repr

KERAS_ARGS = (
    "rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range",
    "channel_shift_range", "brightness_range", "horizontal_flip", "vertical_flip", "fill_mode",
    "cval", "rescale",
)
_NOT_AUGMENTATION = (
    "featurewise_center", "samplewise_center", "featurewise_std_normalization",
    "samplewise_std_normalization", "zca_whitening", "zca_epsilon", "preprocessing_function",
    "data_format", "validation_split", "interpolation_order", "dtype",
)


@contextlib.contextmanager
def _argument(name: str, value: Any) -> Iterator[None]:
    """Report any invalid value under the Keras argument's own name."""
    try:
        yield
    except SpecError as exc:
        text = str(exc)
        allowed = text.split("allowed: ", 1)[1] if "allowed: " in text else text
        if any(text.startswith(f"{arg}:") for arg in KERAS_ARGS):
            raise
        raise SpecError(f"{name}: got {short_repr(value)}; allowed: {allowed}") from None


def _number(name: str, value: Any, *, minimum: float = 0.0) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < minimum):
        raise fail(name, value, f"a number >= {minimum:g}")
    return float(value)


def _shift(name: str, value: Any) -> tuple[dict, str] | None:
    """Keras' shift semantics → translate kwargs for one axis ("range"/"choices", unit)."""
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool)
                         and value == 0):
        return None
    allowed = ("a float (fraction of the size if < 1, else pixels), an int n (integer pixels "
               "in (-n, n)) or a list of offsets")
    values = value if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, bool) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in values):
        raise fail(name, value, allowed)
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise fail(name, value, allowed)
        return {"choices": [float(v) for v in range(int(value))]}, "pixels"
    if isinstance(value, numbers.Real):
        if value < 0:
            raise fail(name, value, allowed)
        unit = "fraction" if value < 1 else "pixels"
        return {"range": (-float(value), float(value))}, unit
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        unit = "fraction" if max(value) < 1 else "pixels"
        return {"choices": [float(v) for v in value]}, unit
    raise fail(name, value, allowed)


def _translate_ops(width: Any, height: Any, legacy: bool = False) -> list[Op]:
    """Translate ops for the (already swapped, when ``legacy``) x and y shift arguments."""
    x_name, y_name = "width_shift_range", "height_shift_range"
    if legacy:  # x came from height_shift_range; Keras measures each along the other axis
        x_name, y_name = y_name, x_name
    xs, ys = _shift(x_name, width), _shift(y_name, height)
    if legacy:
        xs, ys = _legacy_unit(xs), _legacy_unit(ys)

    def kwargs(axis: str, spec: tuple[dict, str] | None) -> dict:
        if spec is None:
            return {}
        d, _ = spec
        return {f"{axis}_range": d["range"]} if "range" in d else {
            f"{axis}_range": (0.0, 0.0), f"{axis}_choices": d["choices"]}

    if xs is None and ys is None:
        return []
    zero = {"x_range": (0.0, 0.0), "y_range": (0.0, 0.0)}
    if xs and ys and xs[1] != ys[1]:  # different units: one op per axis (still one warp)
        return [g.Translate(**{**zero, **kwargs("x", xs)}, unit=xs[1]),
                g.Translate(**{**zero, **kwargs("y", ys)}, unit=ys[1])]
    unit = (xs or ys)[1]  # type: ignore[index]
    return [g.Translate(**{**zero, **kwargs("x", xs), **kwargs("y", ys)}, unit=unit)]


def _legacy_unit(spec: tuple[dict, str] | None) -> tuple[dict, str] | None:
    if spec is None or spec[1] != "fraction":
        return spec
    return spec[0], "fraction_swapped"


def _zoom(value: Any) -> tuple[float, float] | None:
    allowed = "a number in [0, 1) or a pair [low, high] with 0 < low <= high <= 100"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not 0 <= value < 1:
            raise fail("zoom_range", value, allowed)
        return None if value == 0 else (1.0 - value, 1.0 + value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        lo, hi = float(value[0]), float(value[1])
        if not 0 < lo <= hi <= 100:
            raise fail("zoom_range", value, allowed)
        return None if lo == hi == 1.0 else (lo, hi)
    raise fail("zoom_range", value, allowed)


def from_keras(cls: Any, *, legacy_shift_axes: bool = False, **kwargs: Any) -> Any:
    """Build a pipeline from ``ImageDataGenerator`` augmentation keyword arguments.

    Args:
        cls: the pipeline class.
        legacy_shift_axes: reproduce Keras' swapped shift axes (``width_shift_range`` moving
            pixels vertically). Off by default.
        **kwargs: any of :data:`KERAS_ARGS`, with Keras' defaults.

    Raises:
        SpecError: unknown or invalid argument (its name, value and what is allowed).

    Example:
        >>> import augkit
        >>> p = augkit.Pipeline.from_keras(rotation_range=15, width_shift_range=0.1,
        ...                                horizontal_flip=True, rescale=1 / 255)
        >>> [op.name for op in p.ops]
        ['rotate', 'translate', 'flip_horizontal', 'rescale']
    """
    for key in kwargs:
        if key not in KERAS_ARGS:
            hint = "" if key in _NOT_AUGMENTATION else closest(key, KERAS_ARGS)
            extra = (" (not an augmentation argument: use augkit.ImageDataGenerator for it)"
                     if key in _NOT_AUGMENTATION else "")
            raise SpecError(f"{key}: unknown argument{hint}{extra}; allowed: "
                            f"{', '.join(KERAS_ARGS)}")
    ops: list[Op] = []
    if not isinstance(legacy_shift_axes, bool):
        raise fail("legacy_shift_axes", legacy_shift_axes, "true or false")
    for key in KERAS_ARGS:
        if key in kwargs and key not in ("fill_mode", "cval"):
            with _argument(key, kwargs[key]):
                ops += _ops_for(key, kwargs, legacy_shift_axes)
    settings = {k: kwargs[k] for k in ("fill_mode", "cval") if k in kwargs}
    order = {name: i for i, name in enumerate(_ORDER)}
    ops.sort(key=lambda op: order[op.name])
    return cls(ops, **settings)


# Keras' order: one affine (rotation, shift, shear, zoom), flips, channel shift, brightness;
# rescale comes last, in ``standardize``.
_ORDER = ("rotate", "translate", "shear", "zoom", "flip_horizontal", "flip_vertical",
          "channel_shift", "brightness", "rescale")


def _ops_for(key: str, kwargs: dict, legacy_shift_axes: bool) -> list[Op]:
    """The ops one Keras argument turns into (the shift pair is handled on width's turn)."""
    get = kwargs.get
    ops: list[Op] = []
    if key == "height_shift_range" and "width_shift_range" in kwargs:
        return []
    if key == "rotation_range":
        rotation = _number(key, get(key))
        if rotation:
            ops.append(g.Rotate(angle_range=(-rotation, rotation)))
    elif key in ("width_shift_range", "height_shift_range"):
        width, height = get("width_shift_range", 0.0), get("height_shift_range", 0.0)
        if legacy_shift_axes:
            width, height = height, width
        ops += _translate_ops(width, height, legacy_shift_axes)
    elif key == "shear_range":
        shear = _number(key, get(key))
        if shear:
            ops.append(g.Shear(angle_range=(-shear, shear)))
    elif key == "zoom_range":
        zoom = _zoom(get(key))
        if zoom:
            ops.append(g.Zoom(factor_range=zoom))
    elif key in ("horizontal_flip", "vertical_flip"):
        flag = get(key)
        if not isinstance(flag, bool):
            raise fail(key, flag, "true or false")
        if flag:
            ops.append((g.FlipHorizontal if key == "horizontal_flip" else g.FlipVertical)(p=0.5))
    elif key == "channel_shift_range":
        shift = _number(key, get(key))
        if shift:
            ops.append(ChannelShift(intensity_range=(-shift, shift)))
    elif key == "brightness_range":
        if get(key) is not None:
            ops.append(Brightness(factor_range=get(key)))
    elif key == "rescale":
        rescale = get(key)
        if rescale is not None and rescale != 0:
            ops.append(Rescale(scale=rescale))
    return ops
