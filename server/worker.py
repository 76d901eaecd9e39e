"""The one GPU worker: drains the queue, one job at a time, with the engine kept resident.

The processing function (``void_vfx.render.process.process_shot`` by default) does windows, paste-back
and EXR writing, commits each window into the job's ``work/`` folder and skips windows already
committed, so a job the worker picks up again after a crash resumes where it stopped. The worker
hands it an engine function that checks for cancel before every window and between steps.
"""

from __future__ import annotations

import gc
import inspect
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

from . import transfer
from .jobs import JobStore

log = logging.getLogger("void_vfx_server.worker")

#: process_fn(spec, engine_fn, job_dir, out_dir, progress) -> list of written paths.
ProcessFn = Callable[..., Any]


def default_process_fn() -> ProcessFn:
    from void_vfx.render.process import process_shot

    return process_shot


def load_spec(spec_json: str) -> Any:
    """A JobSpec (the core's class) from the stored JSON."""
    from void_vfx.job.spec import JobSpec

    return JobSpec.from_json(spec_json)


class Worker(threading.Thread):
    """Runs queued jobs until ``stop()``; call ``store.wakeup.notify_all()`` after enqueueing."""

    def __init__(
        self,
        store: JobStore,
        engine: Any,
        process_fn: ProcessFn | None = None,
        retention_days: float = 14.0,
        spec_loader: Callable[[str], Any] = load_spec,
        *,
        roots: Any = None,
        engines: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(name="void-vfx-worker", daemon=True)
        self.store = store
        self.engine = engine
        self.process_fn = process_fn
        self.retention_days = retention_days
        self.spec_loader = spec_loader
        #: Path-mode jobs are checked against the server's roots again when they start.
        self.roots = roots
        self.engines = engines
        self._halt = threading.Event()
        self._last_expire = 0.0

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
        if time.time() - self._last_expire < 3600.0:
            return
        self._last_expire = time.time()
        try:
            for job_id in self.store.expire(self.retention_days):
                log.info("job %s removed after %.1f days", job_id, self.retention_days)
        except Exception:  # noqa: BLE001 - housekeeping must never stop the worker
            log.exception("retention clean-up failed")

    # -- one job ----------------------------------------------------------------------------
    def run_job(self, job_id: str) -> None:
        store = self.store
        t0 = time.time()
        state = {"window": 0, "windows": 0}

        def should_cancel() -> bool:
            return self._halt.is_set() or store.cancel_requested(job_id)

        def window_progress(index: int, total: int, message: str = "") -> None:
            if message.startswith("assembling") and should_cancel():
                raise Cancelled(f"job {job_id} cancelled before its frames were assembled")
            state["window"], state["windows"] = int(index), int(total)
            eta = None
            if index > 0 and total > 0:
                eta = (time.time() - t0) / index * (total - index)
            store.update(job_id, window=int(index), windows=int(total), eta_s=eta, message=message)
            if message:
                store.add_event(job_id, "progress", message)

        def step_progress(step: int, total: int, message: str = "") -> None:
            store.update(job_id, step=int(step), steps=int(total), message=message)

        def engine_fn(window_input: Any) -> Any:
            if should_cancel():
                raise Cancelled(f"job {job_id} cancelled")
            out = self.engine.run(window_input, step_progress, should_cancel)
            if should_cancel():
                raise Cancelled(f"job {job_id} cancelled")
            return out

        out_dir = None
        before: set[str] = set()
        try:
            row = store.row(job_id, "spec", "mode")
            spec = self.spec_loader(row["spec"])
            self._check_job(spec, row["mode"])
            out_dir = store.results_dir(job_id)
            out_dir.mkdir(parents=True, exist_ok=True)
            before = _names_in(out_dir)
            fn = self.process_fn or default_process_fn()
            params = inspect.signature(fn).parameters
            kwargs: dict[str, Any] = {}
            if "should_cancel" in params:
                kwargs["should_cancel"] = should_cancel
            if "on_warning" in params:
                kwargs["on_warning"] = lambda msg: store.add_event(job_id, "warning", str(msg))
            summary = fn(
                spec,
                engine_fn,
                str(store.work_dir(job_id)),
                str(out_dir),
                window_progress,
                **kwargs,
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
            transfer.record_results(out_dir, store.job_dir(job_id))
        except Cancelled:
            if self._halt.is_set() and not store.cancel_requested(job_id):
                # Server shutting down: leave the job for the next start to resume.
                store.set_state(job_id, "queued", "server stopped; will resume")
            else:
                # What it wrote goes before the state says so: a client that sees "cancelled"
                # finds nothing left.
                _drop_written(out_dir, before)
                store.set_state(job_id, "cancelled", "cancelled by the user")
        except VoidVfxError as ex:
            _drop_if_empty(out_dir)
            store.set_state(job_id, "failed", str(ex))
        except Exception as ex:  # noqa: BLE001 - a failed job must not kill the worker
            log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
            _drop_if_empty(out_dir)
            store.set_state(job_id, "failed", f"internal error: {type(ex).__name__}: {ex}")
        else:
            store.update(job_id, window=state["windows"], eta_s=0.0)
            store.set_state(job_id, "done", f"finished in {time.time() - t0:.1f} s")
        finally:
            self._free_memory()

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


def _names_in(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _drop_written(folder: Path | None, before: set[str]) -> None:
    """A cancelled job leaves nothing: the frames it wrote go, then the folder if empty."""
    if folder is None:
        return
    for name in _names_in(folder) - before:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    _drop_if_empty(folder)


def _drop_if_empty(folder: Path | None) -> None:
    """A version folder reserved for a job that wrote nothing is removed (rmdir of an empty
    folder only), so a cancelled or failed job leaves no empty version behind."""
    if folder is None:
        return
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (frames were written) or already gone: keep it
