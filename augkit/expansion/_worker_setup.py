"""Preloaded into the local worker processes that :func:`augkit.expand` starts.

Ctrl-C in a terminal reaches every process of the foreground group; the coordinating process
handles it (cancels, stops the workers, fences and cleans up, writes the manifest), so its worker
processes ignore it instead of printing a KeyboardInterrupt traceback each.
"""

from __future__ import annotations

import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by dask in the worker process when it starts."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the process's main thread: leave the default
        pass
