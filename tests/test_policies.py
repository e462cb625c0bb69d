"""RandAugment and TrivialAugment: selection statistics, magnitude tables (torchvision's), the
per-sample result equal to the chosen sub-ops as standalone ops, one warp, both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest

import augkit
from augkit import ops as O
from augkit import rng
from augkit.kernels.cv import NP
from augkit.ops.policies import GEOMETRIC_SUB_OPS, SUB_OPS


def _params(op: O.Op, n: int, seed: int = 0, h: int = 32, w: int = 40) -> dict:
    keys = rng.sample_keys(seed, np.arange(n, dtype=np.int64), 0)
    return op.sample(rng.op_draws(keys, 1, NP)[0], h, w)


def _image(n: int = 6, h: int = 26, w: int = 30, seed: int = 0) -> np.ndarray:
    rng_ = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.stack([x * 7 % 200 + 20, y * 5 % 180 + 30, (x + y) * 3 % 150 + 60], -1)
    noise = rng_.integers(-20, 20, (n, h, w, 3))
    return np.clip(smooth[None] + noise, 0, 255).astype(np.uint8)


# -- selection and magnitudes -------------------------------------------------------------------
def _assert_uniform(counts: np.ndarray) -> None:
    """Pearson's chi-square against the uniform distribution, at the 0.1 % level."""
    from scipy.stats import chi2

    expected = counts.sum() / counts.size
    stat = ((counts - expected) ** 2 / expected).sum()
    assert counts.min() > 0 and stat < chi2.ppf(0.999, counts.size - 1), counts


@pytest.mark.parametrize("op", [O.RandAugment(num_ops=3), O.TrivialAugment()])
def test_every_sub_op_is_picked_uniformly_with_balanced_signs(op):
    params = _params(op, 14 * 600)
    choice = params["choice"].astype(int).ravel()
    _assert_uniform(np.bincount(choice, minlength=len(SUB_OPS)))
    rotate = params["value"].ravel()[choice == SUB_OPS.index("rotate")]
    assert 0.45 < (rotate < 0).mean() < 0.55


def test_trivialaugment_magnitude_bins_are_uniform():
    op = O.TrivialAugment(num_magnitude_bins=11)
    params = _params(op, 20000)
    v = params["value"][:, 0][params["choice"][:, 0] == SUB_OPS.index("rotate")]
    bins = np.rint(np.abs(v) / 13.5).astype(int)  # linspace(0, 135, 11): steps of 13.5 degrees
    np.testing.assert_allclose(np.abs(v), bins * 13.5, rtol=1e-5)
    _assert_uniform(np.bincount(bins, minlength=11))


def _torchvision_table(name: str, bins: int, wide: bool, width: int) -> np.ndarray:
    """torchvision's _augmentation_space, restated (RandAugment / TrivialAugmentWide)."""
    top = {"shear_x": 0.99 if wide else 0.3, "rotate": 135.0 if wide else 30.0,
           "brightness": 0.99 if wide else 0.9,
           "translate_x": 32.0 if wide else 150.0 / 331.0 * width}
    if name == "posterize":
        return 8 - np.round(np.arange(bins) / ((bins - 1) / (6 if wide else 4)))
    if name == "solarize":
        return np.linspace(255.0, 0.0, bins)
    return np.linspace(0.0, top[name], bins)


@pytest.mark.parametrize("magnitude", [0, 9, 17, 30])
def test_randaugment_values_follow_torchvision_tables(magnitude):
    op = O.RandAugment(num_ops=2, magnitude=magnitude)
    params = _params(op, 3000, w=40)
    choice, value = params["choice"].ravel(), params["value"].ravel()

    def picked(name: str) -> np.ndarray:
        return value[choice == SUB_OPS.index(name)]

    def table(name: str) -> float:
        return float(_torchvision_table(name, 31, False, 40)[magnitude])

    np.testing.assert_allclose(np.abs(picked("shear_x")), table("shear_x"), atol=1e-6)
    np.testing.assert_allclose(np.abs(picked("rotate")), table("rotate"), atol=1e-5)
    np.testing.assert_allclose(picked("brightness"), 1 + np.sign(picked("brightness") - 1)
                               * table("brightness"), atol=1e-6)
    assert set(np.abs(picked("translate_x"))) == {math.trunc(table("translate_x"))}
    assert set(picked("posterize")) == {table("posterize")}
    np.testing.assert_allclose(picked("solarize"), table("solarize") / 255, atol=1e-7)
    for name in ("identity", "autocontrast", "equalize"):
        assert not picked(name).any()


def test_trivialaugment_values_follow_the_wide_tables():
    op = O.TrivialAugment()
    params = _params(op, 20000)
    choice, value = params["choice"][:, 0], params["value"][:, 0]
    for name in ("shear_x", "rotate", "translate_x", "posterize", "solarize"):
        got = np.unique(np.abs(value[choice == SUB_OPS.index(name)]))
        want = _torchvision_table(name, 31, True, 40)
        if name == "translate_x":
            want = np.trunc(want)
        if name == "solarize":
            want = want / 255
        np.testing.assert_allclose(np.sort(got), np.unique(np.float32(want)), rtol=1e-5)


def test_magnitude_zero_makes_every_geometric_sub_op_the_identity():
    op = O.RandAugment(num_ops=4, magnitude=0)
    params = _params(op, 500)
    assert np.array_equal(op.matrix(params, 32, 40, NP), np.broadcast_to(np.eye(3), (500, 3, 3)))
    x = _image(40)
    out, _ = augkit.Pipeline([op]).apply(x, seed=0)
    geometric_only = np.isin(_params(op, 40, h=26, w=30)["choice"],
                             [SUB_OPS.index(n) for n in ("identity", *GEOMETRIC_SUB_OPS)])
    rows = geometric_only.all(axis=1)
    assert rows.any() and np.array_equal(out[rows], x[rows])


# -- a policy is its sub-ops --------------------------------------------------------------------
def _standalone(name: str, v: float) -> list[O.Op]:
    """The standalone augkit op a sub-op with signed value ``v`` stands for."""
    if name in ("shear_x", "shear_y"):
        return [O.Shear(angle_range=(math.degrees(math.atan(v)),) * 2, axis=name[-1])]
    if name in ("translate_x", "translate_y"):
        x, y = (v, 0.0) if name == "translate_x" else (0.0, v)
        return [O.Translate(x_range=(x, x), y_range=(y, y), unit="pixels")]
    cls = {"rotate": O.Rotate, "brightness": O.Brightness, "color": O.Saturation,
           "contrast": O.Contrast, "sharpness": O.Sharpness, "posterize": O.Posterize,
           "solarize": O.Solarize, "autocontrast": O.AutoContrast, "equalize": O.Equalize}
    if name == "identity":
        return []
    if name in ("autocontrast", "equalize"):
        return [cls[name](p=1.0)]
    key = next(iter(cls[name].params))
    return [cls[name](**{key: (float(v), float(v))}, p=1.0)]


@pytest.mark.parametrize("op", [O.RandAugment(num_ops=2, magnitude=14), O.TrivialAugment()])
@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_each_sample_gets_its_chosen_sub_ops(op, backend):
    """Value sub-ops first (slot order), then the geometric ones (one warp, slot order)."""
    n = 28
    x = _image(n, seed=1)
    out, _ = augkit.Pipeline([op], fill_mode="reflect").apply(x, seed=5, backend=backend)
    keys = rng.sample_keys(5, np.arange(n, dtype=np.int64), 0)
    params = op.sample(rng.op_draws(keys, 1, NP)[0], 26, 30)
    for i in range(n):
        geo, values = [], []
        for k, v in zip(params["choice"][i], params["value"][i]):
            name = SUB_OPS[int(k)]
            (geo if name in GEOMETRIC_SUB_OPS else values).extend(_standalone(name, v))
        want, _ = augkit.Pipeline(values + geo, fill_mode="reflect").apply(x[i:i + 1], seed=0)
        diff = np.abs(want[0].astype(int) - np.asarray(out)[i].astype(int)).max()
        assert diff <= 1, (i, [SUB_OPS[int(k)] for k in params["choice"][i]], diff)


def test_geometric_part_joins_the_warp_after_it():
    pipe = augkit.Pipeline([O.Rotate(), O.RandAugment(), O.FlipHorizontal(), O.Brightness()])
    stages = [(start, [type(op).__name__ for op in ops]) for start, ops in pipe.stages()]
    assert stages == [(0, ["Rotate"]), (1, ["PolicyValues"]),
                      (1, ["PolicyGeometry", "FlipHorizontal"]), (3, ["Brightness"])]


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_backends_agree(interpolation, dtype):
    x = _image(16, seed=2)
    x = x if dtype == "uint8" else x.astype(np.float32) / 255
    for op in (O.RandAugment(num_ops=3, magnitude=20), O.TrivialAugment()):
        pipe = augkit.Pipeline([O.Zoom(), op], interpolation=interpolation)
        a, _ = pipe.apply(x, seed=9, index=np.arange(16) * 3)
        b, _ = pipe.apply(x, seed=9, index=np.arange(16) * 3, backend="tf")
        tol = 1.0 if dtype == "uint8" else 1 / 255 + 1e-5
        assert np.abs(a.astype(float) - np.asarray(b)).max() <= tol
        assert a.dtype == np.asarray(b).dtype == np.dtype(dtype)


def test_p_skips_both_parts_together():
    x = _image(30, seed=3)
    op = O.TrivialAugment(p=0.5)
    out, _ = augkit.Pipeline([op]).apply(x, seed=1)
    keys = rng.sample_keys(1, np.arange(30, dtype=np.int64), 0)
    applied = rng.op_draws(keys, 1, NP)[0].bernoulli(0, 0.5)
    assert np.array_equal(out[~applied], x[~applied]) and 5 < applied.sum() < 25


# -- specs and conversions ------------------------------------------------------------------------
def test_spec_round_trip_and_validation(tmp_path):
    pipe = augkit.Pipeline.from_dict({"ops": [
        {"op": "randaugment", "num_ops": 3, "magnitude": 12, "num_magnitude_bins": 21},
        {"op": "trivialaugment", "num_magnitude_bins": 11, "p": 0.5}]})
    path = tmp_path / "p.yaml"
    pipe.save(path)
    assert augkit.load(path) == pipe
    for bad, match in [({"op": "randaugment", "magnitude": 31},
                        r"magnitude: got 31.*num_magnitude_bins - 1 = 30"),
                       ({"op": "randaugment", "num_ops": 0}, "num_ops: got 0"),
                       ({"op": "randaugment", "magnitude": 2.5}, "magnitude: got 2.5"),
                       ({"op": "trivialaugment", "num_magnitude_bins": 1}, "num_magnitude_bins"),
                       ({"op": "trivialaugment", "magnitude": 3}, "unknown parameter")]:
        with pytest.raises(augkit.SpecError, match=match):
            augkit.Pipeline.from_dict({"ops": [bad]})


def test_no_albumentations_equivalent():
    with pytest.raises(augkit.SpecError, match="no RandAugment or TrivialAugment"):
        augkit.Pipeline([O.RandAugment()]).to_albumentations()


def test_keras_layer_in_a_fresh_process():
    """The layer reaches the kernels without Pipeline.apply having loaded the backend first."""
    import subprocess
    import sys

    code = ("import numpy as np, augkit\n"
            "layer = augkit.Pipeline([augkit.ops.TrivialAugment(), augkit.ops.Equalize(p=1)])"
            ".as_layer(seed=1, value_range=(0, 255))\n"
            "x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3)).astype('float32')\n"
            "print(tuple(layer(x, training=True).shape))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(4, 16, 16, 3)")
