"""albumentations' BboxParams / KeypointParams <-> augkit's ``targets`` settings.

Each mapped field, each refusal (field, value, what is allowed), the dropouts whose effect on
targets depends on those params, the round trip, and end-to-end agreement: a Compose with
box and keypoint params on fixed transforms gives the same boxes, labels and keypoints as
the converted pipeline on both backends, including what ``min_visibility``/``min_area`` drop.
"""

from __future__ import annotations

import inspect

import albumentations as A
import numpy as np
import pytest

import augkit
from augkit import albu_targets
from augkit import ops as O
from augkit.errors import SpecError
from augkit.kernels.cv import NP
from augkit.ops.adapters import allowed_transforms
from augkit.targets import BBOX_FORMATS
from augkit.targets.formats import from_pascal_voc

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _convert(bbox: dict | None = None, points: dict | None = None,
             transforms: list | None = None) -> augkit.Pipeline:
    kwargs = {}
    if bbox is not None:
        kwargs["bbox_params"] = A.BboxParams(**{"format": "pascal_voc", **bbox})
    if points is not None:
        kwargs["keypoint_params"] = A.KeypointParams(**{"format": "xy", **points})
    return augkit.Pipeline.from_albumentations(
        A.Compose(transforms or [A.HorizontalFlip(p=0.5)], **kwargs))


# -- albumentations -> augkit: what maps ---------------------------------------------------------
@pytest.mark.parametrize("fmt", BBOX_FORMATS)
@pytest.mark.parametrize("min_area,min_visibility", [(0.0, 0.0), (16.0, 0.25), (2.5, 1.0)])
def test_bbox_params_become_target_settings(fmt, min_area, min_visibility):
    pipe = _convert({"format": fmt, "min_area": min_area, "min_visibility": min_visibility})
    assert (pipe.targets.bbox_format, pipe.targets.min_area, pipe.targets.min_visibility) == (
        fmt, min_area, min_visibility)
    assert pipe.targets.keypoint_mode == "drop" and pipe.targets.mask_fill == 0
    assert [op.name for op in pipe.ops] == ["flip_horizontal"]


@pytest.mark.parametrize("fields", [None, [], ["labels"], ("class_id",)])
def test_none_or_one_label_field_is_accepted(fields):
    pipe = _convert({"format": "coco", "label_fields": fields},
                    {"label_fields": fields})
    assert pipe.targets.bbox_format == "coco"


@pytest.mark.parametrize("angle_in_degrees", [True, False])
def test_xy_keypoint_params_keep_the_drop_mode(angle_in_degrees):
    # angle_in_degrees only converts angle columns, which 'xy' keypoints do not have
    pipe = _convert(points={"angle_in_degrees": angle_in_degrees})
    assert pipe.targets == augkit.targets.TargetSettings()


def test_a_plain_list_or_compose_without_params_gets_default_targets():
    assert augkit.Pipeline.from_albumentations([A.HorizontalFlip()]).targets.is_default()
    assert _convert().targets.is_default()


# -- albumentations -> augkit: what is refused ---------------------------------------------------
REFUSED = [
    ({"min_width": 2.0}, None, r"bbox_params\.min_width: got 2\.0; allowed: 0\.0 .*box width"),
    ({"min_height": 1}, None, r"bbox_params\.min_height: got 1; allowed: 0\.0 .*height"),
    ({"max_accept_ratio": 3.0}, None, r"bbox_params\.max_accept_ratio: got 3\.0; allowed: None"),
    ({"clip": True}, None, r"bbox_params\.clip: got True; allowed: False .*InputError"),
    ({"filter_invalid_bboxes": True}, None,
     r"bbox_params\.filter_invalid_bboxes: got True; allowed: False .*invalid input boxes"),
    ({"check_each_transform": False}, None,
     r"bbox_params\.check_each_transform: got False; allowed: True .*every geometric stage"),
    ({"label_fields": ["labels", "scores"]}, None,
     r"bbox_params\.label_fields: got \['labels', 'scores'\]; allowed: None or one.*bbox_labels"),
    ({"min_visibility": 1.5}, None, r"bbox_params\.min_visibility: got 1\.5; allowed: .* <= 1"),
    ({"min_area": -1.0}, None, r"bbox_params\.min_area: got -1(\.0)?; allowed: a number"),
    (None, {"format": "yx"}, r"keypoint_params\.format: got 'yx'; allowed: 'xy'"),
    (None, {"format": "xya"}, r"keypoint_params\.format: got 'xya'; allowed: 'xy'.*angles"),
    (None, {"format": "xysa"}, r"keypoint_params\.format: got 'xysa'; allowed: 'xy'"),
    (None, {"remove_invisible": False},
     r"keypoint_params\.remove_invisible: got False; allowed: True .*visibility column"),
    (None, {"check_each_transform": False},
     r"keypoint_params\.check_each_transform: got False; allowed: True"),
    (None, {"label_fields": ["joint", "person"]},
     r"keypoint_params\.label_fields: got \['joint', 'person'\]; allowed: None or one.*"
     + "keypoint_labels"),
]


@pytest.mark.parametrize("bbox,points,match", REFUSED)
def test_unimplemented_params_are_refused_with_field_value_and_allowed(bbox, points, match):
    with pytest.raises(SpecError, match=match):
        _convert(bbox, points)


def test_refused_defaults_are_albumentations_defaults():
    """The one value each refused field may take is albumentations' real default."""
    for cls, fixed in ((A.BboxParams, albu_targets._BBOX_FIXED),
                       (A.KeypointParams, albu_targets._KEYPOINT_FIXED)):
        signature = inspect.signature(cls.__init__).parameters
        for key, (default, _) in fixed.items():
            assert signature[key].default == default and type(signature[key].default) is type(
                default), (cls.__name__, key)


@pytest.mark.parametrize("params", [A.BboxParams(format="coco"), A.KeypointParams(format="xy")])
def test_every_params_attribute_is_mapped_refused_or_explained(params):
    known = {"label_fields", "format", *albu_targets._BBOX_MAPPED, *albu_targets._BBOX_FIXED,
             *albu_targets._KEYPOINT_FIXED, *albu_targets._KEYPOINT_IGNORED}
    assert set(vars(params)) <= known
    kwargs = {"bbox_params" if isinstance(params, A.BboxParams) else "keypoint_params": params}
    compose = A.Compose([A.HorizontalFlip()], **kwargs)
    next(iter(compose.processors.values())).params.min_depth = 2.0  # a future attribute
    with pytest.raises(SpecError, match=r"\.min_depth: got 2\.0; augkit has no equivalent"):
        augkit.Pipeline.from_albumentations(compose)


def test_additional_targets_are_still_refused():
    with pytest.raises(SpecError, match=r"Compose\.additional_targets: got \{'mask2': 'mask'\}"):
        augkit.Pipeline.from_albumentations(A.Compose(
            [A.HorizontalFlip()], bbox_params=A.BboxParams(format="coco"),
            additional_targets={"mask2": "mask"}))


# -- dropouts read the Compose's params ----------------------------------------------------------
def test_erasing_maps_only_without_target_params():
    erasing = A.Erasing(p=0.5)
    assert [op.name for op in _convert(transforms=[erasing]).ops] == ["erasing"]
    # albumentations' Erasing shrinks and drops boxes under its holes; the adapter runs it
    op = _convert({"format": "coco"}, transforms=[erasing]).ops[0]
    assert (op.name, op.transform) == ("albumentations", "Erasing")


@pytest.mark.parametrize("transform", [A.Erasing(), A.CoarseDropout(), A.GridDropout(),
                                       A.XYMasking(num_masks_x=1), A.PixelDropout(),
                                       A.MaskDropout(), A.RandomGridShuffle()],
                         ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("bbox,points,match", [
    ({"min_visibility": 0.3}, None, "drops boxes under its holes by the Compose's min_area"),
    ({"min_area": 4.0}, None, "drops boxes under its holes by the Compose's min_area"),
    (None, {}, "drops the keypoints under its holes"),
])
def test_dropouts_refused_where_their_params_matter(transform, bbox, points, match):
    with pytest.raises(SpecError, match=rf"transforms\[1\]: {type(transform).__name__} {match}"):
        _convert(bbox, points, transforms=[A.HorizontalFlip(), transform])


def test_constrained_dropout_is_refused_with_boxes():
    with pytest.raises(SpecError, match="picked by their labels"):
        _convert({}, transforms=[A.ConstrainedCoarseDropout(bbox_labels=[1])])


def _calls_get_processor(cls: type) -> bool:
    """Whether a method defined by ``cls`` itself calls ``self.get_processor``."""
    for value in vars(cls).values():
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is not None and "get_processor" in code.co_names:
            return True
    return False


def test_reads_params_covers_every_transform_that_reads_them():
    """Scan albumentations' code: a public transform with a method that calls
    ``get_processor`` is listed, or is refused anyway (mixing, 3-D)."""
    for name, cls in allowed_transforms().items():
        if any(_calls_get_processor(k) for k in cls.__mro__
               if k.__module__.startswith("albumentations.augmentations")):
            refused = cls.__module__.endswith(("mixing.transforms", "transforms3d.transforms"))
            assert albu_targets.reads_params(cls) or refused, name
        else:
            assert not albu_targets.reads_params(cls), name


@pytest.mark.parametrize("transform", [A.Rotate(limit=10, rotate_method="ellipse"),
                                       A.Affine(rotate=(-5, 5), rotate_method="ellipse")],
                         ids=lambda t: type(t).__name__)
def test_ellipse_box_rotation_stays_with_albumentations(transform):
    # "ellipse" gives tighter rotated boxes than augkit's moved corners
    op = augkit.Pipeline.from_albumentations([transform]).ops[0]
    assert (op.name, op.transform) == ("albumentations", type(transform).__name__)
    largest = type(transform)(**{**transform.get_transform_init_args(),
                                 "rotate_method": "largest_box"})
    assert augkit.Pipeline.from_albumentations([largest]).ops[0].name == "rotate"


# -- augkit -> albumentations ----------------------------------------------------------------------
def test_default_settings_emit_no_params():
    compose = augkit.Pipeline.default().to_albumentations()
    assert compose.processors == {}


@pytest.mark.parametrize("settings", [{"bbox_format": "yolo"}, {"min_area": 9.5},
                                      {"bbox_format": "coco", "min_visibility": 0.4}])
def test_non_default_settings_emit_both_params(settings):
    pipe = augkit.Pipeline([O.Rotate(), O.Brightness()], targets=settings)
    compose = pipe.to_albumentations()
    box, points = (compose.processors[k].params for k in ("bboxes", "keypoints"))
    expected = {**augkit.targets.TargetSettings().to_dict(), **settings}
    assert (box.format, box.min_area, box.min_visibility) == (
        expected["bbox_format"], expected["min_area"], expected["min_visibility"])
    assert (box.label_fields, box.clip, box.min_width, box.check_each_transform) == (
        None, False, 0.0, True)
    assert (points.format, points.remove_invisible, points.label_fields) == ("xy", True, None)


@pytest.mark.parametrize("settings", [{}, *({"bbox_format": f} for f in BBOX_FORMATS[1:]),
                                      {"bbox_format": "coco", "min_area": 12.0,
                                       "min_visibility": 0.35}, {"min_visibility": 1.0}])
@pytest.mark.parametrize("ops", [[O.FlipHorizontal(p=0.3), O.Rotate(angle_range=(-9, 9))],
                                 [O.Contrast(), O.Albumentations(transform="CLAHE")]],
                         ids=["geometric", "value"])
def test_round_trip_keeps_target_settings(settings, ops):
    pipe = augkit.Pipeline(ops, targets=settings)
    assert augkit.Pipeline.from_albumentations(pipe.to_albumentations()) == pipe


@pytest.mark.parametrize("settings,match", [
    ({"keypoint_mode": "flag"}, r"targets\.keypoint_mode \('flag'\): .* no keypoint visibility"),
    ({"mask_fill": 255}, r"targets\.mask_fill \(255\): albumentations has no pipeline-wide"),
])
def test_settings_without_albumentations_form_are_refused(settings, match):
    with pytest.raises(SpecError, match=match):
        augkit.Pipeline([O.FlipHorizontal()], targets=settings).to_albumentations()


def test_dropout_ops_are_refused_next_to_emitted_params():
    ops = [O.FlipHorizontal(), O.Erasing(), O.Albumentations(transform="CoarseDropout")]
    assert len(augkit.Pipeline(ops).to_albumentations().transforms) == 3  # no params: fine
    with pytest.raises(SpecError, match=r"ops\[1\] \(erasing\): .*Erasing shrinks boxes.*; "
                                        r"ops\[2\] \(albumentations\): CoarseDropout reads"):
        augkit.Pipeline(ops, targets={"min_visibility": 0.5}).to_albumentations()


# -- end to end: the same boxes, labels and keypoints --------------------------------------------
H, W = 32, 40
BOXES = np.array([[14, 10, 22, 18],    # a: stays inside
                  [0, 4, 6, 12],       # b: flipped to the right edge, then pushed mostly out
                  [3, 20, 13, 28],     # c: flipped right, partly out (about 70 % visible)
                  [29, 1, 38, 9]], np.float32)  # d: flipped left, inside
LABELS = np.array(["a", "b", "c", "d"])
POINTS = np.array([[20.0, 16.0], [2.0, 5.0], [37.0, 30.0], [10.0, 10.0]], np.float32)


def _compose(fmt: str, **thresholds) -> A.Compose:
    return A.Compose([A.HorizontalFlip(p=1.0),
                      A.Affine(rotate=(10, 10), translate_px={"x": (6, 6), "y": (0, 0)}, p=1.0)],
                     bbox_params=A.BboxParams(format=fmt, label_fields=["labels"], **thresholds),
                     keypoint_params=A.KeypointParams(format="xy", label_fields=["ids"]))


@pytest.mark.parametrize("fmt,thresholds,dropped", [
    ("pascal_voc", {"min_visibility": 0.5}, ["b"]),
    ("coco", {"min_area": 63.0}, ["b", "c"]),  # every kept box has that area at every step
    ("yolo", {"min_visibility": 0.5, "min_area": 10.0}, ["b"]),
    ("albumentations", {}, []),
])
def test_converted_pipeline_gives_albumentations_targets_on_both_backends(fmt, thresholds,
                                                                          dropped):
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    boxes = from_pascal_voc(NP, BOXES, fmt, H, W)
    compose = _compose(fmt, **thresholds)
    theirs = compose(image=image, bboxes=boxes, labels=LABELS, keypoints=POINTS,
                     ids=np.arange(4))
    # the thresholds do drop: without them albumentations keeps every box
    unfiltered = _compose(fmt)(image=image, bboxes=boxes, labels=LABELS, keypoints=POINTS,
                               ids=np.arange(4))
    assert list(unfiltered["labels"]) == list(LABELS)
    assert [x for x in LABELS if x not in list(theirs["labels"])] == dropped

    pipe = augkit.Pipeline.from_albumentations(compose)
    assert [op.name for op in pipe.ops] == ["flip_horizontal", "rotate", "translate"]
    assert pipe.targets.bbox_format == fmt
    for backend in ("cv", "tf"):
        ours = pipe(image=image, bboxes=boxes, bbox_labels=LABELS, keypoints=POINTS,
                    keypoint_labels=np.arange(4), seed=0, backend=backend)
        ours = {k: np.asarray(v) for k, v in ours.items()}
        assert ours["bbox_labels"].astype(str).tolist() == list(theirs["labels"]), backend
        np.testing.assert_allclose(ours["bboxes"], np.asarray(theirs["bboxes"]).reshape(-1, 4),
                                   atol=1e-4 if fmt in ("pascal_voc", "coco") else 1e-5)
        assert ours["keypoint_labels"].tolist() == list(theirs["ids"]) == [0, 3], backend
        np.testing.assert_allclose(ours["keypoints"], theirs["keypoints"], atol=1e-4)
        assert np.abs(ours["image"].astype(int) - theirs["image"].astype(int)).max() <= 1


def test_min_area_is_checked_after_every_transform_by_albumentations_at_the_end_by_augkit():
    """The documented difference: a box below min_area before a rotation grows it."""
    compose = A.Compose([A.HorizontalFlip(p=1.0), A.Affine(rotate=(30, 30), p=1.0)],
                        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"],
                                                 min_area=70.0))
    image, box = np.zeros((H, W, 3), np.uint8), np.array([[16, 12, 24, 20]], np.float32)
    assert compose(image=image, bboxes=box, labels=[1])["labels"] == []  # 64 px² after the flip
    ours = augkit.Pipeline.from_albumentations(compose)(image=image, bboxes=box,
                                                        bbox_labels=np.array([1]))
    assert ours["bbox_labels"].tolist() == [1]  # about 119 px² at the end
