"""The tone ops against PIL's ImageOps/ImageEnhance (the reference torchvision follows), on both
backends, plus what the generic invariants (tests/test_invariants.py) do not pin down: float
input on the same grid, alpha untouched, the ends of each parameter."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

import augkit
from augkit import ops as O

BACKENDS = ("cv", "tf")


def _image(seed: int = 0) -> np.ndarray:
    """Noise with channels of different, partial ranges (so stretching and equalizing act)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(30, 200, (20, 24, 3), dtype=np.uint8)
    img[..., 1] = img[..., 1] // 3 + 50
    img[:4, :4, 2] = 0  # a dark corner in one channel
    return img


def _run(op: O.Op, image: np.ndarray, backend: str) -> np.ndarray:
    return np.asarray(augkit.Pipeline([op])(image=image, seed=0, backend=backend)["image"])


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int64) - np.asarray(b).astype(np.int64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_equalize_is_pils(backend):
    img = _image()
    assert _diff(_run(O.Equalize(p=1.0), img, backend),
                 ImageOps.equalize(Image.fromarray(img))).max() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_autocontrast_is_pils_up_to_rounding(backend):
    """PIL truncates its lookup table, augkit rounds: at most one level apart."""
    img = _image()
    out = _run(O.AutoContrast(p=1.0), img, backend)
    assert _diff(out, ImageOps.autocontrast(Image.fromarray(img))).max() <= 1
    assert (out.reshape(-1, 3).min(axis=0) == 0).all() and (out.reshape(-1, 3).max(axis=0)
                                                            == 255).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("level", [0, 100, 128, 255])
def test_solarize_is_pils(backend, level):
    img = _image()
    op = O.Solarize(threshold_range=(level / 255, level / 255), p=1.0)
    assert _diff(_run(op, img, backend), ImageOps.solarize(Image.fromarray(img), level)).max() == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_posterize_is_pils(backend, bits):
    img = _image()
    op = O.Posterize(bits_range=(bits, bits), p=1.0)
    assert _diff(_run(op, img, backend), ImageOps.posterize(Image.fromarray(img), bits)).max() == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("factor", [0.0, 0.5, 1.0, 2.0])
def test_sharpness_is_pils_up_to_rounding(backend, factor):
    img = _image()
    d = _diff(_run(O.Sharpness(factor_range=(factor, factor)), img, backend),
              ImageEnhance.Sharpness(Image.fromarray(img)).enhance(factor))
    assert d.max() <= 1 and d.mean() < 0.3


def test_posterize_ends_on_float_input():
    x = np.random.default_rng(1).random((1, 6, 6, 3)).astype(np.float32)
    keep, _ = augkit.Pipeline([O.Posterize(bits_range=(8, 8), p=1.0)]).apply(x, seed=0)
    black, _ = augkit.Pipeline([O.Posterize(bits_range=(0, 0), p=1.0)]).apply(x, seed=0)
    assert np.array_equal(keep, x) and not black.any()


def test_bits_are_integers_drawn_from_both_ends():
    with pytest.raises(augkit.SpecError, match="bits_range.*integers"):
        O.Posterize(bits_range=(2.5, 4))
    op = O.Posterize(bits_range=(2, 4), p=1.0)
    from augkit.kernels.cv import NP
    from augkit.rng import Draws, sample_keys

    bits = op.sample(Draws(sample_keys(0, np.arange(3000), 0), NP), 8, 8)["bits"]
    assert set(np.unique(bits)) == {2.0, 3.0, 4.0}
    assert O.Posterize(bits_range=(2, 7)).pinned(0.5).bits_range == (4.0, 4.0)  # 4.5 → even


@pytest.mark.parametrize("name", ["autocontrast", "equalize", "solarize", "posterize",
                                  "sharpness"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float_input_matches_uint8_on_the_same_grid(name, backend):
    """The same picture as uint8 or as floats in [0, 1] comes out the same (to a level)."""
    img = _image(2)[None]
    op = O.get(name)(p=1.0)
    pipe = augkit.Pipeline([op])
    as_uint8, _ = pipe.apply(img, seed=4, backend=backend)
    as_float, _ = pipe.apply(img.astype(np.float32) / 255, seed=4, backend=backend)
    as_float = np.asarray(as_float)
    assert as_float.dtype == np.float32 and 0 <= as_float.min() and as_float.max() <= 1
    assert np.abs(as_float * 255 - np.asarray(as_uint8)).max() <= 1.0 + 1e-3


@pytest.mark.parametrize("name", ["autocontrast", "equalize", "solarize", "posterize",
                                  "sharpness"])
def test_alpha_is_untouched(name):
    rgba = np.concatenate([_image(3), np.full((20, 24, 1), 77, np.uint8)], axis=-1)[None]
    out, _ = augkit.Pipeline([O.get(name)().pinned(0.0)]).apply(rgba, seed=0)
    assert (out[..., 3] == 77).all() and not np.array_equal(out[..., :3], rgba[..., :3])


def test_flat_channel_is_left_alone():
    flat = np.full((1, 8, 8, 3), 90, np.uint8)
    for name in ("autocontrast", "equalize"):
        out, _ = augkit.Pipeline([O.get(name)(p=1.0)]).apply(flat, seed=0)
        assert np.array_equal(out, flat), name


@pytest.mark.parametrize("op", [O.Solarize(threshold_range=(0.3, 0.7), p=0.4),
                                O.Posterize(bits_range=(2, 6), p=0.6)])
def test_albumentations_mapping_gives_the_same_pixels(op):
    for t in (0.0, 0.4, 1.0):
        pinned = augkit.Pipeline([op.pinned(t)])
        img = _image(5)
        theirs = pinned.to_albumentations()(image=img)["image"]
        assert np.array_equal(pinned(image=img, seed=0)["image"], theirs)
    t = augkit.Pipeline([op]).to_albumentations().transforms[0]
    assert type(t).__name__ == op.name.capitalize() and t.p == op.p


def test_posterize_outside_albumentations_bits_is_refused():
    with pytest.raises(augkit.SpecError, match="1 to 7 bits"):
        augkit.Pipeline([O.Posterize(bits_range=(4, 8))]).to_albumentations()
