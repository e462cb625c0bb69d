"""Masks, boxes and keypoints: the calls, formats, drop rules, settings and errors.

The property-based invariants over every op are in ``tests/test_targets_invariants.py``; the
stream in ``tests/test_targets_stream.py``. Expected values here are worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import yaml

import augkit
from augkit import ops
from augkit.errors import InputError, SpecError
from augkit.kernels.cv import NP
from augkit.targets import BBOX_FORMATS, TargetSettings
from augkit.targets.formats import from_pascal_voc, to_pascal_voc

IMAGE = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
FLIP_H = augkit.Pipeline([ops.FlipHorizontal(p=1.0)])


def _rows(value) -> list:
    return value.to_list() if isinstance(value, tf.RaggedTensor) else [np.asarray(v).tolist()
                                                                      for v in value]


# -- the calls ----------------------------------------------------------------------------------
def test_per_sample_call_returns_the_keys_given():
    out = FLIP_H(image=IMAGE, label=3, mask=np.zeros((12, 16), np.uint8),
                 bboxes=np.array([[1, 2, 5, 6]]), bbox_labels=np.array([9]),
                 keypoints=np.array([[0.0, 0.0]]), keypoint_labels=np.array([4]))
    assert sorted(out) == ["bbox_labels", "bboxes", "image", "keypoint_labels", "keypoints",
                           "label", "mask"]
    assert out["bboxes"].tolist() == [[11.0, 2.0, 15.0, 6.0]]  # x' = 16 - x
    assert out["keypoints"].tolist() == [[15.0, 0.0]]  # pixel index: x' = 15 - x
    assert out["label"] == 3 and out["bbox_labels"].tolist() == [9]
    assert sorted(FLIP_H(image=IMAGE, keypoints=np.zeros((0, 2)))) == ["image", "keypoints",
                                                                       "label"]


def test_apply_keeps_returning_images_and_labels():
    x = np.stack([IMAGE] * 2)
    out = FLIP_H.apply(x, [1, 2], seed=0)
    assert isinstance(out, tuple) and out[1] == [1, 2]
    res = FLIP_H.augment(x, [1, 2], seed=0)
    assert list(res) == ["images", "labels"] and np.array_equal(res["images"], out[0])


def test_targets_do_not_change_the_image():
    pipe = augkit.Pipeline.from_keras(rotation_range=30, zoom_range=0.2, horizontal_flip=True,
                                      brightness_range=(0.8, 1.2))
    x = np.stack([IMAGE] * 3)
    for backend in ("cv", "tf"):
        alone, _ = pipe.apply(x, seed=5, backend=backend)
        res = pipe.augment(x, seed=5, backend=backend, masks=np.zeros((3, 12, 16), np.int32),
                           bboxes=[np.array([[1, 1, 4, 4]])] * 3)
        assert np.array_equal(np.asarray(alone), np.asarray(res["images"]))


def test_ragged_batch_on_both_backends():
    boxes = [np.array([[0, 0, 4, 4], [8, 2, 16, 12]]), np.zeros((0, 4)), np.array([[2, 2, 3, 3]])]
    labels = [np.array([5, 6]), np.array([], np.int64), np.array([7])]
    x = np.stack([IMAGE] * 3)
    cv = FLIP_H.augment(x, bboxes=boxes, bbox_labels=labels, seed=0)
    assert [b.tolist() for b in cv["bboxes"]] == [[[12, 0, 16, 4], [0, 2, 8, 12]], [],
                                                   [[13, 2, 14, 3]]]
    on_tf = FLIP_H.augment(x, bboxes=tf.ragged.constant(boxes, ragged_rank=1, dtype=tf.float32),
                           bbox_labels=tf.ragged.constant(labels, dtype=tf.int64), seed=0,
                           backend="tf")
    assert isinstance(on_tf["bboxes"], tf.RaggedTensor)
    assert on_tf["bboxes"].to_list() == [[[12, 0, 16, 4], [0, 2, 8, 12]], [], [[13, 2, 14, 3]]]
    assert on_tf["bbox_labels"].to_list() == [[5, 6], [], [7]]
    # a dense (N, B, 4) tensor and numpy lists are accepted on tf as well
    dense = FLIP_H.augment(x[:2], bboxes=tf.constant([[[0, 0, 4, 4]], [[1, 1, 2, 2]]]), seed=0,
                           backend="tf")
    assert dense["bboxes"].to_list() == [[[12, 0, 16, 4]], [[14, 1, 15, 2]]]
    listed = FLIP_H.augment(x, bboxes=boxes, bbox_labels=labels, seed=0, backend="tf")
    assert listed["bbox_labels"].to_list() == [[5, 6], [], [7]]


def test_inside_tf_data_map_with_ragged_boxes():
    pipe = augkit.Pipeline([ops.Rotate(angle_range=(-30, 30)), ops.FlipHorizontal()])
    x = np.stack([IMAGE] * 4)
    boxes = tf.ragged.constant([[[1, 1, 6, 5]], [[2, 2, 9, 9], [0, 0, 3, 3]], [], [[4, 4, 8, 8]]],
                               ragged_rank=1, dtype=tf.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, boxes)).enumerate()

    def one(i, pair):
        out = pipe(image=pair[0], bboxes=pair[1], seed=3, index=i, backend="tf")
        return out["image"], out["bboxes"]

    per_element = [b.numpy() for _, b in ds.map(one)]
    batched = pipe.augment(x, bboxes=boxes, seed=3, index=np.arange(4), backend="tf")
    cv = pipe.augment(x, bboxes=[b.numpy() for b in boxes], seed=3, index=np.arange(4))
    for a, b, c in zip(per_element, batched["bboxes"], cv["bboxes"]):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-3)
        np.testing.assert_allclose(a, c, atol=1e-3)

    @tf.function
    def graph(images, rt):  # batched, in a graph, ragged in and out
        res = pipe.augment(images, bboxes=rt, seed=3, index=tf.range(4, dtype=tf.int64),
                           backend="tf")
        return res["bboxes"]

    np.testing.assert_allclose(graph(tf.constant(x), boxes).flat_values.numpy(),
                               batched["bboxes"].flat_values.numpy(), atol=1e-3)


# -- formats ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", BBOX_FORMATS)
def test_formats_round_trip_and_agree_on_a_flip(fmt):
    px = np.array([[1.0, 2.0, 5.0, 10.0], [0.0, 0.0, 16.0, 12.0]], np.float32)
    given = from_pascal_voc(NP, px, fmt, 12, 16)
    np.testing.assert_allclose(to_pascal_voc(NP, given, fmt, 12, 16), px, atol=1e-5)
    pipe = augkit.Pipeline([ops.FlipHorizontal(p=1.0)], targets={"bbox_format": fmt})
    out = pipe(image=IMAGE, bboxes=given)["bboxes"]
    np.testing.assert_allclose(to_pascal_voc(NP, out, fmt, 12, 16),
                               [[11, 2, 15, 10], [0, 0, 16, 12]], atol=1e-5)


def test_normalized_formats_use_the_output_size():
    pipe = augkit.Pipeline([ops.RandomResizedCrop(size=(24, 32), scale_range=(1, 1),
                                                  ratio_range=(16 / 12, 16 / 12))],
                           targets={"bbox_format": "yolo"})
    out = pipe(image=IMAGE, bboxes=np.array([[0.5, 0.5, 0.5, 0.5]]))  # the centre quarter
    assert out["image"].shape == (24, 32, 3)
    np.testing.assert_allclose(out["bboxes"], [[0.5, 0.5, 0.5, 0.5]], atol=1e-5)
    coco = augkit.Pipeline(pipe.ops, targets={"bbox_format": "coco"})
    np.testing.assert_allclose(coco(image=IMAGE, bboxes=np.array([[4, 3, 8, 6]]))["bboxes"],
                               [[8, 6, 16, 12]], atol=1e-4)


# -- boxes: geometry and drop rules ------------------------------------------------------------
def _shift(dx: float, **targets) -> augkit.Pipeline:
    return augkit.Pipeline([ops.Translate(x_range=(dx, dx), y_range=(0, 0), unit="pixels")],
                           targets=targets or None)


def test_boxes_are_clipped_and_dropped_when_nothing_is_left():
    out = _shift(6)(image=IMAGE, bboxes=np.array([[8, 0, 12, 4], [12, 4, 16, 8], [0, 0, 2, 2]]),
                    bbox_labels=np.array([10, 11, 12]))
    assert out["bboxes"].tolist() == [[14, 0, 16, 4], [6, 0, 8, 2]]  # [18, 4, 22, 8] is gone
    assert out["bbox_labels"].tolist() == [10, 12]


def test_min_visibility_is_the_fraction_of_the_moved_box_left_inside():
    boxes = np.array([[8, 0, 12, 4], [6, 0, 10, 4]])  # after +6: 2/4 and 4/4 of the width left
    keep_half = _shift(6, min_visibility=0.5)(image=IMAGE, bboxes=boxes, bbox_labels=[0, 1])
    assert keep_half["bbox_labels"].tolist() == [0, 1]
    drop_half = _shift(6, min_visibility=0.51)(image=IMAGE, bboxes=boxes, bbox_labels=[0, 1])
    assert drop_half["bbox_labels"].tolist() == [1]
    assert drop_half["bboxes"].tolist() == [[12, 0, 16, 4]]


def test_min_area_is_in_output_square_pixels():
    boxes = np.array([[8, 0, 12, 4], [6, 0, 10, 4]])  # clipped areas 8 and 16 px²
    assert _shift(6, min_area=8)(image=IMAGE, bboxes=boxes)["bboxes"].shape == (2, 4)
    assert _shift(6, min_area=8.5)(image=IMAGE, bboxes=boxes)["bboxes"].tolist() == [
        [12, 0, 16, 4]]


def test_visibility_spans_stages_and_rotated_boxes_grow_to_their_bounds():
    # two warps (a value op between them): the second shift brings the box back, but what the
    # first one pushed out is lost; visibility compares with the box moved without clipping
    pipe = augkit.Pipeline([ops.Translate(x_range=(6, 6), y_range=(0, 0), unit="pixels"),
                            ops.Brightness(factor_range=(1, 1)),
                            ops.Translate(x_range=(-6, -6), y_range=(0, 0), unit="pixels")],
                           targets={"min_visibility": 0.4})
    out = pipe(image=IMAGE, bboxes=np.array([[8, 0, 12, 4]]))
    assert out["bboxes"].tolist() == [[8, 0, 10, 4]]  # half of it: 0.5 >= 0.4
    rot = augkit.Pipeline([ops.Rotate(angle_range=(90, 90))])
    square = augkit.Pipeline([ops.Rotate(angle_range=(45, 45))])
    np.testing.assert_allclose(rot(image=IMAGE, bboxes=np.array([[0, 0, 16, 12]]))["bboxes"],
                               [[2, 0, 14, 12]], atol=1e-4)  # 16x12 turned: 12x16, clipped
    half = 2 * np.sqrt(2)  # a 4x4 box about the centre turned 45°: its bounds are 4√2 wide
    np.testing.assert_allclose(square(image=IMAGE, bboxes=np.array([[6, 4, 10, 8]]))["bboxes"],
                               [[8 - half, 6 - half, 8 + half, 6 + half]], atol=1e-4)


# -- keypoints ---------------------------------------------------------------------------------
def test_keypoints_outside_are_dropped_or_flagged():
    pts = np.array([[0.0, 1.0], [10.0, 2.0], [15.5, 3.0], [-0.5, 4.0]])  # [-0.5, 15.5] inside
    dropped = _shift(6)(image=IMAGE, keypoints=pts, keypoint_labels=np.array([0, 1, 2, 3]))
    assert dropped["keypoints"].tolist() == [[6.0, 1.0], [5.5, 4.0]]
    assert dropped["keypoint_labels"].tolist() == [0, 3]
    flagged = _shift(6, keypoint_mode="flag")(image=IMAGE, keypoints=pts)["keypoints"]
    assert flagged.tolist() == [[6, 1, 1], [16, 2, 0], [21.5, 3, 0], [5.5, 4, 1]]
    # a visibility column comes in: it is kept, and zeroed when the point leaves the image
    with_vis = np.array([[0.0, 1.0, 2.0], [10.0, 2.0, 1.0], [3.0, 3.0, 0.0]])
    again = _shift(6, keypoint_mode="flag")(image=IMAGE, keypoints=with_vis)["keypoints"]
    assert again[:, 2].tolist() == [2.0, 0.0, 0.0]
    kept = _shift(6)(image=IMAGE, keypoints=with_vis)["keypoints"]
    assert kept.tolist() == [[6.0, 1.0, 2.0], [9.0, 3.0, 0.0]]


# -- masks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
def test_masks_take_mask_fill_from_outside_whatever_the_fill_mode(fill_mode):
    mask = np.arange(12 * 16, dtype=np.int32).reshape(12, 16) % 7 + 1
    pipe = augkit.Pipeline([ops.Translate(x_range=(3, 3), y_range=(0, 0), unit="pixels")],
                           fill_mode=fill_mode, targets={"mask_fill": 255})
    for backend in ("cv", "tf"):
        out = np.asarray(pipe(image=IMAGE, mask=mask, backend=backend)["mask"])
        assert out.dtype == np.int32 and (out[:, :3] == 255).all()
        assert np.array_equal(out[:, 3:], mask[:, :-3])


@pytest.mark.parametrize("op", [ops.Rotate(angle_range=(-45, 45)), ops.Zoom(factor_range=(0.5, 2)),
                                ops.RandomResizedCrop(size=(10, 9)), ops.CropAndPad(),
                                ops.Shear(angle_range=(-30, 30), axis="y")], ids=lambda o: o.name)
def test_a_mask_is_its_image_warped_with_nearest_interpolation(op):
    """The mask warp and the image warp are separate code (on tf: a gather vs TensorFlow's
    projective transform): they must pick the same source pixels."""
    masks = np.random.default_rng(3).integers(0, 9, (6, 12, 16), dtype=np.uint8)
    pipe = augkit.Pipeline([op], interpolation="nearest", fill_mode="constant", cval=5,
                           targets={"mask_fill": 5})
    for backend in ("cv", "tf"):
        res = pipe.augment(masks[..., None], masks=masks, seed=2, backend=backend)
        assert np.array_equal(np.asarray(res["images"])[..., 0], np.asarray(res["masks"]))


def test_multichannel_and_bool_masks_keep_shape_and_dtype():
    rot = augkit.Pipeline([ops.Rotate(angle_range=(90, 90))])
    square = np.zeros((8, 8, 2), bool)
    square[0, :, 0] = True
    for backend in ("cv", "tf"):
        out = np.asarray(rot(image=np.zeros((8, 8, 3), np.uint8), mask=square,
                             backend=backend)["mask"])
        assert out.shape == (8, 8, 2) and out.dtype == bool
        assert out[:, 0, 0].all() and out.sum() == 8  # top row turned to the left column


def test_value_ops_and_erasing_leave_targets_unchanged():
    pipe = augkit.Pipeline([ops.Brightness(factor_range=(0.5, 1.5)), ops.Erasing(p=1.0),
                            ops.GaussianNoise(), ops.GaussianBlur(sigma_range=(0.5, 1.0))])
    mask = np.random.default_rng(1).integers(0, 4, (12, 16), dtype=np.uint8)
    boxes, pts = np.array([[1, 1, 5, 5]], np.float32), np.array([[3.0, 4.0]], np.float32)
    for backend in ("cv", "tf"):
        out = pipe(image=IMAGE, mask=mask, bboxes=boxes, keypoints=pts, backend=backend)
        assert not np.array_equal(np.asarray(out["image"]), IMAGE)
        assert np.array_equal(np.asarray(out["mask"]), mask)
        assert np.array_equal(np.asarray(out["bboxes"]), boxes)
        assert np.array_equal(np.asarray(out["keypoints"]), pts)


# -- albumentations adapter ---------------------------------------------------------------------
def test_albumentations_adapter_moves_targets_through_albumentations():
    import albumentations as A

    image_only = augkit.Pipeline([ops.Albumentations(transform="CLAHE")])
    mask = np.zeros((12, 16), np.uint8)
    mask[2:6, 3:9] = 1
    out = image_only(image=IMAGE, mask=mask, bboxes=np.array([[3, 2, 9, 6]]))
    assert np.array_equal(out["mask"], mask) and out["bboxes"].tolist() == [[3, 2, 9, 6]]
    # a transform that moves pixels: the same result as albumentations with the same seed
    pipe = augkit.Pipeline([ops.Albumentations(transform="Transpose")])
    square = np.random.default_rng(2).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    out = pipe(image=square, mask=mask[:, :12], bboxes=np.array([[3, 2, 9, 6]]),
               keypoints=np.array([[1.0, 5.0]]), seed=4)
    want = A.Compose([A.Transpose(p=1.0)], bbox_params=A.BboxParams(format="pascal_voc"))(
        image=square, mask=mask[:, :12], bboxes=np.array([[3, 2, 9, 6]]))
    assert np.array_equal(out["image"], want["image"])
    assert np.array_equal(out["mask"], want["mask"])
    np.testing.assert_allclose(out["bboxes"], [[2, 3, 6, 9]], atol=1e-5)
    np.testing.assert_allclose(out["bboxes"], want["bboxes"], atol=1e-5)
    assert out["keypoints"].tolist() == [[5.0, 1.0]]
    # the image is the one the image-only call draws
    elastic = augkit.Pipeline([ops.Albumentations(transform="ElasticTransform")])
    alone = elastic(image=IMAGE, seed=9)["image"]
    assert np.array_equal(elastic(image=IMAGE, mask=mask, seed=9)["image"], alone)


# -- refusals and errors -----------------------------------------------------------------------
def test_an_op_without_a_declaration_refuses_targets():
    class Undeclared(ops.Op):
        name = "undeclared_test_op"

    pipe = augkit.Pipeline([ops.Rotate(), Undeclared()])
    with pytest.raises(SpecError, match=r"ops\[1\] \(undeclared_test_op\) does not support "
                                        r"bboxes"):
        pipe.augment(np.zeros((1, 8, 8, 3), np.uint8), bboxes=[np.zeros((0, 4))], seed=0)
    with pytest.raises(SpecError, match="does not support mask"):
        pipe(image=np.zeros((8, 8, 3), np.uint8), mask=np.zeros((8, 8), np.uint8))


@pytest.mark.parametrize("kwargs, match", [
    ({"masks": np.zeros((2, 12, 15), np.uint8)}, r"masks: expected shape .* \(2, 12, 16\)"),
    ({"masks": np.zeros((2, 12, 16), np.float32)}, "integer or bool class maps"),
    ({"bboxes": [np.zeros((1, 4))]}, "expected a list of 2 arrays"),
    ({"bboxes": [np.zeros((1, 5)), np.zeros((0, 4))]}, r"bboxes\[0\]: expected shape \(k, 4\)"),
    ({"bboxes": [np.array([[4, 1, 2, 3]]), np.zeros((0, 4))]},
     r"bboxes\[0\]\[0\]: \[4.0, 1.0, 2.0, 3.0\] \(pascal_voc\) has no area"),
    ({"bboxes": [np.zeros((0, 4)), np.array([[0, 0, 1, 1], [10, 0, 17, 4]])]},
     r"bboxes\[1\]\[1\]: .* reaches outside the 16x12 image"),
    ({"bboxes": [np.array([[np.nan, 0, 1, 1]]), np.zeros((0, 4))]}, "NaN"),
    ({"bboxes": [np.zeros((1, 4)) + [0, 0, 1, 1]] * 2, "bbox_labels": [[1, 2], [3]]},
     r"bbox_labels\[0\]: 2 labels for 1 boxes"),
    ({"bbox_labels": [[1], [2]]}, "bbox_labels: given without bboxes"),
    ({"keypoints": [np.zeros((2, 4))] * 2}, r"expected shape \(k, 2\) or \(k, 3\)"),
])
def test_bad_targets_are_named(kwargs, match):
    x = np.stack([IMAGE] * 2)
    with pytest.raises(InputError, match=match):
        FLIP_H.augment(x, seed=0, **kwargs)


def test_mask_fill_must_fit_the_mask_dtype():
    pipe = augkit.Pipeline([ops.Rotate()], targets={"mask_fill": 300})
    with pytest.raises(InputError, match="mask_fill 300 does not fit the masks' dtype uint8"):
        pipe(image=IMAGE, mask=np.zeros((12, 16), np.uint8))
    for backend in ("cv", "tf"):
        out = pipe(image=IMAGE, mask=np.zeros((12, 16), np.int32), backend=backend)
        assert np.asarray(out["mask"]).dtype == np.int32


def test_tf_refuses_bad_boxes_inside_the_graph():
    with pytest.raises(tf.errors.InvalidArgumentError, match="reaches outside the image"):
        FLIP_H.augment(np.stack([IMAGE]), bboxes=tf.constant([[[0.0, 0.0, 30.0, 4.0]]]), seed=0,
                       backend="tf")
    with pytest.raises(tf.errors.InvalidArgumentError, match="one label per box"):
        FLIP_H.augment(np.stack([IMAGE]), bboxes=tf.constant([[[0.0, 0.0, 3.0, 4.0]]]),
                       bbox_labels=tf.ragged.constant([[1, 2]]), seed=0, backend="tf")


# -- settings: spec round trip and validation --------------------------------------------------
def test_target_settings_round_trip_through_dict_yaml_and_json(tmp_path):
    settings = {"bbox_format": "yolo", "min_area": 4.5, "min_visibility": 0.25,
                "keypoint_mode": "flag", "mask_fill": 255}
    pipe = augkit.Pipeline([ops.Rotate()], targets=settings)
    assert pipe.to_dict()["targets"] == settings
    for suffix in (".yaml", ".json"):
        pipe.save(tmp_path / f"p{suffix}")
        assert augkit.load(tmp_path / f"p{suffix}") == pipe
    text = yaml.safe_dump({"ops": [{"op": "flip_horizontal"}], "targets": {"min_area": 2}})
    loaded = augkit.Pipeline.from_dict(yaml.safe_load(text))
    assert loaded.targets == TargetSettings(min_area=2.0)
    assert augkit.Pipeline([]).targets == TargetSettings()  # defaults when absent
    assert augkit.Pipeline.from_dict({"ops": []}).to_dict()["targets"]["bbox_format"] == \
        "pascal_voc"
    assert "targets={'bbox_format': 'yolo'" in repr(pipe)


@pytest.mark.parametrize("targets, match", [
    ({"bbox_fromat": "coco"}, (r"targets\.'bbox_fromat': unknown target setting; did you "
                               r"mean 'bbox_format'\?")),
    ({"bbox_format": "voc"}, r"targets\.bbox_format: got 'voc'; allowed: one of 'pascal_voc'"),
    ({"min_visibility": 1.5}, (r"targets\.min_visibility: got 1\.5; allowed: a number with "
                               r"0 <= value <= 1")),
    ({"min_area": -1}, r"targets\.min_area: got -1"),
    ({"keypoint_mode": "hide"}, (r"targets\.keypoint_mode: got 'hide'; allowed: one of "
                                 r"'drop', 'flag'")),
    ({"mask_fill": 0.5}, r"targets\.mask_fill: got 0\.5; allowed: an integer"),
    ("coco", r"targets: got 'coco'; allowed: a mapping of target settings"),
])
def test_bad_target_settings_are_named(targets, match):
    with pytest.raises(SpecError, match=match):
        augkit.Pipeline.from_dict({"ops": [], "targets": targets})


def test_keras_layer_accepts_a_pipeline_with_target_settings():
    pipe = augkit.Pipeline([ops.Rescale()], targets={"bbox_format": "coco"})
    layer = pipe.as_layer()
    assert layer.inference_pipeline.targets.bbox_format == "coco"
