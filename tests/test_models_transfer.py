"""The transfer plugin: preprocessing per family, ImageNet weights from the Keras cache (or a
quick, clear error), two-phase training, saved .keras and SavedModel backbones, reloading.

Nothing is downloaded: MobileNetV2 with alpha 0.35 at 32x32 and random weights, one or two epochs;
the weights tests run with KERAS_HOME in a temporary folder and downloads off or faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import augkit
import augkit.models as M
from augkit.errors import InputError, SpecError


def _python(code: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _stream(n=16, size=32, classes=3):
    """uint8 images, labels, and a float32 0-255 stream of them (the transfer models' range)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    return x, y, augkit.stream(x, y, pipeline=augkit.Pipeline.from_keras(horizontal_flip=True),
                               batch_size=8, dtype="float32")


# -- transfer: preprocessing and weights (no backbone weights needed) ------------------------------
@pytest.mark.parametrize("family", ["VGG16", "ResNet50", "InceptionV3", "MobileNetV2",
                                    "EfficientNetB0"])
def test_each_family_gets_its_own_preprocess_input(family):
    import keras
    from augkit_plugins._backbones import FAMILIES
    from augkit_plugins._transfer_model import preprocess_layer

    fam = FAMILIES[family]
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 4, 5, 3)).astype("float32")
    reference = getattr(keras.applications, fam.module).preprocess_input(pixels.copy())
    ours = np.asarray(preprocess_layer(fam.mode, (0.0, 255.0))(pixels))
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    from_unit = np.asarray(preprocess_layer(fam.mode, (0.0, 1.0))(pixels / 255))
    np.testing.assert_allclose(from_unit, reference, atol=1e-3)
    assert not np.allclose(reference, pixels) or fam.mode == "none"


def test_imagenet_file_names_are_the_ones_keras_applications_asks_for(monkeypatch):
    import keras
    from augkit_plugins._backbones import FAMILIES, imagenet_file
    from keras.src.utils import file_utils

    class Asked(Exception):
        pass

    def ask(fname=None, origin=None, **_kwargs):
        raise Asked(fname, origin)

    monkeypatch.setattr(file_utils, "get_file", ask)
    cases = [("VGG16", (32, 32, 3), 1.0), ("ResNet50", (32, 32, 3), 1.0),
             ("InceptionV3", (75, 75, 3), 1.0), ("MobileNetV2", (96, 96, 3), 0.35),
             ("MobileNetV2", (40, 40, 3), 0.5), ("EfficientNetB0", (32, 32, 3), 1.0)]
    for family, shape, alpha in cases:
        kwargs = {"alpha": alpha} if family == "MobileNetV2" else {}
        with pytest.raises(Asked) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MobileNetV2 at 40 px: "loading 224 weights"
            getattr(keras.applications, family)(include_top=False, weights="imagenet",
                                                input_shape=shape, **kwargs)
        assert info.value.args == imagenet_file(FAMILIES[family], shape, alpha), family


def test_imagenet_weights_come_from_the_keras_cache_or_fail_at_once(tmp_path):
    """KERAS_HOME is an empty folder and downloads are off: a clear error, then, with a file of
    the right name in the cache (random weights standing in for ImageNet's), a model using it."""
    home = tmp_path / "keras_home"
    home.mkdir()
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    result = _python(f"""
        import h5py, keras, numpy as np
        from keras.src.legacy.saving import legacy_h5_format
        import augkit.models as M
        from augkit.errors import InputError
        build = lambda: M.get("transfer").build(5, (96, 96, 3), alpha=0.35)
        try:
            build()
        except InputError as exc:
            print("ERROR:", exc)
        stand_in = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35,
                                                  include_top=False, weights=None)
        (keras_home := __import__("pathlib").Path("{home}") / "models").mkdir(exist_ok=True)
        with h5py.File(keras_home / "{name}", "w") as f:  # the legacy format Keras' files use
            legacy_h5_format.save_weights_to_hdf5_group(f, stand_in)
        loaded = build().get_layer("backbone").weights
        print("SAME:", all(np.array_equal(np.asarray(a), np.asarray(b))
                           for a, b in zip(stand_in.weights, loaded)), len(loaded))
        """, tmp_path, env={"KERAS_HOME": str(home), "AUGKIT_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (message,) = [line for line in result.stdout.splitlines() if line.startswith("ERROR:")]
    assert f"Missing file: {home / 'models' / name}" in message
    assert f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{name}" \
        in message
    assert "AUGKIT_OFFLINE" in message and "weights='/path/to/" in message
    (same,) = [line for line in result.stdout.splitlines() if line.startswith("SAME:")]
    assert same.split()[1] == "True" and int(same.split()[2]) > 100


def test_a_failed_download_is_the_same_clear_error(tmp_path, monkeypatch):
    import keras
    from augkit_plugins import _backbones

    monkeypatch.delenv(_backbones.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(_backbones, "keras_cache_dir", lambda: tmp_path / "models")
    monkeypatch.setattr(_backbones, "_resolves", lambda host, timeout: None)

    class FetchFailure(Exception):  # Keras raises a bare Exception with this text
        pass

    def refuse(fname, origin, **_kwargs):
        raise FetchFailure(f"URL fetch failure on {origin}: None -- no network in this test")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    with pytest.raises(InputError) as info:
        M.get("transfer").build(3, (32, 32, 3), backbone="VGG16")
    text = str(info.value)
    assert "download failed: URL fetch failure" in text
    assert str(tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in text
    with pytest.raises(InputError, match="download=False"):
        M.get("transfer").build(3, (32, 32, 3), backbone="VGG16", download=False)
    monkeypatch.setattr(_backbones, "_resolves", lambda host, timeout: f"{host} unreachable")
    with pytest.raises(InputError, match="storage.googleapis.com unreachable"):
        M.get("transfer").build(3, (32, 32, 3), backbone="VGG16")


def test_transfer_rejects_bad_options(tmp_path):
    build = M.get("transfer").build
    with pytest.raises(SpecError, match="did you mean 'MobileNetV2'"):
        build(3, backbone="MobileNetv2", weights=None)
    with pytest.raises(SpecError, match="no such file"):
        build(3, backbone=str(tmp_path / "nope.keras"), weights=None)
    with pytest.raises(InputError, match="is not a file"):
        build(3, (32, 32, 3), weights=str(tmp_path / "nope.h5"))
    with pytest.raises(SpecError, match="alpha is a MobileNetV2 option"):
        build(3, (32, 32, 3), backbone="VGG16", weights=None, alpha=0.5)
    with pytest.raises(SpecError, match="3 channels"):
        build(3, (32, 32, 1), weights=None)
    with pytest.raises(SpecError, match=r"transfer.input_shape.*>= 75"):
        build(3, (32, 32, 3), backbone="InceptionV3", weights=None)


# -- transfer: building, two-phase training, saving ------------------------------------------------
def _phase_recorder():
    """A callback recording, at the start of each fit call, what trains and at which rate."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.phases = []

        def on_train_begin(self, logs=None):
            layers = getattr(self.model.get_layer("backbone"), "layers", ())
            self.phases.append({
                "backbone": [x.name for x in layers if x.trainable_weights],
                "model": sorted(v.path for v in self.model.trainable_weights),
                "bn_trainable": [x.trainable for x in layers
                                 if isinstance(x, keras.layers.BatchNormalization)],
                "lr": float(self.model.optimizer.learning_rate),
            })

    return Recorder()


def _bn_state(backbone):
    import keras

    return [np.asarray(w) for x in backbone.layers
            if isinstance(x, keras.layers.BatchNormalization) for w in x.weights]


def test_transfer_two_phase_training_freezes_and_unfreezes_the_right_layers(tmp_path):
    import keras

    x, _y, ds = _stream()
    plugin = M.get("transfer")
    M.check_input_range(plugin.input_spec(input_shape=(32, 32, 3)), (0, 255))
    model = plugin.build(3, (32, 32, 3), weights=None, alpha=0.35)
    backbone = model.get_layer("backbone")
    assert [x.name for x in model.layers] == ["pixels", "preprocess", "backbone", "pool",
                                              "head_dropout", "classifier"]
    pixels = x[:2].astype("float32")
    np.testing.assert_allclose(
        np.asarray(model.get_layer("preprocess")(pixels)),
        keras.applications.mobilenet_v2.preprocess_input(pixels.copy()), atol=1e-5)
    weighted = [x.name for x in backbone.layers if x.weights
                and not isinstance(x, keras.layers.BatchNormalization)]
    before = _bn_state(backbone)

    recorder = _phase_recorder()
    history = plugin.train(model, ds, None, epochs=2, fine_tune_layers=3, callbacks=[recorder],
                           fine_tune_learning_rate=1e-4, verbose=0)
    head, tune = recorder.phases
    assert head["backbone"] == [] and len(head["model"]) == 2
    assert all("classifier" in path for path in head["model"])
    assert head["lr"] == pytest.approx(1e-3)
    assert tune["backbone"] == weighted[-3:]
    assert tune["lr"] == pytest.approx(1e-4)
    assert not any(head["bn_trainable"]) and not any(tune["bn_trainable"])
    assert len(tune["model"]) == 2 + sum(len(backbone.get_layer(n).trainable_weights)
                                         for n in weighted[-3:])
    for old, new in zip(before, _bn_state(backbone)):  # BN stayed in inference mode
        np.testing.assert_array_equal(old, new)
    assert sorted(history) == ["accuracy", "loss"] and len(history["loss"]) == 2

    model.save(tmp_path / "t.keras")
    again = keras.models.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(np.asarray(again(pixels)), np.asarray(model(pixels)), atol=1e-6)

    backbone.save_weights(tmp_path / "mine.weights.h5")  # weights= a local file
    local = plugin.build(3, (32, 32, 3), weights=str(tmp_path / "mine.weights.h5"), alpha=0.35)
    for a, b in zip(backbone.weights, local.get_layer("backbone").weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.fixture(scope="module")
def saved_bncnn(tmp_path_factory):
    model = M.get("bncnn").build(5, (32, 32, 3), width=4, depth=2, head_units=8)
    path = tmp_path_factory.mktemp("bncnn") / "digits04.keras"
    model.save(path)
    return path


def test_transfer_from_a_saved_keras_model(saved_bncnn, tmp_path):
    import keras

    plugin = M.get("transfer")
    spec = plugin.input_spec(backbone=str(saved_bncnn), input_range=(0, 255))
    assert spec.image_size == (32, 32) and spec.channels == 3 and "[0, 1]" in spec.note
    model = plugin.build(4, backbone=str(saved_bncnn))
    backbone = model.get_layer("backbone")
    assert backbone.output.shape[1:] == (8, 8, 8)  # the last feature map (block2_dropout)
    assert [x.name for x in backbone.layers][-1] == "block2_dropout"
    probe = np.random.default_rng(2).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(backbone(probe, training=True)),
                                  np.asarray(backbone(probe, training=False)))
    np.testing.assert_allclose(np.asarray(model.get_layer("preprocess")(probe * 255)), probe,
                               atol=1e-6)

    x, y, _ = _stream(classes=4)
    ds = augkit.stream(x, y, pipeline=None, batch_size=8, dtype="float32")
    recorder = _phase_recorder()
    history = plugin.train(model, ds, None, epochs=2, fine_tune_layers=1, callbacks=[recorder],
                           verbose=0)
    assert [p["backbone"] for p in recorder.phases] == [[], ["block2_conv2"]]
    assert len(history["loss"]) == 2
    model.save(tmp_path / "k.keras")
    again = keras.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(again.predict(probe * 255, verbose=0),
                               model.predict(probe * 255, verbose=0), atol=1e-6)
    with pytest.raises(SpecError, match="did you mean 'block2_pool'"):
        plugin.build(4, backbone=str(saved_bncnn), feature_layer="block2_pol")


def test_transfer_from_a_savedmodel_folder(tmp_path):
    import keras
    import tensorflow as tf

    extractor = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.GlobalAveragePooling2D()])
    extractor.export(str(tmp_path / "hub"), verbose=False)
    plugin = M.get("transfer")
    model = plugin.build(3, backbone=str(tmp_path / "hub"), backbone_range=(-1, 1))
    assert model.input_shape == (None, 16, 16, 3)
    assert isinstance(model.get_layer("backbone"), keras.layers.TFSMLayer)
    assert not model.get_layer("backbone").trainable_weights
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    ds = augkit.stream(x, np.arange(8) % 3, pipeline=None, batch_size=8, dtype="float32")
    recorder = _phase_recorder()
    history = plugin.train(model, ds, ds, epochs=2, callbacks=[recorder], verbose=0)
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.values())
    assert len(recorder.phases) == 1  # a SavedModel is not fine-tuned: the head trains throughout
    pixels = x.astype("float32")
    features = keras.Model(model.input, model.get_layer("head_dropout").input)
    np.testing.assert_allclose(np.asarray(features(pixels)),
                               np.asarray(extractor(pixels / 127.5 - 1)), atol=1e-5)
    model.save(tmp_path / "s.keras")
    with pytest.raises(ValueError, match="safe_mode=False"):  # Keras' rule for TFSMLayer
        keras.models.load_model(tmp_path / "s.keras")
    again = keras.models.load_model(tmp_path / "s.keras", safe_mode=False)
    np.testing.assert_allclose(np.asarray(again(pixels)), np.asarray(model(pixels)), atol=1e-6)

    class Module(tf.Module):  # tf.saved_model.save style: a signature returning a dict
        def __init__(self):
            self.w = tf.Variable(tf.ones((3, 5)))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
        def __call__(self, images):
            return {"feature_vector": tf.reduce_mean(images, axis=[1, 2]) @ self.w}

    module = Module()
    tf.saved_model.save(module, str(tmp_path / "raw"), signatures=module.__call__)
    raw = plugin.build(2, backbone=str(tmp_path / "raw"))
    assert raw.input_shape == (None, 8, 8, 3) and raw.output_shape == (None, 2)


def test_saved_models_reload_in_a_process_without_augkit(saved_bncnn, tmp_path):
    transfer = M.get("transfer").build(3, backbone=str(saved_bncnn))
    transfer.save(tmp_path / "t.keras")
    probe = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "probe.npy", probe)
    result = _python(f"""
        import sys, numpy as np, keras
        probe = np.load("probe.npy")
        for name, scale in (("{saved_bncnn}", 1 / 255), ("t.keras", 1)):
            model = keras.models.load_model(name)
            np.save(name.replace("/", "_") + ".out.npy", model.predict(probe * scale, verbose=0))
        print("AUGKIT:", any(m.startswith("augkit") for m in sys.modules))
        """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AUGKIT: False" in result.stdout
    import keras

    bncnn = keras.models.load_model(saved_bncnn)
    np.testing.assert_allclose(np.load(tmp_path / (str(saved_bncnn).replace("/", "_")
                                                   + ".out.npy")),
                               bncnn.predict(probe / 255, verbose=0), atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "t.keras.out.npy"),
                               transfer.predict(probe, verbose=0), atol=1e-6)
