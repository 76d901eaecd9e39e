"""Cut one temporal window out of the shot for the engine: crop, colour, working size, padding.

For each window it reads only that window's frames (memory is bounded by one window, not the
shot) and only the rows its crop needs, plans one 7:4 crop around the window's mask (each frame's
mask made once per job), converts the plate to the model's encoding and sizes it to the working
size. The result is the engine's :class:`WindowInput` and the
:class:`~void_vfx.render.store.WindowRecord` assembly needs to undo it (a
:class:`~void_vfx.render.job.RenderJob` names a window with nothing to remove a ``Skip``).
"""

from __future__ import annotations

from concurrent.futures import Executor
from threading import Event

import numpy as np

from void_vfx.errors import Cancelled
from void_vfx.media.sequences import find_sequence
from void_vfx.model_facts import WORK_HEIGHT, WORK_WIDTH
from void_vfx.render.engine import WindowInput
from void_vfx.render.quadmask import has_object
from void_vfx.render.roi import crop_for_bounds, inside_to_work, mask_part_to_work, mask_source_rows
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.store import WindowRecord
from void_vfx.render.windows import Window, WindowPlan, planned_for

WORK_SIZE = (WORK_HEIGHT, WORK_WIDTH)


def _window_input(frames, quadmask, spec, window: Window, pass1=None) -> WindowInput:
    return WindowInput(
        frames=frames,
        quadmask=quadmask,
        prompt=spec.prompt,
        seed=int(spec.sampling.seed),
        params=spec.engine_params(),
        pass1=pass1,
    )


def shot_plan(shot: Shot) -> WindowPlan:
    """The window plan a spec asks for over the plate's frames."""
    return planned_for(shot.spec.window, shot.first, shot.last, shot.fps)


def prepare_window(
    spec,
    plan: WindowPlan,
    window: Window,
    *,
    on_warning: Warn | None = None,
    shot: Shot | None = None,
    pool: Executor | None = None,
    stop: Event | None = None,
):
    """Cut one window out of the shot for the engine.

    Returns (WindowInput, WindowRecord), or (None, message) when the window's mask has no object
    pixels (it is skipped and the plate passes through there). Each frame's quadmask is made once
    per job (:meth:`Shot.compact_quadmask`); the plate is decoded only over the crop's rows.
    ``pool`` spreads the frames over threads; ``stop`` (set) abandons the window with Cancelled.
    """
    shot = shot or Shot.open(spec, on_warning=on_warning)
    frames = list(window.frames())
    masks = _map(pool, _checked(stop, shot.compact_quadmask), frames)
    where = f"window {window.index} (frames {window.first}-{window.last})"
    if not any(m.sub is not None and has_object(m.sub) for m in masks):
        return None, (
            f"{where}: the mask ({shot.mask_sources()}) has no object pixels (0 or 63) on any "
            "frame; skipped, the plate passes through unchanged there"
        )
    bounds = [m.bounds() for m in masks if m.sub is not None]
    union = (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )
    roi = spec.roi
    box = crop_for_bounds(
        union, shot.width, shot.height, margin=roi.margin, feather=roi.feather, mode=roi.mode
    )
    # Full-length arrays: real frames first, then the mirror padding copied in place (no second
    # copy of the window).
    work = np.empty((window.length, *WORK_SIZE, 3), dtype=np.float32)
    qwork = np.empty((window.length, *WORK_SIZE), dtype=np.uint8)
    (mx0, my0, mx1, my1), wy, wx = mask_source_rows(box, WORK_SIZE)

    def one(i: int) -> None:
        f = frames[i]
        work[i] = _working_frame(shot, shot.plate.path(f), f, box)
        qwork[i] = mask_part_to_work(masks[i].region(mx0, my0, mx1, my1), wy, wx)

    _map(pool, _checked(stop, one), range(len(frames)))
    pass1 = _read_pass1(spec, shot, window, box, pool) if spec.pass1_result is not None else None
    for i, f in enumerate(window.source_frames()):
        if i >= window.frame_count:
            work[i] = work[f - window.first]
            qwork[i] = qwork[f - window.first]
            if pass1 is not None:
                pass1[i] = pass1[f - window.first]
    ctx = WindowRecord(window.index, window.first, window.last, box, float(work.max()))
    return _window_input(work, qwork, spec, window, pass1), ctx


def _map(pool: Executor | None, fn, items) -> list:
    return list(pool.map(fn, items)) if pool is not None else [fn(x) for x in items]


def _checked(stop: Event | None, fn):
    """``fn`` that first raises Cancelled once ``stop`` is set (a cancel stops between frames)."""
    if stop is None:
        return fn

    def run(x):
        if stop.is_set():
            raise Cancelled("stopped")
        return fn(x)

    return run


def _working_frame(shot: Shot, path: str, frame: int, box, *, plate: bool = True) -> np.ndarray:
    """One frame cut to the window's crop, in the model's encoding at the working size.

    Sizes were checked from the headers when the shot was opened. Only the crop's rows of a
    plate frame are decoded (NaN/Inf there are replaced by the colour conversion; they are
    counted and reported over the whole frame when it is assembled).
    """
    x0, y0, x1, y1 = box.inside()
    if plate:
        crop = shot.read_rows(path, frame, y0, y1, x0, x1)
    else:
        from void_vfx.media.image_io import read_image

        crop = read_image(path, "rgb", frame=frame).pixels[y0:y1, x0:x1]
    # read_rows gives float32 rows as a fresh array (converted in place) and half rows as
    # read-only values, which the conversion only reads.
    rgb = shot.colour.to_working(crop, owned=plate)
    return np.clip(inside_to_work(rgb, box, WORK_SIZE), 0.0, 1.0)


def _read_pass1(spec, shot: Shot, window: Window, box, pool=None) -> np.ndarray:
    """A saved Pass 1 result (a void-vfx output of this plate), cut exactly like the plate."""

    seq = find_sequence(spec.pass1_result.path)
    out = np.empty((window.length, *WORK_SIZE, 3), dtype=np.float32)

    def one(i: int) -> None:
        f = window.first + i
        out[i] = _working_frame(shot, seq.path(f), f, box, plate=False)

    _map(pool, one, range(window.frame_count))
    return out
