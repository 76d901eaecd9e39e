"""A render job's progress: one structure of counts, from which the share done, the rate, the
estimate and the message are all derived (never re-derived from the message text).

Every driver of a :class:`~void_vfx.render.job.RenderJob` counts into it: the server's overlapped
run through :class:`Tracker` (reports throttled, from several threads), the farm's Assemble task
directly.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Least seconds between two progress reports about frames (window events always report).
REPORT_EVERY_S = 1.0


def eta_seconds(elapsed: float, done: float, total: float) -> float | None:
    """Seconds left at the rate so far, or None before anything is done: the one ETA rule."""
    return elapsed * (total - done) / done if done > 0 else None


def duration_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


@dataclass
class JobProgress:
    """Frames read, windows run, frames written, over a job of ``windows`` windows and ``frames``
    plate frames, of which ``frames_to_read`` still go through the engine.

    The work done counts a unit per frame read, per frame through the engine and per frame
    finished (written, or left out by patch mode), so it reaches the total only when the last
    frame is finished.
    """

    windows: int
    frames: int
    frames_to_read: int = 0
    windows_done: int = 0
    frames_read: int = 0
    frames_run: int = 0
    frames_written: int = 0
    #: Frames patch mode leaves out (nothing changed there): done, but no file.
    frames_unchanged: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.frames_written + self.frames_unchanged

    @property
    def done(self) -> int:
        return self.frames_read + self.frames_run + self.finished

    @property
    def total(self) -> int:
        return 2 * self.frames_to_read + self.frames

    def as_dict(self) -> dict[str, Any]:
        """The counts, the rate and the estimate as plain values (a callback's ``stats=``)."""
        elapsed = time.monotonic() - self.started
        return {
            "frames_read": self.frames_read,
            "frames_to_read": self.frames_to_read,
            "windows_done": self.windows_done,
            "windows": self.windows,
            "frames_written": self.frames_written,
            "frames_unchanged": self.frames_unchanged,
            "frames": self.frames,
            "rate_fps": self.finished / elapsed if elapsed > 0 else 0.0,
            "eta_s": eta_seconds(elapsed, self.done, self.total),
            "done": self.done,
            "total": self.total,
        }

    def index(self) -> int:
        """The work done on the windows' scale the server shows: it reaches the window count
        only when the last frame is finished."""
        return self.windows * self.done // self.total if self.total else 0

    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def message(self, event: str, stats: dict[str, Any] | None = None) -> str:
        s = stats or self.as_dict()
        eta = "" if s["eta_s"] is None else f", about {duration_text(s['eta_s'])} left"
        same = s["frames_unchanged"]
        return (
            f"{event}; {s['frames_read']}/{s['frames_to_read']} frames read, "
            f"{s['windows_done']}/{s['windows']} windows run, "
            f"{s['frames_written']}/{s['frames']} frames written"
            + (f" ({same} unchanged, no file)" if same else "")
            + f", {s['rate_fps']:.2f} frames/s{eta}"
        )


def _accepts_stats(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "stats" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Tracker:
    """A :class:`JobProgress` counted from several threads and reported, throttled, to
    ``progress(index, windows, message)``. A callback that takes ``stats=`` gets the event alone
    as its message and the counts as a dict; a three-argument one gets the counts written into
    the message (:meth:`JobProgress.message`). Calls are serialised."""

    def __init__(self, counts: JobProgress, progress: Callable | None, lock=None) -> None:
        self.counts = counts
        self.progress = progress
        self.stats_kw = progress is not None and _accepts_stats(progress)
        self.lock = lock if lock is not None else threading.RLock()
        self._last = 0.0

    def stats(self) -> dict[str, Any]:
        return self.counts.as_dict()

    def read(self, window) -> None:
        with self.lock:
            self.counts.frames_read += window.frame_count
        self.report(f"window {window.index}: frames {window.first}-{window.last} read", True)

    def ran(self, window, frames: int, what: str) -> None:
        with self.lock:
            self.counts.windows_done += 1
            self.counts.frames_run += frames
        self.report(f"window {window.index}: {what}", True)

    def wrote(self, frame: int, path: str | None) -> None:
        """A frame is done: written to ``path``, or (None) left out by patch mode."""
        with self.lock:
            if path is None:
                self.counts.frames_unchanged += 1
            else:
                self.counts.frames_written += 1
        self.report(f"frame {frame} " + ("written" if path else "unchanged, no file"), False)

    def report(self, event: str, always: bool) -> None:
        if self.progress is None:
            return
        with self.lock:
            now = time.monotonic()
            c = self.counts
            if not (always or c.finished == c.frames or now - self._last >= REPORT_EVERY_S):
                return
            self._last = now
            s = c.as_dict()
            if self.stats_kw:  # the counts travel as fields: the message is the event alone
                self.progress(c.index(), c.windows, event, stats=s)
            else:
                self.progress(c.index(), c.windows, c.message(event, s))
