"""ImageDataGenerator.flow_from_dataframe: Keras' semantics, checked against Keras' own class."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG
from PIL import Image

from augkit.errors import InputError
from augkit.idg import ImageDataGenerator


def save(path: Path, value: int, shape=(12, 10, 3)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


@pytest.fixture()
def table(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rows = []
    for i in range(10):
        name = f"img{i}.png" if i != 3 else "sub/img3.png"
        save(tmp_path / name, 10 * i)
        rows.append({"filename": name, "class": ["cat", "dog", "eel"][i % 3],
                     "tags": [["a"], ["a", "b"], ["b"], ["c"]][i % 4],
                     "w": float(i) / 10, "score": i * 1.5, "count": i})
    rows.append({"filename": "missing.png", "class": "cat", "tags": ["a"], "w": 1.0,
                 "score": 0.0, "count": 0})
    rows.append({"filename": "notes.txt", "class": "dog", "tags": ["a"], "w": 1.0,
                 "score": 0.0, "count": 0})
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, pd.DataFrame(rows)


def both(df, directory, **kwargs):
    """augkit's and Keras' iterators on the same table (Keras' warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = ImageDataGenerator(validation_split=0.3).flow_from_dataframe(
            df, str(directory), target_size=(6, 5), shuffle=False, **kwargs)
        theirs = KerasIDG(validation_split=0.3).flow_from_dataframe(
            df, str(directory), target_size=(6, 5), shuffle=False, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("mode", ["categorical", "sparse", "raw", "multi_output", "input", None])
def test_same_files_labels_and_batches_as_keras(table, mode):
    directory, df = table
    y_col = {"raw": "score", "multi_output": ["score", "count"]}.get(mode, "class")
    ours, theirs = both(df, directory, class_mode=mode, y_col=y_col, batch_size=4)
    assert ours.filenames == theirs.filenames and len(ours.filenames) == 10
    assert ours.filepaths == theirs.filepaths and len(ours) == len(theirs) == 3
    if mode in ("categorical", "sparse"):
        assert ours.class_indices == theirs.class_indices == {"cat": 0, "dog": 1, "eel": 2}
        assert list(ours.classes) == list(theirs.classes)
    a, b = ours[2], theirs[2]
    if mode is None:
        np.testing.assert_allclose(a, b)
        return
    np.testing.assert_allclose(a[0], b[0])
    if mode == "multi_output":
        for x, y in zip(a[1], b[1]):
            np.testing.assert_allclose(x, y)
    else:
        np.testing.assert_allclose(a[1], b[1])
        assert a[1].dtype == b[1].dtype


def test_multilabel_classes_weights_and_subsets(table):
    directory, df = table
    ours, theirs = both(df, directory, y_col="tags", weight_col="w", batch_size=5,
                        classes=["b", "a"])
    assert ours.class_indices == theirs.class_indices == {"b": 0, "a": 1}
    # rows tagged only "c" are dropped, like Keras
    assert ours.filenames == theirs.filenames and "sub/img3.png" not in ours.filenames
    _, y, w = ours[0]
    _, yk, wk = theirs[0]
    np.testing.assert_allclose(y, yk)
    np.testing.assert_allclose(w, wk)
    assert y.sum(axis=1).max() == 2  # a row tagged a and b is multi-hot
    for subset in ("training", "validation"):
        o, t = both(df, directory, subset=subset)
        assert o.filenames == t.filenames
    val, train = both(df, directory, subset="validation")[0], both(df, directory,
                                                                   subset="training")[0]
    assert sorted(val.filenames + train.filenames) == sorted(ours_all(df, directory))


def ours_all(df, directory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ImageDataGenerator().flow_from_dataframe(df, str(directory)).filenames


def test_binary_and_dict_tables(table):
    directory, df = table
    two = df[df["class"] != "eel"]
    ours, theirs = both(two, directory, class_mode="binary", batch_size=8)
    np.testing.assert_allclose(ours[0][1], theirs[0][1])
    as_dict = {col: two[col].tolist() for col in two.columns}
    with pytest.warns(UserWarning, match="2 invalid image filename"):
        it = ImageDataGenerator().flow_from_dataframe(as_dict, str(directory),
                                                      class_mode="binary", shuffle=False)
    assert it.filenames == ours.filenames


def test_augments_reproducibly_and_reshuffles(table):
    directory, df = table
    gen = ImageDataGenerator(rotation_range=30, horizontal_flip=True)
    with pytest.warns(UserWarning):
        a = gen.flow_from_dataframe(df, str(directory), target_size=(12, 10), seed=3,
                                    batch_size=10)
    with pytest.warns(UserWarning):
        b = gen.flow_from_dataframe(df, str(directory), target_size=(12, 10), seed=3,
                                    batch_size=10)
    first = a[0]
    np.testing.assert_array_equal(first[0], b[0][0])
    a.on_epoch_end()
    assert not np.array_equal(a.index_array, b.index_array)
    # labels follow their images through the shuffle: each file's pixel value encodes it
    values = first[0][:, 6, 5, 0]
    names = [a.filenames[j] for j in a._order(0)]
    expect = [10 * int(n.split("img")[1].split(".")[0]) for n in names]
    np.testing.assert_allclose(values, expect)


def test_bad_arguments_raise_like_keras(table):
    directory, df = table
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="Invalid class_mode"):
        gen.flow_from_dataframe(df, str(directory), class_mode="bogus")
    with pytest.raises(TypeError, match="y_col must be a list"):
        gen.flow_from_dataframe(df, str(directory), class_mode="multi_output", y_col="score")
    with pytest.raises(TypeError, match="must be strings"):
        gen.flow_from_dataframe(df, str(directory), class_mode="sparse", y_col="count")
    with pytest.raises(ValueError, match="there must be 2 classes. 3 class/es found"):
        gen.flow_from_dataframe(df, str(directory), class_mode="binary")
    with pytest.raises(ValueError, match="column 'nope' not found"):
        gen.flow_from_dataframe(df, str(directory), x_col="nope")
    with pytest.raises(TypeError, match="weight_col=class must be numeric"):
        gen.flow_from_dataframe(df, str(directory), weight_col="class")


def test_unvalidated_missing_file_names_it(table):
    directory, df = table
    it = ImageDataGenerator().flow_from_dataframe(
        df, str(directory), validate_filenames=False, shuffle=False, batch_size=11,
        target_size=(6, 5))
    assert it.samples == 12
    with pytest.raises(InputError, match="missing.png"):
        it[0]
