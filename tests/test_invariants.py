"""The invariants, property-tested with hypothesis on every op and both backends.

The invariant functions live in ``augkit.checks`` (the same code ``augkit check`` runs on a
user's pipeline); here hypothesis draws the op parameters, images, seeds and indices.
``OP_TABLE`` is the generic test table: a meta-test fails when a registered op is missing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import augkit
from augkit import checks
from augkit.params import Floats, Range

TF_OK = True
try:  # the tf backend is part of the product: its absence must fail loudly, not skip
    import tensorflow as tf  # noqa: F401
except ImportError:  # pragma: no cover
    TF_OK = False

# Moderate caps on each op's ranges (the declared bounds allow extreme values which are valid
# but make pictures meaningless); anything not listed draws from its declared bounds.
OP_TABLE: dict[str, dict] = {
    "rotate": {"angle_range": (-180, 180)},
    "translate": {"x_range": (-0.5, 0.5), "y_range": (-0.5, 0.5)},
    "zoom": {"factor_range": (0.5, 2.0)},
    "shear": {"angle_range": (-40, 40)},
    "flip_horizontal": {},
    "flip_vertical": {},
    "random_resized_crop": {"size": st.tuples(st.integers(4, 40), st.integers(4, 40))},
    "crop_and_pad": {"percent_range": (-0.3, 0.5)},
    "brightness": {"factor_range": (0.0, 3.0)},
    "channel_shift": {"intensity_range": (-100, 100)},
    "contrast": {"factor_range": (0.0, 3.0)},
    "saturation": {"factor_range": (0.0, 3.0)},
    "hue": {},
    "gamma": {"gamma_range": (0.1, 5.0)},
    "rescale": {"scale": st.sampled_from([1 / 255, 2.0, -1.0]), "offset": st.sampled_from(
        [0.0, -0.5])},
    "normalize": {"mean": st.sampled_from([0.5, (0.485, 0.456, 0.406)]),
                  "std": st.sampled_from([0.25, (0.229, 0.224, 0.225)])},
    "gaussian_noise": {},
    "gaussian_blur": {"sigma_range": (0.1, 3.0)},
    "erasing": {"fill": st.one_of(st.floats(0, 1), st.just("random"))},
    "albumentations": {"transform": st.sampled_from(["CLAHE", "Posterize", "Equalize",
                                                     "Sharpen", "GaussNoise"])},
    "autocontrast": {},
    "equalize": {},
    "solarize": {},
    "posterize": {"bits_range": st.tuples(st.integers(0, 8), st.integers(0, 8)).map(sorted)},
    "sharpness": {"factor_range": (0.0, 3.0)},
    "randaugment": {"num_ops": st.integers(1, 3), "magnitude": st.integers(0, 30)},
    "trivialaugment": {"num_magnitude_bins": st.sampled_from([2, 11, 31])},
    "mixup": {"alpha": st.sampled_from([0.05, 0.4, 1.0, 8.0])},
    "cutmix": {"alpha": st.sampled_from([0.05, 0.4, 1.0, 8.0])},
}
CV_ONLY = {"albumentations"}
MIXING = {"mixup", "cutmix"}  # batch-level: per-sample calls refuse them (tests/test_mixing.py)
DISCRETE = {"flip_horizontal", "flip_vertical", "posterize"}  # few distinct parameter values
NO_RANGE = {"flip_horizontal", "flip_vertical", "autocontrast", "equalize"}  # vary only by p


def _range(decl: Range, cap: tuple | None) -> st.SearchStrategy:
    lo = max(decl.min, cap[0]) if cap else max(decl.min, -1e3)
    hi = min(decl.max, cap[1]) if cap else min(decl.max, 1e3)
    bound = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.tuples(bound, bound).map(lambda t: (min(t), max(t)))


@st.composite
def op_instances(draw: st.DrawFn, name: str) -> augkit.ops.Op:
    cls = augkit.ops.get(name)
    table = OP_TABLE[name]
    kwargs = {}
    for key, decl in cls.params.items():
        spec = table.get(key)
        if isinstance(spec, st.SearchStrategy):
            kwargs[key] = draw(spec)
        elif isinstance(decl, Range):
            kwargs[key] = draw(_range(decl, spec))
    fixed_p = name in ("rescale", "normalize")
    p = 1.0 if fixed_p else draw(st.sampled_from([0.0, 0.5, 1.0]))
    return cls(p=p, **kwargs)


@st.composite
def cases(draw: st.DrawFn, pipeline: augkit.Pipeline) -> checks.Case:
    channels = checks._channels(pipeline) or [3]
    side = checks._min_side(pipeline)
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(side, side + 24)), draw(st.integers(side, side + 24))
    c = draw(st.sampled_from(channels))
    seed = draw(st.integers(0, 2**63 - 2))
    index = np.asarray(draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n)))
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    unit = gen.random((n, h, w, c))
    if draw(st.booleans()):
        images = np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)
    else:
        lo, hi = pipeline.value_range
        images = np.clip((lo + unit * (hi - lo)).astype(np.float32), lo, hi)
    return checks.Case(images, np.arange(n) * 7 + 3, seed, index)


@st.composite
def pipelines(draw: st.DrawFn, name: str) -> augkit.Pipeline:
    return augkit.Pipeline(
        [draw(op_instances(name))],
        fill_mode=draw(st.sampled_from(["nearest", "constant", "reflect", "wrap"])),
        interpolation=draw(st.sampled_from(["bilinear", "nearest"])),
        cval=draw(st.sampled_from([0.0, 0.5, 200.0])),
    )


def test_op_table_covers_registry():
    """The meta-test: every registered op is in the generic test table, and nothing else."""
    assert set(OP_TABLE) == set(augkit.ops.available())


@pytest.mark.parametrize("name", sorted(OP_TABLE))
@given(data=st.data())
def test_invariants_cv(name, data):
    pipeline = data.draw(pipelines(name))
    case = data.draw(cases(pipeline))
    for invariant in checks.PER_CASE.values():
        invariant(pipeline, case, "cv")


@pytest.mark.parametrize("name", sorted(set(OP_TABLE) - CV_ONLY))
@given(data=st.data())
def test_invariants_tf_and_agreement(name, data):
    assert TF_OK, "TensorFlow is a runtime dependency"
    pipeline = data.draw(pipelines(name))
    case = data.draw(cases(pipeline))
    for invariant in checks.PER_CASE.values():
        invariant(pipeline, case, "tf")
    checks.backends_agree(pipeline, case)


@pytest.mark.parametrize("name", sorted(set(OP_TABLE) - {"rescale", "normalize"}))
def test_seeds_and_indices_change_draws(name):
    """Different seeds and different indices give different parameters (not a constant)."""
    cls = augkit.ops.get(name)
    kwargs = {"transform": "GaussNoise"} if name == "albumentations" else {}
    op = cls(p=0.5, **kwargs)
    from augkit.kernels.cv import NP
    from augkit.rng import Draws, combine, sample_keys

    def params(seed: int, index: np.ndarray) -> dict:
        keys = combine(sample_keys(seed, index, 0), 1)
        draws = Draws(keys, NP)
        out = {k: np.asarray(v) for k, v in op.sample(draws, 32, 32).items()}
        out["p"] = np.asarray(draws.bernoulli(0, op.p))
        return out

    index = np.arange(64)
    a, b = params(0, index), params(1, index)
    assert any(not np.array_equal(a[k], b[k]) for k in a)
    for key, value in a.items():
        if value.ndim and value.shape[0] == 64 and value.dtype != bool and name not in DISCRETE:
            assert len(np.unique(value)) > 8, f"{key} barely varies across indices"
    assert 0 < a["p"].mean() < 1


@pytest.mark.parametrize("name", sorted(set(OP_TABLE) - CV_ONLY - MIXING
                                         - {"rescale", "normalize"}))
def test_varies_inside_tf_data_map(name):
    """Every op, mapped over a tf.data data set of identical images, varies across elements."""
    op = augkit.ops.get(name)(p=1.0) if name not in NO_RANGE else augkit.ops.get(name)(p=0.5)
    image = np.random.default_rng(0).integers(0, 256, (24, 28, 3), dtype=np.uint8)
    if name == "autocontrast":
        image = image // 2 + 40  # a full-range image is already stretched
    checks.tf_data_varies(augkit.Pipeline([op]), image, seed=3)


def test_uniform_draws_are_uniform():
    """The hash's uniforms: mean, spread and serial correlation of a uniform distribution."""
    from augkit.kernels.cv import NP
    from augkit.rng import Draws, sample_keys

    u = Draws(sample_keys(7, np.arange(200_000), 0), NP).uniform(1)
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(u.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    assert u.min() >= 0.0 and u.max() < 1.0


def test_hash_identical_on_both_backends():
    """The seeding contract's core: numpy and TensorFlow compute the same bits."""
    import tensorflow as tf

    from augkit.kernels.cv import NP
    from augkit.kernels.tf import TF
    from augkit.rng import Draws, sample_keys

    index = np.array([0, 1, 2, 2**40 + 5, 2**62], dtype=np.int64)
    for seed in (0, 1, 2**33 + 7, 2**63 - 1):
        a = Draws(sample_keys(seed, index, 3), NP)
        b = Draws(sample_keys(seed, tf.constant(index), 3), TF)
        assert np.array_equal(a.bits(4), b.bits(4).numpy())
        assert np.array_equal(a.uniform(9, size=5), b.uniform(9, size=5).numpy())


def test_float_input_outside_declared_range_is_rejected():
    pipe = augkit.Pipeline.default()
    with pytest.raises(augkit.InputError, match=r"outside the declared value_range \[0, 1\]"):
        pipe.apply(np.full((1, 8, 8, 3), 2.0, np.float32), seed=0)
    with pytest.raises(augkit.InputError, match="NaN"):
        pipe.apply(np.full((1, 8, 8, 3), np.nan, np.float32), seed=0)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((8, 8, 3), np.uint8), r"expected shape \(N, H, W, C\)"),
    (np.zeros((1, 8, 8, 2), np.uint8), "C in 1, 3, 4"),
    (np.zeros((1, 8, 8, 3), np.float64), "allowed: uint8 or float32"),
    (np.zeros((0, 8, 8, 3), np.uint8), "no empty axis"),
])
def test_bad_images_are_named(bad, match):
    with pytest.raises(augkit.InputError, match=match):
        augkit.Pipeline.default().apply(bad, seed=0)


def test_bad_seed_index_labels():
    x = np.zeros((2, 8, 8, 3), np.uint8)
    pipe = augkit.Pipeline.default()
    with pytest.raises(augkit.InputError, match="seed"):
        pipe.apply(x, seed=-1)
    with pytest.raises(augkit.InputError, match="seed"):
        pipe.apply(x, seed=1.5)
    with pytest.raises(augkit.InputError, match="index"):
        pipe.apply(x, seed=0, index=[0])
    with pytest.raises(augkit.InputError, match="3 labels for 2 images"):
        pipe.apply(x, [1, 2, 3], seed=0)


def test_op_too_small_image_named():
    pipe = augkit.Pipeline([augkit.ops.GaussianBlur(sigma_range=(1.0, 5.0))])
    with pytest.raises(augkit.InputError, match="too small for a blur of radius 15"):
        pipe.apply(np.zeros((1, 10, 10, 3), np.uint8), seed=0)


def test_cv_only_op_rejected_on_tf():
    pipe = augkit.Pipeline([augkit.ops.Albumentations(transform="CLAHE")])
    with pytest.raises(augkit.SpecError, match="does not run on backend 'tf'"):
        pipe.apply(np.zeros((1, 16, 16, 3), np.uint8), seed=0, backend="tf")


def test_geometry_is_one_warp():
    """Consecutive geometric ops fuse into one stage (one interpolation), value ops do not."""
    pipe = augkit.Pipeline.from_keras(rotation_range=10, width_shift_range=0.1,
                                      zoom_range=0.1, shear_range=5, horizontal_flip=True,
                                      brightness_range=(0.9, 1.1), rescale=1 / 255)
    kinds = [[op.name for op in ops] for _, ops in pipe.stages()]
    assert kinds == [["rotate", "translate", "shear", "zoom", "flip_horizontal"],
                     ["brightness"], ["rescale"]]


def test_fused_warp_matches_sequential_warps_on_nearest():
    """One fused warp equals applying the ops one by one when no interpolation is involved."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    flips = [augkit.ops.FlipHorizontal(p=1.0), augkit.ops.FlipVertical(p=1.0)]
    fused, _ = augkit.Pipeline(flips).apply(x, seed=0)
    assert np.array_equal(fused, x[:, ::-1, ::-1])
    rot = augkit.Pipeline([augkit.ops.Rotate(angle_range=(90, 90))], interpolation="nearest")
    out, _ = rot.apply(x, seed=0)
    # counter-clockwise by 90° on screen: the top row becomes the left column, reversed
    assert np.array_equal(out, np.rot90(x, k=1, axes=(1, 2)))


def test_uint8_interpolation_is_rounded_not_truncated():
    """TF's kernel truncates on uint8 (a -0.5 level bias); augkit rounds on both backends."""
    x = np.full((1, 16, 16, 1), 100, np.uint8)
    x[..., ::2, :] = 101  # alternating columns; a quarter-pixel shift gives 100.25 / 100.75,
    # which round to 100 / 101 (mean 100.5) and truncate to 100 / 100 (mean 100)
    pipe = augkit.Pipeline([augkit.ops.Translate(x_range=(0.25, 0.25), y_range=(0, 0),
                                                 unit="pixels")])
    for backend in ("cv", "tf"):
        out, _ = pipe.apply(x, seed=0, backend=backend)
        inner = np.asarray(out)[0, :, 2:-2, 0].astype(float)
        assert math.isclose(inner.mean(), 100.5, abs_tol=0.26), backend


def test_floats_param_broadcast_in_normalize():
    decl = augkit.ops.Normalize.params["mean"]
    assert isinstance(decl, Floats)
    x = np.full((1, 4, 4, 3), 255, np.uint8)
    out, _ = augkit.Pipeline([augkit.ops.Normalize(mean=0.5, std=0.5)]).apply(x, seed=0)
    assert np.allclose(out, 1.0)


def test_output_never_aliases_the_input():
    """Even when no op runs (p=0 everywhere, empty pipeline) the output is a new array."""
    x = np.zeros((2, 8, 8, 3), np.uint8)
    for pipe in (augkit.Pipeline([]), augkit.Pipeline([augkit.ops.Rotate(p=0.0)])):
        out, _ = pipe.apply(x, seed=0)
        out[...] = 7
        assert not x.any()


@pytest.mark.parametrize("side", [24, 160])  # below and above the per-image fusion threshold
def test_warp_fused_with_rescale_equals_separate_rescale(side):
    """cv fuses a rescale into the warp loop for large images; the result must not change."""
    ops = [augkit.ops.Rotate(angle_range=(-20, 20)), augkit.ops.FlipHorizontal()]
    rescale = augkit.ops.Rescale(scale=1 / 255, offset=-0.5)
    x = np.random.default_rng(1).integers(0, 256, (3, side, side, 3), dtype=np.uint8)
    fused, _ = augkit.Pipeline([*ops, rescale]).apply(x, seed=4)
    warped, _ = augkit.Pipeline(ops).apply(x, seed=4)
    separate, _ = augkit.Pipeline([rescale]).apply(warped, seed=4)
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused, separate)


@pytest.mark.parametrize("offset", [0.0, 0.25])
def test_rescale_is_bit_identical_on_both_backends_signed_zeros_included(offset):
    """tf skips a zero offset as cv does: ``-0.0 + 0.0`` would turn -0.0 into +0.0 there."""
    x = np.array([0.0, -0.0, 1.0, 3.5, 255.0], np.float32).reshape(1, 1, 5, 1)
    pipe = augkit.Pipeline([augkit.ops.Rescale(scale=-1 / 255, offset=offset)],
                           value_range=(0.0, 255.0))
    cv, _ = pipe.apply(x, seed=0, backend="cv")
    tf_out, _ = pipe.apply(x, seed=0, backend="tf")
    tf_out = np.asarray(tf_out)
    np.testing.assert_array_equal(cv.view(np.uint32), tf_out.view(np.uint32))
    assert np.signbit(cv[0, 0, 0, 0]) == (offset == 0.0)
