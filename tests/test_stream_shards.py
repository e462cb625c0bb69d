"""augkit.stream on `augkit expand` shard folders: rows read on demand, the same stream as the
concatenated arrays, labels aligned, bad shards reported by name."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

import augkit
from augkit.expansion.shards import npz_bytes
from augkit.shard_reader import ShardArray, open_shards
from augkit.stream import stream
from augkit.train_data import resolve_data

# fill "nearest" keeps a constant image constant: every augmented image still shows its label
GEOMETRIC = augkit.Pipeline.from_keras(rotation_range=25, width_shift_range=0.2,
                                       zoom_range=0.2, horizontal_flip=True)
FORMATS = ["npz", "tfrecord"]
N = 45  # images; shards of 8, so 6 shards


def encoded(n: int, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Image i is flat grey level i (its own id); its label is i % 3."""
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, 3))
    return x.copy(), np.arange(n) % 3


def write_shards(tmp: Path, fmt: str, x: np.ndarray, y: np.ndarray, shard_size: int = 8,
                 name: str = "out") -> Path:
    np.savez(tmp / f"{name}-src.npz", x=x, y=y)
    out = tmp / f"{name}-{fmt}"
    augkit.expand(tmp / f"{name}-src.npz", out, pipeline=augkit.Pipeline(), copies=0,
                  format=fmt, shard_size=shard_size, scheduler="synchronous")
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    """Flat images (grey level = id, label = id % 3), in both formats."""
    tmp = tmp_path_factory.mktemp("shards")
    x, y = encoded(N)
    return {fmt: write_shards(tmp, fmt, x, y) for fmt in FORMATS}


@pytest.fixture(scope="module")
def textured(tmp_path_factory) -> dict[str, Path]:
    """Random textures, label = id, in both formats."""
    tmp = tmp_path_factory.mktemp("textured")
    x = np.random.default_rng(0).integers(0, 256, (N, 8, 8, 3), dtype=np.uint8)
    return {fmt: write_shards(tmp, fmt, x, np.arange(N)) for fmt in FORMATS}


def eager(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """What augkit.stream loaded before it read shards lazily: every shard, concatenated."""
    npz = sorted(folder.glob("shard-*.npz"))
    if npz:
        xs, ys = [], []
        for path in npz:
            with np.load(path) as data:
                if len(data["x"]):
                    xs.append(data["x"])
                    ys.append(data["y"])
        return np.concatenate(xs), np.concatenate(ys)
    images, labels = [], []
    for record in tf.data.TFRecordDataset([str(p) for p in sorted(folder.glob("*.tfrecord"))]):
        features = tf.train.Example.FromString(record.numpy()).features.feature
        images.append(tf.io.decode_png(features["image"].bytes_list.value[0]).numpy())
        labels.append(features["label"].int64_list.value[0])
    return np.stack(images), np.asarray(labels)


def drain(ds) -> list[tuple[np.ndarray, ...]]:
    return [tuple(np.asarray(t) for t in (b if isinstance(b, tuple) else (b,))) for b in ds]


def ids(batches) -> list[int]:
    return [int(v) for b in batches for v in b[0][:, 0, 0, 0]]


class Reads:
    """Counts the rows ShardArray reads (every read of image data goes through read())."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[int] = []
        original = ShardArray.read

        def read(array, rows):
            self.calls.append(len(np.asarray(rows).reshape(-1)))
            return original(array, rows)

        monkeypatch.setattr(ShardArray, "read", read)

    @property
    def rows(self) -> int:
        return sum(self.calls)


# -- the same stream as the arrays ----------------------------------------------------------------
# the tf backend reads through the same ShardArray.read: one format is enough there
COMBOS = [("npz", "cv"), ("tfrecord", "cv"), ("npz", "tf")]


@pytest.mark.parametrize("fmt, backend", COMBOS)
def test_shard_stream_is_the_stream_of_the_concatenated_arrays(shards, fmt, backend):
    x, y = eager(shards[fmt])
    kwargs = {"pipeline": GEOMETRIC, "batch_size": 7, "seed": 11, "backend": backend, "epochs": 2}
    lazy, arrays = drain(stream(shards[fmt], **kwargs)), drain(stream(x, y, **kwargs))
    assert len(lazy) == len(arrays) == 14
    for (li, ll), (ai, al) in zip(lazy, arrays):
        np.testing.assert_array_equal(ll, al)
        np.testing.assert_array_equal(li, ai)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_same_stream_and_each_epoch_is_fresh(textured, fmt):
    a = stream(textured[fmt], pipeline=GEOMETRIC, batch_size=8, seed=4)
    b = stream(textured[fmt], pipeline=GEOMETRIC, batch_size=8, seed=4, num_parallel_calls=3)
    epochs_a, epochs_b = [drain(a), drain(a)], [drain(b), drain(b)]
    for ea, eb in zip(epochs_a, epochs_b):
        for (ia, la), (ib, lb) in zip(ea, eb):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_array_equal(la, lb)
    first, second = ([int(v) for b in e for v in b[1]] for e in epochs_a)
    assert sorted(first) == sorted(second) == list(range(N))
    assert first != second  # a new order
    by_id = [{int(label): img for b in e for img, label in zip(*b)} for e in epochs_a]
    plain, _ = eager(textured[fmt])
    changed = sum(not np.array_equal(by_id[0][i], by_id[1][i]) for i in range(N))
    assert changed > N // 2  # new augmentation parameters in epoch 1
    assert sum(not np.array_equal(by_id[0][i], plain[i]) for i in range(N)) > N // 2
    other = drain(stream(textured[fmt], pipeline=GEOMETRIC, batch_size=8, seed=5))
    assert [int(v) for b in other for v in b[1]] != first


@pytest.mark.parametrize("fmt, backend", [("npz", "cv"), ("tfrecord", "cv"), ("tfrecord", "tf")])
def test_labels_stay_aligned(shards, fmt, backend):
    ds = stream(shards[fmt], pipeline=GEOMETRIC, batch_size=6, seed=2, backend=backend,
                num_parallel_calls=4)
    for _ in range(2):
        seen = []
        for images, labels in drain(ds):
            grey = images[:, 0, 0, 0].astype(int)
            assert (images == images[:, :1, :1, :1]).all()  # still flat: one image per row
            np.testing.assert_array_equal(labels, grey % 3)
            seen += grey.tolist()
        assert sorted(seen) == list(range(N))
    assert ds.class_names == ["0", "1", "2"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_validation_split_is_the_arrays_partition(shards, fmt):
    x, y = eager(shards[fmt])
    for subset in ("training", "validation"):
        kwargs = {"pipeline": None, "batch_size": 64, "validation_split": 0.3,
                  "subset": subset, "seed": 5, "shuffle": False}
        (li, ll), = drain(stream(shards[fmt], **kwargs))
        (ai, al), = drain(stream(x, y, **kwargs))
        np.testing.assert_array_equal(li, ai)
        np.testing.assert_array_equal(ll, al)
    train = ids(drain(stream(shards[fmt], pipeline=None, validation_split=0.3,
                             subset="training", seed=5)))
    val = ids(drain(stream(shards[fmt], pipeline=None, validation_split=0.3,
                           subset="validation", seed=5)))
    assert sorted(train + val) == list(range(N)) and len(val) == int(0.3 * N)


def copies_of(tmp: Path, fmt: str, n: int = 20, copies: int = 2) -> Path:
    """Flat images (grey level = source id), each written 1 + ``copies`` times; a flip keeps
    a flat image flat, so every copy still shows its source's id."""
    x, y = encoded(n)
    np.savez(tmp / "src.npz", x=x, y=y)
    out = tmp / f"copies-{fmt}"
    augkit.expand(tmp / "src.npz", out, pipeline=augkit.Pipeline.from_keras(horizontal_flip=True),
                  copies=copies, format=fmt, shard_size=7, scheduler="synchronous")
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_validation_split_keeps_the_copies_of_an_image_together(tmp_path, fmt):
    folder = copies_of(tmp_path, fmt)
    kwargs = {"pipeline": None, "batch_size": 16, "validation_split": 0.3, "seed": 3}
    train_ds = stream(folder, subset="training", **kwargs)
    val_ds = stream(folder, subset="validation", **kwargs)
    train, val = ids(drain(train_ds)), ids(drain(val_ds))
    assert not set(train) & set(val)  # no picture on both sides
    assert sorted(set(train) | set(val)) == list(range(20))
    assert len(set(val)) == int(0.3 * 20)  # the fraction is of source images
    assert sorted(train + val) == sorted(list(range(20)) * 3)  # every copy, once
    assert (train_ds.num_items, val_ds.num_items) == (len(train), len(val))
    # the same partition every time, whatever the order
    again = ids(drain(stream(folder, subset="validation", shuffle=False, **kwargs)))
    assert sorted(again) == sorted(val)


def test_without_the_manifest_the_split_is_by_image(tmp_path):
    folder = copies_of(tmp_path, "npz")
    (folder / "manifest.csv").unlink()
    kwargs = {"pipeline": None, "batch_size": 64, "validation_split": 0.33, "seed": 3}
    val = ids(drain(stream(folder, subset="validation", **kwargs)))
    train = ids(drain(stream(folder, subset="training", **kwargs)))
    assert len(val) == int(0.33 * 60)  # items, not sources: expand's record is gone
    assert set(train) & set(val)  # so copies of a picture do land on both sides


def test_a_manifest_of_another_run_is_refused_by_shard(tmp_path):
    folder = copies_of(tmp_path, "npz")
    manifest = folder / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines[1] = lines[1].replace(",ok,", ",failed,")  # shard 0 now holds one image too many
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(augkit.InputError, match=r"shard-00000-of-\d+\.npz: holds 7 images, "
                                                 r"but .*lists 6 written"):
        stream(folder, pipeline=None, validation_split=0.3, subset="training")
    stream(folder, pipeline=None)  # no split: the groups are not needed


# -- memory: rows are read when their batch is built ------------------------------------------
@pytest.mark.parametrize("fmt, backend", COMBOS)
def test_rows_are_read_on_demand_never_whole_shards(tmp_path, monkeypatch, fmt, backend):
    x, y = encoded(240)
    folder = write_shards(tmp_path, fmt, x, y, shard_size=60)
    reads = Reads(monkeypatch)
    ds = stream(folder, pipeline=None, batch_size=2, num_parallel_calls=1, backend=backend)
    assert reads.rows == 0  # building the stream reads headers only
    it = iter(ds)
    next(it)
    assert 0 < reads.rows < 60  # the first batch came before a single shard's worth was read
    assert max(reads.calls) == 2  # one batch per read
    for _ in it:
        pass
    assert reads.rows == 240  # each row once per epoch: nothing is cached
    drain(stream(folder, pipeline=GEOMETRIC, batch_size=4, backend=backend))
    assert max(reads.calls) <= 4 * 16  # the cv backend reads a group of batches per call


def test_only_headers_are_read_when_opening(shards, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("image data read while opening the shards")

    monkeypatch.setattr("augkit.shard_array.decode_png", forbidden)
    monkeypatch.setattr(ShardArray, "read", forbidden)
    for fmt in FORMATS:
        x = open_shards(shards[fmt])
        assert x.shape == (N, 8, 8, 3) and len(x.labels) == N


# -- the array itself -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_shard_array_indexing(shards, fmt):
    x = open_shards(shards[fmt])
    full, _ = eager(shards[fmt])
    assert (len(x), x.shape, x.dtype, x.ndim) == (N, full.shape, np.uint8, 4)
    np.testing.assert_array_equal(x.load(), full)
    np.testing.assert_array_equal(x[7], full[7])
    np.testing.assert_array_equal(x[-1], full[-1])
    np.testing.assert_array_equal(x[3:40:5], full[3:40:5])
    rows = np.array([[44, 0], [9, 9]])
    np.testing.assert_array_equal(x[rows], full[rows])
    with pytest.raises(TypeError, match="load"):
        np.asarray(x)
    with pytest.raises(IndexError):
        x[N]


@pytest.mark.parametrize("how", ["compressed", "fortran"])
def test_compressed_or_fortran_npz_shards_are_refused_when_opened(tmp_path, how):
    x, y = encoded(10)
    folder = tmp_path / "hand"
    folder.mkdir()
    if how == "compressed":
        np.savez_compressed(folder / "shard-00000-of-00002.npz", x=x[:6], y=y[:6])
    else:
        np.savez(folder / "shard-00000-of-00002.npz", x=np.asfortranarray(x[:6]), y=y[:6])
    np.savez(folder / "shard-00001-of-00002.npz", x=x[6:], y=y[6:])
    found = "compressed" if how == "compressed" else "in Fortran order"
    with pytest.raises(augkit.InputError, match=rf"shard-00000-of-00002\.npz: x is stored "
                                                rf"{found}.*augkit expand writes uncompressed"
                                                rf".*np\.savez"):
        stream(folder, pipeline=None)
    # the fix the message gives works
    path = str(folder / "shard-00000-of-00002.npz")
    d = dict(np.load(path))
    np.savez(path, **{k: np.ascontiguousarray(v) for k, v in d.items()})
    np.testing.assert_array_equal(open_shards(folder)[[9, 0, 5]], x[[9, 0, 5]])


def test_train_data_keeps_shards_lazy(shards):
    data = resolve_data(str(shards["npz"]), None)
    assert isinstance(data.source[0], ShardArray)
    assert data.class_names == ["0", "1", "2"] and data.size == N and data.in_dtype == "uint8"
    np.testing.assert_array_equal(data.source[1], np.arange(N) % 3)


# -- empty, failed and bad shards ---------------------------------------------------------------
def _folder_with_a_failed_shard(root: Path) -> Path:
    """Classes a, b, c of two images each; both of b's files are corrupt: with shards of 2,
    the middle shard holds no image."""
    for cls, grey in (("a", 10), ("b", 20), ("c", 30)):
        (root / cls).mkdir(parents=True)
        for k in range(2):
            if cls == "b":
                (root / cls / f"{k}.png").write_bytes(b"\x89PNG not really")
            else:
                img = np.full((8, 8, 3), grey + k, np.uint8)
                Image.fromarray(img).save(root / cls / f"{k}.png")
    return root


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_shards_are_skipped(tmp_path, fmt):
    src = _folder_with_a_failed_shard(tmp_path / "src")
    out = tmp_path / "out"
    augkit.expand(src, out, pipeline=augkit.Pipeline(), copies=0, format=fmt, shard_size=2,
                  scheduler="synchronous")
    assert len(list(out.glob("shard-*"))) >= 3
    (images, labels), = drain(stream(out, pipeline=None, batch_size=8, shuffle=False))
    assert images[:, 0, 0, 0].tolist() == [10, 11, 30, 31]
    assert labels.tolist() == [0, 0, 2, 2]


def test_npz_shards_of_different_sizes_are_refused(tmp_path):
    for i, size in enumerate((8, 10)):
        arrays = {"x": np.zeros((2, size, size, 3), np.uint8), "y": np.zeros(2, np.int64)}
        (tmp_path / f"shard-0000{i}-of-00002.npz").write_bytes(npz_bytes(arrays))
    with pytest.raises(augkit.InputError, match=r"shard-00001-of-00002\.npz: images of shape "
                                                r"\(10, 10, 3\), but shard-00000.*one size"):
        stream(tmp_path, pipeline=None)


def test_tfrecord_images_of_different_sizes_are_refused(tmp_path):
    for cls, size in (("a", 8), ("b", 12)):
        (tmp_path / "src" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(tmp_path / "src" / cls / "0.png")
    augkit.expand(tmp_path / "src", tmp_path / "out", pipeline=augkit.Pipeline(), copies=0,
                  format="tfrecord", shard_size=1, scheduler="synchronous")
    with pytest.raises(augkit.InputError, match=r"shard-00001-of-00002\.tfrecord: images of "
                                                r"shape \(12, 12, 3\).*one size"):
        stream(tmp_path / "out", pipeline=None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_shard_is_named(tmp_path, shards, fmt):
    out = tmp_path / fmt
    out.mkdir()
    for path in sorted(shards[fmt].glob("shard-*")):
        (out / path.name).write_bytes(path.read_bytes())
    victim = sorted(out.glob(f"shard-*.{fmt}"))[2]
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(augkit.InputError, match=str(victim).replace("\\", "\\\\")):
        stream(out, pipeline=None)


def test_garbage_npz_shard_is_named(tmp_path):
    (tmp_path / "shard-00000-of-00001.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(augkit.InputError, match=r"shard-00000-of-00001\.npz: not a readable"):
        stream(tmp_path, pipeline=None)


def test_a_corrupt_image_in_a_tfrecord_fails_the_iteration_naming_file_and_record(tmp_path,
                                                                                 shards):
    out = tmp_path / "bad"
    out.mkdir()
    for path in sorted(shards["tfrecord"].glob("shard-*")):
        (out / path.name).write_bytes(path.read_bytes())
    victim = sorted(out.glob("*.tfrecord"))[1]
    data = bytearray(victim.read_bytes())
    idat = data.index(b"IDAT")  # first record's pixel data: break it, keep the size
    data[idat + 4:idat + 12] = b"\xff" * 8
    victim.write_bytes(bytes(data))
    ds = stream(out, pipeline=None, batch_size=N, shuffle=False, backend="cv")
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{victim.name}, record 0: not a "
                                                             rf"readable image"):
        drain(ds)


def test_a_shard_rewritten_after_the_stream_was_built_is_refused(tmp_path):
    x, y = encoded(16)
    folder = write_shards(tmp_path, "npz", x, y)
    ds = stream(folder, pipeline=None, batch_size=4)
    victim = min(folder.glob("shard-*.npz"))
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(tf.errors.InvalidArgumentError, match="changed since the stream was built"):
        drain(ds)


@pytest.mark.parametrize("backend", ["cv", "tf"])
@pytest.mark.parametrize("pipeline", [GEOMETRIC,  # the cv call checks; rescale alone: tf does
                                      augkit.Pipeline([augkit.ops.Rescale(scale=1 / 255)])])
def test_float_shards_outside_the_value_range_fail(tmp_path, backend, pipeline):
    """The pipeline checks every batch it gets, as for arrays; without a pipeline there is no
    range to check, as for arrays."""
    arrays = {"x": np.full((4, 8, 8, 3), 2.0, np.float32), "y": np.arange(4)}
    (tmp_path / "shard-00000-of-00001.npz").write_bytes(npz_bytes(arrays))
    plain = drain(stream(tmp_path, pipeline=None, batch_size=4, backend=backend))
    assert plain[0][0].max() == 2.0
    assert drain(stream(arrays["x"], arrays["y"], pipeline=None, batch_size=4))[0][0].max() == 2
    ds = stream(tmp_path, pipeline=pipeline, batch_size=4, backend=backend)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: float values .*"
                                                             r"value_range \[0, 1\]"):
        drain(ds)


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_the_reader_passes_values_through_and_the_pipeline_checks_them(tmp_path, backend):
    """One range check per batch: the pipeline's (the reader no longer checks too)."""
    x = np.random.default_rng(1).random((6, 8, 8, 3), dtype=np.float32)
    x[4, 1, 2, 0] = np.nan
    (tmp_path / "shard-00000-of-00001.npz").write_bytes(npz_bytes({"x": x, "y": np.arange(6)}))
    np.testing.assert_array_equal(open_shards(tmp_path)[[4, 0]], x[[4, 0]])  # NaN included
    ds = stream(tmp_path, pipeline=GEOMETRIC, batch_size=3, backend=backend)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        drain(ds)


def test_integer_shards_are_read_as_uint8_and_checked(tmp_path):
    x, y = encoded(6)
    (tmp_path / "shard-00000-of-00002.npz").write_bytes(npz_bytes({"x": x[:3].astype(np.int64),
                                                                   "y": y[:3]}))
    (tmp_path / "shard-00001-of-00002.npz").write_bytes(npz_bytes({"x": x[3:].astype(np.int64),
                                                                   "y": y[3:]}))
    (images, _), = drain(stream(tmp_path, pipeline=None, batch_size=6, shuffle=False))
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, x)
    bad = x[3:].astype(np.int64)
    bad[1] = 300
    (tmp_path / "shard-00001-of-00002.npz").write_bytes(npz_bytes({"x": bad, "y": y[3:]}))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shard-00001-of-00002\.npz: "
                                                             r"dtype int64 .*integers in "
                                                             r"\[0, 255\]"):
        drain(stream(tmp_path, pipeline=None, batch_size=6))


def test_arguments_keep_their_array_meaning(shards):
    with pytest.raises(ValueError, match="on_error='skip' applies to folder sources"):
        stream(shards["npz"], pipeline=None, on_error="skip")
    with pytest.raises(ValueError, match="labels"):
        stream(shards["npz"], np.arange(N), pipeline=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about
        ds = stream(shards["tfrecord"], pipeline=None, drop_remainder=True, batch_size=10)
    assert ds.element_spec[0].shape.as_list() == [10, 8, 8, 3] and len(ds) == 4


# -- only whole expansions are read ------------------------------------------------------------
def copy_shards(src: Path, dst: Path, keep=lambda name: True, manifest: bool = True) -> Path:
    dst.mkdir()
    for path in sorted(src.iterdir()):
        if path.name.startswith("shard-") and keep(path.name) or (
                manifest and path.name == "manifest.csv"):
            (dst / path.name).write_bytes(path.read_bytes())
    return dst


def set_status(manifest: Path, status: str, rows=lambda output: True) -> None:
    import csv

    with open(manifest, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        if rows(row["output"]):
            row["status"] = status
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("manifest", [True, False])
def test_missing_shards_are_refused_naming_them(tmp_path, shards, fmt, manifest):
    folder = copy_shards(shards[fmt], tmp_path / "part", lambda n: not n.startswith(
        ("shard-00003", "shard-00005")), manifest)
    with pytest.raises(augkit.InputError, match=r"part: shard\(s\) 3, 5 of the 6 shards .* "
                                                r"missing.*rerun augkit expand with the same "
                                                r"arguments to resume it"):
        stream(folder, pipeline=None)
    with pytest.raises(augkit.InputError, match="missing"):
        resolve_data(str(folder), None)  # augkit train reads shard folders the same way


def test_shards_of_two_expansions_are_refused(tmp_path, shards):
    folder = copy_shards(shards["npz"], tmp_path / "mixed", manifest=False)
    x, y = encoded(4)
    (folder / "shard-00000-of-00002.npz").write_bytes(npz_bytes({"x": x, "y": y}))
    with pytest.raises(augkit.InputError, match=r"mixed: shards of different expansions "
                                                r"\(shard-00000-of-00002\.npz is one of 2, "
                                                r"shard-00000-of-00006\.npz one of 6\)"):
        open_shards(folder)


@pytest.mark.parametrize("name, message", [("shard-00007-of-00006.npz", "not a shard name"),
                                           ("shard-2-of-6.npz", "both shard 2")])
def test_odd_shard_names_are_refused(tmp_path, shards, name, message):
    folder = copy_shards(shards["npz"], tmp_path / "odd", manifest=False)
    x, y = encoded(4)
    (folder / name).write_bytes(npz_bytes({"x": x, "y": y}))
    with pytest.raises(augkit.InputError, match=message):
        open_shards(folder)


@pytest.mark.parametrize("fmt", FORMATS)
def test_pending_outputs_in_the_manifest_are_refused(tmp_path, shards, fmt):
    folder = copy_shards(shards[fmt], tmp_path / "running")
    if fmt == "tfrecord":
        for sidecar in shards[fmt].glob("*.json"):
            (folder / sidecar.name).write_bytes(sidecar.read_bytes())
    set_status(folder / "manifest.csv", "pending", lambda out: out.startswith("shard-00004"))
    with pytest.raises(augkit.InputError, match=r"manifest\.csv: 8 of the 45 planned outputs "
                                                r"are still pending.*interrupted.*rerun augkit "
                                                r"expand with the same arguments"):
        stream(folder, pipeline=None)
    set_status(folder / "manifest.csv", "ok")
    assert len(open_shards(folder)) == N


def test_an_interrupted_expansion_is_refused_until_resumed(tmp_path, monkeypatch):
    """A real interruption: the run dies after the first shard; the manifest says pending."""
    from augkit.expansion import worker

    x, y = encoded(24)
    np.savez(tmp_path / "src.npz", x=x, y=y)
    out = tmp_path / "out"
    original, calls = worker._run_shard, []

    def dying(spec, task):
        calls.append(task)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return original(spec, task)

    monkeypatch.setattr(worker, "_run_shard", dying)
    args = {"pipeline": augkit.Pipeline(), "copies": 0, "format": "npz", "shard_size": 8,
            "scheduler": "synchronous"}
    with pytest.raises(KeyboardInterrupt):
        augkit.expand(tmp_path / "src.npz", out, **args)
    assert [p.name for p in out.glob("shard-*")] == ["shard-00000-of-00003.npz"]
    with pytest.raises(augkit.InputError, match="16 of the 24 planned outputs are still pending"):
        stream(out, pipeline=None)
    monkeypatch.undo()
    augkit.expand(tmp_path / "src.npz", out, **args)  # resumed
    np.testing.assert_array_equal(open_shards(out).load(), x)


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_outputs_are_skipped_also_a_shard_that_could_not_be_written(tmp_path, shards,
                                                                          fmt):
    """Failed rows are skipped by design: an empty shard (test_empty_shards_are_skipped), or
    no shard at all when writing it failed — allowed only when the manifest says so."""
    folder = copy_shards(shards[fmt], tmp_path / "failed",
                         lambda n: not n.startswith("shard-00002"))
    for sidecar in shards[fmt].glob("*.json"):
        if not sidecar.name.startswith("shard-00002"):
            (folder / sidecar.name).write_bytes(sidecar.read_bytes())
    set_status(folder / "manifest.csv", "failed", lambda out: out.startswith("shard-00002"))
    x = open_shards(folder)
    full, _ = eager(shards[fmt])
    np.testing.assert_array_equal(x.load(), np.concatenate([full[:16], full[24:]]))
    np.testing.assert_array_equal(x.labels, np.r_[0:16, 24:N] % 3)


# -- hostile TFRecords ------------------------------------------------------------------------
def write_records(path: Path, records: list[tuple[bytes, int]]) -> None:
    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for png, label in records:
            example = tf.train.Example(features=tf.train.Features(feature={
                "image": feature(png), "label": feature(label),
                "class_name": feature(str(label).encode())}))
            writer.write(example.SerializeToString())


def png_bytes(image: np.ndarray, **save) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` RGB pixels, and no pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_tfrecord_decompression_bomb_is_refused_when_opened(tmp_path):
    good = png_bytes(np.zeros((8, 8, 3), np.uint8))
    write_records(tmp_path / "shard-00000-of-00001.tfrecord",
                  [(good, 0), (bomb_png(60000, 60000), 1)])
    with pytest.raises(augkit.InputError, match=r"shard-00000-of-00001\.tfrecord, record 1: "
                                                r"image has 3,600,000,000 pixels.*"
                                                r"decompression-bomb guard"):
        open_shards(tmp_path)


def test_decode_png_checks_size_and_channels():
    from augkit.png import decode_png, encode_png

    image = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(image), (5, 7, 3), "here"), image)
    grey = image[..., :1].copy()
    np.testing.assert_array_equal(decode_png(encode_png(grey), (5, 7, 1), "here"), grey)
    rgba = np.concatenate([image, grey], axis=2)
    np.testing.assert_array_equal(decode_png(encode_png(rgba), (5, 7, 4), "here"), rgba)
    with pytest.raises(augkit.InputError, match=r"here: not a readable image \(7x5 pixels, "
                                                r"expected 7x6\)"):
        decode_png(encode_png(image), (6, 7, 3), "here")
    with pytest.raises(augkit.InputError, match="here: image has 3,600,000,000 pixels"):
        decode_png(bomb_png(60000, 60000), (60000, 60000, 3), "here")
    with pytest.raises(augkit.InputError, match="here: not a readable image"):
        decode_png(b"GIF89a" + bytes(40), (5, 7, 3), "here")


def test_an_rgb_png_with_a_transparent_colour_is_read_as_rgb(tmp_path):
    """libpng expands a tRNS chunk to alpha; the record's colour type says RGB, so RGB it is."""
    x = np.random.default_rng(3).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    x[1, :2] = (10, 20, 30)
    records = [(png_bytes(x[0]), 0), (png_bytes(x[1], transparency=(10, 20, 30)), 1),
               (png_bytes(x[2]), 0)]
    assert b"tRNS" in records[1][0]
    write_records(tmp_path / "shard-00000-of-00001.tfrecord", records)
    shards = open_shards(tmp_path)
    assert shards.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(shards.load(), x)


@pytest.mark.parametrize("label, message", [(-1, "label -1; allowed: 0 to"),
                                            (2**40, "label 1099511627776; allowed: 0 to")])
def test_tfrecord_labels_out_of_bounds_are_refused(tmp_path, label, message):
    png = png_bytes(np.zeros((8, 8, 3), np.uint8))
    write_records(tmp_path / "shard-00000-of-00001.tfrecord", [(png, 0), (png, label)])
    with pytest.raises(augkit.InputError, match=rf"tfrecord, record 1: {message}"):
        open_shards(tmp_path)


def test_a_sidecar_whose_records_are_not_a_list_is_an_input_error(tmp_path, shards):
    folder = copy_shards(shards["tfrecord"], tmp_path / "side", manifest=False)
    victim = min(folder.glob("*.tfrecord"))
    Path(str(victim) + ".json").write_text('{"records": 5, "bytes": 1}')
    with pytest.raises(augkit.InputError, match=r"tfrecord\.json: 'records' is int, not the list"):
        open_shards(folder)


def test_a_shard_folder_is_listed_once_per_stream(shards, monkeypatch):
    import augkit.shard_reader as reader

    calls, original = [], reader.find_shards
    monkeypatch.setattr(reader, "find_shards", lambda folder: calls.append(folder)
                        or original(folder))
    stream(shards["npz"], pipeline=None)
    assert len(calls) == 1
    resolve_data(str(shards["npz"]), None)
    assert len(calls) == 2


# -- reads ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_selections_read_nothing(shards, fmt):
    x = open_shards(shards[fmt])
    for empty in (x[3:3], x[[]], x[np.array([], np.float32)], x[np.array([], np.uint64)],
                  x.read(np.array([], np.int64)), x.read([])):
        assert empty.shape == (0, 8, 8, 3) and empty.dtype == np.uint8
    assert x[np.empty((0, 2), np.int64)].shape == (0, 2, 8, 8, 3)
    with pytest.raises(TypeError, match="integer rows"):
        x[np.array([1.0])]


def short_reads(monkeypatch, most: int = 37) -> list[int]:
    """Make every os.pread / os.preadv return at most ``most`` bytes (as Linux does past
    0x7ffff000); returns the list of byte counts returned."""
    returned: list[int] = []
    real_pread, real_preadv = os.pread, os.preadv

    def pread(fd, size, offset):
        data = real_pread(fd, min(size, most), offset)
        returned.append(len(data))
        return data

    def preadv(fd, buffers, offset):
        first = memoryview(buffers[0]).cast("B")[:most]
        n = real_preadv(fd, [first], offset)
        returned.append(n)
        return n

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(os, "preadv", preadv)
    return returned


@pytest.mark.parametrize("kind", ["npz", "tfrecord", "int64"])
def test_short_reads_are_continued(tmp_path, textured, monkeypatch, kind):
    if kind == "int64":  # shards of another dtype: read row by row with pread
        folder = tmp_path / "int64"
        folder.mkdir()
        full = np.random.default_rng(4).integers(0, 256, (10, 8, 8, 3))
        for j in range(2):
            (folder / f"shard-0000{j}-of-00002.npz").write_bytes(npz_bytes(
                {"x": full[5 * j:5 * j + 5], "y": np.zeros(5, np.int64)}))
    else:
        folder, (full, _) = textured[kind], eager(textured[kind])
    x = open_shards(folder)
    rows = np.array([len(full) - 1, 0, 1, 2, 4, 3, 3])
    returned = short_reads(monkeypatch)
    np.testing.assert_array_equal(x[rows], full[rows])
    np.testing.assert_array_equal(x.load(), full)
    assert max(returned) == 37 and len(returned) > 2 * len(full)  # many short reads


def test_a_read_of_nothing_is_truncation(shards, monkeypatch):
    x = open_shards(shards["npz"])
    monkeypatch.setattr(os, "preadv", lambda fd, buffers, offset: 0)
    with pytest.raises(augkit.InputError, match=r"shard-00000-of-00006\.npz: truncated"):
        x[[0, 1]]
