"""Each frame's quadmask made once per job and kept at its compact size.

A quadmask is read, snapped (or built from mattes) once per frame; what is kept is the bounding
box of its non-keep pixels (keep, 255, everywhere else), so preparation and assembly, and the
windows that share a frame, all use the same mask without reading or snapping it again. Entries
live in memory up to a byte budget and, once the job folder is attached, in ``<job>/masks/`` so a
resumed job reuses them. Snap statistics are kept with each entry, for one summary per job.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.model_facts import QUAD_KEEP


@dataclass(frozen=True)
class CompactMask:
    """A frame's quadmask as its non-keep bounding box: ``sub`` (uint8) at row ``y0``, column
    ``x0``; ``sub`` is None when every pixel is keep. ``moved``/``max_error`` are the snap
    statistics of a delivered quadmask (0 for one built from mattes)."""

    y0: int
    x0: int
    sub: np.ndarray | None
    height: int
    width: int
    moved: int = 0
    max_error: float = 0.0

    @classmethod
    def of(cls, q: np.ndarray, moved: int = 0, max_error: float = 0.0) -> CompactMask:
        nonkeep = q != QUAD_KEEP
        rows = np.flatnonzero(nonkeep.any(axis=1))
        h, w = q.shape
        if rows.size == 0:
            return cls(0, 0, None, h, w, moved, max_error)
        cols = np.flatnonzero(nonkeep.any(axis=0))
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        return cls(y0, x0, q[y0:y1, x0:x1].copy(), h, w, moved, max_error)

    @property
    def empty(self) -> bool:
        return self.sub is None

    @property
    def nbytes(self) -> int:
        return 0 if self.sub is None else int(self.sub.nbytes)

    def bounds(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of the non-keep pixels, or None."""
        if self.sub is None:
            return None
        return self.x0, self.y0, self.x0 + self.sub.shape[1], self.y0 + self.sub.shape[0]

    def full(self) -> np.ndarray:
        """The full-resolution (H, W) uint8 quadmask."""
        q = np.full((self.height, self.width), QUAD_KEEP, dtype=np.uint8)
        if self.sub is not None:
            q[self.y0 : self.y0 + self.sub.shape[0], self.x0 : self.x0 + self.sub.shape[1]] = (
                self.sub
            )
        return q

    def region(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The quadmask over frame pixels [y0:y1, x0:x1] (keep outside the box)."""
        q = np.full((y1 - y0, x1 - x0), QUAD_KEEP, dtype=np.uint8)
        b = self.bounds()
        if b is None:
            return q
        bx0, by0, bx1, by1 = max(b[0], x0), max(b[1], y0), min(b[2], x1), min(b[3], y1)
        if bx1 > bx0 and by1 > by0:
            q[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = self.sub[
                by0 - self.y0 : by1 - self.y0, bx0 - self.x0 : bx1 - self.x0
            ]
        return q


class MaskCache:
    """Compact quadmasks by frame, computed once by ``make(frame)``; thread-safe.

    ``budget`` bytes of masks stay in memory (least recently used dropped first); with a job
    folder attached every mask is also stored there and read back instead of recomputed.
    """

    def __init__(self, make: Callable[[int], CompactMask], budget: int = 256 << 20) -> None:
        self._make = make
        self._budget = budget
        self._mem: OrderedDict[int, CompactMask] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._frame_locks: dict[int, threading.Lock] = {}
        self._folder: str | None = None
        #: snap statistics of every frame seen: frame -> (moved, pixels, max_error)
        self.snaps: dict[int, tuple[int, int, float]] = {}

    def attach(self, job_dir: str) -> None:
        """Store masks under ``<job_dir>/masks`` (and reuse those stored by an earlier run)."""
        self._folder = os.path.join(job_dir, "masks")

    def _path(self, frame: int) -> str:
        return os.path.join(self._folder or "", f"q{frame}.npz")

    def get(self, frame: int) -> CompactMask:
        with self._lock:
            hit = self._mem.get(frame)
            if hit is not None:
                self._mem.move_to_end(frame)
                return hit
            flock = self._frame_locks.setdefault(frame, threading.Lock())
        with flock:  # one thread makes a frame's mask; others wait for it
            with self._lock:
                hit = self._mem.get(frame)
            if hit is None:
                hit = self._load(frame)
                if hit is None:
                    hit = self._make(frame)
                    self._store(frame, hit)
                self._keep(frame, hit)
        return hit

    def drop(self, frame: int) -> None:
        """Forget a frame's mask in memory (assembled: no window needs it any more)."""
        with self._lock:
            old = self._mem.pop(frame, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._frame_locks.pop(frame, None)

    def _keep(self, frame: int, m: CompactMask) -> None:
        with self._lock:
            self.snaps[frame] = (m.moved, m.height * m.width, m.max_error)
            if frame not in self._mem:
                self._mem[frame] = m
                self._bytes += m.nbytes
            while self._bytes > self._budget and len(self._mem) > 1:
                _, old = self._mem.popitem(last=False)
                self._bytes -= old.nbytes

    def _load(self, frame: int) -> CompactMask | None:
        if self._folder is None or not os.path.isfile(self._path(frame)):
            return None
        try:
            with np.load(self._path(frame)) as z:
                y0, x0, h, w, moved = (int(v) for v in z["ints"])
                sub = z["sub"] if "sub" in z.files else None
                return CompactMask(y0, x0, sub, h, w, moved, float(z["max_error"]))
        except (OSError, ValueError, KeyError):
            return None  # a damaged cache file is made again

    def _store(self, frame: int, m: CompactMask) -> None:
        if self._folder is None:
            return

        arrays = {
            "ints": np.array([m.y0, m.x0, m.height, m.width, m.moved], np.int64),
            "max_error": np.float64(m.max_error),
        }
        if m.sub is not None:
            arrays["sub"] = m.sub
        with atomic_target(self._path(frame), ".tmp.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def snap_summary(self, tolerance: float, source: str) -> str | None:
        """One sentence on what snapping moved over the job, or None when nothing moved."""
        with self._lock:
            snaps = dict(self.snaps)
        hit = {f: s for f, s in snaps.items() if s[0]}
        if not hit:
            return None
        worst = max(hit, key=lambda f: (hit[f][0] / hit[f][1], -f))
        moved = sum(s[0] for s in hit.values())
        pixels = sum(s[1] for s in snaps.values())
        w_moved, w_pixels, w_err = hit[worst]
        return (
            f"{source}: quadmask snapped to 0/63/127/255 on {len(hit)} of {len(snaps)} frames; "
            f"{100 * moved / pixels:.3f}% of all pixels moved by more than {tolerance:g}; worst "
            f"frame {worst}: {100 * w_moved / w_pixels:.3f}% moved, max {w_err:.1f}. "
            + _snap_advice(source)
        )


#: Movie endings: a quadmask read from one of these went through a lossy codec.
_MOVIE_ENDINGS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".wmv")


def _snap_advice(source: str) -> str:
    """Why a quadmask needed snapping and how to deliver one that does not, by its format."""
    if source.lower().endswith(_MOVIE_ENDINGS):
        return (
            "A lossy (video) quadmask does this; deliver it as PNG or EXR to keep its exact values"
        )
    return (
        "Its values are not exactly 0/63/127/255 (filtered or anti-aliased edges, or 64/128 "
        "for 63/127); render it with those four values and no filtering"
    )
