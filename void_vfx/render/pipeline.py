"""The overlapped run of a shot: while the engine runs window N, a reader prepares window N+1 and
writers assemble every frame whose windows are all committed.

The engine runs on the calling thread (a GPU engine stays on the thread that owns it). Reads and
writes run on two small thread pools sized from the cores (OIIO, OCIO and numpy release the GIL).
Memory stays bounded by two windows: the one in the engine and the one prepared next; frames
are written one per writer thread. A cancel or an error stops everything at once: the reader and
writers stop between frames, threads are joined before returning, and every output is written to
a temporary name and renamed, so nothing half-written is left.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from void_vfx.errors import Cancelled
from void_vfx.render.assemble import BANDS_DIR
from void_vfx.render.job import RenderJob
from void_vfx.render.progress import REPORT_EVERY_S, JobProgress, Tracker
from void_vfx.render.shot import Shot
from void_vfx.render.store import WindowRecord
from void_vfx.render.windows import WindowPlan

__all__ = ["REPORT_EVERY_S", "WINDOWS_IN_FLIGHT", "Tracker", "pool_size", "run_job", "run_windows"]

#: Windows in memory at once: the one in the engine and the one prepared next.
WINDOWS_IN_FLIGHT = 2


def pool_size() -> int:
    """Threads per pool: the cores, at least 2 (one can wait on disk), at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


def run_windows(
    shot: Shot,
    plan: WindowPlan,
    engine_fn: Callable[[Any], Any],
    job_dir: str,
    out_dir: str,
    *,
    progress: Callable | None = None,
    warn: Callable[[str], None],
    lock,
    should_cancel: Callable[[], bool] | None = None,
    stem: str | None = None,
) -> dict[str, Any]:
    """:func:`run_job` over an opened shot and plan (the signature older callers use)."""
    job = RenderJob(shot, plan, job_dir, warn=warn)
    return run_job(
        job,
        engine_fn,
        out_dir,
        progress=progress,
        lock=lock,
        should_cancel=should_cancel,
        stem=stem,
    )


def run_job(
    job: RenderJob,
    engine_fn: Callable[[Any], Any],
    out_dir: str,
    *,
    progress: Callable | None = None,
    lock=None,
    should_cancel: Callable[[], bool] | None = None,
    stem: str | None = None,
) -> dict[str, Any]:
    """Run every window of ``job`` not yet committed and write every frame, overlapped.

    ``progress(index, windows, message)`` hears the job's :class:`JobProgress` (see
    :class:`~void_vfx.render.progress.Tracker`). Returns plain values: computed, skipped, reused
    (window indices), notes, written (frame -> path, None for a frame patch mode leaves out).
    """
    plan = job.plan
    records = job.records()
    reused = [i for i, r in records.items() if r is not None]
    todo = job.todo(records)
    counts = JobProgress(
        windows=len(plan.windows),
        frames=plan.frame_count,
        frames_to_read=sum(w.frame_count for w in todo),
        windows_done=len(plan.windows) - len(todo),
    )
    tracker = Tracker(counts, progress, lock)
    stop = threading.Event()
    slots = threading.Semaphore(WINDOWS_IN_FLIGHT)
    prepared: queue.Queue = queue.Queue()
    n = pool_size()
    readers = ThreadPoolExecutor(n, thread_name_prefix="void-read")
    writers = ThreadPoolExecutor(n, thread_name_prefix="void-write")
    futures: list[Future] = []
    pending = list(range(plan.first, plan.last + 1))
    written: dict[int, str | None] = {}
    computed, skipped = [], []

    def read_loop() -> None:
        for w in todo:
            while not slots.acquire(timeout=0.05):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                item = job.prepare(w, pool=readers, stop=stop)
            except BaseException as exc:  # handed to the main thread, which raises it
                prepared.put((None, exc))
                return
            tracker.read(w)
            prepared.put((item, None))

    def write_one(frame: int, frame_records: list[WindowRecord]) -> None:
        if stop.is_set():
            return
        path = job.assemble(frame, frame_records, out_dir, stem=stem, stop=stop)
        written[frame] = path
        tracker.wrote(frame, path)

    def check() -> None:
        if should_cancel is not None and should_cancel():
            raise Cancelled("job cancelled; committed windows are kept")
        for fut in [f for f in futures if f.done()]:
            fut.result()  # a writer's error is raised here
            futures.remove(fut)

    def submit_ready() -> None:
        if not any(r is not None and not r.skipped for r in records.values()):
            return  # nothing removed yet: a job of skipped windows only must write nothing
        for f in list(pending):
            frame_records = job.ready(f, records)
            if frame_records is not None:
                pending.remove(f)
                futures.append(writers.submit(write_one, f, frame_records))

    def before_engine(w) -> None:
        check()
        tracker.report(f"window {w.index}: frames {w.first}-{w.last}, running the engine", True)

    reader = threading.Thread(target=read_loop, name="void-prepare", daemon=True)
    reader.start()
    try:
        submit_ready()
        for _ in todo:
            while True:
                check()
                try:
                    item, exc = prepared.get(timeout=0.05)
                    break
                except queue.Empty:
                    continue
            if exc is not None:
                raise exc
            w = item.window
            record = job.commit(item, engine_fn, before_engine=before_engine)
            del item
            (skipped if record.skipped else computed).append(w.index)
            what = "nothing to remove, skipped" if record.skipped else "committed"
            tracker.ran(w, w.frame_count, what)
            slots.release()
            records[w.index] = job.record(w.index)
            submit_ready()
        job.check_removes(records)
        submit_ready()
        while futures:
            check()
            time.sleep(0.02)
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        reader.join()
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        # The writers' scratch folder for spliced bands, now that no writer can use it (it
        # stays only where a killed run left a band in it).
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(job.job_dir, BANDS_DIR))
    return {
        "computed": computed,
        "skipped": skipped,
        "reused": reused,
        "notes": list(job.notes),
        "written": dict(sorted(written.items())),
    }
