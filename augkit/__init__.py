"""augkit: image data augmentation for TensorFlow/Keras that is correct, fast and reproducible.

Example:
    >>> import numpy as np, augkit
    >>> pipeline = augkit.Pipeline.from_keras(rotation_range=15, horizontal_flip=True)
    >>> images = np.zeros((8, 32, 32, 3), np.uint8)
    >>> out, labels = pipeline.apply(images, np.arange(8), seed=0)
"""

from __future__ import annotations

from typing import Any

from augkit import ops
from augkit.errors import InputError, SpecError
from augkit.pipeline import Pipeline
from augkit.spec import load

__version__ = "0.1.0"
__all__ = ["ImageDataGenerator", "InputError", "Pipeline", "SpecError", "__version__", "check",
           "expand", "load", "load_model", "ops", "stream"]

_LAZY = ("ImageDataGenerator", "stream")  # TensorFlow/Keras are imported only when these are used


def __getattr__(name: str) -> Any:
    """``augkit.stream`` and ``augkit.ImageDataGenerator``, imported on first use."""
    if name == "stream":
        import importlib

        # A callable module: augkit.stream(...) is augkit.stream.stream(...), see augkit/stream.py.
        return importlib.import_module("augkit.stream")
    if name == "ImageDataGenerator":
        from augkit.idg import ImageDataGenerator

        return ImageDataGenerator
    raise AttributeError(f"module 'augkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def check(pipeline: Any, **kwargs: Any) -> Any:
    """Run augkit's invariants on ``pipeline``; see :func:`augkit.checks.check`."""
    from augkit.checks import check as run

    return run(pipeline, **kwargs)


def expand(source: Any, out_dir: Any, **kwargs: Any) -> Any:
    """Write augmented copies of a data set to files; see :func:`augkit.expansion.expand`."""
    from augkit.expansion import expand as run

    return run(source, out_dir, **kwargs)


def load_model(path: Any, **kwargs: Any) -> Any:
    """``keras.models.load_model`` for models that contain augkit layers.

    Keras finds custom layers only once their module is imported; this imports augkit's layer
    first, so a fresh process needs no ``custom_objects``.

    Example:
        >>> import augkit  # doctest: +SKIP
        >>> model = augkit.load_model("model.keras")  # doctest: +SKIP
    """
    import keras

    import augkit.layer  # noqa: F401  (registers AugmentLayer with Keras)

    return keras.models.load_model(path, **kwargs)
