"""One worker per GPU on one queue: fake GPUs (a test engine per device index) share the job
store's queue; each job runs once, on whichever GPU is free, and its messages name the GPU."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from void_vfx.errors import ServerError
from void_vfx_server import gpu_pool
from void_vfx_server.jobs import JobStore
from void_vfx_server.worker import Worker

RUNNING = {"now": 0, "most": 0}
_COUNT = threading.Lock()


class DeviceEngine:
    """A test engine on one device index: one step per window, slow enough to overlap."""

    name = "test"

    def __init__(self, index: int):
        self.index, self.ran, self.unloaded = index, [], False

    def run(self, window, progress, should_cancel):
        with _COUNT:
            RUNNING["now"] += 1
            RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
        progress(1, 1, "pass 1 step 1/1")
        time.sleep(0.3)
        self.ran.append(window)
        with _COUNT:
            RUNNING["now"] -= 1
        return window

    def unload(self):
        self.unloaded = True


def test_jobs_share_the_queue_across_gpus(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    engines = {0: DeviceEngine(0), 1: DeviceEngine(1), 2: DeviceEngine(2)}
    messages: dict[str, list[str]] = {}
    lock = threading.Lock()

    def process(spec, engine_fn, work_dir, out_dir, progress, **_worker_kw):
        job_id = Path(work_dir).parent.name  # jobs/<id>/work (out_dir may be a descriptor path)
        engine_fn(job_id)
        with lock:
            messages.setdefault(job_id, []).append(store.status(job_id)["message"])
        return []

    gpus = [0, 1, 2]
    pool = gpu_pool.make_workers(
        Worker,
        store,
        engines[0],
        gpus,
        lambda i: engines[gpus[i]],
        process,
        14.0,
    )
    spec = '{"plate": "p.####.exr", "primary": {"path": "m.####.exr"}}'
    jobs = [store.create(spec, "upload") for _ in range(6)]
    for job in jobs:
        store.enqueue(job)
    pool.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(store.state(j) != "done" for j in jobs):
            time.sleep(0.05)
    finally:
        pool.stop()
    assert [store.state(j) for j in jobs] == ["done"] * 6, [
        store.status(j)["message"] for j in jobs
    ]
    ran = sorted(j for e in engines.values() for j in e.ran)
    assert ran == sorted(jobs)  # each job once
    assert all(len(e.ran) >= 1 for e in engines.values())  # every GPU took work
    # the message while running named the GPU the job ran on
    for e in engines.values():
        for job in e.ran:
            assert messages[job] == [f"gpu {e.index}: pass 1 step 1/1"]
    assert RUNNING["most"] >= 2  # jobs ran at the same time on different GPUs
    assert engines[1].unloaded and engines[2].unloaded and not engines[0].unloaded


def test_one_gpu_is_the_plain_worker(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    worker = gpu_pool.make_workers(Worker, store, DeviceEngine(0), [0], None, None)
    assert isinstance(worker, Worker) and worker.requeue


def test_gpus_argument() -> None:
    assert gpu_pool.parse_gpus("0,1") == [0, 1]
    assert gpu_pool.parse_gpus(None) is None and gpu_pool.parse_gpus("all") is None
    for bad in ("0,0", "a", "-1"):
        with pytest.raises(ServerError, match="--gpus"):
            gpu_pool.parse_gpus(bad)
    assert gpu_pool.gpu_devices("preview", "0,1") == []  # the preview engine runs on the CPU
    opts = gpu_pool.engine_options({"memory_mode": "auto", "gpus": "0,3"}, [0, 3], 1)
    assert opts == {"memory_mode": "auto", "device": "cuda:3"}
