"""One worker per GPU: ``serve --gpus 0,1`` (default: every GPU found for the void engine) loads
one engine per GPU, and each engine's worker takes the next queued job when it is free, so N
GPUs run N jobs at once from the one queue. The GPU that runs a job shows in its progress
message (``void-vfx jobs``: "gpu 1: pass 1 step 3/30") and in its events.

With one GPU (or none) the server runs the single worker it always had.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from void_vfx.errors import ServerError

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


def gpu_devices(engine: Any, gpus: str | None) -> list[int]:
    """The GPU indices to run the void engine on: the ones asked for (checked against those
    found), else all found; [] for other engines or without CUDA."""
    asked = parse_gpus(gpus)
    if engine != "void":
        return []
    try:
        import torch
    except ImportError:  # pragma: no cover - the void engine needs torch anyway
        return []
    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if asked is None:
        return list(range(found))
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
        return getattr(self._engine, name)

    def run(self, window: Any, progress: Callable, should_cancel: Callable) -> Any:
        def labelled(step: int, total: int, message: str = "") -> None:
            progress(step, total, f"{self.label}: {message}" if message else self.label)

        return self._engine.run(window, labelled, should_cancel)


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
    """One ``worker_cls`` for ``engine`` (GPU ``gpus[0]``) and one more per further GPU, with
    an engine from ``make_engine(i)``; a single plain worker for one GPU or none."""
    if len(gpus) <= 1:
        return worker_cls(store, engine, *args, **kwargs)
    engines = [engine] + [make_engine(i) for i in range(1, len(gpus))]
    workers = []
    for i, (gpu, eng) in enumerate(zip(gpus, engines, strict=True)):
        worker = worker_cls(store, LabelledEngine(eng, f"gpu {gpu}"), *args, **kwargs)
        worker.name = f"void-vfx-worker-gpu{gpu}"
        worker.requeue = i == 0  # only one worker puts interrupted jobs back in the queue
        workers.append(worker)
    log.warning("one worker per GPU: %s", ", ".join(f"cuda:{g}" for g in gpus))
    return WorkerPool(workers, engines[1:])
