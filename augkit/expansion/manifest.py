"""The manifest (``OUT/manifest.csv``) and the job spec (``OUT/expand.json``).

The manifest has one row per planned output (see :data:`COLUMNS` and ``docs/expand.md``); it is
written when the plan is made (status ``pending`` for what is still to do) and rewritten with the
final statuses when the run ends, each time atomically. The spec records what produced ``OUT``
(pipeline and its hash, seed, copies, format, options, the plan's digest) so that a rerun can
resume it or refuse to mix a different job into it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from augkit.errors import InputError
from augkit.io import replacing

MANIFEST = "manifest.csv"
SPEC = "expand.json"
SPEC_VERSION = 1

#: Manifest columns, in order.
COLUMNS = ("output", "shard_row", "source", "index", "class_name", "label", "copy", "seed",
           "pipeline_hash", "status", "error")

#: Status values: written (by this run or an earlier one), failed (see ``error``), not yet done.
STATUSES = ("ok", "failed", "pending")


def pipeline_hash(pipeline: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``pipeline.to_dict()``.

    Example:
        >>> import augkit
        >>> len(pipeline_hash(augkit.Pipeline.default()))
        64
    """
    text = json.dumps(pipeline.to_dict(), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as ``\\xNN`` (valid UTF-8 for the CSV)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def atomic_write(path: str, write: Callable[[Any], None], *, binary: bool = False) -> None:
    """Write a file through ``write(handle)`` into a temporary name, then rename it into place."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".augkit-tmp-{secrets.token_hex(6)}.{name}")
    with replacing(tmp, path):
        with open(tmp, "wb" if binary else "w", **({} if binary else
                                                   {"encoding": "utf-8", "newline": ""})) as f:
            write(f)


def write_manifest(path: str, rows: Iterator[tuple]) -> None:
    """Write the manifest atomically; ``rows`` yields tuples in :data:`COLUMNS` order."""

    def write(handle: Any) -> None:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(COLUMNS)
        out.writerows(rows)

    atomic_write(path, write)


def read_manifest(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)`` of a manifest written by :func:`write_manifest`.

    Raises:
        InputError: the file is unreadable or is not an augkit manifest.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
                raise InputError(f"{path}: not an augkit manifest; expected the columns "
                                 f"{', '.join(COLUMNS)}")
            for values in reader:
                if len(values) != len(header):
                    raise InputError(f"{path}, line {reader.line_num}: {len(values)} fields, "
                                     f"expected {len(header)}")
                yield reader.line_num, dict(zip(header, values))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a readable manifest ({exc})") from None


# -- the job spec ---------------------------------------------------------------------------
def read_spec(out_dir: str) -> dict | None:
    """The spec stored in ``out_dir``, or ``None`` if there is none.

    Raises:
        InputError: the file exists but is damaged.
    """
    path = os.path.join(out_dir, SPEC)
    try:
        with open(path, encoding="utf-8") as handle:
            spec = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: damaged ({exc}); remove {out_dir} or pass --overwrite") from None
    if not isinstance(spec, dict) or spec.get("augkit_expand") != SPEC_VERSION:
        raise InputError(f"{path}: not an augkit expand spec of version {SPEC_VERSION}")
    return spec


def write_spec(out_dir: str, spec: dict) -> None:
    """Store ``spec`` as ``out_dir/expand.json`` atomically."""
    text = json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(os.path.join(out_dir, SPEC), lambda f: f.write(text))


#: Spec fields compared on a rerun, with how to show them.
_COMPARED = ("augkit_version", "pipeline_hash", "seed", "copies", "include_original", "format",
             "options", "plan")


def spec_differences(old: dict, new: dict) -> list[str]:
    """Human-readable differences between a stored spec and the one a rerun asks for."""
    out = []
    for key in _COMPARED:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "pipeline_hash":
            out.append(f"pipeline (hash {str(a)[:12]}… then, {str(b)[:12]}… now)")
        elif key == "plan":
            out.append(f"source items ({old.get('items')} planned outputs from "
                       f"{old.get('source')} then, {new.get('items')} from {new.get('source')} "
                       "now; files added, removed or renamed)")
        elif key == "options":
            changed = sorted(k for k in {*a, *b} if a.get(k) != b.get(k))
            out += [f"{k}={a.get(k)!r} then, {b.get(k)!r} now" for k in changed]
        else:
            out.append(f"{key}={a!r} then, {b!r} now")
    return out
