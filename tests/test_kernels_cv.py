"""The cv warp kernel's fast paths give exactly what one plain ``cv2.warpAffine`` per image
gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augkit.kernels import cv as kcv
from augkit.kernels import cv_threads

_BORDER = {"nearest": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT,
           "reflect": cv2.BORDER_REFLECT, "wrap": cv2.BORDER_WRAP}


def _inverse_matrices(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Random rotation/zoom/shift matrices about the centre, output -> input."""
    inv = np.zeros((n, 3, 3))
    for i in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-30, 30), rng.uniform(0.8, 1.2))
        m[:, 2] += rng.uniform(-0.2, 0.2, 2) * (w, h)
        inv[i, :2], inv[i, 2, 2] = m, 1.0
    return inv


def _reference(x, inv, out_size, fill_mode, cval):
    oh, ow = out_size
    out = []
    for img, m in zip(x, inv):
        res = cv2.warpAffine(img, m[:2].astype(np.float64), (ow, oh),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=_BORDER[fill_mode], borderValue=(float(cval),) * 4)
        out.append(res.reshape(oh, ow, -1))
    return np.stack(out)


@settings(max_examples=25, deadline=None)
@given(side=st.integers(60, 96), out_side=st.integers(56, 100), channels=st.sampled_from([1, 3, 4]),
       dtype=st.sampled_from(["uint8", "uint16", "float32"]),
       fill_mode=st.sampled_from(sorted(_BORDER)), seed=st.integers(0, 2**16))
def test_warp_matches_one_warpaffine_per_image(side, out_side, channels, dtype, fill_mode, seed):
    # sizes straddle the 64x64 threshold of the 4-channel path, for every channel count
    rng = np.random.default_rng(seed)
    top = 1.0 if dtype == "float32" else np.iinfo(dtype).max
    x = (rng.random((3, side, side + 5, channels)) * top).astype(dtype)
    inv = _inverse_matrices(rng, 3, side, side + 5)
    cval = 0.25 * top
    got = kcv.warp(x, inv, (out_side, out_side), fill_mode=fill_mode, cval=cval,
                   interpolation="bilinear")
    want = _reference(x, inv, (out_side, out_side), fill_mode, cval)
    assert got.dtype == x.dtype and got.ctypes.data % kcv.TF_ALIGN == 0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("side", [32, 96, 128])  # 128: the fused per-image rescale
def test_fused_rescale_equals_warp_then_rescale(side):
    rng = np.random.default_rng(side)
    x = rng.integers(0, 256, (4, side, side, 3), dtype=np.uint8)
    inv = _inverse_matrices(rng, 4, side, side)
    kw = {"fill_mode": "reflect", "cval": 0.0, "interpolation": "bilinear"}
    fused = kcv.warp(x, inv, (side, side), scale=(1 / 255, 0.0), **kw)
    want = _reference(x, inv, (side, side), "reflect", 0).astype(np.float32) * np.float32(1 / 255)
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused, want)


def test_serial_runs_on_the_calling_thread_and_threads_split_otherwise():
    import threading

    seen = []

    def record(start, stop):
        seen.append((threading.get_ident(), start, stop))

    n, pixels = 64, cv_threads.THREAD_MIN_PIXELS  # large enough to split
    cv_threads.map_chunks(record, n, pixels)
    assert sorted((s, e) for _, s, e in seen)[0][0] == 0 and len(seen) == min(cv_threads.WORKERS, n)
    assert sum(e - s for _, s, e in seen) == n
    seen.clear()
    with cv_threads.serial():
        cv_threads.map_chunks(record, n, pixels)
        with cv_threads.serial():  # nested: still serial, and restored only by the outer exit
            pass
        cv_threads.map_chunks(record, n, pixels)
    assert seen == [(threading.get_ident(), 0, n)] * 2
    seen.clear()
    cv_threads.map_chunks(record, n, pixels)  # the flag is gone after the block
    assert len(seen) == min(cv_threads.WORKERS, n)


def test_serial_batches_equal_threaded_ones():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (64, 48, 48, 3), dtype=np.uint8)
    inv = _inverse_matrices(rng, 64, 48, 48)
    kwargs = dict(fill_mode="reflect", cval=0.0, interpolation="bilinear")
    threaded = kcv.warp(x, inv, (48, 48), **kwargs)
    with cv_threads.serial():
        alone = kcv.warp(x, inv, (48, 48), **kwargs)
    np.testing.assert_array_equal(threaded, alone)


@pytest.mark.parametrize("value, expected", [(None, 1), ("3", 3), ("keep", "untouched")])
def test_opencv_threads_set_once_from_the_environment(monkeypatch, value, expected):
    calls = []
    monkeypatch.setattr(cv_threads, "_opencv_threads_set", False)
    monkeypatch.setattr(cv_threads.cv2, "setNumThreads", calls.append)
    if value is None:
        monkeypatch.delenv(cv_threads.OPENCV_THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(cv_threads.OPENCV_THREADS_ENV, value)
    cv_threads.map_chunks(lambda start, stop: None, 4, 16)
    cv_threads.map_chunks(lambda start, stop: None, 4, 16)
    assert calls == ([] if expected == "untouched" else [expected])


def test_opencv_threads_bad_value_names_the_variable(monkeypatch):
    from augkit.errors import InputError

    monkeypatch.setattr(cv_threads, "_opencv_threads_set", False)
    monkeypatch.setattr(cv_threads.cv2, "setNumThreads",
                        lambda n: pytest.fail("must not be called"))
    monkeypatch.setenv(cv_threads.OPENCV_THREADS_ENV, "many")
    with pytest.raises(InputError, match="AUGKIT_OPENCV_THREADS='many'.*'keep' or a whole"):
        cv_threads.map_chunks(lambda start, stop: None, 4, 16)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 9), side=st.integers(1, 9), channels=st.sampled_from([1, 3, 4, 5]),
       dtype=st.sampled_from(["uint8", "uint16", "int16", "float32", "float64", "int64", "bool"]),
       seed=st.integers(0, 2**16))
def test_flips_are_exact_reversals_for_every_dtype(n, side, channels, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 200, (n, side, side + 1, channels)) % (2 if dtype == "bool" else 200)
         ).astype(dtype)
    flips = rng.random((n, 2)) < 0.5
    out = kcv._flip(x, flips)
    for img, res, (fx, fy) in zip(x, out, flips):
        want = img[:, ::-1] if fx else img
        want = want[::-1] if fy else want
        np.testing.assert_array_equal(res, want)
    assert out.dtype == x.dtype and not np.shares_memory(out, x)
    assert out.ctypes.data % kcv.TF_ALIGN == 0


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 40), min_size=1, max_size=4),
       dtype=st.sampled_from(["uint8", "uint16", "float32", "float64"]))
def test_aligned_empty_starts_on_the_boundary(shape, dtype):
    a = kcv.aligned_empty(tuple(shape), dtype)
    assert a.shape == tuple(shape) and a.dtype == dtype and a.flags.c_contiguous
    assert a.size == 0 or a.ctypes.data % kcv.TF_ALIGN == 0  # an empty array has no data
    a[...] = 1  # writable, and all of it is its own memory
    assert a.sum() == a.size


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(0, 40), seed=st.integers(0, 2**16))
def test_take_rows_is_fancy_indexing_into_aligned_memory(n, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, 5, 3), dtype=np.uint8)
    rows = rng.integers(0, n, k)
    got = kcv.take_rows(x, rows)
    np.testing.assert_array_equal(got, x[rows])
    assert k == 0 or got.ctypes.data % kcv.TF_ALIGN == 0
    assert not np.shares_memory(got, x)
    for bad in (-1, n):  # never clipped to a wrong row
        with pytest.raises(IndexError, match="outside"):
            kcv.take_rows(x, np.r_[rows, bad])


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(["uint8", "uint16", "float32", "float64"]),
       scale=st.floats(-1e3, 1e3, allow_nan=False, width=32),
       offset=st.sampled_from([0.0, -1.0, 0.5, 123.25]), seed=st.integers(0, 2**16),
       into=st.booleans())
def test_scale_values_is_one_casting_multiply_then_offset(dtype, scale, offset, seed, into):
    """Converting first and multiplying in place (faster) gives the very values of numpy's
    casting multiply, with or without a given output."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (3, 5, 7, 3)) if dtype.startswith("uint")
         else rng.normal(0, 100, (3, 5, 7, 3))).astype(dtype)
    expected = np.multiply(x, np.float32(scale), dtype=np.float32)
    if offset:
        expected += np.float32(offset)
    out = np.full(x.shape, np.nan, np.float32) if into else None
    got = kcv.NP.scale_values(x, scale, offset, out=out)
    assert got.dtype == np.float32 and (not into or got is out)
    np.testing.assert_array_equal(got, expected)
    assert x.dtype == np.dtype(dtype)  # the input is left alone
