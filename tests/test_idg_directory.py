"""ImageDataGenerator.flow_from_directory: Keras' listing, split, class modes, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

import augkit  # noqa: E402
from augkit.idg import ImageDataGenerator  # noqa: E402


def save(path: Path, value: int, shape=(12, 10, 3), dtype=np.uint8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, dtype)).save(path)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "flowers"
    for i in range(4):
        save(root / "daisy" / f"d{i}.png", 10 + i)
    save(root / "daisy" / "nested" / "deep" / "d9.png", 19)
    save(root / "daisy" / "grey.png", 30, shape=(12, 10))
    save(root / "rose" / "r0.png", 100)
    save(root / "rose" / "r1.bmp", 101)
    save(root / "rose" / "rgba.png", 120, shape=(12, 10, 4))
    Image.fromarray(np.full((12, 10), 50000, np.uint16)).save(root / "rose" / "deep16.png")
    (root / "rose" / "notes.txt").write_text("skip me")
    return root


def test_listing_like_keras(tree):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=(6, 5), batch_size=4,
                                                  shuffle=False)
    assert it.class_indices == {"daisy": 0, "rose": 1}
    assert it.samples == it.n == 10 and it.num_classes == 2 and len(it) == 3
    # Keras' order: folders walked in sorted path order, files sorted within each folder
    assert it.filenames[:6] == ["daisy/d0.png", "daisy/d1.png", "daisy/d2.png",
                                "daisy/d3.png", "daisy/grey.png", "daisy/nested/deep/d9.png"]
    assert it.classes.tolist() == [0] * 6 + [1] * 4 and it.labels is it.classes
    assert it.filepaths[0] == str(tree / "daisy" / "d0.png")
    images, labels = it[0]
    assert images.shape == (4, 6, 5, 3) and images.dtype == np.float32
    assert labels.shape == (4, 2) and labels[:, 0].tolist() == [1, 1, 1, 1]
    assert it.image_shape == (6, 5, 3)


def test_conversions_grey_rgba_16_bit(tree):
    gen = ImageDataGenerator()
    rgb = gen.flow_from_directory(tree, target_size=(12, 10), batch_size=10, shuffle=False,
                                  class_mode="sparse")
    images, labels = rgb[0]
    assert images[:, 0, 0, 0].tolist() == [10, 11, 12, 13, 30, 19, 195, 100, 101, 120]
    assert labels.tolist() == [0] * 6 + [1] * 4  # 50000 >> 8 == 195 for the 16-bit file
    grey = gen.flow_from_directory(tree, target_size=(12, 10), color_mode="grayscale",
                                   batch_size=10, shuffle=False, class_mode=None)
    assert grey[0].shape == (10, 12, 10, 1)
    rgba = gen.flow_from_directory(tree, target_size=(12, 10), color_mode="rgba",
                                   batch_size=10, shuffle=False, class_mode="input")
    batch_x, batch_y = rgba[0]
    assert batch_x.shape == (10, 12, 10, 4) and np.array_equal(batch_x, batch_y)


def test_validation_split_per_class_first_fraction(tree):
    gen = ImageDataGenerator(validation_split=0.5)
    train = gen.flow_from_directory(tree, target_size=(4, 4), subset="training")
    val = gen.flow_from_directory(tree, target_size=(4, 4), subset="validation")
    assert val.filenames == ["daisy/d0.png", "daisy/d1.png", "daisy/d2.png",
                             "rose/deep16.png", "rose/r0.png"]
    assert train.samples == 5 and not set(train.filenames) & set(val.filenames)
    with pytest.raises(ValueError, match="Invalid subset"):
        gen.flow_from_directory(tree, subset="test")


def test_augmentation_keeps_labels_and_is_reproducible(tree):
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.2, horizontal_flip=True,
                             rescale=1 / 255)
    a = gen.flow_from_directory(tree, target_size=(8, 8), batch_size=3, seed=4,
                                class_mode="binary")
    b = gen.flow_from_directory(tree, target_size=(8, 8), batch_size=3, seed=4,
                                class_mode="binary")
    for i in range(len(a)):
        (xa, ya), (xb, yb) = a[i], b[i]
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
        flat = xa.reshape(len(xa), -1)
        assert np.allclose(flat, flat[:, :1], atol=1e-6)  # flat images stay flat
        assert ((flat[:, 0] * 255 >= 100) == (ya == 1)).all()


def test_keep_aspect_ratio_interpolation_and_save_to_dir(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :10] = 255
    (tmp_path / "d" / "c").mkdir(parents=True)
    Image.fromarray(image).save(tmp_path / "d" / "c" / "wide.png")
    out = tmp_path / "out"
    out.mkdir()
    gen = ImageDataGenerator()
    kept = gen.flow_from_directory(tmp_path / "d", target_size=(10, 10), keep_aspect_ratio=True,
                                   interpolation="bilinear", save_to_dir=str(out),
                                   save_prefix="aug", class_mode=None)[0]
    assert kept.max() == 0 and len(list(out.glob("aug_0_0.png"))) == 1
    with pytest.raises(ValueError, match="interpolation"):
        gen.flow_from_directory(tmp_path / "d", interpolation="cubic")


def test_bad_arguments_and_bad_files(tree, tmp_path):
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="color mode"):
        gen.flow_from_directory(tree, color_mode="cmyk")
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(tree, class_mode="onehot")
    with pytest.raises(ValueError, match="not a directory"):
        gen.flow_from_directory(tmp_path / "nowhere")
    (tree / "rose" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    it = gen.flow_from_directory(tree, target_size=(4, 4), batch_size=20, shuffle=False)
    with pytest.raises(augkit.InputError, match="broken.png"):
        it[0]
    save(tree / "rose" / "huge.png", 1, shape=(64, 64, 3))
    guarded = gen.flow_from_directory(tree, target_size=(4, 4), batch_size=1, shuffle=False,
                                      max_pixels=1000)
    index = guarded.filenames.index("rose/huge.png")
    with pytest.raises(augkit.InputError, match="decompression-bomb"):
        guarded[index]


def test_model_fit_on_flow_from_directory(tree):
    gen = ImageDataGenerator(rescale=1 / 255, rotation_range=10, validation_split=0.3)
    train = gen.flow_from_directory(tree, target_size=(8, 8), batch_size=4, subset="training")
    val = gen.flow_from_directory(tree, target_size=(8, 8), batch_size=4, subset="validation")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
