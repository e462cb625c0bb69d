"""Random erasing (cutout)."""

from __future__ import annotations

from typing import Any

from augkit.ops.base import KEEPS_TARGETS, Op, register, sample_box_size
from augkit.params import FillValue, Range


@register
class Erasing(Op):
    """Erase one random rectangle per sample (Zhong et al.'s random erasing; cutout).

    The rectangle's area is a fraction from ``scale_range`` of the image, its aspect ratio
    (width/height) log-uniform in ``ratio_range``, clipped to the image. ``fill`` is a fraction
    of the value range (0 = its bottom, e.g. black) or ``"random"`` for uniform noise.

    The patch occludes, it moves nothing: masks, boxes and keypoints are left as they are (the
    default of albumentations' ``Erasing``/``CoarseDropout`` and of torchvision), so an
    occluded object keeps its label, as random erasing intends.

    Targets:
        image, label; mask, bboxes, keypoints pass unchanged.
    """

    name = "erasing"
    targets = KEEPS_TARGETS
    default_p = 0.5
    params = {
        "scale_range": Range((0.02, 0.33), "area fraction", min=0.0, max=1.0),
        "ratio_range": Range((0.3, 3.3), "aspect ratio width/height", min=1e-2, max=100.0),
        "fill": FillValue(0.0, "fill value as a fraction of the range, or \"random\""),
    }

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        xp = draws.xp
        h, w = xp.f32(height), xp.f32(width)
        ew, eh = sample_box_size(draws, height, width, self.scale_range, self.ratio_range,
                                 whole_pixels=True)
        x0 = xp.floor(draws.uniform(3) * (w - ew + 1.0))
        y0 = xp.floor(draws.uniform(4) * (h - eh + 1.0))
        return {"x0": x0, "y0": y0, "x1": x0 + ew, "y1": y0 + eh, "noise_keys": draws.bits(5)}
