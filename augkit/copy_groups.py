"""Which source image each item of an ``augkit expand`` output came from.

An expand output holds several augmented copies of each source image. A validation split that
partitions items puts copies of one picture on both sides, and the validation score then
measures the model on near-duplicates of its training images. ``augkit expand``'s
``manifest.csv`` records the source ``index`` of every output; :func:`shard_groups` and
:func:`file_groups` read it so that :func:`augkit.sources.split_indices` splits whole groups.
No TensorFlow here.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from augkit.errors import InputError

__all__ = ["file_groups", "shard_groups"]


def _written(folder: Any) -> tuple[str, dict[str, list[tuple[int, int]]]] | None:
    """``(manifest path, {output: [(shard_row, source index), ...]})`` of the outputs written,
    or ``None`` when ``folder`` holds no manifest."""
    from augkit.expansion.manifest import MANIFEST, read_manifest

    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return None
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for line, row in read_manifest(path):
        if row["status"] != "ok":
            continue
        try:
            index, shard_row = int(row["index"]), int(row["shard_row"] or 0)
        except ValueError:
            raise InputError(f"{path}, line {line}: index {row['index']!r} and shard_row "
                             f"{row['shard_row']!r} must be integers; this manifest was not "
                             f"written by augkit expand as it is") from None
        out[row["output"]].append((shard_row, index))
    return path, out


def shard_groups(x: Any) -> np.ndarray | None:
    """The source index of every row of a :class:`~augkit.shard_array.ShardArray`, from the
    ``manifest.csv`` beside its shards; ``None`` when there is none.

    Raises:
        InputError: a shard holds a different number of images than the manifest lists as
            written for it (shards and manifest of different runs).
    """
    shards = x.shards
    found = _written(Path(shards[0].path).parent)
    if found is None:
        return None
    path, written = found
    parts = []
    for shard in shards:
        rows = sorted(written.get(Path(shard.path).name, ()))
        if len(rows) != shard.count:
            raise InputError(f"{shard.path}: holds {shard.count} images, but {path} lists "
                             f"{len(rows)} written to it: the shards and the manifest come "
                             f"from different runs; rerun augkit expand into an empty folder")
        parts.append(np.fromiter((index for _, index in rows), np.int64, len(rows)))
    return np.concatenate(parts)


def file_groups(source: Any) -> np.ndarray | None:
    """The source index of every file of a :class:`~augkit.sources.FileSource` (an expand
    ``--format png|jpeg`` output), from ``manifest.csv`` in its root; ``None`` when there is
    none. A file the manifest does not list is a group of its own."""
    found = _written(source.root)
    if found is None:
        return None
    written = found[1]
    groups = np.empty(len(source), np.int64)
    for i, rel in enumerate(source.paths):
        rows = written.get(rel)
        groups[i] = rows[0][1] if rows else -1 - i
    return groups
