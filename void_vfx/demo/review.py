"""Things a person looks at after a run: a contact sheet, a review movie, a PSNR figure.

All of them see pictures the way a monitor does: the plate's colour space converted by OCIO to
display sRGB and clipped to 0-1, so figures and images agree with what a compositor would judge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import ImageIOError
from void_vfx.media.colour import ColourTransform
from void_vfx.media.image_io import read_image
from void_vfx.media.resample import resize
from void_vfx.render.quadmask import build_quadmask, overlay
from void_vfx.review.draw import pick_frames, write_png

#: The colour space the demo writes and the default here.
LINEAR_709 = "Linear Rec.709 (sRGB)"


def _display(rgb: np.ndarray, transform) -> np.ndarray:
    return np.clip(transform.to_working(np.ascontiguousarray(rgb[..., :3])), 0.0, 1.0)


def _transform(colourspace: str):

    return ColourTransform(colourspace, highlight="clip")


def _read_rgb(path: str) -> np.ndarray:

    return read_image(str(path), "rgb").pixels


def _read_matte(path: str) -> np.ndarray:

    img = read_image(str(path))
    names = [n.lower() for n in img.channel_names]
    return img.pixels[..., names.index("a") if "a" in names else 0]


def contact_sheet(
    plate_paths: Sequence[str],
    result_paths: Sequence[str],
    out_png: str,
    frames: int = 4,
    truth_paths: Sequence[str] | None = None,
    *,
    primary_paths: Sequence[str] | None = None,
    affected_paths: Sequence[str] | None = None,
    colourspace: str = LINEAR_709,
    cell_width: int = 320,
) -> str:
    """A PNG with one row per chosen frame: plate | mask overlay | result | truth (if given).

    The overlay tints the primary matte red and the affected matte blue; without mattes it shows
    where the result differs from the plate. Cells are ``cell_width`` wide, 4 px apart.
    """

    if len(result_paths) != len(plate_paths):
        raise ImageIOError(
            f"{out_png}: {len(plate_paths)} plate frames but {len(result_paths)} results; "
            "give one result per plate frame"
        )
    transform = _transform(colourspace)
    rows = []
    for i in pick_frames(len(plate_paths), frames):
        plate = _display(_read_rgb(plate_paths[i]), transform)
        result = _display(_read_rgb(result_paths[i]), transform)
        if primary_paths:
            prim = _read_matte(primary_paths[i])
            aff = _read_matte(affected_paths[i]) if affected_paths else None
            guide = overlay(plate, build_quadmask(prim, aff), opacity=0.55)
        else:
            diff = np.abs(result - plate).max(axis=2, keepdims=True) > 1.0 / 255.0
            guide = np.where(diff, 0.5 * plate + 0.5 * np.array([1.0, 0.1, 0.1]), plate * 0.6)
        cells = [plate, guide, result]
        if truth_paths:
            cells.append(_display(_read_rgb(truth_paths[i]), transform))
        h, w = plate.shape[:2]
        size = (max(1, round(h * cell_width / w)), cell_width)
        cells = [resize(c.astype(np.float32), size, "area") for c in cells]
        gap = np.ones((size[0], 4, 3), np.float32) * 0.08
        row = [cells[0]]
        for c in cells[1:]:
            row += [gap, c]
        rows.append(np.concatenate(row, axis=1))
    if not rows:
        raise ImageIOError(f"{out_png}: no frames to show")
    gap = np.ones((4, rows[0].shape[1], 3), np.float32) * 0.08
    labels = ["plate", "mask" if primary_paths else "changed", "result", "truth"]
    sheet = _label_strip(labels[: len(cells)], size[1], 4)
    for r in rows:
        sheet = np.concatenate([sheet, gap, r], axis=0)
    return write_png(out_png, sheet)


LABEL_HEIGHT = 24


def _label_strip(labels: list[str], cell_width: int, gap: int) -> np.ndarray:
    """A dark strip naming each column, drawn with OpenImageIO's built-in font."""
    import OpenImageIO as oiio

    width = len(labels) * cell_width + (len(labels) - 1) * gap
    buf = oiio.ImageBuf(oiio.ImageSpec(width, LABEL_HEIGHT, 3, "float"))
    oiio.ImageBufAlgo.fill(buf, (0.08, 0.08, 0.08))
    for i, text in enumerate(labels):
        x = i * (cell_width + gap) + 6
        oiio.ImageBufAlgo.render_text(buf, x, LABEL_HEIGHT - 7, text, 16, "", (0.9, 0.9, 0.9))
    return buf.get_pixels(oiio.FLOAT).reshape(LABEL_HEIGHT, width, 3)


def review_movie(
    plate_paths: Sequence[str],
    result_paths: Sequence[str],
    out_mp4: str,
    fps: float = 24.0,
    *,
    colourspace: str = LINEAR_709,
    width: int = 960,
) -> str | None:
    """Plate and result side by side as an H.264 movie; None when imageio-ffmpeg is missing."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None

    transform = _transform(colourspace)
    first = _read_rgb(plate_paths[0])
    h, w = first.shape[:2]
    half = (width // 2) // 2 * 2
    size = (max(2, round(h * half / w) // 2 * 2), half)
    with atomic_target(out_mp4, ".tmp.mp4") as tmp:
        writer = imageio_ffmpeg.write_frames(
            tmp, (2 * size[1], size[0]), fps=fps, quality=8, macro_block_size=2
        )
        writer.send(None)
        try:
            for plate, result in zip(plate_paths, result_paths, strict=True):
                pair = [
                    resize(_display(_read_rgb(p), transform), size, "area") for p in (plate, result)
                ]
                frame = np.concatenate(pair, axis=1)
                writer.send(np.ascontiguousarray(np.round(frame * 255).astype(np.uint8)))
        finally:
            writer.close()
    return out_mp4


def psnr_in_mask(
    result_paths: Sequence[str],
    truth_paths: Sequence[str],
    mask_paths: Sequence[Sequence[str]],
    *,
    colourspace: str = LINEAR_709,
    threshold: float = 0.01,
) -> float:
    """PSNR (dB) in display sRGB over pixels where any matte exceeds ``threshold``, all frames."""
    if len(result_paths) != len(truth_paths) or any(len(m) != len(truth_paths) for m in mask_paths):
        raise ImageIOError("psnr: give as many results, truth frames and matte frames")
    transform = _transform(colourspace)
    err, count = 0.0, 0
    for i, (res, tru) in enumerate(zip(result_paths, truth_paths, strict=True)):
        mask = np.zeros(_read_matte(mask_paths[0][i]).shape, bool)
        for paths in mask_paths:
            mask |= _read_matte(paths[i]) > threshold
        a = _display(_read_rgb(res), transform)[mask]
        b = _display(_read_rgb(tru), transform)[mask]
        err += float(((a - b) ** 2).sum())
        count += a.size
    if count == 0:
        raise ImageIOError("psnr: the mattes select no pixels")
    mse = err / count
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))
