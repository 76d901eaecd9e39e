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
import inspect
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from void_vfx.errors import Cancelled, MaskError
from void_vfx.render.assemble import BANDS_DIR, assemble_frame
from void_vfx.render.prepare import prepare_window
from void_vfx.render.shot import Shot
from void_vfx.render.store import commit_skipped, commit_window, load_window_meta
from void_vfx.render.windows import WindowPlan

#: Windows in memory at once: the one in the engine and the one prepared next.
WINDOWS_IN_FLIGHT = 2
#: Least seconds between two progress reports about frames (window events always report).
REPORT_EVERY_S = 1.0


def pool_size() -> int:
    """Threads per pool: the cores, at least 2 (one can wait on disk), at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


def _accepts_stats(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "stats" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class Tracker:
    """Truthful progress: frames read, windows run, frames written, a rate and an estimate.

    Reports go to ``progress(index, windows, message)``: ``index`` is the share of all the work
    done (a unit per frame read, per frame through the engine, per frame written) on the scale
    of the window count, so it reaches ``windows`` only when the last frame is written; the
    message says each count, and a callback that takes ``stats=`` gets them as a dict too.
    Calls are serialised (reports come from several threads).
    """

    def __init__(self, plan: WindowPlan, todo, progress: Callable | None, lock) -> None:
        self.progress = progress
        self.stats_kw = progress is not None and _accepts_stats(progress)
        self.lock = lock
        self.t0 = time.monotonic()
        self.frames_total = plan.frame_count
        self.windows_total = len(plan.windows)
        self.read_total = sum(w.frame_count for w in todo)
        self.frames_read = 0
        self.run_frames = 0
        self.windows_done = self.windows_total - len(todo)
        self.frames_written = 0
        #: Frames patch mode leaves out (nothing changed there): done, but no file.
        self.frames_unchanged = 0
        self._last = 0.0

    def stats(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        finished = self.frames_written + self.frames_unchanged
        done = self.frames_read + self.run_frames + finished
        total = 2 * self.read_total + self.frames_total
        eta = elapsed * (total - done) / done if done else None
        return {
            "frames_read": self.frames_read,
            "frames_to_read": self.read_total,
            "windows_done": self.windows_done,
            "windows": self.windows_total,
            "frames_written": self.frames_written,
            "frames_unchanged": self.frames_unchanged,
            "frames": self.frames_total,
            "rate_fps": finished / elapsed if elapsed > 0 else 0.0,
            "eta_s": eta,
            "done": done,
            "total": total,
        }

    def read(self, window) -> None:
        with self.lock:
            self.frames_read += window.frame_count
        self.report(f"window {window.index}: frames {window.first}-{window.last} read", True)

    def ran(self, window, frames: int, what: str) -> None:
        with self.lock:
            self.windows_done += 1
            self.run_frames += frames
        self.report(f"window {window.index}: {what}", True)

    def wrote(self, frame: int, path: str | None) -> None:
        """A frame is done: written to ``path``, or (None) left out by patch mode."""
        with self.lock:
            if path is None:
                self.frames_unchanged += 1
            else:
                self.frames_written += 1
        self.report(f"frame {frame} " + ("written" if path else "unchanged, no file"), False)

    def report(self, event: str, always: bool) -> None:
        if self.progress is None:
            return
        with self.lock:
            now = time.monotonic()
            last = self.frames_written + self.frames_unchanged == self.frames_total
            if not (always or last or now - self._last >= REPORT_EVERY_S):
                return
            self._last = now
            s = self.stats()
            eta = "" if s["eta_s"] is None else f", about {_duration(s['eta_s'])} left"
            same = s["frames_unchanged"]
            message = (
                f"{event}; {s['frames_read']}/{s['frames_to_read']} frames read, "
                f"{s['windows_done']}/{s['windows']} windows run, "
                f"{s['frames_written']}/{s['frames']} frames written"
                + (f" ({same} unchanged, no file)" if same else "")
                + f", {s['rate_fps']:.2f} frames/s{eta}"
            )
            # On the windows' scale the server already shows, moving with all the work: it
            # reaches the window count only when the last frame is written.
            index = self.windows_total * s["done"] // s["total"] if s["total"] else 0
            if self.stats_kw:
                self.progress(index, self.windows_total, message, stats=s)
            else:
                self.progress(index, self.windows_total, message)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


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
    """Run every window not yet committed and write every frame, overlapped.

    Returns plain values: computed, skipped, reused (window indices), notes, written (frame ->
    path, None for a frame patch mode leaves out).
    """
    spec = shot.spec
    metas: dict[int, dict | None] = {
        w.index: load_window_meta(job_dir, w.index) for w in plan.windows
    }
    reused = [i for i, m in metas.items() if m is not None]
    todo = [w for w in plan.windows if metas[w.index] is None]
    tracker = Tracker(plan, todo, progress, lock)
    stop = threading.Event()
    slots = threading.Semaphore(WINDOWS_IN_FLIGHT)
    prepared: queue.Queue = queue.Queue()
    n = pool_size()
    readers = ThreadPoolExecutor(n, thread_name_prefix="void-read")
    writers = ThreadPoolExecutor(n, thread_name_prefix="void-write")
    futures: list[Future] = []
    pending = list(range(plan.first, plan.last + 1))
    written: dict[int, str | None] = {}
    computed, skipped, notes = [], [], []

    def read_loop() -> None:
        for w in todo:
            while not slots.acquire(timeout=0.05):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                item = prepare_window(spec, plan, w, shot=shot, pool=readers, stop=stop)
            except BaseException as exc:  # handed to the main thread, which raises it
                prepared.put((w, None, exc))
                return
            tracker.read(w)
            prepared.put((w, item, None))

    def write_one(frame: int, frame_metas) -> None:
        if stop.is_set():
            return
        path = assemble_frame(
            job_dir, shot, plan, out_dir, frame, frame_metas, stem=stem, stop=stop
        )
        shot.masks.drop(frame)
        shot.rows.drop(frame)
        written[frame] = path
        tracker.wrote(frame, path)

    def check() -> None:
        if should_cancel is not None and should_cancel():
            raise Cancelled("job cancelled; committed windows are kept")
        for fut in [f for f in futures if f.done()]:
            fut.result()  # a writer's error is raised here
            futures.remove(fut)

    def submit_ready() -> None:
        if not any(m is not None and not m.get("skipped") for m in metas.values()):
            return  # nothing removed yet: a job of skipped windows only must write nothing
        for f in list(pending):
            frame_metas = [metas[w.index] for w, _ in plan.windows_for_frame(f)]
            if all(m is not None for m in frame_metas):
                pending.remove(f)
                futures.append(writers.submit(write_one, f, frame_metas))

    reader = threading.Thread(target=read_loop, name="void-prepare", daemon=True)
    reader.start()
    try:
        submit_ready()
        for _ in todo:
            while True:
                check()
                try:
                    w, item, exc = prepared.get(timeout=0.05)
                    break
                except queue.Empty:
                    continue
            if exc is not None:
                raise exc
            window_input, ctx = item
            if window_input is None:
                warn(ctx)
                commit_skipped(job_dir, w, ctx)
                skipped.append(w.index)
                tracker.ran(w, w.frame_count, "nothing to remove, skipped")
            else:
                check()
                tracker.report(
                    f"window {w.index}: frames {w.first}-{w.last}, running the engine", True
                )
                result = engine_fn(window_input)
                del window_input
                for note in getattr(result, "notes", ()):
                    if note not in notes:
                        notes.append(note)
                        warn(note)
                commit_window(job_dir, w, result, ctx)
                del result
                computed.append(w.index)
                tracker.ran(w, w.frame_count, "committed")
            slots.release()
            metas[w.index] = load_window_meta(job_dir, w.index)
            submit_ready()
        if all(m is not None and m.get("skipped") for m in metas.values()):
            first = metas[plan.windows[0].index] or {}
            # A job that would only copy the plate is almost always a matte read from the wrong
            # channel or an empty roto: say so rather than write a version that changes nothing.
            raise MaskError(
                f"{first.get('reason', 'no object pixels')}. Every window was skipped, so nothing "
                "would be removed: check the matte's channel (an alpha may be empty when the matte "
                "is in RGB), its threshold, and the frame range"
            )
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
            os.rmdir(os.path.join(job_dir, BANDS_DIR))
    return {
        "computed": computed,
        "skipped": skipped,
        "reused": reused,
        "notes": notes,
        "written": dict(sorted(written.items())),
    }
