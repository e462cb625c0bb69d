"""Previews with targets: masks, boxes and keypoints drawn where the pipeline puts them.

Layout used throughout: one image, ``columns=n + 1`` (one row), so tile ``c`` of the grid sits
at ``x = GAP + c * (tile_w + GAP)``, ``y = GAP``. A 24×32 image with ``tile_size=64`` is shown
2× enlarged (48×64, box lines 1 px, keypoint discs of radius 2).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import augkit
from augkit import ops
from augkit._canvas import GAP
from augkit._overlay import MASK_ALPHA, PALETTE, Palette, scale_mask
from augkit.annotations import coerce, load, sample_file
from augkit.cli import cli
from augkit.errors import InputError
from augkit.io import read_image, sample_image, sample_path
from augkit.kernels.cv import NP
from augkit.preview import render_grid, render_sheet
from augkit.targets.formats import from_pascal_voc, to_pascal_voc

H, W, K = 24, 32, 2  # image size and display factor at tile_size=64
TILE = 64


def _image(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


IMG = _image()


def _tile(grid, c, th=H * K, tw=W * K):
    x = GAP + c * (tw + GAP)
    return grid[GAP:GAP + th, x:x + tw]


def _where(tile, colour):
    return np.nonzero(np.all(tile == np.asarray(colour, np.uint8), axis=-1))


def _outline(x0, y0, x1, y1):
    """Pixels of a 1-px outline drawn inward from display pixel edges (x0, y0, x1, y1)."""
    pts = {(y, x) for x in range(x0, x1) for y in (y0, y1 - 1)}
    return pts | {(y, x) for y in range(y0, y1) for x in (x0, x1 - 1)}


def _near_outline(ys, xs, box, slack=1.0):
    """Pixels within ``slack`` of the outline of a box given in display pixel edges."""
    x0, y0, x1, y1 = box
    inside_y = (ys >= y0 - slack) & (ys + 1 <= y1 + slack)
    inside_x = (xs >= x0 - slack) & (xs + 1 <= x1 + slack)
    vertical = ((np.abs(xs - x0) <= slack) | (np.abs(xs + 1 - x1) <= slack)) & inside_y
    horizontal = ((np.abs(ys - y0) <= slack) | (np.abs(ys + 1 - y1) <= slack)) & inside_x
    return vertical | horizontal


def _grid(pipeline, annotations=None, n=3, seed=5, image=IMG, **kw):
    return render_grid(image, pipeline, n=n, seed=seed, tile_size=TILE, columns=n + 1,
                       annotations=annotations, **kw)


GEOMETRIC = augkit.Pipeline([ops.Rotate(angle_range=(-20, 20)), ops.FlipHorizontal(),
                             ops.Translate(x_range=(-0.1, 0.1), y_range=(-0.1, 0.1))])


# -- boxes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pascal_voc", "yolo"])
def test_drawn_box_is_where_the_pipeline_puts_it(fmt):
    pipeline = augkit.Pipeline(GEOMETRIC.ops, targets={"bbox_format": fmt})
    box = from_pascal_voc(NP, np.array([[8, 6, 22, 18]], np.float32), fmt, H, W)
    n = 4
    grid = _grid(pipeline, {"bboxes": box}, n=n)
    for j in range(n):
        out = pipeline(image=IMG, bboxes=box, seed=5, index=j)
        assert len(out["bboxes"]) == 1  # a centred box survives these ranges
        x0, y0, x1, y1 = to_pascal_voc(NP, out["bboxes"], fmt, H, W)[0] * K
        ys, xs = _where(_tile(grid, j + 1), PALETTE[0])
        assert np.all(_near_outline(ys, xs, (x0, y0, x1, y1))), j
        for edge in (np.abs(xs - x0) <= 1, np.abs(xs + 1 - x1) <= 1):  # both sides drawn
            assert edge.sum() >= (y1 - y0) - 2, j
        for edge in (np.abs(ys - y0) <= 1, np.abs(ys + 1 - y1) <= 1):
            assert edge.sum() >= (x1 - x0) - 2, j


def test_flip_draws_the_box_at_the_mirrored_place():
    flip = augkit.Pipeline([ops.FlipHorizontal(p=1.0)])
    grid = _grid(flip, {"bboxes": [[2, 3, 10, 12]]}, n=1)
    for c, (x0, x1) in enumerate([(2, 10), (W - 10, W - 2)]):  # original, then mirrored
        ys, xs = _where(_tile(grid, c), PALETTE[0])
        assert set(zip(ys.tolist(), xs.tolist())) == _outline(x0 * K, 3 * K, x1 * K, 12 * K)


def test_boxes_dropped_by_the_pipeline_are_not_drawn_and_labels_follow_their_boxes():
    shift = ops.Translate(x_range=(6, 6), y_range=(0, 0), unit="pixels")
    boxes = [[24, 2, 32, 8], [4, 10, 12, 20]]  # the first keeps 25% after the shift
    ann = {"bboxes": boxes, "bbox_labels": ["cat", "dog"]}
    cat, dog = Palette(["cat", "dog"]).colour("cat"), Palette(["cat", "dog"]).colour("dog")
    assert (cat, dog) == (PALETTE[-1], PALETTE[-2])  # names: from the palette's end, sorted
    for vis, cat_drawn in ((0.6, False), (0.0, True)):
        pipeline = augkit.Pipeline([shift], targets={"min_visibility": vis})
        out = pipeline(image=IMG, bboxes=np.array(boxes), bbox_labels=np.array([0, 1]))
        assert (0 in out["bbox_labels"].tolist()) == cat_drawn
        grid = _grid(pipeline, ann, n=1)
        original, variant = _tile(grid, 0), _tile(grid, 1)
        assert _where(original, cat)[0].size and _where(original, dog)[0].size
        assert bool(_where(variant, cat)[0].size) == cat_drawn
        ys, xs = _where(variant, dog)
        assert np.any(_near_outline(ys, xs, (10 * K, 10 * K, 18 * K, 20 * K), slack=0))


def test_box_label_text_is_drawn_above_the_box_only_with_labels():
    box = [[6, 12, 20, 22]]
    plain = _grid(augkit.Pipeline([]), {"bboxes": box}, n=1)
    named = _grid(augkit.Pipeline([]), {"bboxes": box, "bbox_labels": [7]}, n=1)
    colour = PALETTE[7]  # integer labels: PALETTE[label % 12]
    for grid, expect_text in ((plain, False), (named, True)):
        tile = _tile(grid, 0)
        key = PALETTE[0] if not expect_text else colour
        ys, _ = _where(tile, key)
        above = ys < 12 * K
        assert bool(above.any()) == expect_text


# -- masks -------------------------------------------------------------------------------------
def _blend(base, colour):
    return np.round(base.astype(np.float32) * (1 - MASK_ALPHA)
                    + np.asarray(colour, np.float32) * MASK_ALPHA)


def _check_mask_overlay(drawn, plain, mask):
    """``drawn`` is ``plain`` blended with PALETTE[class] exactly where ``mask`` is non-zero."""
    background = mask == 0
    assert np.array_equal(drawn[background], plain[background])
    for c in np.unique(mask[~background]):
        sel = mask == c
        diff = np.abs(drawn[sel].astype(int) - _blend(plain[sel], PALETTE[int(c) % len(PALETTE)]))
        assert diff.max() <= 1


def test_mask_overlay_colours_exactly_the_mask_pixels():
    mask = np.zeros((H, W), np.uint8)
    mask[2:10, 3:12] = 1
    mask[14:20, 20:30] = 2
    n = 3
    drawn, plain = _grid(GEOMETRIC, {"mask": mask}, n=n), _grid(GEOMETRIC, n=n)
    _check_mask_overlay(_tile(drawn, 0), _tile(plain, 0), np.repeat(np.repeat(mask, K, 0), K, 1))
    for j in range(n):
        moved = GEOMETRIC(image=IMG, mask=mask, seed=5, index=j)["mask"]
        big = np.repeat(np.repeat(moved, K, 0), K, 1)  # nearest neighbour, whole factor
        _check_mask_overlay(_tile(drawn, j + 1), _tile(plain, j + 1), big)


def test_mask_overlay_on_a_shrunk_tile_uses_nearest_pixels():
    image = _image(96, 128, seed=1)
    mask = np.zeros((96, 128), np.uint16)
    mask[10:40, 20:70] = 3
    mask[50:90, 90:100] = 300  # any integer class id (300 % 12 = 0: red)
    flip = augkit.Pipeline([ops.FlipHorizontal(p=1.0)])
    drawn = _grid(flip, {"mask": mask}, n=1, image=image)
    plain = _grid(flip, n=1, image=image)
    expect = mask[:, ::-1][1::2, 1::2]  # display pixel i shows source pixel 2i + 1
    assert np.array_equal(scale_mask(mask[:, ::-1], 48, 64), expect)
    _check_mask_overlay(_tile(drawn, 1), _tile(plain, 1), expect)


def test_a_mask_of_background_only_leaves_the_preview_unchanged():
    """The variants' pixels come from the targets call and equal the image-only preview's."""
    empty = {"mask": np.zeros((H, W), np.uint8)}
    pipeline = augkit.Pipeline.default()
    assert np.array_equal(_grid(pipeline, empty, n=4), _grid(pipeline, n=4))


def test_multichannel_and_bool_masks_become_classes():
    mask = np.zeros((H, W, 2), bool)
    mask[1:5, 1:5, 0] = True
    mask[3:9, 3:9, 1] = True  # later channels on top: class 2 where both are set
    drawn, plain = _grid(augkit.Pipeline([]), {"mask": mask}, n=1), _grid(augkit.Pipeline([]), n=1)
    classes = np.zeros((H, W), int)
    classes[mask[..., 0]] = 1
    classes[mask[..., 1]] = 2
    _check_mask_overlay(_tile(drawn, 0), _tile(plain, 0), np.repeat(np.repeat(classes, K, 0),
                                                                     K, 1))


# -- keypoints ---------------------------------------------------------------------------------
def test_keypoints_are_discs_and_invisible_ones_crosses():
    flip = augkit.Pipeline([ops.FlipHorizontal(p=1.0)])
    points = [[5, 6, 1], [20, 10, 0]]  # (x, y, visibility)
    tile = _tile(_grid(flip, {"keypoints": points}, n=1), 1)
    (x0, y0), (x1, y1) = [((W - 1 - x) * K + 1, y * K + 1) for x, y, _ in points]  # centres
    disc, cross = np.asarray(PALETTE[0]), np.asarray(PALETTE[1])
    for dx, dy in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2), (1, 1)):
        assert np.array_equal(tile[y0 + dy, x0 + dx], disc)
    assert np.array_equal(tile[y0, x0 + 3], [0, 0, 0])  # the dark rim
    for dx, dy in ((0, 0), (2, 2), (-2, 2), (3, -3)):
        assert np.array_equal(tile[y1 + dy, x1 + dx], cross)
    for dx, dy in ((2, 0), (0, 2), (-1, 0)):
        assert not np.array_equal(tile[y1 + dy, x1 + dx], cross)


def test_pixels_away_from_the_marks_are_unchanged():
    boxes = np.array([[8, 6, 22, 18], [1, 1, 6, 5]], np.float32)
    points = np.array([[10, 12], [25, 4]], np.float32)
    n = 4
    drawn = _grid(GEOMETRIC, {"bboxes": boxes, "keypoints": points}, n=n)
    plain = _grid(GEOMETRIC, n=n)
    changed = np.any(drawn != plain, axis=-1)
    outside = changed.copy()
    outside[GAP:GAP + H * K] = False
    assert not outside.any()  # captions and gaps untouched
    for c in range(n + 1):
        if c == 0:
            moved_boxes, moved_points = boxes, points
        else:
            out = GEOMETRIC(image=IMG, bboxes=boxes, keypoints=points, seed=5, index=c - 1)
            moved_boxes, moved_points = out["bboxes"], out["keypoints"]
        ys, xs = np.nonzero(_tile(changed, c))
        allowed = np.zeros(len(ys), bool)
        for box in moved_boxes:
            allowed |= _near_outline(ys, xs, box * K)
        for x, y in moved_points:
            cx, cy = np.floor((x + 0.5) * K), np.floor((y + 0.5) * K)
            allowed |= (np.abs(xs - cx) <= 3) & (np.abs(ys - cy) <= 3)
        assert allowed.all(), c
        assert len(ys) > 0


def test_sheet_draws_each_pinned_op_with_its_targets():
    flip = augkit.Pipeline([ops.FlipHorizontal()])
    box = {"bboxes": [[2, 3, 10, 12]]}
    sheet = render_sheet(IMG, flip, tile_size=TILE, annotations=box)
    plain = render_sheet(IMG, flip, tile_size=TILE)
    n_cols = 4  # original, low, middle, high
    left = sheet.shape[1] - n_cols * (W * K + GAP)
    for c, (x0, x1) in enumerate([(2, 10), (2, 10), (W - 10, W - 2), (W - 10, W - 2)]):
        x = left + c * (W * K + GAP)
        tile = sheet[GAP:GAP + H * K, x:x + W * K]
        ys, xs = _where(tile, PALETTE[0])
        assert set(zip(ys.tolist(), xs.tolist())) == _outline(x0 * K, 3 * K, x1 * K, 12 * K)
    assert np.array_equal(sheet[:, :left], plain[:, :left])  # row labels


# -- the Python API's checks -------------------------------------------------------------------
@pytest.mark.parametrize(("annotations", "fragments"), [
    ({"boxes": [[0, 0, 4, 4]]}, ["annotations[0]", "unknown key 'boxes'", "'bboxes'"]),
    ({"bboxes": [[0, 0, 4]]}, ["annotations[0]: bboxes[0]", "[0, 0, 4]", "4 numbers"]),
    ({"bboxes": [[0, 0, 4, 4]], "bbox_labels": [1, 2]},
     ["bbox_labels: 2 labels for 1 bboxes", "one label per"]),
    ({"keypoint_labels": ["eye"]}, ["keypoint_labels: given without keypoints"]),
    ({"bboxes": [[0, 0, 40, 4]]}, ["bboxes[0]", "reaches outside the 32x24 image"]),
    ({"bboxes": [[5, 0, 4, 4]]}, ["bboxes[0]", "has no area"]),
    ({"keypoints": [[1, float("nan")]]}, ["keypoints[0]", "finite"]),
    ({"mask": np.zeros((10, 10), np.uint8)}, ["mask: 10x10", "the image is 32x24"]),
    ({"mask": np.zeros((H, W), np.float32)}, ["mask", "float32", "integer or bool"]),
    ([None, None], ["2 entries for 1 images"]),
])
def test_bad_annotations_in_python_name_the_problem(annotations, fragments):
    with pytest.raises(InputError) as info:
        render_grid(IMG, augkit.Pipeline([]), n=1, annotations=annotations)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_coerce_keeps_numpy_labels_and_rejects_strays():
    ann = coerce({"bboxes": np.zeros((0, 4)), "keypoints": np.array([[1.0, 2.0]])})
    assert ann.bboxes.shape == (0, 4) and ann.keypoints.shape == (1, 2)
    assert ann.is_empty() is False and coerce({"bboxes": []}).is_empty()
    with pytest.raises(InputError, match="a mapping"):
        coerce([1, 2, 3], "annotations[4]")


# -- files -------------------------------------------------------------------------------------
@pytest.fixture
def images(tmp_path):
    (tmp_path / "sub").mkdir()
    paths = [tmp_path / "a.png", tmp_path / "sub" / "b.png"]
    for i, p in enumerate(paths):
        Image.fromarray(_image(seed=i)).save(p)
    return [str(p) for p in paths]


def _write(tmp_path, content, name="ann.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _mask_png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_annotation_file_is_matched_by_name_or_path(tmp_path, images):
    mask = np.zeros((H, W), np.uint8)
    mask[1:4, 1:4] = 2
    _mask_png(tmp_path / "m.png", mask)
    path = _write(tmp_path, {"b.png": {"bboxes": [[1, 2, 3, 4]], "bbox_labels": ["x"],
                                       "keypoints": [[1, 1, 0]], "mask": "m.png"}})
    first, second = load(path, images)
    assert first is None
    assert second.bboxes.tolist() == [[1, 2, 3, 4]] and second.bbox_labels == ["x"]
    assert np.array_equal(second.mask, mask) and second.keypoints.shape == (1, 3)
    assert load(_write(tmp_path, {images[0]: {}}, "by-path.json"), images)[0] is not None


def test_yaml_annotations_and_palette_mask_files(tmp_path, images):
    mask = np.zeros((H, W), np.uint8)
    mask[5:9, 5:9] = 4
    image = Image.fromarray(mask, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * 753)
    image.save(tmp_path / "pal.png")  # class ids are the palette indices, not the colours
    path = _write(tmp_path, "a.png:\n  mask: pal.png\n  keypoints: [[3, 4]]\n", "ann.yaml")
    first, second = load(path, images)
    assert np.array_equal(first.mask, mask) and second is None


def _bad(tmp_path, images, content, name="ann.json", extra=None):
    if extra:
        extra(tmp_path)
    path = _write(tmp_path, content, name)
    with pytest.raises(InputError) as info:
        render_grid(images, augkit.Pipeline([]), n=1, annotations=path)
    message = str(info.value)
    assert message.startswith(path), message
    return message


@pytest.mark.parametrize(("content", "fragments"), [
    ({"a.png": {"boxes": [[0, 0, 4, 4]]}}, ["a.png: unknown key 'boxes'", "did you mean"]),
    ({"a.png": {"bboxes": [[0, 0, 4, 4], [1, 2, 3]]}}, ["a.png: bboxes[1]", "[1, 2, 3]"]),
    ({"a.png": {"bboxes": [[0, 0, 4, 4]], "bbox_labels": []}},
     ["a.png: bbox_labels: 0 labels for 1 bboxes"]),
    ({"a.png": {"bboxes": [[0, 0, 4, 4]], "bbox_labels": [None]}},
     ["a.png: bbox_labels[0]: got None", "a string or a number"]),
    ({"a.png": {"bboxes": [[0, 0, 4, 40]]}}, ["a.png: bboxes[0]: [0.0, 0.0, 4.0, 40.0]",
                                              "outside the 32x24 image"]),
    ({"a.png": {"keypoints": [[1, True]]}}, ["a.png: keypoints[0]", "[1, True]"]),
    ({"a.png": {"mask": 3}}, ["a.png: mask: got 3", "relative to the annotation file"]),
    ({"a.png": {"mask": "missing.png"}}, ["a.png: mask:", "missing.png: no such file"]),
    ({"a.png": [[0, 0, 4, 4]]}, ["a.png: got [[0, 0, 4, 4]]", "a mapping with keys"]),
    ({"dog.png": {}}, ["key 'dog.png' names no image given", "a.png"]),
    ({"a.png": {}, "A.png": {}}, ["names no image given"]),
    ([{"a.png": {}}], ["at the top level", "a mapping from image file names"]),
    ("{", ["not valid JSON"]),
])
def test_bad_annotation_files_name_file_image_field_and_value(tmp_path, images, content,
                                                             fragments):
    message = _bad(tmp_path, images, content)
    for fragment in fragments:
        assert fragment in message, message


def test_annotation_file_errors_about_masks_and_names(tmp_path, images):
    _mask_png(tmp_path / "small.png", np.zeros((10, 12), np.uint8))
    msg = _bad(tmp_path, images, {"a.png": {"mask": "small.png"}})
    assert "a.png: mask: 12x10" in msg and "small.png" in msg and "the image is 32x24" in msg
    _mask_png(tmp_path / "rgb.png", np.zeros((H, W, 3), np.uint8))
    msg = _bad(tmp_path, images, {"a.png": {"mask": "rgb.png"}})
    assert "rgb.png: RGB image with 3 channel(s)" in msg and "single-channel" in msg
    msg = _bad(tmp_path, images, {"a.png": {}, images[0]: {}})
    assert "annotated twice" in msg and "'a.png'" in msg
    msg = _bad(tmp_path, images, "a.png: [\n", "ann.yaml")
    assert "not valid YAML" in msg
    msg = _bad(tmp_path, images, "{}", "ann.txt")
    assert ".yaml, .yml or .json" in msg
    same = images + [images[1].replace("sub", "")]  # another b.png
    Image.fromarray(IMG).save(same[2])
    path = _write(tmp_path, {"b.png": {}})
    with pytest.raises(InputError, match="matches several images"):
        load(path, same)
    with pytest.raises(InputError, match="cannot read annotation file .No such file"):
        load(str(tmp_path / "nope.json"), images)
    with pytest.raises(InputError, match="images.0. is not a path"):
        render_grid(IMG, augkit.Pipeline([]), n=1, annotations=path)


def test_images_without_annotations_are_drawn_without_overlays(tmp_path, images):
    path = _write(tmp_path, {"a.png": {"bboxes": [[1, 1, 9, 9]]}})
    pipeline = augkit.Pipeline.default()
    drawn = render_grid(images, pipeline, n=2, tile_size=TILE, annotations=path)
    plain = render_grid(images, pipeline, n=2, tile_size=TILE)
    row = GAP + H * K  # the first row's tiles end here; the second row has no annotations
    assert not np.array_equal(drawn[:row], plain[:row])
    assert np.array_equal(drawn[row:], plain[row:])


# -- the bundled sample ------------------------------------------------------------------------
def test_bundled_annotation_fits_the_bundled_image():
    [ann] = load("sample", [sample_path()])
    image = sample_image()
    resolved = ann.resolved(*image.shape[:2], "pascal_voc")
    assert resolved.mask.shape == image.shape[:2]
    assert set(np.unique(ann.mask).tolist()) == {0, 1, 2, 3}
    boxes = ann.pixel_boxes(*image.shape[:2])
    assert len(boxes) == len(ann.bbox_labels) == 3
    x, y = ann.keypoints[:, 0], ann.keypoints[:, 1]
    assert np.all((x >= 0) & (x < image.shape[1]) & (y >= 0) & (y < image.shape[0]))
    assert len(ann.keypoint_labels) == len(ann.keypoints)
    for (x0, y0, x1, y1), label in zip(boxes, ann.bbox_labels):  # the face holds the eyes
        if label == "face":
            assert np.all((x > x0) & (x < x1) & (y > y0) & (y < y1))
    assert sample_file().endswith("astronaut.json")


def test_bundled_annotation_is_converted_to_the_pipeline_box_format():
    coco = augkit.Pipeline([], targets={"bbox_format": "coco"})
    voc = augkit.Pipeline([])
    drawn = render_grid(None, coco, n=1, tile_size=96, annotations="sample")
    assert np.array_equal(drawn, render_grid(None, voc, n=1, tile_size=96,
                                             annotations="sample"))
    with pytest.raises(InputError, match="bundled sample image"):
        load("sample", ["elsewhere/chelsea.png"])


# -- the command line --------------------------------------------------------------------------
def _run(*args):
    return CliRunner().invoke(cli, list(args))


def test_cli_draws_an_annotation_file(tmp_path, images):
    path = _write(tmp_path, {"b.png": {"bboxes": [[2, 2, 20, 14]], "bbox_labels": ["x"]}})
    out = tmp_path / "p.png"
    result = _run("preview", *images, "--n", "2", "--tile-size", "64", "--annotations", path,
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"annotations: {path})")
    expected = render_grid(images, augkit.Pipeline.default(), n=2, tile_size=64,
                           annotations=path)
    assert np.array_equal(read_image(out), expected)


def test_cli_bad_annotation_file_is_one_line_and_writes_nothing(tmp_path, images):
    path = _write(tmp_path, {"c.png": {}})
    out = tmp_path / "p.png"
    result = _run("preview", *images, "--annotations", path, "--out", str(out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("augkit: error: ")
    assert "'c.png' names no image given" in lines[0]
    assert not out.exists()


def test_cli_bundled_sample_annotations(tmp_path):
    out = tmp_path / "p.png"
    result = _run("preview", "--annotations", "sample", "--n", "2", "--tile-size", "96",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    expected = render_grid(None, augkit.Pipeline.default(), n=2, tile_size=96,
                           annotations="sample")
    assert np.array_equal(read_image(out), expected)
    assert not np.array_equal(expected, render_grid(None, n=2, tile_size=96))
    sheet = tmp_path / "s.png"
    result = _run("preview", "--annotations", "sample", "--sheet", "--tile-size", "64",
                  "--out", str(sheet))
    assert result.exit_code == 0 and sheet.exists()


def test_cli_tf_backend_draws_the_same_targets(tmp_path):
    outs = {}
    for backend in ("cv", "tf"):
        outs[backend] = tmp_path / f"{backend}.png"
        result = _run("preview", "--annotations", "sample", "--n", "2", "--tile-size", "96",
                      "--backend", backend, "--out", str(outs[backend]))
        assert result.exit_code == 0, result.output
    cv, tf = read_image(outs["cv"]).astype(int), read_image(outs["tf"]).astype(int)
    assert np.abs(cv - tf).max() <= 1  # the backends agree to a level; the marks exactly


def test_cv_preview_with_annotations_does_not_import_tensorflow(tmp_path):
    code = """
        import sys
        from augkit.cli import main
        try:
            main(["preview", "--annotations", "sample", "--n", "1", "--tile-size", "64"])
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        print("HEAVY:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stdout
    assert (tmp_path / "preview.png").exists()
