"""Shard writers: ``npz`` (plain arrays, deterministic bytes) and ``tfrecord`` (TensorFlow).

A shard holds ``rows`` = ``(plan row, item, copy, image)`` for the outputs that were made and
``failed`` = ``(plan row, item, copy, reason)`` for those that were not; the layouts are
documented in ``docs/expand.md``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from typing import Any

import numpy as np

from augkit.expansion.worker import TMP_PREFIX, TaskSpec, write_atomic
from augkit.io import replacing


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed ``.npz`` whose bytes depend only on the arrays (fixed zip timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array),
                                          allow_pickle=False)
    return buffer.getvalue()


def write_npz_shard(path: str, good: list, failed: list, spec: TaskSpec) -> None:
    """Write an npz shard atomically."""
    if good:
        x = np.stack([image for *_, image in good])
    else:
        x = np.zeros((0, 0, 0, 0), np.uint8)
    arrays = {
        "x": x,
        "y": np.array([item.label for _, item, _, _ in good], np.int64),
        "index": np.array([item.index for _, item, _, _ in good], np.int64),
        "copy": np.array([copy for _, _, copy, _ in good], np.int64),
        "class_names": np.array(spec.class_names, dtype=str),
        "failed_index": np.array([item.index for _, item, _, _ in failed], np.int64),
        "failed_copy": np.array([copy for _, _, copy, _ in failed], np.int64),
        "failed_error": np.array([error for *_, error in failed], dtype=str),
    }
    write_atomic(path, npz_bytes(arrays), fsync=spec.fsync)


def sidecar(path: str) -> str:
    """The JSON file listing what a TFRecord shard holds and which rows failed."""
    return path + ".json"


def write_tfrecord_shard(path: str, good: list, failed: list, spec: TaskSpec) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # only TFRecord output pays for TensorFlow

    def feature(value: Any) -> Any:
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f"{TMP_PREFIX}{secrets.token_hex(6)}.{name}")
    with replacing(tmp, path):
        with tf.io.TFRecordWriter(tmp) as writer:
            for _, item, copy, png in good:
                class_name = spec.class_names[item.label] if item.label < len(
                    spec.class_names) else str(item.label)
                example = tf.train.Example(features=tf.train.Features(feature={
                    "image": feature(png), "format": feature(b"png"),
                    "label": feature(item.label), "class_name": feature(class_name.encode()),
                    "index": feature(item.index), "copy": feature(copy)}))
                writer.write(example.SerializeToString())
        if spec.fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        info = {"records": [[item.index, copy] for _, item, copy, _ in good],
                "failed": [[item.index, copy, error] for _, item, copy, error in failed],
                "bytes": os.path.getsize(tmp)}
        write_atomic(sidecar(path), json.dumps(info).encode(), fsync=spec.fsync)
