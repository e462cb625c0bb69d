"""Learning curves as a PNG, drawn with OpenCV (augkit does not depend on matplotlib).

One panel per metric (loss, then accuracy), epochs on the x axis, training in blue and
validation in orange (one legend, top right), a dot on every epoch (so a one-epoch run still
shows its values), tick labels on both axes. Non-finite values (a diverged loss) are left out of the
line and said in the panel.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

__all__ = ["draw_curves", "write_curves"]

_PANEL = (480, 360)  # width, height of one panel
_MARGIN = (64, 24, 30, 46)  # left, right, top, bottom: room for ticks and labels
_TITLE_H = 28
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SMALL, _LARGE = 0.4, 0.5
_INK, _GRID, _WHITE = (0, 0, 0), (225, 225, 225), (255, 255, 255)
#: Training and validation colours (RGB): matplotlib's first two, for familiarity.
_COLOURS = {"training": (31, 119, 180), "validation": (255, 127, 14)}


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 × 10^k apart), from <= lo to >= hi."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = [round(first, 12)]
    while ticks[-1] < hi - step * 1e-9 or len(ticks) < 2:
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


def _text(canvas: np.ndarray, text: str, org: tuple[int, int], scale: float = _SMALL,
          align: str = "left", colour: tuple[int, int, int] = _INK) -> None:
    text = text.encode("ascii", "replace").decode("ascii")  # Hershey fonts are ASCII only
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = org
    if align == "right":
        x -= w
    elif align == "centre":
        x -= w // 2
    cv2.putText(canvas, text, (int(x), int(y + h // 2)), _FONT, scale, colour, 1, cv2.LINE_AA)


def _panel(metric: str, series: Mapping[str, Sequence[float]], epochs: int) -> np.ndarray:
    """One metric: axes, grid, ticks and the training/validation lines."""
    width, height = _PANEL
    left, right, top, bottom = _MARGIN
    canvas = np.full((height, width, 3), _WHITE, np.uint8)
    x0, x1, y0, y1 = left, width - right, top, height - bottom  # plot area (y0 at the top)
    values = [float(v) for vs in series.values() for v in vs]
    finite = [v for v in values if math.isfinite(v)]
    if metric.endswith("accuracy") and all(0.0 <= v <= 1.0 for v in finite):
        lo, hi = 0.0, 1.0
    elif finite:
        lo, hi = min(0.0, min(finite)), max(finite)
    else:
        lo, hi = 0.0, 1.0
    yticks = nice_ticks(lo, hi)
    lo, hi = min(lo, yticks[0]), max(hi, yticks[-1])

    def px(epoch: float, value: float) -> tuple[int, int]:
        fx = 0.5 if epochs == 1 else (epoch - 1) / (epochs - 1)
        fy = (value - lo) / (hi - lo)
        return (round(x0 + 8 + fx * (x1 - x0 - 16)), round(y1 - fy * (y1 - y0)))

    for tick in yticks:
        y = px(1, tick)[1]
        cv2.line(canvas, (x0, y), (x1, y), _GRID, 1)
        cv2.line(canvas, (x0 - 4, y), (x0, y), _INK, 1)
        _text(canvas, _label(tick), (x0 - 7, y), align="right")
    step = max(1, math.ceil(epochs / 10))
    for epoch in range(1, epochs + 1, step):
        x = px(epoch, lo)[0]
        cv2.line(canvas, (x, y1), (x, y1 + 4), _INK, 1)
        _text(canvas, str(epoch), (x, y1 + 12), align="centre")
    cv2.rectangle(canvas, (x0, y0), (x1, y1), _INK, 1)
    _text(canvas, "epoch", ((x0 + x1) // 2, height - 12), align="centre")
    _text(canvas, metric, ((x0 + x1) // 2, top // 2), scale=_LARGE, align="centre")

    skipped = 0
    for name, vs in series.items():
        colour = _COLOURS[name]
        points = [(px(e + 1, float(v)) if math.isfinite(float(v)) else None)
                  for e, v in enumerate(vs)]
        skipped += points.count(None)
        for a, b in itertools.pairwise(points):
            if a is not None and b is not None:
                cv2.line(canvas, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            if p is not None:
                cv2.circle(canvas, p, 3, colour, -1, cv2.LINE_AA)
    if skipped:
        _text(canvas, f"{skipped} non-finite value(s) not drawn", (x0 + 6, y1 - 12))
    return canvas


def draw_curves(history: Mapping[str, Sequence[float]], title: str = "") -> np.ndarray:
    """The learning curves of a Keras ``history.history`` as an RGB uint8 image.

    Args:
        history: per-epoch metrics, e.g. ``{"loss": [...], "accuracy": [...],
            "val_loss": [...], "val_accuracy": [...]}``. ``loss`` and ``accuracy`` get a
            panel each when present (``val_`` keys are the validation lines); other metrics
            are ignored.
        title: a line of text above the panels.

    Returns:
        ``(H, W, 3)`` uint8.

    Raises:
        ValueError: no ``loss`` or ``accuracy`` values.

    Example:
        >>> draw_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}).shape
        (388, 480, 3)
    """
    panels, names = [], {}
    for metric in ("loss", "accuracy"):
        series = {}
        if history.get(metric):
            series["training"] = list(history[metric])
        if history.get(f"val_{metric}"):
            series["validation"] = list(history[f"val_{metric}"])
        names.update(dict.fromkeys(series))
        if series:
            epochs = max(len(v) for v in series.values())
            panels.append(_panel(metric, series, epochs))
    if not panels:
        raise ValueError(f"history: no 'loss' or 'accuracy' values to draw; got keys "
                         f"{sorted(history)}")
    body = np.concatenate(panels, axis=1)
    head = np.full((_TITLE_H, body.shape[1], 3), _WHITE, np.uint8)
    _text(head, title, (10, _TITLE_H // 2), scale=_LARGE)
    x = body.shape[1] - 10
    for name in reversed(list(names)):  # the legend, shared by the panels: top right
        x -= cv2.getTextSize(name, _FONT, _SMALL, 1)[0][0]
        _text(head, name, (x, _TITLE_H // 2))
        cv2.line(head, (x - 30, _TITLE_H // 2), (x - 6, _TITLE_H // 2), _COLOURS[name], 2,
                 cv2.LINE_AA)
        x -= 48
    return np.concatenate([head, body], axis=0)


def write_curves(path: str | os.PathLike, history: Mapping[str, Sequence[float]],
                 title: str = "") -> None:
    """Draw the learning curves (see :func:`draw_curves`) into a PNG, atomically."""
    from augkit.io import write_png

    write_png(path, draw_curves(history, title))
