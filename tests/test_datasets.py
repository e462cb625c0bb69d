"""augkit.datasets: the bundled digits, and Keras' CIFAR-10 / flowers loaders on a fake cache.

Nothing here downloads. The CIFAR-10 and flowers loaders run for real (Keras' ``load_data`` and
``get_file``) against small copies in the same file formats, placed in a temporary Keras cache
(``KERAS_HOME`` for a subprocess, Keras' cache setting in this one), with every way out to the
network patched to fail loudly at once.

One honest workaround: Keras pins the sha256 of the CIFAR-10 archive and downloads again when
the cached file does not match, which no small copy can. The test replaces Keras'
``validate_file`` by one that accepts exactly our copy *when Keras asks for its pinned CIFAR
hash* (and records that it asked), and defers to the real check for anything else. The flowers
archive has no pinned hash and needs no such thing. Also, Keras' CIFAR loader hard-codes
5 × 10 000 training and 10 000 test images, so the copy has the full counts — of constant
images, which compress to a few hundred KiB.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import textwrap
import urllib.error

import numpy as np
import pytest

from augkit import datasets
from augkit.errors import InputError
from augkit.io import read_image

KERAS_CIFAR_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FLOWER_CLASSES = ("daisy", "roses", "tulips")


# -- the bundled digits ------------------------------------------------------------------------
def test_digits_are_the_1797_uci_digits_as_uint8():
    x, y = datasets.digits(size=8, channels=1)
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.uint8
    assert y.dtype == np.int64 and sorted(set(y.tolist())) == list(range(10))
    # scikit-learn's class sizes (its docs: about 180 per class)
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # values 0..16 scaled to 0..255: exactly the 17 levels round(v * 255 / 16)
    levels = {round(v * 255 / 16) for v in range(17)}
    assert set(np.unique(x).tolist()) <= levels and x.max() == 255 and x.min() == 0


def test_digits_upsampled_rgb_keep_the_picture():
    small, y8 = datasets.digits(size=8, channels=1)
    big, y32 = datasets.digits(size=32)
    assert big.shape == (1797, 32, 32, 3) and np.array_equal(y8, y32)
    assert np.array_equal(big[..., 0], big[..., 1]) and np.array_equal(big[..., 0], big[..., 2])
    # block means of the upsampled digit follow the original pixels
    blocks = big[..., 0].reshape(1797, 8, 4, 8, 4).mean(axis=(2, 4))
    corr = np.corrcoef(blocks.ravel(), small[..., 0].astype(float).ravel())[0, 1]
    assert corr > 0.95


@pytest.mark.parametrize("kwargs", [{"size": 7}, {"size": 2000}, {"size": 32.0},
                                    {"channels": 2}, {"size": True}])
def test_digits_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        datasets.digits(**kwargs)


def test_load_by_name_and_errors():
    x, _y, names = datasets.load("digits", image_size=(16, 16))
    assert x.shape == (1797, 16, 16, 3) and names == [str(i) for i in range(10)]
    with pytest.raises(InputError, match="square"):
        datasets.load("digits", image_size=(16, 24))
    with pytest.raises(InputError, match="32x32"):
        datasets.load("cifar10", image_size=(64, 64))
    with pytest.raises(InputError, match="allowed: digits, cifar10, flowers"):
        datasets.load("mnist")


# -- small copies of the Keras cache -----------------------------------------------------------
def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar_value(index: int) -> int:
    """Every pixel of CIFAR copy image ``index`` (0..59 999; test images from 50 000)."""
    return (index * 7) % 256


def cifar_label(index: int) -> int:
    return (index * 3 + index // 10_000) % 10


def write_cifar_archive(path) -> str:
    """A CIFAR-10 python archive in the real layout; returns its sha256."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
            idx = np.arange(b * 10_000, (b + 1) * 10_000)
            data = np.repeat(cifar_value(idx).astype(np.uint8)[:, None], 3072, axis=1)
            batch = {b"batch_label": name.encode(), b"labels": [cifar_label(int(i)) for i in idx],
                     b"data": data, b"filenames": [f"{i}.png".encode() for i in idx]}
            _add(tar, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=3))
        meta = {b"label_names": [c.encode() for c in datasets.CIFAR10_CLASSES]}
        _add(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=3))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_flowers_archive(path, per_class: int = 2) -> dict[str, list[int]]:
    """A flower_photos.tgz in the real layout (top folder, class folders of JPEGs, a licence)."""
    import cv2

    colours = {}
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "flower_photos/LICENSE.txt", b"small test copy\n")
        for c, name in enumerate(FLOWER_CLASSES):
            colour = [40 + 80 * c, 200 - 60 * c, 90]
            colours[name] = colour
            for k in range(per_class):
                image = np.full((24 + 8 * k, 32, 3), colour, np.uint8)
                ok, jpeg = cv2.imencode(".jpg", image[..., ::-1])
                assert ok
                _add(tar, f"flower_photos/{name}/{1000 + k}_photo.jpg", jpeg.tobytes())
    return colours


@pytest.fixture(scope="module")
def cifar_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("cifar") / "cifar-10-python.tar.gz"
    return path, write_cifar_archive(path)


_LOADERS = textwrap.dedent("""
    import json, os, socket, sys, urllib.error
    import keras.src.utils.file_utils as fu

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network blocked by the test")
    fu.urlretrieve = refuse                      # what get_file downloads with
    socket.create_connection = refuse            # and any other way out
    socket.socket.connect = refuse

    asked = []
    real_validate = fu.validate_file
    def validate(fpath, file_hash, algorithm="auto", chunk_size=65535):
        asked.append(file_hash)
        copy = fu.hash_file(fpath, "sha256")
        if file_hash == KERAS_HASH and copy == COPY_HASH:
            return True                          # our small copy stands in for the archive
        return real_validate(fpath, file_hash, algorithm, chunk_size)
    fu.validate_file = validate

    import augkit.datasets as datasets
    (x, y), (xt, yt) = datasets.cifar10()
    folder = datasets.flowers()
    picks = [0, 1, 9_999, 10_000, 31_337, 49_999]
    print(json.dumps({
        "asked": asked, "cache": str(datasets.keras_cache()),
        "shapes": [list(a.shape) for a in (x, y, xt, yt)],
        "dtypes": [str(a.dtype) for a in (x, y, xt, yt)],
        "pixels": [[int(x[i].min()), int(x[i].max())] for i in picks],
        "labels": [int(y[i]) for i in picks],
        "test": [int(xt[5].min()), int(xt[5].max()), int(yt[5])],
        "folder": folder.as_posix(),
        "classes": sorted(p.name for p in folder.iterdir() if p.is_dir()),
    }))
""")


def test_cifar10_and_flowers_load_from_a_keras_home_cache(tmp_path, cifar_archive):
    source, copy_hash = cifar_archive
    home = tmp_path / "keras-home"
    cache = home / "datasets"
    cache.mkdir(parents=True)
    # Keras 3's get_file caches an archive as <fname>_archive and extracts it beside it.
    os.link(source, cache / "cifar-10-batches-py-target_archive")
    colours = write_flowers_archive(cache / "flower_photos_archive")
    code = f"KERAS_HASH = {KERAS_CIFAR_SHA256!r}\nCOPY_HASH = {copy_hash!r}\n" + _LOADERS
    env = dict(os.environ, KERAS_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["cache"] == str(cache)
    assert got["asked"] == [KERAS_CIFAR_SHA256]  # Keras did check its pinned hash
    assert got["shapes"] == [[50000, 32, 32, 3], [50000], [10000, 32, 32, 3], [10000]]
    assert got["dtypes"] == ["uint8", "int64", "uint8", "int64"]
    picks = [0, 1, 9_999, 10_000, 31_337, 49_999]
    assert got["pixels"] == [[cifar_value(i)] * 2 for i in picks]
    assert got["labels"] == [cifar_label(i) for i in picks]
    assert got["test"] == [cifar_value(50_005)] * 2 + [cifar_label(50_005)]
    assert got["folder"] == (cache / "flower_photos" / "flower_photos").as_posix()
    assert got["classes"] == sorted(FLOWER_CLASSES)
    # the folder is what augkit.stream reads: class folders of decodable JPEGs
    for name, colour in colours.items():
        files = sorted((cache / "flower_photos" / "flower_photos" / name).iterdir())
        assert len(files) == 2
        image = read_image(files[0])
        assert np.abs(image.astype(int) - colour).max() <= 3


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """This process's Keras cache moved to tmp, the network refused at once."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras"))
    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network blocked by the test")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    return tmp_path / "keras" / "datasets", calls


def test_flowers_missing_and_offline_names_the_file_to_provide(keras_home):
    cache, calls = keras_home
    with pytest.raises(InputError) as info:
        datasets.flowers()
    message = str(info.value)
    assert calls == [datasets.FLOWERS_ORIGIN]
    assert str(cache / "flower_photos_archive") in message
    assert datasets.FLOWERS_ORIGIN in message and "network blocked" in message


def test_cifar10_wrong_archive_is_not_used_and_the_error_says_so(keras_home):
    cache, calls = keras_home
    cache.mkdir(parents=True)
    (cache / "cifar-10-batches-py-target_archive").write_bytes(b"not the real archive")
    with pytest.raises(InputError) as info:
        datasets.cifar10()
    assert calls == [datasets.CIFAR10_ORIGIN]  # Keras refused the file and tried to download
    assert str(cache / "cifar-10-batches-py-target_archive") in str(info.value)


def test_flowers_from_this_process_cache(keras_home):
    cache, calls = keras_home
    cache.mkdir(parents=True)
    write_flowers_archive(cache / "flower_photos_archive", per_class=1)
    folder = datasets.flowers()
    assert calls == []
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == sorted(FLOWER_CLASSES)
    import augkit

    ds = augkit.stream(folder, pipeline=None, image_size=(16, 16), batch_size=8, shuffle=False)
    images, labels = next(iter(ds))
    assert images.shape == (3, 16, 16, 3) and labels.numpy().tolist() == [0, 1, 2]
