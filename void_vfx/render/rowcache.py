"""Plate scanlines decoded for a window's crop, kept until their frame is assembled.

Preparation decodes a plate frame's crop rows; assembly needs the whole frame. Keeping those
rows (every channel, as the file's half values, within a byte budget) lets assembly decode only
the rows above and below them, so in the common case each scanline of a frame is decoded once
instead of twice. The rows are the file's own bits, so the output is the same either way; a
frame not in the cache (over the budget, a resumed job, a float or tiled plate) is read whole.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from void_vfx.errors import ImageIOError
from void_vfx.media.image_io import HALF_MAX, Image, _header_from_spec, _open, count_nonfinite

log = logging.getLogger(__name__)

#: Bytes of decoded rows kept at most (about 20 crops of 1000 rows of a 4K RGB half plate).
BUDGET = 512 * 1024 * 1024


class RowCache:
    """Frame -> (plate path, first row, rows (H', W, C) half); thread-safe, bounded in bytes."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = BUDGET if budget is None else budget
        self.used = 0
        self._lock = threading.Lock()
        self._rows: dict[int, tuple[str, int, np.ndarray]] = {}

    def put(self, frame: int, path: str, y0: int, rows: np.ndarray) -> None:
        """Keep ``rows`` (display rows from ``y0``) when the budget allows; a frame read again
        for a later window replaces its earlier rows."""
        with self._lock:
            self._drop(frame)
            if self.used + rows.nbytes <= self.budget:
                self._rows[frame] = (path, y0, rows)
                self.used += rows.nbytes

    def take(self, frame: int, path: str) -> tuple[int, np.ndarray] | None:
        """The kept rows of ``frame`` as (y0, rows), removed from the cache; None if absent."""
        with self._lock:
            hit = self._rows.get(frame)
            self._drop(frame)
        if hit is None or hit[0] != path:
            return None
        return hit[1], hit[2]

    def holds(self, frame: int, path: str) -> bool:
        with self._lock:
            hit = self._rows.get(frame)
        return hit is not None and hit[0] == path

    def drop(self, frame: int) -> None:
        with self._lock:
            self._drop(frame)

    def _drop(self, frame: int) -> None:
        old = self._rows.pop(frame, None)
        if old is not None:
            self.used -= old[2].nbytes


def whole_frame(cache: RowCache, path: str, frame: int):
    """The plate frame as :func:`~void_vfx.media.image_io.read_image` with ``window="data"``,
    ``raw=True``, ``pixel_format="native"`` returns it for an all-half scanline file, decoding
    only the rows the cache does not hold; None when it holds none of this frame."""
    if not cache.holds(frame, path):
        return None
    return plate_rows(cache, path, frame)


def plate_rows(
    cache: RowCache,
    path: str,
    frame: int,
    a: int = 0,
    b: int | None = None,
    *,
    count: bool = True,
    max_channels: int | None = None,
):
    """Rows ``a:b`` of an all-half scanline plate frame whose data window is its display window,
    every channel, as the file's half values, in an :class:`~void_vfx.media.image_io.Image`
    whose ``origin`` is its top-left pixel; the rows the cache holds are not decoded again (and
    leave it). None for any other file, and for one of more than ``max_channels`` channels.
    NaN/Inf are counted over these rows (and logged) unless ``count`` is False (the image's
    ``nonfinite`` is then 0)."""

    hit = cache.take(frame, path)
    inp = _open(path, frame)
    try:
        spec = inp.spec()
        types = {str(t) for t in spec.channelformats} or {str(spec.format)}
        window = (spec.x, spec.y, spec.width, spec.height)
        b = spec.height if b is None else b
        if (
            window != (spec.full_x, spec.full_y, spec.full_width, spec.full_height)
            or spec.tile_width != 0
            or types != {"half"}
            or not 0 <= a < b <= spec.height
            or max_channels is not None
            and spec.nchannels > max_channels
        ):
            return None
        if hit is not None and hit[1].shape[1:] != (spec.width, spec.nchannels):
            hit = None
        y0, rows = hit if hit is not None else (a, None)
        k0, k1 = (max(a, y0), min(b, y0 + rows.shape[0])) if rows is not None else (a, a)
        if k1 <= k0:  # the kept rows miss this range: decode all of it
            k0 = k1 = a
        parts = []
        for lo, hi in ((a, k0), (k0, k1), (k1, b)):
            if hi <= lo:
                continue
            if (lo, hi) == (k0, k1):
                parts.append(rows[k0 - y0 : k1 - y0])
                continue
            data = inp.read_scanlines(0, 0, spec.y + lo, spec.y + hi, 0, 0, spec.nchannels, "half")
            if data is None or inp.has_error:
                raise ImageIOError(
                    f"{path} (frame {frame}): cannot read pixels: {inp.geterror() or 'no data'}; "
                    "the file is truncated or damaged: re-render or re-copy it"
                )
            parts.append(np.asarray(data).reshape(hi - lo, spec.width, spec.nchannels))
        header = _header_from_spec(path, inp.format_name(), spec)
    finally:
        inp.close()
    pixels = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    if not pixels.flags.writeable or len(parts) == 1 and rows is not None and b - a < len(rows):
        pixels = pixels.copy()  # the caller owns (and may blend into) exactly these rows
    bad = count_nonfinite(pixels) if count else 0
    if bad:
        log.warning(
            "%s (frame %s): %d NaN/Inf values; replaced for processing (NaN->0, +Inf->%g, -Inf->0)",
            path,
            frame,
            bad,
            HALF_MAX,
        )
    names = tuple(spec.channelnames)
    return Image(pixels, header, names, bad, pixels, frame, (int(spec.x), int(spec.y) + a))
