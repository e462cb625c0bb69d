"""A stream's Python state (arrays, open shard files) lives as long as its data set and its
iterators, not until the process ends (TensorFlow keeps every ``tf.numpy_function``'s
function for good; stream_core.owning)."""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import augkit  # noqa: E402
from augkit.stream import stream  # noqa: E402

PIPELINE = augkit.Pipeline.from_keras(rotation_range=15, horizontal_flip=True, rescale=1 / 255)


def images(n: int) -> np.ndarray:
    """uint8 images, C-contiguous: the stream holds this very array (weakly referenceable)."""
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_an_array_stream_lets_its_array_go_with_the_data_set(backend):
    x = images(40)
    gone = weakref.ref(x)
    ds = stream(x, None, pipeline=PIPELINE, batch_size=16, backend=backend)
    assert len(list(ds)) == 3
    del x, ds
    gc.collect()
    assert gone() is None


def test_an_iterator_keeps_its_stream_alive():
    x = images(40)
    gone = weakref.ref(x)
    it = iter(stream(x, np.arange(40), pipeline=PIPELINE, batch_size=16))  # no other reference
    del x
    gc.collect()
    assert gone() is not None
    batches = list(it)
    assert [len(b[1]) for b in batches] == [16, 16, 8]
    del it, batches
    gc.collect()
    assert gone() is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd (Linux)")
def test_a_shard_stream_closes_its_files_with_the_data_set(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "src.npz", x=x, y=np.arange(40))
    augkit.expand(tmp_path / "src.npz", tmp_path / "out", pipeline=augkit.Pipeline(), copies=0,
                  format="npz", shard_size=4, scheduler="synchronous")  # 10 shard files
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        ds = stream(str(tmp_path / "out"), pipeline=PIPELINE, batch_size=8)
        assert sum(len(b[1]) for b in ds) == 40
        assert len(os.listdir("/proc/self/fd")) >= before + 10  # its shards are open
        del ds
        gc.collect()
        assert len(os.listdir("/proc/self/fd")) <= before  # and closed with it
