"""``bncnn``: the CIFAR-style CNN with BatchNormalization between each convolution and its ReLU.

``depth`` blocks of ``[Conv 3x3 -> BatchNormalization -> ReLU] x 2 -> MaxPool 2x2 -> Dropout``
(block ``b`` has ``width * 2**b`` filters), then a dense head ``Flatten -> Dense(head_units) ->
ReLU -> Dropout(head_dropout) -> Dense(num_classes, softmax)``. ``batch_norm=False`` builds
the same network without the BatchNormalization layers, for comparison; the only other
difference is that its convolutions then have a bias (with BatchNormalization a bias would be
cancelled by the normalization and is left out, as usual).

Input: float pixels in [0, 1] (end the augkit pipeline with ``rescale``), default 32x32x3.
"""

from __future__ import annotations

from typing import Any

from augkit.models import InputSpec, Plugin
from augkit_plugins import _check

__all__ = ["PLUGIN", "build"]

DEFAULT_SHAPE = (32, 32, 3)


def build(num_classes: int, input_shape: tuple[int, int, int] | None = None, *,
          width: int = 32, depth: int = 3, dropout: float = 0.25, head_units: int = 128,
          head_dropout: float = 0.5, batch_norm: bool = True) -> Any:
    """Build the (BN-)CNN.

    Args:
        num_classes: classes of the softmax output (at least 2).
        input_shape: ``(height, width, channels)``; default ``(32, 32, 3)``. Height and width
            must be at least ``2**depth`` (each block halves them).
        width: filters of the first block's convolutions; each block doubles them.
        depth: number of blocks.
        dropout: dropout rate after each block's pooling.
        head_units: units of the hidden dense layer of the head (0: no hidden layer).
        head_dropout: dropout rate before the classifier.
        batch_norm: put BatchNormalization between each convolution and its ReLU.

    Returns:
        An uncompiled ``keras.Model`` named ``"bncnn"`` (``"cnn"`` without BatchNormalization).

    Example:
        >>> from augkit_plugins.bncnn import build  # doctest: +SKIP
        >>> model = build(10, (32, 32, 3), width=16, depth=2)  # doctest: +SKIP
    """
    num_classes = _check.num_classes(num_classes, "bncnn")
    depth = _check.integer(depth, "bncnn.depth", 1, 8)
    shape = _check.shape(DEFAULT_SHAPE if input_shape is None else input_shape,
                         "bncnn.input_shape", min_size=2 ** depth)
    width = _check.integer(width, "bncnn.width", 1, 4096)
    dropout = _check.number(dropout, "bncnn.dropout", 0.0, 1.0, hi_open=True)
    head_units = _check.integer(head_units, "bncnn.head_units", 0, 1_000_000)
    head_dropout = _check.number(head_dropout, "bncnn.head_dropout", 0.0, 1.0, hi_open=True)
    batch_norm = _check.flag(batch_norm, "bncnn.batch_norm")

    import keras
    from keras import layers

    inputs = keras.Input(shape, name="image")
    x = inputs
    for b in range(depth):
        for c in (1, 2):
            x = layers.Conv2D(width * 2 ** b, 3, padding="same", use_bias=not batch_norm,
                              kernel_initializer="he_normal", name=f"block{b + 1}_conv{c}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"block{b + 1}_bn{c}")(x)
            x = layers.ReLU(name=f"block{b + 1}_relu{c}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b + 1}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{b + 1}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    if head_units:
        x = layers.Dense(head_units, kernel_initializer="he_normal", name="head_dense")(x)
        x = layers.ReLU(name="head_relu")(x)
    x = layers.Dropout(head_dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="bncnn" if batch_norm else "cnn")


PLUGIN = Plugin(
    name="bncnn",
    description="CIFAR-style CNN: [Conv-BatchNorm-ReLU]x2-pool-dropout blocks, dense head",
    input=InputSpec(image_size=DEFAULT_SHAPE[:2], channels=DEFAULT_SHAPE[2],
                    value_range=(0.0, 1.0), note="no preprocessing inside the model"),
    build=build,
)
