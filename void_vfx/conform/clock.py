"""Media time to file frame numbers.

An edit places a clip in *media time* (often source timecode: 86400 for 01:00:00:00) while the
files are numbered another way (1001, 0001, or timecode itself). A :class:`MediaClock` says which
file frame shows at which media time. Rates that differ only by the NTSC factor (24 and 23.976,
30 and 29.97) count the same frames, as timecode does; other rate pairs (a clip at 15 on media at
30) convert through seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

#: Within this of a whole frame, a time is that frame; further away it is reported.
FRAME_TOLERANCE = 1e-3


def frames_at(value: float, rate: float, media_rate: Fraction) -> float:
    """A time (value at rate) counted in frames of ``media_rate``."""
    if rate <= 0:
        return value
    if abs(rate / float(media_rate) - 1.0) < 0.002:
        return value
    return value * float(media_rate) / rate


def whole(value: float, up: bool) -> tuple[int, bool]:
    """(frame, exact): ``value`` if it is whole within the tolerance, else floor / ceil."""
    nearest = round(value)
    if abs(value - nearest) < FRAME_TOLERANCE:
        return int(nearest), True
    return (math.ceil(value) if up else math.floor(value)), False


@dataclass(frozen=True)
class MediaClock:
    """``file_frame = file_at_start + (media_frame - media_start)`` at ``rate``."""

    rate: Fraction
    media_start: int
    file_at_start: int
    #: Media frames available: (first, last) inclusive, or None when unknown.
    available: tuple[int, int] | None = None
    how: str = ""

    def file_frame(self, media_frame: int) -> int:
        return self.file_at_start + (media_frame - self.media_start)

    def media_frame(self, file_frame: int) -> int:
        return self.media_start + (file_frame - self.file_at_start)


def timecode_from_smpte(packed: int, rate: Fraction) -> int | None:
    """Frames since midnight of an EXR/DPX ``smpte:TimeCode`` word (BCD, SMPTE 12M), counted
    at the timecode's nominal rate (drop-frame counted as drop-frame)."""

    def bcd(byte: int) -> int:
        return (byte >> 4) * 10 + (byte & 0x0F)

    frames = bcd(packed & 0x3F)
    drop = bool(packed & 0x40)
    seconds = bcd((packed >> 8) & 0x7F)
    minutes = bcd((packed >> 16) & 0x7F)
    hours = bcd((packed >> 24) & 0x3F)
    nominal = round(rate)
    if frames >= nominal or seconds > 59 or minutes > 59:
        return None
    total = ((hours * 60 + minutes) * 60 + seconds) * nominal + frames
    if drop and nominal in (30, 60):
        per = 2 * nominal // 30
        all_minutes = hours * 60 + minutes
        total -= per * (all_minutes - all_minutes // 10)
    return total
