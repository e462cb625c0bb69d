"""augkit.io: reading hostile and unusual files, atomic PNG writing, bundled samples."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from augkit.errors import InputError
from augkit.io import (
    read_image,
    sample_image,
    sample_names,
    sample_path,
    write_png,
)
from augkit.png import encode_png


def _rgb(h: int = 12, w: int = 20) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(
        np.uint8
    )


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "image.png"
    Image.fromarray(_rgb()).save(path)
    return path


# -- ordinary reading --------------------------------------------------------------------------
def test_reads_rgb_png_exactly(png):
    out = read_image(png)
    assert out.dtype == np.uint8 and out.shape == (12, 20, 3)
    np.testing.assert_array_equal(out, _rgb())
    assert out.flags.writeable and out.flags.c_contiguous


@pytest.mark.parametrize(
    ("mode", "shape"), [("rgb", (12, 20, 3)), ("grayscale", (12, 20, 1)), ("rgba", (12, 20, 4))]
)
def test_color_modes(png, mode, shape):
    assert read_image(png, color_mode=mode).shape == shape


def test_grayscale_file(tmp_path):
    gray = _rgb()[:, :, 0]
    path = tmp_path / "gray.png"
    Image.fromarray(gray, mode="L").save(path)
    np.testing.assert_array_equal(read_image(path, color_mode="grayscale")[:, :, 0], gray)
    rgb = read_image(path)
    assert rgb.shape == (12, 20, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_file_keeps_or_drops_alpha(tmp_path):
    rgba = np.dstack([_rgb(), np.full((12, 20), 77, np.uint8)])
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    np.testing.assert_array_equal(read_image(path, color_mode="rgba"), rgba)
    # alpha dropped, colour channels as stored (not composited on a background)
    np.testing.assert_array_equal(read_image(path), _rgb())


def test_rgb_file_as_rgba_gets_opaque_alpha(png):
    out = read_image(png, color_mode="rgba")
    assert (out[:, :, 3] == 255).all()


def test_palette_with_transparency(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.fromarray(_rgb()).convert("P")
    image.info["transparency"] = 0
    image.save(path, transparency=0)
    assert read_image(path).shape == (12, 20, 3)
    assert read_image(path, color_mode="rgba").shape == (12, 20, 4)


def test_16_bit_grayscale_scaled_by_high_byte(tmp_path):
    values = np.arange(12 * 20, dtype=np.uint16).reshape(12, 20) * 273  # up to 65247
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)  # Pillow writes uint16 as a 16-bit grey PNG
    assert Image.open(path).mode.startswith("I")
    out = read_image(path, color_mode="grayscale")
    np.testing.assert_array_equal(out[:, :, 0], (values >> 8).astype(np.uint8))
    # not clipped to white, which is what a plain Pillow convert("L") would give
    assert out.min() == 0 and out.max() == 65247 >> 8
    assert read_image(path).shape == (12, 20, 3)


def test_16_bit_rgb(tmp_path):
    cv2 = pytest.importorskip("cv2")
    values = np.random.default_rng(0).integers(0, 65536, (6, 7, 3)).astype(np.uint16)
    path = tmp_path / "deep_rgb.png"
    cv2.imwrite(str(path), values[:, :, ::-1])
    np.testing.assert_array_equal(read_image(path), (values >> 8).astype(np.uint8))


def test_exif_orientation_applied(tmp_path):
    # A 40 wide x 20 high JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6)
    # is shown 20 wide x 40 high; the left half (red) ends up on top.
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    out = read_image(path)
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60  # top: red
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60  # bottom: blue


@pytest.mark.parametrize("name", ["with space.png", "naïve ünïcödé 画像.png"])
def test_unusual_file_names(tmp_path, name):
    path = tmp_path / name
    Image.fromarray(_rgb()).save(path)
    np.testing.assert_array_equal(read_image(str(path)), _rgb())
    out = tmp_path / ("out " + name)
    write_png(out, _rgb())
    np.testing.assert_array_equal(read_image(out), _rgb())


# -- hostile and broken files -------------------------------------------------------------------
def _error(path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert message.startswith(os.fspath(path)), message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _error(tmp_path / "nope.png")


def test_directory(tmp_path):
    assert "directory" in _error(tmp_path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "not a readable image (empty file" in _error(path)


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("just some text, not a PNG\n" * 10)
    assert "not a readable image (unknown or unsupported image format)" in _error(path)


def test_truncated_png(tmp_path, png):
    data = png.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    assert "not a readable image" in _error(path)


def test_truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG", quality=90)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(buffer.getvalue()[:600])
    assert "not a readable image" in _error(path)


def test_corrupt_png_body(tmp_path, png):
    data = bytearray(png.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start : start + 20] = b"\xff" * 20  # destroy the compressed pixels, keep the header
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    assert "not a readable image" in _error(path)


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)

    def no_decoding(self, *args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    message = _error(path, max_pixels=59_999)
    assert "60,000 pixels (300x200)" in message and "59,999" in message
    monkeypatch.undo()
    assert read_image(path, max_pixels=60_000).shape == (200, 300, 3)


def test_bad_arguments(png):
    with pytest.raises(ValueError, match="allowed: rgb, grayscale, rgba"):
        read_image(png, color_mode="bgr")
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(png, max_pixels=0)


# -- writing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "array",
    [
        _rgb(),
        _rgb()[:, :, 0],
        _rgb()[:, :, :1],
        np.dstack([_rgb(), np.full((12, 20), 9, np.uint8)]),
    ],
    ids=["rgb", "gray2d", "gray3d", "rgba"],
)
def test_write_png_round_trip(tmp_path, array):
    path = tmp_path / "out.png"
    write_png(path, array)
    mode = {3: "rgb", 1: "grayscale", 4: "rgba"}[array.shape[2] if array.ndim == 3 else 1]
    out = read_image(path, color_mode=mode)
    np.testing.assert_array_equal(out.reshape(array.shape), array)


def test_write_png_16_bit(tmp_path):
    values = np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000
    path = tmp_path / "deep.png"
    write_png(path, values)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), values)


def test_write_png_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "out.png"
    write_png(path, _rgb())
    before = path.read_bytes()
    with pytest.raises(InputError, match="allowed: uint8 or uint16"):
        write_png(path, _rgb().astype(np.float32))
    with pytest.raises(InputError, match="allowed: \\(H, W\\)"):
        write_png(path, np.zeros((2, 3, 5), np.uint8))
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_png_missing_folder_names_the_destination(tmp_path):
    path = tmp_path / "no" / "such" / "folder.png"
    with pytest.raises(FileNotFoundError) as info:
        write_png(path, _rgb())
    assert info.value.filename == str(path)


def test_encode_png_is_png():
    assert encode_png(_rgb()).startswith(b"\x89PNG\r\n\x1a\n")


# -- bundled samples ----------------------------------------------------------------------------
def test_samples():
    names = sample_names()
    assert names == ["astronaut", "chelsea", "coffee"]
    for name in names:
        image = sample_image(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert max(image.shape[:2]) <= 256
        assert os.path.getsize(sample_path(name)) < 100_000
    assert sample_image().shape == sample_image("astronaut").shape
    assert sample_image("chelsea", color_mode="grayscale").shape[2] == 1


def test_unknown_sample_suggests_closest():
    with pytest.raises(ValueError, match="did you mean 'chelsea'"):
        sample_image("chelsee")


def test_scan_directory_reports_an_unlistable_subfolder(tmp_path, monkeypatch):
    """os.walk skips folders it cannot list; augkit must say so instead of losing images.

    Root ignores file permissions, so the unreadable folder is simulated at os.walk's error
    hook, exactly where a real PermissionError arrives.
    """
    import augkit.sources as sources

    (tmp_path / "cat" / "sub").mkdir(parents=True)
    (tmp_path / "cat" / "b.png").write_bytes(b"x")
    real_walk = os.walk

    def walk(top, onerror=None, **kwargs):
        for dirpath, dirnames, filenames in real_walk(top, onerror=onerror, **kwargs):
            if dirpath.endswith("sub") and onerror is not None:
                onerror(PermissionError(13, "Permission denied", dirpath))
                continue
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(sources.os, "walk", walk)
    with pytest.raises(InputError, match=r"sub: cannot list this folder \(Permission denied\)"):
        sources.scan_directory(tmp_path)
