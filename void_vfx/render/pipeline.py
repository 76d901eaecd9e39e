"""The overlapped run of a shot: while the engine runs window N, a reader prepares window N+1 and
writers assemble every frame whose windows are all committed.

The engine runs on the calling thread (a GPU engine stays on the thread that owns it). Reads and
writes run on two small thread pools sized from the cores (OIIO, OCIO and numpy release the GIL).
Memory stays bounded by two windows: the one in the engine and the one prepared next; frames
are written one per writer thread.

With ``engine_slots=N`` (a server with N GPUs, :mod:`void_vfx_server.gpu_pool`) up to N windows
run through ``engine_fn`` at once, each on its own thread, and memory is bounded by N + 1
windows. The windows of a shot are independent (each draws its noise from the job's seed alone;
overlaps are blended at assembly, from committed windows, in plan order), so the frames are the
bits of a one-engine run. Commits, notes and progress stay on the calling thread. A cancel or an
error stops everything at once: the reader and writers stop between frames, threads are joined
before returning, and every output is written to a temporary name and renamed, so nothing
half-written is left.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from void_vfx.errors import Cancelled
from void_vfx.render.assemble import BANDS_DIR
from void_vfx.render.job import RenderJob, Skip
from void_vfx.render.progress import REPORT_EVERY_S, JobProgress, Tracker
from void_vfx.render.store import WindowRecord

__all__ = ["REPORT_EVERY_S", "WINDOWS_IN_FLIGHT", "Tracker", "pool_size", "run_job"]

#: Windows in memory at once: the one in the engine and the one prepared next.
WINDOWS_IN_FLIGHT = 2


def pool_size() -> int:
    """Threads per pool: the cores, at least 2 (one can wait on disk), at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


def run_job(
    job: RenderJob,
    engine_fn: Callable[[Any], Any],
    out_dir: str,
    *,
    progress: Callable | None = None,
    lock=None,
    should_cancel: Callable[[], bool] | None = None,
    stem: str | None = None,
    engine_slots: int = 1,
) -> dict[str, Any]:
    """Run every window of ``job`` not yet committed and write every frame, overlapped.

    ``engine_slots``: windows run through ``engine_fn`` at once (from as many threads); 1 runs
    the engine on the calling thread.

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
    engine_slots = max(1, int(engine_slots))
    slots = threading.Semaphore(WINDOWS_IN_FLIGHT + engine_slots - 1)
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

    def committed(w, record: WindowRecord) -> None:
        (skipped if record.skipped else computed).append(w.index)
        what = "nothing to remove, skipped" if record.skipped else "committed"
        tracker.ran(w, w.frame_count, what)
        slots.release()
        records[w.index] = job.record(w.index)
        submit_ready()

    def take(timeout: float):
        """The next prepared window (or Skip), None while none is ready."""
        try:
            item, exc = prepared.get(timeout=timeout)
        except queue.Empty:
            return None
        if exc is not None:
            raise exc
        return item

    # More than one slot: the engine runs on threads of its own, one window each.
    engines = ThreadPoolExecutor(engine_slots, "void-engine") if engine_slots > 1 else None
    running: dict[Future, Any] = {}
    reader = threading.Thread(target=read_loop, name="void-prepare", daemon=True)
    reader.start()
    try:
        submit_ready()
        left = len(todo)
        while left:
            check()
            for fut in [f for f in running if f.done()]:
                item, result = running.pop(fut), fut.result()
                committed(item.window, job.commit(item, lambda _input, r=result: r))
                left -= 1
                del item, result
            if len(running) == engine_slots:
                wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
                continue
            item = take(0.02 if running else 0.05)
            if item is None:
                continue
            if engines is None or isinstance(item, Skip):
                committed(item.window, job.commit(item, engine_fn, before_engine=before_engine))
                left -= 1
            else:
                before_engine(item.window)
                running[engines.submit(engine_fn, item.input)] = item
            del item
        job.check_removes(records)
        submit_ready()
        while futures:
            check()
            time.sleep(0.02)
    except BaseException as exc:
        stop.set()
        if running and not isinstance(exc, Cancelled):
            _commit_finished(job, running)
        raise
    finally:
        stop.set()
        reader.join()
        if engines is not None:
            engines.shutdown(wait=True, cancel_futures=True)
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        # The writers' scratch folder for spliced bands, now that no writer can use it (it
        # stays only where a killed run left a band in it).
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(job.job_dir, BANDS_DIR))
    return {
        "computed": sorted(computed),
        "skipped": sorted(skipped),
        "reused": reused,
        "notes": list(job.notes),
        "written": dict(sorted(written.items())),
    }


def _commit_finished(job: RenderJob, running: dict[Future, Any]) -> None:
    """After another window failed: the windows still in the engine run to their end (an
    engine stops only between steps, on a cancel) and those that succeed are committed, so a
    job submitted again reuses them."""
    for fut, item in running.items():
        try:
            result = fut.result()
            job.commit(item, lambda _input, r=result: r)
        except BaseException:  # noqa: BLE001 - the first error is the one raised
            continue
