"""Running the shots: one job per shot on a server (or a farm), progress per shot and overall,
and a record per job key so that a rerun skips shots already done.

A shot's record (``<media>/.void_conform/<key>.json``) names its job and result frames; it is
written after the results are down, so an interrupted shot runs again. A shot that fails is
reported and the others go on.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from void_vfx.atomic import atomic_target
from void_vfx.client.progress import (
    LOG_EVERY_S,
    duration_text,
    progress_fraction,
    progress_text,
)
from void_vfx.conform.movies import decode
from void_vfx.conform.plan import ShotJob
from void_vfx.errors import VoidVfxError
from void_vfx.media.sequences import Sequence
from void_vfx.review import review_job

STATE_DIR = ".void_conform"
#: ``<stem>.<frame>.exr`` as the render names results (``OutputName.path``).
_FRAME = re.compile(r"^(?P<prefix>.*\.)(?P<num>-?\d+)(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass
class ShotResult:
    """What happened to one shot."""

    job: ShotJob
    state: str  # "done", "reused", "submitted", "failed"
    job_id: str = ""
    pattern: str = ""
    frames: tuple[int, int] | None = None
    message: str = ""
    farm: dict = field(default_factory=dict)


def _record_path(media_root: str, key: str) -> str:
    return os.path.join(media_root, STATE_DIR, f"{key}.json")


def load_record(media_root: str, key: str) -> dict | None:
    """The record of a finished shot whose result frames are all still there, else None."""
    path = _record_path(media_root, key)
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, ValueError):
        return None
    if rec.get("farm"):
        return rec
    paths = rec.get("paths") or []
    return rec if paths and all(os.path.isfile(p) for p in paths) else None


def save_record(media_root: str, key: str, record: dict) -> None:
    path = _record_path(media_root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)


def result_pattern(paths: list[str]) -> tuple[str, tuple[int, int]]:
    """The ``#`` pattern and frame range of a job's result files.

    The padding is read from every file name, not one: a zero-led number gives it exactly
    (``00012`` is 5), otherwise the shortest number bounds it (timecode-numbered results
    ``86400``-``86430`` at padding 4 name the same files at 4 or 5)."""

    frames_paths = sorted(p for p in paths if p.endswith(".exr"))
    digits = []
    for p in frames_paths:
        m = _FRAME.match(os.path.basename(p))
        if m is None:
            raise VoidVfxError(f"{p}: a result file with no frame number")
        digits.append(m.group("num"))
    m = _FRAME.match(os.path.basename(frames_paths[0]))
    bare = [d.lstrip("-") for d in digits]
    led = [len(d) for d in bare if len(d) > 1 and d.startswith("0")]
    padding = max(led) if led else min(len(d) for d in bare)
    seq = Sequence(
        os.path.dirname(frames_paths[0]), m.group("prefix"), m.group("suffix"), padding, "hash"
    )
    numbers = sorted(int(d) for d in digits)
    return seq.format("hash"), (numbers[0], numbers[-1])


def prepare(job: ShotJob) -> None:
    """Decode a movie source into its EXR folder (reused when already decoded)."""
    r = job.resolved
    if r.kind != "movie":
        return

    space = decode(r.movie, r.plate, r.first, r.last, r.colourspace)
    r.colourspace = job.spec.colourspace = job.spec.colourspace or space


class Progress:
    """Prints each shot's progress (the render's counts, as every front end shows them) with the
    batch's share done and an estimate for the whole batch: a line at each state and window,
    and at most every ``every_s`` seconds while frames move."""

    def __init__(self, total: int, out=None, every_s: float = LOG_EVERY_S) -> None:
        self.total, self.out, self.done = max(total, 1), out, 0
        self.every_s, self.t0 = every_s, time.monotonic()
        self._last: tuple = ((), 0.0)

    def shot(self, index: int, name: str) -> Callable[[dict, tuple], None]:
        def callback(status: dict, events: tuple) -> None:
            frac = progress_fraction(status) or 0.0
            overall = (self.done + min(frac, 1.0)) / self.total
            p = status.get("progress") or {}
            key = (index, status.get("state"), p.get("windows_done", status.get("window")))
            now = time.monotonic()
            if key != self._last[0] or now - self._last[1] >= self.every_s:
                self._last = (key, now)
                elapsed = now - self.t0
                left = ""
                if 0.0 < overall < 1.0:
                    left = f", about {duration_text(elapsed * (1 - overall) / overall)} left"
                detail = progress_text(status)
                print(
                    f"[{index}/{self.total}] {name}: {status.get('state')}"
                    + (f": {detail}" if detail else "")
                    + f" | batch {100 * overall:.0f}%{left}",
                    file=self.out or sys.stderr,
                    flush=True,
                )
            for e in events:
                if e.get("kind") == "warning":
                    print(f"    warning: {e.get('message')}", file=self.out or sys.stderr)

        return callback


def run_on_server(
    jobs: list[ShotJob],
    client,
    media_root: str,
    files_mode: str = "auto",
    out=None,
    review: bool = False,
) -> list[ShotResult]:
    """Run each shot as a job on ``client``'s server, skipping keys already done; with
    ``review``, each shot's review (contact sheet, before/after movie) beside its results."""
    out = out or sys.stderr
    progress = Progress(len(jobs), out)
    results = []
    for i, job in enumerate(jobs, 1):
        name = job.resolved.shot.name
        rec = load_record(media_root, job.key)
        if rec is not None and not rec.get("farm"):
            pattern, frames = result_pattern(rec["paths"])
            print(
                f"[{i}/{len(jobs)}] {name}: already done (key {job.key}, job {rec['job_id']})",
                file=out,
            )
            results.append(ShotResult(job, "reused", rec["job_id"], pattern, frames))
            progress.done += 1
            continue
        try:
            prepare(job)
            job_id = client.submit(job.spec, files_mode=files_mode)
            status = client.follow(job_id, callback=progress.shot(i, name))
            if status["state"] != "done":
                raise VoidVfxError(f"job {job_id} {status['state']}: {status.get('message')}")
            paths = client.download_results(job_id, out_dir=job.folder)
            pattern, frames = result_pattern(paths)
            save_record(
                media_root,
                job.key,
                {"key": job.key, "job_id": job_id, "paths": paths, "shot": name},
            )
            results.append(ShotResult(job, "done", job_id, pattern, frames))
            if review:
                review_shot(job, paths, f"[{i}/{len(jobs)}] {name}", out)
        except (VoidVfxError, OSError) as exc:
            print(f"[{i}/{len(jobs)}] {name}: FAILED: {exc}", file=out)
            results.append(ShotResult(job, "failed", message=str(exc)))
        progress.done += 1
    return results


def review_shot(job: ShotJob, paths: list[str], who: str, out) -> list[str]:
    """The shot's review beside its version folder (:func:`void_vfx.review.review_job`); one
    that cannot be made is a warning, never a failed shot (its frames are down)."""

    try:
        files = review_job(job.spec, paths, say=lambda text: print(f"    {text}", file=out))
    except (VoidVfxError, OSError) as exc:
        print(f"{who}: warning: no review was made ({exc}); the frames are complete", file=out)
        return []
    for path in files:
        print(f"{who}: review: {path}", file=out)
    return files


def run_on_farm(
    jobs: list[ShotJob], farm: str, media_root: str, dry_run: bool = False, out=None
) -> list[ShotResult]:
    """Hand each shot to the farm (``void_vfx.farm.submit.submit_job``)."""
    out = out or sys.stderr
    try:
        from void_vfx.farm.submit import submit_job
    except ImportError as exc:
        raise VoidVfxError(
            f"farm support is not installed ({exc}); install void-vfx with its farm extra "
            "(pip install 'void-vfx[farm]') or run without --farm to use a server"
        ) from exc
    results = []
    for i, job in enumerate(jobs, 1):
        name = job.resolved.shot.name
        rec = load_record(media_root, job.key)
        if rec is not None:
            print(f"[{i}/{len(jobs)}] {name}: already submitted or done (key {job.key})", file=out)
            results.append(ShotResult(job, "reused", rec.get("job_id", ""), farm=rec))
            continue
        try:
            prepare(job)
            answer = dict(submit_job(job.spec, farm, out_dir=job.folder, dry_run=dry_run))
        except (VoidVfxError, OSError) as exc:
            results.append(ShotResult(job, "failed", message=str(exc)))
            continue
        job_id = str(answer.get("job_id") or answer.get("bundle") or "")
        print(f"[{i}/{len(jobs)}] {name}: {answer.get('message', job_id)}", file=out)
        if not dry_run:
            save_record(
                media_root,
                job.key,
                {"key": job.key, "job_id": job_id, "farm": farm, "shot": name, "answer": answer},
            )
        results.append(ShotResult(job, "submitted", job_id, farm=answer))
    return results
