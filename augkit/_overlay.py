"""Targets drawn over preview tiles: masks, boxes with their labels, keypoints.

Everything is drawn on the tile *after* display scaling (:func:`augkit._canvas.display`), with
coordinates scaled by the tile's display factor, so lines are 1–2 px whatever the image size:

* a mask as a semi-transparent colour per class (class 0, background, is not drawn), the mask
  scaled with nearest neighbour to the tile's display size;
* a box as a rectangle drawn inward from its edges, and its label (when there are labels) on a
  strip of the box's colour above its top-left corner (inside the box when there is no room);
* a keypoint as a filled disc with a dark rim; a keypoint whose visibility is 0 (flagged
  outside by ``keypoint_mode="flag"``, or given so) as a cross of the same colour.

Colours come from one fixed palette (:data:`PALETTE`): mask class ``k`` and integer labels
``k`` take ``PALETTE[k % 12]``; other labels (names) take colours from the end of the palette in
their sorted order; unlabelled boxes and keypoints the colour of their position in the
annotation. So a label has one colour in every tile of a picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: RGB colours of classes and labels, picked to differ from each other and from skin and sky.
PALETTE = (
    (230, 25, 75),    # red
    (60, 180, 75),    # green
    (0, 130, 200),    # blue
    (145, 30, 180),   # purple
    (0, 128, 128),    # teal
    (170, 110, 40),   # brown
    (245, 130, 48),   # orange
    (240, 50, 230),   # magenta
    (210, 245, 60),   # lime
    (70, 240, 240),   # cyan
    (255, 225, 25),   # yellow
    (0, 0, 128),      # navy
)
#: Opacity of mask colours over the image.
MASK_ALPHA = 0.45

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.35
_RIM = (0, 0, 0)


@dataclass(frozen=True)
class Marks:
    """Targets of one tile in its source pixel frame, ready to draw.

    Attributes:
        height: the tile's height in source pixels (the image the targets belong to).
        width: its width.
        mask: ``(H, W)`` class ids, or ``None``.
        boxes: ``(B, 4)`` pixel corners ``(x_min, y_min, x_max, y_max)``.
        box_keys: per box, the key of its colour (its label, or its position).
        box_text: per box, the text drawn with it, or ``None`` for no text.
        points: ``(K, 2)`` keypoints, pixel indices ``(x, y)``.
        point_keys: per keypoint, the key of its colour.
        point_visible: ``(K,)`` bool; ``False`` is drawn as a cross.
    """

    height: int
    width: int
    mask: np.ndarray | None
    boxes: np.ndarray
    box_keys: list
    box_text: list[str] | None
    points: np.ndarray
    point_keys: list
    point_visible: np.ndarray


def _is_int(key: Any) -> bool:
    return isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_))


class Palette:
    """Label → colour for one picture (see the module docstring)."""

    def __init__(self, labels: Iterable[Any] = ()) -> None:
        names = sorted({str(v) for v in labels if not _is_int(v)})
        self._rank = {name: r for r, name in enumerate(names)}

    def colour(self, key: Any) -> tuple[int, int, int]:
        """The RGB colour of a label, mask class or position."""
        n = len(PALETTE)
        if _is_int(key):
            return PALETTE[int(key) % n]
        return PALETTE[(n - 1 - self._rank.get(str(key), 0)) % n]


# -- targets to marks ------------------------------------------------------------------------------
def class_map(mask: np.ndarray) -> np.ndarray:
    """A mask as one ``(H, W)`` map of class ids: ``(H, W, K)`` masks give class ``k + 1``
    where channel ``k`` is non-zero (later channels on top); bool masks give class 1."""
    m = np.asarray(mask)
    if m.ndim == 3:
        out = np.zeros(m.shape[:2], np.int64)
        for k in range(m.shape[2]):
            out[m[:, :, k] != 0] = k + 1
        return out
    return m.astype(np.int64) if m.dtype == np.bool_ else m


def _text(label: Any) -> str:
    return str(label.tolist() if isinstance(label, np.ndarray) else label)


def marks(height: int, width: int, mask: Any, boxes: Any, box_labels: Any, points: Any,
          point_labels: Any, box_pos: Any = None, point_pos: Any = None) -> Marks:
    """:class:`Marks` from pixel boxes and keypoints.

    Args:
        height, width: the tile's size in source pixels.
        mask: class map or ``None``.
        boxes: ``(B, 4)`` pixel corners, or ``None``.
        box_labels: per box, the user's label, or ``None`` (no text, colour by position).
        points: ``(K, 2)`` or ``(K, 3)`` keypoints (the third column is the visibility).
        point_labels: per keypoint, the user's label, or ``None`` (colour by position).
        box_pos, point_pos: each one's position in the annotation (default: in order), the
            colour of unlabelled ones, so a box keeps its colour when an earlier one drops.
    """
    boxes = np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32)
    pts = np.zeros((0, 2), np.float32) if points is None else np.asarray(points, np.float32)
    pts = pts.reshape(len(pts), pts.shape[-1] if pts.ndim == 2 else 2)
    visible = pts[:, 2] > 0 if pts.shape[1] == 3 else np.ones(len(pts), bool)

    def keys(labels: Any, pos: Any, n: int) -> list:
        if labels is not None:
            return list(labels)
        return [int(i) for i in pos] if pos is not None else list(range(n))

    return Marks(
        height=int(height), width=int(width),
        mask=None if mask is None else class_map(mask),
        boxes=boxes.reshape(-1, 4),
        box_keys=keys(box_labels, box_pos, len(boxes)),
        box_text=None if box_labels is None else [_text(v) for v in box_labels],
        points=pts[:, :2],
        point_keys=keys(point_labels, point_pos, len(pts)),
        point_visible=visible,
    )


# -- drawing ---------------------------------------------------------------------------------------
def scale_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a class map: output pixel ``i`` takes source pixel
    ``floor((i + 0.5) * H / height)`` (exact whole-factor repeats when enlarging)."""
    h, w = mask.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return mask[rows][:, cols]


def line_width(tile: np.ndarray) -> int:
    """Box line width in display pixels: 1 on tiles under 160 px, else 2."""
    return 1 if max(tile.shape[:2]) < 160 else 2


def point_radius(tile: np.ndarray) -> int:
    """Keypoint disc radius in display pixels: 2 on tiles under 160 px, else 3."""
    return 2 if max(tile.shape[:2]) < 160 else 3


def draw(tile: np.ndarray, m: Marks, palette: Palette) -> np.ndarray:
    """A copy of a displayed RGB tile with ``m`` drawn over it."""
    out = np.array(tile, np.uint8, order="C", copy=True)
    dh, dw = out.shape[:2]
    sx, sy = dw / m.width, dh / m.height
    if m.mask is not None:
        _draw_mask(out, scale_mask(m.mask, dh, dw), palette)
    t = line_width(out)
    corners = []
    for box, key in zip(m.boxes, m.box_keys):
        x0, y0 = int(np.floor(box[0] * sx + 0.5)), int(np.floor(box[1] * sy + 0.5))
        x1 = max(int(np.floor(box[2] * sx + 0.5)), x0 + 1)
        y1 = max(int(np.floor(box[3] * sy + 0.5)), y0 + 1)
        _rectangle(out, x0, y0, x1, y1, palette.colour(key), t)
        corners.append((x0, y0, x1))
    r = point_radius(out)
    for (x, y), key, visible in zip(m.points, m.point_keys, m.point_visible):
        cx, cy = int(np.floor((x + 0.5) * sx)), int(np.floor((y + 0.5) * sy))
        colour = palette.colour(key)
        if visible:
            cv2.circle(out, (cx, cy), r + 1, _RIM, -1, cv2.LINE_8)
            cv2.circle(out, (cx, cy), r, colour, -1, cv2.LINE_8)
        else:
            cv2.line(out, (cx - r - 1, cy - r - 1), (cx + r + 1, cy + r + 1), colour, 1,
                     cv2.LINE_8)
            cv2.line(out, (cx - r - 1, cy + r + 1), (cx + r + 1, cy - r - 1), colour, 1,
                     cv2.LINE_8)
    if m.box_text is not None:
        for (x0, y0, _x1), text, key in zip(corners, m.box_text, m.box_keys):
            _label(out, text, x0, y0, palette.colour(key), t)
    return out


def _draw_mask(out: np.ndarray, mask: np.ndarray, palette: Palette) -> None:
    for k in np.unique(mask):
        if k == 0:
            continue
        sel = mask == k
        colour = np.asarray(palette.colour(int(k)), np.float32)
        blended = out[sel].astype(np.float32) * (1.0 - MASK_ALPHA) + colour * MASK_ALPHA
        out[sel] = np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _rectangle(out: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: tuple, t: int
               ) -> None:
    """Edges ``t`` px wide drawn inward from the box's pixel edges, clipped to the tile."""
    h, w = out.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    c = np.asarray(colour, np.uint8)
    out[max(y0, 0):max(min(y0 + t, cy1), 0), cx0:cx1] = c
    out[max(y1 - t, cy0):cy1, cx0:cx1] = c
    out[cy0:cy1, max(x0, 0):max(min(x0 + t, cx1), 0)] = c
    out[cy0:cy1, max(x1 - t, cx0):cx1] = c


def _label(out: np.ndarray, text: str, x0: int, y0: int, colour: tuple, t: int) -> None:
    """The label on a strip of the box's colour above the box (inside it at the top edge)."""
    text = text.encode("ascii", "replace").decode("ascii")
    (tw, th), base = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
    strip_h = th + base + 2
    top = y0 - strip_h if y0 - strip_h >= 0 else y0 + t
    left = min(max(x0, 0), max(out.shape[1] - tw - 4, 0))
    cv2.rectangle(out, (left, top), (left + tw + 3, top + strip_h - 1), colour, -1)
    ink = (0, 0, 0) if 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] > 140 \
        else (255, 255, 255)
    cv2.putText(out, text, (left + 2, top + th + 1), _FONT, _FONT_SCALE, ink, 1, cv2.LINE_AA)
