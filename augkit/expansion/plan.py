"""The plan: every output of an expansion, named and numbered before any pixel is touched.

Rows are numbered item-major: row ``r`` is copy ``copies[r % len(copies)]`` of item
``r // len(copies)``. For image formats each row is one file ``<class>/<stem>_c<copy>.<ext>``;
for shard formats rows are cut into shards of ``shard_size`` consecutive rows. Nothing here
depends on workers, batches or timing, which is what makes the output a function of
``(pipeline, seed, source item, copy number)`` alone.

Names are made safe from whatever the source calls its files and classes: each path component
is sanitized (no separators, no ``..``, no leading dot, no control or reserved characters,
bounded length), names that collide after sanitizing or case folding get a short hash, and the
top-level names augkit uses itself are never used for a class.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from augkit.expansion.inputs import Item, Source

#: Output formats: image files in class folders, or shards.
IMAGE_FORMATS = {"png": "png", "jpeg": "jpg"}
SHARD_FORMATS = {"npz": "npz", "tfrecord": "tfrecord"}
FORMATS = (*IMAGE_FORMATS, *SHARD_FORMATS)

_FORBIDDEN = set('/\\:*?"<>|')
_MAX_BYTES = 150  # UTF-8 bytes of a stem or class folder name; leaves room for suffixes


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:n]


def safe_name(text: str) -> str:
    """One path component made safe, or ``"_"`` if nothing usable is left.

    Separators, reserved and control characters (and undecodable bytes) become ``_``; leading
    dots and spaces and trailing dots and spaces are removed (no hidden files, no ``..``); a name
    longer than 150 UTF-8 bytes is cut and given a hash of the full name.

    Example:
        >>> safe_name("../../etc/passwd")
        'etc_passwd'
        >>> safe_name("chat noir été")
        'chat noir été'
    """
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        bad = ch in _FORBIDDEN or category[0] == "C" or category in ("Zl", "Zp")
        chars.append("_" if bad else ch)
    name = "".join(chars)
    # "../x" -> "x", ".hidden" -> "hidden"; a name that really starts with "_" keeps it.
    name = name.lstrip(". ") if text.startswith("_") else re.sub(r"^[._ ]+", "", name)
    name = name.rstrip(". ") or "_"
    if len(name.encode("utf-8")) > _MAX_BYTES:
        cut = name.encode("utf-8")[: _MAX_BYTES - 9].decode("utf-8", "ignore").rstrip(". ")
        name = f"{cut}~{_digest(text)}"
    return name


def _key(name: str) -> str:
    """Collision key: names equal on case-insensitive or normalizing file systems collide."""
    return unicodedata.normalize("NFC", name).casefold()


def _reserved(name: str) -> bool:
    key = _key(name)
    return key in ("manifest.csv", "expand.json") or key.startswith(("manifest.", ".augkit",
                                                                       "shard-"))


def _unique(names: list[str], originals: list[str], reserved: bool = False) -> list[str]:
    """Make ``names`` unique (by :func:`_key`), appending a hash of the original where needed."""
    counts: dict[str, int] = {}
    for name in names:
        counts[_key(name)] = counts.get(_key(name), 0) + 1
    out, seen = [], set()
    for name, original in zip(names, originals):
        candidate = name
        if counts[_key(name)] > 1 or (reserved and _reserved(name)):
            candidate = f"{name}~{_digest(original)}"
        n = 1
        while _key(candidate) in seen:
            n += 1
            candidate = f"{name}~{_digest(original)}-{n}"
        seen.add(_key(candidate))
        out.append(candidate)
    return out


@dataclass
class Plan:
    """Every planned output of an expansion.

    Attributes:
        source: the listed source.
        copies: copy numbers made of each item (0 is the unaugmented original).
        fmt: output format (``png``, ``jpeg``, ``npz`` or ``tfrecord``).
        shard_size: rows per shard (shard formats).
        class_dirs: output folder of each label (image formats).
        stems: per item, the unique file name stem inside its class folder.
    """

    source: Source
    copies: tuple[int, ...]
    fmt: str
    shard_size: int
    class_dirs: dict[int, str]
    stems: list[str]

    @property
    def items(self) -> list[Item]:
        return self.source.items

    @property
    def rows(self) -> int:
        return len(self.source.items) * len(self.copies)

    @property
    def shards(self) -> int:
        return -(-self.rows // self.shard_size) if self.fmt in SHARD_FORMATS else 0

    @property
    def sharded(self) -> bool:
        return self.fmt in SHARD_FORMATS

    def locate(self, r: int) -> tuple[int, int]:
        """``(item position, copy number)`` of row ``r``."""
        pos, k = divmod(r, len(self.copies))
        return pos, self.copies[k]

    def shard_name(self, j: int) -> str:
        return f"shard-{j:05d}-of-{self.shards:05d}.{SHARD_FORMATS[self.fmt]}"

    def output(self, r: int) -> str:
        """Relative POSIX path of row ``r``'s file (its shard, for shard formats)."""
        if self.sharded:
            return self.shard_name(r // self.shard_size)
        pos, copy = self.locate(r)
        width = len(str(self.copies[-1]))
        item = self.source.items[pos]
        return (f"{self.class_dirs[item.label]}/{self.stems[pos]}_c{copy:0{width}d}."
                f"{IMAGE_FORMATS[self.fmt]}")

    def folders(self) -> list[str]:
        """Folders to create below the output folder (one per class for image formats)."""
        return [] if self.sharded else sorted(set(self.class_dirs.values()))

    def digest(self) -> str:
        """sha256 of everything that fixes the outputs besides pipeline, seed and options."""
        h = hashlib.sha256()
        h.update(repr((self.fmt, self.copies, self.shard_size if self.sharded else 0,
                       sorted(self.class_dirs.items()))).encode())
        for item, stem in zip(self.source.items, self.stems):
            h.update(repr((item.index, item.label, item.source, item.row, stem))
                     .encode("utf-8", "surrogateescape"))
        return h.hexdigest()


def make_plan(source: Source, *, copies: int, include_original: bool, fmt: str,
              shard_size: int) -> Plan:
    """Name every output of ``copies`` augmented copies (plus the original) of each item."""
    numbers = tuple(([0] if include_original else []) + list(range(1, copies + 1)))
    labels = sorted(source.class_names)
    dirs = _unique([safe_name(source.class_names[k]) for k in labels],
                   [source.class_names[k] for k in labels], reserved=True)
    class_dirs = dict(zip(labels, dirs))
    stems: list[str] = [""] * len(source.items)
    by_class: dict[int, list[int]] = {}
    for pos, item in enumerate(source.items):
        by_class.setdefault(item.label, []).append(pos)
    for positions in by_class.values():
        originals = [source.items[p].name for p in positions]
        names = [safe_name(n.replace("/", "__")) for n in originals]
        for p, name in zip(positions, _unique(names, originals)):
            stems[p] = name
    return Plan(source, numbers, fmt, shard_size, class_dirs, stems)
