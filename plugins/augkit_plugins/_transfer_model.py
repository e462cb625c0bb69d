"""Keras side of the ``transfer`` plugin: preprocessing layers, backbones, the model.

Only built-in Keras layers are used, so a saved model reloads with plain
``keras.models.load_model``. Layer names the rest of the plugin relies on: ``"preprocess"``,
``"backbone"`` (the frozen feature extractor), ``"pool"``, ``"head_dropout"``, ``"classifier"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from augkit.errors import InputError, SpecError
from augkit.params import fail
from augkit_plugins._backbones import (
    CAFFE_MEAN_BGR,
    Family,
    fetch_imagenet,
    missing_weights,
)

# Layers that act differently while training and have a switch to turn that off.
_STOCHASTIC = {"Dropout": "rate", "SpatialDropout1D": "rate", "SpatialDropout2D": "rate",
               "SpatialDropout3D": "rate", "AlphaDropout": "rate", "GaussianDropout": "rate",
               "GaussianNoise": "stddev"}
# Layers that augment while training (checked by class name; they cannot be switched off).
_AUGMENTING = ("AugmentLayer", "RandAugment", "AugMix", "MixUp", "CutMix")


def _scale(input_range: tuple[float, float], lo: float, hi: float) -> tuple[float, float]:
    """``(scale, offset)`` of the linear map of ``input_range`` onto ``[lo, hi]``."""
    a, b = input_range
    scale = (hi - lo) / (b - a)
    return scale, lo - a * scale


def preprocess_layer(mode: str, input_range: tuple[float, float]) -> layers.Layer:
    """One built-in layer taking pixels in ``input_range`` to what a backbone family expects.

    ``mode`` is a :class:`Family` mode (``"caffe"``, ``"tf"``, ``"none"``) or ``"range:lo,hi"``
    for a backbone that takes ``[lo, hi]``. The result equals the family's ``preprocess_input``
    applied to the same pixels mapped to 0-255.
    """
    if mode == "caffe":  # RGB -> BGR and minus the mean: one fixed 1x1 convolution
        s, o = _scale(input_range, 0.0, 255.0)
        kernel = np.zeros((1, 1, 3, 3), np.float32)
        for out in range(3):
            kernel[0, 0, 2 - out, out] = s
        bias = np.asarray(CAFFE_MEAN_BGR, np.float32) * -1 + o
        conv = layers.Conv2D(3, 1, name="preprocess", trainable=False)
        conv.build((None, None, None, 3))
        conv.set_weights([kernel, bias])
        return conv
    if mode == "tf":
        s, o = _scale(input_range, -1.0, 1.0)
    elif mode == "none":
        s, o = _scale(input_range, 0.0, 255.0)
    elif mode.startswith("range:"):
        lo, hi = (float(v) for v in mode[6:].split(","))
        s, o = _scale(input_range, lo, hi)
    else:  # pragma: no cover - programming error
        raise ValueError(mode)
    if s == 1.0 and o == 0.0:
        return layers.Identity(name="preprocess")
    return layers.Rescaling(s, offset=o, name="preprocess")


def _walk(layer: Any) -> list[Any]:
    """``layer`` and every layer nested in it."""
    found = [layer]
    for sub in getattr(layer, "layers", ()):
        found.extend(_walk(sub))
    return found


def batch_norms(backbone: Any) -> list[Any]:
    """Every BatchNormalization layer in ``backbone``, nested ones included."""
    return [x for x in _walk(backbone) if isinstance(x, layers.BatchNormalization)]


def freeze_for_inference(backbone: Any) -> None:
    """Make a backbone compute the same function in training as in inference.

    Keras 3 lets ``fit``'s ``training=True`` override a ``backbone(x, training=False)`` call
    recorded in a functional model (keras-team/keras#20285), so that call alone does not keep
    the backbone in inference mode. Non-trainable BatchNormalization layers do run in inference
    mode in Keras 3, and dropout and noise layers are switched off (rate 0), which is what the
    ``training=False`` call meant. Layers that augment cannot be switched off: refused.
    """
    augmenting = [x.name for x in _walk(backbone)[1:]
                  if type(x).__name__.startswith("Random") or type(x).__name__ in _AUGMENTING]
    if augmenting:
        raise InputError(f"transfer.backbone: it contains layers that augment while training "
                         f"({', '.join(augmenting)}); inside a frozen backbone they would keep "
                         f"doing so. Save the backbone without them (augment with augkit.stream "
                         f"instead)")
    for x in _walk(backbone)[1:]:
        attr = _STOCHASTIC.get(type(x).__name__)
        if attr is not None:
            setattr(x, attr, 0.0)
    backbone.trainable = False


def _application(family: Family, shape: tuple[int, int, int], weights: Any, alpha: float | None,
                 download: bool, timeout: float) -> Any:
    from augkit_plugins._backbones import _SocketTimeout, imagenet_file, keras_cache_dir

    kwargs: dict[str, Any] = {"include_top": False, "weights": weights, "input_shape": shape}
    if family.name == "MobileNetV2":
        kwargs["alpha"] = 1.0 if alpha is None else alpha
    if weights == "imagenet":
        fetch_imagenet(family, shape, kwargs.get("alpha", 1.0), download=download,
                       timeout=timeout)
    constructor = getattr(keras.applications, family.name)
    if weights != "imagenet":
        return _construct(constructor, family, kwargs)
    try:
        with _SocketTimeout(timeout):  # a cached file with a bad hash makes Keras re-download
            return _construct(constructor, family, kwargs)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras' fetch failures are bare Exceptions
        name, url = imagenet_file(family, shape, kwargs.get("alpha", 1.0))
        raise missing_weights(family, keras_cache_dir() / name, url,
                              f"the cached file did not load: {' '.join(str(exc).split())}"
                              ) from None


def _construct(constructor: Any, family: Family, kwargs: dict[str, Any]) -> Any:
    try:
        return constructor(**kwargs)
    except ValueError as exc:  # Keras' own checks of sizes, alpha, ...
        shown = {k: v for k, v in kwargs.items() if k != "include_top"}
        raise SpecError(f"transfer: keras.applications.{family.name} refused {shown}: "
                        f"{' '.join(str(exc).split())}") from None


def _rank(layer: Any) -> int:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # a layer used several times has no single output
        return -1


def _keras_backbone(path: Path, feature_layer: str | None) -> Any:
    import augkit

    source = augkit.load_model(path)  # registers augkit's layers first
    if feature_layer is None:
        four_d = [x for x in source.layers if _rank(x) == 4]
        if not four_d:
            raise InputError(f"transfer.backbone: {str(path)!r} has no layer with a 4-D "
                             f"(feature map) output; pass feature_layer='<layer name>'")
        feature = four_d[-1]
    else:
        try:
            feature = source.get_layer(feature_layer)
        except ValueError:
            from augkit.params import closest

            names = [x.name for x in source.layers]
            raise fail("transfer.feature_layer", feature_layer,
                       f"a layer of {path.name}: {', '.join(names)}"
                       f"{closest(feature_layer, names)}") from None
    return keras.Model(source.inputs, feature.output, name="backbone")


def _savedmodel_backbone(path: Path, endpoint: str | None) -> Any:
    tried = [endpoint] if endpoint else ["serve", "serving_default"]
    errors = []
    for name in tried:
        try:
            return keras.layers.TFSMLayer(str(path), call_endpoint=name, trainable=False,
                                          name="backbone")
        except ValueError as exc:
            errors.append(f"{name!r}: {' '.join(str(exc).split())}")
    raise InputError(f"transfer.endpoint: the SavedModel {str(path)!r} has no usable endpoint "
                     f"({'; '.join(errors)}); pass endpoint='<signature name>'")


def savedmodel_input_shape(layer: Any) -> tuple[Any, ...] | None:
    """The image shape a TFSMLayer's endpoint takes, if it declares exactly one input."""
    import tensorflow as tf

    fn = layer.call_endpoint_fn
    spec = getattr(fn, "input_signature", None)
    if spec is None:
        spec = getattr(fn, "structured_input_signature", None)
    specs = [s for s in tf.nest.flatten(spec) if isinstance(s, tf.TensorSpec)] if spec else []
    if len(specs) != 1 or specs[0].shape.rank != 4:
        return None
    return tuple(specs[0].shape[1:])


def _features(x: Any, path: Path) -> Any:
    """The single tensor of a backbone output (one-entry dicts, as TF Hub models return)."""
    if isinstance(x, dict):
        if len(x) != 1:
            raise InputError(f"transfer.backbone: the SavedModel {str(path)!r} returns several "
                             f"outputs ({', '.join(sorted(x))}); export one feature tensor")
        x = next(iter(x.values()))
    return x


def build_model(kind: str, source: Any, *, num_classes: int, shape: tuple[int, int, int] | None,
                weights: Any, dropout: float, alpha: float | None,
                input_range: tuple[float, float], backbone_range: tuple[float, float],
                feature_layer: str | None, endpoint: str | None, download: bool,
                download_timeout: float) -> Any:
    """The transfer model; arguments already validated by ``transfer.build``."""
    if kind == "family":
        assert shape is not None
        backbone = _application(source, shape, weights, alpha, download, download_timeout)
        backbone.name = "backbone"
        mode = source.mode
        name = f"transfer_{source.name.lower()}"
    elif kind == "keras":
        backbone = _keras_backbone(source, feature_layer)
        declared = tuple(backbone.input_shape[1:])
        if shape is None:
            shape = declared
        elif any(d is not None and d != s for d, s in zip(declared, shape)):
            raise fail("transfer.input_shape", shape,
                       f"the backbone's own input shape {declared}")
        mode, name = f"range:{backbone_range[0]},{backbone_range[1]}", "transfer_keras"
    else:
        backbone = _savedmodel_backbone(source, endpoint)
        declared = savedmodel_input_shape(backbone)
        if shape is None:
            if declared is None or None in declared[:2]:
                raise InputError(f"transfer.input_shape: the SavedModel {str(source)!r} does "
                                 f"not declare a fixed image shape; pass input_shape=(h, w, c)")
            shape = declared
        elif declared is not None and any(d is not None and d != s
                                          for d, s in zip(declared, shape)):
            raise fail("transfer.input_shape", shape,
                       f"the SavedModel's own input shape {declared}")
        mode, name = f"range:{backbone_range[0]},{backbone_range[1]}", "transfer_savedmodel"
    if kind != "savedmodel":
        freeze_for_inference(backbone)

    inputs = keras.Input(tuple(shape), name="pixels")
    x = preprocess_layer(mode, input_range)(inputs)
    x = _features(backbone(x, training=False), source)
    rank = len(x.shape)
    if rank == 4:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    elif rank != 2:
        raise InputError(f"transfer.backbone: its output has shape {tuple(x.shape)}; allowed: "
                         f"a feature map (batch, h, w, c) or a feature vector (batch, c)")
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)
