"""Temporal windows: how a shot of any length is cut into model-sized pieces.

The model takes 8j + 5 frames (at most 197) and was trained on 85-frame windows. A plan covers
exactly the plate's frame range: a short shot becomes one window mirror-padded to a valid length
(the padding is trimmed from the output), a long shot becomes evenly spaced windows of one valid
length that overlap and crossfade. A plan is plain data: it prints, and it round-trips through
JSON so that a farm can run its windows one by one. Standard library only (hosts import it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from void_vfx.errors import PlanError
from void_vfx.model_facts import (
    DEFAULT_MIN_WINDOW,
    DEFAULT_WINDOW_OVERLAP,
    MAX_FRAMES,
    next_valid_length,
    window_settings_problem,
)

PLAN_SCHEMA = "void-vfx/window-plan/1"
DEFAULT_OVERLAP = DEFAULT_WINDOW_OVERLAP


@dataclass(frozen=True)
class Window:
    """Plate frames ``first``..``last`` (inclusive), fed to the model as ``length`` frames.

    ``weights`` holds one crossfade weight per real frame; for every plate frame the weights of
    the windows that cover it sum to 1.
    """

    index: int
    first: int
    last: int
    length: int
    weights: tuple[float, ...] = field(default=(), compare=False)

    @property
    def frame_count(self) -> int:
        """Real plate frames in the window (without padding)."""
        return self.last - self.first + 1

    @property
    def padding(self) -> int:
        """Mirror-padded frames appended after the real ones."""
        return self.length - self.frame_count

    def frames(self) -> range:
        return range(self.first, self.last + 1)

    def source_frames(self) -> list[int]:
        """Plate frame for each of the ``length`` model frames.

        The clip is followed by itself reversed (so the last frame repeats), bouncing again
        where the padding is longer than the clip, as the reference pads.
        """
        n = self.frame_count
        out = []
        for i in range(self.length):
            k = i % (2 * n)
            out.append(self.first + (k if k < n else 2 * n - 1 - k))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "first": self.first,
            "last": self.last,
            "length": self.length,
            "weights": [round(w, 6) for w in self.weights],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        return cls(
            index=int(data["index"]),
            first=int(data["first"]),
            last=int(data["last"]),
            length=int(data["length"]),
            weights=tuple(float(w) for w in data["weights"]),
        )


@dataclass(frozen=True)
class WindowPlan:
    """Windows covering plate frames ``first``..``last`` at ``fps``."""

    first: int
    last: int
    windows: tuple[Window, ...]
    fps: str | None = None
    min_length: int = DEFAULT_MIN_WINDOW
    max_length: int = MAX_FRAMES
    overlap: int = DEFAULT_OVERLAP

    @property
    def frame_count(self) -> int:
        return self.last - self.first + 1

    def windows_for_frame(self, frame: int) -> list[tuple[Window, float]]:
        """The windows covering ``frame`` with their crossfade weights (summing to 1)."""
        if not self.first <= frame <= self.last:
            raise PlanError(f"frame {frame} is outside the plan's range {self.first}-{self.last}")
        return [(w, w.weights[frame - w.first]) for w in self.windows if w.first <= frame <= w.last]

    def model_frames(self) -> int:
        """Frames the model computes over the whole plan (padding and overlaps included)."""
        return sum(w.length for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA,
            "first": self.first,
            "last": self.last,
            "fps": self.fps,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "overlap": self.overlap,
            "windows": [w.to_dict() for w in self.windows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowPlan:
        if data.get("schema") != PLAN_SCHEMA:
            raise PlanError(
                f"not a window plan: schema {data.get('schema')!r}, expected {PLAN_SCHEMA}"
            )
        return cls(
            first=int(data["first"]),
            last=int(data["last"]),
            fps=data.get("fps"),
            min_length=int(data["min_length"]),
            max_length=int(data["max_length"]),
            overlap=int(data["overlap"]),
            windows=tuple(Window.from_dict(w) for w in data["windows"]),
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> WindowPlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"window plan is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def describe(self) -> str:
        """A table a person reads: one line per window."""
        rate = f" at {self.fps} fps" if self.fps else ""
        lines = [
            f"frames {self.first}-{self.last} ({self.frame_count}){rate}: "
            f"{len(self.windows)} window(s), {self.model_frames()} model frames",
        ]
        for w in self.windows:
            fade = [i for i, x in enumerate(w.weights) if x < 1.0]
            blend = f", crossfade on {len(fade)} frame(s)" if fade else ""
            pad = f" + {w.padding} mirrored" if w.padding else ""
            lines.append(
                f"  window {w.index}: frames {w.first}-{w.last} "
                f"({w.frame_count}{pad} = {w.length}){blend}"
            )
        return "\n".join(lines)


def _check_lengths(min_length: int, max_length: int, overlap: int) -> None:
    problem = window_settings_problem(min_length, max_length, overlap)
    if problem is not None:
        raise PlanError(f"{problem[0]} {problem[1]}")


def _long_shot_windows(count: int, max_length: int, overlap: int) -> list[tuple[int, int]]:
    """Evenly spaced (start, length) pairs over ``count`` frames, every overlap >= ``overlap``."""
    n = max(2, math.ceil((count - overlap) / (max_length - overlap)))
    while True:
        needed = math.ceil((count + (n - 1) * overlap) / n)
        if needed <= max_length:
            length = next_valid_length(needed)
            length = min(length, max_length)
            starts = [(i * (count - length)) // (n - 1) for i in range(n)]
            gaps = [b - a for a, b in zip(starts, starts[1:])]
            if all(length - g >= overlap for g in gaps) and length >= needed:
                return [(s, length) for s in starts]
        n += 1


def _weights(spans: list[tuple[int, int]]) -> list[tuple[float, ...]]:
    """Linear crossfades: a frame's weight grows with its distance from the window's inner edges."""
    raw = []
    for i, (a, b) in enumerate(spans):
        has_prev, has_next = i > 0, i < len(spans) - 1
        row = []
        for f in range(a, b + 1):
            w = math.inf
            if has_prev:
                w = min(w, f - a + 1)
            if has_next:
                w = min(w, b - f + 1)
            row.append(w)
        raw.append(row)
    totals: dict[int, float] = {}
    finite: dict[int, bool] = {}
    for (a, _b), row in zip(spans, raw):
        for j, w in enumerate(row):
            finite.setdefault(a + j, True)
            if math.isinf(w):
                finite[a + j] = False
            totals[a + j] = totals.get(a + j, 0.0) + (0.0 if math.isinf(w) else w)
    out = []
    for (a, _b), row in zip(spans, raw):
        weights = []
        for j, w in enumerate(row):
            f = a + j
            if not finite[f]:
                weights.append(1.0 if math.isinf(w) else 0.0)
            else:
                weights.append(w / totals[f])
        out.append(tuple(weights))
    return out


def plan_windows(
    first: int,
    last: int,
    *,
    min_length: int = DEFAULT_MIN_WINDOW,
    max_length: int = MAX_FRAMES,
    overlap: int = DEFAULT_OVERLAP,
    fps: str | None = None,
) -> WindowPlan:
    """Plan the windows for plate frames ``first``..``last`` (inclusive, any numbering).

    A shot of at most ``max_length`` frames is one window padded up to a valid length of at
    least ``min_length``. A longer shot gets the fewest windows of one valid length whose
    overlaps are at least ``overlap`` frames.
    """
    if last < first:
        raise PlanError(f"empty frame range {first}-{last}: the last frame comes before the first")
    _check_lengths(min_length, max_length, overlap)
    count = last - first + 1
    if count <= max_length:
        spans = [(first, last)]
        lengths = [next_valid_length(count, min_length)]
    else:
        pairs = _long_shot_windows(count, max_length, overlap)
        spans = [(first + s, first + s + n - 1) for s, n in pairs]
        lengths = [n for _s, n in pairs]
    weights = _weights(spans)
    windows = tuple(
        Window(index=i, first=a, last=b, length=n, weights=w)
        for i, ((a, b), n, w) in enumerate(zip(spans, lengths, weights))
    )
    return WindowPlan(
        first=first,
        last=last,
        windows=windows,
        fps=fps,
        min_length=min_length,
        max_length=max_length,
        overlap=overlap,
    )


def planned_for(settings, first: int, last: int, fps: str | None) -> WindowPlan:
    """:func:`plan_windows` with a spec's ``window`` settings (min and max length, overlap):
    the plan a job and a conform's estimate both use."""
    return plan_windows(
        first,
        last,
        min_length=settings.min_length,
        max_length=settings.max_length,
        overlap=settings.overlap,
        fps=fps,
    )
