"""augkit expand: layout, manifest, determinism, resume, refusal, names, npz sources and shards.

Everything here runs in-process (``scheduler="synchronous"``) or on a local thread cluster, on
tiny images, so it is fast; dask process clusters, worker loss and SIGKILL are in
``test_expand_dask.py``, hostile files in ``test_expand_hostile.py``, Keras/TFRecord readability
in ``test_expand_formats.py``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import augkit
from augkit.errors import InputError, SpecError
from augkit.expansion import COLUMNS, expand, pipeline_hash
from augkit.expansion.plan import safe_name
from augkit.io import read_image
from augkit.sources import load_npz, scan_directory

PIPE = augkit.Pipeline.default()
SYNC = {"scheduler": "synchronous"}


# -- helpers (also imported by the other test_expand_* modules) --------------------------------
def picture(seed: int, h: int = 16, w: int = 16) -> np.ndarray:
    """A smooth random picture (compresses like a photo, unlike noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 256, 3)
    return ((base + x[..., None] * rng.integers(1, 9, 3) + y[..., None] * rng.integers(1, 9, 3))
            % 256).astype(np.uint8)


def make_source(root: Path, classes: dict[str, int] | None = None, size: int = 16) -> Path:
    """A class-per-folder data set of small PNGs."""
    classes = classes or {"cat": 3, "dog": 2}
    seed = 0
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(picture(seed, size, size)).save(root / name / f"img {i}.png")
            seed += 1
    return root


def tree(out: Path) -> dict[str, str]:
    """sha256 of every visible file below ``out`` (augkit's hidden lock files left out)."""
    found = {}
    for folder, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                path = Path(folder, name)
                found[path.relative_to(out).as_posix()] = hashlib.sha256(
                    path.read_bytes()).hexdigest()
    return found


def leftovers(out: Path) -> list[str]:
    """Temporary or in-progress files that a finished run must not leave behind."""
    bad = []
    for folder, _, files in os.walk(out):
        bad += [os.path.join(folder, n) for n in files
                if n.startswith(".augkit-tmp-") or n == ".augkit-expand.gen"]
    return bad


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file below ``out`` (hidden ones too) with its mtime and bytes."""
    found = {}
    for folder, _, files in os.walk(out):
        for name in files:
            path = Path(folder, name)
            found[str(path)] = (path.stat().st_mtime_ns, path.read_bytes())
    return found


@pytest.fixture
def src(tmp_path):
    return make_source(tmp_path / "src")


# -- layout and manifest ------------------------------------------------------------------------
def test_layout_manifest_and_spec(src, tmp_path):
    out = tmp_path / "out"
    summary = expand(src, out, pipeline=PIPE, copies=2, seed=7, **SYNC)
    assert (summary.planned, summary.written, summary.present, summary.failed) == (15, 15, 0, 0)
    assert summary.ok and summary.failures == []
    assert sorted(os.listdir(out / "cat")) == [f"img {i}_c{k}.png" for i in range(3)
                                               for k in range(3)]
    rows = manifest(out)
    assert tuple(rows[0]) == COLUMNS and len(rows) == 15
    first = rows[0]
    assert first["output"] == "cat/img 0_c0.png" and first["source"] == "cat/img 0.png"
    assert (first["index"], first["label"], first["class_name"], first["copy"]) == ("0", "0",
                                                                                    "cat", "0")
    assert {r["status"] for r in rows} == {"ok"} and {r["error"] for r in rows} == {""}
    assert {r["seed"] for r in rows} == {"7"}
    assert {r["pipeline_hash"] for r in rows} == {pipeline_hash(PIPE)}
    assert rows[-1]["output"] == "dog/img 1_c2.png" and rows[-1]["index"] == "4"
    spec = json.loads((out / "expand.json").read_text())
    assert spec["seed"] == 7 and spec["copies"] == 2 and spec["pipeline"] == PIPE.to_dict()
    assert leftovers(out) == []


def test_copy_k_is_pipeline_apply_with_index_and_epoch(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=3, seed=5, **SYNC)
    x = read_image(src / "dog" / "img 1.png")  # source index 4
    np.testing.assert_array_equal(read_image(out / "dog" / "img 1_c0.png"), x)
    for k in (1, 2, 3):
        want, _ = PIPE.apply(x[None], seed=5, index=[4], epoch=k)
        np.testing.assert_array_equal(read_image(out / "dog" / f"img 1_c{k}.png"), want[0])


def test_pipeline_hash_is_sha256_of_canonical_json():
    text = json.dumps(PIPE.to_dict(), sort_keys=True, separators=(",", ":"))
    assert pipeline_hash(PIPE) == hashlib.sha256(text.encode()).hexdigest()
    assert pipeline_hash(augkit.Pipeline.from_dict(PIPE.to_dict())) == pipeline_hash(PIPE)


def test_without_original_and_jpeg(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=2, format="jpeg", include_original=False, **SYNC)
    assert sorted(os.listdir(out / "dog")) == ["img 0_c1.jpg", "img 0_c2.jpg", "img 1_c1.jpg",
                                               "img 1_c2.jpg"]
    assert read_image(out / "dog" / "img 0_c1.jpg").shape == (16, 16, 3)


def test_output_is_a_class_folder_data_set(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    listing = scan_directory(out)
    assert listing.class_names == ("cat", "dog") and len(listing) == 10
    assert all(read_image(listing.absolute(i)).shape == (16, 16, 3) for i in range(10))


# -- determinism ----------------------------------------------------------------------------
def test_same_bytes_for_any_batching_and_threads(src, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    expand(src, a, pipeline=PIPE, copies=3, batch_size=1, **SYNC)
    expand(src, b, pipeline=PIPE, copies=3, batch_size=5, **SYNC)
    expand(src, c, pipeline=PIPE, copies=3, scheduler="threads", workers=2, batch_size=2)
    assert tree(a) == tree(b) == tree(c)
    assert len(tree(a)) == 20 + 2  # outputs, manifest.csv, expand.json


# -- resume ---------------------------------------------------------------------------------
def test_rerun_finishes_only_what_is_missing(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    reference = tree(out)
    for name in ("cat/img 0_c1.png", "dog/img 1_c0.png", "dog/img 1_c2.png"):
        (out / name).unlink()
    (out / "cat" / "img 2_c2.png").write_bytes(
        (out / "cat" / "img 2_c2.png").read_bytes()[:40])  # truncated by a machine crash
    kept = (out / "cat" / "img 1_c1.png").stat().st_mtime_ns
    summary = expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    assert (summary.written, summary.present, summary.failed) == (4, 11, 0)
    assert tree(out) == reference and leftovers(out) == []
    assert (out / "cat" / "img 1_c1.png").stat().st_mtime_ns == kept  # not rewritten
    again = expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    assert (again.written, again.present) == (0, 15)


def test_interrupted_run_leaves_pending_rows_and_no_temporaries(src, tmp_path):
    out = tmp_path / "out"
    calls = []

    def stop(progress):
        calls.append(progress)
        if progress.written >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        expand(src, out, pipeline=PIPE, copies=2, batch_size=1, progress=stop, **SYNC)
    statuses = [row["status"] for row in manifest(out)]
    assert statuses.count("pending") > 0 and statuses.count("ok") >= 4
    assert leftovers(out) == []
    summary = expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    assert summary.ok and summary.present == statuses.count("ok")
    clean = tmp_path / "clean"
    expand(src, clean, pipeline=PIPE, copies=2, **SYNC)
    assert tree(out) == tree(clean)


# -- refusing a different job ---------------------------------------------------------------
@pytest.mark.parametrize("change", [
    {"seed": 1}, {"copies": 3}, {"format": "jpeg"}, {"include_original": False},
    {"pipeline": augkit.Pipeline.from_keras(rotation_range=30)},
])
def test_changed_spec_is_refused_and_nothing_is_touched(src, tmp_path, change):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=2, **SYNC)
    before = snapshot(out)
    kwargs = {"pipeline": PIPE, "copies": 2, **change}
    with pytest.raises(SpecError, match="different spec.*Nothing was changed.*--overwrite"):
        expand(src, out, **kwargs, **SYNC)
    assert snapshot(out) == before


def test_changed_source_listing_is_refused(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    Image.fromarray(picture(99)).save(src / "cat" / "new.png")
    with pytest.raises(SpecError, match="source items"):
        expand(src, out, pipeline=PIPE, copies=1, **SYNC)


def test_overwrite_replaces_only_the_listed_outputs(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=3, **SYNC)
    (out / "cat" / "notes.txt").write_text("mine")
    summary = expand(src, out, pipeline=PIPE, copies=1, seed=3, overwrite=True, **SYNC)
    assert summary.written == 10 and summary.present == 0
    assert (out / "cat" / "notes.txt").read_text() == "mine"
    fresh = tmp_path / "fresh"
    expand(src, fresh, pipeline=PIPE, copies=1, seed=3, **SYNC)
    assert tree(out) == {**tree(fresh), "cat/notes.txt": tree(out)["cat/notes.txt"]}


def test_foreign_or_overlapping_output_folder_is_refused(src, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="not an augkit expansion"):
            expand(src, foreign, pipeline=PIPE, copies=1, overwrite=overwrite, **SYNC)
    assert os.listdir(foreign) == ["thesis.tex"]
    for bad in (src, src / "cat" / "aug", tmp_path):
        with pytest.raises(InputError, match="overlap"):
            expand(src, bad, pipeline=PIPE, copies=1, **SYNC)


@pytest.mark.parametrize("kwargs, match", [
    ({"copies": -1}, "copies"), ({"copies": 1.5}, "copies"), ({"seed": -2}, "seed"),
    ({"format": "gif"}, "format.*png, jpeg, npz, tfrecord"), ({"color_mode": "cmyk"}, "color_mode"),
    ({"copies": 0, "include_original": False}, "plans no output"),
    ({"pipeline": 42}, "pipeline"), ({"workers": 2}, "workers"),
    ({"pipeline": augkit.Pipeline.from_keras(rescale=1 / 255)}, "float32"),
    ({"scheduler": "gpu"}, "scheduler"),
    ({"pipeline": augkit.Pipeline([augkit.ops.MixUp(alpha=0.4)])}, r"ops\[0\] \(mixup\).*stream"),
    ({"pipeline": augkit.Pipeline([augkit.ops.FlipHorizontal(), augkit.ops.CutMix()])},
     r"ops\[1\] \(cutmix\)"),
])
def test_bad_arguments_say_what_is_allowed(src, tmp_path, kwargs, match):
    args = {"pipeline": PIPE, "copies": 1, "scheduler": "synchronous", **kwargs}
    with pytest.raises(SpecError, match=match):
        expand(src, tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert not (tmp_path / "out").exists()


# -- names ----------------------------------------------------------------------------------
def test_safe_names():
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("..") == safe_name(".") == safe_name("") == "_"
    assert safe_name(".bashrc") == "bashrc"
    assert safe_name("a\nb\x00c") == "a_b_c"
    assert safe_name("chat noir été") == "chat noir été"
    long = safe_name("é" * 300)
    assert len(long.encode()) <= 150 and long != safe_name("é" * 301)


def test_colliding_names_get_distinct_files(tmp_path):
    root = tmp_path / "src"
    (root / "cat" / "sub").mkdir(parents=True)
    for name in ("a.png", "a.jpg", "A.png", "sub/x.png", "sub__x.png"):
        Image.fromarray(picture(len(name))).save(root / "cat" / name)
    out = tmp_path / "out"
    summary = expand(root, out, pipeline=PIPE, copies=1, **SYNC)
    assert summary.written == 10
    names = os.listdir(out / "cat")
    assert len({n.casefold() for n in names}) == 10
    assert all(n.startswith(("a~", "A~", "sub__x")) for n in names)


def test_hostile_labels_stay_inside_the_output(tmp_path):
    labels = np.array(["../../evil", "/etc", ".hidden", "manifest.csv", "a/b", "", "ok", "..",
                       "expand.json", "Ok"])
    np.savez(tmp_path / "d.npz", x=np.stack([picture(i) for i in range(10)]), y=labels)
    out = tmp_path / "sandbox" / "out"
    summary = expand(tmp_path / "d.npz", out, pipeline=PIPE, copies=1, **SYNC)
    assert summary.written == 20
    root = os.path.realpath(out)
    for row in manifest(out):
        assert os.path.realpath(out / row["output"]).startswith(root + os.sep)
    assert sorted(os.listdir(tmp_path)) == ["d.npz", "sandbox"]
    assert os.listdir(tmp_path / "sandbox") == ["out"]
    top = [n for n in os.listdir(out) if (out / n).is_dir()]
    assert len(top) == 10 and not any(n.startswith(".") for n in top)
    assert (out / "manifest.csv").is_file() and (out / "expand.json").is_file()


def test_manifest_source_refuses_paths_outside_its_folder(src, tmp_path):
    first = tmp_path / "first"
    expand(src, first, pipeline=PIPE, copies=1, **SYNC)
    secret = tmp_path / "secret.png"
    Image.fromarray(picture(5)).save(secret)
    rows = manifest(first)
    rows[0]["output"] = "../secret.png"
    with open(first / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "second"
    summary = expand(first / "manifest.csv", out, pipeline=PIPE, copies=1, **SYNC)
    assert summary.failed == 2 and summary.written == 18
    assert "leaves the manifest's folder" in summary.failures[0][1]
    assert all(not r["output"].startswith("..") for r in manifest(out))


# -- npz sources and shards -------------------------------------------------------------------
@pytest.fixture
def arrays(tmp_path):
    x = np.stack([picture(i, 12, 12) for i in range(12)])
    y = np.arange(12) % 3
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    np.savez_compressed(tmp_path / "packed.npz", x=x, y=y)
    return x, y


def test_npz_source_stored_or_compressed_gives_the_same_files(tmp_path, arrays):
    a, b = tmp_path / "a", tmp_path / "b"
    expand(tmp_path / "plain.npz", a, pipeline=PIPE, copies=2, **SYNC)
    expand(tmp_path / "packed.npz", b, pipeline=PIPE, copies=2, scheduler="threads", workers=2)
    ta, tb = tree(a), tree(b)
    assert {k for k in ta if ta[k] != tb[k]} == {"expand.json"}  # it names the source file
    assert sorted(os.listdir(a)) == [".augkit-expand.lock", ".augkit-expand.run", "0", "1", "2",
                                     "expand.json", "manifest.csv"]
    assert not [n for n in os.listdir(b) if n.startswith(".augkit-cache")]  # removed when done
    x, _ = arrays
    np.testing.assert_array_equal(read_image(a / "1" / "04_c0.png"), x[4])
    want, _ = PIPE.apply(x[4:5], seed=0, index=[4], epoch=2)
    np.testing.assert_array_equal(read_image(a / "1" / "04_c2.png"), want[0])


def test_npz_labels_are_zero_padded_so_folders_sort_like_numbers(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((11, 8, 8), np.uint8), y=np.arange(11))
    out = tmp_path / "out"
    expand(tmp_path / "d.npz", out, pipeline=PIPE, copies=0, **SYNC)
    assert scan_directory(out).class_names == tuple(f"{i:02d}" for i in range(11))
    assert read_image(out / "10" / "10_c0.png", color_mode="grayscale").shape == (8, 8, 1)


def test_npz_one_hot_and_bad_labels(tmp_path):
    x = np.zeros((3, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "hot.npz", x=x, y=np.eye(3)[[2, 0, 1]])
    expand(tmp_path / "hot.npz", tmp_path / "o", pipeline=PIPE, copies=0, **SYNC)
    assert [r["label"] for r in manifest(tmp_path / "o")] == ["2", "0", "1"]
    np.savez(tmp_path / "bad.npz", x=x, y=np.array([[0.5, 0.5, 0]] * 3))
    with pytest.raises(InputError, match="one-hot"):
        expand(tmp_path / "bad.npz", tmp_path / "o2", pipeline=PIPE, copies=0, **SYNC)
    np.savez(tmp_path / "obj.npz", x=np.array([None] * 3, dtype=object), y=np.arange(3))
    with pytest.raises(InputError, match="objects"):
        expand(tmp_path / "obj.npz", tmp_path / "o3", pipeline=PIPE, copies=0, **SYNC)


def test_npz_shards_layout_and_resume(tmp_path, arrays):
    out = tmp_path / "shards"
    summary = expand(tmp_path / "plain.npz", out, pipeline=PIPE, copies=2, format="npz",
                     shard_size=10, **SYNC)
    assert summary.written == 36
    shards = sorted(n for n in os.listdir(out) if n.endswith(".npz"))
    assert shards == [f"shard-{j:05d}-of-00004.npz" for j in range(4)]
    x, y = load_npz(out / shards[0])  # a shard is itself an augkit npz source
    assert x.shape == (10, 12, 12, 3) and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
    with np.load(out / shards[0]) as data:
        assert data["index"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
        assert data["copy"].tolist() == [0, 1, 2] * 3 + [0]
        assert data["class_names"].tolist() == ["0", "1", "2"]
    rows = manifest(out)
    assert rows[9]["output"] == shards[0] and rows[9]["shard_row"] == "9"
    assert rows[10]["output"] == shards[1] and rows[10]["shard_row"] == "0"
    reference = tree(out)
    (out / shards[2]).unlink()
    again = expand(tmp_path / "plain.npz", out, pipeline=PIPE, copies=2, format="npz",
                   shard_size=10, **SYNC)
    assert (again.written, again.present) == (10, 26) and tree(out) == reference
    other = tmp_path / "other"
    expand(tmp_path / "plain.npz", other, pipeline=PIPE, copies=2, format="npz", shard_size=10,
           scheduler="threads", workers=2)
    assert tree(other) == reference


def test_npz_shard_with_mixed_sizes_reports_the_odd_image(tmp_path):
    root = tmp_path / "src"
    (root / "a").mkdir(parents=True)
    Image.fromarray(picture(0, 16, 16)).save(root / "a" / "1.png")
    Image.fromarray(picture(1, 16, 20)).save(root / "a" / "2.png")
    summary = expand(root, tmp_path / "out", pipeline=PIPE, copies=0, format="npz", **SYNC)
    assert summary.written == 1 and summary.failed == 1
    assert "one image size" in summary.failures[0][1]


def test_expanding_an_earlier_manifest(src, tmp_path):
    first = tmp_path / "first"
    expand(src, first, pipeline=PIPE, copies=1, **SYNC)
    second = tmp_path / "second"
    summary = expand(first / "manifest.csv", second, pipeline=PIPE, copies=1,
                     include_original=False, **SYNC)
    assert summary.written == 10
    assert sorted(os.listdir(second / "dog"))[:2] == ["img 0_c0_c1.png", "img 0_c1_c1.png"]
    shards = tmp_path / "shards"
    expand(src, shards, pipeline=PIPE, copies=1, format="npz", **SYNC)
    third = tmp_path / "third"
    assert expand(shards, third, pipeline=PIPE, copies=1, **SYNC).written == 20


# -- strict, summary, CLI ---------------------------------------------------------------------
def test_strict_raises_after_finishing(src, tmp_path):
    (src / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="3 of 18 outputs failed") as info:
        expand(src, out, pipeline=PIPE, copies=2, strict=True, **SYNC)
    assert info.value.summary.written == 15
    assert [r["status"] for r in manifest(out)].count("failed") == 3


def _cli(*args):
    from augkit.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_runs_resumes_and_refuses(src, tmp_path):
    spec = tmp_path / "p.yaml"
    PIPE.save(spec)
    out = tmp_path / "out"
    base = ["expand", str(src), str(out), "-p", str(spec), "--copies", "2", "--scheduler",
            "synchronous"]
    result = _cli(*base)
    assert result.exit_code == 0, result.output
    assert "15 written, 0 already present, 0 failed, of 15 planned" in result.output
    assert "images/s" in result.output
    again = _cli(*base)
    assert again.exit_code == 0 and "0 written, 15 already present" in again.output
    refused = _cli(*base[:-4], "--copies", "3", "--scheduler", "synchronous")
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "augkit: error:" in refused.output
    assert "copies=2 then, 3 now" in refused.output


def test_cli_exit_status_with_failures(src, tmp_path):
    spec = tmp_path / "p.yaml"
    PIPE.save(spec)
    (src / "dog" / "empty.png").write_bytes(b"")
    base = ["expand", str(src), "-p", str(spec), "--copies", "1", "--scheduler", "synchronous"]
    lenient = _cli(base[0], base[1], str(tmp_path / "a"), *base[2:])
    assert lenient.exit_code == 0
    assert "failed sources (1):" in lenient.output and "dog/empty.png" in lenient.output
    assert "empty file" in lenient.output
    strict = _cli(base[0], base[1], str(tmp_path / "b"), *base[2:], "--strict")
    assert strict.exit_code == 1
    bad = tmp_path / "allbad"
    (bad / "x").mkdir(parents=True)
    (bad / "x" / "a.png").write_bytes(b"junk")
    nothing = _cli("expand", str(bad), str(tmp_path / "c"), "-p", str(spec), "--copies", "1",
                   "--scheduler", "synchronous")
    assert nothing.exit_code == 1 and "0 written" in nothing.output


def test_cli_help_imports_neither_dask_nor_tensorflow():
    import subprocess
    import sys

    code = ("import sys\nfrom augkit.cli import main\n"
            "try:\n    main(['expand', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'dask', 'distributed') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_a_symlinked_class_folder_in_the_output_is_refused(src, tmp_path):
    out = tmp_path / "out"
    expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in os.listdir(out / "cat"):
        (out / "cat" / name).unlink()
    (out / "cat").rmdir()
    os.symlink(elsewhere, out / "cat")
    with pytest.raises(InputError, match="symbolic link"):
        expand(src, out, pipeline=PIPE, copies=1, **SYNC)
    assert os.listdir(elsewhere) == [] and leftovers(out) == []
