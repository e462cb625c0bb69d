"""Two-phase training of a ``transfer`` model: the head first, then the top of the backbone.

Phase 1 trains only the head (the backbone frozen). Phase 2 unfreezes the backbone's top
``fine_tune_layers`` layers that have weights (BatchNormalization layers are not counted and stay
frozen, so they keep running in inference mode with their ImageNet statistics) and goes on at a
lower learning rate. Each phase compiles the model anew (Keras needs that after ``trainable``
changes) and calls ``fit`` once, so callbacks see two ``fit`` calls; epoch numbers run on from
phase 1 to phase 2 (``initial_epoch``). The model is left as the last phase trained it (so a
saved model's optimizer state matches its trainable weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras

from augkit.errors import InputError
from augkit_plugins import _check
from augkit_plugins._transfer_model import batch_norms


def tunable_layers(backbone: Any) -> list[Any]:
    """The backbone's layers phase 2 may unfreeze, bottom to top: with weights, not BN."""
    if isinstance(backbone, keras.layers.TFSMLayer) or not hasattr(backbone, "layers"):
        return []
    return [x for x in backbone.layers
            if x.weights and not isinstance(x, keras.layers.BatchNormalization)]


def freeze_all(backbone: Any) -> None:
    """Phase 1: nothing in the backbone trains."""
    backbone.trainable = False


def unfreeze_top(backbone: Any, n: int) -> list[str]:
    """Phase 2: only the top ``n`` tunable layers train; BatchNormalization stays frozen.

    Returns:
        The names of the unfrozen layers.
    """
    top = tunable_layers(backbone)[-n:] if n else []
    backbone.trainable = True
    for x in backbone.layers:
        x.trainable = any(x is t for t in top)
    for bn in batch_norms(backbone):  # also inside unfrozen nested models
        bn.trainable = False
    return [x.name for x in top]


def _loss(model: Any, train_ds: Any) -> str:
    """Sparse or one-hot cross-entropy, from the labels the data set yields."""
    spec = getattr(train_ds, "element_spec", None)
    labels = spec[1] if isinstance(spec, tuple) and len(spec) >= 2 else None
    if labels is None:
        raise InputError("transfer.train: the training data must yield (images, labels) pairs")
    classes = model.output_shape[-1]
    shape = labels.shape
    if shape.rank == 2 and shape[-1] == classes and classes != 1 and labels.dtype.is_floating:
        return "categorical_crossentropy"
    return "sparse_categorical_crossentropy"


def _compile(model: Any, learning_rate: float, loss: str) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=["accuracy"])


def train(model: Any, train_ds: Any, val_ds: Any = None, *, epochs: int,
          callbacks: Sequence[Any] = (), head_epochs: int | None = None,
          fine_tune_layers: int = 20, learning_rate: float = 1e-3,
          fine_tune_learning_rate: float = 1e-5, steps_per_epoch: int | None = None,
          validation_steps: int | None = None, verbose: Any = "auto") -> dict[str, list[float]]:
    """Train a ``transfer`` model in two phases; see the module docstring.

    Args:
        model: a model built by the ``transfer`` plugin (or reloaded from its ``.keras`` file).
        train_ds: batches of ``(images, labels)``: int class indices or one-hot rows.
        val_ds: validation batches, or ``None``.
        epochs: total epochs of both phases.
        callbacks: Keras callbacks, passed to both ``fit`` calls.
        head_epochs: epochs of phase 1; default ``ceil(epochs / 2)``. All epochs when
            ``fine_tune_layers`` is 0 or the backbone is a SavedModel (not fine-tunable).
        fine_tune_layers: tunable backbone layers unfrozen in phase 2, counted from the top.
        learning_rate: Adam's learning rate in phase 1.
        fine_tune_learning_rate: Adam's learning rate in phase 2 (keep it small: large updates
            wreck the pretrained features).
        steps_per_epoch, validation_steps: passed to ``fit`` (needed for data sets that hold
            several epochs back to back, such as ``augkit.stream(..., epochs=E)``).
        verbose: passed to ``fit``.

    Returns:
        Per-epoch metrics of both phases, concatenated (Keras' ``history.history``).
    """
    epochs = _check.integer(epochs, "transfer.epochs", 1, 1_000_000)
    n = _check.integer(fine_tune_layers, "transfer.fine_tune_layers", 0, 1_000_000)
    learning_rate = _check.number(learning_rate, "transfer.learning_rate", 1e-12, 10.0)
    fine_lr = _check.number(fine_tune_learning_rate, "transfer.fine_tune_learning_rate",
                            1e-12, 10.0)
    try:
        backbone = model.get_layer("backbone")
    except ValueError:
        raise InputError("transfer.train: the model has no layer named 'backbone'; train "
                         "models built by the transfer plugin") from None
    tunable = bool(n and tunable_layers(backbone))
    if head_epochs is None:
        head_epochs = math.ceil(epochs / 2) if tunable else epochs
    else:
        head_epochs = _check.integer(head_epochs, "transfer.head_epochs", 0, epochs)
    if not tunable:
        head_epochs = epochs
    loss = _loss(model, train_ds)
    fit_args = {"validation_data": val_ds, "callbacks": list(callbacks),
                "steps_per_epoch": steps_per_epoch, "validation_steps": validation_steps,
                "verbose": verbose}

    history: dict[str, list[float]] = {}
    if head_epochs:
        freeze_all(backbone)
        _compile(model, learning_rate, loss)
        _merge(history, model.fit(train_ds, epochs=head_epochs, **fit_args).history)
    if head_epochs < epochs:
        unfreeze_top(backbone, n)
        _compile(model, fine_lr, loss)
        _merge(history, model.fit(train_ds, initial_epoch=head_epochs, epochs=epochs,
                                  **fit_args).history)
    return history  # left as trained last, so a saved model's optimizer state matches it


def _merge(history: dict[str, list[float]], new: dict[str, Any]) -> None:
    for key, values in new.items():
        history.setdefault(key, []).extend(float(v) for v in values)
