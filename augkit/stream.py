"""``augkit.stream``: augmented ``tf.data`` streams of ``(images, labels)`` for ``model.fit``.

A stream is a function of a few integers. Batch ``j`` of epoch ``e`` holds the items at positions
``j*B .. j*B+B-1`` of epoch ``e``'s order, a keyed permutation of ``(seed, epoch)``
(:mod:`augkit.order`), and every item is augmented with ``(seed, item index, epoch)``
(:mod:`augkit.rng`). Nothing depends on thread timing, batch size or parallelism, so the whole
stream, order included, is reproducible from ``seed``; no shuffle buffer exists, so no decoded
image waits in one.

Two shapes of data set:

* arrays: per epoch the order is cut into batches of row indices, and one parallel ``map``
  gathers and augments them (``cv``: one ``tf.numpy_function`` call per group of batches, OpenCV
  releasing the GIL, trailing ``rescale``/``normalize`` in the graph; ``tf``: TF ops only);
* folders: per epoch, a parallel ``map`` decodes files lazily by index (Pillow, with the
  decompression-bomb guard of :mod:`augkit.io`), bad files are dropped *before* batching when
  ``on_error="skip"``, then batches are augmented as above.

``augkit expand`` shard folders are arrays whose rows are read from disk when their batch is
built (:mod:`augkit.shard_reader`, :mod:`augkit.stream_shards`): the same stream as the
concatenated shards, without holding them.

See ``docs/stream.md``.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from typing import Any

import numpy as np
import tensorflow as tf

import augkit.layer  # noqa: F401  # registers AugmentLayer for keras.models.load_model
from augkit.batch_checks import as_image_array
from augkit.copy_groups import shard_groups
from augkit.decode import ON_ERROR, check_interpolation, check_size
from augkit.errors import InputError
from augkit.io import COLOR_MODES, DEFAULT_MAX_PIXELS
from augkit.pipeline import Pipeline
from augkit.shard_reader import ShardArray, load_arrays, path_source
from augkit.sources import FileSource
from augkit.stream_arrays import array_stream
from augkit.stream_core import (
    DEFAULT_BACKEND,
    Options,
    mixes,
    mixing_labels,
    owning,
    split,
)

__all__ = ["LABEL_MODES", "stream"]

LABEL_MODES = ("auto", "int", "categorical", "binary", None)
_MAX_SEED = 2**63 - 1


def stream(
    source: Any,
    labels: Any = None,
    *,
    pipeline: Pipeline | dict | None,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    backend: str | None = None,
    image_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    interpolation: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
    validation_split: float | None = None,
    subset: str | None = None,
    label_mode: str | None = "auto",
    class_names: list[str] | None = None,
    follow_links: bool = False,
    on_error: str = "raise",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    dtype: str | None = None,
    epochs: int | None = None,
    initial_epoch: int = 0,
    drop_remainder: bool = False,
    num_parallel_calls: int | None = None,
    deterministic: bool = True,
    processes: int | None = None,
    service: str | None = None,
    service_job_name: str | None = None,
    masks: Any = None,
    bboxes: Any = None,
    bbox_labels: Any = None,
    keypoints: Any = None,
    keypoint_labels: Any = None,
) -> tf.data.Dataset:
    """An augmented, batched, reproducible ``tf.data.Dataset`` for ``model.fit``.

    Args:
        source: numpy images ``(N, H, W, C)`` or ``(N, H, W)`` (uint8, or float in the
            pipeline's ``value_range``) with ``labels``; a pair ``(x, y)``; an ``.npz`` file
            with arrays ``x`` and ``y``; a folder with one subfolder per class, searched
            recursively, class names sorted (Keras' ``image_dataset_from_directory`` layout);
            or an ``augkit expand --format npz|tfrecord`` output folder, read on demand (an
            array source of the shards' images in file order, never loaded whole).
        labels: one label per image, for array sources (any shape and dtype), or ``None``.
        pipeline: the augmentation (:class:`augkit.Pipeline` or its dict form); ``None``
            means no augmentation (validation data). Required, so that forgetting it is loud.
        batch_size: images per batch; the last batch of an epoch is smaller unless
            ``drop_remainder``.
        shuffle: visit the items in a new order every epoch (a function of seed and epoch).
        seed: non-negative integer; the stream is a pure function of it (and of the epoch).
        backend: ``"cv"`` (numpy + OpenCV via ``tf.numpy_function``), ``"tf"`` (TF ops only,
            needed for the tf.data service) or ``None``: ``"cv"``, the faster one on CPUs
            (measured in ``docs/stream.md``).
        image_size: ``(height, width)`` folder images are resized to (default Keras'
            ``(256, 256)``); for arrays it must be ``None`` or their size.
        color_mode: folders: ``"rgb"``, ``"grayscale"`` or ``"rgba"``; grey, palette, RGBA
            and 16-bit files are converted to it (see :func:`augkit.io.read_image`).
        interpolation: folders: resize filter (``"bilinear"``, ``"nearest"``, ``"bicubic"``,
            ``"area"``, ``"lanczos"``, ``"box"``, ``"hamming"``).
        crop_to_aspect_ratio: folders: centre-crop to the target aspect ratio before resizing.
        validation_split: fraction in (0, 1) held out for validation, with ``subset``.
        subset: ``"training"`` or ``"validation"``; items are partitioned by ``seed``, so use
            the same seed for both subsets. On an ``augkit expand`` output (shards, or a png/
            jpeg folder with its ``manifest.csv``) the source images are partitioned, so the
            copies of one image all land in one subset.
        label_mode: ``"auto"`` (folders: ``"int"``; arrays: labels as given), ``"int"``
            (int32 class index), ``"categorical"`` (float32 one-hot), ``"binary"`` (float32
            ``(B, 1)``, two classes) or ``None`` (images only). For arrays only ``"auto"`` and
            ``None`` are allowed (encode array labels yourself). A pipeline with a mixing op
            (``mixup``, ``cutmix``) mixes the labels: arrays need one-hot or soft labels (or
            integers with the op's ``num_classes``), folders ``"categorical"`` (``"auto"``
            means it then); see ``docs/mixing-and-policies.md``.
        class_names: folders: use exactly these class subfolders, in this order.
        follow_links: folders: follow symbolic links to subfolders.
        on_error: folders: a corrupt, truncated, empty or non-image file, or one over
            ``max_pixels``: ``"raise"`` fails the iteration with an error naming the file;
            ``"skip"`` drops it (with its label) with one :class:`augkit.decode.SkippedFileWarning`.
        max_pixels: folders: largest width × height decoded (checked on the header);
            ``None`` turns augkit's limit off.
        dtype: ``"uint8"`` or ``"float32"`` to cast the output images; ``None`` keeps the
            pipeline's own output dtype (uint8, or float32 after ``rescale``/``normalize``).
        epochs: ``None``: each pass over the data set is the next epoch (0, 1, 2, ...; counted
            by the data set itself, starting at ``initial_epoch``). An int ``E``: one data set
            holding epochs ``initial_epoch .. initial_epoch + E - 1`` back to back, stateless
            (use ``model.fit(ds, epochs=E, steps_per_epoch=ds.steps_per_epoch)``).
        initial_epoch: the first epoch number (to resume a run).
        drop_remainder: drop the last, smaller batch of each epoch (all batches full and the
            batch dimension static).
        num_parallel_calls: parallel decode/augment calls; ``None`` takes tf.data's default
            (one per core, up to 16: streams switch tf.data's autotuning model off, see
            ``docs/stream.md``, Performance).
        deterministic: keep the order whatever the parallelism (default). ``False`` lets
            tf.data hand out whichever batch (arrays) or file (folders) is ready first; each
            image is still augmented the same way, but the order is no longer reproducible.
        processes: array sources on the cv backend: run the pipeline in this many worker
            processes instead of threads of this process (the images are copied once into
            shared memory). Faster on small images, where threads wait for Python's GIL;
            measured and explained in ``docs/stream.md`` (Worker processes). ``None``: threads.
        service: address of a tf.data service dispatcher (``"grpc://host:port"``): batches are
            produced by its workers. Needs ``backend="tf"``, an array source and ``epochs``.
        service_job_name: share one service job between clients (see
            ``tf.data.experimental.service.distribute``).
        masks: array sources: class maps ``(N, H, W)`` or ``(N, H, W, K)``, moved with their
            images (see ``docs/targets.md``).
        bboxes: array sources: a list of ``N`` arrays ``(B_i, 4)`` in the pipeline's
            ``bbox_format``.
        bbox_labels: a list of ``N`` arrays, one label per box (dropped with it).
        keypoints: a list of ``N`` arrays ``(K_i, 2)`` or ``(K_i, 3)``.
        keypoint_labels: a list of ``N`` arrays, one label per keypoint.

    Returns:
        A ``tf.data.Dataset`` of ``(images, labels)`` batches (``images`` only without
        labels) with static image shapes. It carries ``steps_per_epoch``, ``num_items``
        (the images of this subset), ``class_names`` (folders), ``file_paths`` (folders),
        ``skipped_files`` (folders: item → reason, filled as bad files are met) and, on array
        streams, ``worker_pool`` (with ``processes``: the :class:`augkit.stream_procs.WorkerPool`,
        whose ``close()`` stops the workers early; else ``None``). With any
        target argument, each batch is instead a dict ``{"images", "labels", "masks",
        "bboxes", ...}`` (the keys given) with boxes and keypoints as ``tf.RaggedTensor``
        (structure: :mod:`augkit.stream_targets`).

    Raises:
        InputError: unusable source (shape, dtype, labels, empty folder, ...).
        ValueError: invalid argument (InputError and SpecError are ValueErrors too).

    Example:
        >>> import numpy as np, augkit
        >>> x = np.zeros((10, 8, 8, 3), np.uint8); y = np.arange(10)
        >>> ds = augkit.stream(x, y, pipeline=augkit.Pipeline.default(), batch_size=4)
        >>> [tuple(images.shape) for images, _ in ds]
        [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    """
    pipe = _check_pipeline(pipeline)
    batch_size = _positive_int(batch_size, "batch_size")
    _check_flag(shuffle, "shuffle")
    _check_flag(drop_remainder, "drop_remainder")
    _check_flag(deterministic, "deterministic")
    seed = _non_negative_int(seed, "seed")
    initial_epoch = _non_negative_int(initial_epoch, "initial_epoch")
    if epochs is not None:
        epochs = _positive_int(epochs, "epochs")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: got {on_error!r}; allowed: 'raise' or 'skip'")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode: got {label_mode!r}; allowed: 'auto', 'int', "
                         f"'categorical', 'binary' or None")
    if dtype not in (None, "uint8", "float32"):
        raise ValueError(f"dtype: got {dtype!r}; allowed: None, 'uint8' or 'float32'")
    if num_parallel_calls is None:
        num_parallel_calls = tf.data.AUTOTUNE
    elif num_parallel_calls != tf.data.AUTOTUNE:
        num_parallel_calls = _positive_int(num_parallel_calls, "num_parallel_calls")
    backend = _choose_backend(backend, pipe, service)
    if processes is not None:
        processes = _positive_int(processes, "processes")
        _check_processes(backend, pipe, service)
        if num_parallel_calls == tf.data.AUTOTUNE:
            num_parallel_calls = processes  # one call in flight per worker
    opts = Options(pipe, batch_size, shuffle, seed, backend, dtype, epochs, initial_epoch,
                   drop_remainder, num_parallel_calls, deterministic, processes)

    targets = {k: v for k, v in (("masks", masks), ("bboxes", bboxes),
                                 ("bbox_labels", bbox_labels), ("keypoints", keypoints),
                                 ("keypoint_labels", keypoint_labels)) if v is not None}
    folder, shards = _as_folder(source)
    if processes is not None and (folder is not None or shards is not None or targets):
        got = "targets" if targets else "a folder" if folder is not None else "shards"
        raise InputError(f"processes: worker processes take an array source without masks, "
                         f"boxes or keypoints; got {got} (use processes=None: threads)")
    if folder is not None and targets:
        raise ValueError(f"{next(iter(targets))}: masks, boxes and keypoints need an array "
                         f"source (images and targets in memory); got a folder")
    if folder is not None:
        if labels is not None:
            raise ValueError("labels: a folder source takes its labels from the class "
                             "subfolders; pass labels=None")
        if service is not None:
            raise ValueError("service: the tf.data service needs a graph-only data set; folder "
                             "sources decode files in Python. Convert the folder to shards "
                             "once (augkit.expand(folder, out, copies=0, format='npz', "
                             "pipeline=augkit.Pipeline())) and stream `out`, or run the stream in "
                             "each worker process")
        from augkit.stream_folder import folder_stream

        with owning() as keep:
            ds = folder_stream(
                folder, opts, image_size=image_size, color_mode=color_mode,
                interpolation=check_interpolation(interpolation),
                crop_to_aspect_ratio=_check_flag(crop_to_aspect_ratio, "crop_to_aspect_ratio"),
                validation_split=validation_split, subset=subset, label_mode=label_mode,
                class_names=class_names, follow_links=_check_flag(follow_links, "follow_links"),
                on_error=on_error, max_pixels=max_pixels)
        ds._augkit_owned = keep  # the Python functions its graph calls (stream_core.owning)
        return ds
    x, y, class_names = _as_arrays(source, labels, shards)
    if label_mode not in ("auto", None):
        raise ValueError(f"label_mode: got {label_mode!r}; for array sources allowed: 'auto' "
                         f"(labels as given) or None (images only)")
    if image_size is not None and check_size(image_size) != x.shape[1:3]:
        raise ValueError(f"image_size: got {image_size!r} but the arrays are {x.shape[1:3]}; "
                         f"array sources are not resized (pass image_size=None)")
    if color_mode != "rgb" and COLOR_MODES.get(color_mode) != x.shape[3]:
        raise ValueError(f"color_mode: got {color_mode!r} for arrays with {x.shape[3]} "
                         f"channel(s); array sources are not converted")
    if on_error != "raise":
        raise ValueError("on_error='skip' applies to folder sources; arrays are checked up "
                         "front")
    groups = None
    if isinstance(x, ShardArray) and validation_split is not None:
        groups = shard_groups(x)  # copies of one source image stay on one side of the split
    if isinstance(x, ShardArray) and (service is not None or (targets and backend == "tf")):
        x = x.load()  # a graph without Python holds the images (docs/stream.md)
    _check_value_range(x, pipe)  # shards read lazily: the pipeline checks each batch
    items = split(len(x), validation_split, subset, seed, groups)
    if label_mode is None:
        y = None
    y = mixing_labels(pipe, y)  # a pipeline that mixes needs (and mixes) one-hot/soft labels
    with owning() as keep:
        if targets:
            from augkit.stream_targets import check_targets, target_stream

            ds = target_stream(x, y, check_targets(targets, x, pipe), items, opts, service,
                               service_job_name)
        elif isinstance(x, ShardArray):
            from augkit.stream_shards import shard_stream

            ds = shard_stream(x, y, items, opts)
        else:
            ds = array_stream(x, y, items, opts, service, service_job_name)
    ds._augkit_owned = keep
    if class_names is not None:
        ds.class_names = class_names
    ds.num_items = len(items)
    return ds


# -- arguments ----------------------------------------------------------------------------------
def _check_pipeline(pipeline: Any) -> Pipeline | None:
    if pipeline is None or isinstance(pipeline, Pipeline):
        return pipeline
    if isinstance(pipeline, dict):
        return Pipeline.from_dict(pipeline)
    raise ValueError(f"pipeline: got {type(pipeline).__name__}; allowed: an augkit.Pipeline, "
                     f"its dict form, or None for no augmentation")


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: got {value!r}; allowed: True or False")
    return bool(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name}: got {value!r}; allowed: a positive integer")
    return int(value)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= _MAX_SEED:
        raise ValueError(f"{name}: got {value!r}; allowed: an integer from 0 to 2**63-1")
    return int(value)


def _choose_backend(backend: Any, pipeline: Pipeline | None, service: Any) -> str:
    if service is not None and not isinstance(service, str):
        raise ValueError(f"service: got {service!r}; allowed: a dispatcher address such as "
                         f"'grpc://localhost:5050', or None")
    if backend is None:
        backend = "tf" if service is not None else DEFAULT_BACKEND
    if backend not in ("cv", "tf"):
        raise ValueError(f"backend: got {backend!r}; allowed: 'cv', 'tf' or None")
    if service is not None and backend != "tf":
        raise ValueError("service: the tf.data service runs graphs only; use backend='tf'")
    if pipeline is not None:
        for i, op in enumerate(pipeline.ops):
            if backend not in op.backends:
                raise ValueError(f"pipeline.ops[{i}] ({op.name}) does not run on backend "
                                 f"{backend!r}; it runs on: {', '.join(op.backends)}")
    return backend


def _check_processes(backend: str, pipeline: Pipeline | None, service: Any) -> None:
    if backend != "cv" or service is not None:
        raise ValueError("processes: worker processes run the cv backend; use backend='cv' "
                         "(or None) without service")
    if mixes(pipeline):
        raise InputError("processes: a pipeline that mixes labels (mixup, cutmix) runs in "
                         "threads; use processes=None")
    if pipeline is not None:
        try:
            same = Pipeline.from_dict(pipeline.to_dict()) == pipeline
        except Exception:  # noqa: BLE001 - any failure means: not data
            same = False
        if not same:
            raise InputError("processes: the pipeline must be plain data (its dict form "
                             "rebuilds it) to be sent to worker processes; use processes=None")


def _as_folder(source: Any) -> tuple[FileSource | str | os.PathLike | None, list | None]:
    """``(the folder source or None, the shards of a shard folder or None)``."""
    if isinstance(source, FileSource):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        kind, shards = path_source(source)  # one listing of the folder, passed on
        if kind == "folder":
            return source, None
        if kind is None:
            raise InputError(f"{source}: not a folder or an .npz file; expected a folder with "
                             f"one subfolder per class, x/y arrays in an .npz, or an augkit "
                             f"expand output folder")
        return None, shards
    return None, None


def _as_arrays(source: Any, labels: Any,
               shards: list | None = None) -> tuple[np.ndarray, np.ndarray | None, Any]:
    class_names = None
    if isinstance(source, (str, os.PathLike)):
        if labels is not None:
            raise ValueError("labels: an .npz source holds its own labels ('y'); pass "
                             "labels=None")
        source, labels, class_names = load_arrays(source, shards)  # shards: read on demand
    elif isinstance(source, tuple) and len(source) == 2 and labels is None:
        source, labels = source
    x = source if isinstance(source, ShardArray) else _image_array(source)
    y = None
    if labels is not None:
        y = np.asarray(labels)
        if y.ndim == 0 or len(y) != len(x):
            raise InputError(f"labels: {y.size if y.ndim == 0 else len(y)} labels for "
                             f"{len(x)} images; allowed: one per image")
        if y.dtype == object:
            raise InputError("labels: dtype object is not supported; allowed: numbers or "
                             "strings of one dtype")
    return x, y, class_names


def _image_array(source: Any) -> np.ndarray:
    if not hasattr(source, "__len__") and not hasattr(source, "__array__"):
        raise InputError(f"source: got {type(source).__name__}; allowed: a numpy array of "
                         f"images, (x, y), an .npz file or a folder")
    return as_image_array(source)


def _check_value_range(x: Any, pipeline: Pipeline | None) -> None:
    if pipeline is None or x.dtype != np.float32 or isinstance(x, ShardArray):
        return
    lo, hi = pipeline.value_range
    if not np.isfinite(x).all():
        raise InputError("images: contain NaN or inf; allowed: finite values")
    mn, mx = float(x.min()), float(x.max())
    if mn < lo or mx > hi:
        raise InputError(f"images: float values span [{mn:g}, {mx:g}], outside the pipeline's "
                         f"value_range [{lo:g}, {hi:g}]; pass uint8 images, rescale them, or "
                         f"build the pipeline with value_range=({mn:g}, {mx:g})")


class _CallableModule(types.ModuleType):
    """This module, callable: ``augkit.stream(...)`` is :func:`stream`.

    ``augkit.stream`` names both this module and the function. Python binds the submodule to
    the package attribute whenever ``augkit.stream`` is imported, so whichever way a program
    reaches it, the name must work as the function: the module forwards calls to it.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> tf.data.Dataset:
        return stream(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
sys.modules[__name__].__signature__ = inspect.signature(stream)  # type: ignore[attr-defined]
