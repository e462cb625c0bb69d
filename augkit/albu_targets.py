"""albumentations' ``BboxParams`` / ``KeypointParams`` and augkit's ``targets`` settings.

:func:`from_compose` reads a ``Compose``'s box and keypoint params into the pipeline's
``targets`` (:class:`augkit.targets.TargetSettings`); every setting augkit does not implement
the same way is refused with a ``SpecError`` naming ``bbox_params.<field>`` or
``keypoint_params.<field>``, the value and what is allowed. :func:`to_params` is the other
direction. Both also say which transforms change meaning once boxes or keypoints are in play:
albumentations' dropouts read the Compose's params (they shrink and drop boxes under their
holes and drop keypoints in them), which neither augkit's ``erasing`` nor the adapter op
(whose own Compose uses fixed params) reproduces. The table is in ``docs/albumentations.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from augkit.errors import SpecError
from augkit.targets import TargetSettings

# BboxParams / KeypointParams attribute -> augkit targets setting, where the meaning is the same.
_BBOX_MAPPED = {"format": "bbox_format", "min_area": "min_area",
                "min_visibility": "min_visibility"}
# Attributes augkit implements only at albumentations' default value: attribute -> (that
# default, what augkit does instead). tests/test_albu_targets.py checks the defaults against
# albumentations' signatures.
_BBOX_FIXED: dict[str, tuple[Any, str]] = {
    "min_width": (0.0, "augkit has no minimum box width; it drops boxes by min_area and "
                  + "min_visibility only"),
    "min_height": (0.0, "augkit has no minimum box height; it drops boxes by min_area and "
                   + "min_visibility only"),
    "max_accept_ratio": (None, "augkit has no aspect-ratio filter"),
    "clip": (False, "augkit refuses input boxes outside the image (InputError) instead of "
             + "clipping them; clip them in your data"),
    "filter_invalid_bboxes": (False, "augkit refuses invalid input boxes (InputError) instead "
                              + "of dropping them"),
    "check_each_transform": (True, "augkit clips and checks boxes after every geometric stage; "
                             + "it has no end-only check"),
}
_KEYPOINT_FIXED: dict[str, tuple[Any, str]] = {
    "remove_invisible": (True, "albumentations then keeps every keypoint and returns no "
                         + "visibility; augkit's keypoint_mode 'flag' also keeps every keypoint "
                         + "but adds a visibility column ((K, 3) instead of (K, 2)). For that, "
                         + "convert with remove_invisible=True and rebuild the pipeline with "
                         + "targets={'keypoint_mode': 'flag'}"),
    "check_each_transform": (True, "augkit drops a keypoint that leaves the image at any "
                             + "geometric stage; it has no end-only check"),
}
# Attributes without effect on what augkit accepts ('xy' keypoints have no angle column).
_KEYPOINT_IGNORED = frozenset({"angle_in_degrees"})


@dataclass(frozen=True)
class ComposeTargets:
    """What a ``Compose``'s box and keypoint params mean for augkit.

    Attributes:
        settings: the pipeline's ``targets`` (only the mapped fields; the rest default).
        boxes: the Compose has ``bbox_params``.
        thresholds: its ``min_area`` or ``min_visibility`` is above 0.
        points: the Compose has ``keypoint_params``.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    boxes: bool = False
    thresholds: bool = False
    points: bool = False


def _label_fields(value: Any, where: str, key: str) -> None:
    if value is None or (isinstance(value, (list, tuple)) and len(value) <= 1):
        return
    raise SpecError(f"{where}: got {value!r}; allowed: None or one field, since augkit carries "
                    f"one label array per {'box' if key == 'bbox_labels' else 'keypoint'} "
                    f"(`{key}`, one row each: stack several fields as its columns)")


def _read(params: Any, path: str, mapped: dict[str, str], fixed: dict[str, tuple[Any, str]],
          ignored: frozenset = frozenset()) -> dict[str, Any]:
    """The mapped settings of one params object, after refusing what augkit lacks."""
    out: dict[str, Any] = {}
    labels = "bbox_labels" if path == "bbox_params" else "keypoint_labels"
    for key, value in vars(params).items():
        where = f"{path}.{key}"
        if key == "label_fields":
            _label_fields(value, where, labels)
        elif key in fixed:
            default, why = fixed[key]
            if value is not default and value != default:
                raise SpecError(f"{where}: got {value!r}; allowed: {default!r} (albumentations' "
                                f"default), since {why}")
        elif key in mapped:
            try:  # augkit's own bounds and names, reported under the albumentations field
                TargetSettings(**{mapped[key]: value})
            except SpecError as exc:
                raise SpecError(str(exc).replace(f"targets.{mapped[key]}", where, 1)) from None
            out[mapped[key]] = value
        elif key not in ignored and not key.startswith("_"):
            known = sorted({*mapped, *fixed, *ignored, "label_fields"})
            raise SpecError(f"{where}: got {value!r}; augkit has no equivalent of this setting "
                            f"(it knows {', '.join(known)})")
    return out


def from_compose(compose: Any) -> ComposeTargets:
    """The targets settings of an ``A.Compose`` (its ``bbox_params`` and ``keypoint_params``).

    Args:
        compose: an ``albumentations.Compose`` (anything else: the default settings).

    Returns:
        A :class:`ComposeTargets`.

    Raises:
        SpecError: a setting augkit does not implement identically, naming
            ``bbox_params.<field>`` / ``keypoint_params.<field>``, the value and what is allowed.
    """
    import albumentations as A

    if not isinstance(compose, A.Compose):
        return ComposeTargets()
    settings: dict[str, Any] = {}
    boxes = compose.processors.get("bboxes")
    points = compose.processors.get("keypoints")
    if boxes is not None:
        settings.update(_read(boxes.params, "bbox_params", _BBOX_MAPPED, _BBOX_FIXED))
    if points is not None:
        fmt = points.params.format
        if fmt != "xy":
            raise SpecError(f"keypoint_params.format: got {fmt!r}; allowed: 'xy', since "
                            f"augkit's keypoints are (x, y) pixel indices (an optional third "
                            f"column is a visibility); it does not swap axes nor move angles "
                            f"or scales")
        _read(points.params, "keypoint_params", {}, _KEYPOINT_FIXED,
              _KEYPOINT_IGNORED | {"format"})
        settings["keypoint_mode"] = "drop"
    thresholds = settings.get("min_area", 0.0) > 0.0 or settings.get("min_visibility", 0.0) > 0.0
    return ComposeTargets(settings, boxes is not None, thresholds, points is not None)


def reads_params(transform: Any) -> bool:
    """Whether an albumentations transform (or class) reads the Compose's box or keypoint
    params.

    These are the dropouts (``CoarseDropout``, ``Erasing``, ``GridDropout``, ``XYMasking``,
    ``PixelDropout``, ``MaskDropout``, ...) and ``RandomGridShuffle``: they drop or shrink boxes
    by ``min_area``/``min_visibility`` and drop keypoints under their holes when
    ``remove_invisible`` is set.
    """
    import albumentations as A
    from albumentations.augmentations.dropout.transforms import BaseDropout

    cls = transform if isinstance(transform, type) else type(transform)
    return issubclass(cls, (BaseDropout, A.PixelDropout, A.MaskDropout, A.RandomGridShuffle))


def adapter_only(transform: Any, ct: ComposeTargets, path: str) -> bool:
    """Whether ``transform`` must stay the adapter op in a Compose with these params.

    Returns True when its effect on boxes is albumentations' own and the adapter op's fixed
    params (``min_area=0``, ``min_visibility=0``) give the same result: the Compose has
    ``bbox_params`` without thresholds and no ``keypoint_params``.

    Raises:
        SpecError: neither augkit nor the adapter op reproduces it (thresholds, keypoints).
    """
    if not (ct.boxes or ct.points) or not reads_params(transform):
        return False
    name = type(transform).__name__
    why = None
    if ct.points:
        why = "drops the keypoints under its holes (keypoint_params, remove_invisible=True)"
    elif ct.thresholds:
        why = "drops boxes under its holes by the Compose's min_area and min_visibility"
    elif name == "ConstrainedCoarseDropout":
        why = "places its holes on boxes picked by their labels"
    if why:
        raise SpecError(f"{path}: {name} {why}; augkit's erasing keeps every target and the "
                        f"albumentations adapter op runs it with fixed params (min_area=0, "
                        f"min_visibility=0, remove_invisible=False, its own labels), so "
                        f"neither matches. Allowed: such transforms with bbox_params without "
                        f"min_area/min_visibility and without keypoint_params")
    return True


def to_params(pipeline: Any) -> tuple[dict[str, Any], dict[int, str], list[str]]:
    """``Compose`` keyword arguments for the pipeline's targets settings.

    Only settings that differ from augkit's defaults are emitted (augkit's defaults are
    albumentations' defaults), as ``bbox_params`` and ``keypoint_params`` together.

    Returns:
        ``(kwargs, op_problems, setting_problems)``: the keyword arguments for ``A.Compose``;
        per op index, why the op has no faithful form next to these params; and the settings
        that have no albumentations form at all.
    """
    s = pipeline.targets
    problems = []
    if s.keypoint_mode != "drop":
        problems.append(f"targets.keypoint_mode ({s.keypoint_mode!r}): albumentations reports "
                        f"no keypoint visibility (KeypointParams(remove_invisible=False) keeps "
                        f"every keypoint without one)")
    if s.mask_fill != 0:
        problems.append(f"targets.mask_fill ({s.mask_fill}): albumentations has no "
                        f"pipeline-wide mask fill (each transform's fill_mask applies with a "
                        f"constant border only, and other borders mirror or repeat the mask)")
    if s.is_default():
        return {}, {}, problems
    import albumentations as A

    kwargs = {"bbox_params": A.BboxParams(format=s.bbox_format, min_area=s.min_area,
                                          min_visibility=s.min_visibility),
              "keypoint_params": A.KeypointParams(format="xy")}
    ops: dict[int, str] = {}
    for i, op in enumerate(pipeline.ops):
        if op.name == "erasing":
            ops[i] = ("with bbox_params and keypoint_params albumentations' Erasing shrinks boxes "
                      "to their visible part and drops covered boxes and keypoints; augkit's "
                      "erasing keeps every target (docs/targets.md)")
        elif op.name == "albumentations" and reads_params(op.instance):
            ops[i] = (f"{op.transform} reads the Compose's bbox and keypoint params (dropping "
                      f"targets under its holes); the adapter op runs it with fixed params")
    return kwargs, ops, problems
