"""A job's review: a contact sheet (frame numbers, a title with the settings, a legend of the
mask colours; plate | mask | result | difference) and a labelled before/after movie."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.media.image_io import read_header, read_image
from void_vfx.media.resample import resize
from void_vfx.model_facts import QUAD_AFFECTED, QUAD_OVERLAP, QUAD_REMOVE
from void_vfx.render.quadmask import OVERLAY_COLOURS, overlay
from void_vfx.render.shot import Shot
from void_vfx.review.draw import (
    GAP,
    column_of,
    label,
    pick_frames,
    row_of,
    text_strip,
    write_png,
)

#: How much a difference is amplified to be seen (display values).
DIFFERENCE_GAIN = 4.0
COLUMNS = ("plate", "mask", "result", "difference x4")
LEGEND = ((QUAD_REMOVE, "remove"), (QUAD_OVERLAP, "overlap"), (QUAD_AFFECTED, "affected"))
_FRAME = re.compile(r"\.(-?\d+)\.[A-Za-z0-9]+$")


def review_folder(result_paths: Sequence[str]) -> str:
    """``<version folder>_review`` beside the version folder of ``result_paths``."""
    folder = os.path.dirname(os.path.abspath(result_paths[0]))
    return f"{folder}_review"


def _frame_of(path: str) -> int | None:
    found = _FRAME.search(os.path.basename(path))
    return int(found.group(1)) if found else None


def _over_plate(path: str | None, plate: np.ndarray) -> np.ndarray:
    """A result frame's RGB over the plate's display window: a patch (its data window only)
    lies over the plate, a frame with no file (patch mode, nothing changed) is the plate."""

    if path is None:
        return plate
    header = read_header(path)
    x, y, w, h = header.data_window
    dx, dy, _, _ = header.display_window
    out = plate.copy()
    data = read_image(path, "rgb", window="data").pixels[..., :3]
    x0, y0 = x - dx, y - dy
    sy = slice(max(y0, 0), min(y0 + h, out.shape[0]))
    sx = slice(max(x0, 0), min(x0 + w, out.shape[1]))
    out[sy, sx] = data[sy.start - y0 : sy.stop - y0, sx.start - x0 : sx.stop - x0]
    return out


class _Frames:
    """The shot's plate, quadmask and result of one frame, in display sRGB, cached."""

    def __init__(self, spec, result_paths: Sequence[str]) -> None:

        self.shot = Shot.open(spec)
        self.results = {_frame_of(p): p for p in result_paths}

    def pair(self, frame: int) -> tuple[np.ndarray, np.ndarray]:

        shot = self.shot
        plate = read_image(shot.plate.path(frame), "rgb", frame=frame).pixels[..., :3]
        result = _over_plate(self.results.get(frame), plate)
        show = shot.colour.to_working
        display = [
            np.clip(show(np.ascontiguousarray(a, np.float32)), 0, 1) for a in (plate, result)
        ]
        return display[0], display[1]

    def quadmask(self, frame: int) -> np.ndarray:
        return self.shot.masks.get(frame).full()


def _fit(img: np.ndarray, width: int) -> np.ndarray:

    h, w = img.shape[:2]
    return resize(img.astype(np.float32), (max(1, round(h * width / w)), width), "area")


def contact_sheet(frames: _Frames, spec, out_png: str, count: int = 6, width: int = 320) -> str:
    """The sheet (:func:`contact_sheet_image`) as a PNG file."""
    return write_png(out_png, contact_sheet_image(frames, spec, count, width))


def contact_sheet_image(frames: _Frames, spec, count: int = 6, width: int = 320) -> np.ndarray:
    """The sheet: a title, the columns' names and the mask legend, then one row per chosen frame
    (its number on the plate cell); display RGB in [0, 1]."""

    shot = frames.shot
    rows = []
    for i in pick_frames(len(shot.frames), count):
        frame = shot.frames[i]
        plate, result = frames.pair(frame)
        guide = overlay(plate, frames.quadmask(frame), opacity=0.55)
        diff = np.clip(np.abs(result - plate) * DIFFERENCE_GAIN, 0, 1)
        cells = [_fit(c, width) for c in (plate, guide, result, diff)]
        cells[0] = label(cells[0], f"frame {frame}")
        rows.append(row_of(cells))
    total = rows[0].shape[1]
    title = (
        f"{os.path.basename(spec.plate)}  frames {shot.frames[0]}-{shot.frames[-1]}  "
        f"engine {spec.engine}  passes {spec.sampling.passes}  seed {spec.sampling.seed}"
    )
    heads = text_strip([(i * (width + GAP), name) for i, name in enumerate(COLUMNS)], total)
    xs = [6 + 110 * i for i in range(len(LEGEND))]
    legend = text_strip(
        [(x, name) for x, (_, name) in zip(xs, LEGEND, strict=True)],
        total,
        swatches={x: OVERLAY_COLOURS[v] for x, (v, _) in zip(xs, LEGEND, strict=True)},
    )
    return column_of([text_strip([(0, title)], total), heads, legend, *rows])


def before_after_movie(
    frames: _Frames, out_mp4: str, say: Callable[[str], None], width: int = 960
) -> str | None:
    """Plate and result side by side, each labelled, the frame number on every frame, as an
    H.264 movie at the shot's rate; None (and said why) where imageio-ffmpeg is missing."""

    try:
        import imageio_ffmpeg
    except ImportError:
        say(
            "review movie left out: it needs imageio-ffmpeg (python3 -m pip install imageio-ffmpeg)"
        )
        return None
    shot = frames.shot
    half = (width // 2) // 2 * 2
    fps = float(Fraction(str(shot.fps)))
    count = len(shot.frames)
    with atomic_target(out_mp4, ".tmp.mp4") as tmp:
        writer = None
        try:
            for n, frame in enumerate(shot.frames, 1):
                plate, result = frames.pair(frame)
                cells = [_fit(c, half) for c in (plate, result)]
                h = cells[0].shape[0] // 2 * 2
                cells = [c[:h] for c in cells]
                cells[0] = label(cells[0], f"plate  {frame}")
                cells[1] = label(cells[1], f"result  {frame}")
                picture = np.concatenate(cells, axis=1)
                if writer is None:
                    size = (picture.shape[1], picture.shape[0])
                    writer = imageio_ffmpeg.write_frames(
                        tmp, size, fps=fps, quality=8, macro_block_size=2
                    )
                    writer.send(None)
                writer.send(np.ascontiguousarray(np.round(picture * 255).astype(np.uint8)))
                if n == count or n % max(1, count // 4) == 0:
                    say(f"review movie: {n}/{count} frames")
        finally:
            if writer is not None:
                writer.close()
    return out_mp4


def review_job(
    spec,
    result_paths: Sequence[str],
    folder: str | None = None,
    *,
    movie: bool = True,
    say: Callable[[str], None] = lambda _text: None,
) -> list[str]:
    """Write the review of a finished job into ``folder`` (default :func:`review_folder`);
    returns the files written. ``spec`` is the job's, with local paths."""
    if not result_paths:
        return []
    folder = folder or review_folder(result_paths)
    os.makedirs(folder, exist_ok=True)
    frames = _Frames(spec, result_paths)
    written = [contact_sheet(frames, spec, os.path.join(folder, "contact_sheet.png"))]
    if movie:
        mp4 = before_after_movie(frames, os.path.join(folder, "before_after.mp4"), say)
        if mp4:
            written.append(mp4)
    return written
