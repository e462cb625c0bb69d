"""``augkit.ImageDataGenerator``: Keras' legacy class, same arguments, on augkit's engine.

Code written for ``tf.keras.preprocessing.image.ImageDataGenerator`` runs with one import
changed::

    from augkit import ImageDataGenerator      # was: from tensorflow.keras.preprocessing.image

    datagen = ImageDataGenerator(rescale=1 / 255, rotation_range=15, width_shift_range=0.1,
                                 height_shift_range=0.1, zoom_range=0.1)
    model.fit(datagen.flow(x_train, y_train, batch_size=32), epochs=10)   # not fit_generator

What is the same: every constructor argument and its validation (``ValueError``), the ranges,
units and distributions of every augmentation, the order of the steps (augmentation, then
``preprocessing_function``, ``rescale``, sample-wise and feature-wise normalization, ZCA), the
iterators' ``len()``, indexing, ``next()`` and attributes, ``fit``'s statistics. What differs on
purpose: ``width_shift_range`` moves pixels horizontally (Keras' class swaps the axes), the
random numbers come from augkit's seeding contract (a pure function of ``(seed, index, epoch)``,
so a batch is the same whatever the worker count), pixels are not bit-identical (one fused
OpenCV warp instead of SciPy), and no SciPy is needed. See
``docs/migrating-from-imagedatagenerator.md``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from augkit.idg_stats import Normalization
from augkit.pipeline import Pipeline

__all__ = ["ImageDataGenerator"]

_AUGMENT_ARGS = ("rotation_range", "width_shift_range", "height_shift_range", "shear_range",
                 "zoom_range", "channel_shift_range", "brightness_range", "horizontal_flip",
                 "vertical_flip", "fill_mode", "cval")
_INTERPOLATION_ORDERS = {0: "nearest", 1: "bilinear"}


def _keras_defaults() -> tuple[str, str]:
    import keras

    return keras.backend.image_data_format(), keras.backend.floatx()


def _number(name: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"`{name}` should be a finite number{bound}. Received: {value!r}")
    return float(value)


class ImageDataGenerator(Normalization):
    """Generate batches of augmented images: Keras' ``ImageDataGenerator``, run by augkit.

    Args:
        featurewise_center: subtract the data set's per-channel mean (from :meth:`fit`).
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the data set's per-channel std.
        samplewise_std_normalization: divide each image by its std.
        zca_whitening: apply ZCA whitening (from :meth:`fit`); implies featurewise_center.
        zca_epsilon: epsilon of the ZCA whitening.
        rotation_range: degrees, uniform in ``[-r, r]``.
        width_shift_range: float < 1: fraction of the width; >= 1: pixels; int ``n``: integer
            pixels in ``(-n, n)``; list: a random element with a random sign. Moves pixels
            horizontally.
        height_shift_range: as ``width_shift_range``, vertically.
        brightness_range: ``[low, high]`` brightness factors.
        shear_range: shear angle in degrees, uniform in ``[-s, s]``.
        zoom_range: float ``z`` (factors in ``[1 - z, 1 + z]``) or ``[low, high]``; x and y
            drawn independently; a factor above 1 zooms out.
        channel_shift_range: one offset in ``[-c, c]`` added to every channel (pixel units).
        fill_mode: ``"nearest"``, ``"constant"``, ``"reflect"`` or ``"wrap"``.
        cval: fill value for ``"constant"``.
        horizontal_flip: mirror left-right half of the time.
        vertical_flip: mirror top-bottom half of the time.
        rescale: multiply every image by this after augmentation (``None``/0: off).
        preprocessing_function: called on each image (rank 3) after augmentation and before
            ``rescale``; must return an array of the same shape.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: Keras' setting).
        validation_split: fraction of the data reserved for ``subset="validation"``.
        interpolation_order: 0 (nearest) or 1 (bilinear, the default). Spline orders 2-5
            need SciPy and are refused.
        dtype: dtype of the generated batches (default: Keras' floatx, float32).

    Raises:
        ValueError: any invalid argument (its name, the value and what is allowed).

    Example:
        >>> import numpy as np
        >>> from augkit import ImageDataGenerator
        >>> gen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, rescale=1 / 255)
        >>> x = np.zeros((10, 16, 16, 3), np.uint8); y = np.arange(10)
        >>> batches = gen.flow(x, y, batch_size=4, seed=0)
        >>> len(batches), batches[0][0].shape, batches[0][0].dtype
        (3, (4, 16, 16, 3), dtype('float32'))
    """

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        brightness_range: Any = None,
        shear_range: float = 0.0,
        zoom_range: Any = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Callable[[np.ndarray], np.ndarray] | None = None,
        data_format: str | None = None,
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: Any = None,
    ) -> None:
        if data_format is None or dtype is None:
            default_format, floatx = _keras_defaults()
            data_format = default_format if data_format is None else data_format
            dtype = floatx if dtype is None else dtype
        for name, flag in (("featurewise_center", featurewise_center),
                           ("samplewise_center", samplewise_center),
                           ("featurewise_std_normalization", featurewise_std_normalization),
                           ("samplewise_std_normalization", samplewise_std_normalization),
                           ("zca_whitening", zca_whitening)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"`{name}` should be True or False. Received: {flag!r}")
        self.featurewise_center = bool(featurewise_center)
        self.samplewise_center = bool(samplewise_center)
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = _number("zca_epsilon", zca_epsilon, 0.0)
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        if rescale is not None:
            _number("rescale", rescale)
        self.rescale = rescale
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise ValueError(f"`preprocessing_function` should be a callable or None. "
                             f"Received: {preprocessing_function!r}")
        self.preprocessing_function = preprocessing_function
        try:
            self.dtype = np.dtype(dtype).name
        except TypeError:
            raise ValueError(f"`dtype` should be a numpy dtype name such as 'float32'. "
                             f"Received: {dtype!r}") from None
        if interpolation_order not in _INTERPOLATION_ORDERS or isinstance(
                interpolation_order, bool):
            raise ValueError(f"`interpolation_order` should be 0 (nearest) or 1 (bilinear); "
                             f"spline orders 2-5 need SciPy, which augkit does not use. "
                             f"Received: {interpolation_order!r}")
        self.interpolation_order = int(interpolation_order)
        if data_format not in {"channels_last", "channels_first"}:
            raise ValueError('`data_format` should be `"channels_last"` (channel after row and '
                             'column) or `"channels_first"` (channel before row and column). '
                             f"Received: {data_format}")
        self.data_format = data_format
        if data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        if validation_split is None or isinstance(validation_split, bool) or not isinstance(
                validation_split, numbers.Real) or (
                validation_split and not 0 < validation_split < 1):
            raise ValueError("`validation_split` must be strictly between 0 and 1. "
                             f" Received: {validation_split}")
        self._validation_split = float(validation_split)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.zca_whitening_matrix: np.ndarray | None = None

        if isinstance(zoom_range, numbers.Real) and not isinstance(zoom_range, bool):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2 and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two floats. "
                             f"Received: {zoom_range}")
        self._zoom_arg = zoom_range
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which "
                              "overrides setting of `featurewise_center`.", stacklevel=2)
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which "
                              "overrides setting of `featurewise_std_normalization`.",
                              stacklevel=2)
        if self.featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn("This ImageDataGenerator specifies `featurewise_std_normalization`, "
                          "which overrides setting of `featurewise_center`.", stacklevel=2)
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("This ImageDataGenerator specifies `samplewise_std_normalization`, "
                          "which overrides setting of `samplewise_center`.", stacklevel=2)
        if brightness_range is not None and (not isinstance(brightness_range, (tuple, list))
                                             or len(brightness_range) != 2):
            raise ValueError("`brightness_range should be tuple or list of two floats. "
                             f"Received: {brightness_range}")
        self.brightness_range = brightness_range
        # Validates every augmentation argument with augkit's messages (ValueErrors).
        self._pipeline = self._build_pipeline((0.0, 1.0))

    # -- the augmentation engine --------------------------------------------------------------
    def _build_pipeline(self, value_range: tuple[float, float]) -> Pipeline:
        kwargs = {name: getattr(self, name) for name in _AUGMENT_ARGS if name != "zoom_range"}
        kwargs["zoom_range"] = self._zoom_arg
        if kwargs["brightness_range"] is None:
            del kwargs["brightness_range"]
        base = Pipeline.from_keras(**kwargs)
        return Pipeline(base.ops, fill_mode=base.fill_mode, cval=base.cval,
                        interpolation=_INTERPOLATION_ORDERS[self.interpolation_order],
                        value_range=value_range)

    def augmentation_pipeline(self, value_range: tuple[float, float] = (0.0, 1.0)) -> Pipeline:
        """The augkit pipeline this generator runs (rescale and normalization not included).

        Args:
            value_range: the range of float input (uint8 input is always 0-255).
        """
        if tuple(value_range) == self._pipeline.value_range:
            return self._pipeline
        return self._build_pipeline(tuple(value_range))

    def _augment(self, x: np.ndarray, *, seed: int, index: np.ndarray, epoch: int,
                 value_range: tuple[float, float]) -> np.ndarray:
        """Augment a batch in ``data_format`` (uint8 or float) with augkit's cv backend."""
        pipeline = self.augmentation_pipeline(value_range)
        if not pipeline.ops:
            return x
        if self.data_format == "channels_first":
            x = np.moveaxis(x, 1, 3)
        channels = x.shape[3]
        x = np.ascontiguousarray(x)
        if channels in (1, 3, 4):
            out, _ = pipeline.apply(x, seed=seed, index=index, epoch=epoch)
        else:
            # Same (seed, index, epoch) → same parameters: channel by channel is one transform.
            out = np.concatenate([pipeline.apply(np.ascontiguousarray(x[..., c:c + 1]),
                                                 seed=seed, index=index, epoch=epoch)[0]
                                  for c in range(channels)], axis=3)
        if self.data_format == "channels_first":
            out = np.moveaxis(out, 3, 1)
        return out

    # -- one image at a time (Keras' public helpers) ------------------------------------------
    def get_random_transform(self, img_shape: tuple, seed: int | None = None) -> dict:
        """Draw random transformation parameters for one image; see :func:`augkit.idg_transform`."""
        from augkit.idg_transform import get_random_transform

        return get_random_transform(self, img_shape, seed)

    def apply_transform(self, x: np.ndarray, transform_parameters: dict) -> np.ndarray:
        """Apply transformation parameters to one image; see :mod:`augkit.idg_transform`."""
        from augkit.idg_transform import apply_transform

        return apply_transform(self, x, transform_parameters)

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Apply a random transformation to one image (rank 3, in ``data_format``)."""
        x = np.asarray(x)
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    # -- iterators ----------------------------------------------------------------------------
    def flow(self, x: Any, y: Any = None, batch_size: int = 32, shuffle: bool = True,
             sample_weight: Any = None, seed: int | None = None, save_to_dir: str | None = None,
             save_prefix: str = "", save_format: str = "png", ignore_class_split: bool = False,
             subset: str | None = None, **kwargs: Any) -> Any:
        """Batches of augmented images (and labels) from arrays; a Keras ``PyDataset``.

        Args:
            x: images of rank 4 in ``data_format``, or a tuple ``(images, extra)`` where
                ``extra`` (an array or list of arrays) is passed through with each batch.
            y: labels, one per image, or ``None``.
            batch_size: images per batch.
            shuffle: a new order every epoch.
            sample_weight: one weight per image, returned as the third element.
            seed: the seed of order and augmentation (default: drawn from numpy's global
                generator, so ``np.random.seed`` makes runs repeatable, as in Keras).
            save_to_dir: also write every augmented image there (for debugging).
            save_prefix: file name prefix for ``save_to_dir``.
            save_format: ``"png"`` or ``"jpeg"``.
            ignore_class_split: skip the check that both subsets hold the same classes.
            subset: ``"training"`` or ``"validation"`` with ``validation_split``.
            **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of
                ``keras.utils.PyDataset``.

        Returns:
            A :class:`augkit.idg_iterators.NumpyArrayIterator`.
        """
        from augkit.idg_iterators import NumpyArrayIterator

        return NumpyArrayIterator(
            x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
            seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format,
            ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype, **kwargs)

    def flow_from_directory(self, directory: str, target_size: tuple[int, int] = (256, 256),
                            color_mode: str = "rgb", classes: list[str] | None = None,
                            class_mode: str | None = "categorical", batch_size: int = 32,
                            shuffle: bool = True, seed: int | None = None,
                            save_to_dir: str | None = None, save_prefix: str = "",
                            save_format: str = "png", follow_links: bool = False,
                            subset: str | None = None, interpolation: str = "nearest",
                            keep_aspect_ratio: bool = False, **kwargs: Any) -> Any:
        """Batches of augmented images read from a class-per-folder directory.

        Args:
            directory: one subfolder per class; images are found recursively inside each.
            target_size: ``(height, width)`` every image is resized to.
            color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
            classes: class subfolder names (default: all, sorted).
            class_mode: ``"categorical"``, ``"binary"``, ``"sparse"``, ``"input"`` or None.
            batch_size: images per batch.
            shuffle: a new order every epoch.
            seed: the seed of order and augmentation (default: drawn from numpy's global
                generator).
            save_to_dir: also write every augmented image there.
            save_prefix: file name prefix for ``save_to_dir``.
            save_format: ``"png"`` or ``"jpeg"``.
            follow_links: follow symbolic links to subfolders.
            subset: ``"training"`` or ``"validation"`` with ``validation_split`` (the first
                ``validation_split`` of each class folder's files is the validation subset,
                as in Keras).
            interpolation: resize filter: ``"nearest"`` (default), ``"bilinear"``,
                ``"bicubic"``, ``"lanczos"``, ``"box"`` or ``"hamming"``.
            keep_aspect_ratio: centre-crop to the target aspect ratio before resizing.
            **kwargs: ``max_pixels`` (decompression-bomb limit), and ``workers``,
                ``use_multiprocessing``, ``max_queue_size`` of ``keras.utils.PyDataset``.

        Returns:
            A :class:`augkit.idg_iterators.DirectoryIterator`.
        """
        from augkit.idg_iterators import DirectoryIterator

        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode,
            keep_aspect_ratio=keep_aspect_ratio, classes=classes, class_mode=class_mode,
            data_format=self.data_format, batch_size=batch_size, shuffle=shuffle, seed=seed,
            save_to_dir=save_to_dir, save_prefix=save_prefix, save_format=save_format,
            follow_links=follow_links, subset=subset, interpolation=interpolation,
            dtype=self.dtype, **kwargs)

    def flow_from_dataframe(self, dataframe: Any, directory: str | None = None,
                            x_col: str = "filename", y_col: Any = "class",
                            weight_col: str | None = None,
                            target_size: tuple[int, int] = (256, 256), color_mode: str = "rgb",
                            classes: list[str] | None = None,
                            class_mode: str | None = "categorical", batch_size: int = 32,
                            shuffle: bool = True, seed: int | None = None,
                            save_to_dir: str | None = None, save_prefix: str = "",
                            save_format: str = "png", subset: str | None = None,
                            interpolation: str = "nearest", validate_filenames: bool = True,
                            **kwargs: Any) -> Any:
        """Batches of augmented images whose file names and labels are columns of a table.

        Args:
            dataframe: a pandas ``DataFrame`` (or a dict of equal-length columns).
            directory: folder the file names are relative to (``None``: absolute paths).
            x_col: column of file names.
            y_col: column of labels; a list of columns with ``class_mode="multi_output"``.
            weight_col: column of sample weights (returned as a third element).
            target_size: ``(height, width)`` every image is resized to.
            color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
            classes: keep only rows of these classes, in this order (default: all, sorted).
            class_mode: ``"categorical"`` (class names or lists of names: multi-label),
                ``"binary"``, ``"sparse"``, ``"raw"``, ``"multi_output"``, ``"input"`` or None.
            batch_size: images per batch.
            shuffle: a new order every epoch.
            seed: the seed of order and augmentation.
            save_to_dir: also write every augmented image there.
            save_prefix: file name prefix for ``save_to_dir``.
            save_format: ``"png"`` or ``"jpeg"``.
            subset: ``"training"`` or ``"validation"`` with ``validation_split`` (the first
                ``validation_split`` of the rows is the validation subset, as in Keras).
            interpolation: resize filter, as in :meth:`flow_from_directory`.
            validate_filenames: drop rows whose file is missing or not an image (one warning).
            **kwargs: ``keep_aspect_ratio``, ``max_pixels``, and ``workers``,
                ``use_multiprocessing``, ``max_queue_size`` of ``keras.utils.PyDataset``.
                Keras' deprecated ``has_ext``, ``sort`` and ``drop_duplicates`` are accepted
                with a ``DeprecationWarning`` and ignored, as in Keras.

        Returns:
            A :class:`augkit.idg_dataframe.DataFrameIterator`.
        """
        from augkit.idg_dataframe import DataFrameIterator

        for old in ("has_ext", "sort", "drop_duplicates"):
            if old in kwargs:
                kwargs.pop(old)
                warnings.warn(f"{old} is deprecated and ignored by flow_from_dataframe",
                              DeprecationWarning, stacklevel=2)
        return DataFrameIterator(
            dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
            target_size=target_size, color_mode=color_mode, classes=classes,
            class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
            data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
            save_format=save_format, subset=subset, interpolation=interpolation,
            dtype=self.dtype, validate_filenames=validate_filenames, **kwargs)
