"""One worker process of ``augkit.stream(..., processes=N)`` (:mod:`augkit.stream_procs`).

Started by the stream (``python -c``, calling :func:`main`); it speaks pickled messages on
its stdin (requests) and on its original stdout (replies). Anything else that writes to
standard output lands on standard error, so it cannot garble a reply. It exits when its stdin
closes: the stream closed its workers, or the stream's process is gone.

Messages:

* ``("init", pipeline dict or None, source path, shape, dtype, seed)`` → ``("ready",)``
* ``("run", rows, epoch, block path)`` → ``("done", shape, dtype)``: the pipeline applied to
  the source's ``rows`` for ``epoch``, written at the start of the block file
* any failure → ``("error", exception)`` (a ``RuntimeError`` with the traceback's text when
  the exception cannot be pickled)
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import sys
import traceback
from typing import BinaryIO


def _map(path: str, writable: bool) -> mmap.mmap:
    with open(path, "r+b" if writable else "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_WRITE if writable
                         else mmap.ACCESS_READ)


def _reply(out: BinaryIO, message: tuple) -> None:
    try:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: send its text
        data = pickle.dumps(("error", RuntimeError(traceback.format_exc())))
    out.write(data)
    out.flush()


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until ``requests`` ends."""
    import numpy as np

    from augkit.kernels.cv import NP
    from augkit.kernels.cv_threads import serial
    from augkit.pipeline import Pipeline, split_tail

    pipeline, x, seed, scales = None, None, 0, None
    blocks: dict[str, mmap.mmap] = {}
    with serial():  # one thread per worker: the stream runs several workers
        while True:
            try:
                message = pickle.load(requests)
            except EOFError:
                return
            try:
                if message[0] == "init":
                    spec, path, shape, dtype, seed = message[1:]
                    pipeline = None if spec is None else Pipeline.from_dict(spec)
                    head, tail = split_tail(pipeline)
                    if tail is not None and all(op.name == "rescale" for op in tail.ops):
                        # a rescale tail is written straight into the block (one pass over
                        # the output instead of a float array and a copy of it)
                        pipeline, scales = head, [(op.scale, op.offset) for op in tail.ops]
                    x = np.ndarray(shape, np.dtype(dtype), buffer=_map(path, False))
                    _reply(replies, ("ready",))
                    continue
                _, rows, epoch, path = message
                if pipeline is None:
                    out = x[rows]
                else:
                    out, _ = pipeline.apply(x[rows], seed=seed, index=rows, epoch=epoch,
                                            backend="cv")
                if path not in blocks:
                    blocks[path] = _map(path, True)
                dtype = np.dtype(np.float32) if scales else out.dtype
                block = np.ndarray(out.shape, dtype, buffer=blocks[path])
                if scales:  # the rescale kernel's arithmetic, into the block
                    for scale, offset in scales:
                        out = NP.scale_values(out, scale, offset, out=block)
                else:
                    block[...] = out
                _reply(replies, ("done", block.shape, block.dtype.str))
            except Exception as exc:
                _reply(replies, ("error", exc))


def main() -> None:
    # Ctrl-C reaches the whole process group: the stream's process decides what to do, and
    # the worker ends when its stdin closes
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
