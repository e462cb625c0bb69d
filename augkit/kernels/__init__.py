"""Kernels: plain functions keyed ``(op, backend, target)``.

``augkit.kernels.common`` holds kernels written once against the backend math namespace and
registered for both backends; ``augkit.kernels.cv`` (numpy + OpenCV) and ``augkit.kernels.tf``
(TensorFlow, imported only when used) hold the backend-specific ones (warps, blur, adapters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from augkit.errors import SpecError

BACKENDS = ("cv", "tf")
_KERNELS: dict[tuple[str, str, str], Callable[..., Any]] = {}


def kernel(op: str, backends: tuple[str, ...] | str, target: str = "image") -> Callable:
    """Decorator registering ``fn`` as the kernel of ``op`` on ``backends`` for ``target``."""
    names = (backends,) if isinstance(backends, str) else backends

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for backend in names:
            _KERNELS[(op, backend, target)] = fn
        return fn

    return deco


def load_backend(backend: str) -> Any:
    """Import a backend's module (registering its kernels) and return its math namespace."""
    if backend == "cv":
        from augkit.kernels import common, cv, mixing, policies, targets, tone  # noqa: F401  # noqa: F401

        return cv.NP
    if backend == "tf":
        from augkit.kernels import common, mixing, policies, targets, tf, tone  # noqa: F401  # noqa: F401

        return tf.TF
    raise SpecError(f"backend: got {backend!r}; allowed: one of 'cv', 'tf'")


def lookup(op: str, backend: str, target: str = "image") -> Callable[..., Any]:
    """The kernel for ``(op, backend, target)``.

    Raises:
        SpecError: no such kernel; names what the op supports.
    """
    if (op, backend, target) not in _KERNELS and backend in BACKENDS:
        load_backend(backend)  # callers that imported a backend module directly (Keras layer)
    try:
        return _KERNELS[(op, backend, target)]
    except KeyError:
        have = sorted(b for (o, b, t) in _KERNELS if o == op and t == target)
        raise SpecError(
            f"op {op!r} has no {backend!r} kernel for {target}; supported backends: "
            f"{', '.join(have) or 'none'}"
        ) from None
