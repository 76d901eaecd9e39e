"""One worker per GPU on one queue: fake GPUs (a test engine per device index) share the job
store's queue; each job runs once, on whichever GPU is free, and its messages name the GPU."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
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


class PooledPreview:
    """A preview engine standing in for one GPU of a pool: it records the windows it ran and how
    many ran at once, and takes long enough that the next window finds it busy."""

    name = "preview"

    def __init__(self, ran: list[str], label: str):
        from void_vfx_server.engines.preview import PreviewEngine

        self.engine, self.ran, self.label = PreviewEngine(), ran, label

    def info(self) -> dict:
        return self.engine.info()

    def run(self, window, progress, should_cancel):
        with _COUNT:
            RUNNING["now"] += 1
            RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
        try:
            progress(0, 1, "started")  # stays the window's latest step while it sleeps
            time.sleep(0.15)
            out = self.engine.run(window, progress, should_cancel)
            self.ran.append(self.label)
            return out
        finally:
            with _COUNT:
                RUNNING["now"] -= 1

    def unload(self) -> None:
        self.engine.unload()


def test_one_long_shot_runs_on_both_engines_with_the_bits_of_one(tmp_path: Path) -> None:
    """The windows of ONE job spread over a pool of two engines behind a real RPyC server, and
    its frames are byte for byte those of the same spec run on one engine."""
    from _server_fakes import start_server

    from void_vfx.client import connect
    from void_vfx.demo.run import build_spec, make_demo_shot
    from void_vfx.media.image_io import read_header, read_image
    from void_vfx.render.process import process_shot
    from void_vfx_server.engines.preview import PreviewEngine

    shot = make_demo_shot(tmp_path / "shot", frames=11, size=(96, 54), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.window.min_length = spec.window.max_length = 5
    spec.window.overlap = 2  # 11 frames: 3 windows
    spec.output.version = 1  # the server's run and the one below write the same names
    one = PreviewEngine()
    alone = process_shot(
        spec,
        lambda w: one.run(w, lambda *a: None, lambda: False),
        str(tmp_path / "one-job"),
        str(tmp_path / "one-out"),
    )
    assert alone["windows"] == 3 and alone["computed"] == [0, 1, 2]

    RUNNING.update(now=0, most=0)
    ran: list[str] = []
    engines = [PooledPreview(ran, "a"), PooledPreview(ran, "b")]
    server = start_server(tmp_path, engine=engines, process_fn=None)
    try:
        with connect("127.0.0.1", server.port, token=server.token) as c:
            job = c.submit(spec, files_mode="path")
            seen: list[str] = []  # the job's message as the server holds it, every 10 ms
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    seen.append(server.store.row(job, "message")["message"])
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                status = c.follow(job, callback=lambda s, e: None, poll_s=0.05)
            finally:
                done.set()
                sampler.join()
            assert status["state"] == "done", status
            events, _ = c.events(job, 0)
    finally:
        server.close()
    assert len(ran) == 3 and set(ran) == {"a", "b"}  # each window once, on both engines
    assert RUNNING["most"] == 2  # two windows of the one job at once, never more
    # While both run, the job's message names both GPUs' steps, not whichever spoke last.
    assert "gpu 0: started; gpu 1: started" in seen or "gpu 1: started; gpu 0: started" in seen
    summary = [e["message"] for e in events if e["kind"] == "summary"][-1]
    assert "computed [0, 1, 2]" in summary
    pooled = sorted((tmp_path / "out").rglob("*.exr"))
    assert [p.name for p in pooled] == sorted(Path(p).name for p in alone["paths"])
    for path in pooled:  # the same pixel bits and header; only the time written differs
        one_path = str(tmp_path / "one-out" / path.name)
        got, want = read_image(str(path)).raw, read_image(one_path).raw
        assert got.dtype == want.dtype and np.array_equal(got.view(np.uint8), want.view(np.uint8))
        attrs = [{**read_header(p).attributes, "DateTime": None} for p in (str(path), one_path)]
        assert attrs[0] == attrs[1], path.name


def test_every_gpu_found_means_every_gpu_with_bf16(monkeypatch) -> None:
    """A T4 beside two newer cards gets no worker by default (its engine would refuse to
    load); named with --gpus, its engine says why in one line; --memory-mode cpu uses none."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (7, 5) if i == 1 else (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Tesla T4")
    assert gpu_pool.gpu_devices("void", None) == [0, 2]
    assert gpu_pool.gpu_devices("void", "1") == [1]
    assert gpu_pool.gpu_devices("void", None, "cpu") == []


def test_a_window_waiting_for_a_free_gpu_honours_a_cancel() -> None:
    """With every engine of the pool busy, a window waits; a cancel while it waits stops it
    without running it, and the busy engine is lent again once free."""
    from void_vfx.errors import Cancelled

    release, ran = threading.Event(), []

    class Busy:
        def run(self, window, progress, should_cancel):
            release.wait(5)
            ran.append(window)
            return window

    pool = gpu_pool.EnginePool([Busy()])
    first = threading.Thread(target=pool.run, args=("w0", None, lambda: False))
    first.start()
    time.sleep(0.05)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled, match="waiting for a free GPU"):
        pool.run("w1", None, cancel.is_set)
    release.set()
    first.join(5)
    assert pool.run("w2", None, lambda: False) == "w2" and ran == ["w0", "w2"]
