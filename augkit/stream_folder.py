"""Folder sources of :func:`augkit.stream`: lazy decoding, bad-file handling, label encoding.

Per epoch ``e`` the data set is::

    positions 0..n-1 ─▶ items (the epoch's order) ─▶ parallel map: decode file, resize
        ─▶ [on_error="skip": drop bad files, image and label together] ─▶ batch
        ─▶ parallel map: augment with (seed, file index, e) ─▶ encode labels

Only file indices are ever shuffled; a file is decoded when its batch is being built, so memory
does not grow with the folder.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf

from augkit.copy_groups import file_groups
from augkit.decode import FileDecoder, check_size
from augkit.io import COLOR_MODES
from augkit.sources import FileSource, scan_directory
from augkit.stream_core import (
    DEFAULT_IMAGE_SIZE,
    Options,
    augment_batch,
    each_epoch,
    epoch_items,
    finish,
    mixing_label_mode,
    numpy_function,
    split,
)


def folder_stream(folder: FileSource | str | os.PathLike, opts: Options, *,
                  image_size: Any, color_mode: str, interpolation: str,
                  crop_to_aspect_ratio: bool, validation_split: Any, subset: Any,
                  label_mode: Any, class_names: Any, follow_links: bool, on_error: str,
                  max_pixels: Any) -> tf.data.Dataset:
    """Build the stream of a class-per-folder data set (see :func:`augkit.stream`)."""
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode: got {color_mode!r}; allowed: "
                         f"{', '.join(repr(m) for m in COLOR_MODES)}")
    size = DEFAULT_IMAGE_SIZE if image_size is None else check_size(image_size)
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(
            max_pixels, (int, np.integer)) or max_pixels < 1):
        raise ValueError(f"max_pixels: got {max_pixels!r}; allowed: a positive integer or None")
    if isinstance(folder, FileSource):
        source = folder
        if class_names is not None and tuple(class_names) != source.class_names:
            raise ValueError("class_names: a FileSource already fixes its classes")
    else:
        source = scan_directory(folder, class_names=class_names, follow_links=follow_links)
    num_classes = len(source.class_names)
    mode = mixing_label_mode(opts.pipeline, label_mode) or (
        "int" if label_mode == "auto" else label_mode)
    if mode == "binary" and num_classes != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes; found {num_classes}: "
                         f"{', '.join(source.class_names)}")
    groups = file_groups(source) if validation_split is not None else None
    items = split(len(source), validation_split, subset, opts.seed, groups)
    paths = [os.fspath(source.absolute(int(i))) for i in items]
    decoder = FileDecoder(paths, size=size, color_mode=color_mode, interpolation=interpolation,
                          crop_to_aspect_ratio=crop_to_aspect_ratio, max_pixels=max_pixels,
                          on_error=on_error)
    n = len(items)
    steps = opts.steps(n, "files")
    channels = COLOR_MODES[color_mode]
    out_shape = (*opts.out_size(*size), channels)
    source_index = tf.constant(items, tf.int64)  # augmentation index: the file's own number
    labels = tf.constant(source.labels[items], tf.int64)
    skip = on_error == "skip"

    def decode(item: tf.Tensor) -> Any:
        image, ok = numpy_function(decoder, [item], (tf.uint8, tf.bool))
        image = tf.ensure_shape(image, (*size, channels))
        return image, tf.ensure_shape(ok, ()), item

    def encode(label: tf.Tensor) -> tf.Tensor:
        if mode == "categorical":
            return tf.one_hot(label, num_classes, dtype=tf.float32)
        if mode == "binary":
            return tf.cast(tf.reshape(label, (-1, 1)), tf.float32)
        return tf.cast(label, tf.int32)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(epoch_items(n, epoch, opts))
        ds = ds.map(decode, num_parallel_calls=opts.parallel, deterministic=opts.deterministic)
        if skip:
            ds = ds.filter(lambda image, ok, item: ok)
        ds = ds.batch(opts.batch_size, drop_remainder=opts.drop_remainder)

        def augment(images: tf.Tensor, ok: tf.Tensor, item: tf.Tensor) -> Any:
            index = tf.gather(source_index, item)
            encoded = None if mode is None else encode(tf.gather(labels, item))
            images, encoded = augment_batch(images, index, epoch, opts, "uint8", out_shape,
                                            encoded)  # a pipeline that mixes mixes the labels
            return images if mode is None else (images, encoded)

        return ds.map(augment, num_parallel_calls=opts.parallel,
                      deterministic=opts.deterministic)

    ds, counter = each_epoch(opts, one_epoch)
    return finish(ds, opts, None if skip else steps, counter,
                  class_names=list(source.class_names), num_items=n,
                  file_paths=paths, skipped_files=decoder.skipped)
