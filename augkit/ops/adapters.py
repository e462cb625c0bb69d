"""The ``albumentations`` adapter op: any public albumentations transform, on the cv backend.

Transforms are reachable only by the name of a public albumentations transform class (an
allow-list built from ``albumentations.__all__``), never by importing a dotted path.
"""

from __future__ import annotations

import functools
from typing import Any

from augkit.errors import SpecError
from augkit.ops.base import Op, register
from augkit.params import Anything, closest, fail

# Transforms that change the value range or dtype (augkit's rescale/normalize do that, with the
# range tracked) or that run arbitrary code.
_REFUSED = frozenset({"Normalize", "ToFloat", "FromFloat", "Lambda", "ToTensorV2"})
# Base classes albumentations exports; they are not transforms.
_BASES = frozenset({"BasicTransform", "DualTransform", "ImageOnlyTransform", "Transform3D",
                    "BaseCompose"})


@functools.lru_cache(maxsize=1)
def allowed_transforms() -> dict[str, type]:
    """Public albumentations transform classes by name (composition classes excluded)."""
    import albumentations as A
    from albumentations.core.transforms_interface import BasicTransform

    out = {}
    for name in getattr(A, "__all__", dir(A)):
        obj = getattr(A, name, None)
        if (isinstance(obj, type) and issubclass(obj, BasicTransform)
                and not name.startswith("_") and name not in _BASES):
            out[name] = obj
    return out


@register
class Albumentations(Op):
    """Run the albumentations transform named ``transform`` with keyword ``args`` (cv only).

    Each sample's transform is seeded from augkit's per-sample key, so results follow the
    seeding contract. The transform must keep the image shape. It always receives uint8 (the
    current value range mapped onto [0, 255]), the one dtype every albumentations transform
    accepts; in a float pipeline this op therefore quantizes to 256 levels. Its own ``p`` is
    forced to 1; augkit's ``p`` decides which samples it touches.

    Masks, boxes and keypoints go through albumentations itself, in the same call as their
    image: an image-only transform leaves them unchanged; a transform that moves pixels moves
    the targets it supports (its ``_targets``) and refuses the others (``SpecError``).

    Targets:
        image, label; mask, bboxes, keypoints through albumentations where it supports them.

    Example:
        >>> import augkit
        >>> op = augkit.ops.Albumentations(transform="CLAHE", args={"clip_limit": 2.0})
    """

    name = "albumentations"
    backends = ("cv",)
    targets = {"mask": "albumentations", "bboxes": "albumentations",
               "keypoints": "albumentations"}
    params = {
        "transform": Anything("", "albumentations class name", kinds=(str,)),
        "args": Anything({}, "keyword arguments of the transform", kinds=(dict,)),
    }

    def _check(self, path: str) -> None:
        table = allowed_transforms()
        name = self.transform
        if name in _REFUSED:
            raise fail(f"{path}.transform", name, "a transform that keeps the value range and "
                       "runs no code (use augkit's normalize or rescale instead)")
        if name not in table:
            raise fail(f"{path}.transform", name,
                       f"the name of a public albumentations transform{closest(name, table)}")
        args = plain(dict(self.args))
        args.pop("p", None)
        self.values["args"] = args
        accepted = _init_args(table[name])
        for key in args:
            if not isinstance(key, str) or (accepted is not None and key not in accepted):
                raise fail(f"{path}.args", key, f"an argument of albumentations.{name}"
                           f"{closest(str(key), sorted(accepted or ()))} (allowed: "
                           f"{', '.join(sorted(accepted or ()))})")
        try:
            self._instance = table[name](**args, p=1.0)
        except Exception as exc:  # albumentations raises pydantic/TypeError/ValueError
            message = " ".join(str(exc).split())
            raise SpecError(f"{path}.args: {name}({args}) was rejected by albumentations: "
                            f"{message}") from None

    def check_input(self, shape: tuple, path: str) -> None:
        """Probe the transform once per channel count so an unsupported layout fails up front."""
        from augkit.errors import InputError

        channels = shape[-1]
        probes = self.__dict__.setdefault("_probes", {})
        if channels not in probes:
            import numpy as np

            probe = np.random.default_rng(0).integers(0, 256, (max(shape[1], 16),
                                                      max(shape[2], 16), channels), np.uint8)
            try:
                self._instance(image=probe)
                probes[channels] = None
            except Exception as exc:  # albumentations raises TypeError/ValueError/cv2.error
                probes[channels] = " ".join(str(exc).split())
        if probes[channels] is not None:
            raise InputError(f"{path}: albumentations.{self.transform} failed on a test "
                             f"{channels}-channel uint8 image, so it cannot run here "
                             f"({probes[channels]})")

    def pinned(self, t: float) -> Op:
        return type(self)(p=1.0, transform=self.transform, args=dict(self.args))

    def target_effect(self, target: str) -> str | None:
        """``"keep"`` for image-only transforms, ``"albumentations"`` for the targets the
        transform supports, None (refused) for the others."""
        from albumentations.core.transforms_interface import ImageOnlyTransform
        from albumentations.core.type_definitions import Targets

        cls = type(self._instance)
        if issubclass(cls, ImageOnlyTransform):
            return "keep"
        declared = cls._targets if isinstance(cls._targets, tuple) else (cls._targets,)
        wanted = {"mask": Targets.MASK, "bboxes": Targets.BBOXES,
                  "keypoints": Targets.KEYPOINTS}.get(target)
        return "albumentations" if wanted in declared else None

    def sample(self, draws: Any, height: Any, width: Any) -> dict[str, Any]:
        return {"seed": draws.bits(1)}

    @property
    def instance(self) -> Any:
        """The albumentations transform object."""
        return self._instance


def plain(value: Any, path: str | None = None) -> Any:
    """Tuples to lists, recursively: arguments as the data YAML/JSON give back.

    Args:
        value: transform arguments.
        path: ``None`` (lenient, the adapter's own ``args``): other values pass unchanged.
            A field path (strict, :func:`augkit.from_albumentations`): numpy scalars become
            Python numbers and anything else that is not plain data (numbers, strings, lists,
            mappings with string keys) is refused.

    Raises:
        SpecError: (strict only) a value that is not plain data, named by its field path.
    """
    strict = path is not None
    if isinstance(value, (list, tuple)):
        return [plain(v, f"{path}[{i}]" if strict else None) for i, v in enumerate(value)]
    if isinstance(value, dict) and (not strict or all(isinstance(k, str) for k in value)):
        return {k: plain(v, f"{path}.{k}" if strict else None) for k, v in value.items()}
    if not strict or value is None or isinstance(value, (bool, str, int, float)):
        return value
    import numpy as np

    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise SpecError(f"{path}: got a {type(value).__name__}; allowed: plain data (numbers, "
                    f"strings, lists, mappings), since augkit specs are data, never code")


def _init_args(cls: type) -> set[str] | None:
    """Keyword arguments a transform's ``__init__`` declares (None if it takes ``**kwargs``)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "self"}
