"""Preview PNGs: see what a pipeline does before training on it.

Two pictures, both plain ``uint8`` RGB arrays you can also show in a notebook:

* :func:`render_grid` — each image followed by ``n`` augmented variants. Variant ``j`` is the
  pipeline applied with ``seed`` and sample index ``j``, exactly what sample ``j`` of a data set
  gets in epoch 0, so a preview is reproducible and column ``j`` shows the same random draws for
  every image.
* :func:`render_sheet` — one row per op of the pipeline, that op alone with its random ranges
  pinned at the low end, the middle and the high end (``op.pinned(t)`` for t = 0, 0.5, 1), to
  check that the ranges are what you meant.

Augmentation runs at the image's full resolution (so ops with pixel-valued parameters look as
they will in training) and only the finished tiles are scaled for display: larger ones down to
``tile_size`` pixels on the long side (area filter), smaller ones up by a whole factor with nearest
neighbour, so a 32×32 CIFAR image shows its real pixels instead of an interpolated blur.

With ``annotations`` (per image a mask, boxes and keypoints, or an annotation file:
:mod:`augkit.annotations`), each variant's targets come out of the same
``pipeline.augment`` call as its pixels, and are drawn over the tiles after display scaling
(:mod:`augkit._overlay`); the pixels are the ones a preview without annotations shows.

Example:
    >>> import augkit.preview, augkit.io
    >>> grid = augkit.preview.render_grid([augkit.io.sample_image()], n=3)
    >>> grid.dtype, grid.ndim
    (dtype('uint8'), 3)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

from augkit import _preview_targets as _targets
from augkit._canvas import GAP, LINE_HEIGHT, compose, to_uint8  # noqa: F401 (layout constants)
from augkit.annotations import Annotation
from augkit.errors import InputError, SpecError
from augkit.io import read_image, sample_image, write_png

__all__ = ["describe_pipeline", "render_grid", "render_sheet", "write_preview"]

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]
#: Per image a mapping of targets (or an Annotation, or None), one mapping for a single image,
#: or the path of an annotation file (or "sample").
Annotations = Union[Sequence[Any], Mapping, Annotation, str, "os.PathLike[str]", None]

#: Sheet columns: positions in each op's ranges (low end, middle, high end).
SHEET_POINTS = (0.0, 0.5, 1.0)

# Bound on one apply() call's batch; results do not depend on it (draws depend on index only).
_CHUNK_BYTES = 64 << 20


def render_grid(
    images: Sequence[ImageLike] | ImageLike | None = None,
    pipeline: Any = None,
    *,
    n: int = 16,
    seed: int = 0,
    backend: str = "cv",
    tile_size: int = 256,
    columns: int | None = None,
    annotations: Annotations = None,
) -> np.ndarray:
    """Render originals and augmented variants as one labelled grid.

    Args:
        images: Image arrays (H×W×C, uint8 or float) or file paths; a single array or path is
            one image. ``None`` uses the bundled ``astronaut`` sample.
        pipeline: An :class:`augkit.Pipeline`; ``None`` uses ``augkit.Pipeline.default()``.
        n: Number of variants per image (sample indices ``0 .. n-1``).
        seed: Pipeline seed.
        backend: ``"cv"`` or ``"tf"``.
        tile_size: Display size of each tile's long side, in pixels (see the module docstring).
        columns: Tiles per row for a single image; default about square. With several images
            there is always one row per image.
        annotations: Targets to draw: per image ``None`` or a mapping with the keys of the
            per-sample call (``mask``, ``bboxes``, ``bbox_labels``, ``keypoints``,
            ``keypoint_labels``; boxes in the pipeline's ``targets.bbox_format``), a single
            mapping for a single image, or the path of an annotation file keyed by image
            file name (``"sample"``: the bundled sample's). See ``docs/preview.md``.

    Returns:
        The grid as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        InputError: An image cannot be read, the pipeline rejects it, or an annotation is
            invalid (the message names the file or ``annotations[i]``, the field and value).
        SpecError: An op does not support a target given.
        ValueError: ``n``, ``tile_size`` or ``columns`` is out of range.
    """
    _check_positive(n=n, tile_size=tile_size)
    pipeline = _pipeline(pipeline)
    sources = _load(images)
    anns = _targets.resolve(annotations, images, sources, pipeline)
    palette = _targets.palette(anns)
    rows: list[list[tuple]] = []
    for image, ann in zip(sources, anns):
        variants, drawn = _augment(pipeline, image, n, seed, backend, ann)
        original = _original(pipeline, image)
        tiles = [_targets.cell(original, "original", _targets.original_marks(ann, image),
                               palette)]
        tiles += [_targets.cell(variants[j], f"seed {seed} #{j}", drawn[j], palette)
                  for j in range(n)]
        rows.append(tiles)
    if len(rows) == 1:
        cells = rows[0]
        if columns is None:
            columns = math.ceil(math.sqrt(len(cells)))
        _check_positive(columns=columns)
        rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    return compose(rows, tile_size)


def render_sheet(
    images: Sequence[ImageLike] | ImageLike | None = None,
    pipeline: Any = None,
    *,
    seed: int = 0,
    backend: str = "cv",
    tile_size: int = 256,
    points: Sequence[float] = SHEET_POINTS,
    annotations: Annotations = None,
) -> np.ndarray:
    """Render each op of a pipeline alone, pinned at points of its parameter ranges.

    Each op becomes ``augkit.Pipeline([op.pinned(t)], ...)`` with the pipeline's ``fill_mode``,
    ``cval``, ``interpolation`` and ``value_range``, applied with ``seed`` and sample index 0.
    Row label: the op name; column label: the pinned parameter values.

    Args:
        images: As in :func:`render_grid`; several images give one block of rows each.
        pipeline: An :class:`augkit.Pipeline`; ``None`` uses ``augkit.Pipeline.default()``.
        seed: Pipeline seed (matters only for randomness a range does not pin, e.g. noise).
        backend: ``"cv"`` or ``"tf"``.
        tile_size: Display size of each tile's long side, in pixels.
        points: Positions ``t`` in [0, 1] within each range; default low, middle, high.
        annotations: Targets to draw, as in :func:`render_grid`.

    Returns:
        The sheet as a ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        InputError: An image cannot be read, an op rejects it or an annotation is invalid.
        SpecError: The pipeline has no ops, or an op does not support a target given.
        ValueError: ``tile_size`` or ``points`` are out of range.
    """
    _check_positive(tile_size=tile_size)
    pipeline = _pipeline(pipeline)
    ops = list(pipeline.ops)
    if not ops:
        raise SpecError("ops: the pipeline has no ops; a sheet shows one row per op")
    for t in points:
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"sheet points must be in [0, 1], got {t!r}")
    import augkit

    settings = _settings(pipeline)
    pinned = [[op.pinned(float(t)) for t in points] for op in ops]
    singles = [[augkit.Pipeline([p], **settings) for p in row] for row in pinned]
    sources = _load(images)
    anns = _targets.resolve(annotations, images, sources, pipeline)
    palette = _targets.palette(anns)
    rows: list[list[tuple]] = []
    row_labels: list[str] = []
    for image, ann in zip(sources, anns):
        original = _targets.cell(_original(pipeline, image), "original",
                                 _targets.original_marks(ann, image), palette)
        for op, row_ops, row_pipes in zip(ops, pinned, singles):
            tiles = [original]
            for p_op, single in zip(row_ops, row_pipes):
                variant, drawn = _augment(single, image, 1, seed, backend, ann)
                tiles.append(_targets.cell(variant[0], _short(p_op), drawn[0], palette))
            rows.append(tiles)
            row_labels.append(f"{op.name}, p={op.p:g}")
    return compose(rows, tile_size, row_labels=row_labels)


def write_preview(
    out: str | os.PathLike[str] = "preview.png",
    images: Sequence[ImageLike] | ImageLike | None = None,
    pipeline: Any = None,
    *,
    sheet: bool = False,
    n: int = 16,
    seed: int = 0,
    backend: str = "cv",
    tile_size: int = 256,
    annotations: Annotations = None,
) -> np.ndarray:
    """Render a grid (or, with ``sheet=True``, a range sheet) and write it as a PNG.

    The file is written atomically: an interrupted run never leaves a half-written PNG.

    Args:
        out: Destination PNG path.
        images: As in :func:`render_grid`.
        pipeline: As in :func:`render_grid`.
        sheet: Render :func:`render_sheet` instead of :func:`render_grid`.
        n: Variants per image (grid only).
        seed: Pipeline seed.
        backend: ``"cv"`` or ``"tf"``.
        tile_size: Display size of each tile's long side, in pixels.
        annotations: Targets to draw, as in :func:`render_grid`.

    Returns:
        The rendered ``uint8`` array that was written.

    Example:
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "preview.png")
        >>> write_preview(out, n=2).shape[2]
        3
    """
    if sheet:
        picture = render_sheet(images, pipeline, seed=seed, backend=backend, tile_size=tile_size,
                               annotations=annotations)
    else:
        picture = render_grid(
            images, pipeline, n=n, seed=seed, backend=backend, tile_size=tile_size,
            annotations=annotations,
        )
    write_png(out, picture)
    return picture


def describe_pipeline(pipeline: Any) -> str:
    """A short one-line description of a pipeline's ops, e.g. ``"rotate, translate, zoom"``."""
    names = [op.name for op in pipeline.ops]
    return ", ".join(names) if names else "no ops"


# -- inputs and augmentation ---------------------------------------------------------------------
def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _pipeline(pipeline: Any) -> Any:
    if pipeline is not None:
        return pipeline
    import augkit

    return augkit.Pipeline.default()


def _load(images: Any) -> list[np.ndarray]:
    if images is None:
        return [sample_image()]
    if isinstance(images, (str, os.PathLike)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        images = [images]
    loaded = []
    for item in images:
        if isinstance(item, (str, os.PathLike)):
            loaded.append(read_image(item))
            continue
        array = np.asarray(item)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
            raise InputError(
                f"preview image has shape {array.shape}; allowed: (H, W) or (H, W, C) "
                "with C in (1, 3, 4)"
            )
        loaded.append(array)
    if not loaded:
        raise InputError("no images to preview")
    return loaded


def _original(pipeline: Any, image: np.ndarray) -> np.ndarray:
    """The input image for display: floats mapped from the pipeline's declared value range."""
    if image.dtype == np.uint8:
        return image
    return to_uint8(image, tuple(getattr(pipeline, "value_range", (0.0, 1.0))))


def _settings(pipeline: Any) -> dict[str, Any]:
    names = ("fill_mode", "cval", "interpolation", "value_range", "targets")
    return {k: getattr(pipeline, k) for k in names if hasattr(pipeline, k)}


def _augment(pipeline: Any, image: np.ndarray, n: int, seed: int, backend: str,
             ann: Annotation | None = None) -> tuple[list, list]:
    """``n`` variants of one image as display-ready uint8 arrays, and their marks.

    The copies get sample indices 0..n-1 and are augmented in chunks of bounded memory; the
    result does not depend on the chunking because draws depend on the index only. With an
    annotation, ``pipeline.augment`` moves the targets in the call that makes the pixels
    (which are those ``pipeline.apply`` makes: targets never change the image).
    """
    per_copy = max(1, image.nbytes) * 4  # working space of float kernels
    chunk = max(1, min(n, _CHUNK_BYTES // per_copy))
    out_range = _output_range(pipeline, image)
    variants: list[np.ndarray] = []
    drawn: list = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        batch = np.repeat(image[None], stop - start, axis=0)
        index = np.arange(start, stop)
        if ann is None:
            out, _ = pipeline.apply(batch, seed=seed, backend=backend, index=index)
            drawn += [None] * (stop - start)
        else:
            result = pipeline.augment(batch, seed=seed, backend=backend, index=index,
                                      **_targets.batch_targets(ann, stop - start))
            out = result["images"]
            drawn += _targets.variant_marks(result, ann, stop - start,
                                            pipeline.targets.bbox_format)
        variants.extend(to_uint8(v, out_range) for v in np.asarray(out))
    return variants, drawn


def _output_range(pipeline: Any, image: np.ndarray) -> tuple[float, float] | None:
    """The range the pipeline guarantees for its output on this input, when it is finite."""
    dtype = "uint8" if image.dtype == np.uint8 else "float32"
    try:
        lo, hi = pipeline.output_range(dtype)
    except (AttributeError, TypeError, ValueError):
        return None
    return (float(lo), float(hi)) if math.isfinite(lo) and math.isfinite(hi) and hi > lo else None


# -- labels --------------------------------------------------------------------------------------
def _short(op: Any) -> str:
    """Column label of a pinned op: its non-default parameters, pinned ranges as one number.

    ``p`` is shown when it is not 1 or is the only parameter (a flip pinned low is ``p=0``).
    """
    d = op.to_dict()
    decls = getattr(type(op), "params", {})
    parts = []
    for key, value in d.items():
        if key in ("op", "p") or value is None:
            continue
        decl = decls.get(key)
        is_range = key.endswith("_range")
        if not is_range and decl is not None and _same(value, decl.default):
            continue
        if is_range and isinstance(value, (list, tuple)) and len(value) == 2:
            if value[0] == value[1]:
                value = value[0]
            key = key[: -len("_range")]
        parts.append(f"{key}={_fmt(value)}")
    p = d.get("p", 1.0)
    if p != 1.0 or not parts:
        parts.append(f"p={_fmt(float(p))}")
    return ", ".join(parts)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        shown = ",".join(_fmt(v) for v in value[:4])
        return f"[{shown}{',..' if len(value) > 4 else ''}]"
    return str(value)
