"""Run a shot, engine-agnostic: every window prepared, run and committed, then the frames assembled.

The server's worker calls :func:`process_shot`; a farm runs the same stages one task at a time
(:func:`open_job`, then :mod:`.prepare`, :mod:`.store`, :mod:`.assemble`). Committed windows are
skipped on a rerun, which is how a job resumes after a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import Cancelled, MaskError, PlanError
from void_vfx.render.assemble import assemble_frames, output_path
from void_vfx.render.prepare import prepare_window, shot_plan
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.store import commit_skipped, commit_window, load_window_meta
from void_vfx.render.windows import WindowPlan

Progress = Callable[[int, int, str], None]


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


def open_job(spec, job_dir: str, *, on_warning: Warn | None = None) -> tuple[Shot, WindowPlan]:
    """The shot checked against the disk and the job's window plan (saved in ``job_dir``)."""
    shot = Shot.open(spec, on_warning=on_warning)
    return shot, _load_or_save_plan(job_dir, shot)


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
    shot, plan = open_job(spec, job_dir, on_warning=warn)
    total = len(plan.windows)
    computed, skipped, reused = [], [], []
    notes: list[str] = []  # the engine's notes, each said once per job
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
        result = engine_fn(window_input)
        for note in getattr(result, "notes", ()):
            if note not in notes:
                notes.append(note)
                warn(note)
        commit_window(job_dir, w, result, ctx)
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
        "notes": notes,
        "frames_written": len(written),
        "paths": paths,
        # NaN/Inf values per plate frame (replaced for processing, kept outside the mask).
        "nonfinite": dict(sorted(shot.nonfinite.items())),
        "first": plan.first,
        "last": plan.last,
        "out_dir": out_dir,
    }
