"""The three farm tasks on a job folder, engine-agnostic: the worker commands call these.

They drive the render's own stages (:class:`~void_vfx.render.job.RenderJob`), as the server's
pipeline does, so a farm job and a server job of the same spec and seed give the same frames.
The job folder holds the spec as submitted (``job.json``; each task maps its paths with its own
session's rules), the window plan, the committed windows and, once assembly has reserved it,
the output version (``assembled.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import Cancelled, PlanError, SpecError
from void_vfx.farm.pathmap import Rule, map_spec
from void_vfx.job.naming import OutputName, reserve_for_spec
from void_vfx.job.spec import JobSpec
from void_vfx.render.progress import JobProgress

SPEC_FILE = "job.json"
ASSEMBLED_FILE = "assembled.json"
#: The job folder's scratch (window results, mask cache, splice bands): removed once the job is
#: assembled, so an INOUT job folder (Deadline syncs it both ways) carries nothing back and
#: nothing stays. The spec and the assembly record stay (a few KB), so a retried task knows.
SCRATCH = ("windows", "masks", "bands", "plan.json", "made_by.json")

Say = Callable[[str], None]
Progress = Callable[[float], None]


def _quiet(_m: Any) -> None:
    pass


def read_spec_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise SpecError("<spec>", f"{path}: cannot read the job spec ({exc.strerror})") from None


def load_spec(job_dir: str, rules: list[Rule]):
    """The job's spec, its paths mapped for this machine."""

    path = os.path.join(job_dir, SPEC_FILE)
    if not os.path.isfile(path):
        raise PlanError(
            f"{job_dir} is not a prepared job folder (no {SPEC_FILE}); run the Prepare task "
            f"first: void-vfx worker prepare JOB.json --job-dir {job_dir}"
        )
    return map_spec(JobSpec.from_json(read_spec_text(path)), rules)


def prepare_job(
    spec_path: str,
    job_dir: str,
    rules: list[Rule],
    *,
    expect_windows: int | None = None,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Validate the spec, check every frame and matte, save spec and window plan in ``job_dir``.

    A retried Prepare on the same spec is harmless; another spec in the same folder is refused.
    """
    from void_vfx.render.job import RenderJob

    text = read_spec_text(spec_path)
    submitted = JobSpec.from_json(text)
    spec = map_spec(submitted, rules)
    os.makedirs(job_dir, exist_ok=True)
    stored = os.path.join(job_dir, SPEC_FILE)
    if os.path.isfile(stored):
        if JobSpec.from_json(read_spec_text(stored)).to_dict() != submitted.to_dict():
            raise PlanError(
                f"{job_dir} already holds another job ({stored}); give each job its own folder"
            )
    else:
        with atomic_target(stored) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(submitted.to_json() + "\n")
    job = RenderJob.open(spec, job_dir, on_warning=say)
    shot, plan = job.shot, job.plan
    if expect_windows is not None and len(plan.windows) != expect_windows:
        raise PlanError(
            f"{spec.plate}: frames {plan.first}-{plan.last} now make {len(plan.windows)} "
            f"window(s), the job was written for {expect_windows}: the plate changed since; "
            "write and submit the job again"
        )
    return {
        "first": plan.first,
        "last": plan.last,
        "windows": len(plan.windows),
        "frames": len(shot.frames),
    }


def window_of(plan, index: int):
    for w in plan.windows:
        if w.index == index:
            return w
    raise PlanError(f"window {index} is not in the plan (windows 0-{len(plan.windows) - 1})")


def committed(job_dir: str, index: int) -> bool:
    """Whether window ``index`` needs no run: committed, or the whole job already assembled
    (its scratch is gone then)."""
    from void_vfx.render.store import load_window_meta

    record = _record(job_dir)
    if record and record.get("done"):
        return True
    return load_window_meta(job_dir, index) is not None


def clean_scratch(job_dir: str, names: tuple[str, ...] = SCRATCH) -> None:
    """Remove the job folder's scratch entries (only these names: a ``--job-dir`` may hold
    other things)."""

    for name in names:
        path = os.path.join(job_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            with contextlib.suppress(OSError):
                os.remove(path)


def run_window(
    job_dir: str,
    index: int,
    engine_fn: Callable[[Any], Any],
    rules: list[Rule],
    *,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Run one window through ``engine_fn(WindowInput)`` and commit it; a committed window is
    left alone (a retried or duplicated task does nothing)."""
    from void_vfx.render.job import RenderJob

    if committed(job_dir, index):
        return {"window": index, "state": "already committed"}
    job = RenderJob.open(load_spec(job_dir, rules), job_dir, on_warning=say)
    w = job.window(index)
    say(f"window {index}: frames {w.first}-{w.last}, preparing")
    record = job.commit(
        job.prepare(w),
        engine_fn,
        before_engine=lambda _w: say(f"window {index}: running the engine"),
    )
    return {"window": index, "state": "skipped" if record.skipped else "committed"}


def _record(job_dir: str) -> dict[str, Any] | None:
    path = os.path.join(job_dir, ASSEMBLED_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _save_record(job_dir: str, record: dict[str, Any]) -> None:
    with atomic_target(os.path.join(job_dir, ASSEMBLED_FILE)) as tmp, open(tmp, "w") as fh:
        json.dump(record, fh, indent=1)


def assemble_job(
    job_dir: str,
    rules: list[Rule],
    *,
    out_dir: str = "",
    otio: bool = False,
    say: Say = _quiet,
    progress: Progress = _quiet,
    should_cancel: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Paste every window back and write the final EXRs into the job's version folder.

    The version is reserved once (``reserve_for_spec``) and remembered, so a retried Assemble
    rewrites the same version instead of taking the next; a finished one does nothing.
    """
    from void_vfx.render.job import RenderJob

    spec = load_spec(job_dir, rules)
    record = _record(job_dir)
    if record and record.get("done") and os.path.isdir(record["folder"]):
        return {**record, "state": "already assembled"}
    clean_scratch(job_dir, ("bands",))  # bands a killed Assemble left: only one Assemble runs
    job = RenderJob.open(spec, job_dir, on_warning=say)
    shot, plan = job.shot, job.plan
    records = job.records()
    missing = [i for i, r in records.items() if r is None]
    if missing:
        raise PlanError(
            f"{job_dir}: window(s) {missing} are not committed; run their Infer tasks "
            f"(void-vfx worker run-window {job_dir} {missing[0]}) before assembling"
        )
    job.check_removes(records)
    if record and os.path.isdir(record["folder"]):
        out = OutputName(record["version"], record["folder"], record["stem"])
    else:
        out = reserve_for_spec(spec, out_dir or None)
        record = {"version": out.version, "folder": out.folder, "stem": out.stem, "done": False}
        _save_record(job_dir, record)
    frames = list(shot.frames)
    counts = JobProgress(windows=len(plan.windows), frames=len(frames))
    counts.windows_done = counts.windows
    paths: list[str] = []
    try:
        for f in frames:
            if should_cancel and should_cancel():
                raise Cancelled(f"assembly cancelled at frame {f}; rerun Assemble to finish")
            path = job.assemble(f, job.ready(f, records), out.folder, stem=out.stem)
            if path is None:
                counts.frames_unchanged += 1
            else:
                counts.frames_written += 1
                paths.append(path)
            progress(counts.percent())
    except BaseException:
        if not os.listdir(out.folder):  # a failed job leaves no empty version folder
            os.rmdir(out.folder)
            os.remove(os.path.join(job_dir, ASSEMBLED_FILE))
        raise
    job.finish()  # a delivered quadmask's snap, said once, as the server does
    clip = None
    if otio:
        from void_vfx.farm.otio_clip import write_clip

        clip = write_clip(out, shot, paths)
    record = {
        **record,
        "done": True,
        "frames": len(paths),
        "first": frames[0],
        "last": frames[-1],
        "otio": clip,
    }
    _save_record(job_dir, record)
    clean_scratch(job_dir)  # the job has ended: its caches go
    return {**record, "state": "assembled", "paths": paths}
