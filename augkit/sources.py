"""Data sources: class-per-folder directories and ``.npz`` arrays, listed without decoding.

Shared by streams (``augkit.stream``) and offline expansion (``augkit.expand``): one place
decides which files belong to a data set, their labels and their order, so both read a folder
the same way Keras' ``image_dataset_from_directory`` does (one subfolder per class, searched
recursively, class names sorted).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augkit.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FileSource:
    """The files of a class-per-folder data set.

    Attributes:
        root: the data set's folder.
        paths: image files, sorted by class then by path (relative to ``root``, POSIX style).
        labels: int64 class index of each file.
        class_names: sorted class folder names; ``labels`` index into it.
    """

    root: Path
    paths: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def absolute(self, i: int) -> Path:
        """The absolute path of file ``i``."""
        return self.root / self.paths[i]

    def subset(self, indices: np.ndarray) -> FileSource:
        """The files at ``indices``, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        return FileSource(self.root, tuple(self.paths[i] for i in idx), self.labels[idx],
                          self.class_names)


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _unlistable(error: OSError) -> None:
    """A folder that cannot be listed is an error, never silently missing images."""
    raise InputError(f"{error.filename}: cannot list this folder ({error.strerror})")


def scan_directory(root: str | os.PathLike, *, class_names: Sequence[str] | None = None,
                   follow_links: bool = False) -> FileSource:
    """List a class-per-folder data set, like Keras' ``image_dataset_from_directory``.

    Args:
        root: folder with one subfolder per class; images are found recursively inside each.
        class_names: use exactly these class folders, in this order (default: all subfolders,
            sorted).
        follow_links: follow symbolic links to folders.

    Returns:
        The :class:`FileSource`; nothing is decoded.

    Raises:
        InputError: the folder is missing, has no class subfolders, a requested class folder
            is missing, a folder inside cannot be listed, or no image files were found.

    Example:
        >>> import augkit.sources, tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "cat").mkdir(); (root / "cat" / "a.png").write_bytes(b"")
        0
        >>> augkit.sources.scan_directory(root).class_names
        ('cat',)
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; expected a folder with one subfolder per class")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and _visible(p.name))
    if class_names is None:
        names = found
    else:
        names = [str(c) for c in class_names]
        missing = [c for c in names if c not in found]
        if missing:
            raise InputError(f"{root}: class folder(s) {', '.join(missing)} not found; "
                             f"found: {', '.join(found) or 'none'}")
    if not names:
        raise InputError(f"{root}: no class subfolders; expected {root}/<class>/<image files>")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        files = []
        for dirpath, dirnames, filenames in os.walk(root / name, followlinks=follow_links,
                                                    onerror=_unlistable):
            dirnames[:] = sorted(d for d in dirnames if _visible(d))
            for filename in filenames:
                if _visible(filename) and filename.lower().endswith(IMAGE_SUFFIXES):
                    files.append(Path(dirpath, filename).relative_to(root).as_posix())
        files.sort()
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise InputError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the class "
                         f"folders {', '.join(names)}")
    return FileSource(root, tuple(paths), np.asarray(labels, dtype=np.int64), tuple(names))


def split_indices(count: int, validation_split: float | None, subset: str | None,
                  seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``subset`` ("training"/"validation") for a seeded split, Keras style.

    The items are shuffled by a permutation that is a pure function of ``seed`` (augkit's
    hash, so it never changes with the numpy version), then the last ``validation_split``
    fraction is the validation subset. Without a split, all indices in order.

    With ``groups`` (one id per item, e.g. the source image of each augmented copy), whole
    groups are split instead: each group is ranked by its first item's key and the last
    ``validation_split`` fraction of the groups is the validation subset, so no group has items
    on both sides. When every item is its own group, this is the split without groups.

    Raises:
        InputError: a bad fraction or subset name.
    """
    if validation_split is None or validation_split == 0:
        if subset is not None:
            raise InputError(f"subset={subset!r} needs a validation_split; allowed: a fraction "
                             f"in (0, 1)")
        return np.arange(count, dtype=np.int64)
    if not 0 < float(validation_split) < 1:
        raise InputError(f"validation_split: got {validation_split!r}; allowed: a number in "
                         f"(0, 1)")
    if subset not in ("training", "validation"):
        raise InputError(f"subset: got {subset!r}; allowed: 'training' or 'validation' (with "
                         f"validation_split)")
    from augkit.rng import sample_keys

    inverse = None
    first = np.arange(count, dtype=np.int64)  # each item, or each group's first item
    if groups is not None:
        _, first, inverse = np.unique(np.asarray(groups), return_index=True,
                                      return_inverse=True)
    order = np.argsort(sample_keys(int(seed), first.astype(np.int64), 0x5EED), kind="stable")
    n_train = len(first) - int(validation_split * len(first))
    chosen = order[n_train:] if subset == "validation" else order[:n_train]
    if inverse is None:
        return np.sort(chosen)
    keep = np.zeros(len(first), bool)
    keep[chosen] = True
    return np.flatnonzero(keep[inverse.ravel()]).astype(np.int64)


def load_npz(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read ``x`` (images, ``(N, H, W, C)``) and ``y`` (labels, ``N`` rows) from an ``.npz``.

    Loading never unpickles (``allow_pickle=False``): a hostile file cannot run code.

    Raises:
        InputError: unreadable file, missing keys, or mismatched shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", "y") if k not in data.files]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)}; expected 'x' "
                                 f"(images) and 'y' (labels), found {', '.join(data.files)}")
            x, y = data["x"], data["y"]
    except InputError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise InputError(f"{path}: x has shape {x.shape}; expected (N, H, W, C) with C in 1, 3, 4")
    if len(y) != len(x):
        raise InputError(f"{path}: {len(y)} labels for {len(x)} images; expected one per image")
    return x, y
