"""``transfer``: a frozen pretrained backbone with a new head, trained in two phases.

The model is ``pixels -> preprocess -> backbone -> global average pooling -> dropout ->
Dense(num_classes, softmax)``. The backbone is a ``keras.applications`` network (VGG16,
ResNet50, InceptionV3, MobileNetV2, EfficientNetB0), a saved Keras model (``.keras``) or a TF
SavedModel folder (the TF Hub style, through ``keras.layers.TFSMLayer``). The backbone's own
preprocessing is a layer inside the model, so the model takes pixels in ``input_range``
(default 0-255) and a stream in another range is an error, not silent garbage
(:func:`augkit.models.check_input_range`). Training (the plugin's ``train`` hook) is two-phase:
see :mod:`augkit_plugins._finetune`. Details and choices: ``docs/models.md``.
"""

from __future__ import annotations

from typing import Any

from augkit.models import InputSpec, Plugin
from augkit.params import fail
from augkit_plugins import _check
from augkit_plugins._backbones import (
    FAMILIES,
    backbone_kind,
    local_weights,
    saved_keras_input_shape,
)

__all__ = ["PLUGIN", "build", "input_for", "train"]

DEFAULT_BACKBONE = "MobileNetV2"


def _shape(kind: str, source: Any, input_shape: Any) -> tuple[int, int, int] | None:
    if input_shape is None:
        if kind == "family":
            return (source.default_size, source.default_size, 3)
        return None
    min_size = source.min_size if kind == "family" else 1
    shape = _check.shape(input_shape, "transfer.input_shape", min_size=min_size)
    if kind == "family" and shape[2] != 3:
        raise fail("transfer.input_shape", input_shape,
                   f"3 channels (RGB) for {source.name}; decode images with color_mode='rgb'")
    return shape


def build(num_classes: int, input_shape: tuple[int, int, int] | None = None, *,
          backbone: str = DEFAULT_BACKBONE, weights: str | None = "imagenet",
          dropout: float = 0.2, alpha: float | None = None,
          input_range: tuple[float, float] = (0.0, 255.0),
          backbone_range: tuple[float, float] = (0.0, 1.0), feature_layer: str | None = None,
          endpoint: str | None = None, download: bool = True,
          download_timeout: float = 30.0) -> Any:
    """Build a transfer-learning model with a frozen backbone.

    Args:
        num_classes: classes of the softmax output (at least 2).
        input_shape: ``(height, width, channels)``. Default: the family's ImageNet size
            (224, InceptionV3 299) with 3 channels; the saved model's own input shape.
        backbone: ``"VGG16"``, ``"ResNet50"``, ``"InceptionV3"``, ``"MobileNetV2"``,
            ``"EfficientNetB0"``; a ``.keras`` file (its layers up to ``feature_layer``); or a
            SavedModel folder (its ``endpoint``, used as a frozen feature extractor).
        weights: Keras-application backbones: ``"imagenet"`` (from the Keras cache
            ``$KERAS_HOME/models`` or ``~/.keras/models``, downloaded if missing and allowed),
            ``None`` (random) or the path of a weights file.
        dropout: dropout rate before the classifier.
        alpha: MobileNetV2's width multiplier (default 1.0).
        input_range: range of the pixels the built model takes; mapped linearly to 0-255 before
            the family's preprocessing, or to ``backbone_range`` for saved backbones.
        backbone_range: saved backbones: the pixel range they were trained on.
        feature_layer: ``.keras`` backbones: the layer whose output is the features; default
            the last layer with a 4-D (feature map) output, i.e. before flattening, pooling or
            the classifier.
        endpoint: SavedModel backbones: the endpoint to call; default ``"serve"``
            (``model.export``), else ``"serving_default"`` (``tf.saved_model.save``).
        download: allow downloading missing ImageNet weights (also off when the environment
            variable ``AUGKIT_OFFLINE`` is 1).
        download_timeout: seconds for resolving the host and for each socket operation.

    Returns:
        An uncompiled ``keras.Model`` whose layer ``"backbone"`` is frozen, with its
        BatchNormalization, dropout and noise layers in inference mode.

    Raises:
        SpecError: a bad option (the message names it, the value and what is allowed).
        InputError: missing weights (naming the file, where it is expected and how to get it),
            or an unusable saved backbone.
    """
    num_classes = _check.num_classes(num_classes, "transfer")
    kind, source = backbone_kind(backbone)
    shape = _shape(kind, source, input_shape)
    dropout = _check.number(dropout, "transfer.dropout", 0.0, 1.0, hi_open=True)
    input_range = _check.value_range(input_range, "transfer.input_range")
    backbone_range = _check.value_range(backbone_range, "transfer.backbone_range")
    download = _check.flag(download, "transfer.download")
    download_timeout = _check.number(download_timeout, "transfer.download_timeout", 0.1, 3600.0)
    if alpha is not None:
        if kind != "family" or source.name != "MobileNetV2":
            raise fail("transfer.alpha", alpha, "None (alpha is a MobileNetV2 option)")
        alpha = _check.number(alpha, "transfer.alpha", 0.01, 4.0)
    if kind == "family" and weights not in (None, "imagenet"):
        weights = local_weights(weights)
    for option, value, needs in (("feature_layer", feature_layer, "keras"),
                                 ("endpoint", endpoint, "savedmodel")):
        if value is not None and kind != needs:
            raise fail(f"transfer.{option}", value,
                       f"None (a {'.keras' if needs == 'keras' else 'SavedModel'} backbone "
                       f"option)")

    from augkit_plugins._transfer_model import build_model

    return build_model(kind, source, num_classes=num_classes, shape=shape, weights=weights,
                       dropout=dropout, alpha=alpha, input_range=input_range,
                       backbone_range=backbone_range, feature_layer=feature_layer,
                       endpoint=endpoint, download=download, download_timeout=download_timeout)


def train(model: Any, train_ds: Any, val_ds: Any = None, *, epochs: int, callbacks: Any = (),
          head_epochs: int | None = None, fine_tune_layers: int = 20,
          learning_rate: float = 1e-3, fine_tune_learning_rate: float = 1e-5,
          steps_per_epoch: int | None = None, validation_steps: int | None = None,
          verbose: Any = "auto") -> dict[str, list[float]]:
    """Two-phase training; see :func:`augkit_plugins._finetune.train`."""
    from augkit_plugins._finetune import train as run

    return run(model, train_ds, val_ds, epochs=epochs, callbacks=callbacks,
               head_epochs=head_epochs, fine_tune_layers=fine_tune_layers,
               learning_rate=learning_rate, fine_tune_learning_rate=fine_tune_learning_rate,
               steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
               verbose=verbose)


def input_for(*, input_shape: Any = None, backbone: Any = DEFAULT_BACKBONE,
              input_range: Any = (0.0, 255.0), backbone_range: Any = (0.0, 1.0),
              **_other_options: Any) -> InputSpec:
    """The input of a model built with these options (other build options do not matter)."""
    kind, source = backbone_kind(backbone)
    shape = _shape(kind, source, input_shape)
    if shape is None and kind == "keras":
        shape = saved_keras_input_shape(source)
    value_range = _check.value_range(input_range, "transfer.input_range")
    if kind == "family":
        note = source.preprocessing()
    else:
        lo, hi = _check.value_range(backbone_range, "transfer.backbone_range")
        note = f"rescaled to the backbone's [{lo:g}, {hi:g}] inside the model"
    size = tuple(shape[:2]) if shape is not None and None not in shape[:2] else None
    channels = shape[2] if shape is not None else None
    return InputSpec(image_size=size, channels=channels, value_range=value_range, note=note)


PLUGIN = Plugin(
    name="transfer",
    description=("frozen pretrained backbone (" + ", ".join(FAMILIES) + ", a .keras model or "
                 "a SavedModel) with a new head, two-phase fine-tuning"),
    input=input_for(),
    build=build,
    train=train,
    input_for=input_for,
)
