"""The JSON report of a conform: every shot with what was resolved, what ran and what failed."""

from __future__ import annotations

import json

from void_vfx.atomic import atomic_target
from void_vfx.framerate import fps_text

SCHEMA = "void-vfx/conform-report/1"


def _shot_entry(job, result=None) -> dict:
    r = job.resolved
    rec = r.shot.record
    entry = {
        "name": r.shot.name,
        "where": r.shot.where,
        "marked_by": r.shot.marked_by,
        "prompt": r.shot.prompt,
        "key": job.key,
        "plate": r.plate,
        "movie": r.movie,
        "colourspace": job.spec.colourspace,
        "fps": fps_text(r.rate),
        "frames": [r.first, r.last],
        "cut": [r.cut_first, r.cut_last],
        "handles": list(r.handles),
        "mattes": [
            {"role": m.role, "path": m.pattern, "channel": m.channel, "how": m.how}
            for m in r.mattes
        ],
        "record": None
        if rec is None
        else {
            "start": rec.start_time.value,
            "duration": rec.duration.value,
            "rate": rec.start_time.rate,
            "timecode": r.shot.record_timecode,
        },
        "windows": [[w.first, w.last, w.length] for w in job.plan.windows],
        "estimate_gpu_s": round(job.estimate_s, 1),
        "notes": list(r.notes),
        "state": "planned",
    }
    if result is not None:
        entry.update(
            state=result.state,
            job_id=result.job_id,
            result=result.pattern,
            result_frames=list(result.frames) if result.frames else None,
            error=result.message,
            farm=result.farm or None,
        )
    return entry


def build_report(
    *,
    timeline: str,
    adapter: str,
    jobs,
    results,
    failed,
    skipped,
    written=None,
    dry_run: bool,
    engine: str,
    server: str = "",
) -> dict:
    """The report as plain data (``failed``: ShotErrors found while resolving)."""
    by_key = {id(r.job): r for r in results or []}
    shots = [_shot_entry(j, by_key.get(id(j))) for j in jobs]
    shots += [{"name": e.clip, "state": "failed", "error": e.reason} for e in failed]
    bad = sum(1 for s in shots if s["state"] == "failed")
    return {
        "schema": SCHEMA,
        "timeline": timeline,
        "adapter": adapter,
        "dry_run": dry_run,
        "engine": engine,
        "server": server,
        "output": written.path if written else None,
        "output_adapter": written.adapter if written else None,
        "output_message": written.message if written else "",
        "shots": shots,
        "skipped": [{"name": s.name, "where": s.where, "reason": s.reason} for s in skipped],
        "failed": bad,
        "estimate_gpu_s": round(sum(j.estimate_s for j in jobs), 1),
    }


def write_report(report: dict, path: str) -> None:
    with atomic_target(path, suffix=".json") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
