"""augkit.stream(..., processes=N): worker processes give the threads' stream, own their
processes and shared files, fail loudly, and refuse what they cannot run."""

from __future__ import annotations

import gc
import os
import site

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import augkit  # noqa: E402
from augkit import stream_procs  # noqa: E402
from augkit.stream import stream  # noqa: E402
from augkit.stream_procs import WorkerError, WorkerPool, shared_folder  # noqa: E402

SEED_PIPELINE = augkit.Pipeline.from_keras(rotation_range=15, width_shift_range=0.1,
                                           height_shift_range=0.1, zoom_range=0.1,
                                           horizontal_flip=True, rescale=1 / 255)
GEOMETRIC = augkit.Pipeline.from_keras(rotation_range=20, zoom_range=0.2, horizontal_flip=True)


def textured(n: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def drain(ds) -> list:
    return [tuple(np.asarray(t) for t in (b if isinstance(b, tuple) else (b,))) for b in ds]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b):
        assert len(left) == len(right)
        for p, q in zip(left, right):
            assert p.dtype == q.dtype and p.shape == q.shape
            np.testing.assert_array_equal(p, q)


def test_processes_give_the_threads_stream_epoch_after_epoch():
    # 600 images of 12 px in batches of 32: calls of 16 batches, so one epoch takes several
    # calls on both workers, and its last batch is short
    x, y = textured(600), np.arange(600) % 10
    procs = stream(x, y, pipeline=SEED_PIPELINE, batch_size=32, seed=3, processes=2)
    threads = stream(x, y, pipeline=SEED_PIPELINE, batch_size=32, seed=3)
    first = drain(procs)
    assert_same(first, drain(threads))
    second = drain(procs)
    assert_same(second, drain(threads))
    assert first[0][0].dtype == np.float32 and first[-1][0].shape == (600 % 32, 12, 12, 3)
    assert not np.array_equal(first[0][1], second[0][1])  # a new order each epoch
    # every image arrives once per epoch, with its own label
    assert sorted(np.concatenate([b[1] for b in first]).tolist()) == sorted(y.tolist())


@pytest.mark.parametrize("pipeline", [GEOMETRIC, None], ids=["uint8-pipeline", "no-pipeline"])
def test_processes_with_split_epochs_and_drop_remainder(pipeline):
    x, y = textured(300), np.arange(300)
    kwargs = dict(pipeline=pipeline, batch_size=16, seed=1, validation_split=0.2,
                  subset="training", epochs=2, drop_remainder=True)
    procs = drain(stream(x, y, processes=1, **kwargs))
    assert_same(procs, drain(stream(x, y, **kwargs)))
    assert procs[0][0].dtype == np.uint8 and all(len(b[1]) == 16 for b in procs)


def test_processes_write_a_rescale_with_offset_as_the_threads_do():
    # the workers scale straight into the shared block; the threads' tail runs in the graph
    pipeline = augkit.Pipeline([augkit.ops.Rotate(angle_range=(-30, 30)),
                                augkit.ops.Rescale(scale=2 / 255, offset=-1.0),
                                augkit.ops.Rescale(scale=0.5, offset=0.25)])
    x = textured(200)
    procs = drain(stream(x, None, pipeline=pipeline, batch_size=32, processes=1))
    assert_same(procs, drain(stream(x, None, pipeline=pipeline, batch_size=32)))
    assert procs[0][0].min() < -0.2 and procs[0][0].max() > 0.7


def test_model_fit_on_a_process_stream():
    x, y = textured(64, 8), np.arange(64) % 2
    ds = stream(x, y, pipeline=SEED_PIPELINE, batch_size=16, processes=1)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_the_data_set_owns_its_workers_and_shared_files():
    ds = stream(textured(100), None, pipeline=GEOMETRIC, batch_size=10, processes=2)
    drain(ds)
    pool = ds.worker_pool
    procs, folder = [w.proc for w in pool.workers], pool.folder
    assert os.path.isdir(folder) and all(p.poll() is None for p in procs)
    del ds, pool
    gc.collect()
    assert all(p.wait(timeout=30) is not None for p in procs)
    assert not os.path.exists(folder)


def test_output_blocks_are_reused_not_piled_up():
    ds = stream(textured(2000), None, pipeline=GEOMETRIC, batch_size=25, processes=2)
    for _ in range(3):
        drain(ds)
    # each call takes a block until TensorFlow lets go of its batches: a handful at most
    assert 1 <= ds.worker_pool.blocks <= 12


def test_a_dead_worker_fails_the_stream_instead_of_hanging():
    # two calls in flight for one worker: the second waits for it and must fail too
    ds = stream(textured(1000), None, pipeline=GEOMETRIC, batch_size=10, processes=1,
                num_parallel_calls=2)
    worker = ds.worker_pool.workers[0].proc
    worker.kill()
    worker.wait()
    with pytest.raises(Exception, match="worker process 0"):
        drain(ds)
    with pytest.raises(Exception, match="worker process 0"):  # and stays failed
        drain(ds)


def test_an_error_in_a_worker_comes_back_as_itself():
    pool = WorkerPool(textured(10), GEOMETRIC, 0, 1, 4, (12, 12, 3), "uint8")
    try:
        with pytest.raises(IndexError):
            pool(np.array([3, 10**6]), 0)
        out = pool(np.array([0, 1]), 0)  # the worker lives on
        assert out.shape == (2, 12, 12, 3)
    finally:
        pool.close()
    with pytest.raises(WorkerError, match="closed"):
        pool(np.array([0]), 0)


def test_shared_folder_falls_back_when_memory_folder_is_short(tmp_path, monkeypatch):
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    folder = shared_folder(1000, candidates=(str(roomy),))
    assert os.path.dirname(folder) == str(roomy)
    monkeypatch.setattr(stream_procs, "SHM_MARGIN", 1 << 62)  # no candidate has that room
    folder = shared_folder(1000, candidates=(str(roomy), str(tmp_path / "missing")))
    assert os.path.dirname(folder) == os.path.realpath(stream_procs.tempfile.gettempdir()) \
        or os.path.dirname(folder) == stream_procs.tempfile.gettempdir()
    os.rmdir(folder)


def test_folders_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f"{stream_procs._PREFIX}999999999-abc"  # beyond any pid
    mine = tmp_path / f"{stream_procs._PREFIX}{os.getpid()}-abc"
    other = tmp_path / "augkit-something-else"
    for folder in (dead, mine, other):
        folder.mkdir()
    shared_folder(10, candidates=(str(tmp_path),))
    assert not dead.exists() and mine.exists() and other.exists()


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_process_counts(value):
    with pytest.raises(ValueError, match="processes: got"):
        stream(textured(10), None, pipeline=GEOMETRIC, processes=value)


def test_what_processes_cannot_run(tmp_path, monkeypatch):
    x, y = textured(10), np.arange(10)
    with pytest.raises(ValueError, match="processes: worker processes run the cv backend"):
        stream(x, y, pipeline=GEOMETRIC, backend="tf", processes=1)
    with pytest.raises(ValueError, match="processes: a pipeline that mixes"):
        mix = augkit.Pipeline([augkit.ops.MixUp(alpha=0.2, num_classes=10)])
        stream(x, y, pipeline=mix, processes=1)
    with pytest.raises(ValueError, match="processes: worker processes take an array source"):
        stream(x, y, pipeline=GEOMETRIC, masks=np.zeros((10, 12, 12), np.uint8), processes=1)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="got a folder"):
        stream(str(tmp_path), pipeline=GEOMETRIC, processes=1)

    def not_data(self):
        raise TypeError("a Python callable")

    monkeypatch.setattr(augkit.Pipeline, "to_dict", not_data)
    with pytest.raises(ValueError, match="processes: the pipeline must be plain data"):
        stream(x, y, pipeline=GEOMETRIC, processes=1)


def test_workers_find_this_augkit_even_off_the_default_path(monkeypatch):
    home = os.path.dirname(os.path.dirname(os.path.abspath(stream_procs.__file__)))
    monkeypatch.chdir(home)
    assert "sys.path" not in stream_procs._worker_command()  # found from the folder
    monkeypatch.chdir("/")
    monkeypatch.setattr(site, "getsitepackages", lambda: [])
    monkeypatch.setenv("PYTHONPATH", "")
    command = stream_procs._worker_command()
    assert f"sys.path.insert(0, {home!r})" in command
    pool = WorkerPool(textured(4), GEOMETRIC, 0, 1, 4, (12, 12, 3), "uint8")
    try:
        assert pool(np.arange(4), 0).shape == (4, 12, 12, 3)
    finally:
        pool.close()


def test_a_full_shared_folder_is_named_not_a_crash(monkeypatch):
    pool = WorkerPool(textured(8), GEOMETRIC, 0, 1, 4, (12, 12, 3), "uint8")
    try:
        def full(path, nbytes):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(stream_procs, "_shared_file", full)
        with pytest.raises(WorkerError, match="no room for output block 1 .* in .*augkit-stream"):
            pool(np.arange(4), 0)
    finally:
        pool.close()


def test_workers_that_hang_while_starting_are_killed(monkeypatch):
    monkeypatch.setattr(stream_procs, "START_TIMEOUT", 0.5)
    monkeypatch.setattr(stream_procs, "_worker_command",
                        lambda: "import time; time.sleep(60)")  # never answers
    before = mine()
    with pytest.raises(WorkerError, match="did not start within 0.5 s"):
        WorkerPool(textured(4), GEOMETRIC, 0, 2, 4, (12, 12, 3), "uint8")
    assert mine() == before  # and its shared folder is gone


def mine() -> set[str]:
    """This process's shared folders, wherever pools put them."""
    found = set()
    for base in ("/dev/shm", stream_procs.tempfile.gettempdir()):
        if os.path.isdir(base):
            found.update(os.path.join(base, n) for n in os.listdir(base)
                         if n.startswith(f"{stream_procs._PREFIX}{os.getpid()}-"))
    return found
