"""One worker per GPU: ``serve --gpus 0,1`` (default: every GPU found for the void engine) loads
one engine per GPU into one :class:`EnginePool`. Each worker takes the next queued job, and a
job's windows go to whichever engine of the pool is free, up to one window per engine at once:
one long shot runs on every GPU, two jobs share them. A window's frames do not depend on the
GPU that ran it (each window draws its noise from the job's seed alone), so the output is the
bits of a one-GPU run. The GPU that runs a window shows in the job's progress message
(``void-vfx jobs``: "gpu 1: pass 1 step 3/30") and in its events.

With one GPU (or none) the server runs the single worker it always had.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

from void_vfx.errors import Cancelled, ServerError

log = logging.getLogger("void_vfx_server.gpus")


def parse_gpus(text: str | None) -> list[int] | None:
    """``"0,1"`` -> [0, 1]; None or "all" -> None (every GPU found)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ServerError(
            f"--gpus {text!r}: give GPU indices separated by commas, e.g. --gpus 0,1"
        ) from None
    if not ids or len(set(ids)) != len(ids) or min(ids) < 0:
        raise ServerError(f"--gpus {text!r}: give distinct GPU indices, e.g. --gpus 0,1")
    return ids


def gpu_devices(engine: Any, gpus: str | None, memory_mode: str | None = None) -> list[int]:
    """The GPU indices to run the void engine on: the ones asked for (checked against those
    found), else all found that have bf16 (compute capability 8.0+; the others are left out
    with a warning); [] for other engines, ``--memory-mode cpu`` or without CUDA."""
    asked = parse_gpus(gpus)
    if engine != "void" or memory_mode == "cpu":
        return []
    try:
        import torch
    except ImportError:  # pragma: no cover - the void engine needs torch anyway
        return []
    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if asked is None:
        usable = [i for i in range(found) if torch.cuda.get_device_capability(i)[0] >= 8]
        for i in sorted(set(range(found)) - set(usable)):
            log.warning(
                "GPU %d (%s) has no bf16 (compute capability below 8.0): no worker on it",
                i,
                torch.cuda.get_device_name(i),
            )
        return usable
    missing = [i for i in asked if i >= found]
    if missing:
        raise ServerError(f"--gpus: no GPU {missing[0]} (this machine has {found}: 0-{found - 1})")
    return asked


def engine_options(options: dict | None, gpus: list[int], index: int) -> dict:
    """The engine options of the ``index``-th GPU worker (its device), without ``gpus``."""
    opts = {k: v for k, v in (options or {}).items() if k != "gpus"}
    if gpus:
        opts["device"] = f"cuda:{gpus[index]}"
    return opts


class LabelledEngine:
    """An engine whose step messages name its GPU; everything else is the engine's."""

    def __init__(self, engine: Any, label: str):
        self._engine, self.label = engine, label

    def __getattr__(self, name: str) -> Any:
        if name == "_engine":
            raise AttributeError(name)
        return getattr(self._engine, name)

    def run(self, window: Any, progress: Callable, should_cancel: Callable) -> Any:
        def labelled(step: int, total: int, message: str = "") -> None:
            progress(step, total, f"{self.label}: {message}" if message else self.label)

        return self._engine.run(window, labelled, should_cancel)


class EnginePool:
    """Several engines seen as one: ``run`` lends the window to a free engine (waiting for one,
    and honouring a cancel while it waits) and takes it back after. ``size`` windows run at once;
    a worker hands that many to the render."""

    def __init__(self, engines: list[Any]):
        self.engines = list(engines)
        #: Windows at once; the worker passes it to the render as ``engine_slots``.
        self.engine_slots = len(self.engines)
        self._free: queue.Queue = queue.Queue()
        for engine in self.engines:
            self._free.put(engine)

    def __getattr__(self, name: str) -> Any:  # name, info(), ...: the first engine's
        if name == "engines":
            raise AttributeError(name)
        return getattr(self.engines[0], name)

    def run(self, window: Any, progress: Callable, should_cancel: Callable) -> Any:
        while True:
            if should_cancel():
                raise Cancelled("cancelled while waiting for a free GPU")
            try:
                engine = self._free.get(timeout=0.1)
                break
            except queue.Empty:
                continue
        try:
            return engine.run(window, progress, should_cancel)
        finally:
            self._free.put(engine)

    def free_memory(self) -> None:
        """After a job: each engine drops its cached blocks (weights stay)."""
        for engine in self.engines:
            hook = getattr(engine, "free_memory", None)
            if callable(hook):
                hook()


class WorkerPool:
    """Several workers on one queue, with the interface of one ``Worker`` (start, stop,
    is_alive, join). The first engine is the server's; the others are unloaded on stop."""

    def __init__(self, workers: list[Any], extra_engines: list[Any]):
        self.workers, self.extra_engines = workers, extra_engines

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            if worker.is_alive():
                worker.join(timeout=30)
        for engine in self.extra_engines:
            try:
                engine.unload()
            except Exception:  # noqa: BLE001 - stopping must go on
                log.exception("unloading an engine failed")

    def is_alive(self) -> bool:
        return any(w.is_alive() for w in self.workers)

    def join(self, timeout: float | None = None) -> None:
        for worker in self.workers:
            worker.join(timeout)


def make_workers(
    worker_cls: type,
    store: Any,
    engine: Any,
    gpus: list[int],
    make_engine: Callable[[int], Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """One ``worker_cls`` per GPU on one :class:`EnginePool` of ``engine`` (GPU ``gpus[0]``)
    and an engine from ``make_engine(i)`` per further GPU; a single plain worker for one GPU or
    none."""
    if len(gpus) <= 1:
        return worker_cls(store, engine, *args, **kwargs)
    engines = [engine] + [make_engine(i) for i in range(1, len(gpus))]
    pool = EnginePool(
        [LabelledEngine(eng, f"gpu {gpu}") for gpu, eng in zip(gpus, engines, strict=True)]
    )
    workers = []
    for i, gpu in enumerate(gpus):
        worker = worker_cls(store, pool, *args, **kwargs)
        worker.name = f"void-vfx-worker-gpu{gpu}"
        worker.requeue = i == 0  # only one worker puts interrupted jobs back in the queue
        workers.append(worker)
    log.warning("one worker per GPU: %s", ", ".join(f"cuda:{g}" for g in gpus))
    return WorkerPool(workers, engines[1:])
