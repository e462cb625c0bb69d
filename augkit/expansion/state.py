"""The output folder's bookkeeping: ownership, locks, fencing, cleanup, overwrite, resume scan.

Files at the top of ``OUT`` besides the outputs and ``manifest.csv``:

* ``expand.json`` — the job spec (what produced ``OUT``), written before any output;
* ``.augkit-expand.run`` — locked exclusively by the running ``augkit expand`` (two runs into
  one folder at once are refused);
* ``.augkit-expand.lock`` and ``.augkit-expand.gen`` — the writer fence (see
  :mod:`augkit.expansion.worker`); the generation file exists only while a run is in progress;
* ``.augkit-cache-*.npy`` — a compressed ``.npz`` source's pixels, extracted so that workers can
  memory-map them; removed once every output exists.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from collections.abc import Callable

import numpy as np

from augkit.errors import InputError, SpecError
from augkit.expansion import manifest as mf
from augkit.expansion.plan import Plan
from augkit.expansion.shards import sidecar
from augkit.expansion.worker import GENERATION, LOCK, TMP_PREFIX, complete, fcntl

RUN_LOCK = ".augkit-expand.run"
_OURS = (RUN_LOCK, LOCK, GENERATION)

PENDING, OK, FAILED = 0, 1, 2


class RunLock:
    """Exclusive ownership of ``out_dir`` by this process for the length of a run."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, RUN_LOCK)
        self.fd = -1

    def __enter__(self) -> RunLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip()
                os.close(self.fd)
                raise InputError(f"{os.path.dirname(self.path)}: another augkit expand is writing "
                                 f"into this folder ({owner or 'unknown process'}); wait for it "
                                 "to finish or stop it") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def fence(out_dir: str, *, final: bool = False, say: Callable[[str], None] | None = None) -> str:
    """Stop every writer of earlier runs; return this run's generation (``""`` if ``final``).

    The generation file is replaced first and the writer lock taken exclusively second: a
    writer that checked the old generation still holds its shared lock, so this waits for it;
    any writer checking later sees the new generation and writes nothing.
    """
    path = os.path.join(out_dir, GENERATION)
    generation = "" if final else f"{time.time_ns():x}-{secrets.token_hex(8)}"
    if final:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        mf.atomic_write(path, lambda f: f.write(generation))
    if fcntl is None:  # pragma: no cover
        return generation
    fd = os.open(os.path.join(out_dir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say is not None:
                say("waiting for writers of an earlier run to finish their current batch ...")
            fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)
    return generation


def clean_temporaries(out_dir: str) -> int:
    """Remove temporary files left by killed writers (call after :func:`fence`)."""
    removed = 0
    folders = [out_dir]
    with os.scandir(out_dir) as entries:
        folders += [e.path for e in entries if e.is_dir(follow_symlinks=False)
                    and not e.name.startswith(".")]
    for folder in folders:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        pass
    return removed


def _is_ours(name: str) -> bool:
    return name in _OURS or name.startswith((TMP_PREFIX, ".augkit-cache-"))


def claim(out_dir: str, spec: dict, *, overwrite: bool) -> dict | None:
    """Check that ``out_dir`` may receive this job; return the stored spec if resuming.

    Raises:
        SpecError: ``out_dir`` holds a different job (and ``overwrite`` is off).
        InputError: ``out_dir`` is not a folder, or holds other files than an augkit expansion.
    """
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir}: exists and is not a folder; choose a folder for the output")
    if not os.path.isdir(out_dir):
        return None
    stored = mf.read_spec(out_dir)
    if stored is None:
        others = [n for n in os.listdir(out_dir) if not _is_ours(n)]
        if others:
            raise InputError(
                f"{out_dir}: not empty and not an augkit expansion (no {mf.SPEC}; found "
                f"{', '.join(sorted(others)[:3])}{', ...' if len(others) > 3 else ''}); refusing "
                "to write into it, also with --overwrite: choose a new or empty folder")
        return None
    differences = mf.spec_differences(stored, spec)
    if not differences:
        return stored
    if not overwrite:
        raise SpecError(
            f"{out_dir} holds an expansion made with a different spec: "
            f"{'; '.join(differences)}. Nothing was changed. Choose another output folder, or "
            "pass --overwrite (overwrite=True) to delete that expansion's outputs and start over")
    return {**stored, "_replace": True}


def remove_previous(out_dir: str) -> None:
    """Delete the outputs a previous expansion listed in its manifest, and its bookkeeping.

    Only regular files inside ``out_dir`` named in ``manifest.csv`` are removed (and folders
    left empty by that); anything else the user put there stays.
    """
    root = os.path.realpath(out_dir)
    manifest = os.path.join(out_dir, mf.MANIFEST)
    folders = set()
    if os.path.exists(manifest):
        for _, row in mf.read_manifest(manifest):
            path = os.path.realpath(os.path.join(root, row["output"]))
            if not path.startswith(root + os.sep):
                continue
            for name in (path, sidecar(path)):
                if os.path.isfile(name) and not os.path.islink(name):
                    os.unlink(name)
            folders.add(os.path.dirname(path))
    for name in os.listdir(out_dir):
        if name.startswith(".augkit-cache-") or name in (mf.MANIFEST, mf.SPEC):
            os.unlink(os.path.join(out_dir, name))
    for folder in sorted(folders, reverse=True):
        if folder != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass


def make_folders(out_dir: str, plan: Plan) -> None:
    """Create the class folders, refusing symbolic links (an output never leaves ``out_dir``)."""
    for name in plan.folders():
        path = os.path.join(out_dir, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        if os.path.islink(path) or not os.path.isdir(path):
            raise InputError(f"{path}: exists and is not a plain folder (a symbolic link or a "
                             "file); refusing to write through it")


def scan(out_dir: str, plan: Plan) -> tuple[np.ndarray, dict[int, str], np.ndarray]:
    """What earlier runs finished: ``(status per row, error per failed row, shard row)``.

    Image files count as done if present and complete (a file truncated by a machine crash
    is made again). A shard counts as done if present and complete; rows it does not hold
    failed in the run that wrote it, with the reason stored with the shard.
    """
    status = np.zeros(plan.rows, np.int8)
    errors: dict[int, str] = {}
    shard_rows = np.full(plan.rows, -1, np.int64)
    if plan.sharded:
        for j in range(plan.shards):
            _scan_shard(out_dir, plan, j, status, errors, shard_rows)
        return status, errors, shard_rows
    names: dict[str, set[str]] = {}
    for folder in plan.folders():
        try:
            names[folder] = set(os.listdir(os.path.join(out_dir, folder)))
        except FileNotFoundError:
            names[folder] = set()
    for r in range(plan.rows):
        out = plan.output(r)
        folder, name = out.split("/")
        if name in names[folder] and complete(os.path.join(out_dir, folder, name), plan.fmt):
            status[r] = OK
    return status, errors, shard_rows


def _rows_of(plan: Plan, index: np.ndarray, copy: np.ndarray) -> np.ndarray:
    lookup = np.full(max(plan.copies) + 1, -1, np.int64)
    lookup[list(plan.copies)] = np.arange(len(plan.copies))
    return index.astype(np.int64) * len(plan.copies) + lookup[copy]


def _scan_shard(out_dir: str, plan: Plan, j: int, status: np.ndarray, errors: dict,
                shard_rows: np.ndarray) -> None:
    import json
    import zipfile

    path = os.path.join(out_dir, plan.shard_name(j))
    try:
        if plan.fmt == "npz":
            if not complete(path, "npz"):
                return
            with np.load(path, allow_pickle=False) as data:
                ok = _rows_of(plan, data["index"], data["copy"])
                bad = _rows_of(plan, data["failed_index"], data["failed_copy"])
                reasons = data["failed_error"].tolist()
        else:
            with open(sidecar(path), encoding="utf-8") as handle:
                info = json.load(handle)
            if os.path.getsize(path) != info["bytes"]:
                return
            records = np.array(info["records"], np.int64).reshape(-1, 2)
            failed = info["failed"]
            ok = _rows_of(plan, records[:, 0], records[:, 1])
            bad = _rows_of(plan, np.array([f[0] for f in failed], np.int64),
                           np.array([f[1] for f in failed], np.int64))
            reasons = [str(f[2]) for f in failed]
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile):
        return  # missing or damaged: made again
    status[ok] = OK
    shard_rows[ok] = np.arange(len(ok))
    status[bad] = FAILED
    errors.update(zip(bad.tolist(), reasons))


def say(message: str) -> None:
    print(f"augkit expand: {message}", file=sys.stderr, flush=True)
