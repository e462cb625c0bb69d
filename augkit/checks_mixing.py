"""What :mod:`augkit.checks` needs to check pipelines that mix labels (mixup, cutmix).

Generated cases carry class indices; a pipeline that mixes gets them one-hot. Mixed labels are
checked for what mixing promises (docs/mixing-and-policies.md), and batch independence is
checked on the ops before the first mixing op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augkit.ops.mixing import is_mixing

CLASSES = 5  # one-hot width of the generated cases' labels


def mixes(pipeline: Any) -> bool:
    """Whether the pipeline holds a mixing op."""
    return any(is_mixing(op) for op in pipeline.ops)


def labels_for(pipeline: Any, labels: np.ndarray) -> np.ndarray:
    """Class-index labels as the pipeline takes them: one-hot if it mixes."""
    if not mixes(pipeline):
        return labels
    return np.eye(CLASSES, dtype=np.float32)[np.asarray(labels) % CLASSES]


def mixed_labels_problem(pipeline: Any, given: np.ndarray, labels: Any) -> str | None:
    """What is wrong with mixed ``labels`` (from one-hot ``given``), or None.

    Float32 rows of non-negative weights summing to 1, weights only on classes present in the
    batch, and unchanged when no mixing op applies (every p = 0).
    """
    labels = np.asarray(labels)
    if labels.dtype != np.float32 or labels.shape != given.shape:
        return f"mixed labels are {labels.shape} {labels.dtype}, expected {given.shape} float32"
    if not np.allclose(labels.sum(axis=1), 1.0, atol=1e-5) or labels.min() < 0.0:
        return "mixed labels are not rows of non-negative weights summing to 1"
    if (labels[:, given.sum(axis=0) == 0] > 0).any():
        return "mixed labels put weight on a class absent from the batch"
    if all(op.p == 0.0 for op in pipeline.ops if is_mixing(op)) \
            and not np.array_equal(labels, given):
        return "labels changed although no mixing op applies (p = 0)"
    return None


def per_sample_part(pipeline: Any) -> Any:
    """The pipeline of the ops before the first mixing op (same settings)."""
    first = next(i for i, op in enumerate(pipeline.ops) if is_mixing(op))
    settings = {k: getattr(pipeline, k) for k in ("fill_mode", "cval", "interpolation",
                                                  "value_range")}
    return type(pipeline)(pipeline.ops[:first], **settings)
