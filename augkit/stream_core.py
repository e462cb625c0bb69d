"""The machinery of :func:`augkit.stream`: settings, epochs, orders, augmentation.

A stream's data set is built from the pieces here:

* :func:`each_epoch`: the epochs a data set covers, one after another — a counter read and
  incremented when an iterator starts (each pass over the data set is the next epoch), or a
  fixed range;
* :func:`epoch_items`: the epoch's order of items, :func:`augkit.order.epoch_order`, computed
  once per epoch;
* :func:`augment_batch`: a batch through the pipeline on the chosen backend (on cv, trailing
  ``rescale``/``normalize`` run in the graph: :func:`augkit.pipeline.split_tail`);
* :func:`index_batches`: every epoch's source rows in batches, with the epoch number;
* :func:`cv_call` and :func:`finish`: a cv call inside tf.data, and what every stream ends with.

Array sources are built in :mod:`augkit.stream_arrays`, folder sources in
:mod:`augkit.stream_folder`, from the same pieces.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from augkit import order
from augkit.errors import InputError
from augkit.ops.mixing import is_mixing
from augkit.pipeline import Pipeline, split_tail
from augkit.sources import split_indices

#: The backend used when ``backend=None``: measured fastest at 32 px and 224 px (docs/stream.md).
DEFAULT_BACKEND = "cv"
#: Folder images are resized to this ``(height, width)`` unless ``image_size`` is given (Keras').
DEFAULT_IMAGE_SIZE = (256, 256)


@dataclass(frozen=True)
class Options:
    """The validated settings shared by the array and folder builders."""

    pipeline: Pipeline | None
    batch_size: int
    shuffle: bool
    seed: int
    backend: str
    dtype: str | None
    epochs: int | None
    initial_epoch: int
    drop_remainder: bool
    parallel: int
    deterministic: bool
    processes: int | None = None

    def steps(self, n: int, what: str = "items") -> int:
        """Batches per epoch for ``n`` items; ``InputError`` if that is none."""
        steps = n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)
        if steps == 0:
            raise InputError(f"{n} {what} make no full batch of {self.batch_size} with "
                             f"drop_remainder=True")
        return steps

    def out_dtype(self, in_dtype: str) -> str:
        natural = self.pipeline.output_dtype(in_dtype) if self.pipeline else in_dtype
        if self.dtype == "uint8" and natural != "uint8":
            raise ValueError(f"dtype='uint8': the pipeline outputs {natural} (it rescales or "
                             f"normalizes); drop dtype or the value op")
        return self.dtype or natural

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        if self.pipeline is not None:
            for op in self.pipeline.ops:
                if op.geometric:
                    height, width = op.output_size(height, width)
        return int(height), int(width)


def split(n: int, validation_split: Any, subset: Any, seed: int,
          groups: np.ndarray | None = None) -> np.ndarray:
    if validation_split is not None and (isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.floating, np.integer))):
        raise ValueError(f"validation_split: got {validation_split!r}; allowed: a number in "
                         f"(0, 1) or None")
    items = split_indices(n, validation_split, subset, seed, groups)
    if len(items) == 0:
        raise InputError(f"subset {subset!r} of {n} items with validation_split="
                         f"{validation_split} is empty; use a smaller or larger split")
    if len(items) > order.MAX_ITEMS:
        raise InputError(f"{len(items)} items; a stream holds at most 2**31")
    return items


def each_epoch(opts: Options, one_epoch: Any) -> tuple[tf.data.Dataset, tf.Variable | None]:
    """``one_epoch(epoch)``'s data sets, one after another, for the epochs a stream covers.

    Either a counter, read and incremented when an iterator starts (each pass over the data
    set is the next epoch), or the fixed range ``opts.epochs`` from ``opts.initial_epoch``.
    Returns the data set and the counter (``None`` for a fixed range).
    """
    if opts.epochs is not None:
        first = opts.initial_epoch
        return tf.data.Dataset.range(first, first + opts.epochs).flat_map(one_epoch), None
    counter = tf.Variable(opts.initial_epoch, dtype=tf.int64, trainable=False,
                          name="augkit_epoch")
    # one function, not a map then a flat_map: each costs ~4 ms when an iterator starts
    ds = tf.data.Dataset.range(1).flat_map(lambda _: one_epoch(counter.assign_add(1) - 1))
    return ds, counter


def epoch_items(n: int, epoch: tf.Tensor, opts: Options, graph_only: bool = False) -> Any:
    """The order (items 0 .. n-1) of ``epoch`` as an int64 tensor, computed once per epoch.

    numpy computes it fastest (a few ms for 50 000 items); ``graph_only`` computes the same
    permutation with TF ops, for graphs that must not call Python (the tf.data service).
    """
    if not opts.shuffle:
        return tf.range(n, dtype=tf.int64)
    if graph_only:
        return order.epoch_order(n, opts.seed, epoch, xp="tf")
    seed = opts.seed
    items = numpy_function(lambda e: order.epoch_order(n, seed, int(e)), [epoch], tf.int64)
    return tf.ensure_shape(items, (n,))




def index_batches(items: np.ndarray, opts: Options, steps: int, rows: int,
                  graph_only: bool = False) -> tuple[tf.data.Dataset, tf.Variable | None]:
    """Every epoch's source rows in batches of ``rows``, each zipped with its epoch number.

    ``items`` are the source rows this stream covers (after any validation split); each epoch
    visits them in :func:`epoch_items` order, cut to ``steps`` full batches with
    ``drop_remainder``. Returns the data set of ``(rows, epoch)`` and the epoch counter (see
    :func:`each_epoch`).
    """
    n, items_t = len(items), tf.constant(items, tf.int64)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        idx = tf.gather(items_t, epoch_items(n, epoch, opts, graph_only=graph_only))
        if opts.drop_remainder:
            idx = idx[: steps * opts.batch_size]
        chunks = tf.data.Dataset.from_tensor_slices(idx).batch(rows)
        return tf.data.Dataset.zip((chunks, tf.data.Dataset.from_tensors(epoch).repeat()))

    return each_epoch(opts, one_epoch)


#: The list that owns the Python functions of the data set being built (see :func:`owning`).
_OWNER: ContextVar[list | None] = ContextVar("augkit_stream_owner", default=None)


@contextmanager
def owning() -> Iterator[list]:
    """Collect the Python functions of the data set built inside, for the data set to own.

    TensorFlow keeps every function given to ``tf.numpy_function`` in a data set built eagerly
    until the process ends (it hangs them on the process-wide graph). A stream's functions hold
    its arrays, open shard files or worker processes, which would live just as long: measured,
    every shard stream kept its shards' file descriptors open for good. Inside this block
    :func:`numpy_function` hands TensorFlow a stand-in that reaches the function through a
    weak reference, and the list yielded holds the functions; :func:`augkit.stream` hangs the
    list on the data set it returns (and every iterator keeps its data set alive).
    """
    keep: list = []
    token = _OWNER.set(keep)
    try:
        yield keep
    finally:
        _OWNER.reset(token)


def numpy_function(fn: Any, inputs: list[tf.Tensor], tout: Any, stateful: bool = False) -> Any:
    """``tf.numpy_function``, with ``fn`` owned by the data set being built (:func:`owning`)."""
    keep = _OWNER.get()
    if keep is None:  # built outside augkit.stream: TensorFlow keeps fn, as usual
        return tf.numpy_function(fn, inputs, tout, stateful=stateful)
    keep.append(fn)
    ref = weakref.ref(fn)

    def call(*args: np.ndarray) -> Any:
        target = ref()
        if target is None:
            raise RuntimeError("augkit.stream: this data set was garbage collected while its "
                               "graph still runs; keep a reference to the stream")
        return target(*args)

    return tf.numpy_function(call, inputs, tout, stateful=stateful)


def cv_call(fn: Any, inputs: list[tf.Tensor], tout: Any) -> Any:
    """``tf.numpy_function(fn, inputs, tout)`` with ``fn``'s cv kernels on the calling thread.

    tf.data's parallel calls already keep every core busy; augkit's worker threads on top of
    them cost more in hand-offs than they save (:func:`augkit.kernels.cv_threads.serial`).
    """
    from augkit.kernels.cv_threads import serial

    def run(*args: np.ndarray) -> Any:
        with serial():
            return fn(*args)

    return numpy_function(run, inputs, tout)


def augment_batch(images: tf.Tensor, index: tf.Tensor, epoch: tf.Tensor, opts: Options,
                  in_dtype: str, shape: tuple[int, int, int],
                  labels: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Augment a batch already in the graph (folder sources), on the chosen backend.

    Returns ``(images, labels)``: the labels as given, or mixed when the pipeline mixes.
    """
    pipe = opts.pipeline
    out_dtype = opts.out_dtype(in_dtype)
    if pipe is not None and opts.backend == "tf":
        images, labels = pipe.apply(images, labels, seed=opts.seed, backend="tf", index=index,
                                    epoch=epoch)
    elif pipe is not None:
        head, tail = split_tail(pipe)
        seed = opts.seed
        if head is not None and mixes(head):
            images, labels = _cv_mixed(head, images, labels, index, epoch, seed, in_dtype)
            images = tf.ensure_shape(images, (None, *shape))
        elif head is not None:
            def run(batch: np.ndarray, idx: np.ndarray, ep: np.ndarray) -> np.ndarray:
                out, _ = head.apply(batch, seed=seed, index=idx, epoch=int(ep))
                return out

            images = cv_call(run, [images, index, epoch],
                             tf.as_dtype(head.output_dtype(in_dtype)))
            images = tf.ensure_shape(images, (None, *shape))
        if tail is not None:
            images, _ = tail.apply(images, seed=seed, backend="tf", index=index, epoch=epoch)
    images = tf.cast(images, out_dtype) if images.dtype != tf.as_dtype(out_dtype) else images
    return (tf.ensure_shape(images, (opts.batch_size if opts.drop_remainder else None, *shape)),
            labels)


# -- label mixing ---------------------------------------------------------------------------------
def mixes(pipeline: Pipeline | None) -> bool:
    """Whether the pipeline holds a mixing op (its labels must go through it)."""
    return pipeline is not None and any(is_mixing(op) for op in pipeline.ops)


def _first_mixing(pipeline: Pipeline) -> tuple[str, Any]:
    i, op = next((i, op) for i, op in enumerate(pipeline.ops) if is_mixing(op))
    return f"pipeline.ops[{i}] ({op.name})", op


def mixing_labels(pipeline: Pipeline | None, y: np.ndarray | None) -> np.ndarray | None:
    """Array labels checked up front for a pipeline that mixes (integer labels one-hot when the
    first mixing op has ``num_classes``); other pipelines get ``y`` back."""
    if not mixes(pipeline):
        return y
    from augkit.kernels.cv import NP
    from augkit.ops.mixing import prepare_labels

    path, op = _first_mixing(pipeline)
    if y is None:
        raise ValueError(f"labels: {path} mixes labels, so the stream needs them: pass one-hot "
                         f"or soft labels (or integers, with num_classes on the op) and "
                         f"label_mode='auto'")
    return prepare_labels(y, op, path, NP)


def mixing_label_mode(pipeline: Pipeline | None, label_mode: Any) -> str | None:
    """Folder sources: the label mode a mixing pipeline needs (``None``: no mixing op)."""
    if not mixes(pipeline):
        return None
    if label_mode in ("auto", "categorical"):
        return "categorical"
    path, _ = _first_mixing(pipeline)
    raise ValueError(f"label_mode: got {label_mode!r}, but {path} mixes labels into soft "
                     f"labels; allowed: 'categorical' (one-hot), or 'auto', which means "
                     f"'categorical' for a pipeline that mixes")


def _cv_mixed(head: Pipeline, images: tf.Tensor, labels: tf.Tensor, index: tf.Tensor,
              epoch: tf.Tensor, seed: int, in_dtype: str) -> tuple[tf.Tensor, tf.Tensor]:
    """One cv call mixing a batch and its (float32, one-hot or soft) labels."""
    def run(batch: np.ndarray, y: np.ndarray, idx: np.ndarray,
            ep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return head.apply(batch, y, seed=seed, index=idx, epoch=int(ep))

    images, mixed = cv_call(run, [images, labels, index, epoch],
                            (tf.as_dtype(head.output_dtype(in_dtype)), tf.float32))
    return images, tf.ensure_shape(mixed, labels.shape)


def distribute(ds: tf.data.Dataset, opts: Options, service: str | None,
               job_name: str | None) -> tf.data.Dataset:
    """Hand ``ds`` to the tf.data service at ``service`` (unchanged when ``None``)."""
    if service is None:
        return ds
    if opts.epochs is None:
        raise ValueError("service: pass epochs=E (a stateless stream of E epochs); a "
                         "per-pass epoch counter cannot live on remote workers")
    return ds.apply(tf.data.experimental.service.distribute(
        processing_mode="distributed_epoch", service=service, job_name=job_name))


def finish(ds: tf.data.Dataset, opts: Options, steps: int | None,
           counter: tf.Variable | None, **attrs: Any) -> tf.data.Dataset:
    """Cardinality, prefetch, options and the attributes every stream carries.

    tf.data's autotuning model is switched off (``AUTOTUNE`` values then take tf.data's
    defaults: one parallel call per core up to 16, a growing prefetch buffer): with it,
    deleting the iterator of a finished pass (``model.fit`` does so every epoch) stalled
    ~0.5 s in about half of the passes, and its optimization thread took CPU from the
    calls. Measured at 32 px on 2 cores: passes of 50 000 images 38-86k img/s with it,
    74-96k without.
    ``ds.with_options`` turns it back on.
    """
    if steps is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps * (opts.epochs or 1)))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = ds.with_options(options)
    ds._augkit_epoch_counter = counter  # the data set's functions capture it: keep it alive
    ds.steps_per_epoch = steps
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds
