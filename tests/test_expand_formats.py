"""augkit expand output read back by Keras and TensorFlow: class folders and TFRecord shards."""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_expand import PIPE, SYNC, make_source, manifest, tree

from augkit.expansion import expand
from augkit.io import read_image

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def test_keras_reads_the_output_folder(tmp_path):
    src = make_source(tmp_path / "src", {"cat": 3, "dog": 2, "émeu": 2})
    (src / "cat" / "broken.jpg").write_bytes(b"junk")
    out = tmp_path / "out"
    summary = expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    data = keras.utils.image_dataset_from_directory(out, image_size=(16, 16), batch_size=64,
                                                    shuffle=False, verbose=False)
    assert data.class_names == ["cat", "dog", "émeu"]
    images, labels = next(iter(data))
    assert images.shape == (summary.written, 16, 16, 3)
    ok = [r for r in manifest(out) if r["status"] == "ok"]
    assert labels.numpy().tolist() == [int(r["label"]) for r in ok]
    first = read_image(out / ok[0]["output"])
    np.testing.assert_array_equal(images[0].numpy().astype(np.uint8), first)


def _records(out):
    paths = sorted(str(out / n) for n in os.listdir(out) if n.endswith(".tfrecord"))
    for record in tf.data.TFRecordDataset(paths):
        example = tf.train.Example.FromString(record.numpy())
        features = example.features.feature
        yield {"image": tf.io.decode_png(features["image"].bytes_list.value[0]).numpy(),
               **{k: features[k].int64_list.value[0] for k in ("label", "index", "copy")}}


def test_tfrecord_shards_hold_the_same_pictures_and_resume(tmp_path):
    src = make_source(tmp_path / "src", {"a": 3, "b": 3})
    (src / "b" / "zero.png").write_bytes(b"")
    png, shards = tmp_path / "png", tmp_path / "shards"
    expand(src, png, pipeline=PIPE, copies=2, **SYNC)
    summary = expand(src, shards, pipeline=PIPE, copies=2, format="tfrecord", shard_size=5,
                     **SYNC)
    assert (summary.written, summary.failed) == (18, 3)
    records = list(_records(shards))
    assert len(records) == 18
    rows = [r for r in manifest(png) if r["status"] == "ok"]
    for record, row in zip(records, rows):
        assert (record["index"], record["copy"], record["label"]) == (
            int(row["index"]), int(row["copy"]), int(row["label"]))
        np.testing.assert_array_equal(record["image"], read_image(png / row["output"]))
    reference = tree(shards)
    name = sorted(n for n in os.listdir(shards) if n.endswith(".tfrecord"))[1]
    (shards / name).unlink()
    again = expand(src, shards, pipeline=PIPE, copies=2, format="tfrecord", shard_size=5, **SYNC)
    assert again.written == 5 and again.failed == 3 and tree(shards) == reference
    failed = [r for r in manifest(shards) if r["status"] == "failed"]
    assert len(failed) == 3 and all("empty file" in r["error"] for r in failed)
