"""Noise and blur ops."""

from __future__ import annotations

import math
from typing import Any

from augkit.ops.base import KEEPS_TARGETS, Op, register
from augkit.params import Flag, Range


@register
class GaussianNoise(Op):
    """Add zero-mean Gaussian noise; its std is drawn from ``std_range`` per sample.

    The std is a fraction of the value range's span (0.05 on uint8 = 12.75 levels), as
    albumentations' ``GaussNoise(std_range=...)``. Results are clipped to the value range.
    The noise comes from augkit's counter-based hash, so it is identical on both backends.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "gaussian_noise"
    targets = KEEPS_TARGETS
    params = {
        "std_range": Range((0.01, 0.05), "noise std as a fraction of the range", min=0.0,
                           max=1.0),
        "per_channel": Flag(True, "independent noise per channel (else one value per pixel)"),
    }

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.std_range
        return {"std": draws.uniform(1, lo, hi), "noise_keys": draws.bits(2)}


def blur_radius(sigma: float) -> int:
    """Kernel radius used for a Gaussian of std ``sigma``: ``ceil(3 sigma)``, at least 1."""
    return max(1, int(math.ceil(3.0 * sigma)))


@register
class GaussianBlur(Op):
    """Blur with a Gaussian whose std (pixels) is drawn from ``sigma_range`` per sample.

    The separable kernel has radius ``ceil(3 * max(sigma_range))``; borders are mirrored
    without repeating the edge pixel (OpenCV's default ``BORDER_REFLECT_101``).

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "gaussian_blur"
    targets = KEEPS_TARGETS
    params = {"sigma_range": Range((0.1, 2.0), "Gaussian std in pixels", min=0.05, max=20.0)}

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        lo, hi = self.sigma_range
        return {"sigma": draws.uniform(1, lo, hi)}

    @property
    def radius(self) -> int:
        return blur_radius(self.sigma_range[1])

    def check_input(self, shape: tuple, path: str) -> None:
        from augkit.errors import InputError

        if min(shape[1], shape[2]) <= self.radius:
            raise InputError(
                f"{path}: images of {shape[1]}x{shape[2]} are too small for a blur of radius "
                f"{self.radius} (sigma up to {self.sigma_range[1]:g}); allowed: height and "
                f"width above the radius"
            )
