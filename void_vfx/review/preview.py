"""Small pictures of a job for a host that cannot read EXR (Nuke's, Resolve's Python: no numpy,
no OpenImageIO): a before/after pair of one frame and the contact sheet, as PNG bytes.

Made where numpy and OpenImageIO are (the server), shown as the review package shows them: the
plate's colour space converted to display sRGB, a patch output laid over its plate. Each
picture is bounded in pixels and bytes before it leaves, so a host can decode it without fear.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from void_vfx.errors import ImageIOError
from void_vfx.media.resample import resize
from void_vfx.protocol.wire import MAX_PREVIEW_BYTES, MAX_SHEET_BYTES, PREVIEW_SIDE
from void_vfx.review.job import _Frames, contact_sheet_image


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of display values in [0, 1], tagged sRGB (PNG specification, 2nd ed.:
    signature, IHDR, sRGB, one zlib IDAT of filter-0 rows, IEND)."""
    pixels = np.round(np.clip(np.nan_to_num(rgb[..., :3]), 0, 1) * 255.0).astype(np.uint8)
    h, w = pixels.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), np.uint8)  # each row: filter type 0, then its pixels
    rows[:, 1:] = pixels.reshape(h, 3 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)),
            chunk(b"sRGB", b"\x00"),
            chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
            chunk(b"IEND", b""),
        )
    )


def fit_within(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` scaled down (area average) so that neither side exceeds ``side``."""

    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return img
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return resize(np.ascontiguousarray(img, np.float32), size, "area")


def _bounded(data: bytes, cap: int, what: str) -> bytes:
    if len(data) > cap:
        raise ImageIOError(f"{what}: {len(data)} bytes, more than the {cap} a preview may take")
    return data


def frame_pair(spec, frame: int, result_path: str, side: int = PREVIEW_SIDE) -> tuple[bytes, bytes]:
    """(before, after) PNG bytes of ``frame``: the plate, and the result over it, in display
    sRGB, at most ``side`` pixels on the longest side."""

    plate, result = _Frames(spec, [result_path]).pair(frame)
    return tuple(
        _bounded(png_bytes(fit_within(img, side)), MAX_PREVIEW_BYTES, f"frame {frame} preview")
        for img in (plate, result)
    )


def contact_sheet_png(spec, result_paths: Sequence[str], width: int = 320) -> bytes:
    """The job's contact sheet (:func:`void_vfx.review.job.contact_sheet_image`) as PNG bytes,
    made narrower until it fits :data:`MAX_SHEET_BYTES`."""

    frames = _Frames(spec, result_paths)
    while True:
        data = png_bytes(contact_sheet_image(frames, spec, width=width))
        if len(data) <= MAX_SHEET_BYTES or width <= 80:
            return _bounded(data, MAX_SHEET_BYTES, "contact sheet")
        width //= 2
