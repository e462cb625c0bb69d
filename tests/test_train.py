"""`augkit train` / augkit.train.train: the three outputs, the range check, sources, options.

Runs are tiny (a few dozen 16×16 digits, a narrow two-block bncnn, one or two epochs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import augkit
import augkit.models
from augkit import datasets
from augkit.cli import cli
from augkit.errors import InputError, SpecError
from augkit.io import read_image
from augkit.train import (
    parse_image_size,
    parse_options,
    scaling_pipeline,
    train,
    validation_pipeline,
)
from augkit.train_data import encode_labels
from augkit.train_io import write_outputs

SMALL = {"width": 4, "depth": 2, "head_units": 8}  # a fast bncnn
OUTPUTS = ("model.keras", "history.json", "curves.png")


@pytest.fixture(scope="module")
def digits16():
    """48 real digits of classes 0, 1, 2 at 16×16, RGB uint8."""
    x, y = datasets.digits(size=16)
    keep = np.concatenate([np.flatnonzero(y == c)[:16] for c in range(3)])
    return x[keep], y[keep]


def augmenting() -> augkit.Pipeline:
    return augkit.Pipeline.from_keras(rotation_range=10, width_shift_range=0.1, rescale=1 / 255)


def _cli(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the three outputs --------------------------------------------------------------------------
def test_train_writes_model_history_and_curves(tmp_path, digits16):
    import keras

    x, y = digits16
    pipe = augmenting()
    result = train(model="bncnn", data=(x, y), pipeline=pipe, epochs=2, out=tmp_path / "run",
                   val_split=0.25, batch_size=16, seed=3, model_options=SMALL, verbose=0)
    assert _files(tmp_path / "run") == sorted(OUTPUTS)  # and no temporary file left
    assert result.model_path == tmp_path / "run" / "model.keras"

    record = json.loads(result.history_path.read_text())
    assert sorted(record["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in record["history"].values()) and record["epochs_run"] == 2
    assert record["history"] == result.history
    assert record["model"] == "bncnn" and record["model_options"] == SMALL
    assert record["data"] == "arrays" and record["class_names"] == ["0", "1", "2"]
    assert record["num_classes"] == 3 and record["input_shape"] == [16, 16, 3]
    assert record["value_range"] == [0.0, 1.0]
    assert record["pipeline"] == pipe.to_dict()
    assert [op["op"] for op in record["validation_pipeline"]["ops"]] == ["rescale"]
    assert (record["epochs"], record["batch_size"], record["seed"]) == (2, 16, 3)
    assert (record["train_items"], record["val_items"]) == (36, 12)

    picture = read_image(result.curves_path)
    assert picture.shape == (388, 960, 3) and picture.std() > 10  # two panels, not blank

    reloaded = keras.models.load_model(result.model_path)
    probe = (x[:4] / 255).astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(probe, verbose=0),
                               result.model.predict(probe, verbose=0), rtol=1e-5, atol=1e-6)


def test_cli_train_on_npz_with_pipeline_file_and_options(tmp_path, digits16):
    x, y = digits16
    np.savez(tmp_path / "d.npz", x=x, y=y)
    augmenting().save(tmp_path / "aug.yaml")
    out = tmp_path / "out"
    result = _cli("--model", "bncnn", "--data", str(tmp_path / "d.npz"), "--pipeline",
                  str(tmp_path / "aug.yaml"), "--epochs", "1", "--out", str(out),
                  "--batch-size", "16", "--seed", "1", "-O", "width=4", "-O", "depth=2",
                  "--option", "head_units=8", "--option", "batch_norm=false", "--quiet")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "val_accuracy" in result.output
    assert _files(out) == sorted(OUTPUTS)
    record = json.loads((out / "history.json").read_text())
    assert record["model_options"] == {**SMALL, "batch_norm": False}
    assert record["data"] == str(tmp_path / "d.npz") and record["val_split"] == 0.2
    import keras

    model = keras.models.load_model(out / "model.keras")
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Conv2D" in kinds and "BatchNormalization" not in kinds  # batch_norm=false arrived


def test_folder_source_resized_and_no_validation(tmp_path):
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for k in range(6):
            image = rng.integers(0, 60, (20, 24, 3), np.uint8) + 150 * c
            Image.fromarray(image.astype(np.uint8)).save(tmp_path / "data" / name / f"{k}.png")
    result = train(model="bncnn", data=tmp_path / "data", pipeline=augmenting(), epochs=1,
                   out=tmp_path / "run", val_split=0, batch_size=4, image_size=16,
                   model_options=SMALL, verbose=0)
    record = json.loads(result.history_path.read_text())
    assert record["class_names"] == ["cats", "dogs"] and record["input_shape"] == [16, 16, 3]
    assert sorted(record["history"]) == ["accuracy", "loss"]  # nothing held out
    assert (record["train_items"], record["val_items"]) == (12, 0)
    assert record["validation_pipeline"] is None
    assert read_image(result.curves_path).shape == (388, 960, 3)


def test_without_pipeline_images_are_only_scaled_to_the_model_range(tmp_path, digits16):
    result = train(model="bncnn", data=digits16, pipeline=None, epochs=1, out=tmp_path,
                   batch_size=16, model_options=SMALL, verbose=0)
    record = json.loads(result.history_path.read_text())
    assert record["pipeline"] is None
    ops = record["scaling_only_pipeline"]["ops"]
    assert [op["op"] for op in ops] == ["rescale"]
    assert math.isclose(ops[0]["scale"], 1 / 255) and ops[0]["offset"] == 0
    assert record["value_range"] == [0.0, 1.0]


# -- errors, all before training ----------------------------------------------------------------
def test_range_mismatch_fails_before_anything_is_written(tmp_path, digits16):
    no_rescale = augkit.Pipeline.from_keras(rotation_range=10)
    with pytest.raises(InputError) as info:
        train(model="bncnn", data=digits16, pipeline=no_rescale, epochs=1, out=tmp_path / "o",
              model_options=SMALL)
    assert "[0, 255]" in str(info.value) and "[0, 1]" in str(info.value)
    assert _files(tmp_path / "o") == []


def test_cli_range_mismatch_is_one_line_exit_2(tmp_path):
    augkit.Pipeline.from_keras(rotation_range=10).save(tmp_path / "aug.yaml")
    result = _cli("-m", "bncnn", "-d", "digits", "-p", str(tmp_path / "aug.yaml"), "-e", "1",
                  "-o", str(tmp_path / "o"), "--image-size", "16", "-O", "depth=2")
    assert result.exit_code == 2
    assert result.output.startswith("augkit: error: value range")
    assert "[0, 255]" in result.output and "[0, 1]" in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert _files(tmp_path / "o") == []


@pytest.mark.parametrize("data, message", [
    ("no/such/folder", "no such file or folder, and not a built-in data set"),
    ("mnist", "digits, cifar10, flowers"),
])
def test_cli_bad_source(tmp_path, data, message):
    result = _cli("-m", "bncnn", "-d", data, "-e", "1", "-o", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_cli_not_an_image_file_source(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    result = _cli("-m", "bncnn", "-d", str(tmp_path / "notes.txt"), "-e", "1", "-o",
                  str(tmp_path / "o"))
    assert result.exit_code == 2 and "not a folder or an .npz file" in result.output


@pytest.mark.parametrize("args, message", [
    (["-O", "width"], "KEY=VALUE"),
    (["-O", "width=4", "-O", "width=8"], "given twice"),
    (["-O", "width={a: 1}"], "scalar"),
    (["--image-size", "big"], "HEIGHTxWIDTH"),
    (["-O", "widht=4"], "unknown option 'widht'"),
    (["-m", "no-such-model"], "installed:"),
])
def test_cli_bad_options(tmp_path, args, message):
    base = {"-m": "bncnn", "-d": "digits", "-e": "1", "-o": str(tmp_path / "o")}
    flags = [a for k, v in base.items() if k not in args for a in (k, v)]
    result = _cli(*flags, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert _files(tmp_path / "o") == []


def test_arrays_are_not_resized(tmp_path, digits16):
    with pytest.raises(InputError, match="not resized"):
        train(model="bncnn", data=digits16, epochs=1, out=tmp_path, image_size=(32, 32))


# -- a plugin with its own training ---------------------------------------------------------------
def test_plugin_train_hook_gets_the_streams_and_its_options(tmp_path, digits16, monkeypatch):
    calls = {}

    def build(num_classes, input_shape=None, *, units=4):
        import keras

        inputs = keras.Input(input_shape)
        x = keras.layers.GlobalAveragePooling2D()(inputs)
        x = keras.layers.Dense(units)(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    def fit(model, train_ds, val_ds, *, epochs, callbacks=(), lr=0.1):
        calls.update(epochs=epochs, lr=lr, spec=train_ds.element_spec[0],
                     val=val_ds is not None, layers=len(model.layers))
        return {"loss": [float("nan"), 1.5], "accuracy": [0.25, 0.5]}

    spec = augkit.models.InputSpec(image_size=None, channels=None, value_range=(-1.0, 1.0))
    fake = augkit.models.Plugin("fake", "a test plugin", spec, build, train=fit)
    monkeypatch.setattr(augkit.models, "get", lambda name: fake)
    result = train(model="fake", data=digits16, pipeline=None, epochs=2, out=tmp_path,
                   model_options={"units": 3, "lr": 0.5})
    assert calls["epochs"] == 2 and calls["lr"] == 0.5 and calls["val"]
    assert calls["spec"].dtype.name == "float32" and tuple(calls["spec"].shape) == (None, 16, 16, 3)
    record = json.loads(result.history_path.read_text())
    assert record["history"] == {"loss": [None, 1.5], "accuracy": [0.25, 0.5]}  # NaN -> null
    assert record["value_range"] == [-1.0, 1.0]  # the scaling pipeline mapped 0..255 to -1..1
    assert read_image(result.curves_path).shape[1] == 960


# -- the pieces -----------------------------------------------------------------------------------
def test_processes_augment_the_training_stream_in_workers(tmp_path, digits16, monkeypatch):
    seen = {}

    def build(num_classes, input_shape=None):
        import keras

        inputs = keras.Input(input_shape)
        x = keras.layers.GlobalAveragePooling2D()(inputs)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    def fit(model, train_ds, val_ds, *, epochs, callbacks=()):
        seen.update(workers=len(train_ds.worker_pool.workers), val=val_ds.worker_pool)
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model.fit(train_ds, epochs=epochs, verbose=0).history

    spec = augkit.models.InputSpec(image_size=None, channels=None, value_range=(0.0, 1.0))
    fake = augkit.models.Plugin("fake", "a test plugin", spec, build, train=fit)
    monkeypatch.setattr(augkit.models, "get", lambda name: fake)
    result = train(model="fake", data=digits16, pipeline=augmenting(), epochs=1, out=tmp_path,
                   processes=2)
    assert seen == {"workers": 2, "val": None}  # validation images are only rescaled: threads
    assert np.isfinite(result.history["loss"]).all()


def test_cli_processes_reach_train(tmp_path, monkeypatch):
    import augkit.train as train_module

    got = {}

    def fake_train(**kwargs):
        got.update(kwargs)
        return SimpleNamespace(history={}, model_path=tmp_path / "m.keras",
                               history_path=tmp_path / "h.json", curves_path=tmp_path / "c.png")

    monkeypatch.setattr(train_module, "train", fake_train)
    result = _cli("--model", "bncnn", "--data", "digits", "--epochs", "1", "--out",
                  str(tmp_path), "--processes", "3")
    assert result.exit_code == 0, result.output
    assert got["processes"] == 3
    assert _cli("--model", "bncnn", "--data", "digits", "--epochs", "1", "--out",
                str(tmp_path), "--processes", "0").exit_code == 2


def test_cli_processes_on_a_folder_is_one_line_exit_2(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / name / "0.png")
    result = _cli("--model", "bncnn", "--data", str(tmp_path / "data"), "--epochs", "1",
                  "--out", str(tmp_path / "out"), "--processes", "2")
    assert result.exit_code == 2
    assert result.output.strip() == ("augkit: error: processes: worker processes take an "
                                     "array source without masks, boxes or keypoints; got a "
                                     "folder (use processes=None: threads)")


def test_validation_pipeline_keeps_value_ops_in_order():
    pipe = augkit.Pipeline([augkit.ops.Rotate(angle_range=(-20, 20)),
                            augkit.ops.Rescale(scale=1 / 255),
                            augkit.ops.Brightness(),
                            augkit.ops.Normalize(mean=(0.5,), std=(0.25,))], fill_mode="reflect")
    val = validation_pipeline(pipe)
    assert [op.name for op in val.ops] == ["rescale", "normalize"]
    assert val.fill_mode == "reflect"
    assert val.output_range("uint8") == pipe.output_range("uint8")
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), np.uint8)
    out, _ = val.apply(x, seed=0)
    np.testing.assert_allclose(out, (x / 255 - 0.5) / 0.25, atol=1e-5)  # no augmentation
    assert validation_pipeline(augkit.Pipeline.from_keras(rotation_range=5)) is None
    assert validation_pipeline(None) is None


@given(lo=st.floats(-10, 10), width=st.floats(0.01, 300))
def test_scaling_pipeline_maps_uint8_onto_any_range(lo, width):
    pipe = scaling_pipeline((0, 255), (lo, lo + width))
    got = pipe.output_range("uint8")
    assert math.isclose(got[0], lo, abs_tol=1e-6 * (1 + abs(lo) + width))
    assert math.isclose(got[1], lo + width, rel_tol=1e-9, abs_tol=1e-6 * (1 + abs(lo) + width))


def test_scaling_pipeline_is_empty_when_ranges_agree():
    assert scaling_pipeline((0, 255), (0, 255)).ops == []
    assert scaling_pipeline((0, 1), None).ops == []


def test_parse_options_and_image_size():
    assert parse_options(["width=64", "batch_norm=false", "dropout=0.3", "backbone=ResNet50",
                          "weights=null", "widths=[16, 32]", "name= a b "]) == {
        "width": 64, "batch_norm": False, "dropout": 0.3, "backbone": "ResNet50",
        "weights": None, "widths": [16, 32], "name": "a b"}
    assert parse_options([]) == {}
    for bad in (["=3"], ["1x=3"], ["a=[1, {b: 2}]"], ["a=: :"]):
        with pytest.raises(ValueError):
            parse_options(bad)
    assert parse_image_size(None) is None
    assert parse_image_size("224") == (224, 224) and parse_image_size("32X48") == (32, 48)
    assert parse_image_size("32,48") == (32, 48)
    for bad in ("", "0", "3x4x5", "x", "-3"):
        with pytest.raises(ValueError):
            parse_image_size(bad)


def test_encode_labels():
    idx, names = encode_labels(np.array(["dog", "cat", "dog"]), None, 3)
    assert idx.tolist() == [1, 0, 1] and names == ["cat", "dog"]
    idx, names = encode_labels(np.array([5, 9, 7, 5]), None, 4)
    assert idx.tolist() == [0, 2, 1, 0] and names == ["5", "7", "9"]
    idx, names = encode_labels(np.array([[2], [0], [1]]), ["a", "b", "c"], 3)
    assert idx.tolist() == [2, 0, 1] and names == ["a", "b", "c"]
    idx, names = encode_labels(np.eye(3)[[2, 0, 1, 1]], None, 4)
    assert idx.tolist() == [2, 0, 1, 1] and names == ["0", "1", "2"]
    with pytest.raises(InputError, match="at least 2"):
        encode_labels(np.zeros(4), None, 4)
    with pytest.raises(InputError, match="one-hot"):
        encode_labels(np.full((3, 2), 0.5), None, 3)
    with pytest.raises(InputError, match="one label per image"):
        encode_labels(np.arange(3), None, 4)


def test_history_json_has_no_nan_and_files_replace_atomically(tmp_path):
    class Net:
        def save(self, path):
            assert path.endswith(".keras") and path != str(tmp_path / "model.keras")
            Path(path).write_text("weights")

    (tmp_path / "history.json").write_text("old")
    settings = {"model": "m", "data": "d", "batch_size": 1, "seed": 0}
    paths = write_outputs(tmp_path, Net(), {"loss": [math.inf, 1.0]}, settings)
    assert [p.name for p in paths] == list(OUTPUTS)
    record = json.loads((tmp_path / "history.json").read_text())
    assert record["history"] == {"loss": [None, 1.0]} and record["epochs_run"] == 2
    assert _files(tmp_path) == sorted(OUTPUTS)


def test_spec_error_from_a_bad_option_value(tmp_path, digits16):
    with pytest.raises((SpecError, InputError)):
        train(model="bncnn", data=digits16, epochs=1, out=tmp_path,
              model_options={"depth": "deep"})


@pytest.mark.parametrize("fmt", ["npz", "png"])
def test_trains_on_an_augkit_expand_output(tmp_path, digits16, fmt):
    x, y = digits16
    np.savez(tmp_path / "d.npz", x=x[::4], y=y[::4])
    # uint8 copies (a rescaling expansion stores its originals unscaled beside scaled copies)
    motion = augkit.Pipeline.from_keras(rotation_range=10)
    augkit.expand(tmp_path / "d.npz", tmp_path / "expanded", pipeline=motion, copies=1,
                  format=fmt, scheduler="synchronous")
    result = train(model="bncnn", data=tmp_path / "expanded", pipeline=None, epochs=1,
                   out=tmp_path / "run", batch_size=8, image_size=None if fmt == "npz" else 16,
                   model_options=SMALL, verbose=0)
    record = json.loads(result.history_path.read_text())
    assert record["train_items"] + record["val_items"] == 24  # 12 originals + 12 copies
    assert record["num_classes"] == 3 and record["input_shape"] == [16, 16, 3]
