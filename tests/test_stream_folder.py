"""augkit.stream on class-per-folder directories: layout, conversions, bad files, laziness."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import augkit  # noqa: E402
from augkit.decode import SkippedFileWarning  # noqa: E402
from augkit.stream import stream  # noqa: E402

GEOMETRIC = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.2,
                                       zoom_range=0.2, horizontal_flip=True)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def flat(value: int, shape=(10, 14, 3), dtype=np.uint8) -> np.ndarray:
    return np.full(shape, value, dtype)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """Two classes, nested subfolders; every image's grey level encodes its class and rank."""
    root = tmp_path / "data"
    for i in range(5):
        save(root / "cat" / f"c{i}.png", flat(10 + i))
    save(root / "cat" / "inner" / "deeper" / "c5.png", flat(15))
    for i in range(4):
        save(root / "dog" / f"d{i}.png", flat(100 + i))
    save(root / "dog" / "sub" / "d4.jpg", flat(104))  # JPEG of a flat grey is exact
    (root / "notes.txt").write_text("not a class")
    (root / "dog" / "readme.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def drain(ds) -> list:
    return [tuple(np.asarray(t) for t in b) for b in ds]


def test_layout_classes_sorted_nested_and_lazy_spec(tree):
    ds = stream(tree, pipeline=None, batch_size=4, image_size=(8, 9), shuffle=False)
    assert ds.class_names == ["cat", "dog"]
    assert len(ds.file_paths) == 11 and len(ds) == 3
    assert ds.element_spec[0].shape.as_list() == [None, 8, 9, 3]
    assert ds.element_spec[1].dtype == tf.int32
    batches = drain(ds)
    labels = np.concatenate([b[1] for b in batches])
    values = np.concatenate([b[0][:, 0, 0, 0] for b in batches])
    assert labels.tolist() == [0] * 6 + [1] * 5
    assert values.tolist() == [10, 11, 12, 13, 14, 15, 100, 101, 102, 103, 104]


def test_labels_stay_aligned_with_shuffle_augmentation_and_parallel_decode(tree):
    ds = stream(tree, pipeline=GEOMETRIC, batch_size=3, image_size=(8, 8), seed=3,
                num_parallel_calls=4)
    for _ in range(2):
        seen = []
        for images, labels in drain(ds):
            values = images.reshape(len(images), -1)
            assert (values == values[:, :1]).all()  # still flat: nearest fill, exact warp
            assert ((values[:, 0] >= 100) == (labels == 1)).all()
            seen += values[:, 0].tolist()
        assert sorted(seen) == [10, 11, 12, 13, 14, 15, 100, 101, 102, 103, 104]


def test_reproducible_and_reshuffled_per_epoch(tree):
    def run(seed):
        ds = stream(tree, pipeline=GEOMETRIC, batch_size=4, image_size=(8, 8), seed=seed)
        return [np.concatenate([b[0][:, 0, 0, 0] for b in drain(ds)]) for _ in range(2)]

    a, b = run(1), run(1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize("color_mode, channels", [("rgb", 3), ("grayscale", 1), ("rgba", 4)])
def test_grey_rgba_and_16_bit_files_are_converted(tmp_path, color_mode, channels):
    root = tmp_path / "mixed"
    save(root / "a" / "grey.png", flat(80, (6, 6)))
    save(root / "a" / "rgba.png", flat(120, (6, 6, 4)))
    Image.fromarray(flat(40000, (6, 6), np.uint16)).save(root / "a" / "deep16.png")
    save(root / "a" / "rgb.png", flat(200, (6, 6, 3)))
    ds = stream(root, pipeline=None, batch_size=8, image_size=(6, 6), color_mode=color_mode,
                shuffle=False)
    images, labels = drain(ds)[0]
    assert images.shape == (4, 6, 6, channels) and images.dtype == np.uint8
    first = images[:, 0, 0, 0].tolist()
    # 16-bit keeps its high byte (40000 >> 8 == 156); grey/colour conversions keep levels.
    assert first == [156, 80, 200, 120]


def test_resize_and_crop_to_aspect_ratio(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :10] = 255  # white left quarter, cropped away by a centred square crop
    save(tmp_path / "d" / "c" / "wide.png", image)
    stretched = drain(stream(tmp_path / "d", pipeline=None, batch_size=1, image_size=(10, 10)))
    cropped = drain(stream(tmp_path / "d", pipeline=None, batch_size=1, image_size=(10, 10),
                           crop_to_aspect_ratio=True))
    assert stretched[0][0].shape == (1, 10, 10, 3) and stretched[0][0].max() == 255
    assert cropped[0][0].max() == 0


def test_label_modes(tree):
    cat = drain(stream(tree, pipeline=None, batch_size=16, image_size=(4, 4),
                       label_mode="categorical", shuffle=False))[0][1]
    assert cat.dtype == np.float32 and cat.shape == (11, 2)
    assert cat[:, 1].tolist() == [0] * 6 + [1] * 5
    binary = drain(stream(tree, pipeline=None, batch_size=16, image_size=(4, 4),
                          label_mode="binary", shuffle=False))[0][1]
    assert binary.shape == (11, 1) and binary.dtype == np.float32
    images_only = stream(tree, pipeline=None, batch_size=16, image_size=(4, 4), label_mode=None)
    assert isinstance(images_only.element_spec, tf.TensorSpec)
    chosen = stream(tree, pipeline=None, batch_size=16, image_size=(4, 4),
                    class_names=["dog"], shuffle=False)
    assert chosen.class_names == ["dog"] and len(chosen.file_paths) == 5


def test_validation_split_by_seed(tree):
    def files(subset, seed=1):
        return stream(tree, pipeline=None, image_size=(4, 4), validation_split=0.3,
                      subset=subset, seed=seed).file_paths

    train, val = files("training"), files("validation")
    assert len(val) == 3 and len(train) == 8 and not set(train) & set(val)
    assert files("validation") == val


def test_validation_split_of_an_expand_folder_keeps_copies_together(tmp_path):
    # flat images, grey level = source id; a flip keeps them flat, so copies show their id
    n = 12
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None] * 20,
                        (n, 6, 6, 3)).copy()
    np.savez(tmp_path / "src.npz", x=x, y=np.arange(n) % 2)
    out = tmp_path / "expanded"
    augkit.expand(tmp_path / "src.npz", out, copies=2, format="png", scheduler="synchronous",
                  pipeline=augkit.Pipeline.from_keras(horizontal_flip=True))
    extra = save(out / "0" / "mine.png", flat(250, (6, 6, 3)))  # not written by expand

    def ids(subset):
        ds = stream(out, pipeline=None, image_size=(6, 6), validation_split=0.25,
                    subset=subset, seed=4, batch_size=64)
        images = np.concatenate([b[0].numpy() for b in ds])
        assert ds.num_items == len(images)
        return [int(v) // 20 if v < 250 else -1 for v in images[:, 0, 0, 0]]

    train, val = ids("training"), ids("validation")
    assert not set(train) & set(val)  # the copies of a picture stay on one side
    assert sorted(train + val) == sorted(list(range(n)) * 3 + [-1])
    assert len(set(val)) == int(0.25 * (n + 1))  # sources, plus the extra file on its own
    assert extra.exists()


@pytest.fixture()
def with_bad_files(tree: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    full = save(tree / "cat" / "b_truncated.png", noise).read_bytes()
    (tree / "cat" / "b_truncated.png").write_bytes(full[: len(full) // 2])  # pixels lost
    (tree / "cat" / "b_empty.png").write_bytes(b"")
    (tree / "dog" / "b_text.jpg").write_text("this is not a JPEG")
    save(tree / "dog" / "b_large.png", flat(7, (40, 40, 3)))  # over max_pixels below
    return tree


def test_skip_drops_bad_files_with_one_warning_each_and_keeps_labels(with_bad_files):
    ds = stream(with_bad_files, pipeline=GEOMETRIC, batch_size=4, image_size=(8, 8),
                on_error="skip", max_pixels=1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        epochs = [drain(ds) for _ in range(2)]
    messages = [str(w.message) for w in caught if issubclass(w.category, SkippedFileWarning)]
    assert len(messages) == 4  # once per bad file, not once per epoch
    for name in ("b_truncated.png", "b_empty.png", "b_text.jpg", "b_large.png"):
        assert sum(name in m for m in messages) == 1
    assert any("decompression-bomb" in m for m in messages)
    skipped = {Path(ds.file_paths[item]).name for item in ds.skipped_files}
    assert skipped == {"b_truncated.png", "b_empty.png", "b_text.jpg", "b_large.png"}
    for batches in epochs:
        values = np.concatenate([b[0][:, 0, 0, 0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        assert sorted(values.tolist()) == [10, 11, 12, 13, 14, 15, 100, 101, 102, 103, 104]
        assert ((values >= 100) == (labels == 1)).all()


@pytest.mark.parametrize("bad", ["b_truncated.png", "b_empty.png", "b_text.jpg", "b_large.png"])
def test_raise_names_the_bad_file(tmp_path, bad, with_bad_files):
    root = tmp_path / "one"
    (root / "x").mkdir(parents=True)
    source = next(p for p in with_bad_files.rglob(bad))
    (root / "x" / bad).write_bytes(source.read_bytes())
    save(root / "x" / "fine.png", flat(1))
    ds = stream(root, pipeline=None, batch_size=2, image_size=(8, 8), max_pixels=1000)
    with pytest.raises(tf.errors.InvalidArgumentError, match=bad):
        drain(ds)


def test_decoding_is_lazy_no_shuffle_buffer_or_cache(tree):
    ds = stream(tree, pipeline=GEOMETRIC, batch_size=4, image_size=(8, 8))
    graph = ds._as_serialized_graph().numpy()
    assert b"ShuffleDataset" not in graph and b"CacheDataset" not in graph
    assert ds.skipped_files == {}


def test_folder_errors(tmp_path, tree):
    (tmp_path / "empty").mkdir()
    with pytest.raises(augkit.InputError, match="no class subfolders"):
        stream(tmp_path / "empty", pipeline=None)
    with pytest.raises(augkit.InputError, match="not a folder"):
        stream(tmp_path / "missing", pipeline=None)
    with pytest.raises(ValueError, match="labels"):
        stream(tree, np.arange(3), pipeline=None)
    with pytest.raises(ValueError, match="binary"):
        save(tree / "bird" / "b.png", flat(1))
        stream(tree, pipeline=None, label_mode="binary")
    for kwargs in (dict(image_size=(0, 4)), dict(color_mode="cmyk"), dict(max_pixels=0),
                   dict(interpolation="cubic"), dict(service="grpc://localhost:1")):
        with pytest.raises(ValueError):
            stream(tree, pipeline=None, **kwargs)


def test_a_model_trains_on_a_folder_stream(tree):
    ds = stream(tree, pipeline=GEOMETRIC.from_dict({**GEOMETRIC.to_dict(), "ops": [
        *GEOMETRIC.to_dict()["ops"], {"op": "rescale", "scale": 1 / 255}]}),
        batch_size=4, image_size=(8, 8))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("fmt", ["png", "npz", "tfrecord"])
def test_expansion_output_is_a_source(tmp_path, fmt):
    """`augkit expand` output: image formats are class folders, npz/tfrecord are shards."""
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "src.npz", x=x, y=np.arange(6) % 2)
    out = tmp_path / f"out-{fmt}"
    augkit.expand(tmp_path / "src.npz", out, pipeline=GEOMETRIC, copies=2, format=fmt,
                  shard_size=4, scheduler="threads")
    ds = stream(out, pipeline=GEOMETRIC, batch_size=32, image_size=(8, 8) if fmt == "png"
                else None, shuffle=False)
    images, labels = drain(ds)[0]
    assert images.shape == (18, 8, 8, 3) and sorted(labels.tolist()) == [0] * 9 + [1] * 9
    assert ds.class_names == ["0", "1"]


def test_tfrecord_shards_hold_the_same_pixels_as_png_output(tmp_path):
    """The stream decodes expand's TFRecord shards to exactly the pictures of its PNG output."""
    x = np.random.default_rng(1).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "src.npz", x=x, y=np.array([0, 1, 0, 1, 1]))
    got = {}
    for fmt in ("npz", "tfrecord"):
        out = tmp_path / f"out-{fmt}"
        augkit.expand(tmp_path / "src.npz", out, pipeline=GEOMETRIC, copies=1, format=fmt,
                      shard_size=3, scheduler="threads")
        images, labels = drain(stream(out, pipeline=None, batch_size=32, shuffle=False))[0]
        got[fmt] = (images, labels)
    np.testing.assert_array_equal(got["npz"][0], got["tfrecord"][0])
    np.testing.assert_array_equal(got["npz"][1], got["tfrecord"][1])
