"""Drawing for :mod:`augkit.preview`: captioned tiles laid out on one canvas.

Captions use OpenCV's Hershey font (ASCII only, no font files needed), drawn on a grey strip
under each tile. A tile may come with a function that draws over it once it is scaled for
display (masks, boxes and keypoints: :mod:`augkit._overlay`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

#: Pixels between tiles and around the border.
GAP = 4
#: Height of one line of caption text.
LINE_HEIGHT = 14

_BACKGROUND = 255
_CAPTION_BG = 232
_FONT_SCALE = 0.4
_MAX_CAPTION_LINES = 4


def to_uint8(tile: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """A tile as uint8 with 1, 3 or 4 channels; floats mapped from ``value_range``.

    Without a known finite range, float data in [0, 1] or [0, 255] is shown as such and anything
    else (e.g. normalized data) is stretched from its own minimum to maximum.
    """
    tile = np.asarray(tile)
    if tile.ndim == 2:
        tile = tile[:, :, None]
    if tile.dtype == np.uint8:
        return tile
    if tile.dtype == np.uint16:
        return (tile >> 8).astype(np.uint8)
    if tile.dtype == np.bool_:
        return tile.astype(np.uint8) * 255
    x = tile.astype(np.float32)
    if value_range is None:
        finite = x[np.isfinite(x)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        elif lo >= 0.0 and hi <= 255.0:
            lo, hi = 0.0, 255.0
    else:
        lo, hi = value_range
    scaled = (np.nan_to_num(x, nan=lo, posinf=hi, neginf=lo) - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def display(tile: np.ndarray, tile_size: int) -> np.ndarray:
    """A uint8 tile as RGB, scaled for display (see :mod:`augkit.preview`)."""
    rgb = to_uint8(tile)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3])
    h, w = rgb.shape[:2]
    long_side = max(h, w)
    if long_side > tile_size:
        scale = tile_size / long_side
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    elif long_side * 2 <= tile_size:
        k = tile_size // long_side
        rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)
    return rgb


def text_width(text: str) -> int:
    """Width in pixels of ``text`` in the caption font."""
    return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, _FONT_SCALE, 1)[0][0]


def wrap(text: str, width: int) -> list[str]:
    """Split caption text on ', ' into lines that fit ``width`` pixels; cut what never fits."""

    def fits(s: str) -> bool:
        return text_width(s) <= width

    text = text.encode("ascii", "replace").decode("ascii")  # Hershey fonts are ASCII only
    lines: list[str] = []
    for word in text.split(", "):
        if lines and fits(f"{lines[-1]}, {word}"):
            lines[-1] = f"{lines[-1]}, {word}"
            continue
        while not fits(word) and len(word) > 2:
            word = word[:-3] + ".."
        lines.append(word)
    if len(lines) > _MAX_CAPTION_LINES:
        lines = lines[: _MAX_CAPTION_LINES - 1] + ["..."]
    return lines


def draw_lines(canvas: np.ndarray, lines: list[str], x: int, y: int) -> None:
    """Draw caption lines in black, the first line's top at ``(x, y)``."""
    for i, line in enumerate(lines):
        baseline = y + (i + 1) * LINE_HEIGHT - 4
        cv2.putText(canvas, line, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, _FONT_SCALE,
                    (0, 0, 0), 1, cv2.LINE_AA)


#: A function drawing over a displayed RGB tile (it returns the drawn copy).
Overlay = Callable[[np.ndarray], np.ndarray]


def _shown(cell: Sequence, tile_size: int) -> tuple[np.ndarray, str]:
    tile, label = cell[0], cell[1]
    overlay: Overlay | None = cell[2] if len(cell) > 2 else None
    rgb = display(tile, tile_size)
    return (rgb if overlay is None else overlay(rgb)), label


def compose(
    rows: list[list[tuple]],
    tile_size: int,
    row_labels: list[str] | None = None,
) -> np.ndarray:
    """Lay out captioned tiles on a white canvas: equal cells, captions under each tile.

    Each cell is ``(tile, caption)`` or ``(tile, caption, overlay)``, where ``overlay`` (or
    ``None``) draws over the tile after it is scaled for display.
    """
    shown = [[_shown(cell, tile_size) for cell in row] for row in rows]
    cell_h = max(t.shape[0] for row in shown for t, _ in row)
    cell_w = max(t.shape[1] for row in shown for t, _ in row)
    captions = [[wrap(label, cell_w - 4) for _, label in row] for row in shown]
    caption_h = LINE_HEIGHT * max(len(c) for row in captions for c in row) + 4
    label_w, label_lines = 0, []
    if row_labels:
        label_w = min(max(text_width(label) for label in row_labels) + 8, max(cell_w, 96))
        label_lines = [wrap(label, label_w - 4) for label in row_labels]
    n_cols = max(len(row) for row in shown)
    left = GAP + (label_w + GAP if label_w else 0)
    row_h = cell_h + caption_h + GAP
    height = GAP + len(shown) * row_h
    width = left + n_cols * (cell_w + GAP)
    canvas = np.full((height, width, 3), _BACKGROUND, np.uint8)
    for r, row in enumerate(shown):
        y = GAP + r * row_h
        if label_lines:
            lines = label_lines[r]
            draw_lines(canvas, lines, GAP + 2, y + (cell_h - LINE_HEIGHT * len(lines)) // 2)
        for c, (tile, _) in enumerate(row):
            x = left + c * (cell_w + GAP)
            th, tw = tile.shape[:2]
            oy, ox = (cell_h - th) // 2, (cell_w - tw) // 2
            canvas[y + oy : y + oy + th, x + ox : x + ox + tw] = tile
            canvas[y + cell_h : y + cell_h + caption_h, x : x + cell_w] = _CAPTION_BG
            draw_lines(canvas, captions[r][c], x + 2, y + cell_h + 1)
    return canvas
