"""Cut one temporal window out of the shot for the engine: crop, colour, working size, padding.

For each window it reads only that window's frames (memory is bounded by one window, not the
shot), plans one 7:4 crop around the window's mask, converts the plate to the model's encoding and
sizes it to the working size. The result is the engine's :class:`WindowInput` and the
:class:`WindowContext` assembly needs to undo it.
"""

from __future__ import annotations

import numpy as np

from void_vfx.model_facts import QUAD_KEEP, WORK_HEIGHT, WORK_WIDTH
from void_vfx.render.engine import WindowInput
from void_vfx.render.quadmask import has_object
from void_vfx.render.roi import inside_to_work, plan_crop, quadmask_to_work
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.store import WindowContext
from void_vfx.render.windows import Window, WindowPlan, plan_windows

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
    w = shot.spec.window
    return plan_windows(
        shot.first,
        shot.last,
        min_length=w.min_length,
        max_length=w.max_length,
        overlap=w.overlap,
        fps=shot.fps,
    )


def prepare_window(
    spec,
    plan: WindowPlan,
    window: Window,
    *,
    on_warning: Warn | None = None,
    shot: Shot | None = None,
):
    """Cut one window out of the shot for the engine.

    Returns (WindowInput, WindowContext), or (None, message) when the window's mask has no object
    pixels (it is skipped and the plate passes through there). Two passes over the window's masks
    keep memory small: the first finds the union for the crop, the second sizes each frame.
    """
    shot = shot or Shot.open(spec, on_warning=on_warning)
    masks: dict[int, tuple[int, int, np.ndarray] | None] = {}
    union = np.zeros((shot.height, shot.width), dtype=bool)
    found = False
    for f in window.frames():
        q = shot.quadmask(f)
        nonkeep = q != QUAD_KEEP
        found = found or has_object(q)
        rows, cols = np.flatnonzero(nonkeep.any(axis=1)), np.flatnonzero(nonkeep.any(axis=0))
        if rows.size:
            union |= nonkeep
            y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            masks[f] = (int(y0), int(x0), q[y0:y1, x0:x1].copy())
        else:
            masks[f] = None
    where = f"window {window.index} (frames {window.first}-{window.last})"
    if not found:
        return None, (
            f"{where}: the mask ({shot.mask_sources()}) has no object pixels (0 or 63) on any "
            "frame; skipped, the plate passes through unchanged there"
        )
    roi = spec.roi
    box = plan_crop(
        np.where(union, np.uint8(0), np.uint8(QUAD_KEEP))[None],
        margin=roi.margin,
        feather=roi.feather,
        mode=roi.mode,
    )
    # Full-length arrays: real frames first, then the mirror padding copied in place (no second
    # copy of the window).
    work = np.empty((window.length, *WORK_SIZE, 3), dtype=np.float32)
    qwork = np.empty((window.length, *WORK_SIZE), dtype=np.uint8)
    for i, f in enumerate(window.frames()):
        work[i] = _working_frame(shot, shot.plate.path(f), f, box)
        q = np.full((shot.height, shot.width), QUAD_KEEP, dtype=np.uint8)
        if masks[f] is not None:
            my, mx, sub = masks[f]
            q[my : my + sub.shape[0], mx : mx + sub.shape[1]] = sub
        qwork[i] = quadmask_to_work(q, box, WORK_SIZE)
    pass1 = _read_pass1(spec, shot, window, box) if spec.pass1_result is not None else None
    for i, f in enumerate(window.source_frames()):
        if i >= window.frame_count:
            work[i] = work[f - window.first]
            qwork[i] = qwork[f - window.first]
            if pass1 is not None:
                pass1[i] = pass1[f - window.first]
    ctx = WindowContext(window.index, window.first, window.last, box, float(work.max()))
    return _window_input(work, qwork, spec, window, pass1), ctx


def _working_frame(shot: Shot, path: str, frame: int, box, *, plate: bool = True) -> np.ndarray:
    """One frame cut to the window's crop, in the model's encoding at the working size.

    Sizes were checked from the headers when the shot was opened; a plate frame is also noted
    (its size, and NaN/Inf reported once).
    """
    from void_vfx.media.image_io import read_image

    img = read_image(path, "rgb", frame=frame)
    if plate:
        shot.note_frame(img, frame)
    x0, y0, x1, y1 = box.inside()
    rgb = shot.colour.to_working(img.pixels[y0:y1, x0:x1])
    return np.clip(inside_to_work(rgb, box, WORK_SIZE), 0.0, 1.0)


def _read_pass1(spec, shot: Shot, window: Window, box) -> np.ndarray:
    """A saved Pass 1 result (a void-vfx output of this plate), cut exactly like the plate."""
    from void_vfx.media.sequences import find_sequence

    seq = find_sequence(spec.pass1_result.path)
    out = np.empty((window.length, *WORK_SIZE, 3), dtype=np.float32)
    for i, f in enumerate(window.frames()):
        out[i] = _working_frame(shot, seq.path(f), f, box, plate=False)
    return out
