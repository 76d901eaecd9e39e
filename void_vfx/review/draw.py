"""Drawing for review pictures: cells, text with OpenImageIO's built-in font, PNG writing."""

from __future__ import annotations

import os

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import ImageIOError

#: Background of strips and gaps, and the text colour, display values.
DARK = (0.08, 0.08, 0.08)
LIGHT = (0.92, 0.92, 0.92)
GAP = 4
TEXT_HEIGHT = 24


def pick_frames(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``count`` items, first and last included."""
    if count <= 0:
        return []
    wanted = max(1, min(wanted, count))
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, wanted)})


def text_strip(
    items: list[tuple[int, str]], width: int, *, swatches: dict[int, tuple] | None = None
) -> np.ndarray:
    """A dark strip ``width`` wide with each ``(x, text)`` written at x; a swatch of colour
    before the text where ``swatches`` gives one for that x."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(oiio.ImageSpec(width, TEXT_HEIGHT, 3, "float"))
    oiio.ImageBufAlgo.fill(buf, DARK)
    for x, text in items:
        if swatches and x in swatches:
            oiio.ImageBufAlgo.fill(buf, swatches[x], oiio.ROI(x, x + 14, 5, TEXT_HEIGHT - 5))
            x += 20
        oiio.ImageBufAlgo.render_text(buf, x + 6, TEXT_HEIGHT - 7, text, 16, "", LIGHT)
    return buf.get_pixels(oiio.FLOAT).reshape(TEXT_HEIGHT, width, 3)


def label(cell: np.ndarray, text: str) -> np.ndarray:
    """``cell`` with ``text`` written in its top-left corner on a dark box."""
    import OpenImageIO as oiio

    h, w = cell.shape[:2]
    buf = oiio.ImageBuf(np.ascontiguousarray(cell, dtype=np.float32))
    box = min(w, 10 * len(text) + 12)
    oiio.ImageBufAlgo.fill(buf, DARK, oiio.ROI(0, box, 0, min(h, TEXT_HEIGHT)))
    oiio.ImageBufAlgo.render_text(buf, 6, min(h, TEXT_HEIGHT) - 7, text, 16, "", LIGHT)
    return buf.get_pixels(oiio.FLOAT).reshape(h, w, 3)


def row_of(cells: list[np.ndarray]) -> np.ndarray:
    """Cells of one height side by side, :data:`GAP` pixels apart."""
    gap = np.empty((cells[0].shape[0], GAP, 3), np.float32)
    gap[:] = DARK
    out = [cells[0]]
    for c in cells[1:]:
        out += [gap, c]
    return np.concatenate(out, axis=1)


def column_of(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of one width, one above the other, :data:`GAP` pixels apart."""
    gap = np.empty((GAP, rows[0].shape[1], 3), np.float32)
    gap[:] = DARK
    out = [rows[0]]
    for r in rows[1:]:
        out += [gap, r]
    return np.concatenate(out, axis=0)


def write_png(path: str, rgb: np.ndarray) -> str:
    """8-bit sRGB PNG, written to a temporary name and renamed into place."""
    import OpenImageIO as oiio

    path = os.fspath(path)
    pixels = np.ascontiguousarray(np.round(np.clip(rgb, 0, 1) * 255.0).astype(np.uint8))
    buf = oiio.ImageBuf(pixels)
    with atomic_target(path, ".tmp.png") as tmp:
        if not buf.write(tmp, "uint8", "png"):
            raise ImageIOError(f"{path}: cannot write PNG: {buf.geterror()}")
    return path
