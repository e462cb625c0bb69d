"""Specs are data: dict / YAML / JSON in, validated pipelines out.

YAML is read with ``yaml.safe_load`` only; op names resolve through augkit's registry (and the
albumentations adapter's allow-list), never by importing a dotted path. Every problem is raised
at load time as :class:`augkit.errors.SpecError` naming the field path, the value, what is
allowed and, for unknown names, the closest valid ones.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from augkit.errors import SpecError
from augkit.ops import base
from augkit.params import closest, fail, short_repr

SCHEMA_VERSION = 1
SUFFIXES = (".yaml", ".yml", ".json")
_SETTINGS = ("fill_mode", "cval", "interpolation", "value_range", "targets")
_TOP_KEYS = ("version", "ops", *_SETTINGS)


def op_from_dict(d: Any, path: str) -> base.Op:
    """Build one op from ``{"op": name, <param>: value, ..., "p": prob}``."""
    if not isinstance(d, dict):
        raise fail(path, d, "a mapping like {op: rotate, angle_range: [-15, 15]}")
    if "op" not in d:
        raise fail(f"{path}.op", None, "an op name, one of " + ", ".join(base.available()))
    cls = base.get(d["op"], f"{path}.op")
    return cls.from_dict(d, path=f"{path} ({d['op']})")


def pipeline_from_dict(cls: Any, d: Any) -> Any:
    """Validate a whole pipeline dict and build ``cls`` from it."""
    if not isinstance(d, dict):
        raise fail("pipeline", type(d).__name__, "a mapping with an 'ops' list")
    for key in d:
        if key not in _TOP_KEYS:
            raise SpecError(f"{short_repr(key)}: unknown field{closest(str(key), _TOP_KEYS)} "
                            f"(allowed: "
                            f"{', '.join(_TOP_KEYS)})")
    version = d.get("version", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:
        raise fail("version", version, f"{SCHEMA_VERSION} (this augkit's schema version)")
    ops = d.get("ops")
    if not isinstance(ops, list):
        raise fail("ops", ops, "a list of ops, each a mapping with an 'op' name")
    built = [op_from_dict(op, f"ops[{i}]") for i, op in enumerate(ops)]
    settings = {k: d[k] for k in _SETTINGS if k in d}
    return cls(built, **settings)


def pipeline_to_dict(pipeline: Any) -> dict:
    """The dict form written by ``save`` (schema version first)."""
    return {
        "version": SCHEMA_VERSION,
        "fill_mode": pipeline.fill_mode,
        "cval": pipeline.cval,
        "interpolation": pipeline.interpolation,
        "value_range": list(pipeline.value_range),
        "targets": pipeline.targets.to_dict(),
        "ops": [op.to_dict() for op in pipeline.ops],
    }


def _suffix(path: Path, error: type[ValueError] = SpecError) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise error(f"{path}: got {short_repr(suffix or '(no suffix)')}; allowed: a file ending "
                    f"in .yaml, .yml or .json")
    return suffix


def dumps(pipeline: Any, suffix: str = ".yaml") -> str:
    """Serialize to YAML (default) or JSON text."""
    d = pipeline_to_dict(pipeline)
    if suffix == ".json":
        return json.dumps(d, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(d, sort_keys=False, default_flow_style=None)


def save(pipeline: Any, path: str | os.PathLike) -> None:
    """Write the pipeline to ``path`` atomically (temporary file + rename)."""
    from augkit.io import replacing

    path = Path(path)
    text = dumps(pipeline, _suffix(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    with replacing(tmp, str(path)):
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)


def loads(text: str, suffix: str = ".yaml", source: str = "<string>", *,
          error: type[ValueError] = SpecError) -> Any:
    """Parse YAML (safe loader only) or JSON text into plain data.

    Raises:
        SpecError (or ``error``): the text is not valid YAML/JSON; the message names
            ``source``, the format and the parser's reason.
    """
    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, RecursionError
        reason = " ".join(str(exc).split())
        raise error(f"{source}: not valid {suffix.lstrip('.').upper()} ({reason})") from None
    return data


def read_data(path: str | os.PathLike, *, what: str = "pipeline file",
              error: type[ValueError] = SpecError) -> Any:
    """Read a ``.yaml``/``.yml``/``.json`` file into plain data (YAML through ``safe_load``).

    The one reader of data files: pipelines (:func:`load`) and preview annotations
    (:func:`augkit.annotations.load`) both go through it.

    Args:
        path: the file; its suffix (any case) picks the parser.
        what: what the file is, for the message when it cannot be read.
        error: the exception raised (:class:`SpecError` for specs, ``InputError`` for data).

    Raises:
        SpecError (or ``error``): a wrong suffix, an unreadable file (missing, a directory,
            not UTF-8) or bad syntax; the message starts with the path.
    """
    path = Path(path)
    suffix = _suffix(path, error)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{path}: cannot read {what} ({reason})") from None
    return loads(text, suffix, str(path), error=error)


def load(path: str | os.PathLike) -> Any:
    """Load and validate a pipeline from a ``.yaml``/``.yml``/``.json`` file.

    Example:
        >>> import augkit, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "p.yaml")
        >>> augkit.Pipeline.default().save(path)
        >>> augkit.load(path) == augkit.Pipeline.default()
        True

    Raises:
        SpecError: unreadable file, bad syntax, or an invalid spec (field path, value, what
            is allowed).
    """
    from augkit.pipeline import Pipeline

    path = Path(path)
    data = read_data(path)
    try:
        return Pipeline.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
