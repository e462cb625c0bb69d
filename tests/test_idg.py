"""augkit.idg.ImageDataGenerator: the drop-in for Keras' legacy class (arrays, fit, transforms)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from augkit.idg import ImageDataGenerator  # noqa: E402

SEED_KWARGS = dict(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1,
                   zoom_range=0.1, horizontal_flip=True)


def keras_idg():
    """Keras' own legacy class (what tf.keras.preprocessing.image.ImageDataGenerator is)."""
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator as Legacy
    except ImportError:
        pytest.skip("Keras' legacy ImageDataGenerator is not importable")
    return Legacy


def encoded(n: int, size: int = 10, channels: int = 3):
    y = np.arange(n) % 250
    x = np.broadcast_to(y[:, None, None, None].astype(np.uint8), (n, size, size, channels))
    return x.copy(), y


def textured(n: int, size: int = 16, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


# -- flow ---------------------------------------------------------------------------------------
def test_course_code_flow_is_a_pydataset_with_len_and_indexing():
    x, y = textured(70), np.arange(70)
    gen = ImageDataGenerator(rescale=1 / 255, **SEED_KWARGS)
    it = gen.flow(x, y, batch_size=32, seed=0)
    assert isinstance(it, keras.utils.PyDataset)
    assert len(it) == 3
    images, labels = it[0]
    assert images.shape == (32, 16, 16, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert it[2][0].shape == (6, 16, 16, 3) and it[-1][0].shape == (6, 16, 16, 3)
    with pytest.raises(ValueError, match="length 3"):
        it[3]
    assert np.array_equal(it[1][0], it[1][0])  # indexing is a pure function
    seen = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(seen.tolist()) == list(range(70))


def test_labels_stay_aligned_and_epochs_reshuffle_and_reaugment():
    x, y = encoded(50)
    gen = ImageDataGenerator(**SEED_KWARGS)
    it = gen.flow(x, y, batch_size=8, seed=3)
    first = [it[i] for i in range(len(it))]
    for images, labels in first:
        assert np.array_equal(images, np.broadcast_to(
            labels[:, None, None, None].astype(np.float32), images.shape))
    it.on_epoch_end()
    second = [it[i] for i in range(len(it))]
    order0 = np.concatenate([b[1] for b in first])
    order1 = np.concatenate([b[1] for b in second])
    assert sorted(order1.tolist()) == sorted(y.tolist()) and not np.array_equal(order0, order1)
    textured_it = gen.flow(textured(20), np.arange(20), batch_size=20, seed=3, shuffle=False)
    a = textured_it[0][0]
    textured_it.on_epoch_end()
    assert not np.array_equal(a, textured_it[0][0])


def test_seed_makes_it_reproducible_and_none_follows_numpy_global_seed():
    x, y = textured(20), np.arange(20)
    gen = ImageDataGenerator(**SEED_KWARGS)
    a, b = gen.flow(x, y, batch_size=5, seed=7), gen.flow(x, y, batch_size=5, seed=7)
    assert all(np.array_equal(a[i][0], b[i][0]) and np.array_equal(a[i][1], b[i][1])
               for i in range(4))
    np.random.seed(123)
    c = gen.flow(x, y, batch_size=5)
    np.random.seed(123)
    d = gen.flow(x, y, batch_size=5)
    assert np.array_equal(c[0][0], d[0][0])


def test_next_iterates_endlessly_across_epochs_like_keras():
    x, y = encoded(10)
    it = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    sizes = [len(next(it)[1]) for _ in range(7)]
    assert sizes == [4, 4, 2, 4, 4, 2, 4]
    assert it.next()[0].shape == (4, 10, 10, 3)
    for batch_x, batch_y in ImageDataGenerator().flow(x, y, batch_size=4):
        assert batch_x.shape[0] == len(batch_y)
        break


def test_outputs_sample_weight_extra_inputs_and_images_only():
    x, y = encoded(12)
    w = np.linspace(0, 1, 12)
    gen = ImageDataGenerator()
    bx, by, bw = gen.flow(x, y, sample_weight=w, batch_size=6, shuffle=False)[1]
    assert np.array_equal(by, y[6:]) and np.array_equal(bw, w[6:])
    extra = np.arange(12) * 10
    (images, side), labels = gen.flow((x, extra), y, batch_size=6, shuffle=False)[0]
    assert np.array_equal(side, extra[:6]) and images.shape == (6, 10, 10, 3)
    only = gen.flow(x, batch_size=6, shuffle=False)[0]
    assert isinstance(only, np.ndarray) and only.shape == (6, 10, 10, 3)


def test_subset_split_is_keras_first_fraction_validation():
    x, y = encoded(20)
    gen = ImageDataGenerator(validation_split=0.25)
    y2 = np.arange(20) % 2
    val = gen.flow(x, y2, batch_size=20, subset="validation", shuffle=False)
    train = gen.flow(x, y2, batch_size=20, subset="training", shuffle=False)
    assert val.n == 5 and train.n == 15
    assert np.array_equal(val[0][0][:, 0, 0, 0], np.arange(5))
    with pytest.raises(ValueError, match="different number of classes"):
        gen.flow(x, np.sort(y2), subset="training")
    assert gen.flow(x, np.sort(y2), subset="training", ignore_class_split=True).n == 15
    with pytest.raises(ValueError, match="Invalid subset name"):
        gen.flow(x, y2, subset="test")


def test_channels_first_dtype_and_grayscale():
    x, y = encoded(6, channels=1)
    gen = ImageDataGenerator(data_format="channels_first", dtype="float64", rotation_range=10,
                             horizontal_flip=True)
    cf = np.moveaxis(x, 3, 1)
    images, labels = gen.flow(cf, y, batch_size=6, shuffle=False)[0]
    assert images.shape == (6, 1, 10, 10) and images.dtype == np.float64
    assert np.array_equal(images[:, 0, 0, 0], labels.astype(np.float64))
    gen.fit(np.moveaxis(textured(4), 3, 1))  # no statistics requested: nothing to compute


def test_many_channels_get_one_transform():
    """Keras warns but accepts 2 or 5 channels; every channel gets the same warp."""
    x = textured(4, channels=1)
    x5 = np.repeat(x, 5, axis=3)
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.2)
    with pytest.warns(UserWarning, match="channels"):
        it = gen.flow(x5, batch_size=4, seed=1, shuffle=False)
    out = it[0]
    assert out.shape == (4, 16, 16, 5)
    assert all(np.array_equal(out[..., 0], out[..., c]) for c in range(5))


# -- standardize and fit --------------------------------------------------------------------------
def test_fit_featurewise_statistics_like_keras():
    x = textured(30).astype(np.float32)
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                             rescale=1 / 255)
    gen.fit(x)
    scaled = x / 255
    np.testing.assert_allclose(gen.mean.ravel(), scaled.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gen.std.ravel(), scaled.std(axis=(0, 1, 2)), rtol=1e-4)
    assert gen.mean.shape == (1, 1, 3)
    it = gen.flow(x, np.arange(30), batch_size=10, shuffle=False)
    out = np.concatenate([it[i][0] for i in range(len(it))])
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    legacy = keras_idg()(featurewise_center=True, featurewise_std_normalization=True,
                         rescale=1 / 255)
    legacy.fit(x)
    np.testing.assert_allclose(gen.mean, legacy.mean, rtol=1e-5)
    np.testing.assert_allclose(gen.std, legacy.std, rtol=1e-4)


def test_fit_with_augmentation_rounds_and_zca():
    x = textured(12, size=6).astype(np.float32)
    gen = ImageDataGenerator(featurewise_center=True, rotation_range=30, horizontal_flip=True)
    gen.fit(x, augment=True, rounds=3, seed=1)
    assert gen.mean.shape == (1, 1, 3) and np.isfinite(gen.mean).all()
    with pytest.warns(UserWarning, match="zca_whitening"):
        zca = ImageDataGenerator(zca_whitening=True)
    zca.fit(x)
    assert zca.zca_whitening_matrix.shape == (108, 108)
    legacy = keras_idg()(zca_whitening=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy.fit(x)
    np.testing.assert_allclose(zca.zca_whitening_matrix, legacy.zca_whitening_matrix,
                               rtol=1e-3, atol=1e-3)
    white = zca.flow(x, batch_size=12, shuffle=False)[0]
    assert np.isfinite(white).all()
    with pytest.raises(ValueError, match="rank 4"):
        gen.fit(x[0])
    with pytest.raises(ValueError, match="rounds"):
        gen.fit(x, augment=True, rounds=0)


def test_standardize_order_and_samplewise():
    calls = []

    def prep(image):
        calls.append(float(image.max()))
        return image + 255.0  # runs before rescale: its output gets rescaled too

    gen = ImageDataGenerator(preprocessing_function=prep, rescale=0.5)
    out = gen.flow(np.zeros((3, 4, 4, 3), np.uint8), batch_size=3, shuffle=False)[0]
    assert calls == [0.0, 0.0, 0.0] and np.allclose(out, 127.5)
    sw = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    batch = sw.flow(textured(4).astype(np.float32), batch_size=4, shuffle=False)[0]
    np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(batch.std(axis=(1, 2, 3)), 1.0, atol=1e-3)
    single = textured(1)[0].astype(np.float32)
    legacy = keras_idg()(samplewise_center=True, rescale=0.5)
    expected = legacy.standardize(single.copy())
    np.testing.assert_allclose(ImageDataGenerator(samplewise_center=True, rescale=0.5)
                               .standardize(single.copy()), expected, rtol=1e-6)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        ImageDataGenerator(featurewise_center=True).standardize(single.copy())


# -- one image at a time ---------------------------------------------------------------------------
def test_get_random_transform_keys_and_ranges():
    gen = ImageDataGenerator(rotation_range=20, width_shift_range=0.1, height_shift_range=3,
                             shear_range=5, zoom_range=0.2, channel_shift_range=10,
                             brightness_range=[0.5, 1.5], horizontal_flip=True)
    keys = set(keras_idg()().get_random_transform((8, 8, 3)))
    draws = [gen.get_random_transform((20, 30, 3), seed=s) for s in range(400)]
    assert set(draws[0]) == keys
    col = lambda k: np.array([d[k] for d in draws], dtype=float)  # noqa: E731
    assert np.abs(col("theta")).max() <= 20 and np.abs(col("theta")).max() > 15
    assert np.abs(col("tx")).max() <= 3.0 and np.abs(col("tx")).max() > 2.5  # 0.1 * width 30
    assert set(np.abs(col("ty")).tolist()) <= {0.0, 1.0, 2.0}  # int 3: pixels in (-3, 3)
    assert col("zx").min() >= 0.8 and col("zy").max() <= 1.2
    assert 0.35 < col("flip_horizontal").mean() < 0.65 and not col("flip_vertical").any()
    assert np.abs(col("channel_shift_intensity")).max() <= 10
    assert 0.5 <= col("brightness").min() and col("brightness").max() <= 1.5
    assert gen.get_random_transform((20, 30, 3), seed=5) == draws[5]


def test_same_distributions_as_keras_class():
    kwargs = dict(rotation_range=25, width_shift_range=0.2, zoom_range=[0.7, 1.1])
    ours = ImageDataGenerator(**kwargs)
    theirs = keras_idg()(**kwargs)
    shape = (20, 30, 3)
    np.random.seed(0)
    k = [theirs.get_random_transform(shape) for _ in range(3000)]
    a = [ours.get_random_transform(shape, seed=s) for s in range(3000)]
    # Keras draws width_shift_range into "ty" (its axes are swapped); the amounts are equal
    pairs = [("theta", "theta"), ("tx", "ty"), ("zx", "zx"), ("zy", "zy")]
    for mine, keras_key in pairs:
        qa = np.quantile([d[mine] for d in a], [0.05, 0.25, 0.5, 0.75, 0.95])
        qk = np.quantile([d[keras_key] for d in k], [0.05, 0.25, 0.5, 0.75, 0.95])
        spread = qk[-1] - qk[0]
        assert np.abs(qa - qk).max() < 0.05 * spread, (mine, qa, qk)


def test_apply_transform_units_and_shift_axes():
    column = np.zeros((9, 9, 1), np.float32)
    column[:, 4] = 255
    gen = ImageDataGenerator(fill_mode="constant")
    moved = gen.apply_transform(column, {"tx": 2})
    assert np.nonzero(moved[:, :, 0].sum(axis=0))[0].tolist() == [6]  # tx: along x
    down = gen.apply_transform(column.transpose(1, 0, 2), {"ty": 2})
    assert np.nonzero(down[:, :, 0].sum(axis=1))[0].tolist() == [6]  # ty: along y
    flipped = gen.apply_transform(column, {"flip_horizontal": True})
    assert np.array_equal(flipped, column)  # symmetric column
    ramp = np.tile(np.arange(9, dtype=np.float32)[None, :, None], (9, 1, 1))
    assert np.array_equal(gen.apply_transform(ramp, {"flip_horizontal": True}), ramp[:, ::-1])
    assert np.array_equal(gen.apply_transform(ramp, {"flip_vertical": True}), ramp)
    bright = gen.apply_transform(np.full((4, 4, 3), 100.0, np.float32), {"brightness": 1.5})
    assert np.allclose(bright, 150)
    shifted = gen.apply_transform(np.full((4, 4, 3), 100, np.uint8),
                                  {"channel_shift_intensity": 30.0})
    assert shifted.dtype == np.uint8 and (shifted == 100).all()  # clipped to the image's range
    rotated = gen.apply_transform(column, {"theta": 90})
    assert np.nonzero(rotated[:, :, 0].sum(axis=1))[0].tolist() == [4]  # column → row
    out = gen.random_transform(textured(1)[0], seed=3)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="rank 3"):
        gen.apply_transform(textured(2), {})
    with pytest.raises(ValueError, match="zx"):
        gen.apply_transform(column, {"zx": 0})


def test_flow_shift_axis_check():
    """width_shift_range moves content horizontally (Keras' class moves it vertically)."""
    column = np.zeros((1, 16, 16, 1), np.uint8)
    column[0, :, 8] = 255
    gen = ImageDataGenerator(width_shift_range=[3], fill_mode="constant")
    out = gen.flow(column, batch_size=1, seed=1)[0][0, :, :, 0]
    lit_columns = np.nonzero(out.sum(axis=0))[0].tolist()
    lit_rows = np.nonzero(out.sum(axis=1))[0].tolist()
    assert lit_columns in ([5], [11]) and lit_rows == list(range(16))
    tall = ImageDataGenerator(height_shift_range=[3], fill_mode="constant")
    row = np.ascontiguousarray(column.transpose(0, 2, 1, 3))
    out = tall.flow(row, batch_size=1, seed=1)[0][0, :, :, 0]
    assert np.nonzero(out.sum(axis=1))[0].tolist() in ([5], [11])


def test_flow_matches_keras_statistics_on_pixels():
    """Same augmentation strength as Keras' class: mean pixel change within 15 %."""
    pytest.importorskip("scipy")
    x = textured(64, size=24).astype(np.float32)
    kwargs = dict(rotation_range=20, width_shift_range=0.15, height_shift_range=0.15,
                  zoom_range=0.15)
    ours = ImageDataGenerator(**kwargs).flow(x, batch_size=64, shuffle=False, seed=0)[0]
    theirs = keras_idg()(**kwargs).flow(x, batch_size=64, shuffle=False, seed=0)[0]
    change_ours = np.abs(ours - x).mean()
    change_theirs = np.abs(theirs - x).mean()
    assert abs(change_ours - change_theirs) < 0.15 * change_theirs
    assert abs(ours.mean() - theirs.mean()) < 0.03 * theirs.mean()


# -- arguments -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    dict(data_format="channels_middle"), dict(validation_split=1.5), dict(zoom_range="big"),
    dict(zoom_range=[0.5, 1.0, 2.0]), dict(brightness_range=1.2), dict(rotation_range=-5),
    dict(width_shift_range="x"), dict(fill_mode="mirror"), dict(horizontal_flip="yes"),
    dict(interpolation_order=3), dict(preprocessing_function=5), dict(rescale="1/255"),
    dict(zoom_range=1.5), dict(dtype="not-a-dtype"), dict(featurewise_center=1),
])
def test_invalid_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        ImageDataGenerator(**kwargs)


def test_invalid_inputs_raise_value_error():
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="same length"):
        gen.flow(np.zeros((4, 8, 8, 3), np.uint8), np.arange(3))
    with pytest.raises(ValueError, match="sample_weight"):
        gen.flow(np.zeros((4, 8, 8, 3), np.uint8), np.arange(4), sample_weight=np.ones(2))
    with pytest.raises(ValueError, match="batch_size"):
        gen.flow(np.zeros((4, 8, 8, 3), np.uint8), batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        gen.flow(np.zeros((4, 8, 8, 3), np.uint8), seed=-2)
    with pytest.raises(ValueError):
        gen.flow(np.full((4, 8, 8, 3), np.nan, np.float32))


def test_keras_compatible_overrides_warn():
    with pytest.warns(UserWarning, match="featurewise_center"):
        gen = ImageDataGenerator(featurewise_std_normalization=True)
    assert gen.featurewise_center
    with pytest.warns(UserWarning, match="samplewise_center"):
        gen = ImageDataGenerator(samplewise_std_normalization=True)
    assert gen.samplewise_center


def test_model_fit_on_flow():
    x, y = textured(40), np.arange(40) % 3
    gen = ImageDataGenerator(rescale=1 / 255, **SEED_KWARGS)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    it = gen.flow(x, y, batch_size=16, seed=0)
    history = model.fit(it, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    # Keras calls on_epoch_end after each epoch (and once more after building the model)
    assert it.epoch >= 2
