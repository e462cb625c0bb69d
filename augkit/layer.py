"""TensorFlow entry points: the tf backend's batch apply and the Keras layer.

Imported only when ``backend="tf"`` or :meth:`augkit.Pipeline.as_layer` is used.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from augkit import rng
from augkit.errors import InputError
from augkit.kernels.tf import TF, warp


def _as_int64(value: Any, name: str) -> Any:
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return tf.cast(value, tf.int64)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        try:
            import numpy as np

            if isinstance(value, np.integer) and value >= 0:
                return int(value)
        except ImportError:  # pragma: no cover
            pass
        raise InputError(f"{name}: got {value!r}; allowed: a non-negative integer or tensor")
    return value


def _assert_in_range(x: tf.Tensor, value_range: tuple[float, float]) -> tf.Tensor:
    """Fail (also inside graphs) on float input outside the declared range, or NaN.

    Keras feeds a model's float32 input: uint8 pictures arrive as 0-255 floats, and clipping them
    to the default [0, 1] would silently destroy them.
    """
    lo, hi = value_range
    ok = tf.reduce_all((x >= lo) & (x <= hi))
    message = (f"images: float values outside the declared value_range [{lo:g}, {hi:g}] (or "
               f"NaN); rescale the data first or build the pipeline with value_range=(0, 255)")
    check = tf.debugging.Assert(ok, [message, tf.reduce_min(x), tf.reduce_max(x)])
    with tf.control_dependencies([check]):
        return tf.identity(x)


@tf.autograph.experimental.do_not_convert  # plain TF ops, no Python control flow on tensors
def apply_tf(pipeline: Any, images: Any, labels: Any = None, *, seed: Any, index: Any = None,
             epoch: Any = 0, targets: Any = None) -> tuple[Any, Any]:
    """The tf backend of :meth:`augkit.Pipeline.apply` (graph-safe; see its docstring).

    With ``targets`` (augkit/targets: masks, boxes, keypoints) the images come back as
    ``(images, targets)``, moved by the same stages.
    """
    x = tf.convert_to_tensor(images)
    if x.shape.rank != 4 or x.shape[-1] not in (1, 3, 4):
        raise InputError(f"images: expected shape (N, H, W, C) with C in 1, 3, 4, got "
                         f"{x.shape}")
    if x.dtype not in (tf.uint8, tf.float32):
        raise InputError(f"images: dtype {x.dtype.name} is not supported; allowed: uint8 or "
                         f"float32")
    pipeline.require_backend("tf")
    for i, op in enumerate(pipeline.ops):
        if None not in x.shape[1:]:
            op.check_input(tuple(x.shape), f"ops[{i}] ({op.name})")
    if x.dtype == tf.float32:
        x = _assert_in_range(x, pipeline.value_range)
    n = tf.shape(x, out_type=tf.int64)[0]
    idx = tf.range(n) if index is None else tf.reshape(tf.cast(index, tf.int64), [-1])
    if index is not None and idx.shape[0] is not None and x.shape[0] is not None \
            and idx.shape[0] != x.shape[0]:
        raise InputError(f"index: expected {x.shape[0]} non-negative integers (one per image), "
                         f"got {idx.shape[0]}")
    seed, epoch = _as_int64(seed, "seed"), _as_int64(epoch, "epoch")
    # Eager calls run op by op on purpose: a tf.function would retrace for every new pipeline
    # (~0.3 s) and its graph optimizer specializes arithmetic to the batch shape, so results
    # would move by an ulp between batch sizes. In tf.data and Keras the caller's graph is used.
    keys = rng.sample_keys(seed, idx, epoch)
    if targets is not None:
        return pipeline.run(x, keys, TF, warp, backend="tf", targets=targets), labels
    return pipeline.run_batch(x, labels, keys, TF, warp, backend="tf")


@keras.saving.register_keras_serializable(package="augkit")
class AugmentLayer(keras.layers.Layer):
    """A Keras layer running an augkit pipeline on the tf backend.

    When training, each call augments its batch; sample ``i`` of the ``k``-th training call
    gets index ``k * batch_size + i``, so a run is reproducible from ``seed``. At inference,
    only the deterministic value-range ops (``rescale``, ``normalize``) run, so the model sees
    the same value range either way; without them the layer passes images through unchanged.

    Float input must lie in the pipeline's ``value_range`` (checked in the graph: a loud
    ``InvalidArgumentError`` rather than silently clipped pictures). A model whose float32
    input carries 0-255 pixels needs ``value_range=(0, 255)``.

    Args:
        pipeline: the pipeline's dict form (``Pipeline.to_dict()``).
        seed: the seed of the augmentation.
        value_range: overrides the pipeline's declared range of float input.

    Example:
        >>> import augkit, keras
        >>> layer = augkit.Pipeline.default().as_layer(seed=1)
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), layer])
    """

    def __init__(self, pipeline: dict, seed: int = 0, value_range: Any = None,
                 **kwargs: Any) -> None:
        from augkit.pipeline import Pipeline

        super().__init__(**kwargs)
        if value_range is not None:  # Keras feeds float32: often 0-255 pictures
            pipeline = {**pipeline, "value_range": list(value_range)}
        self.pipeline_config = pipeline
        self.seed = int(seed)
        self.pipeline = Pipeline.from_dict(pipeline)
        self.pipeline.require_backend("tf", needed_by="a Keras layer")
        self.inference_pipeline = self.pipeline.value_only()
        self.calls = self.add_weight(name="calls", shape=(), dtype="int64",
                                     initializer="zeros", trainable=False)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            n = tf.shape(inputs, out_type=tf.int64)[0]
            step = self.calls.assign_add(1) - 1
            idx = step * n + tf.range(n)
            out, _ = apply_tf(self.pipeline, inputs, seed=self.seed, index=idx)
            return out
        if not self.inference_pipeline.ops:
            return inputs
        out, _ = apply_tf(self.inference_pipeline, inputs, seed=self.seed)
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        h, w = input_shape[1], input_shape[2]
        for op in self.pipeline.ops:
            if op.geometric:
                h, w = op.output_size(h, w)
        return (input_shape[0], h, w, input_shape[3])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pipeline": self.pipeline_config, "seed": self.seed})
        return config
