"""Shot processing, engine-agnostic: window in, window out, frames assembled at full resolution.

The server calls :func:`process_shot`. For each temporal window it reads only that window's
frames (memory is bounded by one window, not the shot), plans one 7:4 crop around the mask,
converts and sizes the plate to the model's working size, runs the engine, and commits the
working-size result with its crop box to the job folder. Committed windows are skipped on a
rerun, which is how a job resumes after a crash. Assembly then resizes each window back, returns
it to the plate's colour space, crossfades overlapping windows and pastes the result into the
plate under the feathered mask; every other pixel keeps the plate's own bits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import Cancelled, EngineError, MaskError, PlanError
from void_vfx.model_facts import QUAD_KEEP, WORK_HEIGHT, WORK_WIDTH
from void_vfx.render.engine import WindowInput
from void_vfx.render.quadmask import has_object
from void_vfx.render.roi import (
    CropBox,
    alpha_region,
    blend_region,
    inside_to_work,
    paste_alpha,
    plan_crop,
    quadmask_to_work,
    uncrop,
)
from void_vfx.render.shot import (
    Shot,
    Warn,
    box_of,
    display_view,
    load_window_frames,
    load_window_meta,
    onto_data_window,
    save_window,
)
from void_vfx.render.windows import Window, WindowPlan, plan_windows

Progress = Callable[[int, int, str], None]
WORK_SIZE = (WORK_HEIGHT, WORK_WIDTH)


@dataclass
class WindowContext:
    """What assembly needs to undo a window's preparation: frames, crop box, colour ceiling."""

    index: int
    first: int
    last: int
    box: CropBox
    ceiling: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = self.box.to_dict()
        return d


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


def commit_window(job_dir: str, window: Window, output_frames_working, ctx: WindowContext) -> None:
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
    save_window(job_dir, window.index, real, {"skipped": False, **ctx.to_dict()})


def commit_skipped(job_dir: str, window: Window, reason: str) -> None:
    """Record that a window had nothing to remove, so a resume does not redo it."""
    save_window(
        job_dir,
        window.index,
        None,
        {
            "skipped": True,
            "index": window.index,
            "first": window.first,
            "last": window.last,
            "reason": reason,
        },
    )


def _composite(shot: Shot, job_dir: str, cover, metas, frame: int, img) -> np.ndarray:
    """The output pixels of one frame: crossfaded window results pasted into the raw plate."""
    raw = img.raw if img.raw is not None else img.pixels
    if all(m["skipped"] for m in metas):
        return raw
    alpha = paste_alpha(shot.quadmask(frame), shot.spec.roi.feather)
    region = alpha_region(alpha)
    if region is None:
        return raw
    x0, y0, x1, y1 = region
    plate_rgb = img.pixels[y0:y1, x0:x1][..., list(shot.rgb_index)]
    acc = np.zeros(plate_rgb.shape, dtype=np.float32)
    for (w, weight), meta in zip(cover, metas, strict=True):
        if weight == 0:
            continue
        if meta["skipped"]:
            acc += weight * plate_rgb
            continue
        result = np.asarray(load_window_frames(job_dir, w.index)[frame - w.first])
        rgb = np.clip(uncrop(result, box_of(meta), region), 0.0, 1.0)
        acc += weight * shot.colour.from_working(rgb, ceiling=meta["ceiling"])
    return blend_region(raw, acc, region, alpha, shot.rgb_index)


def output_path(shot: Shot, out_dir: str, frame: int, stem: str | None = None) -> str:
    """``<out_dir>/<stem>.<frame>.exr``. The stem defaults to the folder's name when that is a
    reserved version folder (``plate_void_v001``), else ``<output.name or plate>_void``; the
    padding is the plate's (at least 4)."""
    from void_vfx.job.naming import OutputName, plate_stem

    if stem is None:
        folder = os.path.basename(os.path.normpath(out_dir))
        if re.search(r"_v\d{3,}$", folder):
            stem = folder
        else:
            stem = f"{shot.spec.output.name or plate_stem(shot.spec.plate)}_void"
    return OutputName(0, out_dir, stem).path(frame, max(4, shot.plate.padding))


def assemble_frames(
    job_dir: str,
    spec,
    plan: WindowPlan,
    out_dir: str,
    *,
    frames=None,
    shot: Shot | None = None,
    stem: str | None = None,
    on_warning: Warn | None = None,
) -> list[int]:
    """Write the final EXR of every plate frame (of ``frames``) whose windows are all committed.

    Returns the frames written. Header, channels and data window of the plate are carried (the
    result is pasted where data and display windows overlap; overscan keeps the plate's bits);
    compression and pixel type come from the spec. Frames of skipped windows are the plate,
    rewritten.
    """
    from void_vfx.media.image_io import read_image
    from void_vfx.media.image_write import write_exr

    shot = shot or Shot.open(spec, on_warning=on_warning)
    wanted = list(frames) if frames is not None else list(range(plan.first, plan.last + 1))
    cache: dict[int, dict | None] = {}
    written = []
    for f in wanted:
        cover = plan.windows_for_frame(f)
        for w, _ in cover:
            if w.index not in cache:
                cache[w.index] = load_window_meta(job_dir, w.index)
        metas = [cache[w.index] for w, _ in cover]
        if any(m is None for m in metas):
            continue
        plate_path = shot.plate.path(f)
        img = read_image(plate_path, frame=f, window="data")
        shot.note_frame(img, f, whole=True)
        pixels = _composite(shot, job_dir, cover, metas, f, display_view(img))
        pixels, origin = onto_data_window(pixels, img)
        write_exr(
            output_path(shot, out_dir, f, stem),
            pixels,
            header=_with_rate(img.header, shot.fps),
            origin=origin,
            compression=spec.output.compression,
            pixel_type=spec.output.pixel_type,
            channel_names=img.channel_names,
            sources=[plate_path],
        )
        written.append(f)
    return written


def _with_rate(header, fps: str):
    """The plate's header, given the shot's frame rate where the plate carries none."""
    if "FramesPerSecond" in header.attributes:
        return header
    from fractions import Fraction

    rate = Fraction(fps)
    header.attributes["FramesPerSecond"] = (rate.numerator, rate.denominator)
    header.attribute_types["FramesPerSecond"] = "rational"
    return header


def _load_or_save_plan(job_dir: str, shot: Shot) -> WindowPlan:
    """The job's plan: the saved one on resume (it must still cover the plate), else a new one."""
    path = os.path.join(job_dir, "plan.json")
    plan = shot_plan(shot)
    if os.path.isfile(path):
        with open(path) as fh:
            saved = WindowPlan.from_json(fh.read())
        if (saved.first, saved.last) != (plan.first, plan.last) or saved.windows != plan.windows:
            raise PlanError(
                f"{path}: the saved window plan ({saved.first}-{saved.last}) no longer matches the "
                f"plate ({plan.first}-{plan.last}); start a new job folder"
            )
        return saved
    with atomic_target(path) as tmp, open(tmp, "w") as fh:
        fh.write(plan.to_json())
    return plan


def process_shot(
    spec,
    engine_fn: Callable[[Any], Any],
    job_dir: str,
    out_dir: str,
    progress: Progress | None = None,
    *,
    on_warning: Warn | None = None,
    should_cancel: Callable[[], bool] | None = None,
    stem: str | None = None,
) -> dict[str, Any]:
    """Run every window not yet committed through ``engine_fn(WindowInput) -> frames or
    WindowOutput``, then assemble the output frames. Returns a summary of plain values."""
    warn = on_warning or (lambda _m: None)
    report = progress or (lambda _s, _t, _m: None)
    shot = Shot.open(spec, on_warning=warn)
    plan = _load_or_save_plan(job_dir, shot)
    total = len(plan.windows)
    computed, skipped, reused = [], [], []
    for w in plan.windows:
        if should_cancel and should_cancel():
            raise Cancelled(f"job cancelled before window {w.index}; committed windows are kept")
        if load_window_meta(job_dir, w.index) is not None:
            reused.append(w.index)
            continue
        report(w.index, total, f"window {w.index}: frames {w.first}-{w.last}, preparing")
        window_input, ctx = prepare_window(spec, plan, w, on_warning=warn, shot=shot)
        if window_input is None:
            warn(ctx)
            commit_skipped(job_dir, w, ctx)
            skipped.append(w.index)
            continue
        report(w.index, total, f"window {w.index}: running the engine")
        commit_window(job_dir, w, engine_fn(window_input), ctx)
        computed.append(w.index)
        report(w.index + 1, total, f"window {w.index}: committed")
    metas = [load_window_meta(job_dir, w.index) or {} for w in plan.windows]
    if all(m.get("skipped") for m in metas):
        # A job that would only copy the plate is almost always a matte read from the wrong
        # channel or an empty roto: say so rather than write a version that changes nothing.
        raise MaskError(
            f"{metas[0].get('reason', 'no object pixels')}. Every window was skipped, so nothing "
            "would be removed: check the matte's channel (an alpha may be empty when the matte "
            "is in RGB), its threshold, and the frame range"
        )
    report(total, total, "assembling frames")
    written = assemble_frames(job_dir, spec, plan, out_dir, shot=shot, stem=stem)
    paths = [output_path(shot, out_dir, f, stem) for f in written]
    return {
        "windows": total,
        "computed": computed,
        "skipped": skipped,
        "reused": reused,
        "frames_written": len(written),
        "paths": paths,
        # NaN/Inf values per plate frame (replaced for processing, kept outside the mask).
        "nonfinite": dict(sorted(shot.nonfinite.items())),
        "first": plan.first,
        "last": plan.last,
        "out_dir": out_dir,
    }
