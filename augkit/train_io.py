"""The edges of a training run: its arguments in, its files out.

* in: :func:`parse_options` and :func:`parse_image_size` (``augkit train --option`` and
  ``--image-size``) and the argument checks of :func:`augkit.train.train`;
* out: ``model.keras``, ``history.json`` and ``curves.png``, each written under a temporary
  name in the output folder and renamed into place (:func:`augkit.io.replacing`), so a
  reader never sees half a file and a failed run leaves the previous files whole.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CURVES_FILE", "HISTORY_FILE", "MODEL_FILE", "parse_image_size", "parse_options",
           "write_outputs"]

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"


# -- in -----------------------------------------------------------------------------------------
_SCALARS = (str, int, float, bool, type(None))


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``augkit train --option``) as a dict; values read as YAML scalars.

    ``width=64`` gives an int, ``batch_norm=false`` a bool, ``dropout=0.3`` a float,
    ``backbone=ResNet50`` a string, ``widths=[32, 64]`` a list of scalars.

    Raises:
        ValueError: no ``=``, a key that is not an identifier, a key given twice, or a value
            that is a mapping or not valid YAML.

    Example:
        >>> parse_options(["width=64", "batch_norm=false", "backbone=ResNet50"])
        {'width': 64, 'batch_norm': False, 'backbone': 'ResNet50'}
    """
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--option {pair!r}: allowed: KEY=VALUE with KEY a Python "
                             f"identifier, e.g. width=64")
        if key in options:
            raise ValueError(f"--option {key}: given twice")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"--option {pair!r}: VALUE is not a YAML scalar ({exc})") from None
        if not isinstance(value, _SCALARS) and not (
                isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value)):
            raise ValueError(f"--option {pair!r}: VALUE must be a scalar (number, true/false, "
                             f"text, null) or a list of them")
        options[key] = value
    return options


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """``"224"``, ``"32x48"`` or ``"32,48"`` as ``(height, width)``; ``None`` stays ``None``.

    Raises:
        ValueError: anything else.

    Example:
        >>> parse_image_size("32x48"), parse_image_size("64")
        ((32, 48), (64, 64))
    """
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or not all(1 <= n <= 65536 for n in numbers):
        raise ValueError(f"--image-size {text!r}: allowed: HEIGHTxWIDTH (e.g. 224x224) or one "
                         f"number for a square, from 1 to 65536")
    return numbers[0], numbers[1]


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name}: got {value!r}; allowed: a positive integer")
    return int(value)


def check_seed(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value < 2**32:
        # keras.utils.set_random_seed takes 32-bit seeds
        raise ValueError(f"seed: got {value!r}; allowed: an integer from 0 to 2**32-1")
    return int(value)


def check_val_split(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)) or not 0 <= value < 1:
        raise ValueError(f"val_split: got {value!r}; allowed: a fraction in [0, 1) (0: no "
                         f"validation)")
    return float(value) or None


def check_image_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 65536
            for v in value):
        raise ValueError(f"image_size: got {value!r}; allowed: (height, width) of positive "
                         f"integers, or one integer for a square")
    return int(value[0]), int(value[1])


# -- out ----------------------------------------------------------------------------------------
def write_outputs(out: Path, net: Any, history: dict[str, list[float]],
                  settings: dict[str, Any]) -> tuple[Path, Path, Path]:
    """Write the model, ``history.json`` (settings + per-epoch metrics) and the curves PNG."""
    from augkit.curves import write_curves
    from augkit.io import replacing

    out.mkdir(parents=True, exist_ok=True)
    model_path, history_path, curves_path = out / MODEL_FILE, out / HISTORY_FILE, out / CURVES_FILE
    # Temporary names are never pre-created (so files get the umask's mode); Keras insists on
    # the .keras suffix.
    tmp = _temporary(model_path)
    with replacing(tmp, str(model_path)):
        net.save(tmp)
    record = dict(settings, epochs_run=len(next(iter(history.values()), [])),
                  history=_json_safe(history))
    tmp = _temporary(history_path)
    with replacing(tmp, str(history_path)), open(tmp, "x", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, allow_nan=False, default=str)
        handle.write("\n")
    n = record["epochs_run"]
    title = (f"{settings['model']} on {settings['data']}: {n} epoch{'s' * (n != 1)}, "
             f"batch {settings['batch_size']}, seed {settings['seed']}")
    write_curves(curves_path, history, title)
    return model_path, history_path, curves_path


def _temporary(final: Path) -> str:
    return str(final.with_name(f".augkit-tmp-{secrets.token_hex(6)}.{final.name}"))


def _json_safe(history: dict[str, list[float]]) -> dict[str, list[float | None]]:
    """Metrics for JSON: a diverged (NaN/inf) value becomes ``null``."""
    return {k: [v if math.isfinite(v) else None for v in vs] for k, vs in history.items()}
