"""augkit expand on bad and hostile input: every bad file is one failed row with its reason."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from test_expand import PIPE, SYNC, leftovers, manifest, picture

from augkit.expansion import expand
from augkit.io import read_image

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


def _png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge picture (a decompression bomb's calling card)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b""))


def _exif_jpeg(array: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


@pytest.fixture
def hostile(tmp_path):
    root = tmp_path / "src"
    good, odd = root / "good", root / "odd été"
    good.mkdir(parents=True)
    odd.mkdir()
    png = _png_bytes(picture(0))
    files = {
        good / "fine.png": png,
        good / "with space é 猫.png": _png_bytes(picture(1)),
        odd / "corrupt.png": png[:60] + bytes(range(256)) * 2 + png[-12:],
        odd / "truncated.png": png[: len(png) // 2],
        odd / "zero.png": b"",
        odd / "not an image.jpg": b"hello, I am text\n" * 20,
        odd / "bomb.png": _bomb_png(10_000, 10_000),  # over augkit's limit
        odd / "huge.png": _bomb_png(20_000, 20_000),  # over twice Pillow's: refused on open
        odd / "grey16.png": _png_bytes((np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)),
        odd / "rgba.png": _png_bytes(np.dstack([picture(2), np.full((16, 16), 9, np.uint8)])),
        odd / "grey.png": _png_bytes(picture(3)[:, :, 0], mode="L"),
        odd / "rotated.jpg": _exif_jpeg(picture(4, 16, 24), orientation=6),
    }
    for path, data in files.items():
        path.write_bytes(data)
    _, rgb16 = cv2.imencode(".png", (picture(5).astype(np.uint16) * 256 + 7)[:, :, ::-1])
    (odd / "rgb16.png").write_bytes(rgb16.tobytes())
    (tmp_path / "outside.txt").write_text("not yours")
    os.symlink(tmp_path / "outside.txt", odd / "link.png")
    os.symlink(tmp_path / "missing.png", odd / "dangling.png")
    raw = os.fsencode(odd) + b"/bad-\xff-name.png"  # not valid UTF-8
    with open(raw, "wb") as handle:
        handle.write(_png_bytes(picture(6)))
    return root


REASONS = {
    "odd été/corrupt.png": "not a readable image",
    "odd été/truncated.png": "not a readable image",
    "odd été/zero.png": "empty file",
    "odd été/not an image.jpg": "unknown or unsupported image format",
    "odd été/bomb.png": "more than the limit of 89,478,485",
    "odd été/huge.png": "image too large",
    "odd été/link.png": "unknown or unsupported image format",
    "odd été/dangling.png": "no such file",
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_each_bad_file_is_a_failed_row_and_the_job_goes_on(hostile, tmp_path):
    out = tmp_path / "out"
    summary = expand(hostile, out, pipeline=PIPE, copies=1, **SYNC)
    rows = manifest(out)
    failed = {r["source"]: r["error"] for r in rows if r["status"] == "failed"}
    assert set(failed) == set(REASONS)
    for source, reason in REASONS.items():
        assert reason in failed[source], (source, failed[source])
        assert dict(summary.failures)[source]  # the summary lists it with its reason
    assert summary.failed == 2 * len(REASONS)
    assert summary.written == 2 * 8 and not summary.ok
    assert leftovers(out) == []
    text = summary.text()
    assert "failed sources (8):" in text and "odd été/bomb.png: " in text


def test_unusual_pixels_are_converted_as_documented(hostile, tmp_path):
    out = tmp_path / "out"
    expand(hostile, out, pipeline=PIPE, copies=0, **SYNC)
    odd = out / "odd été"
    grey16 = read_image(odd / "grey16_c0.png")
    assert grey16.shape == (16, 16, 3)
    np.testing.assert_array_equal(grey16[:, :, 0].ravel(), np.arange(256))  # high byte kept
    rgb16 = read_image(odd / "rgb16_c0.png")
    np.testing.assert_array_equal(rgb16, picture(5))  # (v * 256 + 7) >> 8 == v
    np.testing.assert_array_equal(read_image(odd / "rgba_c0.png"), picture(2))  # alpha dropped
    grey = read_image(odd / "grey_c0.png")
    assert all((grey[:, :, c] == picture(3)[:, :, 0]).all() for c in range(3))
    assert read_image(odd / "rotated_c0.png").shape == (24, 16, 3)  # EXIF rotation applied
    assert (out / "good" / "with space é 猫_c0.png").is_file()
    assert (odd / "bad-_-name_c0.png").is_file()
    sources = [r["source"] for r in manifest(out)]
    assert "odd été/bad-\\xff-name.png" in sources  # undecodable bytes shown, CSV stays UTF-8


def test_pixel_limit_is_configurable(hostile, tmp_path):
    limited = expand(hostile, tmp_path / "limited", pipeline=PIPE, copies=0, max_pixels=255,
                     **SYNC)
    reasons = dict(limited.failures)
    assert "more than the limit of 255 (max_pixels)" in reasons["good/fine.png"]


def test_color_modes_for_files(hostile, tmp_path):
    out = tmp_path / "out"
    expand(hostile, out, pipeline=PIPE, copies=1, color_mode="rgba", **SYNC)
    assert read_image(out / "odd été" / "rgba_c0.png", color_mode="rgba")[0, 0, 3] == 9
    grey = tmp_path / "grey"
    expand(hostile, grey, pipeline=PIPE, copies=1, color_mode="grayscale", format="jpeg", **SYNC)
    assert Image.open(grey / "good" / "fine_c1.jpg").mode == "L"


_DROP_DAC = """
import ctypes
# Root reads every file: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH so permissions count.
libc = ctypes.CDLL(None, use_errno=True)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
assert libc.capget(header, data) == 0
for i in (0, 1):  # effective, permitted (low 32 bits)
    data[3 * 0 + i] &= ~0b110
assert libc.capset(header, data) == 0, ctypes.get_errno()
"""


def test_unreadable_file_is_reported(tmp_path):
    root = tmp_path / "src" / "cls"
    root.mkdir(parents=True)
    (root / "ok.png").write_bytes(_png_bytes(picture(0)))
    (root / "locked.png").write_bytes(_png_bytes(picture(1)))
    os.chmod(root / "locked.png", 0o000)
    code = (_DROP_DAC if os.geteuid() == 0 else "") + textwrap.dedent(f"""
        import augkit
        from augkit.expansion import expand
        s = expand({str(root.parent)!r}, {str(tmp_path / 'out')!r},
                   pipeline=augkit.Pipeline.default(), copies=1, scheduler="synchronous")
        print(s.written, s.failed)
        print(s.failures[0][0], "|", s.failures[0][1])
    """)
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=120)
    finally:
        os.chmod(root / "locked.png", 0o644)
    assert result.returncode == 0, result.stderr
    counts, failure = result.stdout.strip().splitlines()
    assert counts == "2 2"
    assert failure.startswith("cls/locked.png |") and "Permission denied" in failure
