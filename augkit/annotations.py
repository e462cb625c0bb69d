"""Annotations to draw over previews: per image a mask, boxes and keypoints, with labels.

Two ways in, one validated result (:class:`Annotation`):

* Python: a mapping per image with the keyword names of the per-sample call
  (``mask``, ``bboxes``, ``bbox_labels``, ``keypoints``, ``keypoint_labels``), see :func:`coerce`;
* a JSON or YAML file keyed by image file name (``augkit preview --annotations FILE``), see
  :func:`load`; the word ``sample`` names the annotations bundled for the sample image.

The file format (``docs/preview.md``, section "Annotations")::

    {"cat.jpg": {"bboxes": [[10, 20, 50, 60]], "bbox_labels": ["cat"],
                 "keypoints": [[30, 32], [41, 33]], "keypoint_labels": ["eye", "eye"],
                 "mask": "masks/cat.png"}}

Keys are the image paths as given or their file names; boxes are in the pipeline's
``bbox_format``; keypoints are ``(x, y)`` pixel indices (or ``(x, y, visibility)``); ``mask`` is
a single-channel image of class ids (grey or palette PNG), relative to the annotation file.
Every problem is an :class:`augkit.errors.InputError` naming the file, the image key, the field,
the bad value and what is allowed.

Example:
    >>> from augkit.annotations import load
    >>> from augkit.io import sample_path
    >>> [ann] = load("sample", [sample_path()])
    >>> ann.bbox_labels
    ['face', 'shuttle', 'helmet']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from augkit.errors import InputError
from augkit.io import _DECODE_ERRORS, DEFAULT_MAX_PIXELS, check_pixels
from augkit.params import _is_number, closest, short_repr
from augkit.spec import SUFFIXES as _DATA_SUFFIXES
from augkit.spec import read_data
from augkit.targets import SAMPLE_KEYS

__all__ = ["KEYS", "SAMPLE", "SUFFIXES", "Annotation", "coerce", "load", "sample_file"]

#: The fields of one image's annotation (the per-sample call's keyword names).
KEYS = SAMPLE_KEYS
#: ``load(SAMPLE, ...)`` reads the annotations bundled for the ``astronaut`` sample image.
SAMPLE = "sample"
#: Suffixes of annotation files (those of pipeline files: one reader,
#: :func:`augkit.spec.read_data`, reads both).
SUFFIXES = _DATA_SUFFIXES

_COLUMNS = {"bboxes": (4,), "keypoints": (2, 3)}
_WHAT = {"bboxes": "4 numbers per box, in the pipeline's bbox_format",
         "keypoints": "2 numbers (x, y) or 3 (x, y, visibility) per keypoint"}
_EXAMPLE = '{"cat.jpg": {"bboxes": [[10, 20, 50, 60]], "bbox_labels": ["cat"]}}'


@dataclass(frozen=True, eq=False)
class Annotation:
    """One image's targets, checked for shape and counts.

    Attributes:
        mask: ``(H, W)`` or ``(H, W, K)`` integer or bool class map, or ``None``.
        bboxes: ``(B, 4)`` float64 boxes in ``bbox_format``, or ``None``.
        bbox_labels: one label per box (any values), or ``None``.
        keypoints: ``(K, 2)`` or ``(K, 3)`` float64 keypoints, or ``None``.
        keypoint_labels: one label per keypoint, or ``None``.
        bbox_format: the boxes' format; ``None`` means the pipeline's ``targets.bbox_format``.
        where: where the annotation came from, the prefix of error messages.
        mask_source: the file the mask was read from, for messages.
    """

    mask: np.ndarray | None = None
    bboxes: np.ndarray | None = None
    bbox_labels: list | None = None
    keypoints: np.ndarray | None = None
    keypoint_labels: list | None = None
    bbox_format: str | None = None
    where: str = "annotation"
    mask_source: str | None = None

    def resolved(self, height: int, width: int, bbox_format: str) -> Annotation:
        """The annotation checked against a ``height`` × ``width`` image, boxes in
        ``bbox_format`` (converted from :attr:`bbox_format` when that is set).

        Raises:
            InputError: the mask's size differs from the image's, or a box has no area or
                reaches outside the image.
        """
        from augkit.kernels.cv import NP
        from augkit.targets.formats import from_pascal_voc

        if self.mask is not None and self.mask.shape[:2] != (height, width):
            mh, mw = self.mask.shape[:2]
            source = f" ({self.mask_source})" if self.mask_source else ""
            raise InputError(f"{self.where}: mask: {mw}x{mh}{source} but the image is "
                             f"{width}x{height}; allowed: a mask of the image's size")
        boxes = self.bboxes
        if boxes is not None and len(boxes):
            own = self.bbox_format or bbox_format
            px = self.pixel_boxes(height, width, own)
            if own != bbox_format:
                boxes = from_pascal_voc(NP, px, bbox_format, height, width).astype(np.float64)
        return replace(self, bboxes=boxes, bbox_format=bbox_format)

    def pixel_boxes(self, height: int, width: int, bbox_format: str | None = None) -> np.ndarray:
        """The boxes as pixel corners ``(x_min, y_min, x_max, y_max)``, checked and clipped.

        Args:
            height: image height.
            width: image width.
            bbox_format: the boxes' format; default :attr:`bbox_format` or ``pascal_voc``.
        """
        from augkit.targets.cv import check_boxes

        fmt = bbox_format or self.bbox_format or "pascal_voc"
        if self.bboxes is None or not len(self.bboxes):
            return np.zeros((0, 4), np.float32)
        return check_boxes(self.bboxes, None, fmt, height, width, name=f"{self.where}: bboxes")

    def is_empty(self) -> bool:
        """Whether nothing is annotated (no mask, no box, no keypoint)."""
        return (self.mask is None and (self.bboxes is None or not len(self.bboxes))
                and (self.keypoints is None or not len(self.keypoints)))


# -- Python values ------------------------------------------------------------------------------
def coerce(value: Any, where: str = "annotation") -> Annotation | None:
    """An :class:`Annotation` from ``None``, an :class:`Annotation` or a mapping of :data:`KEYS`.

    Args:
        value: the annotation of one image.
        where: prefix of error messages (e.g. ``"annotations[2]"``).

    Raises:
        InputError: an unknown key, a wrongly shaped or non-finite array, labels without
            their boxes or keypoints, or a label count that differs from the box/keypoint count.

    Example:
        >>> ann = coerce({"bboxes": [[0, 0, 4, 4]], "bbox_labels": ["dog"]})
        >>> ann.bboxes.shape, ann.bbox_labels
        ((1, 4), ['dog'])
    """
    if value is None or isinstance(value, Annotation):
        return value
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: got {short_repr(value)}; allowed: a mapping with keys "
                         f"{', '.join(KEYS)}, or None")
    for key in value:
        if key not in KEYS:
            raise InputError(f"{where}: unknown key {short_repr(key)}{closest(str(key), KEYS)} "
                             f"(allowed: {', '.join(KEYS)})")
    fields: dict[str, Any] = {"where": where}
    if value.get("mask") is not None:
        fields["mask"] = _mask_array(value["mask"], f"{where}: mask")
    for key, of in (("bboxes", "bbox_labels"), ("keypoints", "keypoint_labels")):
        coords, labels = value.get(key), value.get(of)
        if labels is not None and coords is None:
            raise InputError(f"{where}: {of}: given without {key}; allowed: labels with the "
                             f"{key} they label")
        if coords is None:
            continue
        fields[key] = _coordinates(coords, key, where)
        if labels is not None:
            fields[of] = _labels(labels, len(fields[key]), of, key, where)
    return Annotation(**fields)


def _mask_array(value: Any, where: str) -> np.ndarray:
    m = np.asarray(value)
    if m.ndim not in (2, 3) or 0 in m.shape:
        raise InputError(f"{where}: shape {m.shape}; allowed: (H, W) or (H, W, K) class ids")
    if m.dtype.kind not in "biu":
        raise InputError(f"{where}: dtype {m.dtype}; allowed: integer or bool class ids")
    return m


def _coordinates(value: Any, key: str, where: str) -> np.ndarray:
    columns = _COLUMNS[key]
    if isinstance(value, np.ndarray):
        rows = list(value) if value.ndim == 2 else None
        if value.ndim == 1 and value.size == 0:
            rows = []
    else:
        rows = list(value) if isinstance(value, (list, tuple)) else None
    if rows is None:
        raise InputError(f"{where}: {key}: got {short_repr(value)}; allowed: a list of "
                         f"{_WHAT[key]}")
    for k, row in enumerate(rows):
        row_list = list(row) if isinstance(row, (list, tuple, np.ndarray)) else None
        if row_list is None or len(row_list) not in columns \
                or not all(_is_number(v) for v in row_list):
            raise InputError(f"{where}: {key}[{k}]: got {short_repr(_plain(row))}; allowed: "
                             f"{_WHAT[key]} (finite numbers)")
    if len({len(r) for r in rows}) > 1:
        raise InputError(f"{where}: {key}: rows of {sorted({len(r) for r in rows})} numbers; "
                         f"allowed: the same count in every row")
    width = len(rows[0]) if rows else columns[0]
    return np.asarray(rows, np.float64).reshape(len(rows), width)


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _labels(value: Any, count: int, key: str, of: str, where: str) -> list:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
        raise InputError(f"{where}: {key}: got {short_repr(value)}; allowed: a list with one "
                         f"label per entry of {of}")
    labels = list(value)
    if len(labels) != count:
        raise InputError(f"{where}: {key}: {len(labels)} labels for {count} {of}; allowed: "
                         f"one label per entry of {of}")
    return labels


# -- files --------------------------------------------------------------------------------------
def sample_file() -> str:
    """Path of the annotation file bundled for the ``astronaut`` sample image."""
    return os.fspath(resources.files("augkit") / "data" / "annotations" / "astronaut.json")


def load(path: str | os.PathLike[str], images: Sequence[str | os.PathLike[str]], *,
         max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[Annotation | None]:
    """Read an annotation file for ``images``: one :class:`Annotation` (or ``None``) each.

    Args:
        path: a ``.json``, ``.yaml`` or ``.yml`` file, or :data:`SAMPLE` for the annotations
            bundled for the sample image (boxes in ``pascal_voc``, converted to the pipeline's
            format when drawn).
        images: the image paths, as given; a key of the file matches an image by that path
            or by its file name.
        max_pixels: refuse mask files with more pixels (checked before decoding).

    Returns:
        A list aligned with ``images``; ``None`` for an image the file does not mention.

    Raises:
        InputError: an unreadable or invalid file, a key naming no image given (or several
            with the same file name), an image named twice, an invalid entry or mask file.
    """
    bundled = os.fspath(path) == SAMPLE
    name = sample_file() if bundled else os.fspath(path)
    data = read_data(name, what="annotation file", error=InputError)
    if data is None:
        raise InputError(f"{name}: the file is empty; allowed: a mapping from image file names "
                         f"to annotations, e.g. {_EXAMPLE}")
    if not isinstance(data, dict):
        raise InputError(f"{name}: got {short_repr(type(data).__name__)} at the top level; "
                         f"allowed: a mapping from image file names to annotations, e.g. "
                         f"{_EXAMPLE}")
    names = [os.fspath(i) for i in images]
    result: list[Annotation | None] = [None] * len(names)
    claimed: dict[int, str] = {}
    base = os.path.dirname(name)
    for key, entry in data.items():
        if not isinstance(key, str):
            raise InputError(f"{name}: key {short_repr(key)}: allowed: image file names "
                             f"(strings)")
        where = f"{name}: {key}"
        try:
            indices = _match(key, names, name)
        except InputError:
            if not bundled:
                raise
            raise InputError(f"annotations {SAMPLE!r} are those of the bundled sample image "
                             f"({key}), which is not among the images; allowed: no IMAGE "
                             f"arguments (the sample is used), or an annotation file of your "
                             f"own") from None
        ann = _entry(entry, where, base, max_pixels)
        if bundled:
            ann = replace(ann, bbox_format="pascal_voc")
        for i in indices:
            if i in claimed:
                raise InputError(f"{name}: {names[i]} is annotated twice, by keys "
                                 f"{claimed[i]!r} and {key!r}; allowed: one key per image")
            claimed[i] = key
            result[i] = ann
    return result


def _match(key: str, names: list[str], source: str) -> list[int]:
    """The images a key names: by the path as given, else by file name (unambiguous)."""
    norm = os.path.normpath(key)
    exact = [i for i, n in enumerate(names) if os.path.normpath(n) == norm]
    if exact:
        return exact
    by_name = [i for i, n in enumerate(names) if os.path.basename(n) == key]
    if len({os.path.normpath(names[i]) for i in by_name}) > 1:
        paths = ", ".join(sorted({names[i] for i in by_name}))
        raise InputError(f"{source}: key {key!r} matches several images ({paths}); allowed: "
                         f"the image's path as given, to tell them apart")
    if not by_name:
        shown = ", ".join(short_repr(os.path.basename(n), 60) for n in names[:5])
        shown += ", ..." if len(names) > 5 else ""
        near = closest(key, [os.path.basename(n) for n in names])
        raise InputError(f"{source}: key {key!r} names no image given (images: {shown}); "
                         f"allowed: an image's path as given or its file name{near}")
    return by_name


def _entry(entry: Any, where: str, base: str, max_pixels: int | None) -> Annotation:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: got {short_repr(entry)}; allowed: a mapping with keys "
                         f"{', '.join(KEYS)}")
    for key in ("bbox_labels", "keypoint_labels"):
        labels = entry.get(key)
        for k, label in enumerate(labels if isinstance(labels, list) else []):
            if isinstance(label, bool) or not isinstance(label, (str, int, float)):
                raise InputError(f"{where}: {key}[{k}]: got {short_repr(label)}; allowed: a "
                                 f"string or a number")
    fields = dict(entry)
    source = None
    if "mask" in fields:
        mask = fields["mask"]
        if not isinstance(mask, str) or not mask:
            raise InputError(f"{where}: mask: got {short_repr(mask)}; allowed: the path of a "
                             f"single-channel image of class ids, relative to the annotation "
                             f"file")
        source = os.path.join(base, mask)
        fields["mask"] = _read_mask(source, f"{where}: mask", max_pixels)
    return replace(coerce(fields, where), mask_source=source)


def _read_mask(name: str, where: str, max_pixels: int | None) -> np.ndarray:
    """A class-id image as an integer array: grey (8/16/32-bit), palette indices or 1-bit."""
    if not os.path.isfile(name):
        raise InputError(f"{where}: {name}: no such file")
    try:
        with Image.open(name) as image:
            check_pixels(f"{where}: {name}", image.size, max_pixels)
            image.load()
            mode = image.mode
            if mode not in ("L", "P", "1", "I") and not mode.startswith("I;16"):
                raise InputError(f"{where}: {name}: {mode} image with {len(image.getbands())} "
                                 f"channel(s); allowed: a single-channel image of class ids "
                                 f"(8- or 16-bit grey, or palette indices)")
            array = np.array(image)
    except InputError:
        raise
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        raise InputError(f"{where}: {name}: not a readable image ({exc})") from None
    if array.dtype == np.bool_:
        return array.astype(np.uint8)
    if mode.startswith("I;16"):
        return array.astype(np.uint16)
    return array if mode != "I" else array.astype(np.int32)

