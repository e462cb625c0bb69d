"""Array sources of :func:`augkit.stream`: the whole data set of ``(x, y)`` arrays.

Per epoch the order is cut into groups of batches of row indices; one parallel ``map`` gathers
and augments each group in one call (on the cv backend, one ``tf.numpy_function`` call), and
the groups are cut back into batches. Shard folders on the cv backend come here too, with a
lazy array (:mod:`augkit.shard_array`) as ``x``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from augkit.kernels.cv import take_rows
from augkit.pipeline import split_tail
from augkit.stream_core import (
    Options,
    cv_call,
    distribute,
    finish,
    index_batches,
    mixes,
    numpy_function,
)

# -- grouping -------------------------------------------------------------------------------------
_GROUP_PIXELS = 1 << 21  # output pixels per cv call worth aiming for
_MAX_GROUP = 16


def _group(batch: int, shape: tuple[int, int, int]) -> int:
    """How many batches one cv call processes."""
    per_batch = batch * shape[0] * shape[1]
    return max(1, min(_MAX_GROUP, _GROUP_PIXELS // max(per_batch, 1)))


def array_stream(x: np.ndarray, y: np.ndarray | None, items: np.ndarray, opts: Options,
                  service: str | None, job_name: str | None) -> tf.data.Dataset:
    n, batch = len(items), opts.batch_size
    steps = opts.steps(n)
    in_dtype = str(x.dtype)
    out_dtype = opts.out_dtype(in_dtype)
    out_shape = (*opts.out_size(x.shape[1], x.shape[2]), x.shape[3])
    batch_dim = batch if opts.drop_remainder else None
    y_t = tf.constant(y) if y is not None else None
    x_t = tf.constant(x) if (opts.backend == "tf" or service) else None
    pipe, seed = opts.pipeline, opts.seed
    head, tail = split_tail(pipe) if x_t is None else (None, None)
    mixing = mixes(pipe)  # labels go through the pipeline, one batch per call
    pool = None
    pool_dtype = tf.as_dtype(pipe.output_dtype(in_dtype) if pipe else in_dtype)
    if opts.processes:  # the whole pipeline, rescale included, runs in the workers
        from augkit.stream_procs import WorkerPool

        tail, group = None, _group(batch, out_shape)
        pool = WorkerPool(x, pipe, seed, opts.processes, batch * group, out_shape,
                          pool_dtype.name)

    def cv_images(idx: np.ndarray, epoch: np.ndarray) -> np.ndarray:
        if head is None:
            return take_rows(x, idx)
        out, _ = head.apply(x[idx], seed=seed, index=idx, epoch=int(epoch))
        return out

    def cv_mixed(idx: np.ndarray, epoch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return head.apply(x[idx], y[idx], seed=seed, index=idx, epoch=int(epoch))

    # On the cv backend several batches go through one call: fewer Python round trips and
    # tf.data hand-offs per image (measured at 32 px, 2 cores: 8, 16 or 32 batches per call
    # the same, 4 slower). The groups are cut back into batches before anyone sees them.
    if pool is None:
        group = _group(batch, out_shape) if (x_t is None and head is not None
                                             and not mixing) else 1
    chunk_dim = batch_dim if group == 1 else None
    # A grouped call's tail (rescale/normalize) runs per batch after the split: float32
    # batches of 1.5 MB instead of 24 MB chunks at 32 px, fresher in cache and reused by the
    # allocator. Measured at 32 px, 2 cores, same process alternating: 1.05-1.15x the
    # throughput, 1.1-2.4 us less CPU per image.
    tail_per_batch = group > 1 and tail is not None and not mixing

    def batch_tail(images: tf.Tensor, *labels: tf.Tensor) -> Any:
        # the tail's ops always apply and draw nothing, so the keys' rows do not matter
        rows = tf.zeros(tf.shape(images)[:1], tf.int64)
        images, _ = tail.apply(images, seed=seed, backend="tf", index=rows, epoch=rows[0])
        images = tf.cast(images, out_dtype)
        return (images, *labels) if labels else images

    def chunk_at(idx: tf.Tensor, epoch: tf.Tensor) -> Any:
        labels = tf.gather(y_t, idx) if y_t is not None else None
        if x_t is None and mixing:
            images, labels = cv_call(
                cv_mixed, [idx, epoch], (tf.as_dtype(head.output_dtype(in_dtype)), tf.float32))
            images = tf.ensure_shape(images, (chunk_dim, *out_shape))
            labels = tf.ensure_shape(labels, (chunk_dim, *y.shape[1:]))
            if tail is not None:
                images, _ = tail.apply(images, seed=seed, backend="tf", index=idx, epoch=epoch)
        elif pool is not None:
            images = numpy_function(pool, [idx, epoch], pool_dtype)
            images = tf.ensure_shape(images, (chunk_dim, *out_shape))
        elif x_t is None:
            natural = head.output_dtype(in_dtype) if head else in_dtype
            images = cv_call(cv_images, [idx, epoch], tf.as_dtype(natural))
            images = tf.ensure_shape(images, (chunk_dim, *out_shape))
            if tail_per_batch:
                return images if y_t is None else (images, labels)
            if tail is not None:
                images, _ = tail.apply(images, seed=seed, backend="tf", index=idx, epoch=epoch)
        else:
            images = tf.gather(x_t, idx)
            if pipe is not None:
                images, labels = pipe.apply(images, labels, seed=seed, backend="tf", index=idx,
                                            epoch=epoch)
        if images.dtype != tf.as_dtype(out_dtype):
            images = tf.cast(images, out_dtype)
        images = tf.ensure_shape(images, (chunk_dim, *out_shape))
        if y_t is None:
            return images
        return images, labels

    shapes = [out_shape] + ([tuple(y.shape[1:])] if y is not None else [])

    def split_chunk(*chunk: tf.Tensor) -> tf.data.Dataset:
        # Full batches by one reshape (slicing a tensor per batch costs ~10 % at 32 px), then
        # the epoch's shorter last batch, if this chunk holds it.
        rows = tf.shape(chunk[0], out_type=tf.int64)[0]
        full = rows // batch * batch
        heads = tuple(tf.reshape(t[:full], (-1, batch, *shape)) for t, shape in zip(chunk, shapes))
        ds = tf.data.Dataset.from_tensor_slices(heads if len(heads) > 1 else heads[0])
        if not opts.drop_remainder:  # with it, every chunk is a whole number of batches
            rest = tuple(t[full:] for t in chunk)
            last = tf.data.Dataset.from_tensors(rest if len(rest) > 1 else rest[0])
            ds = ds.concatenate(last.take(tf.cast(rows > full, tf.int64)))
        return ds

    # The epoch's whole order in one vectorized call; the calls then carry source rows.
    ds, counter = index_batches(items, opts, steps, batch * group, graph_only=service is not None)
    ds = ds.map(chunk_at, num_parallel_calls=opts.parallel, deterministic=opts.deterministic)
    if group > 1:
        ds = ds.flat_map(split_chunk)
    if tail_per_batch:
        ds = ds.map(batch_tail)
    ds = distribute(ds, opts, service, job_name)
    return finish(ds, opts, steps, counter, worker_pool=pool)
