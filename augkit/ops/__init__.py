"""The op catalog. Every op is registered by name; ``available()`` lists them.

Families: geometric (rotate, translate, zoom, shear, flips, random_resized_crop, crop_and_pad),
colour/value (brightness, channel_shift, contrast, saturation, hue, gamma, rescale, normalize),
noise/blur (gaussian_noise, gaussian_blur), erase (erasing), adapters (albumentations),
tone (autocontrast, equalize, solarize, posterize, sharpness), policies (randaugment,
trivialaugment) and batch-level label mixing (mixup, cutmix).
"""

from augkit.ops.adapters import Albumentations
from augkit.ops.base import GeometricOp, Op, available, get, register
from augkit.ops.color import (
                              Brightness,
                              ChannelShift,
                              Contrast,
                              Gamma,
                              Hue,
                              Normalize,
                              Rescale,
                              Saturation,
)
from augkit.ops.erase import Erasing
from augkit.ops.geometric import (
                              CropAndPad,
                              FlipHorizontal,
                              FlipVertical,
                              RandomResizedCrop,
                              Rotate,
                              Shear,
                              Translate,
                              Zoom,
)
from augkit.ops.mixing import CutMix, MixUp
from augkit.ops.noise import GaussianBlur, GaussianNoise
from augkit.ops.policies import RandAugment, TrivialAugment
from augkit.ops.tone import AutoContrast, Equalize, Posterize, Sharpness, Solarize

__all__ = [
    "Albumentations", "AutoContrast", "Brightness", "ChannelShift", "Contrast", "CropAndPad",
    "CutMix", "Equalize", "Erasing", "FlipHorizontal", "FlipVertical", "Gamma", "GaussianBlur",
    "GaussianNoise", "GeometricOp", "Hue", "MixUp", "Normalize", "Op", "Posterize",
    "RandAugment", "RandomResizedCrop", "Rescale", "Rotate", "Saturation", "Sharpness", "Shear",
    "Solarize", "Translate", "TrivialAugment", "Zoom", "available", "get", "register",
]
