"""The iterators ``ImageDataGenerator.flow`` and ``flow_from_directory`` return.

Both are ``keras.utils.PyDataset``\\ s (``model.fit`` takes them directly, with ``len()`` and
indexing) and, like Keras' own, endless iterators (``next(it)``). Batch ``i`` of epoch ``e`` is a
pure function of ``(seed, e, i)``: the order is :func:`augkit.order.epoch_order` and each image
is augmented with ``(seed, image index, e)`` on augkit's cv backend, a whole batch per call. So
indexing is thread-safe and ``workers=N`` gives the same batches as one worker. ``model.fit``
calls :meth:`on_epoch_end`, which moves to the next epoch (new order, new augmentation).
"""

from __future__ import annotations

import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np
from PIL import Image

from augkit.decode import check_interpolation, check_size, load_image
from augkit.errors import InputError
from augkit.idg_stats import data_range, draw_seed
from augkit.io import DEFAULT_MAX_PIXELS
from augkit.order import epoch_order

__all__ = ["DirectoryIterator", "FileIterator", "Iterator", "NumpyArrayIterator"]

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads decoding the files of a batch (Pillow releases the GIL while decoding)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, 8)),
                                       thread_name_prefix="augkit-idg")
    return _POOL


class Iterator(keras.utils.PyDataset):
    """Base of the generator's iterators: order, epochs, indexing and endless iteration.

    Args:
        n: number of samples.
        batch_size: samples per batch.
        shuffle: a new order every epoch.
        seed: seed of the order and the augmentation (``None``: drawn from numpy's global
            generator).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
    """

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"`batch_size` should be a positive integer. Received: "
                             f"{batch_size!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ValueError(f"`shuffle` should be True or False. Received: {shuffle!r}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.seed = draw_seed(seed)
        self.shuffle = bool(shuffle)
        self.epoch = 0
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self._order_cache: tuple[int, np.ndarray] | None = None

    @property
    def index_array(self) -> np.ndarray:
        """The current epoch's order of sample indices."""
        return self._order(self.epoch)

    def _order(self, epoch: int) -> np.ndarray:
        cached = self._order_cache
        if cached is not None and cached[0] == epoch:
            return cached[1]
        if self.shuffle and self.n:
            items = epoch_order(self.n, self.seed, epoch)
        else:
            items = np.arange(self.n, dtype=np.int64)
        self._order_cache = (epoch, items)
        return items

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx: int) -> Any:
        if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
            raise TypeError(f"batch index should be an integer, got {type(idx).__name__}")
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length "
                             f"{len(self)}")
        epoch = self.epoch
        index_array = self._order(epoch)[self.batch_size * idx: self.batch_size * (idx + 1)]
        self.total_batches_seen += 1
        return self._get_batches_of_transformed_samples(index_array, epoch)

    def on_epoch_end(self) -> None:
        """Move to the next epoch: a new order and new augmentation."""
        with self.lock:
            self.epoch += 1
            self.batch_index = 0

    def reset(self) -> None:
        """Restart the endless iteration at the first batch of the current epoch."""
        self.batch_index = 0

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        with self.lock:
            epoch, idx = self.epoch, self.batch_index
            self.batch_index += 1
            if self.batch_index >= len(self):
                self.batch_index = 0
                self.epoch += 1
            self.total_batches_seen += 1
        index_array = self._order(epoch)[self.batch_size * idx: self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(index_array, epoch)

    def next(self) -> Any:
        """The next batch (Keras 2 spelling of ``next(iterator)``)."""
        return self.__next__()

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray,
                                            epoch: int = 0) -> Any:
        raise NotImplementedError

    def _finish_images(self, gen: Any, batch: np.ndarray, index_array: np.ndarray,
                       epoch: int, value_range: tuple[float, float]) -> np.ndarray:
        """Augment (uint8 or float, in data_format), convert to dtype, standardize, save."""
        out = gen._augment(batch, seed=self.seed, index=index_array, epoch=epoch,
                           value_range=value_range)
        out = np.array(out, dtype=self.dtype, copy=True)
        out = gen._standardize_batch(out)
        if self.save_to_dir:
            _save_batch(out, index_array, epoch, self)
        return out


def _save_batch(batch: np.ndarray, index_array: np.ndarray, epoch: int, it: Any) -> None:
    for image, j in zip(batch, index_array):
        if it.data_format == "channels_first":
            image = np.moveaxis(image, 0, 2)
        image = np.asarray(image, dtype=np.float64)
        low, high = image.min(), image.max()
        scaled = (image - low) / (high - low) * 255 if high > low else image * 0
        pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        pil = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
        name = f"{it.save_prefix}_{int(j)}_{epoch}.{it.save_format}"
        pil.save(os.path.join(it.save_to_dir, name))


class NumpyArrayIterator(Iterator):
    """Batches from numpy arrays (what ``ImageDataGenerator.flow`` returns).

    Yields ``x`` (no ``y``), ``(x, y)``, or ``(x, y, sample_weight)``; with a tuple input
    ``(images, extra)``, ``x`` is ``[images, *extra]``.
    """

    def __init__(self, x: Any, y: Any, image_data_generator: Any, batch_size: int = 32,
                 shuffle: bool = False, sample_weight: Any = None, seed: int | None = None,
                 data_format: str | None = None, save_to_dir: str | None = None,
                 save_prefix: str = "", save_format: str = "png", subset: str | None = None,
                 ignore_class_split: bool = False, dtype: Any = None, **kwargs: Any) -> None:
        gen = image_data_generator
        self.dtype = np.dtype(dtype or gen.dtype).name
        self.data_format = data_format or gen.data_format
        if isinstance(x, (tuple, list)):
            extra = x[1]
            x_misc = [np.asarray(v) for v in extra] if isinstance(extra, list) \
                else [np.asarray(extra)]
            x = x[0]
            for v in x_misc:
                if len(x) != len(v):
                    raise ValueError(f"All of the arrays in `x` should have the same length. "
                                     f"Found a pair with: len(x[0]) = {len(x)}, len(x[?]) = "
                                     f"{len(v)}")
        else:
            x_misc = []
        y = np.asarray(y) if y is not None else None
        sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        if y is not None and len(x) != len(y):
            raise ValueError(f"`x` (images tensor) and `y` (labels) should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, y.shape = "
                             f"{np.asarray(y).shape}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(f"`x` (images tensor) and `sample_weight` should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"sample_weight.shape = {np.asarray(sample_weight).shape}")
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(f"Invalid subset name: {subset}; expected \"training\" or "
                                 f"\"validation\".")
            split = int(len(x) * gen._validation_split)
            if (y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(y[:split]), np.unique(y[split:]))):
                raise ValueError("Training and validation subsets have different number of "
                                 "classes after the split. If your numpy arrays are sorted by "
                                 "the label, you might want to shuffle them.")
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x, x_misc = x[part], [v[part] for v in x_misc]
            y = y[part] if y is not None else None
            sample_weight = sample_weight[part] if sample_weight is not None else None
        arr = np.asarray(x)
        if arr.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4. You "
                             f"passed an array with shape {arr.shape}")
        channels_axis = 3 if self.data_format == "channels_last" else 1
        if arr.shape[channels_axis] not in {1, 3, 4}:
            import warnings

            warnings.warn(f'NumpyArrayIterator is set to use the data format convention '
                          f'"{self.data_format}" (channels on axis {channels_axis}), i.e. '
                          f"expected either 1, 3, or 4 channels on axis {channels_axis}. "
                          f"However, it was passed an array with shape {arr.shape} "
                          f"({arr.shape[channels_axis]} channels).", stacklevel=3)
        # uint8 stays uint8 until after augmentation (OpenCV's fastest path); the rest float32.
        self.x = arr if arr.dtype == np.uint8 else np.asarray(arr, dtype=np.float32)
        self._value_range = data_range(self.x)
        self.x_misc = x_misc
        self.y = np.asarray(y) if y is not None else None
        self.sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        self.image_data_generator = gen
        self.save_to_dir, self.save_prefix, self.save_format = (save_to_dir, save_prefix,
                                                                save_format)
        super().__init__(len(self.x), batch_size, shuffle, seed, **kwargs)

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray,
                                            epoch: int = 0) -> Any:
        index_array = np.asarray(index_array, dtype=np.int64)
        batch_x = self._finish_images(self.image_data_generator, self.x[index_array],
                                      index_array, epoch, self._value_range)
        miscs = [v[index_array] for v in self.x_misc]
        first = batch_x if not miscs else [batch_x, *miscs]
        if self.y is None:
            return first
        output: tuple = (first, self.y[index_array])
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


def _unlistable(error: OSError) -> None:
    raise InputError(f"{error.filename}: cannot list this folder ({error.strerror})")


def _iter_valid_files(directory: str, formats: tuple[str, ...], follow_links: bool) -> Any:
    """Keras' listing: folders walked in sorted path order, files sorted within a folder.

    A folder that cannot be listed raises (Keras silently leaves its images out).
    """
    walk = os.walk(directory, followlinks=follow_links, onerror=_unlistable)
    for root, _, files in sorted(walk, key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats) and not name.startswith("."):
                yield root, name


class FileIterator(Iterator):
    """Shared part of the file-reading iterators: resize/colour settings, decoding on threads
    with augkit's guards, augmentation and the labels of each ``class_mode``.

    Subclasses set ``filenames``, ``_filepaths``, ``classes``, ``num_classes``,
    ``class_indices`` and ``samples``, then call :meth:`Iterator.__init__`.
    """

    def _set_processing(self, gen: Any, target_size: Any, color_mode: str,
                        class_mode: str | None, data_format: str | None,
                        save_to_dir: str | None, save_prefix: str, save_format: str,
                        subset: str | None, interpolation: str,
                        keep_aspect_ratio: bool, dtype: Any, max_pixels: int | None) -> None:
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: "
                             f"{self.allowed_class_modes}")
        self.class_mode = class_mode
        self.image_data_generator = gen
        self.dtype = np.dtype(dtype or gen.dtype).name
        self.data_format = data_format or gen.data_format
        self.target_size = check_size(tuple(target_size) if isinstance(
            target_size, (list, tuple)) else target_size, "target_size")
        self.keep_aspect_ratio = bool(keep_aspect_ratio)
        if color_mode not in {"rgb", "rgba", "grayscale"}:
            raise ValueError(f"Invalid color mode: {color_mode}; expected \"rgb\", \"rgba\", or "
                             f"\"grayscale\".")
        self.color_mode = color_mode
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.interpolation = check_interpolation(interpolation)
        self.save_to_dir, self.save_prefix, self.save_format = (save_to_dir, save_prefix,
                                                                save_format)
        self.max_pixels = max_pixels
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f"Invalid subset name: {subset};expected \"training\" or "
                                 f"\"validation\"")
            split = gen._validation_split
            self.split: tuple[float, float] | None = (0, split) if subset == "validation" \
                else (split, 1)
        else:
            self.split = None
        self.subset = subset

    @property
    def filepaths(self) -> list[str]:
        """Paths of the image files (``directory`` joined with each file name)."""
        return self._filepaths

    @property
    def labels(self) -> Any:
        """The class index of every file."""
        return self.classes

    @property
    def sample_weight(self) -> Any:
        """Per-file sample weights, or ``None``."""
        return None

    def _load(self, j: int) -> np.ndarray:
        return load_image(self._filepaths[j], size=self.target_size, color_mode=self.color_mode,
                          interpolation=self.interpolation,
                          crop_to_aspect_ratio=self.keep_aspect_ratio,
                          max_pixels=self.max_pixels)

    def _batch_labels(self, index_array: np.ndarray, batch_x: np.ndarray) -> Any:
        mode = self.class_mode
        if mode == "input":
            return batch_x.copy()
        if mode in ("binary", "sparse"):
            return np.asarray([self.classes[j] for j in index_array], dtype=self.dtype)
        if mode == "categorical":
            batch_y = np.zeros((len(batch_x), self.num_classes), dtype=self.dtype)
            for i, j in enumerate(index_array):
                batch_y[i, self.classes[j]] = 1.0  # a list of classes: multi-label
            return batch_y
        return None

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray,
                                            epoch: int = 0) -> Any:
        index_array = np.asarray(index_array, dtype=np.int64)
        images = np.stack(list(_pool().map(self._load, index_array.tolist())))
        if self.data_format == "channels_first":
            images = np.ascontiguousarray(np.moveaxis(images, 3, 1))
        batch_x = self._finish_images(self.image_data_generator, images, index_array, epoch,
                                      (0.0, 255.0))
        if self.class_mode is None:
            return batch_x
        output: tuple = (batch_x, self._batch_labels(index_array, batch_x))
        weights = self.sample_weight
        if weights is not None:
            output += (weights[index_array],)
        return output


class DirectoryIterator(FileIterator):
    """Batches read from a class-per-folder directory (``flow_from_directory``).

    Attributes as in Keras: ``filenames`` (relative), ``filepaths``, ``classes`` (int32 class
    of each file), ``labels``, ``class_indices``, ``num_classes``, ``samples``, ``image_shape``.
    Files are decoded on threads with augkit's guards (decompression bombs, EXIF orientation,
    16-bit and palette images); a bad file raises :class:`augkit.InputError` naming it.
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory: str, image_data_generator: Any,
                 target_size: tuple[int, int] = (256, 256), color_mode: str = "rgb",
                 classes: list[str] | None = None, class_mode: str | None = "categorical",
                 batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
                 data_format: str | None = None, save_to_dir: str | None = None,
                 save_prefix: str = "", save_format: str = "png", follow_links: bool = False,
                 subset: str | None = None, interpolation: str = "nearest",
                 keep_aspect_ratio: bool = False, dtype: Any = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, **kwargs: Any) -> None:
        self._set_processing(image_data_generator, target_size, color_mode, class_mode,
                             data_format, save_to_dir, save_prefix, save_format, subset,
                             interpolation, keep_aspect_ratio, dtype, max_pixels)
        self.directory = directory
        if not os.path.isdir(directory):
            raise ValueError(f"{directory}: not a directory; expected a folder with one "
                             f"subfolder per class")
        if not classes:
            classes = [d for d in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        self.filenames: list[str] = []
        labels: list[int] = []
        for name in classes:
            folder = os.path.join(directory, name)
            if not os.path.isdir(folder):
                raise ValueError(f"{folder}: class folder not found")
            files = list(_iter_valid_files(folder, self.white_list_formats, follow_links))
            if self.split:
                start, stop = (int(self.split[0] * len(files)), int(self.split[1] * len(files)))
                files = files[start:stop]
            for root, fname in files:
                self.filenames.append(os.path.join(name, os.path.relpath(
                    os.path.join(root, fname), folder)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)
