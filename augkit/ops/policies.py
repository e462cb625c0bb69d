"""Augmentation policies: RandAugment (Cubuk et al. 2020) and TrivialAugment (Müller & Hutter 2021).

A policy is a *compound* op: per sample it picks sub-ops from a fixed list of fourteen and a
magnitude for each, all from augkit's hash (:mod:`augkit.rng`), so both backends pick the same.
The pipeline runs a policy as two parts (:meth:`Policy.parts`), in this order:

* a value part: the selected value sub-ops, in slot order, each applied only to the samples
  that picked it (kernel ``augkit.kernels.policies``);
* a geometric part: each sample's selected shears, translations and rotations multiplied into
  one matrix (identity where a slot picked a value op), fused into one warp with the geometric
  ops right after the policy.

So value sub-ops act before geometric sub-ops whatever their slot order (torchvision applies
them in slot order). Values first, because posterize, solarize, equalize and autocontrast are
discontinuous in the pixel value: after a warp they would turn the backends' one-level
interpolation differences into jumps of many levels; on the unwarped pixels both backends
compute them exactly alike. Magnitude tables follow torchvision's ``_augmentation_space``
(``torchvision/transforms/autoaugment.py``); they are written out in
``docs/mixing-and-policies.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from augkit.geometry import about_center, affine
from augkit.ops.base import KEEPS_TARGETS, MOVES_TARGETS, GeometricOp, Op, register
from augkit.params import Number, fail

#: The sub-ops, in torchvision's order (a sample's choice is an index into this tuple).
SUB_OPS = ("identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate",
           "brightness", "color", "contrast", "sharpness", "posterize", "solarize",
           "autocontrast", "equalize")
GEOMETRIC_SUB_OPS = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")
_INDEX = {name: i for i, name in enumerate(SUB_OPS)}


@dataclass(frozen=True)
class Space:
    """A policy's magnitude table: the value at the top bin of each signed sub-op.

    The magnitude of bin ``b`` of ``B`` bins is ``top * b / (B - 1)`` (torchvision's
    ``linspace(0, top, B)``), negated with probability 1/2.
    """

    shear: float  # shear factor tan(angle)
    translate: float  # pixels, or a fraction of the image side when translate_relative
    translate_relative: bool
    rotate: float  # degrees
    enhance: float  # brightness, color, contrast, sharpness: factor 1 ± magnitude
    posterize_drop: int  # bits dropped at the top bin: bits = 8 - round(b / ((B-1) / drop))


RANDAUGMENT_SPACE = Space(shear=0.3, translate=150.0 / 331.0, translate_relative=True,
                          rotate=30.0, enhance=0.9, posterize_drop=4)
TRIVIALAUGMENT_SPACE = Space(shear=0.99, translate=32.0, translate_relative=False,
                             rotate=135.0, enhance=0.99, posterize_drop=6)


def posterize_bits(space: Space, bins: int) -> np.ndarray:
    """Bits kept per magnitude bin (torchvision's float32 arithmetic, rounded half to even)."""
    ratio = np.float32((bins - 1) / space.posterize_drop)
    return 8 - np.rint(np.arange(bins, dtype=np.float32) / ratio).astype(np.int64)


def solarize_levels(bins: int) -> np.ndarray:
    """Solarize threshold per magnitude bin, in 0–255 levels (``linspace(255, 0, bins)``)."""
    return np.linspace(255.0, 0.0, bins, dtype=np.float32)


class Policy(Op):
    """Base of the policy ops: sampling, the geometric matrix and the two pipeline parts."""

    compound: ClassVar[bool] = True
    targets = MOVES_TARGETS  # the geometric part moves them, the value part keeps them
    space: ClassVar[Space]

    def slots(self) -> int:
        """Sub-ops applied per sample."""
        raise NotImplementedError

    def bins(self, draws: Any, slot: int) -> Any:
        """Magnitude bin per sample (int64)."""
        raise NotImplementedError

    def parts(self) -> tuple[Op, GeometricOp]:
        """The value part and the geometric part the pipeline runs in place of this op."""
        return PolicyValues(self), PolicyGeometry(self)

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        """``choice`` (index into :data:`SUB_OPS`) and signed ``value`` per sample and slot.

        ``value`` is what the sub-op needs: shear factor, translation in whole pixels (truncated
        toward zero, as torchvision), degrees, enhance factor ``1 ± m``, bits kept, or the
        solarize threshold as a fraction of the value range.
        """
        xp = draws.xp
        choices, values = [], []
        for s in range(self.slots()):
            slot = 1 + 3 * s
            choice = draws.integers(slot, len(SUB_OPS))
            sign = xp.where(draws.bernoulli(slot + 1, 0.5), -1.0, 1.0)
            b = self.bins(draws, slot + 2)
            choices.append(xp.f32(choice))
            values.append(self._value(xp, choice, b, sign, height, width))
        return {"choice": xp.stack(choices, axis=1), "value": xp.stack(values, axis=1)}

    def _value(self, xp: Any, choice: Any, b: Any, sign: Any, height: Any, width: Any) -> Any:
        sp = self.space
        frac = xp.f32(b) / float(self.num_magnitude_bins - 1)  # position in the table, 0..1
        shift_x = sp.translate * (xp.f32(width) if sp.translate_relative else 1.0)
        shift_y = sp.translate * (xp.f32(height) if sp.translate_relative else 1.0)
        levels = solarize_levels(self.num_magnitude_bins)
        candidates = {
            "shear_x": sign * frac * sp.shear,
            "shear_y": sign * frac * sp.shear,
            "translate_x": sign * xp.floor(frac * shift_x),
            "translate_y": sign * xp.floor(frac * shift_y),
            "rotate": sign * frac * sp.rotate,
            "posterize": xp.take(posterize_bits(sp, self.num_magnitude_bins).astype(np.float32), b),
            "solarize": xp.take(levels, b) / 255.0,
        }
        for name in ("brightness", "color", "contrast", "sharpness"):
            candidates[name] = 1.0 + sign * frac * sp.enhance
        value = frac * 0.0
        for name, v in candidates.items():
            value = xp.where(choice == _INDEX[name], v, value)
        return value

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        """Per sample, the product of its selected geometric sub-ops' matrices (slot order)."""
        choice, value = params["choice"], params["value"]
        n = xp.shape0(value)
        total = None
        for s in range(self.slots()):
            k, v = choice[:, s], value[:, s]
            one, zero = v * 0.0 + 1.0, v * 0.0
            t = v * (math.pi / 180.0)
            c, si = xp.cos(t), xp.sin(t)
            candidates = {
                "shear_x": about_center(xp, one, v, zero, one, height, width),
                "shear_y": about_center(xp, one, zero, v, one, height, width),
                "translate_x": affine(xp, one, zero, v, zero, one, zero),
                "translate_y": affine(xp, one, zero, zero, zero, one, v),
                "rotate": about_center(xp, c, si, -si, c, height, width),
            }
            m = xp.eye3(n)
            for name, cand in candidates.items():
                m = xp.where(xp.reshape(k == _INDEX[name], (-1, 1, 1)), cand, m)
            total = m if total is None else xp.matmul(m, total)
        return total


class _PolicyPart(Op):
    """One part of a policy as the pipeline's stages see it: same name, ``p`` and draws."""

    params = {}

    def __init__(self, policy: Policy) -> None:
        super().__init__(p=policy.p, _path=policy.name)
        self.policy = policy
        self.name = policy.name

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        return self.policy.sample(draws, height, width)


class PolicyGeometry(_PolicyPart, GeometricOp):
    """The geometric part of a policy (not registered)."""

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        return self.policy.matrix(params, height, width, xp)


class PolicyValues(_PolicyPart):
    """The value part of a policy (its kernel is registered under the policy's name)."""

    targets = KEEPS_TARGETS


_BINS = Number(31, "number of magnitude bins (torchvision's num_magnitude_bins)", min=2,
               max=1001, integer=True)


@register
class RandAugment(Policy):
    """RandAugment (Cubuk et al. 2020): ``num_ops`` sub-ops per sample, each picked uniformly
    (with replacement) from the fourteen of :data:`SUB_OPS`, all at one global ``magnitude``.

    ``magnitude`` is a bin ``0 .. num_magnitude_bins - 1`` of torchvision's tables (31 bins:
    the paper's 0–30 scale); signed magnitudes get a random sign per sample and slot.
    Geometric sub-ops fill from outside the image with the pipeline's ``fill_mode``/``cval``
    and use its ``interpolation`` (torchvision: black fill, nearest).

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).

    Example:
        >>> import augkit
        >>> op = augkit.ops.RandAugment(num_ops=2, magnitude=9)
    """

    name = "randaugment"
    space = RANDAUGMENT_SPACE
    params = {
        "num_ops": Number(2, "sub-ops applied per sample (N)", min=1, max=10, integer=True),
        "magnitude": Number(9, "magnitude bin for every sub-op (M)", min=0, max=1000,
                            integer=True),
        "num_magnitude_bins": _BINS,
    }

    def _check(self, path: str) -> None:
        if self.magnitude > self.num_magnitude_bins - 1:
            raise fail(f"{path}.magnitude", self.magnitude,
                       f"an integer from 0 to num_magnitude_bins - 1 = "
                       f"{self.num_magnitude_bins - 1}")

    def slots(self) -> int:
        return int(self.num_ops)

    def bins(self, draws: Any, slot: int) -> Any:
        return draws.xp.i64(draws.xp.full(draws.xp.shape0(draws.keys), float(self.magnitude)))


@register
class TrivialAugment(Policy):
    """TrivialAugment Wide (Müller & Hutter 2021): one sub-op per sample, picked uniformly from
    the fourteen of :data:`SUB_OPS`, at a magnitude bin drawn uniformly per sample from
    ``0 .. num_magnitude_bins - 1`` of the wide tables.

    Geometric sub-ops use the pipeline's ``fill_mode``/``cval``/``interpolation``.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).

    Example:
        >>> import augkit
        >>> op = augkit.ops.TrivialAugment()
    """

    name = "trivialaugment"
    space = TRIVIALAUGMENT_SPACE
    params = {"num_magnitude_bins": _BINS}

    def slots(self) -> int:
        return 1

    def bins(self, draws: Any, slot: int) -> Any:
        return draws.integers(slot, int(self.num_magnitude_bins))
