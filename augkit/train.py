"""``augkit train``: fit a model plugin on an augkit stream and write the model, history and curves.

The run, in order (nothing is trained before every check has passed)::

    data (folder, .npz, expand output, arrays, or digits/cifar10/flowers)
      ─▶ seeded split ─▶ training stream   (the pipeline: augmentation)
                     └▶ validation stream (the pipeline's value ops only: no augmentation)
      ─▶ value range of both streams == the plugin's expected input range?  (else InputError)
      ─▶ plugin.build(num_classes, input_shape, **options) ─▶ plugin.train or compile + fit
      ─▶ OUT/model.keras, OUT/history.json, OUT/curves.png   (each written atomically)

Validation images get the *same value mapping* as training images but no augmentation: the
pipeline's ``rescale``/``normalize`` ops (which always apply, ``p=1``) are kept, in order, and
every other op dropped. Geometric and colour ops keep the value range, so both streams end in
the same range, the one checked against the plugin. See ``docs/train.md``.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augkit import ops
from augkit.errors import InputError
from augkit.pipeline import Pipeline
from augkit.train_data import Data, resolve_data
from augkit.train_io import (
    CURVES_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    check_image_size,
    check_positive_int,
    check_seed,
    check_val_split,
    parse_image_size,
    parse_options,
    write_outputs,
)

__all__ = [
    "CURVES_FILE",
    "HISTORY_FILE",
    "MODEL_FILE",
    "TrainResult",
    "parse_image_size",
    "parse_options",
    "scaling_pipeline",
    "train",
    "validation_pipeline",
]

_UINT8_RANGE = (0.0, 255.0)


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        out: the output folder.
        model_path, history_path, curves_path: the three files written into it.
        history: per-epoch metrics (Keras' ``history.history``: ``loss``, ``accuracy``,
            ``val_loss``, ``val_accuracy``, ...).
        settings: the run's settings, as stored in ``history.json`` beside the metrics.
        model: the trained ``keras.Model``.
    """

    out: Path
    model_path: Path
    history_path: Path
    curves_path: Path
    history: dict[str, list[float]]
    settings: dict[str, Any] = field(repr=False)
    model: Any = field(repr=False)


def train(*, model: str, data: Any, pipeline: Any = None, epochs: int, out: str | os.PathLike,
          val_split: float | None = 0.2, batch_size: int = 32, image_size: Any = None,
          seed: int = 0, model_options: Mapping[str, Any] | None = None,
          verbose: int | str = "auto", processes: int | None = None) -> TrainResult:
    """Train the model plugin ``model`` on ``data`` augmented by ``pipeline``; write the results.

    Args:
        model: a plugin name (see ``augkit models`` / :func:`augkit.models.available`).
        data: a folder with one subfolder per class, an ``.npz`` (``x``, ``y``), the output
            folder of ``augkit expand``, a built-in data set name (``"digits"``, ``"cifar10"``,
            ``"flowers"``; a path of that name wins), or a pair ``(x, y)`` of arrays.
            Labels may be any one value per image (ints, strings) or one-hot rows; they are
            encoded as indices into the sorted distinct labels (``class_names`` in
            ``history.json``).
        pipeline: the training augmentation: an :class:`augkit.Pipeline`, its dict form or a
            spec file path. ``None``: no augmentation, and the images are only scaled to the
            range the model expects (one ``rescale`` op, recorded in ``history.json``).
        epochs: passes over the training data, ≥ 1.
        out: output folder (created if missing); ``model.keras``, ``history.json`` and
            ``curves.png`` in it are replaced.
        val_split: fraction of the data held out for validation, in [0, 1); ``0`` or ``None``
            trains on everything and reports no validation metrics.
        batch_size: images per batch.
        image_size: ``(height, width)`` (or one int for squares) folder images are resized to
            and the digits upsampled to; default: the plugin's own input size, else 256×256
            for folders and 32×32 for the digits. Arrays are never resized.
        seed: seeds the split, the augmentation and Keras (``keras.utils.set_random_seed``:
            weight initialization, dropout), so a run is repeatable on one machine.
        model_options: keyword options for the plugin (``build``, and ``train`` if it has one).
        verbose: Keras' ``fit`` verbosity (``"auto"``/1: progress bar, 2: one line per epoch,
            0: silent).
        processes: run the training augmentation in this many worker processes (array
            sources only: ``.npz``, arrays, the built-in data sets; ``augkit.stream``'s
            ``processes``, faster on small images); ``None``: threads.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: unusable data, unknown model, the stream's value range is not the one the
            model expects (both ranges named), wrong channels or sizes — all before training.
        SpecError: invalid pipeline.
        ValueError: an invalid argument.
    """
    import augkit
    from augkit import models

    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_seed(seed)
    val_split = check_val_split(val_split)
    size = check_image_size(image_size)
    options = dict(model_options or {})
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out needs a folder")

    plugin = models.get(model)
    build_options, train_options = plugin.split_options(options)
    defaults = plugin.input_spec(**build_options)  # size/channels to decode folders at
    data_set = resolve_data(data, size, _spec_size(defaults), channels=defaults.channels)
    pipe, scaled = _training_pipeline(pipeline, data_set, defaults)
    val_pipe = validation_pipeline(pipe)

    common = dict(batch_size=batch_size, seed=seed, dtype="float32", **data_set.stream_kwargs)
    split = {"validation_split": val_split, "subset": "training"} if val_split else {}
    train_ds = augkit.stream(*data_set.source, pipeline=pipe, processes=processes, **split,
                             **common)
    val_ds = None
    if val_split:
        val_ds = augkit.stream(*data_set.source, pipeline=val_pipe, shuffle=False,
                               validation_split=val_split, subset="validation", **common)
        val_ds = _same_size(val_ds, train_ds, data_set, val_pipe, val_split, common)
    input_shape = tuple(int(d) for d in train_ds.element_spec[0].shape[1:])
    # What the model built for these images expects; checked before anything is built.
    spec = plugin.input_spec(**build_options, input_shape=input_shape)
    _check_input(models, spec, pipe, val_pipe, data_set, plugin.name)

    import keras

    keras.utils.set_random_seed(seed)
    net = plugin.build(data_set.num_classes, input_shape=input_shape, **build_options)
    started = time.perf_counter()
    history = _fit(plugin, net, train_ds, val_ds, epochs, train_options, verbose)
    seconds = time.perf_counter() - started

    settings = {
        "augkit_version": augkit.__version__,
        "model": plugin.name,
        "model_options": options,
        "data": data_set.description,
        "num_classes": data_set.num_classes,
        "class_names": list(data_set.class_names),
        "input_shape": list(input_shape),
        "value_range": list(pipe.output_range(data_set.in_dtype)),
        "pipeline": None if scaled else pipe.to_dict(),
        "scaling_only_pipeline": pipe.to_dict() if scaled else None,
        "validation_pipeline": val_pipe.to_dict() if (val_split and val_pipe) else None,
        "epochs": epochs,
        "val_split": val_split or 0.0,
        "batch_size": batch_size,
        "image_size": list(size) if size is not None else None,
        "seed": seed,
        "train_items": train_ds.num_items,
        "val_items": val_ds.num_items if val_ds else 0,
        "seconds": round(seconds, 3),
    }
    paths = write_outputs(out, net, history, settings)
    return TrainResult(out, *paths, history, settings, net)


# -- pipelines ----------------------------------------------------------------------------------
def validation_pipeline(pipeline: Pipeline | None) -> Pipeline | None:
    """The validation counterpart of a training pipeline: its value ops only, in order.

    ``rescale`` and ``normalize`` always apply (``p=1``) and are the only ops that change the
    value range; every other op (geometric, colour, noise, erasing) keeps it. So the kept ops
    map validation images exactly as training images are mapped, with no augmentation.

    Returns:
        A pipeline with the same settings, or ``None`` when there is no value op.

    Example:
        >>> import augkit
        >>> pipe = augkit.Pipeline.from_keras(rotation_range=10, rescale=1 / 255)
        >>> [op.name for op in validation_pipeline(pipe).ops]
        ['rescale']
    """
    if pipeline is None:
        return None
    kept = pipeline.value_only()
    return kept if kept.ops else None


def scaling_pipeline(source_range: tuple[float, float],
                     target_range: tuple[float, float] | None) -> Pipeline:
    """A pipeline with no augmentation that maps ``source_range`` linearly onto ``target_range``.

    Empty when the ranges already agree (or there is no target).

    Example:
        >>> scaling_pipeline((0, 255), (0, 1)).output_range("uint8")
        (0.0, 1.0)
    """
    if target_range is None or _close(source_range, target_range):
        return Pipeline([])
    (a, b), (lo, hi) = source_range, target_range
    scale = (hi - lo) / (b - a)
    return Pipeline([ops.Rescale(scale=scale, offset=lo - a * scale)])


def _training_pipeline(pipeline: Any, data_set: Data, spec: Any) -> tuple[Pipeline, bool]:
    """The training pipeline and whether augkit made it (no pipeline given: scaling only)."""
    if pipeline is None:
        source_range = _UINT8_RANGE if data_set.in_dtype == "uint8" else (0.0, 1.0)
        return scaling_pipeline(source_range, _expected_range(spec)), True
    if isinstance(pipeline, Pipeline):
        return pipeline, False
    if isinstance(pipeline, dict):
        return Pipeline.from_dict(pipeline), False
    if isinstance(pipeline, (str, os.PathLike)):
        import augkit

        return augkit.load(pipeline), False
    raise ValueError(f"pipeline: got {type(pipeline).__name__}; allowed: an augkit.Pipeline, "
                     f"its dict form, a spec file path, or None (no augmentation)")


def _check_input(models: Any, spec: Any, pipe: Pipeline, val_pipe: Pipeline | None,
                 data_set: Data, name: str) -> None:
    """Both streams' value range must be the model's; channels must agree. Before training."""
    expected = _expected_range(spec)
    dtype = data_set.in_dtype
    train_range = pipe.output_range(dtype)
    val_range = val_pipe.output_range(dtype) if val_pipe is not None else \
        Pipeline([], value_range=pipe.value_range).output_range(dtype)
    if expected is not None:
        models.check_input_range(expected, train_range)
        models.check_input_range(expected, val_range)
    channels = getattr(spec, "channels", None)
    if channels is not None and data_set.channels != channels:
        raise InputError(f"model {name!r} expects {channels}-channel images; the data has "
                         f"{data_set.channels} channel(s) ({data_set.description})")


def _expected_range(spec: Any) -> tuple[float, float] | None:
    value_range = getattr(spec, "value_range", None)
    return None if value_range is None else (float(value_range[0]), float(value_range[1]))


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a, b))


# -- the plugin ---------------------------------------------------------------------------------
def _spec_size(spec: Any) -> tuple[int, int] | None:
    size = getattr(spec, "image_size", None)
    return None if size is None else (int(size[0]), int(size[1]))


def _fit(plugin: Any, net: Any, train_ds: Any, val_ds: Any, epochs: int,
         options: dict[str, Any], verbose: int | str) -> dict[str, list[float]]:
    train_fn = plugin.train
    if train_fn is not None:
        if "verbose" in inspect.signature(train_fn).parameters and "verbose" not in options:
            options = dict(options, verbose=verbose)
        history = train_fn(net, train_ds, val_ds, epochs=epochs, callbacks=(), **options)
    else:
        import keras

        net.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        # The stream shuffles itself; Keras' shuffle flag does not apply to a data set.
        history = net.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=verbose,
                          shuffle=False).history
    if hasattr(history, "history"):  # a Keras History object
        history = history.history
    return {str(k): [float(v) for v in vs] for k, vs in dict(history).items()}


# -- streams ------------------------------------------------------------------------------------
def _same_size(val_ds: Any, train_ds: Any, data_set: Data, val_pipe: Any, val_split: float,
               common: dict[str, Any]) -> Any:
    """Validation images must have the training images' size (a crop op may change it)."""
    import augkit

    train_hw = tuple(train_ds.element_spec[0].shape[1:3])
    val_hw = tuple(val_ds.element_spec[0].shape[1:3])
    if train_hw == val_hw:
        return val_ds
    if not data_set.is_folder:
        raise InputError(f"the pipeline changes the image size to {train_hw[0]}x{train_hw[1]} "
                         f"but the arrays are {val_hw[0]}x{val_hw[1]}; validation images are "
                         f"not augmented, so they would not fit the model")
    # A folder: decode validation images straight at the training size (resize, no crop).
    kwargs = dict(common, image_size=train_hw)
    return augkit.stream(*data_set.source, pipeline=val_pipe, shuffle=False,
                         validation_split=val_split, subset="validation", **kwargs)
