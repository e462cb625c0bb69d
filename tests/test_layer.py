"""``pipeline.as_layer()`` inside Keras models, and the tf backend inside ``tf.data``.

The layer augments only when training; at inference it passes images through (applying only
``rescale``/``normalize``, so the model sees one value range). It saves and reloads with the
model without ``custom_objects``. In ``tf.data.Dataset.map`` (graph mode) the tf backend gives
each element its own draws, equal to the cv backend's output for the same indices.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import augkit
from augkit import ops as O

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

SIZE = 16
PIXELS = (0, 255)  # Keras feeds a float32 Input: uint8 pictures arrive as 0-255 floats


def _images(n: int = 4, seed: int = 0, dtype=np.float32) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3))
    return x.astype(dtype)


def _model(pipeline: augkit.Pipeline, seed: int = 1) -> keras.Model:
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        pipeline.as_layer(seed=seed, value_range=PIXELS),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])


GEOMETRIC = augkit.Pipeline.from_keras(rotation_range=30, width_shift_range=0.1,
                                       height_shift_range=0.1, zoom_range=0.1,
                                       horizontal_flip=True)


# -- training vs inference ------------------------------------------------------------------
def test_layer_augments_when_training_and_differs_across_calls():
    layer = GEOMETRIC.as_layer(seed=3, value_range=PIXELS)
    x = _images()
    a = np.asarray(layer(x, training=True))
    b = np.asarray(layer(x, training=True))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.abs(a - x).max() > 10, "training output must differ from the input"
    assert np.abs(a - b).max() > 10, "two training calls must draw different parameters"
    per_sample = [np.abs(a[i] - x[i]).mean() for i in range(len(x))]
    assert min(per_sample) > 0.5, "every sample of the batch is augmented"


def test_layer_passes_through_at_inference_without_value_ops():
    layer = GEOMETRIC.as_layer(seed=3, value_range=PIXELS)
    x = _images()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # training defaults to off


def test_layer_applies_only_rescale_at_inference():
    pipe = augkit.Pipeline.from_keras(rotation_range=30, horizontal_flip=True,
                                      rescale=1 / 255)
    layer = pipe.as_layer(value_range=PIXELS)
    x = _images()
    out = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(out, x / 255.0, rtol=1e-6, atol=1e-7)
    train = np.asarray(layer(x, training=True))
    assert train.min() >= 0.0 and train.max() <= 1.0 + 1e-6
    assert np.abs(train - x / 255.0).max() > 0.05


def test_layer_applies_only_normalize_at_inference():
    pipe = augkit.Pipeline([O.Rotate(angle_range=(-20, 20)), O.Rescale(),
                            O.Normalize(mean=0.5, std=0.25)], value_range=(0, 255))
    layer = pipe.as_layer()
    x = _images()
    out = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(out, (x / 255.0 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)


def test_uint8_model_input_stays_uint8_without_value_ops():
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3), dtype="uint8"),
                              GEOMETRIC.as_layer()])
    x = _images(dtype=np.uint8)
    assert model(x, training=True).dtype == tf.uint8
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)


def test_same_seed_same_training_sequence():
    x = _images()
    a = GEOMETRIC.as_layer(seed=5, value_range=PIXELS)
    b = GEOMETRIC.as_layer(seed=5, value_range=PIXELS)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(a(x, training=True)),
                                      np.asarray(b(x, training=True)))
    other = np.asarray(GEOMETRIC.as_layer(seed=6, value_range=PIXELS)(x, training=True))
    assert np.abs(other - np.asarray(a(x, training=True))).max() > 10


def test_layer_does_not_silently_clip_pixel_values_to_the_declared_range():
    """A Keras model fed 0-255 floats must not get its images clipped to [0, 1].

    Keras casts uint8 batches to the model's float32 input, so the layer sees 0-255 floats;
    the pipeline's default value_range is [0, 1]. Either fail loudly or keep the values.
    """
    layer = augkit.Pipeline.from_keras(brightness_range=[0.9, 1.1]).as_layer()
    x = _images()
    try:
        out = np.asarray(layer(x, training=True))
    except (ValueError, tf.errors.InvalidArgumentError):
        return  # loud failure is acceptable
    assert out.max() > 2.0, f"images were clipped to [0, 1] (mean {out.mean():.3f})"


def test_layer_value_range_override_keeps_pixel_values():
    layer = augkit.Pipeline.from_keras(brightness_range=[0.9, 1.1]).as_layer(value_range=PIXELS)
    x = _images()
    out = np.asarray(layer(x, training=True))
    assert 2.0 < out.max() <= 255.0 and out.min() >= 0.0
    assert abs(out.mean() - x.mean()) < 0.15 * x.mean()
    assert layer.get_config()["pipeline"]["value_range"] == [0, 255]


def test_layer_refuses_ops_without_a_tf_kernel():
    pipe = augkit.Pipeline([O.Albumentations(transform="CLAHE")])
    with pytest.raises(augkit.SpecError, match=r"ops\[0\] \(albumentations\).*tf"):
        pipe.as_layer()


# -- saving and loading ---------------------------------------------------------------------
def test_model_save_and_load_without_custom_objects(tmp_path):
    pipe = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.1,
                                      horizontal_flip=True, rescale=1 / 255)
    model = _model(pipe)
    x = _images()
    want = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), want)
    layer = loaded.layers[0]
    saved = augkit.Pipeline.from_dict(layer.get_config()["pipeline"])
    assert saved.ops == pipe.ops and saved.value_range == PIXELS
    assert layer.get_config()["seed"] == 1


def test_model_loads_in_a_fresh_process_with_augkit_load_model(tmp_path):
    pipe = augkit.Pipeline.from_keras(rotation_range=20, rescale=1 / 255)
    model = _model(pipe)
    x = _images()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    code = textwrap.dedent("""
        import numpy as np
        import augkit
        model = augkit.load_model("m.keras")  # imports augkit's layer, then keras.load_model
        got = model.predict(np.load("x.npy"), verbose=0)
        assert np.array_equal(got, np.load("want.npy")), "inference differs after reload"
        print("OK")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-2000:]


def test_tiny_fit_runs():
    keras.utils.set_random_seed(0)
    model = _model(GEOMETRIC)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = _images(16, seed=1)
    y = np.arange(16) % 2
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.layers[0].calls.numpy()) == 2, "one augmented call per training step"


# -- tf backend inside tf.data ----------------------------------------------------------------
def test_tf_backend_in_dataset_map_matches_cv_per_index():
    pipe = augkit.Pipeline.from_keras(rotation_range=30, width_shift_range=0.1,
                                      height_shift_range=0.1, zoom_range=0.2, shear_range=10,
                                      horizontal_flip=True)
    images = _images(8, seed=2, dtype=np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(images)

    def augment(i, x):
        return pipe(image=x, index=i, seed=0, backend="tf")["image"]

    mapped = ds.enumerate().map(augment, num_parallel_calls=2, deterministic=True)
    got = np.stack(list(mapped.as_numpy_iterator()))
    assert got.dtype == np.uint8 and got.shape == images.shape
    # every element got its own draws (nothing random was frozen at trace time)
    diffs = [np.abs(got[i].astype(int) - images[i]).mean() for i in range(len(images))]
    assert min(diffs) > 1.0
    assert len({g.tobytes() for g in got}) == len(got)
    # and they are the cv backend's draws for the same indices, within one uint8 level
    want, _ = pipe.apply(images, seed=0, index=np.arange(len(images)))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    # the same elements enumerated from an offset use their own index, not the position
    one = pipe(image=images[5], index=5, seed=0, backend="tf")["image"]
    np.testing.assert_array_equal(np.asarray(one), got[5])


def test_tf_backend_on_same_image_differs_across_elements():
    pipe = augkit.Pipeline.from_keras(rotation_range=40, horizontal_flip=True)
    image = _images(1, dtype=np.uint8)[0]
    ds = tf.data.Dataset.from_tensors(image).repeat(6)
    out = np.stack(list(ds.enumerate().map(
        lambda i, x: pipe(image=x, index=i, seed=0, backend="tf")["image"]
    ).as_numpy_iterator()))
    assert len({o.tobytes() for o in out}) == 6
    want, _ = pipe.apply(np.repeat(image[None], 6, axis=0), seed=0)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1


# -- tf backend vs cv: the agreement contract (docs/backends-and-seeding.md) -----------------
def test_nearest_interpolation_is_exact_between_backends_on_resizing_crops():
    # A region clipped to the full height maps 32 -> 24 rows: source rows land exactly on
    # half pixels, and an ulp of difference in the region (exp/log) must not flip the pick.
    pipe = augkit.Pipeline([O.RandomResizedCrop(size=(24, 20))], interpolation="nearest")
    images = _images(64, seed=3, dtype=np.uint8)
    on_cv, _ = pipe.apply(images, seed=7)
    on_tf = np.asarray(pipe.apply(images, seed=7, backend="tf")[0])
    differing = int((on_cv != on_tf).any(axis=-1).sum())
    assert differing == 0, f"{differing} pixels pick another source pixel on tf"


def test_uint8_warp_followed_by_value_ops_agrees_between_backends():
    # cv rounds the warp to uint8 before the next op; tf must quantize at the same point, or a
    # steep op (gamma near black) turns half a level into dozens.
    pipe = augkit.Pipeline([O.Rotate(angle_range=(-30, 30)), O.Gamma(gamma_range=(0.3, 0.4))])
    images = _images(16, seed=0, dtype=np.uint8)
    on_cv, _ = pipe.apply(images, seed=0)
    on_tf = np.asarray(pipe.apply(images, seed=0, backend="tf")[0])
    gap = np.abs(on_cv.astype(int) - on_tf.astype(int))
    assert gap.max() <= 2 and (gap > 0).mean() < 0.005, (gap.max(), (gap > 0).mean())


def test_tf_backend_rejects_an_index_of_the_wrong_length():
    images = _images(5, dtype=np.uint8)
    with pytest.raises(augkit.InputError, match="index"):
        augkit.Pipeline.default().apply(images, seed=0, index=np.arange(4), backend="tf")
