"""augkit <-> albumentations conversion: mappings, round trips, errors, numeric agreement.

Numeric agreement is checked on pinned parameters (``op.pinned(t)`` fixes every range), so
both libraries apply the same transformation. Tolerances (uint8 levels unless noted):

- flips: exact;
- rotate / zoom / shear / whole-pixel translate / random_resized_crop / blur / brightness /
  contrast / saturation / gamma: at most 1 level (OpenCV rounding, float32 vs float64
  matrices, albumentations' uint8 lookup tables truncating instead of rounding);
- hue: at most 8 levels, mean below 1 (albumentations shifts hue in OpenCV's uint8 HSV, in
  2-degree steps); float32 images agree to 1e-4;
- crop_and_pad: mean below 1, max 4 on a smooth image (albumentations crops whole pixels and
  then resizes, so its edge pixels replicate inside the crop where augkit's one warp
  interpolates from just outside it);
- normalize / rescale: 1e-5 relative;
- gaussian_noise: the noise std agrees within 10 %; erasing: the same erased area.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import augkit
from augkit import ops as O
from augkit.errors import SpecError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _smooth(h: int = 48, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 6 % 256, y * 5 % 256, (x + y) * 3 % 256], -1).astype(np.uint8)


def _noise(h: int = 48, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _identity(image: np.ndarray, **kwargs) -> np.ndarray:
    return image


def _both(op: O.Op, image: np.ndarray, t: float = 0.3, **settings) -> tuple:
    """augkit's and albumentations' outputs for ``op.pinned(t)`` on one image (float64)."""
    pipe = augkit.Pipeline([op.pinned(t)], **settings)
    ours = pipe(image=image, seed=0)["image"]
    theirs = pipe.to_albumentations()(image=image)["image"]
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    return ours.astype(np.float64), theirs.astype(np.float64)


# -- augkit -> albumentations: each mapping ------------------------------------------------
def _only(pipe: augkit.Pipeline):
    compose = pipe.to_albumentations()
    assert isinstance(compose, A.Compose) and len(compose.transforms) == 1
    return compose.transforms[0]


def test_flips_map_with_their_p():
    t = _only(augkit.Pipeline([O.FlipHorizontal(p=0.3)]))
    assert type(t) is A.HorizontalFlip and t.p == 0.3
    t = _only(augkit.Pipeline([O.FlipVertical()]))
    assert type(t) is A.VerticalFlip and t.p == 0.5


@pytest.mark.parametrize("fill_mode,border", [("nearest", cv2.BORDER_REPLICATE),
                                              ("constant", cv2.BORDER_CONSTANT),
                                              ("reflect", cv2.BORDER_REFLECT),
                                              ("wrap", cv2.BORDER_WRAP)])
def test_geometric_ops_carry_pipeline_settings(fill_mode, border):
    pipe = augkit.Pipeline([O.Rotate(angle_range=(-5, 10), p=0.7)], fill_mode=fill_mode,
                           cval=12.0, interpolation="nearest")
    t = _only(pipe)
    assert type(t) is A.Rotate and t.limit == (-5.0, 10.0) and t.p == 0.7
    assert (t.border_mode, t.fill, t.interpolation) == (border, 12.0, cv2.INTER_NEAREST)


def test_zoom_maps_to_reciprocal_affine_scale():
    t = _only(augkit.Pipeline([O.Zoom(factor_range=(0.8, 1.25), keep_aspect=True)]))
    assert type(t) is A.Affine and t.keep_ratio
    assert t.scale["x"] == pytest.approx((0.8, 1.25)) and t.scale["y"] == t.scale["x"]


def test_shear_sign_and_axis():
    t = _only(augkit.Pipeline([O.Shear(angle_range=(-5, 12), axis="y")]))
    assert t.shear == {"x": (0.0, 0.0), "y": (-12.0, 5.0)}  # albumentations negates


def test_translate_units():
    t = _only(augkit.Pipeline([O.Translate(x_range=(-0.1, 0.2), y_range=(0, 0.05))]))
    assert t.translate_percent == {"x": (-0.1, 0.2), "y": (0.0, 0.05)}
    t = _only(augkit.Pipeline([O.Translate(x_range=(-3, 3), y_range=(0, 2), unit="pixels")]))
    assert t.translate_px == {"x": (-3, 3), "y": (0, 2)}


def test_value_ops_map_to_their_transforms():
    cases = [
        (O.Brightness(factor_range=(0.7, 1.3), p=0.4), A.ColorJitter,
         dict(brightness=(0.7, 1.3), contrast=(1.0, 1.0), saturation=(1.0, 1.0),
              hue=(0.0, 0.0))),
        (O.Hue(shift_range=(-0.1, 0.05)), A.ColorJitter, dict(hue=(-0.1, 0.05))),
        (O.Gamma(gamma_range=(0.8, 1.25)), A.RandomGamma, dict(gamma_limit=(80.0, 125.0))),
        (O.GaussianNoise(std_range=(0.01, 0.05), per_channel=False), A.GaussNoise,
         dict(std_range=(0.01, 0.05), per_channel=False)),
        (O.GaussianBlur(sigma_range=(0.3, 1.1)), A.GaussianBlur,
         dict(sigma_limit=(0.3, 1.1), blur_limit=(9, 9))),
        (O.Erasing(fill="random"), A.Erasing, dict(fill="random", scale=(0.02, 0.33))),
        (O.RandomResizedCrop(size=(32, 48)), A.RandomResizedCrop,
         dict(size=(32, 48), scale=(0.08, 1.0))),
        (O.CropAndPad(percent_range=(-0.1, 0.2)), A.CropAndPad,
         dict(percent=(-0.1, 0.2), keep_size=True, sample_independently=True)),
        (O.Normalize(), A.Normalize, dict(max_pixel_value=255.0, mean=(0.485, 0.456, 0.406))),
        (O.Rescale(scale=1 / 255), A.Normalize, dict(max_pixel_value=255.0, mean=0.0, std=1)),
    ]
    for op, cls, attrs in cases:
        t = _only(augkit.Pipeline([op]))
        assert type(t) is cls, op
        assert t.p == op.p
        for key, value in attrs.items():
            assert getattr(t, key) == value, (op, key)


def test_adapter_op_becomes_its_transform():
    op = O.Albumentations(transform="CLAHE", args={"clip_limit": [1.0, 2.0]}, p=0.3)
    t = _only(augkit.Pipeline([op]))
    assert type(t) is A.CLAHE and t.clip_limit == (1.0, 2.0) and t.p == 0.3


def test_every_registered_op_is_mapped_or_explained():
    """Meta-test: a new op must get an albumentations mapping or a stated reason."""
    from augkit.albu import _FORWARD, _NO_EQUIVALENT

    known = set(_FORWARD) | set(_NO_EQUIVALENT)
    assert set(O.available()) <= known, set(O.available()) - known


# -- augkit -> albumentations: what does not map --------------------------------------------
def test_unmapped_ops_are_all_named_with_reasons_and_the_mapped_list():
    pipe = augkit.Pipeline([
        O.ChannelShift(), O.FlipHorizontal(),
        O.Translate(x_range=(0, 0), x_choices=[1.0, 2.0], unit="pixels"),
        O.Erasing(fill=0.5), O.RandomResizedCrop(size=(8, 8), p=0.5),
        O.Translate(x_range=(-1.5, 1.5), unit="pixels"),
    ])
    with pytest.raises(SpecError) as err:
        pipe.to_albumentations()
    msg = str(err.value)
    for i, name in [(0, "channel_shift"), (2, "translate"), (3, "erasing"),
                    (4, "random_resized_crop"), (5, "translate")]:
        assert f"ops[{i}] ({name})" in msg
    assert "ops[1]" not in msg
    assert "x_choices" in msg and "whole pixels" in msg and "own minimum" in msg
    assert "Ops that map: albumentations, brightness" in msg


def test_value_range_mismatch_is_refused():
    with pytest.raises(SpecError, match=r"ops\[0\] \(brightness\).*value_range"):
        augkit.Pipeline([O.Brightness()], value_range=(0, 255)).to_albumentations()
    # geometric ops and rescale do not depend on the value range
    augkit.Pipeline([O.Rotate(), O.Rescale()], value_range=(0, 255)).to_albumentations()
    with pytest.raises(SpecError, match=r"ops\[1\] \(contrast\).*\[-1, 1\]"):
        augkit.Pipeline([O.Rescale(scale=1 / 127.5, offset=-1), O.Contrast()]).to_albumentations()
    # after rescale to [0, 1] (uint8 input) both libraries agree
    augkit.Pipeline([O.Rescale(scale=1 / 255), O.Contrast()]).to_albumentations()


# -- round trips -----------------------------------------------------------------------------
ROUND_TRIP_OPS = [
    O.FlipHorizontal(p=0.5), O.FlipVertical(p=0.3), O.Rotate(angle_range=(-10, 20), p=0.7),
    O.Translate(x_range=(-0.1, 0.2), y_range=(0.0, 0.05)),
    O.Translate(x_range=(-3, 3), y_range=(0, 2), unit="pixels", p=0.6),
    O.Zoom(factor_range=(0.93, 1.07)), O.Zoom(factor_range=(0.8, 1.3), keep_aspect=True),
    O.Shear(angle_range=(-5, 12)), O.Shear(angle_range=(-7, 3), axis="y", p=0.4),
    O.RandomResizedCrop(size=(32, 48)), O.CropAndPad(percent_range=(-0.07, 0.13), p=0.9),
    O.Brightness(factor_range=(0.7, 1.3)), O.Contrast(p=0.2), O.Saturation(),
    O.Hue(shift_range=(-0.1, 0.07)), O.Gamma(gamma_range=(0.07, 1.9)),
    O.GaussianNoise(per_channel=False), O.GaussianBlur(sigma_range=(0.3, 1.1)),
    O.Erasing(), O.Erasing(fill="random", p=0.2),
    O.Albumentations(transform="CLAHE", args={"clip_limit": [1.0, 2.0]}, p=0.3),
    O.Albumentations(transform="Posterize", args={"num_bits": [3, 5]}),
]


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_round_trip_gives_an_equal_pipeline(fill_mode):
    pipe = augkit.Pipeline(ROUND_TRIP_OPS + [O.Rescale(scale=1 / 255)], fill_mode=fill_mode,
                           cval=7.0, interpolation="nearest")
    back = augkit.Pipeline.from_albumentations(pipe.to_albumentations())
    assert [op.to_dict() for op in back.ops] == [op.to_dict() for op in pipe.ops]
    assert back == pipe


@pytest.mark.parametrize("last", [O.Normalize(), O.Normalize(mean=0.5, std=0.5),
                                  O.Rescale(scale=1 / 127.5, offset=-1.0),
                                  O.Rescale(scale=0.07, offset=0.3)])
def test_round_trip_of_value_range_ops(last):
    pipe = augkit.Pipeline([O.FlipHorizontal(), last])
    assert augkit.Pipeline.from_albumentations(pipe.to_albumentations()) == pipe


def _decimal_range(lo: int, hi: int, scale: float) -> st.SearchStrategy:
    """Ranges of numbers written with a few decimals (what people put in specs)."""
    ints = st.integers(lo, hi)
    return st.tuples(ints, ints).map(lambda r: (min(r) / scale, max(r) / scale))


_OPS = st.one_of(
    _decimal_range(1, 10000, 100).map(lambda r: O.Zoom(factor_range=r)),
    _decimal_range(1, 10000, 100).map(lambda r: O.Gamma(gamma_range=r)),
    _decimal_range(0, 1000, 100).map(lambda r: O.Brightness(factor_range=r)),
    _decimal_range(-3600, 3600, 10).map(lambda r: O.Rotate(angle_range=r)),
    _decimal_range(-850, 850, 10).map(lambda r: O.Shear(angle_range=r, axis="y")),
    _decimal_range(-500, 500, 1000).map(lambda r: O.Hue(shift_range=r)),
    st.tuples(st.integers(1, 100000), st.integers(-1000, 1000)).map(
        lambda v: O.Rescale(scale=1 / v[0], offset=v[1] / 100)),
    st.tuples(st.integers(1, 100000), st.integers(-1000, 1000)).map(
        lambda v: O.Rescale(scale=v[0] / 1000, offset=v[1] / 100)),
)


@settings(max_examples=200, deadline=None)
@given(op=_OPS, p=st.integers(0, 100))
def test_round_trip_keeps_decimal_parameters_exactly(op, p):
    """Scale inversions (1/x, 100x) come back as the same decimal numbers, not 1 ulp off.

    Identity settings are left out: an identity Affine or ColorJitter converts to no op.
    """
    assume(op.values.get("factor_range") != (1.0, 1.0)
           and op.values.get("shift_range") != (0.0, 0.0)
           and (op.name != "shear" or op.angle_range != (0.0, 0.0)))
    if op.name != "rescale":
        op = type(op)(p=p / 100, **op.values)
    pipe = augkit.Pipeline([op])
    assert augkit.Pipeline.from_albumentations(pipe.to_albumentations()) == pipe


def test_adapter_pipeline_survives_yaml(tmp_path):
    pipe = augkit.Pipeline.from_albumentations(A.Compose([
        A.CLAHE(clip_limit=(1, 3), p=0.4), A.CoarseDropout(num_holes_range=(1, 3)),
        A.HueSaturationValue()]))
    path = tmp_path / "p.yaml"
    pipe.save(path)
    assert augkit.load(path) == pipe


# -- albumentations -> augkit ----------------------------------------------------------------
def test_accepts_compose_list_or_single_transform():
    for source in (A.Compose([A.HorizontalFlip(p=0.2)]), [A.HorizontalFlip(p=0.2)],
                  A.HorizontalFlip(p=0.2)):
        pipe = augkit.Pipeline.from_albumentations(source)
        assert pipe.ops == [O.FlipHorizontal(p=0.2)]


def test_affine_with_several_parts_becomes_ops_in_albumentations_order():
    # albumentations reads a shear dict without "y" as a 1° y shear: spell out "y": 0
    t = A.Affine(scale=(0.9, 1.1), rotate=(-10, 10), shear={"x": (-5, 5), "y": 0},
                 translate_percent={"x": (-0.1, 0.1), "y": (0, 0.2)}, p=1.0)
    pipe = augkit.Pipeline.from_albumentations([t])
    assert [op.name for op in pipe.ops] == ["zoom", "rotate", "shear", "translate"]
    assert pipe.ops[0].factor_range == pytest.approx((1 / 1.1, 1 / 0.9))
    assert pipe.ops[2].angle_range == (-5.0, 5.0) and pipe.ops[2].axis == "x"
    assert (pipe.fill_mode, pipe.cval, pipe.interpolation) == ("constant", 0.0, "bilinear")


def test_fused_affine_parts_match_albumentations_pixels():
    """The decomposition is the same matrix: one augkit warp equals one albumentations Affine."""
    t = A.Affine(scale=1.2, rotate=10, shear={"x": 7, "y": 0}, translate_px={"x": 3, "y": -2},
                 border_mode=cv2.BORDER_REFLECT, p=1.0)
    image = _smooth(40, 40)
    pipe = augkit.Pipeline.from_albumentations([t])
    ours = pipe(image=image, seed=0)["image"].astype(float)
    theirs = A.Compose([t])(image=image)["image"].astype(float)
    assert np.abs(ours - theirs).max() <= 1


def test_settings_come_from_the_transforms():
    pipe = augkit.Pipeline.from_albumentations([
        A.Rotate(limit=(-5, 5), border_mode=cv2.BORDER_WRAP, interpolation=cv2.INTER_NEAREST),
        A.HorizontalFlip()])
    assert (pipe.fill_mode, pipe.interpolation) == ("wrap", "nearest")


def test_transforms_without_faithful_mapping_become_adapter_ops():
    cases = [
        A.Affine(shear={"x": (1, 2), "y": (1, 2)}, p=1),  # one shear matrix, not two
        A.Affine(rotate=(-5, 5), scale=(0.9, 1.1), p=0.5),  # one p for two parts
        A.Affine(scale={"x": (0.9, 1.0), "y": (1.0, 1.1)}),
        A.Affine(rotate=5, balanced_scale=True, scale=(0.5, 2)),
        A.Rotate(limit=10, crop_border=True),
        A.Rotate(limit=10, border_mode=cv2.BORDER_REFLECT_101),
        A.Rotate(limit=10, interpolation=cv2.INTER_CUBIC),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0, hue=0),  # random order
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0),  # additive
        A.HueSaturationValue(), A.CoarseDropout(), A.GaussNoise(mean_range=(0.1, 0.1)),
        A.GaussianBlur(blur_limit=(3, 7)), A.Erasing(fill=128),
        A.CropAndPad(px=3), A.ShiftScaleRotate(),
    ]
    for t in cases:
        pipe = augkit.Pipeline.from_albumentations([t])
        assert [op.name for op in pipe.ops] == ["albumentations"], t
        assert pipe.ops[0].transform == type(t).__name__ and pipe.ops[0].p == t.p


def test_native_reverse_mappings():
    cases = [
        (A.ColorJitter(brightness=(1, 1), contrast=(0.6, 1.4), saturation=(1, 1), hue=0,
                       p=0.3), O.Contrast(factor_range=(0.6, 1.4), p=0.3)),
        (A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=(-0.2, 0.3), p=1),
         O.Brightness(factor_range=(0.8, 1.3))),
        (A.RandomGamma(gamma_limit=(80, 120)), O.Gamma(gamma_range=(0.8, 1.2), p=0.5)),
        (A.GaussNoise(std_range=(0.1, 0.2)), O.GaussianNoise(std_range=(0.1, 0.2), p=0.5)),
        (A.GaussianBlur(sigma_limit=(0.5, 1.0)), O.GaussianBlur(sigma_range=(0.5, 1.0), p=0.5)),
        (A.Erasing(p=0.25), O.Erasing(p=0.25)),
        (A.RandomResizedCrop(size=(20, 24)), O.RandomResizedCrop(size=(20, 24))),
        (A.CropAndPad(percent=(-0.1, 0.1), p=0.5), O.CropAndPad(percent_range=(-0.1, 0.1),
                                                                 p=0.5)),
        (A.Normalize(mean=0.5, std=0.25, max_pixel_value=255),
         O.Rescale(scale=1 / 63.75, offset=-2.0)),
        (A.ToFloat(), O.Rescale(scale=1 / 255)),
    ]
    for t, want in cases:
        pipe = augkit.Pipeline.from_albumentations([t])
        assert pipe.ops == [want], (t, pipe.ops)
    assert augkit.Pipeline.from_albumentations([A.NoOp(), A.ColorJitter(0, 0, 0, 0)]).ops == []


def test_conflicting_settings_leave_the_second_transform_to_the_adapter():
    pipe = augkit.Pipeline.from_albumentations([
        A.Rotate(limit=5, border_mode=cv2.BORDER_REPLICATE),
        A.Affine(scale=1.1, border_mode=cv2.BORDER_CONSTANT)])
    assert [op.name for op in pipe.ops] == ["rotate", "albumentations"]
    assert pipe.fill_mode == "nearest"


def test_adapter_args_are_plain_data_without_defaults():
    pipe = augkit.Pipeline.from_albumentations([A.CLAHE(clip_limit=(1, 2), p=0.3)])
    assert pipe.ops[0].to_dict() == {"op": "albumentations", "transform": "CLAHE",
                                     "args": {"clip_limit": [1.0, 2.0]}, "p": 0.3}


# -- albumentations -> augkit: what is refused ------------------------------------------------
@pytest.mark.parametrize("given,match", [
    (A.Compose([A.OneOf([A.HorizontalFlip(), A.VerticalFlip()])]), r"transforms\[0\]: OneOf"),
    (A.Compose([A.HorizontalFlip(), A.SomeOf([A.Blur()], n=1)]), r"transforms\[1\]: SomeOf"),
    (A.Compose([A.Sequential([A.Blur()])]), "Sequential.*nested"),
    (A.OneOf([A.Blur()]), "got OneOf"),
    (A.Compose([A.HorizontalFlip()], bbox_params=A.BboxParams(format="pascal_voc", clip=True)),
     r"bbox_params\.clip: got True"),  # more in tests/test_albu_targets.py
    (A.Compose([A.HorizontalFlip()], keypoint_params=A.KeypointParams(format="xya")),
     r"keypoint_params\.format: got 'xya'"),
    (A.Compose([A.HorizontalFlip()], additional_targets={"image2": "image"}),
     "additional_targets"),
    (A.Compose([A.HorizontalFlip()], p=0.5), r"Compose.p: got 0.5"),
    ([A.RandomCrop(16, 16)], "RandomCrop changes the image size"),
    ([A.Resize(16, 16)], "Resize changes the image size"),
    ([A.CropAndPad(percent=0.1, keep_size=False)], "changes the image size"),
    ([A.RandomResizedCrop(size=(8, 8), p=0.5)], "changes the image size"),
    ([A.ToFloat(p=0.5)], "changes the value range"),
    ([A.FromFloat()], "changes the value range"),
    ([A.CubicSymmetry()], "works on 3-D volumes"),
    ([A.Normalize(normalization="image")], "normalization='image'"),
    ([A.Normalize(p=0.5)], "p=0.5"),
    ([A.Lambda(image=_identity, name="identity")], "Lambda runs code"),
    ([A.HorizontalFlip(), "blur"], r"transforms\[1\]: got str"),
    ({"transforms": []}, "got dict"),
])
def test_unsupported_structures_are_refused_clearly(given, match):
    with pytest.raises(SpecError, match=match):
        augkit.Pipeline.from_albumentations(given)


def test_subclasses_are_not_public_transforms():
    class MyFlip(A.HorizontalFlip):
        pass

    with pytest.raises(SpecError, match="MyFlip is not a public albumentations transform"):
        augkit.Pipeline.from_albumentations([MyFlip()])


# -- the adapter op in a converted pipeline ----------------------------------------------------
def _clahe_pipeline() -> augkit.Pipeline:
    return augkit.Pipeline.from_albumentations(A.Compose([A.HorizontalFlip(p=0.5),
                                                          A.CLAHE(p=0.8)]))


def test_adapter_pipeline_is_reproducible_on_cv():
    pipe = _clahe_pipeline()
    x = np.stack([_noise(32, 32, s) for s in range(6)])
    a, _ = pipe.apply(x, seed=3)
    b, _ = pipe.apply(x, seed=3)
    c, _ = pipe.apply(x[2:4], seed=3, index=np.array([2, 3]))  # batch-independent too
    assert np.array_equal(a, b) and np.array_equal(a[2:4], c)
    assert not np.array_equal(a, x)


def test_adapter_pipeline_is_refused_on_tf():
    pytest.importorskip("tensorflow")
    x = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(SpecError, match=r"ops\[1\] \(albumentations\).*backend 'tf'"):
        _clahe_pipeline().apply(x, seed=3, backend="tf")


# -- numeric agreement on pinned parameters ----------------------------------------------------
def test_flips_agree_exactly():
    for op in (O.FlipHorizontal(), O.FlipVertical()):
        ours, theirs = _both(op, _noise(), t=1.0)
        assert np.array_equal(ours, theirs)


GEOMETRIC = [
    O.Rotate(angle_range=(-30, 30)), O.Zoom(factor_range=(0.7, 1.4)),
    O.Zoom(factor_range=(0.7, 1.4), keep_aspect=True), O.Shear(angle_range=(-20, 20)),
    O.Shear(angle_range=(-20, 20), axis="y"),
    O.Translate(x_range=(-5, 5), y_range=(-3, 7), unit="pixels"),
    O.Translate(x_range=(-0.25, 0.25), y_range=(-0.25, 0.25)),  # whole pixels at t=0, 1
    O.RandomResizedCrop(size=(24, 20), scale_range=(1, 1), ratio_range=(40 / 48, 40 / 48)),
]


@pytest.mark.parametrize("op", GEOMETRIC, ids=lambda op: op.name)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_geometric_ops_agree_within_one_level(op, fill_mode):
    for t in (0.0, 1.0):
        for image in (_smooth(), _noise()):
            ours, theirs = _both(op, image, t, fill_mode=fill_mode, cval=9)
            assert np.abs(ours - theirs).max() <= 1, (op, t)


def test_crop_and_pad_agrees_on_whole_pixel_sides():
    for fill_mode in FILL_MODES:
        for t in (0.0, 1.0):  # -0.25 and +0.25 of 48x40: whole pixels
            ours, theirs = _both(O.CropAndPad(percent_range=(-0.25, 0.25)), _smooth(), t,
                                 fill_mode=fill_mode)
            diff = np.abs(ours - theirs)
            assert diff.mean() < 1 and diff.max() <= 4


@pytest.mark.parametrize("op", [
    O.Brightness(factor_range=(0.5, 1.5)), O.Contrast(factor_range=(0.5, 1.5)),
    O.Saturation(factor_range=(0.2, 1.8)), O.Gamma(gamma_range=(0.5, 2.0)),
    O.GaussianBlur(sigma_range=(0.5, 1.5)),
], ids=lambda op: op.name)
def test_value_ops_agree_within_one_level(op):
    for t in (0.0, 0.3, 1.0):
        for image in (_smooth(), _noise()):
            ours, theirs = _both(op, image, t)
            assert np.abs(ours - theirs).max() <= 1, (op, t)
        ours, theirs = _both(op, _smooth().astype(np.float32) / 255, t)
        assert np.abs(ours - theirs).max() <= 1e-4


def test_hue_agrees_within_opencv_hsv_quantization():
    op = O.Hue(shift_range=(-0.3, 0.3))
    for t in (0.0, 0.3, 1.0):
        ours, theirs = _both(op, _noise(), t)
        diff = np.abs(ours - theirs)
        assert diff.max() <= 8 and diff.mean() < 1
        ours, theirs = _both(op, _noise().astype(np.float32) / 255, t)
        assert np.abs(ours - theirs).max() <= 1e-4


def test_normalize_and_rescale_agree():
    image = _noise()
    ours, theirs = _both(O.Normalize(), image)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for op in (O.Rescale(scale=1 / 127.5, offset=-1.0), O.Rescale(scale=1 / 255)):
        for x in (image, image.astype(np.float32) / 255):
            ours, theirs = _both(op, x)
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("per_channel", [True, False])
def test_gaussian_noise_has_the_same_std(per_channel):
    grey = np.full((64, 64, 3), 128, np.uint8)
    ours, theirs = _both(O.GaussianNoise(std_range=(0.04, 0.04), per_channel=per_channel),
                         grey, t=0.0)
    for out in (ours, theirs):
        noise = out - 128.0
        assert np.std(noise) == pytest.approx(0.04 * 255, rel=0.1)
        same_across_channels = np.array_equal(noise[..., 0], noise[..., 1])
        assert same_across_channels == (not per_channel)


def test_erasing_erases_the_same_area():
    image = np.full((48, 40, 3), 200, np.uint8)
    ours, theirs = _both(O.Erasing(scale_range=(0.1, 0.1), ratio_range=(0.5, 0.5)), image)
    assert (ours == 0).all(axis=-1).sum() == (theirs == 0).all(axis=-1).sum() > 0
