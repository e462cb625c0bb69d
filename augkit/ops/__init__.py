"""The op catalog. Every op is registered by name; ``available()`` lists them.

Families: geometric (rotate, translate, zoom, shear, flips, random_resized_crop, crop_and_pad),
colour/value (brightness, channel_shift, contrast, saturation, hue, gamma, rescale, normalize),
noise/blur (gaussian_noise, gaussian_blur), erase (erasing) and adapters (albumentations).
"""

from augkit.ops.adapters import Albumentations
from augkit.ops.base import GeometricOp, Op, available, get, register
from augkit.ops.color import (Brightness, ChannelShift, Contrast, Gamma, Hue, Normalize,
                              Rescale, Saturation)
from augkit.ops.erase import Erasing
from augkit.ops.geometric import (CropAndPad, FlipHorizontal, FlipVertical, RandomResizedCrop,
                                  Rotate, Shear, Translate, Zoom)
from augkit.ops.noise import GaussianBlur, GaussianNoise

__all__ = [
    "Albumentations", "Brightness", "ChannelShift", "Contrast", "CropAndPad", "Erasing",
    "FlipHorizontal", "FlipVertical", "Gamma", "GaussianBlur", "GaussianNoise", "GeometricOp",
    "Hue", "Normalize", "Op", "RandomResizedCrop", "Rescale", "Rotate", "Saturation", "Shear",
    "Translate", "Zoom", "available", "get", "register",
]
