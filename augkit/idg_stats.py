"""Normalization and statistics of :class:`augkit.ImageDataGenerator`, as Keras computes them.

``standardize`` (Keras' order: ``preprocessing_function``, ``rescale``, sample-wise centring and
scaling, feature-wise centring and scaling, ZCA) and ``fit`` (per-channel mean and std with
Keras' broadcast shapes, Keras' ZCA formula), plus the seed and value-range helpers the
generator's iterators share.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from augkit.errors import InputError

__all__ = ["Normalization", "draw_seed", "data_range"]


class Normalization:
    """Mixin of :class:`augkit.ImageDataGenerator`: ``standardize`` and ``fit``.

    Uses the generator's attributes (``rescale``, the normalization flags, ``mean``, ``std``,
    ``zca_whitening_matrix``, axes, ``dtype``) and its ``_augment``.
    """

    # -- normalization ------------------------------------------------------------------------
    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Apply ``preprocessing_function``, ``rescale`` and the normalizations to ``x``.

        As in Keras, ``x`` is a single image or a batch, float arrays are changed in place,
        and sample-wise statistics are taken over all of ``x``.

        Args:
            x: the input, in ``data_format``.

        Returns:
            The normalized input.
        """
        if not (isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
            x = np.array(x, dtype=self.dtype)
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        return self._featurewise(x)

    def _featurewise(self, x: np.ndarray) -> np.ndarray:
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                warnings.warn("This ImageDataGenerator specifies `featurewise_center`, but it "
                              "hasn't been fit on any training data. Fit it first by calling "
                              "`.fit(numpy_data)`.", stacklevel=3)
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                warnings.warn("This ImageDataGenerator specifies "
                              "`featurewise_std_normalization`, but it hasn't been fit on any "
                              "training data. Fit it first by calling `.fit(numpy_data)`.",
                              stacklevel=3)
        if self.zca_whitening:
            if self.zca_whitening_matrix is not None:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = np.reshape(flat @ self.zca_whitening_matrix, x.shape).astype(x.dtype)
            else:
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, but it "
                              "hasn't been fit on any training data. Fit it first by calling "
                              "`.fit(numpy_data)`.", stacklevel=3)
        return x

    def _standardize_batch(self, x: np.ndarray) -> np.ndarray:
        """:meth:`standardize` image by image, vectorized over a float batch (in place)."""
        if self.preprocessing_function:
            x = np.stack([np.asarray(self.preprocessing_function(image)) for image in x])
            x = x.astype(self.dtype, copy=False)
        if self.rescale:
            x *= np.asarray(self.rescale, dtype=x.dtype)
        axes = tuple(range(1, x.ndim))
        if self.samplewise_center:
            x -= np.mean(x, axis=axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=axes, keepdims=True) + 1e-6
        return self._featurewise(x)

    # -- statistics ---------------------------------------------------------------------------
    def fit(self, x: Any, augment: bool = False, rounds: int = 1, seed: int | None = None) -> None:
        """Compute the feature-wise statistics (mean, std, ZCA matrix) from sample data.

        As in Keras, ``rescale`` is applied to the sample before the statistics, and
        ``augment=True`` computes them over ``rounds`` augmented copies.

        Args:
            x: images of rank 4, in ``data_format``.
            augment: fit on augmented copies.
            rounds: number of augmented copies (with ``augment``).
            seed: seed of the augmentation (default: drawn from numpy's global generator).

        Raises:
            ValueError: ``x`` is not of rank 4, or ``rounds`` is not a positive integer.
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: "
                             f"{x.shape}")
        if x.shape[self.channel_axis] not in {1, 3, 4}:
            warnings.warn(f"Expected input to be images (as Numpy array) following the data "
                          f'format convention "{self.data_format}" (channels on axis '
                          f"{self.channel_axis}), i.e. expected either 1, 3 or 4 channels on "
                          f"axis {self.channel_axis}. However, it was passed an array with "
                          f"shape {x.shape} ({x.shape[self.channel_axis]} channels).",
                          stacklevel=2)
        if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
            raise ValueError(f"`rounds` should be a positive integer. Received: {rounds!r}")
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            seed = draw_seed(seed)
            value_range = data_range(x)
            index = np.arange(len(x))
            x = np.concatenate([
                self._augment(x.astype(np.float32, copy=False), seed=seed, index=index,
                              epoch=r, value_range=value_range).astype(self.dtype)
                for r in range(int(rounds))])
        axes = (0, self.row_axis, self.col_axis)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.reshape(np.mean(x, axis=axes), shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.reshape(np.std(x, axis=axes), shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            n = len(x)
            flat = np.reshape(x, (n, -1)).astype(np.float64)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = ((u * s_inv) @ u.T).astype(self.dtype)


def draw_seed(seed: Any) -> int:
    """``seed`` validated, or a fresh one from numpy's global generator when ``None``.

    Keras' class draws from numpy's global random state; taking only the *seed* from it keeps
    ``np.random.seed(...)`` meaningful while every draw after that follows augkit's contract.
    """
    if seed is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` should be a non-negative integer or None. Received: {seed!r}")
    return int(seed)


def data_range(x: np.ndarray) -> tuple[float, float]:
    """The value range to declare for float data: its own span, at least [0, 1]."""
    if x.dtype == np.uint8 or x.size == 0:
        return (0.0, 255.0)
    if not np.isfinite(x).all():
        raise InputError("images: contain NaN or inf; allowed: finite values")
    lo, hi = float(np.min(x)), float(np.max(x))
    return (min(lo, 0.0), max(hi, 1.0))
