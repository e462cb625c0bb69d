"""pipeline.as_layer() in a model trained on a stream: save, reload, inference passes through."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import augkit  # noqa: E402
from augkit.stream import stream  # noqa: E402

PIPELINE = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.1,
                                      zoom_range=0.1, horizontal_flip=True)


def _trained_model(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (24, 12, 12, 3), dtype=np.uint8)
    y = np.arange(24) % 2
    augment = PIPELINE.as_layer(seed=3, name="augment")
    model = keras.Sequential([
        keras.Input((12, 12, 3), dtype="uint8"),
        augment,
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # the stream feeds raw uint8 batches; the model augments them on the tf backend
    model.fit(stream(x, y, pipeline=None, batch_size=8), epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    return model, x, path


def test_model_with_augment_layer_saves_and_reloads_without_custom_objects(tmp_path):
    model, x, path = _trained_model(tmp_path)
    reloaded = keras.models.load_model(path)  # no custom_objects
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    layer = reloaded.get_layer("augment")
    assert type(layer).__name__ == "AugmentLayer" and layer.seed == 3
    passed = layer(tf.constant(x), training=False)
    assert np.array_equal(np.asarray(passed), x)  # unchanged at inference
    augmented = np.asarray(layer(tf.constant(x), training=True))
    assert not np.array_equal(augmented, x)  # still augments when training


def test_reload_in_a_fresh_process(tmp_path):
    _, x, path = _trained_model(tmp_path)
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import numpy as np, augkit
        model = augkit.load_model({str(path)!r})  # imports augkit.layer, then Keras loads
        x = np.load({str(tmp_path / "x.npy")!r})
        out = model.get_layer("augment")(x, training=False)
        assert np.array_equal(np.asarray(out), x)
        print("ok", model.predict(x, verbose=0).shape)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok (24, 2)" in result.stdout
