"""What an expansion reports: live progress while it runs, a summary when it ends."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass(frozen=True)
class Progress:
    """A snapshot handed to the ``progress`` callback of :func:`augkit.expansion`.

    Attributes:
        done: planned outputs finished (written now, already present, or failed).
        total: planned outputs.
        written: outputs written by this run.
        present: outputs already there from an earlier run (not recomputed).
        failed: outputs that could not be made.
        elapsed: seconds since this run started working.
    """

    done: int
    total: int
    written: int
    present: int
    failed: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Outputs made per second by this run (written + failed)."""
        return (self.written + self.failed) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or ``None`` before anything was made."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass
class ExpandSummary:
    """The outcome of :func:`augkit.expansion`.

    Attributes:
        out_dir: the output folder.
        manifest: path of the manifest written at the end.
        planned: planned outputs (source items × copies).
        written: outputs written by this run.
        present: outputs already there from an earlier run (not recomputed).
        failed: planned outputs that could not be made (their rows say why).
        failures: ``(source, reason)`` per failing source item, in plan order.
        seconds: wall time of the run (listing, planning and writing).
        pipeline_hash: sha256 of the pipeline's canonical JSON.
    """

    out_dir: str
    manifest: str
    planned: int
    written: int
    present: int
    failed: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    pipeline_hash: str = ""

    @property
    def ok(self) -> bool:
        """True when every planned output exists."""
        return self.failed == 0 and self.written + self.present == self.planned

    @property
    def images_per_second(self) -> float:
        """Outputs written per second of wall time."""
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def text(self, max_failures: int = 20) -> str:
        """A human-readable report: counts, rate, and the failures with their reasons."""
        lines = [f"expanded into {self.out_dir}: {self.written} written, {self.present} already "
                 f"present, {self.failed} failed, of {self.planned} planned "
                 f"({self.images_per_second:.1f} images/s, {self.seconds:.1f} s)",
                 f"manifest: {self.manifest}"]
        if self.failures:
            lines.append(f"failed sources ({len(self.failures)}):")
            for source, reason in self.failures[:max_failures]:
                lines.append(f"  {source}: {reason}")
            if len(self.failures) > max_failures:
                lines.append(f"  ... and {len(self.failures) - max_failures} more (see the "
                             "manifest's error column)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressBar:
    """A one-line live progress bar on a terminal; a line every ``every`` seconds otherwise.

    Use it as the ``progress`` callback of :func:`augkit.expansion`; call :meth:`close` at the end.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, every: float = 10.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def line(self, p: Progress) -> str:
        frac = p.done / p.total if p.total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        return (f"[{bar}] {p.done}/{p.total} {frac:6.1%}  {p.rate:7.1f} img/s  "
                f"ETA {_clock(p.eta)}  failed {p.failed}")

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.done >= p.total
        if self.tty:
            if now - self._last >= 0.1 or final:
                self.stream.write("\r" + self.line(p))
                self.stream.flush()
                self._last, self._shown = now, True
        elif now - self._last >= self.every or (final and self._shown):
            self.stream.write(self.line(p) + "\n")
            self.stream.flush()
            self._last, self._shown = now, True

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
