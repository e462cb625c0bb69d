"""Streams of ``augkit expand`` shard folders, read lazily
(:class:`augkit.shard_reader.ShardArray`).

A shard folder is an array source whose rows are read from disk when their batch is built, so
the stream is exactly the stream of the concatenated arrays — same order, same augmentation,
same validation split — without holding them:

* ``backend="cv"``: :func:`augkit.stream_arrays.array_stream` itself; its cv calls index the
  array (``x[rows]``), which reads just those rows;
* ``backend="tf"``: per epoch the same order is cut into batches of rows, one parallel ``map``
  reads each batch in a ``tf.numpy_function`` and augments it in the graph
  (:func:`augkit.stream_core.augment_batch`), with ``(seed, row, epoch)`` as on arrays.

The tf.data service needs a graph without Python, so there the shards are loaded whole
(``ShardArray.load``), as before.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from augkit.shard_reader import ShardArray
from augkit.stream_arrays import array_stream
from augkit.stream_core import (
    Options,
    augment_batch,
    finish,
    index_batches,
    numpy_function,
)

__all__ = ["shard_stream"]


def shard_stream(x: ShardArray, y: np.ndarray | None, items: np.ndarray,
                 opts: Options) -> tf.data.Dataset:
    """The stream of rows ``items`` of ``x`` (labels ``y``, already checked), read lazily."""
    if opts.backend == "cv":
        return array_stream(x, y, items, opts, None, None)
    n, batch = len(items), opts.batch_size
    steps = opts.steps(n)
    in_dtype = str(x.dtype)
    out_shape = (*opts.out_size(x.shape[1], x.shape[2]), x.shape[3])
    y_t = tf.constant(y) if y is not None else None

    def batch_at(idx: tf.Tensor, epoch: tf.Tensor) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        images = numpy_function(x.read, [idx], tf.as_dtype(in_dtype))
        images = tf.ensure_shape(images, (None, *x.shape[1:]))
        labels = tf.gather(y_t, idx) if y_t is not None else None
        images, labels = augment_batch(images, idx, epoch, opts, in_dtype, out_shape, labels)
        return images if y_t is None else (images, labels)

    ds, counter = index_batches(items, opts, steps, batch)
    ds = ds.map(batch_at, num_parallel_calls=opts.parallel, deterministic=opts.deterministic)
    return finish(ds, opts, steps, counter)
