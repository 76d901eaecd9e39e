"""The one GPU worker: drains the queue, one job at a time, with the engine kept resident.

The processing function (:func:`void_vfx.render.process.process_shot` unless a test gives
another) does windows, paste-back and EXR writing, commits each window into the job's ``work/``
folder and skips windows already committed, so a job the worker picks up again after a crash
resumes where it stopped. The worker hands it an engine function that checks for cancel before
every window and between steps.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from void_vfx.errors import Cancelled, EngineError, VoidVfxError
from void_vfx.job.spec import JobSpec
from void_vfx.render.process import process_shot
from void_vfx.render.progress import eta_seconds

from . import safe_fs, transfer
from .jobs import JobStore, progress_json
from .part_writer import close_idle

log = logging.getLogger("void_vfx_server.worker")

#: process_fn(spec, engine_fn, job_dir, out_dir, progress, *, should_cancel, on_warning,
#: engine_slots) ->
#: a summary (:func:`void_vfx.render.process.process_shot`'s dict).
ProcessFn = Callable[..., Any]


class Worker(threading.Thread):
    """Runs queued jobs until ``stop()``; call ``store.wakeup.notify_all()`` after enqueueing."""

    def __init__(
        self,
        store: JobStore,
        engine: Any,
        process_fn: ProcessFn | None = None,
        retention_days: float = 14.0,
        *,
        roots: Any = None,
        engines: tuple[str, ...] | None = None,
        limits: Any = None,
    ) -> None:
        super().__init__(name="void-vfx-worker", daemon=True)
        self.store = store
        self.engine = engine
        self.process_fn = process_fn or process_shot
        self.retention_days = retention_days
        #: Path-mode jobs are checked against the server's roots again when they start.
        self.roots = roots
        self.engines = engines
        #: The server's bounds (abandoned jobs, idle uploads); None: retention only.
        self.limits = limits
        self._halt = threading.Event()
        self._last_expire = 0.0
        self._last_retention = 0.0

    def stop(self) -> None:
        self._halt.set()
        with self.store.wakeup:
            self.store.wakeup.notify_all()

    #: False for all but one of several workers on one queue (see gpu_pool).
    requeue = True

    def run(self) -> None:
        for job_id in self.store.requeue_interrupted() if self.requeue else []:
            log.info("job %s was interrupted; queued again to resume", job_id)
        while not self._halt.is_set():
            self._maybe_expire()
            with self.store.wakeup:
                job_id = self.store.claim_next()
                if job_id is None:
                    self.store.wakeup.wait(timeout=1.0)
                    continue
            self.run_job(job_id)

    def _maybe_expire(self) -> None:
        """Housekeeping between jobs: finished jobs past retention (hourly), jobs never started
        and idle past ``abandoned_hours``, upload writers idle past ``upload_idle_s``."""
        now = time.time()
        limits = self.limits
        every = 3600.0
        if limits is not None:
            every = min(every, max(0.5, limits.abandoned_hours * 1800.0, 0.0))
            every = min(every, max(0.5, limits.upload_idle_s / 2))
        if now - self._last_expire < every:
            return
        hourly = now - self._last_retention >= 3600.0
        self._last_expire = now
        try:
            if hourly:
                self._last_retention = now
                for job_id in self.store.expire(self.retention_days):
                    log.info("job %s removed after %.1f days", job_id, self.retention_days)
            if limits is not None:
                for job_id in self.store.expire_abandoned(limits.abandoned_hours * 3600.0):
                    log.info(
                        "job %s never started; removed after %g h", job_id, limits.abandoned_hours
                    )
                closed = close_idle(limits.upload_idle_s)
                if closed:
                    log.info("%d idle uploads closed (their clients may resume)", closed)
        except Exception:  # noqa: BLE001 - housekeeping must never stop the worker
            log.exception("clean-up failed")

    # -- one job ----------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        store = self.store
        t0 = time.time()
        state = {"window": 0, "windows": 0}

        def should_cancel() -> bool:
            return self._halt.is_set() or store.cancel_requested(job_id)

        def window_progress(
            index: int, total: int, message: str = "", stats: dict | None = None
        ) -> None:
            """The render's report: ``message`` says what just happened, ``stats`` holds the
            counts; each is stored in its own field (the job's and the event's)."""
            state["window"], state["windows"] = int(index), int(total)
            eta = eta_seconds(time.time() - t0, index, total) if total > 0 else None
            fields: dict[str, Any] = {}
            if stats:  # the render's own counts: what every front end shows
                fields["progress"] = progress_json(stats)
                if stats.get("eta_s") is not None:
                    eta = float(stats["eta_s"])
            store.update(
                job_id, window=int(index), windows=int(total), eta_s=eta, message=message, **fields
            )
            if message:
                store.add_event(job_id, "progress", message, progress=stats)

        # The latest step message of each window in an engine now (several on a GPU pool):
        # the job's message shows them all, rather than whichever GPU spoke last.
        steps_now: dict[int, str] = {}
        steps_lock = threading.Lock()
        calls = itertools.count()

        def engine_fn(window_input: Any) -> Any:
            if should_cancel():
                raise Cancelled(f"job {job_id} cancelled")
            call = next(calls)

            def step_progress(step: int, total: int, message: str = "") -> None:
                with steps_lock:
                    steps_now[call] = message
                    text = "; ".join(m for _, m in sorted(steps_now.items()) if m)
                store.update(job_id, step=int(step), steps=int(total), message=text)

            try:
                out = self.engine.run(window_input, step_progress, should_cancel)
            finally:
                with steps_lock:
                    steps_now.pop(call, None)
            if should_cancel():
                raise Cancelled(f"job {job_id} cancelled")
            return out

        out: _OutFolder | None = None
        try:
            row = store.row(job_id, "spec", "mode", "out_id")
            spec = JobSpec.from_json(row["spec"])  # this side's one parse of the stored spec
            self._check_job(spec, row["mode"])
            out = self._open_out(job_id, row)
            summary = self.process_fn(
                spec,
                engine_fn,
                str(store.work_dir(job_id)),
                out.name,  # the held folder itself (/proc/self/fd/N): a swap changes nothing
                window_progress,
                should_cancel=should_cancel,
                on_warning=lambda msg: store.add_event(job_id, "warning", _named(str(msg), out)),
                # a GPU pool: one window per engine at once
                engine_slots=getattr(self.engine, "engine_slots", 1),
            )
            if isinstance(summary, dict) and "computed" in summary:
                store.add_event(
                    job_id,
                    "summary",
                    f"windows computed {summary.get('computed')}, reused {summary.get('reused')}, "
                    f"skipped {summary.get('skipped')}",
                )
            if should_cancel():  # asked while the last frames were written: honour it
                raise Cancelled(f"job {job_id} cancelled while its frames were assembled")
            transfer.record_results(out.fd, store.job_dir(job_id))
        except Cancelled:
            if self._halt.is_set() and not store.cancel_requested(job_id):
                # Server shutting down: leave the job for the next start to resume.
                store.set_state(job_id, "queued", "server stopped; will resume")
            else:
                # What it wrote goes before the state says so: a client that sees "cancelled"
                # finds nothing left.
                _drop_written(out)
                store.set_state(job_id, "cancelled", "cancelled by the user")
        except VoidVfxError as ex:
            _drop_if_empty(out)
            store.set_state(job_id, "failed", _named(str(ex), out))
        except UnicodeError as ex:  # a name or header text that is not UTF-8, met deep inside
            _drop_if_empty(out)
            store.set_state(
                job_id,
                "failed",
                f"a file name or header holds text that is not UTF-8 ({ex}); "
                "rename or re-save the file with UTF-8 text",
            )
        except Exception as ex:  # noqa: BLE001 - a failed job must not kill the worker
            log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
            _drop_if_empty(out)
            message = _named(f"internal error: {type(ex).__name__}: {ex}", out)
            store.set_state(job_id, "failed", message)
        else:
            store.update(job_id, window=state["windows"], eta_s=0.0)
            store.set_state(job_id, "done", f"finished in {time.time() - t0:.1f} s")
        finally:
            if out is not None:
                out.close()
            # Windows, uploads and stream results were written with the umask's modes: the
            # job folder is 0700 already; its files become 0600 too.
            safe_fs.make_private(store.job_dir(job_id))
            self._free_memory()

    def _open_out(self, job_id: str, row: dict) -> _OutFolder:
        """The job's output folder, opened once and held: a path-mode version folder must be
        the very folder reserved at submit (same device and inode, not a link, the server's
        own) and still inside the write roots; a stream job's is its own ``results/``."""
        path = self.store.results_dir(job_id)
        if row["mode"] == "path":
            expect = json.loads(row["out_id"]) if row.get("out_id") else None
            fd = safe_fs.open_dir(path, expect, what="output folder")
        else:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = safe_fs.open_dir(path, what="results folder")
        try:
            st = os.fstat(fd)
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise EngineError(f"output folder {path}: not made by this server; submit again")
            real = safe_fs.where(fd)
            if row["mode"] == "path" and self.roots is not None and real is not None:
                self.roots.check(real, "write", "output.dir")
        except BaseException:
            os.close(fd)
            raise
        return _OutFolder(path, fd, safe_fs.identity(st), set(os.listdir(fd)))

    def _check_job(self, spec: Any, mode: str) -> None:
        """What submit checked, checked again at start: the engine, and a path-mode job's paths
        against the roots (a folder may have been swapped for a symlink since)."""
        if self.engines is not None and spec.engine not in self.engines:
            raise EngineError(
                f"the job asks for the {spec.engine!r} engine; this server runs "
                f"{' or '.join(self.engines)}"
            )
        if mode == "path" and self.roots is not None:
            self.roots.check_spec(spec)

    def _free_memory(self) -> None:
        """Give GPU memory back between jobs (and after a cancel) without unloading weights."""
        hook = getattr(self.engine, "free_memory", None)
        try:
            if callable(hook):
                hook()
            gc.collect()
            torch = sys.modules.get("torch")  # only when an engine brought it in
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            log.exception("freeing engine memory failed")


class _OutFolder:
    """The output folder a job writes into, held open: its name, descriptor, identity and the
    entries it had when the job began (anything else in it was written by the job)."""

    def __init__(self, path: Path, fd: int, ident: list[int], before: set[str]) -> None:
        self.path, self.fd, self.id, self.before = path, fd, ident, before
        self.name = safe_fs.dir_name(fd, str(path))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _named(message: str, out: _OutFolder | None) -> str:
    """A message with the held folder's ``/proc/self/fd/N`` name put back to the folder's own."""
    if out is None or out.name == str(out.path):
        return message
    return message.replace(out.name, str(out.path))


def _drop_written(out: _OutFolder | None) -> None:
    """A cancelled job leaves nothing: the files it wrote go (relative to the held folder, only
    regular files of the server's user that were not there before), then the folder if empty."""
    if out is None:
        return
    safe_fs.remove_created(out.fd, out.before)
    _drop_if_empty(out)


def _drop_if_empty(out: _OutFolder | None) -> None:
    """A version folder reserved for a job that wrote nothing is removed (rmdir of an empty
    folder only, and only the very folder the job held), so a cancelled or failed job leaves no
    empty version behind."""
    if out is not None:
        safe_fs.rmdir_if_empty(out.path, out.id)
