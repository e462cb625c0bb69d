"""augkit.stream on arrays: shapes, dtypes, labels, reproducibility, epochs, errors, model.fit."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import augkit  # noqa: E402
from augkit import ops  # noqa: E402
from augkit.stream import stream  # noqa: E402

GEOMETRIC = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.2,
                                       height_shift_range=0.2, zoom_range=0.2,
                                       horizontal_flip=True)
SEED_PIPELINE = augkit.Pipeline.from_keras(rotation_range=15, width_shift_range=0.1,
                                           height_shift_range=0.1, zoom_range=0.1,
                                           horizontal_flip=True, rescale=1 / 255)


def encoded(n: int, size: int = 12, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel is their own label: a geometric op with fill 'nearest'
    keeps a constant image constant, so each image still says which label it must carry."""
    y = np.arange(n, dtype=np.int64) % 251
    x = np.broadcast_to(y[:, None, None, None].astype(np.uint8),
                        (n, size, size, channels)).copy()
    return x, y


def textured(n: int, size: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def drain(ds) -> list:
    return [tuple(np.asarray(t) for t in (b if isinstance(b, tuple) else (b,))) for b in ds]


def by_label(batches) -> dict:
    """label -> image, over one pass."""
    return {int(label): img for images, labels in batches for img, label in zip(images, labels)}


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_shapes_dtypes_and_static_spec(backend):
    x, y = textured(10), np.arange(10)
    ds = stream(x, y, pipeline=SEED_PIPELINE, batch_size=4, backend=backend)
    images_spec, labels_spec = ds.element_spec
    assert images_spec.shape.as_list() == [None, 12, 12, 3]
    assert images_spec.dtype == tf.float32 and labels_spec.dtype == tf.int64
    batches = drain(ds)
    assert [b[0].shape for b in batches] == [(4, 12, 12, 3), (4, 12, 12, 3), (2, 12, 12, 3)]
    assert all(b[0].dtype == np.float32 and 0 <= b[0].min() and b[0].max() <= 1
               for b in batches)
    assert len(ds) == ds.steps_per_epoch == 3
    # tf.data's autotuning model is off (it stalled iterator deletion, see stream_core.finish)
    assert ds.options().autotune.enabled is False


def test_uint8_stays_uint8_and_drop_remainder_makes_batch_static():
    x, y = textured(10), np.arange(10)
    ds = stream(x, y, pipeline=GEOMETRIC, batch_size=4, drop_remainder=True)
    assert ds.element_spec[0].shape.as_list() == [4, 12, 12, 3]
    assert ds.element_spec[0].dtype == tf.uint8
    assert [b[0].shape[0] for b in drain(ds)] == [4, 4]
    as_float = stream(x, y, pipeline=GEOMETRIC, batch_size=4, dtype="float32")
    assert as_float.element_spec[0].dtype == tf.float32


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_labels_stay_aligned_under_shuffle_and_parallel_map(backend):
    x, y = encoded(203)
    ds = stream(x, y, pipeline=GEOMETRIC, batch_size=16, backend=backend,
                num_parallel_calls=4, seed=5)
    for _ in range(2):  # two epochs, two orders
        seen = []
        for images, labels in drain(ds):
            assert (images == labels[:, None, None, None].astype(np.uint8)).all()
            seen += labels.tolist()
        assert sorted(seen) == sorted(y.tolist())


def test_grayscale_and_rgba_arrays_keep_their_channels():
    for channels in (1, 4):
        x, y = encoded(9, channels=channels)
        images, labels = drain(stream(x, y, pipeline=GEOMETRIC, batch_size=9))[0]
        assert images.shape == (9, 12, 12, channels)
        assert (images == labels[:, None, None, None]).all()
    x3, y3 = encoded(5)
    images, _ = drain(stream(x3[..., 0], y3, pipeline=None, batch_size=5))[0]  # (N, H, W)
    assert images.shape == (5, 12, 12, 1)


def test_same_seed_same_stream_order_included():
    x, y = textured(40), np.arange(40)
    a = stream(x, y, pipeline=SEED_PIPELINE, batch_size=8, seed=3)
    b = stream(x, y, pipeline=SEED_PIPELINE, batch_size=8, seed=3, num_parallel_calls=1)
    for _ in range(2):  # epoch 0, then epoch 1
        for (ia, la), (ib, lb) in zip(drain(a), drain(b)):
            assert np.array_equal(la, lb) and np.array_equal(ia, ib)
    other = drain(stream(x, y, pipeline=SEED_PIPELINE, batch_size=8, seed=4))
    first = drain(stream(x, y, pipeline=SEED_PIPELINE, batch_size=8, seed=3))
    assert not np.array_equal(np.concatenate([b[1] for b in other]),
                              np.concatenate([b[1] for b in first]))


def test_each_epoch_reshuffles_and_reaugments():
    x, y = textured(40), np.arange(40)
    ds = stream(x, y, pipeline=GEOMETRIC, batch_size=8, seed=1)
    epoch0, epoch1 = drain(ds), drain(ds)
    order0 = np.concatenate([b[1] for b in epoch0])
    order1 = np.concatenate([b[1] for b in epoch1])
    assert sorted(order0) == sorted(order1) == list(range(40))
    assert not np.array_equal(order0, order1)
    img0, img1 = by_label(epoch0), by_label(epoch1)
    assert sum(not np.array_equal(img0[k], img1[k]) for k in range(40)) > 30
    assert ds._augkit_epoch_counter.numpy() == 2


def test_augmentation_is_a_function_of_the_image_not_of_batching():
    x, y = textured(30), np.arange(30)
    small = by_label(drain(stream(x, y, pipeline=GEOMETRIC, batch_size=4, seed=2)))
    large = by_label(drain(stream(x, y, pipeline=GEOMETRIC, batch_size=11, seed=2)))
    assert all(np.array_equal(small[k], large[k]) for k in range(30))
    # the same augmentation augkit's Pipeline.apply gives for (seed, index, epoch 0)
    direct, _ = GEOMETRIC.apply(x, seed=2, index=np.arange(30), epoch=0)
    assert all(np.array_equal(small[k], direct[k]) for k in range(30))


def test_cv_and_tf_backends_agree():
    x, y = textured(16), np.arange(16)
    cv = by_label(drain(stream(x, y, pipeline=GEOMETRIC, batch_size=8, backend="cv")))
    tfb = by_label(drain(stream(x, y, pipeline=GEOMETRIC, batch_size=8, backend="tf")))
    assert max(np.abs(cv[k].astype(int) - tfb[k].astype(int)).max() for k in cv) <= 1


def test_fixed_epochs_equal_successive_passes_and_initial_epoch_resumes():
    x, y = textured(20), np.arange(20)
    counted = stream(x, y, pipeline=GEOMETRIC, batch_size=6, seed=9)
    passes = drain(counted) + drain(counted) + drain(counted)
    fixed = stream(x, y, pipeline=GEOMETRIC, batch_size=6, seed=9, epochs=3)
    assert len(fixed) == 3 * fixed.steps_per_epoch == 12
    stateless = drain(fixed)
    assert len(stateless) == len(passes)
    for (ia, la), (ib, lb) in zip(passes, stateless):
        assert np.array_equal(la, lb) and np.array_equal(ia, ib)
    resumed = drain(stream(x, y, pipeline=GEOMETRIC, batch_size=6, seed=9, initial_epoch=2))
    for (ia, la), (ib, lb) in zip(passes[8:], resumed):
        assert np.array_equal(la, lb) and np.array_equal(ia, ib)


def test_non_deterministic_order_keeps_every_batch_intact():
    x, y = encoded(64)
    ds = stream(x, y, pipeline=GEOMETRIC, batch_size=8, deterministic=False)
    batches = drain(ds)
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == sorted(y.tolist())
    assert all((b[0] == b[1][:, None, None, None]).all() for b in batches)


def test_no_shuffle_and_no_pipeline_returns_the_data_unchanged():
    x, y = textured(10), np.arange(10) * 3
    images, labels = drain(stream(x, y, pipeline=None, batch_size=10, shuffle=False))[0]
    assert np.array_equal(images, x) and np.array_equal(labels, y)


def test_validation_split_partitions_by_seed():
    x, y = textured(50), np.arange(50)

    def labels(subset, seed):
        ds = stream(x, y, pipeline=None, batch_size=64, validation_split=0.2, subset=subset,
                    seed=seed, shuffle=False)
        return drain(ds)[0][1].tolist()

    train, val = labels("training", 7), labels("validation", 7)
    assert len(val) == 10 and len(train) == 40
    assert sorted(train + val) == list(range(50))
    assert labels("validation", 7) == val and labels("validation", 8) != val


def test_sources_pair_npz_and_images_only(tmp_path):
    x, y = encoded(6)
    assert len(drain(stream((x, y), pipeline=None, batch_size=3))) == 2
    np.savez(tmp_path / "d.npz", x=x, y=y)
    images, labels = drain(stream(tmp_path / "d.npz", pipeline=None, batch_size=6))[0]
    assert (images == labels[:, None, None, None]).all()
    only = stream(x, pipeline=GEOMETRIC, batch_size=6)
    assert isinstance(only.element_spec, tf.TensorSpec)
    no_labels = stream(x, y, pipeline=None, batch_size=6, label_mode=None)
    assert isinstance(no_labels.element_spec, tf.TensorSpec)


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=0), dict(batch_size=2.5), dict(seed=-1), dict(shuffle="yes"),
    dict(backend="gpu"), dict(on_error="ignore"), dict(label_mode="sparse"),
    dict(label_mode="categorical"), dict(dtype="float64"), dict(epochs=0),
    dict(validation_split=1.5, subset="training"), dict(subset="training"),
    dict(validation_split=0.2, subset="test"), dict(image_size=(8, 8)),
    dict(color_mode="grayscale"), dict(on_error="skip"), dict(num_parallel_calls=0),
    dict(pipeline="rotate"), dict(dtype="uint8"), dict(service="grpc://x:1", backend="cv"),
])
def test_bad_arguments_raise_value_error(kwargs):
    x, y = textured(8), np.arange(8)
    kwargs = {"pipeline": SEED_PIPELINE, **kwargs}
    with pytest.raises(ValueError):
        stream(x, y, **kwargs)


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 8, 8, 2), np.uint8), np.arange(4), "C in 1, 3, 4"),
    (np.zeros((4, 8, 8, 3), np.uint8), np.arange(5), "5 labels for 4 images"),
    (np.zeros((4, 8, 8, 3), np.int32) + 300, np.arange(4), "dtype int32"),
    (np.full((4, 8, 8, 3), 255.0, np.float32), np.arange(4), "outside the pipeline's"),
    (np.zeros((0, 8, 8, 3), np.uint8), np.arange(0), r"got \(0, 8, 8, 3\) \(no images\)"),
])
def test_bad_inputs_raise_input_error(x, y, match):
    with pytest.raises(augkit.InputError, match=match):
        stream(x, y, pipeline=SEED_PIPELINE)


def test_float_input_in_range_and_integer_input_are_accepted():
    x = textured(4)
    images, _ = drain(stream(x.astype(np.float64) / 255, np.arange(4), pipeline=GEOMETRIC,
                             batch_size=4))[0]
    assert images.dtype == np.float32 and images.max() <= 1.0
    images, _ = drain(stream(x.astype(np.int64), np.arange(4), pipeline=None, batch_size=4))[0]
    assert images.dtype == np.uint8


def test_a_small_model_trains_on_a_stream():
    x, y = textured(32, size=16), np.arange(32) % 2
    ds = stream(x, y, pipeline=SEED_PIPELINE, batch_size=8)
    val = stream(x[:8], y[:8], pipeline=None, batch_size=8, shuffle=False, dtype="float32")
    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    assert ds._augkit_epoch_counter.numpy() == 2  # each Keras epoch was one fresh pass


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_rescaled_output_equals_pipeline_apply(backend):
    """On cv the trailing rescale runs in the graph: same values as Pipeline.apply."""
    x, y = textured(20), np.arange(20)
    got = by_label(drain(stream(x, y, pipeline=SEED_PIPELINE, batch_size=6, seed=4,
                                backend=backend)))
    want, _ = SEED_PIPELINE.apply(x, seed=4, index=np.arange(20), epoch=0)
    tolerance = 1e-6 if backend == "cv" else 1 / 255 + 1e-6
    assert max(np.abs(got[k] - want[k]).max() for k in range(20)) <= tolerance


def test_value_op_before_rescale_equals_pipeline_apply_exactly():
    """A value op right before the rescale: the stream must not round between them on cv."""
    pipe = augkit.Pipeline([ops.Rotate(angle_range=(-10, 10)), ops.Brightness(),
                            ops.Rescale()])
    x, y = textured(12), np.arange(12)
    got = by_label(drain(stream(x, y, pipeline=pipe, batch_size=4, seed=2, backend="cv")))
    want, _ = pipe.apply(x, seed=2, index=np.arange(12), epoch=0)
    for k in range(12):
        np.testing.assert_array_equal(got[k], want[k])
