"""The job folder's window store: each finished window committed, so a job resumes after a crash.

A window lives under ``<job>/windows/`` as a ``.npy`` of working-size frames plus a ``.json`` (crop
box, colour ceiling, and the size of the ``.npy``) renamed into place last: that one step commits
the window, so a crash loses at most the window in flight and a record whose frames are missing
or short never counts. A skipped window (nothing to remove) has the ``.json`` alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import EngineError
from void_vfx.render.roi import CropBox
from void_vfx.render.windows import Window


@dataclass(frozen=True)
class WindowRecord:
    """A window's commit record, the one type written and read back: its frames and, for a
    window run through the engine, what assembly needs to undo its preparation (crop box, colour
    ceiling); for a skipped window (nothing to remove), the reason instead."""

    index: int
    first: int
    last: int
    box: CropBox | None = None
    ceiling: float = 0.0
    skipped: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON fields (the store adds the frames file's size and shape)."""
        where = {"index": self.index, "first": self.first, "last": self.last}
        if self.skipped:
            return {"skipped": True, **where, "reason": self.reason}
        return {"skipped": False, **where, "box": self.box.to_dict(), "ceiling": self.ceiling}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowRecord:
        where = (int(data["index"]), int(data["first"]), int(data["last"]))
        if data.get("skipped"):
            return cls(*where, skipped=True, reason=str(data.get("reason", "")))
        return cls(*where, box=CropBox.from_dict(data["box"]), ceiling=float(data["ceiling"]))

    @classmethod
    def skip(cls, window: Window, reason: str) -> WindowRecord:
        return cls(window.index, window.first, window.last, skipped=True, reason=reason)


#: The name prepare and older callers use for a computed window's record.
WindowContext = WindowRecord


def commit_window(job_dir: str, window: Window, output_frames_working, ctx: WindowRecord) -> None:
    """Store a window's working-size result (its real frames) and crop box, atomically."""
    out = getattr(output_frames_working, "frames", output_frames_working)
    out = np.asarray(out)
    if out.ndim != 4 or out.shape[0] != window.length or out.shape[-1] != 3:
        raise EngineError(
            f"window {window.index}: the engine returned shape {out.shape}, expected "
            f"({window.length}, H, W, 3)"
        )
    real = out[: window.frame_count].astype(np.float32)
    if not np.isfinite(real).all():
        raise EngineError(
            f"window {window.index} (frames {window.first}-{window.last}): the engine returned "
            "NaN or Inf; nothing was committed, rerun the job to retry this window"
        )
    np.clip(real, 0.0, 1.0, out=real)
    save_window(job_dir, window.index, real, ctx.to_dict())


def commit_skipped(job_dir: str, window: Window, reason: str) -> None:
    """Record that a window had nothing to remove, so a resume does not redo it."""
    save_window(job_dir, window.index, None, WindowRecord.skip(window, reason).to_dict())


# --- files ---------------------------------------------------------------------------------


def window_paths(job_dir: str, index: int) -> tuple[str, str]:
    base = os.path.join(job_dir, "windows", f"w{index:03d}")
    return base + ".npy", base + ".json"


def save_window(job_dir: str, index: int, frames: np.ndarray | None, meta: dict) -> None:
    """Store a window's working-size frames (None for a skipped window), then its json marker.

    The marker, renamed into place last, is the one step that commits the window: it records the
    frames file's byte size and shape, so frames missing, cut short or left by another attempt
    never count as committed.
    """
    npy, js = window_paths(job_dir, index)
    meta = dict(meta)
    if frames is not None:
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        with atomic_target(npy) as tmp, open(tmp, "wb") as fh:
            np.save(fh, frames)
        meta["frames_file"] = os.path.basename(npy)
        meta["frames_bytes"] = os.path.getsize(npy)
        meta["frames_shape"] = list(frames.shape)
    with atomic_target(js) as tmp, open(tmp, "w") as fh:
        json.dump(meta, fh, indent=1)


def load_window_meta(job_dir: str, index: int) -> dict | None:
    """The commit record of a window, or None when it is not (completely) committed."""
    npy, js = window_paths(job_dir, index)
    try:
        with open(js) as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return None  # absent, or not a whole record
    if meta.get("skipped"):
        return meta
    try:
        size = os.path.getsize(npy)
    except OSError:
        return None
    if "frames_bytes" not in meta or size != meta["frames_bytes"]:
        return None
    return meta


def load_window_record(job_dir: str, index: int) -> WindowRecord | None:
    """The typed commit record of a window, or None when it is not (completely) committed."""
    meta = load_window_meta(job_dir, index)
    return None if meta is None else WindowRecord.from_dict(meta)


def load_window_frames(job_dir: str, index: int) -> np.ndarray:
    """Memory-mapped working-size frames of a committed window (nothing read until used)."""
    return np.load(window_paths(job_dir, index)[0], mmap_mode="r")


def box_of(meta: dict | WindowRecord) -> CropBox:
    return meta.box if isinstance(meta, WindowRecord) else CropBox.from_dict(meta["box"])
