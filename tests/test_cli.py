"""The `augkit` command line: preview, check, error handling, and no TensorFlow on the cv path."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import augkit
from augkit import preview as preview_module
from augkit.cli import cli
from augkit.io import read_image, sample_image

GAP, LINE = preview_module.GAP, preview_module.LINE_HEIGHT


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _grid_size(tile_h: int, tile_w: int, rows: int, cols: int) -> tuple[int, int]:
    """(height, width) of a grid of one-line captioned tiles."""
    return GAP + rows * (tile_h + LINE + 4 + GAP), GAP + cols * (tile_w + GAP)


def _small_png(path, h=30, w=40, seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)).save(path)
    return str(path)


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- no TensorFlow where it is not needed -------------------------------------------------------
def test_help_and_cv_preview_do_not_import_tensorflow(tmp_path):
    result = _python(
        """
        import sys
        from augkit.cli import main
        for argv in (["--help"], ["preview", "--help"], ["preview", "--n", "2"]):
            try:
                main(argv)
            except SystemExit as exit:
                assert exit.code in (0, None), (argv, exit.code)
        heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print("HEAVY:", heavy)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stdout, result.stdout
    assert "Usage: augkit [OPTIONS] COMMAND" in result.stdout
    assert (tmp_path / "preview.png").exists()


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).with_name("augkit")
    if not script.exists():
        pytest.skip("augkit is not installed as a console script next to this Python")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.startswith("augkit "), result.stderr


def test_console_script_help_and_version():
    result = _run("--help")
    assert result.exit_code == 0
    assert "preview" in result.output and "check" in result.output
    result = _run("--version")
    assert result.exit_code == 0 and result.output.startswith("augkit ")


# -- preview ------------------------------------------------------------------------------------
def test_preview_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("preview")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "preview.png")
    sample = sample_image()
    cols = math.ceil(math.sqrt(17))
    rows = math.ceil(17 / cols)
    assert out.shape[:2] == _grid_size(*sample.shape[:2], rows, cols)
    height, width = out.shape[:2]
    line = result.output.strip()
    assert line.startswith(f"wrote preview.png ({width}x{height}, 16 variants, pipeline: default")
    # first tile is the untouched original
    np.testing.assert_array_equal(out[GAP : GAP + 192, GAP : GAP + 192], sample)


def test_preview_n_seed_and_out(tmp_path):
    out = tmp_path / "sub dir" / "grid ü.png"
    out.parent.mkdir()
    result = _run("preview", "--n", "3", "--seed", "7", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 variants" in result.output
    image = read_image(out)
    assert image.shape[:2] == _grid_size(192, 192, rows=2, cols=2)
    # the variants are pipeline.apply on copies with indices 0..n-1
    expected = augkit.Pipeline.default().apply(
        np.repeat(sample_image()[None], 3, axis=0), seed=7, backend="cv", index=np.arange(3)
    )
    expected = expected[0] if isinstance(expected, tuple) else expected
    x = GAP + 192 + GAP  # second tile of the first row: variant #0
    np.testing.assert_array_equal(image[GAP : GAP + 192, x : x + 192], np.asarray(expected[0]))
    assert not np.array_equal(expected[0], expected[1])  # each copy has its own index


def test_preview_is_reproducible(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for path in (a, b):
        assert _run("preview", "--n", "2", "--seed", "3", "--out", str(path)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_preview_several_images_one_row_each(tmp_path):
    first = _small_png(tmp_path / "a.png", seed=1)
    second = _small_png(tmp_path / "b b.png", seed=2)
    out = tmp_path / "rows.png"
    result = _run("preview", first, second, "--n", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    # 40x30 tiles are enlarged by a whole factor (256 // 40 = 6) with nearest neighbour
    image = read_image(out)
    assert image.shape[:2] == _grid_size(180, 240, rows=2, cols=3)
    original = np.repeat(np.repeat(read_image(second), 6, axis=0), 6, axis=1)
    y = GAP + 180 + LINE + 4 + GAP
    np.testing.assert_array_equal(image[y : y + 180, GAP : GAP + 240], original)


def test_preview_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    result = _run("preview", "--sheet", "--out", str(out))
    assert result.exit_code == 0, result.output
    pipeline = augkit.Pipeline.default()
    assert f"sheet of {len(pipeline.ops)} ops" in result.output
    expected = preview_module.render_sheet(sample_image(), pipeline)
    np.testing.assert_array_equal(read_image(out), expected)


def test_sheet_pins_each_op_alone():
    pipeline = augkit.Pipeline.default()
    op = pipeline.ops[0]
    sheet = preview_module.render_sheet(sample_image(), augkit.Pipeline([op]), tile_size=192)
    assert sheet.ndim == 3 and sheet.dtype == np.uint8
    label = preview_module._short(op.pinned(0.0))
    assert label and "=" in label


def test_preview_with_pipeline_file(tmp_path):
    spec = tmp_path / "aug.yaml"
    augkit.Pipeline.default().save(str(spec))
    out = tmp_path / "p.png"
    result = _run("preview", "-p", str(spec), "--n", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"pipeline: {spec}" in result.output


def test_preview_tf_backend(tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "tf.png"
    result = _run("preview", "--backend", "tf", "--n", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert read_image(out).shape[:2] == _grid_size(192, 192, rows=2, cols=2)


# -- bad input: one line on stderr, exit status 2, no traceback ---------------------------------
def _assert_clean_failure(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("augkit: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return _python(
        f"""
        from augkit.cli import main
        main({list(args)!r})
        """,
        tmp_path,
    )


def test_missing_image_exits_2(tmp_path):
    result = _cli(tmp_path, "preview", "missing.jpg")
    _assert_clean_failure(result, "missing.jpg", "no such file")
    assert not (tmp_path / "preview.png").exists()


def test_non_image_exits_2(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    result = _run_in_process(tmp_path, "preview", str(tmp_path / "notes.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith("augkit: error: ") and "not a readable image" in result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("ops:\n  - op: rotat\n", "rotat"),
        ("ops: [\n", ""),
        ("- just\n- a list\n", ""),
    ],
    ids=["unknown-op", "broken-yaml", "not-a-mapping"],
)
def test_bad_pipeline_file_exits_2(tmp_path, content, fragment):
    spec = tmp_path / "bad.yaml"
    spec.write_text(content)
    result = _run_in_process(tmp_path, "preview", "-p", str(spec))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("augkit: error: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert fragment in result.stderr


def test_missing_pipeline_file_exits_2(tmp_path):
    result = _cli(tmp_path, "check", "nope.yaml")
    _assert_clean_failure(result, "nope.yaml")


def test_unwritable_output_exits_2(tmp_path):
    out = str(tmp_path / "no" / "x.png")
    result = _run_in_process(tmp_path, "preview", "--n", "1", "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("augkit: error: ")


def _run_in_process(tmp_path, *args: str):
    """Run in-process, output into ``tmp_path`` unless ``args`` say otherwise."""
    if "--out" not in args:
        args = (*args, "--out", str(tmp_path / "should-not-exist.png"))
    result = CliRunner().invoke(cli, list(args))
    assert not (tmp_path / "should-not-exist.png").exists()
    return result


# -- check --------------------------------------------------------------------------------------
def test_check_prints_report_and_sets_exit_status(tmp_path, monkeypatch):
    class Report:
        def __init__(self, ok):
            self.ok = ok

        def table(self):
            return "invariant  cv\nround-trip ok"

    calls = []

    def fake_check(pipeline, **kwargs):
        calls.append((pipeline, kwargs))
        return Report(ok=len(calls) == 1)

    monkeypatch.setattr(augkit, "check", fake_check)
    spec = tmp_path / "p.yaml"
    augkit.Pipeline.default().save(str(spec))
    result = _run("check", str(spec), "--backend", "cv", "--cases", "5", "--seed", "2")
    assert result.exit_code == 0 and "round-trip ok" in result.output
    assert calls[0][1] == {"backends": ("cv",), "cases": 5, "seed": 2}
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1 and "round-trip ok" in result.output
    assert calls[1][1] == {}


def test_check_runs_the_real_invariants(tmp_path):
    spec = tmp_path / "p.yaml"
    augkit.Pipeline.default().save(str(spec))
    result = _run("check", str(spec), "--backend", "cv", "--cases", "8")
    assert result.exit_code == 0, result.output
    assert "invariant" in result.output
