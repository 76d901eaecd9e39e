"""Run a shot, engine-agnostic: every window prepared, run and committed, every frame assembled.

The server's worker calls :func:`process_shot`, which overlaps the stages (:mod:`.pipeline`); a
farm runs the same stages one task at a time (:func:`open_job`, then :mod:`.prepare`,
:mod:`.store`, :mod:`.assemble`). Committed windows are skipped on a rerun, which is how a job
resumes after a crash.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import PlanError
from void_vfx.render.pipeline import run_windows
from void_vfx.render.prepare import shot_plan
from void_vfx.render.shot import Shot, Warn
from void_vfx.render.windows import WindowPlan

Progress = Callable[[int, int, str], None]


def _load_or_save_plan(job_dir: str, shot: Shot) -> WindowPlan:
    """The job's plan: the saved one on resume (it must still cover the plate), else a new one.

    Always the plan as read back from ``plan.json``: its crossfade weights are the saved, rounded
    ones, so a resumed job assembles exactly the bits of an uninterrupted one.
    """
    path = os.path.join(job_dir, "plan.json")
    plan = shot_plan(shot)
    if not os.path.isfile(path):
        with atomic_target(path) as tmp, open(tmp, "w") as fh:
            fh.write(plan.to_json())
    with open(path) as fh:
        saved = WindowPlan.from_json(fh.read())
    if (saved.first, saved.last) != (plan.first, plan.last) or saved.windows != plan.windows:
        raise PlanError(
            f"{path}: the saved window plan ({saved.first}-{saved.last}) no longer matches the "
            f"plate ({plan.first}-{plan.last}); start a new job folder"
        )
    return saved


#: Spec fields that do not change what a job folder holds (windows, masks): where results go,
#: queue order, and the file paths (a farm maps them per worker; the plan check covers frames);
#: the finish, which assembly alone applies.
_NOT_IN_RESULTS = ("output", "priority", "schema", "finish")


def _what_makes_results(spec) -> dict[str, Any]:
    data = spec.to_dict()
    for name in _NOT_IN_RESULTS:
        data.pop(name, None)
    data.pop("plate", None)
    for name in ("primary", "affected", "quadmask", "pass1_result"):
        if isinstance(data.get(name), dict):
            data[name] = {k: v for k, v in data[name].items() if k != "path"}
    return data


def _check_same_spec(job_dir: str, spec) -> None:
    """Keep in ``job_dir`` what made its windows and masks; a rerun with other settings (a
    prompt, a seed, mask thresholds) would otherwise reuse results that are not its own."""
    import json

    path = os.path.join(job_dir, "made_by.json")
    mine = _what_makes_results(spec)
    if not os.path.isfile(path):
        os.makedirs(job_dir, exist_ok=True)
        with atomic_target(path) as tmp, open(tmp, "w") as fh:
            json.dump(mine, fh, indent=1, sort_keys=True)
        return
    with open(path) as fh:
        saved = json.load(fh)
    changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if changed:
        raise PlanError(
            f"{job_dir}: this job folder holds the results of another spec (it differs in "
            f"{', '.join(changed)}); start a new job folder, or put those settings back to resume"
        )


def open_job(spec, job_dir: str, *, on_warning: Warn | None = None) -> tuple[Shot, WindowPlan]:
    """The shot checked against the disk and the job's window plan (saved in ``job_dir``); each
    frame's quadmask is kept in ``job_dir`` once made. A job folder made by a spec with other
    settings is refused."""
    shot = Shot.open(spec, on_warning=on_warning)
    _check_same_spec(job_dir, spec)
    plan = _load_or_save_plan(job_dir, shot)
    shot.masks.attach(job_dir)
    return shot, plan


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
    WindowOutput`` and write the output frames, overlapped (:mod:`.pipeline`). Returns a
    summary of plain values.

    ``progress(index, windows, message)``: ``index`` is the share of all the work done (frames
    read, frames through the engine, frames written) on the scale of the window count, the
    message says frames read, windows run, frames written, the rate and an estimate; a callback
    that also takes ``stats=`` gets those as a dict. Callbacks are never called concurrently.
    """
    lock = threading.RLock()
    warn_to = on_warning or (lambda _m: None)

    def warn(message: str) -> None:
        with lock:
            warn_to(message)

    shot, plan = open_job(spec, job_dir, on_warning=warn)
    try:
        run = run_windows(
            shot,
            plan,
            engine_fn,
            job_dir,
            out_dir,
            progress=progress,
            warn=warn,
            lock=lock,
            should_cancel=should_cancel,
            stem=stem,
        )
    finally:
        snapped = shot.snap_summary()  # one line per job, whatever happened
        if snapped:
            warn(snapped)
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
