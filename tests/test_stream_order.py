"""augkit.order: the per-epoch shuffle order is a permutation, a pure function of (seed, epoch),
identical in numpy and TensorFlow; and augkit.stream is callable as a module."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augkit.order import MAX_ITEMS, epoch_order
from augkit.sources import split_indices


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, 17, 255, 1000, 4097])
def test_every_order_is_a_permutation(n):
    for seed, epoch in [(0, 0), (1, 0), (0, 1), (2**63 - 1, 2**40)]:
        order = epoch_order(n, seed, epoch)
        assert order.dtype == np.int64 and order.shape == (n,)
        assert np.array_equal(np.sort(order), np.arange(n))


def test_pure_function_of_seed_and_epoch():
    a = epoch_order(1000, 7, 3)
    assert np.array_equal(a, epoch_order(1000, 7, 3))
    assert not np.array_equal(a, epoch_order(1000, 7, 4))
    assert not np.array_equal(a, epoch_order(1000, 8, 3))


def test_chunked_evaluation_changes_nothing(monkeypatch):
    import augkit.order as order

    expected = epoch_order(5000, 1, 2)
    monkeypatch.setattr(order, "_CHUNK", 97)
    assert np.array_equal(order.epoch_order(5000, 1, 2), expected)


def test_positions_are_uniform():
    """Where item 0 lands, over many epochs: no position is favoured (chi-square, 9 dof)."""
    counts = np.bincount([int(np.flatnonzero(epoch_order(10, 0, e) == 0)[0])
                          for e in range(3000)], minlength=10)
    chi2 = ((counts - 300.0) ** 2 / 300.0).sum()
    assert chi2 < 27.9  # p = 0.001


def test_numpy_and_tensorflow_agree():
    tf = pytest.importorskip("tensorflow")
    for n in (1, 3, 17, 1000):
        expected = epoch_order(n, 3, 2)
        got = epoch_order(n, tf.constant(3, tf.int64), tf.constant(2, tf.int64), xp="tf")
        assert np.array_equal(got.numpy(), expected)


def test_bad_arguments():
    for n in (0, -1, MAX_ITEMS + 1, 2.5, True):
        with pytest.raises(ValueError, match="n:"):
            epoch_order(n, 0, 0)
    with pytest.raises(ValueError, match="xp"):
        epoch_order(3, 0, 0, xp="torch")


def test_stream_module_is_callable_and_imports_are_lazy():
    code = ("import sys, augkit, augkit.idg, augkit.order, augkit.decode\n"
            "assert 'tensorflow' not in sys.modules, 'TF imported too early'\n"
            "import augkit.stream, inspect, numpy as np\n"
            "assert callable(augkit.stream) and augkit.stream.stream is not None\n"
            "assert 'pipeline' in inspect.signature(augkit.stream).parameters\n"
            "ds = augkit.stream(np.zeros((3, 4, 4, 3), np.uint8), np.arange(3), pipeline=None)\n"
            "print(len(ds))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("1")


# -- validation splits of groups (the copies of one source image) -------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 12), fraction=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**31), subset=st.sampled_from(["training", "validation"]))
def test_group_split_never_straddles_and_takes_the_fraction_of_groups(n, k, fraction, seed,
                                                                      subset):
    groups = np.random.default_rng(seed).integers(0, k, n) * 7 + 3  # any ids, in any order
    train = split_indices(n, fraction, "training", seed, groups)
    val = split_indices(n, fraction, "validation", seed, groups)
    assert not set(groups[train]) & set(groups[val])
    assert sorted(np.r_[train, val].tolist()) == list(range(n))  # every item, once
    assert len(set(groups[val])) == int(fraction * len(set(groups)))
    assert np.array_equal(split_indices(n, fraction, subset, seed, groups),
                          train if subset == "training" else val)  # a pure function


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 80), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 2**31),
       subset=st.sampled_from(["training", "validation"]))
def test_singleton_groups_split_as_items(n, fraction, seed, subset):
    groups = np.random.default_rng(seed).permutation(n) + 100  # every item its own group
    np.testing.assert_array_equal(split_indices(n, fraction, subset, seed, groups),
                                  split_indices(n, fraction, subset, seed))
