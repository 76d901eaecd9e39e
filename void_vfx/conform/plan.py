"""Shots to jobs: the job spec of each shot, its window plan, a GPU-time estimate, and a job key
that is the same for the same inputs (so a rerun skips shots already done) and changes when the
plate, a matte, the prompt or a setting changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from void_vfx.conform.mattes import METADATA_KEYS, safe_name
from void_vfx.conform.media import ResolvedShot
from void_vfx.conform.problems import ShotError
from void_vfx.conform.rates import rate_label
from void_vfx.errors import VoidVfxError
from void_vfx.framerate import fps_text
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.sequences import find_sequence
from void_vfx.render.mask_check import check_masks
from void_vfx.render.windows import planned_for

#: Rough seconds per denoising step of an 85-frame window at 384x672 on one H100-class GPU,
#: without classifier-free guidance (guidance doubles it). Measure yours with
#: ``python bench/gpu_void_bench.py``; this only sizes a batch before it is submitted.
SECONDS_PER_STEP_85 = 2.5
#: Preparing, VAE encode/decode and paste-back per window, seconds.
SECONDS_PER_WINDOW = 20.0


@dataclass
class ShotJob:
    """A resolved shot with its spec, plan and key."""

    resolved: ResolvedShot
    spec: object  # JobSpec
    plan: object  # WindowPlan
    key: str
    folder: str
    estimate_s: float


def shot_folders(resolved: list[ResolvedShot]) -> list[str]:
    """One output folder name per shot: the clip name, with the record frame where names repeat."""
    names = [safe_name(r.shot.name) for r in resolved]
    out = []
    for r, n in zip(resolved, names, strict=True):
        if names.count(n) > 1 and r.shot.record is not None:
            n = f"{n}_at{int(round(r.shot.record.start_time.value))}"
        out.append(n)
    return out


def build_spec(r: ResolvedShot, engine: str, settings: dict, out_dir: str):
    """The JobSpec of one shot."""
    spec = JobSpec(plate=os.path.abspath(r.plate), engine=engine)
    spec.frame_range = (r.first, r.last)
    spec.fps = fps_text(r.rate)
    spec.prompt = r.shot.prompt
    spec.colourspace = r.colourspace or str(r.shot.meta.get("colourspace") or "")
    for m in r.mattes:
        setattr(spec, m.role, MatteSource(os.path.abspath(m.pattern), m.channel))
    for dotted, value in settings.items():
        group, _, name = dotted.rpartition(".")
        if value is not None:
            setattr(getattr(spec, group) if group else spec, name, value)
    spec.output.dir = out_dir
    return spec.validate()


def estimate_seconds(plan, spec) -> float:
    """Rough GPU seconds for a plan under the spec's sampling settings."""
    s = spec.sampling
    total = 0.0
    for w in plan.windows:
        scale = w.length / 85.0
        p1 = s.pass1_steps * (2 if s.pass1_guidance > 1.0 else 1)
        p2 = s.pass2_steps * (2 if s.pass2_guidance > 1.0 else 1) if s.passes == 2 else 0
        total += (p1 + p2) * SECONDS_PER_STEP_85 * scale + SECONDS_PER_WINDOW
    return total


def _frame_stats(pattern: str, first: int, last: int) -> list:
    """(frame, size, mtime) of each file: a changed file changes the key."""
    seq = find_sequence(pattern)
    out = []
    for f in range(first, last + 1):
        path = seq.path(f) if not seq.is_still else pattern
        try:
            st = os.stat(path)
            out.append((f, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((f, None, None))
    return out


def job_key(r: ResolvedShot, spec) -> str:
    """16 hex digits from the inputs and settings (not from where the output goes)."""
    data = spec.to_dict()
    data.pop("output", None)
    data["output_format"] = [spec.output.compression, spec.output.pixel_type]
    source = r.movie or r.plate
    if r.movie:
        st = os.stat(r.movie)
        data["movie"] = [os.path.abspath(r.movie), st.st_size, st.st_mtime_ns]
    else:
        data["plate_files"] = _frame_stats(source, r.first, r.last)
    data["matte_files"] = [_frame_stats(m.pattern, r.first, r.last) for m in r.mattes]
    blob = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def plan_jobs(resolved: list[ResolvedShot], engine: str, settings: dict, media_root: str):
    """A ShotJob per resolved shot."""
    jobs = []
    for r, folder in zip(resolved, shot_folders(resolved), strict=True):
        out_dir = os.path.join(media_root, folder)
        spec = build_spec(r, engine, settings, out_dir)
        plan = planned_for(spec.window, r.first, r.last, spec.fps)
        key = job_key(r, spec)
        jobs.append(ShotJob(r, spec, plan, key, out_dir, estimate_seconds(plan, spec)))
    return jobs


def _conform_channel_hint(role: str) -> str:
    key = METADATA_KEYS[role]
    return f'name one with "{key}_channel" in the clip\'s void_vfx metadata'


def check_mattes(jobs: list[ShotJob]) -> tuple[list[ShotJob], list[ShotError]]:
    """The shots whose mattes fit their plate (the channel is there; the plate's size unless
    ``--mask-resize``), and a ShotError for each other one, from the first frame's headers,
    before any job is sent. A movie plate is decoded later, so its shot is checked then."""
    ok, failed = [], []
    for job in jobs:
        if job.resolved.movie:
            ok.append(job)
            continue
        try:
            check_masks(
                job.spec, channel_hint=_conform_channel_hint, resize_hint="add --mask-resize"
            )
        except VoidVfxError as exc:
            failed.append(ShotError(job.resolved.shot.name, str(exc)))
        else:
            ok.append(job)
    return ok, failed


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m" if hours else f"{m}m{s:02d}s"


def describe(jobs: list[ShotJob], failed: list, skipped: list) -> str:
    """The ``--dry-run`` printout: shots, source ranges, windows and the GPU-time estimate."""
    lines = []
    for i, j in enumerate(jobs, 1):
        r = j.resolved
        rec = r.shot.record
        where = f"record {r.shot.record_timecode}" if rec is not None else r.shot.where
        lines.append(
            f"[{i}/{len(jobs)}] {r.shot.name} ({r.shot.where}, {where}) key {j.key}\n"
            f"    plate {r.plate} frames {r.first}-{r.last} at {rate_label(r.rate)} fps "
            f"(cut {r.cut_first}-{r.cut_last}, handles {r.handles[0]}+{r.handles[1]})"
        )
        if r.movie:
            lines.append(f"    decoded first from {r.movie}")
        for m in r.mattes:
            lines.append(f"    {m.role} {m.pattern} channel {m.channel} ({m.how})")
        lines.append(f"    prompt {r.shot.prompt!r}" if r.shot.prompt else "    no prompt")
        lines += ["    " + x for x in j.plan.describe().splitlines()]
        lines += [f"    note: {n}" for n in r.notes]
        lines.append(f"    estimate {_duration(j.estimate_s)} GPU")
    for s in skipped:
        lines.append(f"skipped {s.name} ({s.where}): {s.reason}")
    for e in failed:
        lines.append(f"FAILED {e}")
    total = sum(j.estimate_s for j in jobs)
    frames = sum(j.plan.model_frames() for j in jobs)
    lines.append(
        f"{len(jobs)} shot(s) to run, {len(failed)} failed, {len(skipped)} skipped; "
        f"{sum(len(j.plan.windows) for j in jobs)} window(s), {frames} model frames; "
        f"estimated {_duration(total)} of GPU time on one H100-class GPU (VOID, rough)"
    )
    return "\n".join(lines)
