"""Model plugins: discovery through entry points, `augkit models`, options, ranges, bncnn.

Discovery and the CLI run without TensorFlow; the bncnn tests use tiny inputs and one epoch.
The transfer plugin is tested in test_models_transfer.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import augkit
import augkit.models as M
from augkit.errors import InputError, SpecError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_discovery():
    M.clear_cache()
    yield
    M.clear_cache()


def _python(code: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


# -- a fake third-party distribution -------------------------------------------------------------
_FAKE_MODULE = '''
from augkit.models import InputSpec, Plugin

def build(num_classes, input_shape=None, *, depth=2):
    return ("built", num_classes, input_shape, depth)

def train(model, train_ds, val_ds, *, epochs, callbacks=(), lr=0.1):
    return {"loss": [1.0] * epochs}

PLUGIN = Plugin("fake", "a third-party test model",
                InputSpec((8, 8), 1, (-1.0, 1.0), "scaled inside"), build, train)
NOT_A_PLUGIN = 42
'''

_FAKE_ENTRY_POINTS = '''
[augkit.models]
fake = fakeaug:PLUGIN
broken = fakeaug_missing:PLUGIN
boom = fakeaug_boom:PLUGIN
notaplugin = fakeaug:NOT_A_PLUGIN
misnamed = fakeaug:PLUGIN
'''


def _fake_distribution(root: Path) -> Path:
    """A dist-info folder plus modules: what `pip install fakeaug` would leave on sys.path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "fakeaug.py").write_text(_FAKE_MODULE)
    (root / "fakeaug_boom.py").write_text("raise RuntimeError('boom at import')\n")
    info = root / "fakeaug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeaug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(_FAKE_ENTRY_POINTS)
    return root


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    root = _fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    for name in ("fakeaug", "fakeaug_boom"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return root


# -- discovery -------------------------------------------------------------------------------------
def test_builtin_plugins_are_registered_through_entry_points():
    from importlib import metadata

    declared = {ep.name: ep.value for ep in metadata.entry_points(group=M.GROUP)}
    assert declared["bncnn"] == "augkit_plugins.bncnn:PLUGIN"
    assert declared["transfer"] == "augkit_plugins.transfer:PLUGIN"
    assert {"bncnn", "transfer"} <= set(M.available())
    assert M.available() == sorted(M.available())
    assert M.get("bncnn").input.value_range == (0.0, 1.0)
    transfer = M.get("transfer")
    assert transfer.input.value_range == (0.0, 255.0) and transfer.train is not None


def test_third_party_plugin_is_found_and_broken_ones_are_reported(fake_dist):
    found = M.plugins()
    assert isinstance(found["fake"], M.Plugin)
    assert "fake" in M.available() and {"bncnn", "transfer"} <= set(M.available())
    for name in ("broken", "boom", "notaplugin", "misnamed"):
        assert isinstance(found[name], M.BrokenPlugin) and name not in M.available()
        assert found[name].distribution == "fakeaug"
    assert found["broken"].error.startswith("ModuleNotFoundError")
    assert found["boom"].error == "RuntimeError: boom at import"
    assert "42" in found["notaplugin"].error and "Plugin" in found["notaplugin"].error
    assert "'misnamed'" in found["misnamed"].error and "'fake'" in found["misnamed"].error

    assert M.get("fake").build(3) == ("built", 3, None, 2)
    with pytest.raises(M.PluginError, match="boom at import") as info:
        M.get("boom")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "fakeaug_boom:PLUGIN" in str(info.value)


def test_unknown_model_lists_installed_ones_and_the_closest():
    with pytest.raises(M.PluginError) as info:
        M.get("bnccn")
    text = str(info.value)
    assert "'bncnn'" in text and "'transfer'" in text and "did you mean 'bncnn'" in text
    assert isinstance(info.value, InputError)


def test_the_same_name_declared_twice_is_reported_not_guessed(tmp_path, monkeypatch):
    for dist, module in (("one", "fakeaug"), ("two", "otheraug")):
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[augkit.models]\ntwin = {module}:PLUGIN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    twin = M.plugins()["twin"]
    assert isinstance(twin, M.BrokenPlugin) and "declared more than once" in twin.error
    assert "fakeaug:PLUGIN" in twin.error and "otheraug:PLUGIN" in twin.error


def test_cli_lists_plugins_with_broken_ones_without_tensorflow(tmp_path):
    site = _fake_distribution(tmp_path / "site")
    result = _python("""
        import sys
        from augkit.cli import main
        try:
            main(["models"])
        except SystemExit as exit:
            print("EXIT:", exit.code)
        print("HEAVY:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        """, tmp_path, env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "a third-party test model" in lines["fake"] and "8x8x1 float in [-1, 1]" in lines["fake"]
    assert "input: 32x32x3 float in [0, 1]" in lines["bncnn"]
    assert "float in [0, 255]" in lines["transfer"]
    assert "BROKEN" in lines["broken"] and "ModuleNotFoundError" in lines["broken"]
    assert "RuntimeError: boom at import" in lines["boom"]
    assert lines["EXIT:"] in ("EXIT: 0", "EXIT: None")
    assert lines["HEAVY:"] == "HEAVY: []"


def test_import_augkit_does_not_discover_plugins(tmp_path):
    result = _python("""
        import augkit, augkit.models as M, sys
        print(M._declared is None, "augkit_plugins" in sys.modules)
        """, tmp_path)
    assert result.stdout.split() == ["True", "False"], result.stderr


# -- options and input specs -----------------------------------------------------------------------
def test_split_options_routes_build_and_train_options_and_rejects_typos():
    transfer = M.get("transfer")
    build, train = transfer.split_options({"backbone": "VGG16", "fine_tune_layers": 4,
                                            "dropout": 0.1})
    assert build == {"backbone": "VGG16", "dropout": 0.1} and train == {"fine_tune_layers": 4}
    with pytest.raises(SpecError, match="did you mean 'backbone'"):
        transfer.split_options({"bakcbone": "VGG16"})
    with pytest.raises(SpecError, match="'widht'.*did you mean 'width'"):
        M.get("bncnn").split_options({"widht": 8})


def test_input_spec_follows_the_options(tmp_path):
    transfer = M.get("transfer")
    assert transfer.input_spec() == transfer.input
    inception = transfer.input_spec(backbone="InceptionV3")
    assert inception.image_size == (299, 299) and "[-1, 1]" in inception.note
    vgg = transfer.input_spec(backbone="VGG16", input_shape=(64, 48, 3), input_range=(0, 1))
    assert vgg.image_size == (64, 48) and vgg.value_range == (0.0, 1.0)
    assert "BGR" in vgg.note
    assert "inside itself" in transfer.input_spec(backbone="EfficientNetB0").note
    grey = M.get("bncnn").input_spec(input_shape=(28, 28, 1), width=8)
    assert grey.image_size == (28, 28) and grey.channels == 1
    with pytest.raises(SpecError, match="did you mean 'ResNet50'"):
        transfer.input_spec(backbone="ResNet05")


def test_check_input_range_accepts_a_match_within_tolerance():
    M.check_input_range(M.get("bncnn"), (0, 1))
    M.check_input_range(M.get("bncnn").input, (0.0, 1.0 + 1e-4))
    M.check_input_range((0, 255), (0, 255.1))


@given(st.tuples(st.integers(-300, 300), st.integers(1, 600)),
       st.tuples(st.integers(-300, 300), st.integers(1, 600)))
def test_check_input_range_names_both_ranges_and_a_rescale_that_fixes_it(expected, stream):
    exp = (float(expected[0]), float(expected[0] + expected[1]))
    got = (float(stream[0]), float(stream[0] + stream[1]))
    if exp == got:
        M.check_input_range(exp, got)
        return
    with pytest.raises(InputError) as info:
        M.check_input_range(exp, got)
    text = str(info.value)
    assert f"[{got[0]:g}, {got[1]:g}]" in text and f"[{exp[0]:g}, {exp[1]:g}]" in text
    scale, offset = map(float, re.search(r"scale=([^,]+), offset=([^)]+)\)", text).groups())
    M.check_input_range(exp, (got[0] * scale + offset, got[1] * scale + offset))


# -- bncnn -----------------------------------------------------------------------------------------
def _stream(n=16, size=32, classes=3):
    """uint8 images, labels, and an augmented stream of them rescaled to [0, 1] (one epoch)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    pipeline = augkit.Pipeline.from_keras(rotation_range=10, horizontal_flip=True,
                                          rescale=1 / 255)
    return x, y, augkit.stream(x, y, pipeline=pipeline, batch_size=8, epochs=1)


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("depth", [1, 3])
def test_bncnn_has_batchnorm_exactly_between_each_conv_and_its_relu(depth):
    bn = M.get("bncnn").build(10, (32, 32, 3), width=4, depth=depth)
    plain = M.get("bncnn").build(10, (32, 32, 3), width=4, depth=depth, batch_norm=False)
    block = ["Conv2D", "BatchNormalization", "ReLU"] * 2 + ["MaxPooling2D", "Dropout"]
    head = ["Flatten", "Dense", "ReLU", "Dropout", "Dense"]
    assert _kinds(bn) == ["InputLayer"] + block * depth + head
    assert _kinds(plain) == [k for k in _kinds(bn) if k != "BatchNormalization"]
    for b in range(1, depth + 1):
        for c in (1, 2):
            conv, norm = bn.get_layer(f"block{b}_conv{c}"), bn.get_layer(f"block{b}_bn{c}")
            assert norm.input is conv.output
            assert bn.get_layer(f"block{b}_relu{c}").input is norm.output
            assert not conv.use_bias and plain.get_layer(f"block{b}_conv{c}").use_bias
            assert conv.filters == 4 * 2 ** (b - 1)
    assert bn.output_shape == (None, 10)


def test_bncnn_rejects_bad_options():
    build = M.get("bncnn").build
    with pytest.raises(SpecError, match=r"bncnn.input_shape.*>= 16"):
        build(10, (8, 8, 3), depth=4)
    with pytest.raises(SpecError, match=r"bncnn.dropout: got 1"):
        build(10, dropout=1)
    with pytest.raises(SpecError, match=r"bncnn.num_classes"):
        build(1)


def test_bncnn_trains_on_a_stream_saves_and_reloads(tmp_path):
    import keras

    x, _y, ds = _stream()
    M.check_input_range(M.get("bncnn"), (0, 1))
    model = M.get("bncnn").build(3, (32, 32, 3), width=4, depth=2, head_units=8)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(ds, epochs=1, steps_per_epoch=ds.steps_per_epoch, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    probe = x[:4].astype("float32") / 255
    np.testing.assert_allclose(again.predict(probe, verbose=0), model.predict(probe, verbose=0),
                               atol=1e-6)
