"""``Pipeline.from_keras``: every ImageDataGenerator argument keeps Keras' meaning.

The one deliberate difference is the shift axes: Keras' class moves pixels *vertically* for
``width_shift_range`` (keras-team/keras#17398, tensorflow/tensorflow#82838); augkit moves them
horizontally unless ``legacy_shift_axes=True``. Where Keras' legacy class and scipy are
importable, the tests compare against it directly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import augkit
from augkit import SpecError, rng
from augkit import ops as O
from augkit.kernels.cv import NP

N_SEEDS = 2000


# -- helpers ----------------------------------------------------------------------------------
def _keras_idg():
    """Keras' own ImageDataGenerator class, or skip (it needs scipy to transform images)."""
    pytest.importorskip("scipy", reason="Keras' ImageDataGenerator needs scipy to warp")
    try:  # Keras 2 / tf-keras
        from keras.preprocessing.image import ImageDataGenerator

        return ImageDataGenerator
    except ImportError:
        pass
    try:  # Keras 3: what tf.keras.preprocessing.image.ImageDataGenerator resolves to
        from keras._tf_keras.keras.preprocessing.image import ImageDataGenerator

        return ImageDataGenerator
    except ImportError:
        pytest.skip("Keras' legacy ImageDataGenerator is not importable in this Keras")


def _draws(seeds: int = N_SEEDS) -> rng.Draws:
    """One sample (index 0) for each of ``seeds`` seeds, as the pipeline seeds its first op."""
    keys = rng.sample_keys(np.arange(seeds, dtype=np.int64), np.zeros(seeds, np.int64), 0)
    return rng.Draws(rng.combine(keys, 1), NP)


def _sample(op, h: int = 8, w: int = 8) -> dict:
    return {k: np.asarray(v, dtype=np.float64) for k, v in op.sample(_draws(), h, w).items()}


def _column_image(col: int = 16, size: int = 32) -> np.ndarray:
    x = np.zeros((1, size, size, 1), np.uint8)
    x[0, :, col] = 255
    return x


def _row_image(row: int = 16, size: int = 32) -> np.ndarray:
    x = np.zeros((1, size, size, 1), np.uint8)
    x[0, row, :] = 255
    return x


def _cols(img: np.ndarray) -> list[int]:
    """Indices of the columns holding any lit pixel."""
    return np.nonzero(img[..., 0].astype(np.float64).sum(axis=0) > 1e-3)[0].tolist()


def _rows(img: np.ndarray) -> list[int]:
    """Indices of the rows holding any lit pixel."""
    return np.nonzero(img[..., 0].astype(np.float64).sum(axis=1) > 1e-3)[0].tolist()


def _op_dicts(pipe: augkit.Pipeline) -> list[dict]:
    return [op.to_dict() for op in pipe.ops]


def _uniform_ok(values: np.ndarray, lo: float, hi: float, bins: int = 10) -> None:
    """Values lie in [lo, hi], reach both ends and fill equal-width bins evenly."""
    assert values.min() >= lo - 1e-6 and values.max() <= hi + 1e-6
    span = hi - lo
    assert values.min() < lo + 0.01 * span and values.max() > hi - 0.01 * span
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi))
    expected = len(values) / bins
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 30.0, f"not uniform: chi2={chi2:.1f}, counts={counts.tolist()}"  # df=9
    assert abs(values.mean() - (lo + hi) / 2) < 0.05 * span


# -- the argument table -------------------------------------------------------------------------
def test_no_arguments_is_an_empty_pipeline_with_keras_defaults():
    pipe = augkit.Pipeline.from_keras()
    assert pipe.ops == [] and pipe.fill_mode == "nearest" and pipe.cval == 0.0


@pytest.mark.parametrize("kwargs, expected", [
    ({"rotation_range": 15}, [{"op": "rotate", "angle_range": [-15.0, 15.0], "p": 1.0}]),
    ({"shear_range": 12.5}, [{"op": "shear", "angle_range": [-12.5, 12.5], "axis": "x",
                              "p": 1.0}]),
    ({"zoom_range": 0.2}, [{"op": "zoom", "factor_range": [0.8, 1.2], "keep_aspect": False,
                            "p": 1.0}]),
    ({"zoom_range": [0.5, 1.5]}, [{"op": "zoom", "factor_range": [0.5, 1.5],
                                   "keep_aspect": False, "p": 1.0}]),
    ({"zoom_range": (0.9, 0.9)}, [{"op": "zoom", "factor_range": [0.9, 0.9],
                                   "keep_aspect": False, "p": 1.0}]),
    ({"channel_shift_range": 30}, [{"op": "channel_shift", "intensity_range": [-30.0, 30.0],
                                    "p": 1.0}]),
    ({"brightness_range": [0.5, 1.5]}, [{"op": "brightness", "factor_range": [0.5, 1.5],
                                         "p": 1.0}]),
    ({"horizontal_flip": True}, [{"op": "flip_horizontal", "p": 0.5}]),
    ({"vertical_flip": True}, [{"op": "flip_vertical", "p": 0.5}]),
    ({"rescale": 1 / 255}, [{"op": "rescale", "scale": 1 / 255, "offset": 0.0, "p": 1.0}]),
    # Keras' "off" values
    ({"rotation_range": 0, "shear_range": 0.0, "zoom_range": 0.0, "channel_shift_range": 0,
      "horizontal_flip": False, "vertical_flip": False, "rescale": None,
      "width_shift_range": 0.0, "height_shift_range": 0, "brightness_range": None}, []),
    ({"zoom_range": [1, 1]}, []),
    ({"rescale": 0}, []),  # Keras: `if self.rescale:`
])
def test_argument_maps_to_ops(kwargs, expected):
    assert _op_dicts(augkit.Pipeline.from_keras(**kwargs)) == expected


def test_fill_mode_and_cval_become_pipeline_settings():
    for mode in ("nearest", "constant", "reflect", "wrap"):
        pipe = augkit.Pipeline.from_keras(rotation_range=5, fill_mode=mode, cval=17)
        assert pipe.fill_mode == mode and pipe.cval == 17.0


def test_full_keras_call_orders_ops_like_keras():
    pipe = augkit.Pipeline.from_keras(
        rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, shear_range=5,
        zoom_range=0.1, channel_shift_range=10, brightness_range=[0.9, 1.1],
        horizontal_flip=True, vertical_flip=True, fill_mode="reflect", cval=1, rescale=1 / 255)
    # Keras: one affine warp (rotation·shift·shear·zoom), flips, then channel shift and
    # brightness; rescale runs last (in standardize()).
    assert [op.name for op in pipe.ops] == [
        "rotate", "translate", "shear", "zoom", "flip_horizontal", "flip_vertical",
        "channel_shift", "brightness", "rescale"]
    geometric_stages = [ops for _, ops in pipe.stages() if ops[0].geometric]
    assert len(geometric_stages) == 1, "all geometric ops fuse into one warp"


def test_default_pipeline_is_the_documented_keras_call():
    assert augkit.Pipeline.default() == augkit.Pipeline.from_keras(
        rotation_range=15, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1,
        horizontal_flip=True)


# -- shift forms (Keras semantics) ---------------------------------------------------------------
@pytest.mark.parametrize("value, unit, x_range, x_choices", [
    (0.1, "fraction", [-0.1, 0.1], None),           # float < 1: fraction of the width
    (0.999, "fraction", [-0.999, 0.999], None),
    (1.0, "pixels", [-1.0, 1.0], None),             # float >= 1: pixels
    (4.5, "pixels", [-4.5, 4.5], None),
    (5, "pixels", [0.0, 0.0], [0.0, 1.0, 2.0, 3.0, 4.0]),   # int n: integers in (-n, n)
    (1, "pixels", [0.0, 0.0], [0.0]),               # np.random.choice(1) is always 0
    ([2, 4], "pixels", [0.0, 0.0], [2.0, 4.0]),     # list: an element, random sign
    ((3,), "pixels", [0.0, 0.0], [3.0]),
    ([0.05, 0.1], "fraction", [0.0, 0.0], [0.05, 0.1]),  # list with max < 1: fractions
    ([0.5, 2], "pixels", [0.0, 0.0], [0.5, 2.0]),   # Keras scales only when max < 1
    (np.int64(3), "pixels", [0.0, 0.0], [0.0, 1.0, 2.0]),
    (np.float32(0.25), "fraction", [-0.25, 0.25], None),
])
def test_width_shift_forms(value, unit, x_range, x_choices):
    (op,) = augkit.Pipeline.from_keras(width_shift_range=value).ops
    d = op.to_dict()
    assert d["unit"] == unit and d["x_choices"] == x_choices and d["y_choices"] is None
    assert d["x_range"] == pytest.approx(x_range) and d["y_range"] == [0.0, 0.0]


@pytest.mark.parametrize("value", [0.1, 3.0, 5, [2, 4]])
def test_height_shift_forms_mirror_width(value):
    (w,) = augkit.Pipeline.from_keras(width_shift_range=value).ops
    (h,) = augkit.Pipeline.from_keras(height_shift_range=value).ops
    assert (w.unit, w.x_range, w.x_choices) == (h.unit, h.y_range, h.y_choices)


def test_mixed_shift_units_give_two_ops_and_one_warp():
    pipe = augkit.Pipeline.from_keras(width_shift_range=0.1, height_shift_range=5)
    assert [op.unit for op in pipe.ops] == ["fraction", "pixels"]
    assert pipe.ops[0].x_range == (-0.1, 0.1) and pipe.ops[0].y_range == (0.0, 0.0)
    assert pipe.ops[1].y_choices == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert len(pipe.stages()) == 1


def test_same_shift_units_give_one_op():
    (op,) = augkit.Pipeline.from_keras(width_shift_range=0.1, height_shift_range=0.2).ops
    assert op.x_range == (-0.1, 0.1) and op.y_range == (-0.2, 0.2) and op.unit == "fraction"


def test_legacy_shift_axes_swaps_the_arguments():
    # pixel forms swap exactly; fractions also swap the axis they are measured along (below)
    modern = augkit.Pipeline.from_keras(width_shift_range=5, height_shift_range=3.0)
    legacy = augkit.Pipeline.from_keras(width_shift_range=3.0, height_shift_range=5,
                                        legacy_shift_axes=True)
    assert modern == legacy


# -- THE shift-axis check ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [0.2, 6.0, 7, [3, 5]])
def test_width_shift_moves_content_horizontally_only(value):
    pipe = augkit.Pipeline.from_keras(width_shift_range=value, fill_mode="constant")
    col = _column_image()
    row = _row_image()
    moved = 0
    for seed in range(12):
        (c,), _ = pipe.apply(col, seed=seed)
        (r,), _ = pipe.apply(row, seed=seed)
        assert len(_rows(c)) == 32, "a vertical line keeps its full height"
        assert _rows(r) == [16], "a horizontal line stays on its row"
        moved += _cols(c) != [16]
    assert moved >= 8, "the column should move on most seeds"


@pytest.mark.parametrize("value", [0.2, 6.0, 7, [3, 5]])
def test_height_shift_moves_content_vertically_only(value):
    pipe = augkit.Pipeline.from_keras(height_shift_range=value, fill_mode="constant")
    moved = 0
    for seed in range(12):
        (c,), _ = pipe.apply(_column_image(), seed=seed)
        (r,), _ = pipe.apply(_row_image(), seed=seed)
        assert _cols(c) == [16], "a vertical line stays in its column"
        assert len(_cols(r)) == 32, "a horizontal line keeps its full width"
        moved += _rows(r) != [16]
    assert moved >= 8


def test_legacy_shift_axes_moves_width_shift_vertically():
    pipe = augkit.Pipeline.from_keras(width_shift_range=0.2, fill_mode="constant",
                                      legacy_shift_axes=True)
    moved = 0
    for seed in range(12):
        (c,), _ = pipe.apply(_column_image(), seed=seed)
        (r,), _ = pipe.apply(_row_image(), seed=seed)
        assert _cols(c) == [16]
        moved += _rows(r) != [16]
    assert moved >= 8
    legacy_h = augkit.Pipeline.from_keras(height_shift_range=7, legacy_shift_axes=True,
                                          fill_mode="constant")
    for seed in range(6):
        (r,), _ = legacy_h.apply(_row_image(), seed=seed)
        assert _rows(r) == [16], "legacy height_shift_range moves columns"


def test_shift_axes_on_a_non_square_image():
    """Fractions are of the axis they move along (Keras: width → cols count, after the fix)."""
    x = np.zeros((1, 16, 40, 1), np.uint8)
    x[0, :, 20] = 255
    pipe = augkit.Pipeline.from_keras(width_shift_range=[0.1], fill_mode="constant")
    cols = set()
    for seed in range(10):
        (out,), _ = pipe.apply(x, seed=seed)
        cols.update(_cols(out))
    assert cols == {16, 24}, "±0.1 of a width of 40 is ±4 pixels"


@pytest.mark.parametrize("kwargs", [{"height_shift_range": -1}, {"width_shift_range": "x"},
                                    {"height_shift_range": [0.1, "a"]}])
def test_legacy_mode_errors_name_the_argument_given(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(SpecError) as info:
        augkit.Pipeline.from_keras(**kwargs, legacy_shift_axes=True)
    assert str(info.value).startswith(f"{name}: got "), str(info.value)


def test_legacy_fraction_shifts_measure_the_other_axis_like_keras():
    """Keras draws ty = width_shift_range × width and applies it to rows.

    On a 16×40 image, legacy width_shift_range=[0.1] must move rows by ±4 (0.1 × 40), not
    ±1.6 (0.1 × 16).
    """
    x = np.zeros((1, 16, 40, 1), np.uint8)
    x[0, 8, :] = 255
    pipe = augkit.Pipeline.from_keras(width_shift_range=[0.1], fill_mode="constant",
                                      legacy_shift_axes=True)
    rows = set()
    for seed in range(10):
        (out,), _ = pipe.apply(x, seed=seed)
        rows.add(tuple(_rows(out)))
    assert rows == {(4,), (12,)}, rows
    try:
        idg = _keras_idg()
    except pytest.skip.Exception:
        return
    keras_gen = idg(width_shift_range=[0.1], fill_mode="constant")
    keras_rows = set()
    for seed in range(10):
        img = x[0].astype(np.float32)
        out = keras_gen.apply_transform(img, keras_gen.get_random_transform(img.shape, seed))
        keras_rows.add(tuple(_rows(out)))
    assert keras_rows == {(4,), (12,)}


def test_keras_own_class_moves_width_shift_vertically_like_legacy_mode():
    idg = _keras_idg()
    col = _column_image()[0].astype(np.float32)
    row = _row_image()[0].astype(np.float32)
    keras_gen = idg(width_shift_range=0.2, fill_mode="constant")
    moved = 0
    for seed in range(8):
        params = keras_gen.get_random_transform(col.shape, seed=seed)
        c, r = keras_gen.apply_transform(col, params), keras_gen.apply_transform(row, params)
        assert _cols(c) == [16], "Keras: a width shift leaves columns in place"
        moved += _rows(r) != [16]
    assert moved >= 6, "Keras: a width shift moves rows (the documented bug)"

    # Exact agreement for integer shifts: augkit's legacy output is one of Keras' two
    # possible outputs for width_shift_range=[4]; augkit's default is Keras' *height* shift.
    images = np.random.default_rng(0).integers(0, 256, (8, 20, 24, 3), dtype=np.uint8)
    keras_gen = idg(width_shift_range=[4], fill_mode="constant")
    legacy = augkit.Pipeline.from_keras(width_shift_range=[4], fill_mode="constant",
                                        legacy_shift_axes=True)
    modern = augkit.Pipeline.from_keras(width_shift_range=[4], fill_mode="constant")
    legacy_out, _ = legacy.apply(images, seed=0)
    modern_out, _ = modern.apply(images, seed=0)
    for i, img in enumerate(images.astype(np.float32)):
        # Keras' ty comes from width_shift_range and moves rows; tx moves columns
        by_width = [keras_gen.apply_transform(img, {"ty": s}) for s in (4, -4)]
        by_height = [keras_gen.apply_transform(img, {"tx": s}) for s in (4, -4)]
        assert any(np.array_equal(k, legacy_out[i]) for k in by_width)
        assert any(np.array_equal(k, modern_out[i]) for k in by_height)
        assert not any(np.array_equal(k, modern_out[i]) for k in by_width)


def _gradient_image(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx * 9, yy * 10, (xx + yy) * 5], -1).clip(0, 255)
    img[8:12, 15:22] = 255.0
    return img


def test_rotation_shift_zoom_match_keras_apply_transform():
    """Same parameters ⇒ same image as Keras' scipy warp (float32, bilinear, about centre)."""
    idg = _keras_idg()
    img = _gradient_image(28, 28)
    pipe = augkit.Pipeline.from_keras(rotation_range=20, width_shift_range=0.1,
                                      height_shift_range=3.0, zoom_range=0.2,
                                      legacy_shift_axes=True)
    assert [op.name for op in pipe.ops] == ["rotate", "translate", "translate", "zoom"]
    t = 0.8  # pin every range at low + 0.8 * (high - low)
    pinned = augkit.Pipeline([op.pinned(t) for op in pipe.ops], value_range=(0, 255))
    theta = pinned.ops[0].angle_range[0]
    dx = pinned.ops[1].x_range[0]       # pixels (legacy: from height_shift_range=3.0)
    dy = pinned.ops[2].y_range[0] * 28  # fraction of the height (from width_shift_range)
    z = pinned.ops[3].factor_range[0]
    assert (theta, dx, dy, z) == pytest.approx((12.0, 1.8, 1.68, 1.12))
    (ours,), _ = pinned.apply(img[None], seed=0)
    # Keras' tx/ty are offsets of the inverse map: content moves by -tx along columns
    # (tx is drawn from height_shift_range in Keras) and by -ty along rows.
    theirs = idg(fill_mode="nearest").apply_transform(
        img, {"theta": theta, "tx": -dx, "ty": -dy, "zx": z, "zy": z})
    assert np.abs(ours - theirs).max() < 0.05


def test_keras_pivots_about_a_swapped_centre_on_non_square_images():
    """Keras' offset_center uses (h-1)/2 for x and (w-1)/2 for y; augkit the true centre."""
    idg = _keras_idg()
    h, w = 24, 28
    img = _gradient_image(h, w)
    keras_out = idg(fill_mode="nearest").apply_transform(img, {"theta": 12})
    true_centre = augkit.Pipeline([O.Rotate(angle_range=(12, 12))], value_range=(0, 255))
    (ours,), _ = true_centre.apply(img[None], seed=0)
    assert np.abs(ours - keras_out).max() > 20, "augkit rotates about the true centre"
    # Keras' pivot is (x, y) = ((h - 1) / 2, (w - 1) / 2): move it to the centre, rotate, back
    dx, dy = (h - 1) / 2 - (w - 1) / 2, (w - 1) / 2 - (h - 1) / 2
    swapped = augkit.Pipeline([
        O.Translate(x_range=(-dx, -dx), y_range=(-dy, -dy), unit="pixels"),
        O.Rotate(angle_range=(12, 12)),
        O.Translate(x_range=(dx, dx), y_range=(dy, dy), unit="pixels"),
    ], value_range=(0, 255))
    (emulated,), _ = swapped.apply(img[None], seed=0)
    assert np.abs(emulated - keras_out).max() < 0.05


def test_zoom_convention_above_one_shrinks_content():
    x = np.zeros((1, 33, 33, 1), np.uint8)
    x[0, 8:25, 8:25] = 255  # a 17 px square about the centre
    for factor, bigger in ((2.0, False), (0.5, True)):
        pipe = augkit.Pipeline([O.Zoom(factor_range=(factor, factor))], fill_mode="constant",
                               interpolation="nearest")
        (out,), _ = pipe.apply(x, seed=0)
        side = len(_cols(out))
        assert (side > 17) == bigger and abs(side - 17 / factor) <= 2


def test_shear_is_pure_unlike_keras():
    """augkit's shear keeps rows at their height; Keras' also stretches y by 1/cos(angle)."""
    x = _row_image(row=26)  # 10 rows below the centre (15.5)
    x[0, 5, :] = 255        # 10.5 rows above it
    pipe = augkit.Pipeline([O.Shear(angle_range=(40, 40))], fill_mode="constant",
                           interpolation="nearest")
    (out,), _ = pipe.apply(x, seed=0)
    assert _rows(out) == [5, 26], "a pure x-shear never moves a row"

    idg = _keras_idg()
    keras_out = idg(fill_mode="constant").apply_transform(x[0].astype(np.float32),
                                                          {"shear": 40})
    rows = np.nonzero((keras_out[..., 0] > 128).sum(axis=1))[0]
    centre = 15.5
    stretch = 1 / math.cos(math.radians(40))
    expected = {round(centre - 10.5 * stretch), round(centre + 10.5 * stretch)}
    assert set(rows.tolist()) >= expected, (rows, expected)


def test_channel_shift_clips_to_the_image_min_and_max_like_keras():
    x = np.random.default_rng(1).integers(50, 200, (1, 16, 16, 3)).astype(np.float32)
    lo, hi = x.min(), x.max()
    for shift in (-80.0, 30.0):
        pipe = augkit.Pipeline([O.ChannelShift(intensity_range=(shift, shift))],
                               value_range=(0, 255))
        (out,), _ = pipe.apply(x, seed=0)
        np.testing.assert_array_equal(out, np.clip(x[0] + shift, lo, hi))
        try:
            from keras.src.legacy.preprocessing.image import apply_channel_shift
        except ImportError:
            continue
        np.testing.assert_array_equal(out, apply_channel_shift(x[0], shift, channel_axis=2))


def test_brightness_scales_about_black_and_clips_like_pil():
    x = np.random.default_rng(2).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    for factor in (0.5, 1.3):
        pipe = augkit.Pipeline([O.Brightness(factor_range=(factor, factor))])
        (out,), _ = pipe.apply(x, seed=0)
        want = np.clip(np.rint(x[0] * np.float32(factor)), 0, 255)
        assert np.abs(out.astype(int) - want).max() <= 1
    try:
        from keras.src.legacy.preprocessing.image import apply_brightness_shift
    except ImportError:
        return
    for factor in (0.5, 1.3):
        (out,), _ = augkit.Pipeline([O.Brightness(factor_range=(factor, factor))]).apply(
            x, seed=0)
        keras_out = apply_brightness_shift(x[0].astype(np.float32), factor, False)
        assert np.abs(out.astype(float) - keras_out).max() <= 1.0  # PIL rounds differently


def test_rescale_runs_after_augmentation_and_gives_float32():
    x = np.random.default_rng(3).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    pipe = augkit.Pipeline.from_keras(horizontal_flip=True, rescale=1 / 255)
    out, _ = pipe.apply(x, seed=0)
    flips = augkit.Pipeline.from_keras(horizontal_flip=True)
    flipped, _ = flips.apply(x, seed=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, flipped.astype(np.float32) / 255, rtol=1e-6)


# -- bad arguments ----------------------------------------------------------------------------
BAD_ARGS = [
    ({"rotation_range": -5}, ["rotation_range", "-5", "a number >= 0"]),
    ({"rotation_range": "10"}, ["rotation_range", "'10'", "a number"]),
    ({"rotation_range": True}, ["rotation_range", "True"]),
    ({"rotation_range": 400}, ["rotation_range", "400", "360"]),
    ({"rotation_range": float("nan")}, ["rotation_range", "nan"]),
    ({"width_shift_range": -0.1}, ["width_shift_range", "-0.1", "a float", "an int n",
                                   "a list"]),
    ({"width_shift_range": "0.1"}, ["width_shift_range", "'0.1'", "a float"]),
    ({"width_shift_range": []}, ["width_shift_range", "[]", "a list"]),
    ({"width_shift_range": True}, ["width_shift_range", "True"]),
    ({"width_shift_range": [1, "2"]}, ["width_shift_range", "'2'"]),
    ({"width_shift_range": float("nan")}, ["width_shift_range", "nan"]),
    ({"width_shift_range": float("inf")}, ["width_shift_range", "inf"]),
    ({"width_shift_range": [float("nan")]}, ["width_shift_range", "nan"]),
    ({"height_shift_range": -3}, ["height_shift_range", "-3"]),
    ({"height_shift_range": {"a": 1}}, ["height_shift_range", "{'a': 1}"]),
    ({"height_shift_range": float("inf")}, ["height_shift_range", "inf"]),
    ({"shear_range": -1}, ["shear_range", "-1", "a number >= 0"]),
    ({"shear_range": 90}, ["shear_range", "90", "85"]),
    ({"zoom_range": 1.0}, ["zoom_range", "1.0", "a number in [0, 1)", "a pair"]),
    ({"zoom_range": -0.1}, ["zoom_range", "-0.1"]),
    ({"zoom_range": [0.5]}, ["zoom_range", "[0.5]", "a pair"]),
    ({"zoom_range": [1.2, 0.8]}, ["zoom_range", "[1.2, 0.8]", "low <= high"]),
    ({"zoom_range": [0, 1]}, ["zoom_range", "[0, 1]", "0 < low"]),
    ({"zoom_range": [0.5, 1000]}, ["zoom_range", "1000"]),
    ({"channel_shift_range": -3}, ["channel_shift_range", "-3", "a number >= 0"]),
    ({"channel_shift_range": float("inf")}, ["channel_shift_range", "inf"]),
    ({"brightness_range": 0.5}, ["brightness_range", "0.5", "a pair"]),
    ({"brightness_range": [1.5, 0.5]}, ["brightness_range", "[1.5, 0.5]", "low <= high"]),
    ({"brightness_range": (0.5, 1.5, 2)}, ["brightness_range", "(0.5, 1.5, 2)", "a pair"]),
    ({"horizontal_flip": 1}, ["horizontal_flip", "got 1", "true or false"]),
    ({"vertical_flip": "yes"}, ["vertical_flip", "'yes'", "true or false"]),
    ({"fill_mode": "nearst"}, ["fill_mode", "'nearst'", "did you mean 'nearest'"]),
    ({"fill_mode": "mirror"}, ["fill_mode", "'mirror'", "'reflect'"]),
    ({"cval": "x"}, ["cval", "'x'", "a number"]),
    ({"rescale": "1/255"}, ["rescale", "'1/255'", "a number"]),
    ({"rescale": True}, ["rescale", "True"]),
    ({"legacy_shift_axes": "yes"}, ["legacy_shift_axes", "'yes'", "true or false"]),
]


@pytest.mark.parametrize("kwargs, fragments", BAD_ARGS, ids=[str(k) for k, _ in BAD_ARGS])
def test_bad_argument_names_argument_value_and_allowed(kwargs, fragments):
    with pytest.raises(SpecError) as info:
        augkit.Pipeline.from_keras(**kwargs)
    message = str(info.value)
    name = next(iter(kwargs))
    assert message.startswith(name), f"message must start with the argument: {message}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


@pytest.mark.parametrize("name, closest", [
    ("rotation_rang", "rotation_range"),
    ("width_shift", "width_shift_range"),
    ("horizontal_flips", "horizontal_flip"),
    ("zoom", "zoom_range"),
    ("brightness", "brightness_range"),
])
def test_unknown_argument_suggests_the_closest_name(name, closest):
    with pytest.raises(SpecError) as info:
        augkit.Pipeline.from_keras(**{name: 1})
    message = str(info.value)
    assert message.startswith(f"{name}: unknown argument")
    assert f"did you mean {closest!r}" in message or f"'{closest}'" in message.split(
        "allowed")[0]
    assert "allowed: rotation_range" in message


@pytest.mark.parametrize("name", [
    "featurewise_center", "samplewise_center", "featurewise_std_normalization",
    "samplewise_std_normalization", "zca_whitening", "zca_epsilon", "preprocessing_function",
    "data_format", "validation_split", "interpolation_order", "dtype",
])
def test_non_augmentation_arguments_point_to_image_data_generator(name):
    with pytest.raises(SpecError) as info:
        augkit.Pipeline.from_keras(**{name: True})
    message = str(info.value)
    assert message.startswith(name) and "augkit.ImageDataGenerator" in message


# -- statistics of the sampled parameters (2000 seeds) ---------------------------------------
@pytest.mark.parametrize("degrees", [15, 90])
def test_rotation_angles_are_uniform_over_plus_minus_range(degrees):
    (op,) = augkit.Pipeline.from_keras(rotation_range=degrees).ops
    _uniform_ok(_sample(op)["angle"], -degrees, degrees)


def test_shear_angles_are_uniform_over_plus_minus_range():
    (op,) = augkit.Pipeline.from_keras(shear_range=20).ops
    _uniform_ok(_sample(op)["angle"], -20, 20)


@pytest.mark.parametrize("n", [2, 5])
def test_int_shift_gives_integer_offsets_in_open_interval(n):
    for kwargs, key in (({"width_shift_range": n}, "dx"), ({"height_shift_range": n}, "dy")):
        (op,) = augkit.Pipeline.from_keras(**kwargs).ops
        values = _sample(op, 8, 8)[key]
        assert np.array_equal(values, np.round(values)), "integer pixel offsets"
        assert set(np.abs(values).astype(int).tolist()) == set(range(n))
        assert values.min() > -n and values.max() < n
        assert set(values.astype(int).tolist()) == set(range(-(n - 1), n))
        # Keras: np.random.choice(n) * choice([-1, 1]) — every magnitude equally likely
        counts = np.bincount(np.abs(values).astype(int), minlength=n)
        assert counts.min() > 0.8 * len(values) / n


def test_list_shift_picks_elements_with_random_sign():
    (op,) = augkit.Pipeline.from_keras(width_shift_range=[2, 7]).ops
    values = _sample(op)["dx"]
    assert set(values.tolist()) == {-7.0, -2.0, 2.0, 7.0}
    assert abs((values > 0).mean() - 0.5) < 0.05


def test_fraction_shift_scales_with_the_image_size():
    (op,) = augkit.Pipeline.from_keras(width_shift_range=0.25, height_shift_range=0.1).ops
    params = _sample(op, 20, 40)
    _uniform_ok(params["dx"], -10, 10)   # 0.25 * width 40
    _uniform_ok(params["dy"], -2, 2)     # 0.1 * height 20


def test_float_pixel_shift_is_uniform_in_pixels():
    (op,) = augkit.Pipeline.from_keras(height_shift_range=3.0).ops
    params = _sample(op, 8, 8)
    _uniform_ok(params["dy"], -3, 3)
    assert np.all(params["dx"] == 0)


@pytest.mark.parametrize("zoom, lo, hi", [(0.2, 0.8, 1.2), ([0.5, 1.5], 0.5, 1.5)])
def test_zoom_factors_lie_in_range_independently_per_axis(zoom, lo, hi):
    (op,) = augkit.Pipeline.from_keras(zoom_range=zoom).ops
    params = _sample(op)
    _uniform_ok(params["zx"], lo, hi)
    _uniform_ok(params["zy"], lo, hi)
    assert abs(np.corrcoef(params["zx"], params["zy"])[0, 1]) < 0.1, "drawn independently"


def test_channel_shift_and_brightness_are_uniform():
    ops = augkit.Pipeline.from_keras(channel_shift_range=40, brightness_range=[0.6, 1.4]).ops
    _uniform_ok(_sample(ops[0])["factor"], -40, 40)
    _uniform_ok(_sample(ops[1])["factor"], 0.6, 1.4)


def test_flips_happen_half_the_time():
    pipe = augkit.Pipeline.from_keras(horizontal_flip=True)
    x = np.zeros((N_SEEDS, 2, 2, 1), np.uint8)
    x[:, :, 0] = 255
    out, _ = pipe.apply(x, seed=0)
    flipped = (out[:, 0, 1, 0] == 255).mean()
    assert abs(flipped - 0.5) < 0.05
