"""Jobs survive crashes, cancel stops them, uploads resume, and several clients share the queue."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _server_fakes import make_shot, private_config, start_server  # noqa: F401

from void_vfx.client import connect
from void_vfx.errors import ServerError, TransferError
from void_vfx_server.jobs import JobStore

REPO = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path)
    yield srv
    srv.close()


def _log_lines(server_data: Path, job: str) -> list[str]:
    log = server_data / "jobs" / job / "work" / "computed.log"
    return log.read_text().split() if log.exists() else []


def _summary_list(summary: str, name: str) -> list[int]:
    """The window indices after ``name`` in the worker's summary line ("windows computed [2, 3],
    reused [0, 1], skipped []"), parsed as data."""
    match = re.search(rf"\b{name} (\[[\d, ]*\])", summary)
    assert match, f"no {name!r} list in {summary!r}"
    return json.loads(match.group(1))


def _wait(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_upload_resumes_after_dropped_connection(server, tmp_path):
    spec = make_shot(tmp_path, frames=1)
    payload = os.urandom(5 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(payload)
    c = connect("127.0.0.1", server.port, token=server.token)
    job = c.submit(spec, files_mode="stream", start=False)
    first = 2 * 1024 * 1024
    assert c.call("upload", job, "extra/big.bin", 0, payload[:first]) == first
    c._conn._channel.stream.sock.shutdown(socket.SHUT_RDWR)  # the network drops mid-file
    with pytest.raises(ServerError, match=r"connection to 127\.0\.0\.1:\d+ lost"):
        c.call("upload", job, "extra/big.bin", first, payload[first : 2 * first])
    c.close()
    with connect("127.0.0.1", server.port, token=server.token) as c2:
        offset = c2.call("upload_status", job, "extra/big.bin")
        assert offset == first
        with pytest.raises(TransferError, match=f"job {job}: uploads not finished"):
            c2.start(job)
        with pytest.raises(TransferError, match=r"chunk at offset 0 but the server holds"):
            c2.call("upload", job, "extra/big.bin", 0, payload[:10])
        assert c2.upload_file(job, "extra/big.bin", src) == len(payload)
        with pytest.raises(TransferError, match=r"extra/bad\.bin: sha256 mismatch"):
            c2.call("upload", job, "extra/bad.bin", 0, b"abc")
            c2.call("upload_done", job, "extra/bad.bin", "0" * 64, 3)
    stored = server.data_dir / "jobs" / job / "inputs" / "extra" / "big.bin"
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(payload).digest()
    # The job's own frames were never sent: resuming the submit sends them and starts it.
    with connect("127.0.0.1", server.port, token=server.token) as c3:
        assert c3.submit(spec, files_mode="stream", resume_job=job) == job
        assert c3.follow(job, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"


def test_job_runs_and_downloads_resumably(server, tmp_path):
    spec = make_shot(tmp_path, frames=3)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="stream")
        seen = []
        status = c.follow(job, callback=lambda s, ev: seen.extend(ev), poll_s=0.05)
        assert status["state"] == "done" and status["windows"] == 3
        assert any("window 3/3" in e["message"] for e in seen)
        results = c.list_results(job)
        assert [r["name"] for r in results] == [f"shot_void.{f}.exr" for f in (1001, 1002, 1003)]
        # A partial download (connection dropped) is resumed from the .part file's size.
        local = tmp_path / "partial" / "x.1001.exr"
        local.parent.mkdir()
        Path(str(local) + ".part").write_bytes(c.call("download", job, results[0]["name"], 0, 999))
        c._download_one(job, results[0], local)
        assert hashlib.sha256(local.read_bytes()).hexdigest() == results[0]["sha256"]
        paths = c.download_results(job, tmp_path / "dl")
        again = c.download_results(job, tmp_path / "dl")
    assert [Path(p).name for p in paths] == [f"shot_void_v001.{f}.exr" for f in (1001, 1002, 1003)]
    assert Path(again[0]).parent.name == "shot_void_v002"  # never overwrites
    # A new client (the host restarted) still knows where this job's results belong.
    with connect("127.0.0.1", server.port, token=server.token) as fresh:
        later = fresh.download_results(job)
    assert Path(later[0]).parent == Path(spec.output.dir) / "shot_void_v001"
    plate = Path(spec.plate.replace("####", "1002"))
    data = Path(paths[1]).read_bytes()
    assert data.endswith(plate.read_bytes()[::-1])


def test_cancel_stops_running_job(server, tmp_path):
    spec = make_shot(tmp_path, frames=40)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="path")
        _wait(lambda: "commit 1" in " ".join(_log_lines(server.data_dir, job)), what="2 windows")
        freed_before = server.engine.freed
        steps_before = server.engine.steps
        assert c.cancel(job) == "running"
        status = c.follow(job, callback=lambda s, e: None, poll_s=0.05)
        assert status["state"] == "cancelled"
        # Stopped at the next denoising step: at most the step running at the request (and one
        # that began while the request travelled), never the rest of the window's 4 steps.
        assert server.engine.steps - steps_before <= 2
        commits = [w for w in _log_lines(server.data_dir, job) if w.isdigit()]
        assert len(commits) < 40 * 2
        assert server.engine.freed > freed_before
        # A queued job is cancelled at once and never runs.
        queued = c.submit(spec, files_mode="path", start=False)
        assert c.cancel(queued) == "cancelled"
        assert c.status(queued)["state"] == "cancelled"


def test_ctrl_c_in_follow_cancels(server, tmp_path):
    spec = make_shot(tmp_path, frames=40)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="path")

        def interrupt(status, events):
            if status["window"] >= 1:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            c.follow(job, callback=interrupt, poll_s=0.05)
        _wait(lambda: c.status(job)["state"] == "cancelled", what="cancel")


def test_ctrl_c_during_upload_cancels_the_job(server, tmp_path, monkeypatch, capsys):
    from void_vfx.client import Client

    spec = make_shot(tmp_path, frames=3)
    real_upload = Client.upload_file
    sent = []

    def upload_then_interrupt(self, job_id, name, path):
        if sent:
            raise KeyboardInterrupt
        sent.append(name)
        return real_upload(self, job_id, name, path)

    monkeypatch.setattr(Client, "upload_file", upload_then_interrupt)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        with pytest.raises(KeyboardInterrupt):
            c.submit(spec, files_mode="stream")
        (job,) = c.jobs()
        assert job["state"] == "cancelled"
    assert f"job {job['id']}: cancelled" in capsys.readouterr().err


def test_two_clients_submit_at_once(server, tmp_path):
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            spec = make_shot(tmp_path / f"c{i}", frames=3)
            with connect("127.0.0.1", server.port, token=server.token) as c:
                job = c.submit(spec, files_mode="stream")
                assert c.follow(job, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"
                results[i] = c.download_results(job)
        except BaseException as ex:  # noqa: BLE001 - reported below
            errors.append(ex)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for i in range(2):
        plate = tmp_path / f"c{i}" / "src" / "shot.1003.exr"
        assert Path(results[i][2]).read_bytes().endswith(plate.read_bytes()[::-1])


def test_priority_and_retention(tmp_path):
    store = JobStore(tmp_path)
    low = store.create("{}", "path", priority=0)
    high = store.create("{}", "path", priority=10)
    for job in (low, high):
        store.enqueue(job)
    assert store.claim_next() == high
    store.set_state(high, "done")
    assert store.expire(retention_days=1.0) == []
    store.update(high, finished=time.time() - 2 * 86400)
    assert store.expire(retention_days=1.0) == [high]
    assert not store.job_dir(high).exists()
    assert store.list()[0]["id"] == low
    events, cursor = store.events(low, 0)
    assert [(e["kind"], e["state"], e["message"]) for e in events] == [
        ("state", "created", ""),
        ("state", "queued", ""),
    ]
    assert store.events(low, cursor) == ([], cursor)
    store.close()


def test_events_carry_state_message_and_progress_as_fields(tmp_path):
    """A state event's state is its own field, never packed into the message; a progress
    event's counts come as a dict of the known keys; an older store's packed state events are
    split once when it is opened."""
    store = JobStore(tmp_path)
    job = store.create("{}", "path")
    store.set_state(job, "failed", "plate.1001.exr: no such file: check the path")
    store.add_event(job, "progress", "window 0: committed", progress={"done": 3, "x": "no"})
    events, _ = store.events(job, 0)
    assert [(e["state"], e["message"]) for e in events[1:]] == [
        ("failed", "plate.1001.exr: no such file: check the path"),
        ("", "window 0: committed"),
    ]
    assert events[2]["progress"] == {"done": 3} and events[1]["progress"] == {}
    store.close()
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")  # as an older server left it
    db.execute("ALTER TABLE events DROP COLUMN progress")
    db.execute("ALTER TABLE events DROP COLUMN state")
    db.execute("UPDATE events SET message = 'created' WHERE seq = 1")
    db.execute("UPDATE events SET message = 'failed: a: b' WHERE seq = 2")
    db.commit()
    db.close()
    store = JobStore(tmp_path)
    events, _ = store.events(job, 0)
    assert [(e["state"], e["message"]) for e in events] == [
        ("created", ""),
        ("failed", "a: b"),
        ("", "window 0: committed"),
    ]
    store.close()


def test_server_removes_expired_jobs_on_start(tmp_path):
    """The worker runs the retention clean-up itself: an old finished job is gone after a start."""
    store = JobStore(tmp_path / "data")
    old, recent = store.create("{}", "path"), store.create("{}", "path")
    for job in (old, recent):
        store.set_state(job, "done")
    store.update(old, finished=time.time() - 3 * 86400)
    store.close()
    srv = start_server(tmp_path, retention_days=2.0)
    try:
        _wait(lambda: not srv.store.job_dir(old).exists(), timeout=30, what="clean-up")
        assert [j["id"] for j in srv.store.list()] == [recent]
        assert srv.store.job_dir(recent).is_dir()
    finally:
        srv.close()


def _spawn(tmp_path: Path, port: int, fake_process: bool = True) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=str(TESTS),
        VOID_VFX_TEST_STEP_S="0.06",
        VOID_VFX_TEST_ENGINE_LOG=str(tmp_path / "engine.log"),
    )
    extra = ["--process-fn", "_server_fakes:fake_process"] if fake_process else []
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "void_vfx_server.main",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--token-file",
            str(tmp_path / "token"),
            "--engine",
            "_server_fakes:SlowEngine",
            "--min-free-gb",
            "0",
            *extra,
            "--allow-read",
            str(tmp_path),
            "--allow-write",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect_retry(port: int, token_file: Path):
    def attempt():
        try:
            return connect("127.0.0.1", port, token=token_file.read_text().strip())
        except Exception:  # noqa: BLE001 - not up yet
            return None

    return _wait(attempt, timeout=60, what="server start")


def test_kill_9_mid_job_resumes_without_recomputing(tmp_path):
    port = _free_port()
    proc = _spawn(tmp_path, port)
    procs = [proc]
    try:
        c = _connect_retry(port, tmp_path / "token")
        spec = make_shot(tmp_path, frames=12)
        job = c.submit(spec, files_mode="stream")
        _wait(lambda: "commit 3" in " ".join(_log_lines(tmp_path / "data", job)), what="4 windows")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        c.close()
        before = _log_lines(tmp_path / "data", job)
        proc = _spawn(tmp_path, port)
        procs.append(proc)
        c = _connect_retry(port, tmp_path / "token")
        status = c.follow(job, callback=lambda s, e: None, poll_s=0.1)
        assert status["state"] == "done", status
        paths = c.download_results(job)
        c.close()
    finally:
        _kill_all(procs)
    lines = _log_lines(tmp_path / "data", job)
    pairs = list(zip(lines[::2], (int(x) for x in lines[1::2]), strict=True))
    commits = [i for kind, i in pairs if kind == "commit"]
    starts = [i for kind, i in pairs if kind == "start"]
    assert sorted(commits) == list(range(12)), "every window committed exactly once"
    interrupted = [i for i in set(starts) if starts.count(i) > 1]
    assert len(interrupted) <= 1, "only the window running at the kill may start again"
    assert len(before) < len(lines), "the restarted server did the remaining work"
    for f, path in zip(range(1001, 1013), paths, strict=True):
        plate = tmp_path / "src" / f"shot.{f}.exr"
        assert Path(path).read_bytes().endswith(plate.read_bytes()[::-1])


def test_kill_9_with_real_render_resumes_from_committed_windows(tmp_path):
    """The real window loop (void_vfx.render.process) on real EXRs: a crash loses no committed
    window."""
    from void_vfx.demo.run import build_spec, make_demo_shot

    shot = make_demo_shot(tmp_path / "shot", frames=30, size=(128, 72), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.window.min_length = spec.window.max_length = 13
    spec.window.overlap = 4
    port = _free_port()
    engine_log = tmp_path / "engine.log"
    procs = [_spawn(tmp_path, port, fake_process=False)]
    try:
        c = _connect_retry(port, tmp_path / "token")
        job = c.submit(spec, files_mode="path")
        _wait(
            lambda: engine_log.exists() and len(engine_log.read_text().split("\n")) > 2,
            what="a committed window",
        )
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(30)
        c.close()
        runs_before = len(engine_log.read_text().splitlines())
        procs.append(_spawn(tmp_path, port, fake_process=False))
        c = _connect_retry(port, tmp_path / "token")
        status = c.follow(job, callback=lambda s, e: None, poll_s=0.1)
        assert status["state"] == "done", status
        events, _ = c.events(job, 0)
        paths = c.download_results(job)
        c.close()
    finally:
        _kill_all(procs)
    summary = [e["message"] for e in events if e["kind"] == "summary"][-1]
    computed, reused = _summary_list(summary, "computed"), _summary_list(summary, "reused")
    windows = status["windows"]
    assert reused, "windows committed before the kill were reused"
    assert sorted(computed + reused) == list(range(windows))
    runs = len(engine_log.read_text().splitlines())
    assert runs <= windows + 1, "only the window running at the kill was computed again"
    assert runs_before >= len(reused)
    assert len(paths) == len(shot.frames)
