"""A tf-backend stream processed by the tf.data service (in-process dispatcher and worker)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import augkit  # noqa: E402
from augkit.stream import stream  # noqa: E402

PIPELINE = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.1,
                                      horizontal_flip=True, rescale=1 / 255)


@pytest.fixture(scope="module")
def service():
    svc = tf.data.experimental.service
    dispatcher = svc.DispatchServer(svc.DispatcherConfig(port=0))
    address = dispatcher.target.split("://")[1]
    worker = svc.WorkerServer(svc.WorkerConfig(dispatcher_address=address,
                                               worker_address="localhost:%port%", port=0))
    yield dispatcher.target
    worker.stop()
    dispatcher.stop()


def test_service_produces_the_local_stream(service):
    x = np.random.default_rng(0).integers(0, 256, (22, 10, 10, 3), dtype=np.uint8)
    y = np.arange(22)
    kwargs = dict(pipeline=PIPELINE, batch_size=8, backend="tf", epochs=2, seed=4)
    local = [(a.numpy(), b.numpy()) for a, b in stream(x, y, **kwargs)]
    remote_ds = stream(x, y, service=service, **kwargs)
    assert remote_ds.element_spec[0].shape.as_list() == [None, 10, 10, 3]
    remote = [(a.numpy(), b.numpy()) for a, b in remote_ds]
    assert len(remote) == len(local) == 6
    # one worker: same batches, same order; with several workers only the order may differ
    key = lambda batch: tuple(batch[1].tolist())  # noqa: E731
    assert sorted(map(key, remote)) == sorted(map(key, local))
    by_key = {key(b): b[0] for b in local}
    assert all(np.array_equal(by_key[key(b)], b[0]) for b in remote)


def test_service_needs_tf_backend_and_fixed_epochs(service):
    x, y = np.zeros((4, 8, 8, 3), np.uint8), np.arange(4)
    with pytest.raises(ValueError, match="backend='tf'"):
        stream(x, y, pipeline=PIPELINE, backend="cv", service=service, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        stream(x, y, pipeline=PIPELINE, service=service)
    assert stream(x, y, pipeline=PIPELINE, service=service, epochs=1).element_spec


def test_folder_recipe_convert_to_shards_then_serve(service, tmp_path):
    """A folder cannot go to the service (Python decoding); converting it to shards with
    ``augkit.expand(copies=0)`` gives a graph-only source that can, with the same labels."""
    from PIL import Image

    for i in range(6):
        cls = "ab"[i % 2]
        (tmp_path / "src" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(
            tmp_path / "src" / cls / f"{i}.png")
    with pytest.raises(ValueError, match="augkit.expand"):
        stream(str(tmp_path / "src"), pipeline=PIPELINE, service=service, epochs=1)
    augkit.expand(tmp_path / "src", tmp_path / "shards", pipeline=augkit.Pipeline(), copies=0,
                  format="npz", workers=1, scheduler="synchronous")
    ds = stream(str(tmp_path / "shards"), pipeline=None, service=service, epochs=1,
                batch_size=6, shuffle=False)
    (images, labels), = [(a.numpy(), b.numpy()) for a, b in ds]
    # the pixel value encodes the file: 0, 80, 160 are class "a", 40, 120, 200 class "b"
    pairs = sorted(zip(images[:, 0, 0, 0].tolist(), labels.tolist()))
    assert pairs == [(0, 0), (40, 1), (80, 0), (120, 1), (160, 0), (200, 1)]
