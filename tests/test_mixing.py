"""MixUp and CutMix: labels, pixels, partners, both backends, tf.data, streams, errors.

Pixels encode labels where it matters: image ``i`` is a flat grey level ``LEVELS[i]`` and its
label is one-hot class ``i``, so the mix of every output pixel can be read back and compared
with the mixed label.
"""

from __future__ import annotations

import numpy as np
import pytest

import augkit
from augkit import ops as O
from augkit import rng
from augkit.kernels.cv import NP

LEVELS = np.array([10, 60, 110, 160, 210, 250, 35, 85], np.float64)


def _encoded(n: int = 8, h: int = 12, w: int = 16) -> tuple[np.ndarray, np.ndarray]:
    x = np.broadcast_to(LEVELS[:n, None, None, None], (n, h, w, 3)).astype(np.uint8)
    return x, np.eye(n, dtype=np.float32)


def _partners(op: O.Op, seed: int, index: np.ndarray, position: int = 0) -> np.ndarray:
    keys = rng.sample_keys(seed, index.astype(np.int64), 0)
    return op.sample(rng.op_draws(keys, position + 1, NP)[position], 8, 8)["partner"]


# -- labels and pixels ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_mixup_labels_are_the_pixel_blend(backend):
    x, y = _encoded()
    out, labels = augkit.Pipeline([O.MixUp(alpha=1.0)]).apply(x, y, seed=2, backend=backend)
    out, labels = np.asarray(out), np.asarray(labels)
    assert out.dtype == np.uint8 and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert ((labels > 0).sum(axis=1) == 2).all()  # every sample has a partner other than itself
    blend = labels @ LEVELS  # the grey level each label says the pixel should have
    assert np.abs(out[:, 0, 0, 0] - blend).max() <= 0.5 + 1e-4
    assert (out == out[:, :1, :1, :1]).all()  # a blend of two flat images is flat


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_cutmix_label_weight_is_the_pasted_pixel_fraction(backend):
    x, y = _encoded(h=13, w=17)
    out, labels = augkit.Pipeline([O.CutMix(alpha=1.0)]).apply(x, y, seed=7, backend=backend)
    out, labels = np.asarray(out), np.asarray(labels)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    partner = _partners(O.CutMix(alpha=1.0), 7, np.arange(8))
    for i in range(8):
        own = (out[i, ..., 0] == LEVELS[i]).mean()
        pasted = (out[i, ..., 0] == LEVELS[partner[i]]).mean()
        assert own + pasted == 1.0
        assert labels[i, partner[i]] == pytest.approx(pasted, abs=1e-6)
        assert labels[i, i] == pytest.approx(own, abs=1e-6)
    assert 0 < (labels.max(axis=1) < 1).sum()  # something was pasted


def test_cutmix_box_is_one_rectangle():
    x, y = _encoded(h=20, w=24)
    out, _ = augkit.Pipeline([O.CutMix(alpha=0.5)]).apply(x, y, seed=3)
    for i in range(8):
        rows, cols = np.nonzero(out[i, ..., 0] != LEVELS[i])
        if rows.size:
            box = out[i, rows.min():rows.max() + 1, cols.min():cols.max() + 1, 0]
            assert (box != LEVELS[i]).all() and rows.size == box.size


@pytest.mark.parametrize("name", ["mixup", "cutmix"])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_range_dtype_determinism_and_backends(name, dtype):
    gen = np.random.default_rng(0)
    x = gen.integers(0, 256, (10, 14, 18, 3), dtype=np.uint8)
    x = x if dtype == "uint8" else (x / 255).astype(np.float32)
    y = gen.dirichlet(np.ones(5), size=10).astype(np.float32)  # soft labels
    pipe = augkit.Pipeline([O.get(name)(alpha=0.7, p=0.8)])
    a, la = pipe.apply(x, y, seed=11, index=np.arange(10) * 5, epoch=3)
    b, lb = pipe.apply(x, y, seed=11, index=np.arange(10) * 5, epoch=3, backend="tf")
    again, _ = pipe.apply(x, y, seed=11, index=np.arange(10) * 5, epoch=3)
    other, _ = pipe.apply(x, y, seed=12, index=np.arange(10) * 5, epoch=3)
    assert a.dtype == np.asarray(b).dtype == np.dtype(dtype)
    hi = 255 if dtype == "uint8" else 1.0
    assert 0 <= a.min() and a.max() <= hi
    assert np.array_equal(a, again) and not np.array_equal(a, other)
    tol = 1.0 if dtype == "uint8" else 1 / 255
    assert np.abs(a.astype(float) - np.asarray(b)).max() <= tol
    np.testing.assert_allclose(la, np.asarray(lb), atol=1e-6)
    np.testing.assert_allclose(la.sum(axis=1), 1.0, atol=1e-5)


def test_p_zero_changes_nothing():
    x, y = _encoded()
    for op in (O.MixUp(p=0.0), O.CutMix(p=0.0)):
        out, labels = augkit.Pipeline([op]).apply(x, y, seed=0)
        assert np.array_equal(out, x) and np.array_equal(labels, y)


def test_integer_labels_with_num_classes():
    x, _ = _encoded()
    pipe = augkit.Pipeline([O.MixUp(alpha=1.0, num_classes=10)])
    for labels in (np.arange(8), np.arange(8)[:, None]):
        _, mixed = pipe.apply(x, labels, seed=1)
        assert mixed.shape == (8, 10) and np.allclose(mixed.sum(axis=1), 1.0)
        assert (mixed[:, 8:] == 0).all()
    _, on_tf = pipe.apply(x, np.arange(8), seed=1, backend="tf")
    np.testing.assert_allclose(np.asarray(on_tf), mixed, atol=1e-6)


# -- partners and lambda --------------------------------------------------------------------------
def test_partners_are_a_derangement_fixed_by_the_batch_set():
    op = O.MixUp()
    index = np.arange(100, 140)
    partner = _partners(op, 5, index)
    assert (partner != np.arange(40)).all()
    assert sorted(partner) == list(range(40))  # a permutation: every sample is someone's partner
    shuffled = np.random.default_rng(0).permutation(40)
    again = _partners(op, 5, index[shuffled])
    # the same pairs of samples, whatever their order in the batch
    assert np.array_equal(index[shuffled][again], index[partner[shuffled]])
    assert not np.array_equal(partner, _partners(op, 6, index))


def test_partners_identical_on_both_backends():
    import tensorflow as tf

    from augkit.kernels.tf import TF

    op = O.CutMix()
    index = np.arange(50) * 3 + 1
    keys = rng.sample_keys(9, index, 2)
    a = op.sample(rng.Draws(rng.combine(keys, 1), NP), 20, 30)
    b = op.sample(rng.Draws(rng.combine(rng.sample_keys(9, tf.constant(index), 2), 1), TF),
                  20, 30)
    for key in ("partner", "lam", "x0", "x1", "y0", "y1"):
        assert np.array_equal(a[key], b[key].numpy()), key


@pytest.mark.parametrize("alpha", [0.05, 0.2, 1.0, 3.0, 40.0])
def test_lambda_follows_beta(alpha):
    from scipy.stats import beta

    from augkit.ops.mixing import beta_quantiles, sample_lambda

    table = beta_quantiles(alpha)
    u = np.arange(4097) / 4096
    assert np.abs(table - beta.ppf(u, alpha, alpha)).max() < 2e-4
    lam = sample_lambda(rng.Draws(rng.sample_keys(0, np.arange(40000), 0), NP), 1, alpha)
    assert abs(lam.mean() - 0.5) < 0.01
    assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.01


# -- tf.data and streams --------------------------------------------------------------------------
def test_varies_inside_tf_data_map():
    import tensorflow as tf

    x, y = _encoded(4)
    pipe = augkit.Pipeline([O.MixUp(alpha=1.0)])

    def mix(i, images, labels):
        return pipe.apply(images, labels, seed=0, backend="tf",
                          index=4 * i + tf.range(4, dtype=tf.int64))

    ds = tf.data.Dataset.from_tensors((x, y)).repeat(5).enumerate().map(
        lambda i, xy: mix(i, *xy))
    outs = [(a.numpy(), b.numpy()) for a, b in ds]
    assert len({o[1].tobytes() for o in outs}) == 5
    for images, labels in outs:
        assert np.abs(images[:, 0, 0, 0] - labels @ LEVELS[:4]).max() <= 0.5 + 1e-4


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_stream_mixes_aligned_labels(backend):
    x, y = _encoded(8)
    x = np.concatenate([x, x])
    y = np.concatenate([y, y])
    for p in (0.0, 1.0):
        pipe = augkit.Pipeline([O.FlipHorizontal(), O.CutMix(p=p), O.MixUp(alpha=1.0, p=p),
                                O.Rescale()])
        ds = augkit.stream(x, y, pipeline=pipe, batch_size=5, seed=4, backend=backend,
                           epochs=2)
        seen = 0
        for images, labels in ds:
            images, labels = images.numpy(), labels.numpy()
            assert images.dtype == np.float32 and labels.shape[1:] == (8,)
            want = labels @ LEVELS / 255  # per pixel: the blend its label describes
            if p == 0.0:
                assert np.array_equal(labels, np.eye(8, dtype=np.float32)[labels.argmax(1)])
                assert np.abs(images[:, 0, 0, 0] - want).max() < 1e-6
            else:
                np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
                # CutMix then MixUp: pixel values vary, but their mean is the label's blend
                mean = images[..., 0].mean(axis=(1, 2))
                assert np.abs(mean - want).max() <= 0.5 / 255 + 1e-5
            seen += len(images)
        assert seen == 32


def test_stream_batch_equals_apply_on_that_batch():
    x, y = _encoded(8)
    pipe = augkit.Pipeline([O.Rotate(), O.MixUp(alpha=0.5)])
    ds = augkit.stream(x, y, pipeline=pipe, batch_size=8, seed=3, shuffle=False, epochs=1)
    images, labels = next(iter(ds))
    want, want_labels = pipe.apply(x, y, seed=3, index=np.arange(8), epoch=0)
    assert np.array_equal(images.numpy(), want)
    np.testing.assert_array_equal(labels.numpy(), want_labels)


def test_stream_refuses_what_cannot_mix(tmp_path):
    x, y = _encoded(8)
    pipe = augkit.Pipeline([O.MixUp()])
    with pytest.raises(ValueError, match="integer class indices.*num_classes"):
        augkit.stream(x, np.arange(8), pipeline=pipe)
    with pytest.raises(ValueError, match="needs them"):
        augkit.stream(x, y, pipeline=pipe, label_mode=None)
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    for mode in ("int", "binary", None):
        with pytest.raises(ValueError, match="label_mode.*'categorical'"):
            augkit.stream(tmp_path, pipeline=pipe, label_mode=mode, image_size=(8, 8))
    ds = augkit.stream(tmp_path, pipeline=pipe, image_size=(8, 8), batch_size=6)  # auto
    _, labels = next(iter(ds))
    assert labels.shape == (6, 2) and np.allclose(labels.numpy().sum(axis=1), 1.0)


# -- errors ----------------------------------------------------------------------------------------
def test_errors_name_the_problem():
    x, y = _encoded(4)
    pipe = augkit.Pipeline([O.MixUp()])
    cases = [
        (None, "labels: got None.*ops\\[0\\] \\(mixup\\) mixes labels"),
        (np.arange(4), "integer class indices.*to_categorical.*num_classes"),
        (np.full((4, 3), 0.5, np.float32), "row 0 sums to 1.5"),
        (np.ones(4, np.float32), "dtype float32 and shape \\(4,\\)"),
    ]
    for labels, match in cases:
        with pytest.raises(augkit.InputError, match=match):
            pipe.apply(x, labels, seed=0)
    with pytest.raises(augkit.InputError, match="class index 12 is outside 0..9"):
        augkit.Pipeline([O.CutMix(num_classes=10)]).apply(x, np.array([1, 2, 12, 3]), seed=0)
    with pytest.raises(augkit.InputError, match="cannot augment one sample.*apply"):
        pipe(image=x[0], label=y[0])
    with pytest.raises(augkit.SpecError, match=r"ops\[1\] \(rotate\): comes after the mixing "
                                               r"op ops\[0\] \(mixup\)"):
        augkit.Pipeline.from_dict({"ops": [{"op": "mixup"}, {"op": "rotate"}]})
    augkit.Pipeline.from_dict({"ops": [{"op": "mixup"}, {"op": "cutmix"}, {"op": "normalize"}]})
    with pytest.raises(augkit.SpecError, match="alpha: got 0"):
        augkit.Pipeline.from_dict({"ops": [{"op": "mixup", "alpha": 0}]})
    with pytest.raises(augkit.SpecError, match="mixes images and labels across a batch"):
        augkit.Pipeline([O.CutMix()]).to_albumentations()


def test_tf_graph_checks_label_rows():
    import tensorflow as tf

    x, _ = _encoded(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows summing to 1"):
        augkit.Pipeline([O.MixUp()]).apply(x, np.full((4, 2), 0.7, np.float32), seed=0,
                                           backend="tf")
