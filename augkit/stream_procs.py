"""Worker processes for array streams on the cv backend: ``augkit.stream(..., processes=N)``.

Why: on small images a stream's threads spend much of their time waiting for Python's GIL
(each ``cv2.warpAffine`` of a 32 px image holds it for ~1 µs of argument parsing around
~8 µs of work, and a thread that finds it taken sleeps and must be woken), and TensorFlow's
cast of uint8 to float32 is slower than numpy's. Worker processes each run the whole pipeline
(rescale included) under their own GIL. Measured in ``docs/stream.md`` (Performance).

How:

* the source images are copied once into a file in shared memory (``/dev/shm`` where it
  exists and has room, else the temporary folder), which every worker maps read-only;
* for each call the stream hands an idle worker ``(rows, epoch, block)``; the worker applies
  the pipeline to those rows (keys by source row and epoch, so the result is the one the
  threads give) and writes it into the block, a shared file of the largest call's size;
* TensorFlow gets a numpy view of the block — no copy: the view is page-aligned, so
  TensorFlow keeps it as the tensor's memory — and the block goes back to the free list when
  the last reference to that view is dropped (a ``weakref.finalize``);
* workers are plain ``subprocess`` children (running ``augkit._stream_worker``), not
  ``multiprocessing`` ones: the user's ``__main__`` is never imported again (no
  ``if __name__ == "__main__"`` guard needed), and the same code runs on every OS. A worker
  exits when its stdin closes, so workers never outlive the stream's process.

The pool closes (workers stopped, shared files removed) when the stream's last reference
goes, or at interpreter exit. A folder left by a process that was killed is removed by the
next pool on the same machine.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from typing import Any

import numpy as np

from augkit.errors import InputError

#: Room left free in a shared-memory folder beyond what a pool needs.
SHM_MARGIN = 64 << 20
_PREFIX = "augkit-stream-"
#: Seconds the workers may take to start (import augkit, map the images).
START_TIMEOUT = 120.0


class WorkerError(RuntimeError):
    """A stream's worker process died or could not start."""


def shared_folder(need: int, candidates: tuple[str, ...] = ("/dev/shm",)) -> str:
    """A new private folder for ``need`` bytes of shared files.

    The first of ``candidates`` (RAM-backed folders) that exists and has ``need`` bytes plus
    :data:`SHM_MARGIN` free, else the temporary folder (files there are still shared through
    the page cache). Folders of this kind left by dead processes are removed first.
    """
    for base in (*candidates, tempfile.gettempdir()):
        if not os.path.isdir(base):
            continue
        _remove_stale(base)
        try:
            stat = os.statvfs(base)
        except (AttributeError, OSError):  # no statvfs (Windows): just try the folder
            free = None
        else:
            free = stat.f_bavail * stat.f_frsize
        if base == tempfile.gettempdir() or free is None or free >= need + SHM_MARGIN:
            return tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base)
    raise InputError("processes: no folder for the shared images (no temporary folder)")


def _remove_stale(base: str) -> None:
    """Remove ``augkit-stream-<pid>-*`` folders whose process no longer exists."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(_PREFIX):
            continue
        pid = name[len(_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would end pid
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, AttributeError):
        return True  # someone else's, or no way to tell: leave it
    return True


def _shared_file(path: str, nbytes: int) -> mmap.mmap:
    """A file of ``nbytes`` mapped for writing; its space reserved up front where the OS
    can (a full RAM-backed folder then fails here with ENOSPC, not later with SIGBUS)."""
    with open(path, "w+b") as f:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(f.fileno(), 0, max(nbytes, 1))
        else:
            f.truncate(max(nbytes, 1))
        return mmap.mmap(f.fileno(), max(nbytes, 1), access=mmap.ACCESS_WRITE)


def _worker_command() -> str:
    """The worker's ``python -c`` program: it imports this very augkit, also when augkit was
    put on ``sys.path`` at run time (a folder a new interpreter would not search)."""
    import site

    home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folders = [os.getcwd(), *getattr(site, "getsitepackages", list)(),
               getattr(site, "getusersitepackages", str)()]
    searched = {os.path.abspath(p) for p in folders if p}
    searched.update(os.path.abspath(p) for p in
                    os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    path = "" if home in searched else f"import sys; sys.path.insert(0, {home!r}); "
    return f"{path}from augkit._stream_worker import main; main()"


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.proc = subprocess.Popen([sys.executable, "-c", _worker_command()],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, message: tuple) -> tuple:
        try:
            pickle.dump(message, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
            return pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = self.proc.poll()
            raise WorkerError(f"augkit.stream worker process {self.number} (pid "
                              f"{self.proc.pid}) stopped (exit code {code}); its error "
                              f"output, if any, is above") from exc

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdout.close()


class _Block:
    """A shared output file of fixed size."""

    def __init__(self, path: str, nbytes: int) -> None:
        self.path = path
        self.map = _shared_file(path, nbytes)


class WorkerPool:
    """``count`` worker processes applying ``pipeline`` to rows of ``x`` (see module doc).

    Call it with ``(rows, epoch)`` from any thread; it returns the augmented rows as a numpy
    array that lives in a shared block until the array is released.

    Args:
        x: the source images ``(N, H, W, C)``, copied once into shared memory.
        pipeline: the whole pipeline (or ``None``: rows as they are).
        seed: the stream's seed.
        count: how many worker processes.
        max_rows: the most rows one call asks for.
        out_shape: one output image's shape ``(H, W, C)``.
        out_dtype: the pipeline's output dtype.
    """

    def __init__(self, x: np.ndarray, pipeline: Any, seed: int, count: int, max_rows: int,
                 out_shape: tuple[int, ...], out_dtype: str) -> None:
        spec = None if pipeline is None else pipeline.to_dict()
        self.block_bytes = max_rows * int(np.prod(out_shape)) * np.dtype(out_dtype).itemsize
        self.folder = shared_folder(x.nbytes + 4 * count * self.block_bytes)
        self._lock = threading.Lock()
        self._free: list[_Block] = []
        self.blocks = 0  # blocks made so far
        self.workers: list[_Worker] = []
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._broken: str | None = None
        self._closer = weakref.finalize(self, _close, self.workers, self.folder)
        try:
            source = os.path.join(self.folder, "images")
            target = np.ndarray(x.shape, x.dtype, buffer=_shared_file(source, x.nbytes))
            np.copyto(target, x)
            del target
            self.workers.extend(_Worker(i) for i in range(count))
            init = ("init", spec, source, tuple(x.shape), x.dtype.str, seed)
            # a worker that hangs while starting is killed, so that this fails, not waits
            watchdog = threading.Timer(START_TIMEOUT, _kill, (self.workers,))
            watchdog.daemon = True
            watchdog.start()
            try:
                for worker in self.workers:
                    reply = worker.ask(init)
                    if reply[0] != "ready":
                        raise WorkerError(f"augkit.stream worker process {worker.number} "
                                          f"could not start: {reply[1]}") from reply[1]
                    self._idle.put(worker)
            except WorkerError as exc:
                if watchdog.finished.is_set():
                    raise WorkerError(f"augkit.stream worker processes did not start within "
                                      f"{START_TIMEOUT:g} s; {exc}") from exc
                raise
            finally:
                watchdog.cancel()
        except BaseException:
            self.close()
            raise

    def __call__(self, rows: np.ndarray, epoch: Any) -> np.ndarray:
        if self._broken:
            raise WorkerError(self._broken)
        block = self._take_block()
        worker = self._idle.get()
        try:  # a failed worker goes back too: a caller waiting for it must not wait forever
            if self._broken:
                raise WorkerError(self._broken)
            reply = worker.ask(("run", rows, int(epoch), block.path))
        except WorkerError as exc:
            self._broken = self._broken or str(exc)
            self._free.append(block)
            raise
        finally:
            self._idle.put(worker)
        if reply[0] == "error":
            self._free.append(block)
            raise reply[1]
        _, shape, dtype = reply
        out = np.ndarray(shape, np.dtype(dtype), buffer=block.map)
        weakref.finalize(out, self._free.append, block)  # back when TensorFlow lets go
        return out

    def _take_block(self) -> _Block:
        try:
            return self._free.pop()
        except IndexError:
            pass
        with self._lock:
            self.blocks += 1
            number = self.blocks
        try:
            return _Block(os.path.join(self.folder, f"block{number}"), self.block_bytes)
        except OSError as exc:
            raise WorkerError(f"processes: no room for output block {number} "
                              f"({self.block_bytes} bytes) in {self.folder}: {exc}; free "
                              f"space there, or use processes=None (threads)") from exc

    def close(self) -> None:
        """Stop the workers and remove the shared files (also done automatically)."""
        self._broken = self._broken or "this stream's worker processes were closed"
        self._closer()


def _kill(workers: list[_Worker]) -> None:
    for worker in workers:
        with contextlib.suppress(OSError):
            worker.proc.kill()


def _close(workers: list[_Worker], folder: str) -> None:
    for worker in workers:
        worker.stop()
    shutil.rmtree(folder, ignore_errors=True)
