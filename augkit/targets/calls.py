"""The target-aware calls of :class:`augkit.Pipeline`: ``augment`` (a batch) and the
per-sample call with masks, boxes or keypoints.

They validate the targets into a :class:`augkit.targets.batch.TargetBatch`, run the
pipeline's one execution path (:meth:`augkit.Pipeline.run`) with it, so every geometric stage
moves the targets with the image's own matrices, and rebuild the user's containers.
(Split from ``pipeline.py`` for size; it works on the pipeline object it is given and
never imports :mod:`augkit.pipeline`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit.batch_checks import check_labels, cv_keys
from augkit.errors import InputError
from augkit.kernels import load_backend


def augment(pipeline: Any, images: Any, labels: Any, given: dict[str, Any], *, seed: Any,
            backend: str, index: Any, epoch: Any) -> dict[str, Any]:
    """See :meth:`augkit.Pipeline.augment`."""
    pipeline.require_targets(given)
    xp = load_backend(backend)
    if backend == "tf":
        out, moved = _augment_tf(pipeline, images, labels, given, seed=seed, index=index,
                                 epoch=epoch)
    else:
        from augkit.kernels.cv import warp
        from augkit.targets import cv as tcv

        x = pipeline._check_images(images)
        n, height, width = x.shape[:3]
        check_labels(labels, n)
        keys = cv_keys(seed, index, epoch, n)
        tb, extra = tcv.prepare(given, n, height, width, pipeline.targets)
        out, tb = pipeline.run(x, keys, xp, warp, backend="cv", targets=tb)
        moved = tcv.finish(tb, extra, n)
    result = {"images": out}
    if labels is not None:
        result["labels"] = labels
    result.update(moved)
    return result


def _augment_tf(pipeline: Any, images: Any, labels: Any, given: dict[str, Any], *, seed: Any,
                index: Any, epoch: Any) -> tuple[Any, dict[str, Any]]:
    import tensorflow as tf

    from augkit.layer import apply_tf
    from augkit.targets import tf as ttf

    x = tf.convert_to_tensor(images)
    if x.shape.rank != 4:
        raise InputError(f"images: expected shape (N, H, W, C) with C in 1, 3, 4, got "
                         f"{x.shape}")
    dims = tf.shape(x, out_type=tf.int64)
    n, height, width = (x.shape[k] if x.shape[k] is not None else dims[k] for k in range(3))
    tb, extra = ttf.prepare(given, n, height, width, pipeline.targets)
    (out, tb), _ = apply_tf(pipeline, x, None, seed=seed, index=index, epoch=epoch, targets=tb)
    return out, ttf.finish(tb, extra)


_BATCH_OF = {"mask": "masks", "bboxes": "bboxes", "bbox_labels": "bbox_labels",
             "keypoints": "keypoints", "keypoint_labels": "keypoint_labels"}


def call_sample(pipeline: Any, image: Any, label: Any, given: dict[str, Any], *, seed: Any,
                backend: str, index: Any, epoch: Any) -> dict[str, Any]:
    """See :meth:`augkit.Pipeline.__call__`: one sample as a batch of one."""
    if backend == "tf":
        import tensorflow as tf

        batch = {_BATCH_OF[k]: _one_tf(k, v) for k, v in given.items()}
        images = tf.expand_dims(image, 0)
        idx = tf.reshape(tf.cast(index, tf.int64), [1])
        res = augment(pipeline, images, None, batch, seed=seed, backend="tf", index=idx,
                      epoch=epoch)
    else:
        arr = np.asarray(image)
        if arr.ndim != 3:
            raise InputError(f"image: expected shape (H, W, C), got {arr.shape}")
        batch = {_BATCH_OF[k]: (np.asarray(v)[None] if k == "mask" else [v])
                 for k, v in given.items()}
        res = augment(pipeline, arr[None], None, batch, seed=seed, backend=backend,
                      index=np.asarray([index]), epoch=epoch)
    out = {"image": res["images"][0], "label": label}
    for key in given:
        out[key] = res[_BATCH_OF[key]][0]
    return out


def _one_tf(key: str, value: Any) -> Any:
    import tensorflow as tf

    t = tf.convert_to_tensor(value)
    if key == "mask":
        return tf.expand_dims(t, 0)
    if t.shape.rank is None or t.shape.rank < 1:
        raise InputError(f"{key}: expected a tensor with one row per "
                         f"{'box' if 'bbox' in key else 'keypoint'}, got shape {t.shape}")
    return tf.RaggedTensor.from_tensor(tf.expand_dims(t, 0))
