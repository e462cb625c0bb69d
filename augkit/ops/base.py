"""The op base class and the registry that resolves op names.

An op declares its parameters as data (``params``), samples them for a whole batch
(:meth:`Op.sample`, the only random part) and leaves the deterministic work to kernels keyed
``(op, backend, target)`` in :mod:`augkit.kernels`. Geometric ops instead return a forward
3×3 matrix per sample (:meth:`GeometricOp.matrix`) so the pipeline can fuse them into one warp.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from augkit.errors import SpecError
from augkit.params import PROBABILITY, Param, Range, closest, fail, short_repr
from augkit.targets import TARGETS

_REGISTRY: dict[str, type[Op]] = {}

#: What an op may declare for a target in ``Op.targets``: ``"keep"`` (passes unchanged),
#: ``"matrix"`` (moved by the op's matrix, the same one as the image; masks with nearest
#: interpolation) or ``"albumentations"`` (passed through the albumentations transform). A
#: target an op does not list is refused: passing it raises ``SpecError`` naming the op.
TARGET_EFFECTS = ("keep", "matrix", "albumentations")
#: The declaration of ops that move no pixel (colour, noise, blur, erasing).
KEEPS_TARGETS = {"mask": "keep", "bboxes": "keep", "keypoints": "keep"}
#: The declaration of geometric ops.
MOVES_TARGETS = {"mask": "matrix", "bboxes": "matrix", "keypoints": "matrix"}
_PHRASES = {"matrix": "{} (moved by the op's matrix)", "keep": "{} pass unchanged",
            "albumentations": "{} through albumentations where it supports them"}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator adding an op to the registry under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"op name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Sorted names of all registered ops."""
    return sorted(_REGISTRY)


def get(name: str, path: str = "op") -> type[Op]:
    """The op class registered as ``name``.

    Raises:
        SpecError: unknown name; the message lists the closest valid names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise SpecError(
            f"{path}: unknown op {short_repr(name)}{closest(name, list(_REGISTRY))} "
            f"(available: {', '.join(available())})"
        ) from None


class Op:
    """Base class of every augmentation op.

    Subclasses set ``name``, ``params`` (name → :class:`augkit.params.Param`) and implement
    :meth:`sample`. Keyword arguments are validated against ``params``; ``p`` is the
    probability that the op is applied to a given sample.

    ``targets`` declares the op's effect on masks, boxes and keypoints (see
    :data:`TARGET_EFFECTS`); the base class declares none, so a new op refuses them until it
    says what it does with them.

    Targets:
        image, label.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    targets: ClassVar[dict[str, str]] = {}
    default_p: ClassVar[float] = 1.0
    geometric: ClassVar[bool] = False
    backends: ClassVar[tuple[str, ...]] = ("cv", "tf")
    takes_uint8: ClassVar[bool] = False  # kernel converts uint8 itself (saves a pass)

    def __init__(self, p: float | None = None, *, _path: str | None = None, **kwargs: Any):
        path = _path or self.name
        unknown = [k for k in kwargs if k not in self.params]
        if unknown:
            allowed = sorted([*self.params, "p"])
            raise SpecError(
                f"{path}.{unknown[0]}: unknown parameter of op {self.name!r}"
                f"{closest(unknown[0], allowed)} (allowed: {', '.join(allowed)})"
            )
        self.values: dict[str, Any] = {}
        for key, decl in self.params.items():
            value = kwargs.get(key, decl.default)
            self.values[key] = decl.validate(value, f"{path}.{key}")
        self.p = PROBABILITY.validate(self.default_p if p is None else p, f"{path}.p")
        self._check(path)

    def _check(self, path: str) -> None:
        """Cross-parameter validation; raise :func:`augkit.params.fail` on a problem."""

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and key in values:
            return values[key]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {key!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({args}{', ' if args else ''}p={self.p!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore

    def to_dict(self) -> dict[str, Any]:
        """The op as plain data: ``{"op": name, <param>: value, ..., "p": p}``."""
        out: dict[str, Any] = {"op": self.name}
        for key, value in self.values.items():
            out[key] = list(value) if isinstance(value, tuple) else value
        out["p"] = self.p
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | None = None) -> Op:
        """Build and validate an op from its dict form (the ``"op"`` key is ignored)."""
        kwargs = {k: v for k, v in d.items() if k != "op"}
        allowed = sorted([*cls.params, "p"])
        for key in kwargs:
            if not isinstance(key, str):
                raise fail(f"{path or cls.name}.{key!r}", key,
                           f"a parameter name of op {cls.name!r} ({', '.join(allowed)})")
        return cls(_path=path, **kwargs)

    def pinned(self, t: float) -> Op:
        """A copy with every random range fixed at ``low + t * (high - low)`` and ``p = 1``.

        Used by ``augkit preview --sheet`` to show an op at the ends and middle of its range.
        """
        if not 0.0 <= t <= 1.0:
            raise fail("t", t, "a number in [0, 1]")
        kwargs = {k: decl.pin(self.values[k], t) for k, decl in self.params.items()}
        return type(self)(p=1.0, **kwargs)

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The op's random ranges, by parameter name."""
        return {k: self.values[k] for k, d in self.params.items() if isinstance(d, Range)}

    # -- what the pipeline asks of an op -------------------------------------------------------
    def target_effect(self, target: str) -> str | None:
        """This op's effect on ``target`` (``"mask"``, ``"bboxes"``, ``"keypoints"``), or None
        when it refuses it."""
        return self.targets.get(target)

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        """Sample this op's parameters for a batch (one row per sample).

        Args:
            draws: an :class:`augkit.rng.Draws` for this op; slots 1.. are free (0 is ``p``).
            height: image height (int, or a scalar tensor on the tf backend).
            width: image width.

        Returns:
            Arrays with the batch as first axis, keyed by parameter name.
        """
        return {}

    def output_range(self, value_range: tuple[float, float]) -> tuple[float, float]:
        """The value range after this op, given the range before it."""
        return value_range

    def output_dtype(self, dtype: str) -> str:
        """The dtype name (``"uint8"`` or ``"float32"``) after this op."""
        return dtype

    def check_input(self, shape: tuple, path: str) -> None:
        """Reject inputs the op cannot handle (shape is ``(N, H, W, C)``)."""


class GeometricOp(Op):
    """An op that moves pixels by an affine map; consecutive ones are fused into one warp.

    Targets:
        image, label; mask, bboxes, keypoints (moved by the op's matrix).
    """

    geometric = True
    targets = MOVES_TARGETS
    exact: ClassVar[bool] = False  # maps pixel centres onto pixel centres (flips)
    resizes: ClassVar[bool] = False  # output size differs from the input's, even when skipped

    def matrix(self, params: dict[str, Any], height: Any, width: Any, xp: Any) -> Any:
        """Forward 3×3 matrices ``(N, 3, 3)`` mapping input pixel coordinates to output ones."""
        raise NotImplementedError

    def identity_matrix(self, n: Any, height: Any, width: Any, xp: Any) -> Any:
        """The matrices a sample gets when ``p`` skips the op (identity unless it resizes)."""
        return xp.eye3(n)

    def output_size(self, height: Any, width: Any) -> tuple[Any, Any]:
        """Output image size given the input size (most geometric ops keep it)."""
        return height, width


def targets_line(cls: type[Op]) -> str:
    """The ``Targets:`` line an op's docstring must carry, rendered from its declaration."""
    groups: dict[str, list[str]] = {}
    for target in TARGETS:
        effect = cls.targets.get(target)
        if effect is not None:
            groups.setdefault(effect, []).append(target)
    parts = [_PHRASES[effect].format(", ".join(names)) for effect, names in groups.items()]
    return "image, label" + "".join("; " + part for part in parts) + "."


def sample_box_size(draws: Any, height: Any, width: Any, scale_range: tuple[float, float],
                    ratio_range: tuple[float, float], *, whole_pixels: bool = False) -> tuple:
    """Width and height of a random box: area fraction uniform in ``scale_range``, aspect ratio
    (width/height) log-uniform in ``ratio_range``, clipped to the image (draw slots 1 and 2).

    Shared by ``random_resized_crop`` (continuous) and ``erasing`` (whole pixels).
    """
    xp = draws.xp
    h, w = xp.f32(height), xp.f32(width)
    area = h * w * draws.uniform(1, *scale_range)
    ratio = xp.exp(draws.uniform(2, math.log(ratio_range[0]), math.log(ratio_range[1])))
    bw, bh = xp.sqrt(area * ratio), xp.sqrt(area / ratio)
    if whole_pixels:
        bw, bh = xp.round(bw), xp.round(bh)
    return xp.minimum(bw, w), xp.minimum(bh, h)
