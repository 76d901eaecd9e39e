"""Attacks on a real server on 127.0.0.1 by a client holding a valid token; each is refused.

One server runs in a subprocess for the whole module (``PYTHONHASHSEED=0``, so an attacker can
forge the hash of a method name, and its memory can be sampled); the others run in-process
with the tests' slow engine and fake processing (tests/_server_fakes.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from _server_fakes import make_shot, private_config, start_server  # noqa: F401

from void_vfx.client import Client, connect
from void_vfx.errors import AuthError, ServerError, SpecError, TransferError

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def _env(**extra: str) -> dict:
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Spawned:
    def __init__(self, folder: Path, root: Path | None = None) -> None:
        self.folder = folder
        root = root or folder  # path mode may read and write there (tmp is no default root)
        self.port = _free_port()
        self.token_file = folder / "token"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "void_vfx_server.main",
                "--port",
                str(self.port),
                "--data-dir",
                str(folder / "data"),
                "--token-file",
                str(self.token_file),
                "--engine",
                "preview",
                "--min-free-gb",
                "0",
                "--allow-read",
                str(root),
                "--allow-write",
                str(root),
            ],
            env=_env(PYTHONHASHSEED="0", XDG_CONFIG_HOME=str(folder / "config")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 60
        while True:
            try:
                self.token = self.token_file.read_text().strip()
                connect("127.0.0.1", self.port, token=self.token).close()
                break
            except (OSError, ServerError):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(self.proc.stderr.read().decode()) from None
                time.sleep(0.1)

    def client(self) -> Client:
        c = connect("127.0.0.1", self.port, token=self.token)
        c.remember_jobs = False
        return c

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    srv = Spawned(tmp_path_factory.mktemp("spawned"), tmp_path_factory.getbasetemp())
    yield srv
    srv.close()


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path)
    yield srv
    srv.close()


def _raw_submit(c: Client, data: dict, mode: str):
    return c.call("submit", json.dumps(data), mode)


# -- the method whitelist ---------------------------------------------------------------------
_ATTACK = r"""
import enum, json, sys
from rpyc.core import consts
from void_vfx.client import connect

calls = []

class Name(enum.StrEnum):
    INFO = "info"

    def __hash__(self):
        calls.append("__hash__")
        return hash("info")  # the server's hash of "info": PYTHONHASHSEED is 0 on both ends

    def __eq__(self, other):
        calls.append("__eq__")
        return True

    def startswith(self, *args):
        calls.append("startswith")
        return False

    def __radd__(self, other):
        calls.append("__radd__")
        return "__setattr__"

# Named like the server's own enum.StrEnum, so the netref's __class__ resolves to that str
# subclass on the server and isinstance(name, str) holds there.
Name.__module__, Name.__name__, Name.__qualname__ = "enum", "StrEnum", "StrEnum"
c = connect("127.0.0.1", int(sys.argv[1]), token=sys.argv[2])
# The attacker's own end answers every attribute request of the server.
c._conn._config.update(allow_all_attrs=True, allow_public_attrs=True, allow_setattr=True)
try:
    c._conn.sync_request(consts.HANDLE_CALLATTR, c._conn.root, Name.INFO,
                         ("_info", (("engine", "pwned"),)), ())
    outcome = "accepted"
except Exception as ex:
    outcome = f"{type(ex).__name__}: {ex}"
print(json.dumps({"calls": calls, "outcome": outcome}))
"""


def test_str_subclass_name_is_refused_without_calling_back(spawned):
    """A netref whose class claims to be a str: the server never calls a method of it (hash,
    eq, startswith, +) and so cannot be steered to ``__setattr__``; other clients see nothing."""
    proc = subprocess.run(
        [sys.executable, "-c", _ATTACK, str(spawned.port), spawned.token],
        env=_env(PYTHONHASHSEED="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["calls"] == [], report
    assert "not accepted" in report["outcome"] or "refused" in report["outcome"], report
    with spawned.client() as c:
        assert c.info()["engine"] == "preview"


def test_client_object_as_argument_is_refused(server):
    from rpyc.core import consts

    with connect("127.0.0.1", server.port, token=server.token) as c:
        conn = c._conn
        for arg in ({"id": "x"}, ["0123456789abcdef"], bytearray(b"x")):
            with pytest.raises(TypeError, match="not accepted"):
                conn.sync_request(consts.HANDLE_CALLATTR, conn.root, "exposed_status", (arg,), ())
        with pytest.raises(TypeError, match="whole number"):  # exact int, not a float
            c.call("events", "0123456789abcdef", 1.5)


# -- names that become paths ------------------------------------------------------------------
def test_output_names_cannot_leave_the_job_folder(server, tmp_path):
    spec = make_shot(tmp_path, frames=2)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        victim = c.submit(spec, files_mode="stream")
        assert c.follow(victim, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"
        before = c.list_results(victim)
        names = [
            "../../../x",
            "/abs/x",
            f"../../{victim}/results/shot",
            "a/b",
            "..",
            "C:x",
            ".hidden",
            "x\x00y",
        ]
        for name in names:
            data = spec.to_dict()
            data["output"]["name"] = name
            with pytest.raises(SpecError, match="output.name"):
                c.submit(data, files_mode="stream")  # the client refuses it first
            for mode in ("stream", "path"):
                stream_data = dict(
                    data,
                    plate="plate/plate.####.exr",
                    primary=None,
                    quadmask={"path": "quadmask/q.####.exr"},
                )
                with pytest.raises(SpecError, match="output.name"):
                    _raw_submit(c, stream_data if mode == "stream" else data, mode)
        assert [j["id"] for j in c.jobs()] == [victim]
        assert c.list_results(victim) == before
        # The victim's files still download and match the sha256 it listed.
        paths = c.download_results(victim, tmp_path / "dl")
    assert len(paths) == 2
    assert not (tmp_path / "x").exists() and not Path("/abs/x").exists()


def test_symlinked_version_folder_is_not_followed(server, tmp_path):
    spec = make_shot(tmp_path, frames=2)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="path", start=False)
        with pytest.raises(TransferError, match="when it is done"):
            c.call("download", job, "shot_void.1001.exr", 0, 10)
        c.start(job)
        assert c.follow(job, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"
        names = [r["name"] for r in c.list_results(job)]
        folder = Path(c.status(job)["out_dir"])
        # Something the server did not write, dropped into the version folder, is not served.
        (folder / "extra.txt").write_bytes(b"not a result")
        with pytest.raises(TransferError, match="not a result of this job"):
            c.call("download", job, "extra.txt", 0, 100)
        # The version folder swapped for a symlink to other files with the same names.
        secret = tmp_path / "secret"
        secret.mkdir()
        for n in names:
            (secret / n).write_bytes(b"SECRET " * 10)
        folder.rename(tmp_path / "moved")
        folder.symlink_to(secret, target_is_directory=True)
        for n in names:
            with pytest.raises(TransferError, match="moved or replaced"):
                c.call("download", job, n, 0, 100)
        # A result replaced in place by a symlink to another file is refused as well.
        folder.unlink()
        (tmp_path / "moved").rename(folder)
        (folder / names[0]).unlink()
        (folder / names[0]).symlink_to(secret / names[0])
        with pytest.raises(TransferError, match="cannot open|replaced"):
            c.call("download", job, names[0], 0, 100)


# -- bounds -----------------------------------------------------------------------------------
def _sample_peak(srv: Spawned, seconds: float, until=None) -> int:
    peak, deadline = srv.rss(), time.time() + seconds
    while time.time() < deadline:
        peak = max(peak, srv.rss())
        if until is not None and until():
            break
        time.sleep(0.02)
    return peak


def test_huge_frame_range_refused_before_memory_grows(spawned, tmp_path):
    spec = make_shot(tmp_path, frames=2, size=1000)
    data = spec.to_dict()
    data["frame_range"] = [1001, 10**10]
    base = spawned.rss()
    with spawned.client() as c:
        with pytest.raises(SpecError, match=r"frame_range: frame numbers must be within"):
            _raw_submit(c, data, "path")
        data["frame_range"] = [1001, 10**8]
        with pytest.raises(SpecError, match=r"frame_range: 1001-100000000 is .* at most 20000"):
            _raw_submit(c, data, "path")
        with pytest.raises(SpecError, match="frame_range"):
            c.submit(data)
        # The plate's own pattern carries the huge range: the job fails saying so, at once.
        src = Path(spec.plate).parent
        data["frame_range"] = None
        data["plate"] = str(src / "shot.[1001-99999999].exr")
        job = _raw_submit(c, data, "path")
        c.start(job)
        peak = _sample_peak(spawned, 20, lambda: c.status(job)["state"] in ("failed", "done"))
        status = c.status(job)
    assert status["state"] == "failed" and "at most 20000" in status["message"], status
    assert peak - base < 150 * 2**20, f"server memory grew by {(peak - base) / 2**20:.0f} MiB"


def test_huge_spec_refused_fast_and_status_stays_fast(spawned, tmp_path):
    spec = make_shot(tmp_path, frames=1, size=1000)
    data = spec.to_dict()
    data["prompt"] = "an empty street " * (100 * 2**20 // 16)  # 100 MB
    with spawned.client() as c:
        jobs_before = len(c.jobs())
        with pytest.raises(SpecError, match="prompt"):
            c.submit(data)  # the client says so before sending anything
    huge = json.dumps(data)
    data["prompt"] = "x" * (4 * 2**20)  # under the frame limit, over the spec limit
    big = json.dumps(data)
    timings: list[float] = []
    stop = threading.Event()

    def poll() -> None:  # another client's status calls while the attack runs
        with spawned.client() as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.jobs()
                timings.append(time.perf_counter() - t0)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with spawned.client() as c:
            t0 = time.perf_counter()
            with pytest.raises(ServerError, match="connection"):
                c.call("submit", huge, "stream")  # dropped after the frame header
            assert time.perf_counter() - t0 < 5.0
        with spawned.client() as c:
            with pytest.raises(SpecError, match="at most 262144 bytes"):
                c.call("submit", big, "stream")
            assert len(c.jobs()) == jobs_before
    finally:
        stop.set()
        poller.join(30)
    assert timings and max(timings) < 1.0, max(timings)


def test_priority_out_of_bounds_leaves_no_job_folder(server, tmp_path):
    spec = make_shot(tmp_path, frames=1, size=1000)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        for value in (10**30, 101, True):
            data = dict(spec.to_dict(), priority=value)
            with pytest.raises(SpecError, match="priority"):
                _raw_submit(c, data, "path")
    assert list((server.data_dir / "jobs").iterdir()) == []


def test_status_reads_only_the_columns_it_needs(server, tmp_path):
    spec = make_shot(tmp_path, frames=1, size=1000)
    spec.prompt = "p" * 3000
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="path", start=False)
        statements: list[str] = []
        server.store._db.set_trace_callback(statements.append)
        try:
            c.status(job)
            c.events(job, 0)
        finally:
            server.store._db.set_trace_callback(None)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for s in selects:
        assert "*" not in s and "spec" not in s, s


# -- engines ----------------------------------------------------------------------------------
def test_void_job_refused_on_preview_server(spawned, tmp_path):
    spec = make_shot(tmp_path, frames=1, size=1000)
    spec.engine = "void"
    with spawned.client() as c:
        before = len(c.jobs())
        for call in (
            lambda: c.submit(spec, files_mode="path"),
            lambda: _raw_submit(c, spec.to_dict(), "stream"),
        ):
            with pytest.raises(SpecError) as err:
                call()
            msg = str(err.value)
            assert "asks for the 'void' engine but this server runs preview" in msg
            assert "void-vfx serve --engine void --weights" in msg
        assert len(c.jobs()) == before


# -- path mode roots --------------------------------------------------------------------------
def test_path_mode_stays_inside_the_roots(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    srv = start_server(tmp_path, allow_read=[str(allowed)], allow_write=[str(allowed)])
    try:
        spec = make_shot(tmp_path, frames=1, size=1000)  # plate in tmp/src: outside
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            with pytest.raises(
                ServerError,
                match=r"outside the folders this server may read.*"
                r"--allow-read",
            ):
                _raw_submit(c, spec.to_dict(), "path")
            # Inside by name, outside once the symlink is resolved.
            (allowed / "src").symlink_to(tmp_path / "src", target_is_directory=True)
            data = spec.to_dict()
            data["plate"] = str(allowed / "src" / "shot.####.exr")
            data["primary"]["path"] = str(allowed / "src" / "matte.####.exr")
            data["output"]["dir"] = str(allowed / "out")
            with pytest.raises(ServerError, match="outside the folders this server may read"):
                _raw_submit(c, data, "path")
            # Sources inside, the output folder outside the write roots.
            shutil.copytree(tmp_path / "src", allowed / "real")
            data["plate"] = str(allowed / "real" / "shot.####.exr")
            data["primary"]["path"] = str(allowed / "real" / "matte.####.exr")
            data["output"]["dir"] = str(tmp_path / "elsewhere")
            with pytest.raises(ServerError, match=r"may write.*--allow-write"):
                _raw_submit(c, data, "path")
            assert not (tmp_path / "elsewhere").exists()
            # Hidden folders are refused even inside a root.
            data["output"]["dir"] = str(allowed / ".ssh")
            with pytest.raises(ServerError, match="hidden"):
                _raw_submit(c, data, "path")
            # Auto mode: the server cannot prove it reads the plate, so the files are streamed.
            job = c.submit(spec, start=False)
            assert c.status(job)["mode"] == "stream"
    finally:
        srv.close()


# -- the client never writes beside the sources -----------------------------------------------
def test_auto_mode_writes_nothing_beside_the_plates(server, tmp_path, monkeypatch):
    spec = make_shot(tmp_path, frames=2, size=1000)
    src = Path(spec.plate).parent
    stamp = (src.stat().st_mtime_ns, sorted(os.listdir(src)))
    with connect("127.0.0.1", server.port, token=server.token) as c:
        # Output folder = the plate folder: refused before anything is probed or sent.
        spec.output.dir = str(src)
        with pytest.raises(SpecError, match="nothing is written among the plates"):
            c.submit(spec, start=False)
        assert (src.stat().st_mtime_ns, sorted(os.listdir(src))) == stamp
        # Default output folder (the current one): path mode, proven without writing at src.
        work = tmp_path / "work"
        work.mkdir()
        monkeypatch.chdir(work)
        spec.output.dir = ""
        job = c.submit(spec, start=False)
        assert c.status(job)["mode"] == "path"
        assert (src.stat().st_mtime_ns, sorted(os.listdir(src))) == stamp


def _unwritable_folders(tmp_path: Path) -> list[tuple[Path, str]]:
    (tmp_path / "a file").write_bytes(b"")
    out = [(tmp_path / "a file" / "out", "is a file, not a folder")]
    if os.geteuid() != 0:  # root ignores permission bits
        (tmp_path / "ro").mkdir(mode=0o555)
        out.append((tmp_path / "ro" / "out", "is not writable by this user"))
    return out


def test_unwritable_output_folder_refused_before_any_work(server, tmp_path):
    spec = make_shot(tmp_path, frames=1, size=1000)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        for out, why in _unwritable_folders(tmp_path):
            spec.output.dir = str(out)
            for mode in ("auto", "stream", "path"):
                with pytest.raises(TransferError, match=rf"output folder {out}.*{why}.*-o DIR"):
                    c.submit(spec, files_mode=mode)
        assert c.jobs() == []


def test_failed_download_leaves_no_version_folder(server, tmp_path, monkeypatch):
    spec = make_shot(tmp_path, frames=3, size=1000)
    real = Client._download_one
    seen: list[str] = []

    def fail_on_second(self, job_id, result, local):
        seen.append(result["name"])
        if len(seen) == 2:
            raise TransferError("network trouble")
        return real(self, job_id, result, local)

    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="stream")
        assert c.follow(job, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"
        monkeypatch.setattr(Client, "_download_one", fail_on_second)
        with pytest.raises(TransferError, match="network trouble"):
            c.download_results(job, tmp_path / "dl")
    assert not (tmp_path / "dl" / "shot_void_v001").exists()


# -- cancel while assembling ------------------------------------------------------------------
def _slow_assembly(spec, engine_fn, job_dir, out_dir, progress, **_worker_kw):
    """One window, then 'assembling frames' writing a frame every 0.1 s without looking at
    cancel (as the real assembly does)."""
    progress(1, 1, "window 0: committed")
    progress(1, 1, "assembling frames")
    for f in range(1001, 1011):
        time.sleep(0.1)
        (Path(out_dir) / f"shot_void.{f}.exr").write_bytes(b"frame")
    return {}


def test_cancel_during_assembly_is_honoured(tmp_path):
    srv = start_server(tmp_path, process_fn=_slow_assembly)
    try:
        spec = make_shot(tmp_path, frames=1, size=1000)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path")
            deadline = time.time() + 20
            while "assembling" not in c.status(job)["message"] and time.time() < deadline:
                time.sleep(0.02)
            time.sleep(0.15)
            c.cancel(job)
            status = c.follow(job, callback=lambda s, e: None, poll_s=0.05)
            folder = Path(status["out_dir"])
    finally:
        srv.close()
    assert status["state"] == "cancelled", status
    assert not folder.exists(), sorted(os.listdir(folder))


# -- non-ASCII names through stream mode, real render -----------------------------------------
def test_non_ascii_plate_name_streams_end_to_end(tmp_path):
    import numpy as np
    import OpenImageIO as oiio

    from void_vfx.client.local import run_local_job
    from void_vfx.demo.run import build_spec, make_demo_shot

    shot = make_demo_shot(tmp_path / "shot", frames=5, size=(96, 64), camera_pan=False)
    named = tmp_path / "sh 010"
    named.mkdir()
    for f, p in zip(shot.frames, shot.paths("plate"), strict=True):
        shutil.copy(p, named / f"my plàte.{f:04d}.exr")
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.plate = str(named / "my plàte.####.exr")
    streamed = sorted(run_local_job(spec, files_mode="stream"))
    assert [Path(p).name for p in streamed] == [f"my plàte_void_v001.{f}.exr" for f in shot.frames]
    assert Path(streamed[0]).parent == tmp_path / "out" / "my plàte_void_v001"
    direct = sorted(run_local_job(spec, files_mode="path"))
    for a, b in zip(streamed, direct, strict=True):
        pa = oiio.ImageBuf(a).get_pixels(oiio.FLOAT)
        np.testing.assert_array_equal(pa, oiio.ImageBuf(b).get_pixels(oiio.FLOAT))
        assert pa.shape == (64, 96, 4) or pa.shape[:2] == (64, 96)


# -- transport and start-up -------------------------------------------------------------------
def test_world_readable_token_file_refused(tmp_path, capsys):
    from void_vfx_server.main import main

    token = tmp_path / "token"
    token.write_text("ab" * 32 + "\n")
    token.chmod(0o644)
    rc = main(["--port", "0", "--data-dir", str(tmp_path / "d"), "--token-file", str(token)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{token}: the token file can be read by other users (mode 0644)" in err
    assert f"chmod 600 {token}" in err
    assert token.read_text() == "ab" * 32 + "\n"  # kept as it was: the owner decides


def test_tls_off_loopback_needs_client_certificates(tmp_path):
    from void_vfx_server.main import InferenceServer

    with pytest.raises(ServerError, match="--tls-ca"):
        InferenceServer(
            "0.0.0.0",
            0,
            tmp_path / "d",
            engine=object(),
            token_file=tmp_path / "t",
            tls_cert=str(tmp_path / "c.pem"),
            tls_key=str(tmp_path / "k.pem"),
        )
    with pytest.raises(AuthError, match="--tls-cert"):
        InferenceServer(
            "127.0.0.1",
            0,
            tmp_path / "d",
            engine=object(),
            token_file=tmp_path / "t",
            tls_key=str(tmp_path / "k.pem"),
        )


def test_range_outside_the_plate_says_what_is_on_disk(server, tmp_path):
    from void_vfx.errors import SequenceError

    spec = make_shot(tmp_path, frames=50, size=100)  # frames 1001-1050
    with connect("127.0.0.1", server.port, token=server.token) as c:
        spec.frame_range = (2001, 2050)
        with pytest.raises(
            SequenceError,
            match=r"none of frames 2001-2050 is on disk; the plate "
            r"holds 1001-1050 \(50 frames\).*--range",
        ):
            c.submit(spec, files_mode="stream")
        spec.frame_range = (1040, 1060)
        with pytest.raises(SequenceError, match=r"missing frames 1051-1060 .*holds 1001-1050"):
            c.submit(spec)
        assert c.jobs() == []


def test_a_path_mode_job_cancelled_before_it_ran_leaves_no_version_folder(server, tmp_path):
    spec = make_shot(tmp_path, frames=2)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="path", start=False)
        folder = Path(c.status(job)["out_dir"])
        assert folder.is_dir() and folder.name.endswith("_v001")  # reserved at submit
        assert c.cancel(job) == "cancelled"
        assert not folder.exists()
        assert list(folder.parent.iterdir()) == []
