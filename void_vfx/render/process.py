"""Run a shot, engine-agnostic: every window prepared, run and committed, every frame assembled.

The server's worker calls :func:`process_shot`, which overlaps the stages of a
:class:`~void_vfx.render.job.RenderJob` (:mod:`.pipeline`); a farm runs the same stages one
task at a time (:mod:`void_vfx.farm.stages`). Committed windows are skipped on a rerun, which is
how a job resumes after a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from void_vfx.render.job import RenderJob
from void_vfx.render.pipeline import run_job
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.windows import WindowPlan

Progress = Callable[[int, int, str], None]


def open_job(spec, job_dir: str, *, on_warning: Warn | None = None) -> tuple[Shot, WindowPlan]:
    """The shot checked against the disk and the job's window plan (saved in ``job_dir``):
    :meth:`RenderJob.open <void_vfx.render.job.RenderJob.open>`, for callers that want the two."""
    job = RenderJob.open(spec, job_dir, on_warning=on_warning)
    return job.shot, job.plan


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
    engine_slots: int = 1,
) -> dict[str, Any]:
    """Run every window not yet committed through ``engine_fn(WindowInput) -> frames or
    WindowOutput`` and write the output frames, overlapped (:mod:`.pipeline`). Returns a
    summary of plain values.

    ``progress(index, windows, message)``: ``index`` is the share of all the work done (frames
    read, frames through the engine, frames written) on the scale of the window count. A
    callback that also takes ``stats=`` gets what just happened as its message and the counts
    (frames read, windows run, frames written, the rate and an estimate) as a dict; a
    three-argument one gets the counts written into the message. Callbacks are never called
    concurrently.
    ``engine_slots``: windows handed to ``engine_fn`` at once, from as many threads (a server
    with several GPUs); the frames are the same bits whatever it is.
    """
    lock = threading.RLock()
    warn_to = on_warning or (lambda _m: None)

    def warn(message: str) -> None:
        with lock:
            warn_to(message)

    job = RenderJob.open(spec, job_dir, on_warning=warn)
    try:
        run = run_job(
            job,
            engine_fn,
            out_dir,
            progress=progress,
            lock=lock,
            should_cancel=should_cancel,
            stem=stem,
            engine_slots=engine_slots,
        )
    finally:
        job.finish()  # one line per job, whatever happened
    plan, shot = job.plan, job.shot
    written = [f for f, p in run["written"].items() if p is not None]
    return {
        "windows": len(plan.windows),
        "computed": run["computed"],
        "skipped": run["skipped"],
        "reused": run["reused"],
        "notes": run["notes"],
        "frames_written": len(written),
        "paths": [run["written"][f] for f in written],
        # NaN/Inf values per plate frame (replaced for processing, kept outside the mask),
        # counted over the rows decoded for its output: the whole frame, or only the changed
        # chunks where the others are copied as they are.
        "nonfinite": dict(sorted(shot.nonfinite.items())),
        "first": plan.first,
        "last": plan.last,
        "out_dir": out_dir,
        "output_mode": getattr(spec.output, "mode", "full"),
    }
