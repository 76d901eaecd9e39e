"""Denial of service, against a real server on 127.0.0.1: connection floods (with and without
a lowered descriptor limit), slow handshakes, and bombs sent by a token holder. Every loop is
bounded in count and time; limits are lowered through the server's own options."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import psutil
import pytest
from _server_fakes import make_shot, private_config, start_server  # noqa: F401
from rpyc.core import brine, consts

from void_vfx.client import connect
from void_vfx.errors import ServerError, TransferError, VoidVfxError
from void_vfx.protocol.wire import AUTH_MAGIC, AUTH_NONCE_LEN
from void_vfx_server.limits import Limits

TESTS = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(64) in (b"", b"NO\n")
    except TimeoutError:
        return False
    except OSError:
        return True


# -- connections --------------------------------------------------------------------------------
def test_connections_per_peer_are_bounded_and_a_trickled_handshake_has_one_deadline(tmp_path):
    srv = start_server(tmp_path, limits=Limits(max_per_peer=3, handshake_timeout_s=1.0))
    idle = []
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(3)]
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as extra:
            assert _closed_within(extra, 0.8)  # over the bound: closed at once
        # The idle ones hold the bound only until their handshake deadline.
        t0 = time.monotonic()
        assert all(_closed_within(s, 3.0) for s in idle)
        assert time.monotonic() - t0 < 2.0
        # A peer sending a byte every 0.3 s is cut at the deadline, not kept alive per byte.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as slow:
            t0 = time.monotonic()
            closed = False
            for byte in (AUTH_MAGIC + bytes(AUTH_NONCE_LEN))[:12]:
                try:
                    slow.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if _closed_within(slow, 0.3):
                    closed = True
                    break
            assert closed and time.monotonic() - t0 < 2.5
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            assert c.info()["api_version"] >= 1
    finally:
        for s in idle:
            s.close()
        srv.close()


_LOW_FD_SERVER = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[1])))
from void_vfx_server.main import main
sys.exit(main(sys.argv[2:]))
"""


def test_a_flood_at_the_descriptor_limit_is_survived_and_logged(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _LOW_FD_SERVER,
            "64",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--token-file",
            str(tmp_path / "token"),
            "--engine",
            "preview",
            "--max-connections",
            "1000",
            "--max-connections-per-peer",
            "1000",
            "--handshake-timeout",
            "30",
        ],
        env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    flood = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                token = (tmp_path / "token").read_text().strip()
                connect("127.0.0.1", port, token=token).close()
                break
            except (OSError, ServerError):
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.1)
        for _ in range(100):  # more idle peers than the server has descriptors
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(1.0)
        assert proc.poll() is None, "the server exited under the flood"
        assert psutil.Process(proc.pid).num_fds() <= 64
        for s in flood:
            s.close()
        flood = []
        deadline = time.time() + 10
        while True:  # descriptors come back: the listener serves again
            try:
                with connect("127.0.0.1", port, token=token) as c:
                    assert c.info()["api_version"] >= 1
                break
            except (ServerError, OSError):
                assert time.time() < deadline
                time.sleep(0.2)
    finally:
        for s in flood:
            s.close()
        proc.terminate()
        err = proc.communicate(timeout=30)[1].decode()
    assert "out of file descriptors" in err and "Traceback" not in err


# -- bombs from a token holder ----------------------------------------------------------------
def _raw_frame(c, payload: bytes, compressed: int = 0) -> None:
    ch = c._conn._channel
    sock = ch.stream.sock
    sock.sendall(ch.FRAME_HEADER.pack(len(payload), compressed) + payload + ch.FLUSHER)


def _request(handler: int, args) -> bytes:
    return bytes([consts.MSG_REQUEST]) + brine.dump((7, (handler, args)))


def _connection_dropped(c) -> bool:
    """True when the server hangs up within 5 s (it may say CLOSE first; no reply counts)."""
    sock = c._conn._channel.stream.sock
    sock.settimeout(5)
    got = b""
    try:
        for _ in range(100):
            piece = sock.recv(4096)
            if not piece:
                break
            got += piece
        else:
            return False
    except TimeoutError:
        return False
    except OSError:
        pass
    # Nothing but RPyC's close request (a request, kind 1), never a reply (2) or exception (3).
    return not got or got[5] == consts.MSG_REQUEST and len(got) < 64


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path)
    yield srv
    srv.close()


def test_a_compressed_frame_is_bounded_before_it_inflates(server):
    proc = psutil.Process()
    c = connect("127.0.0.1", server.port, token=server.token)
    bomb = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KB
    assert len(bomb) < 1 << 20
    rss0 = proc.memory_info().rss
    _raw_frame(c, bomb, compressed=1)
    assert _connection_dropped(c)
    assert proc.memory_info().rss - rss0 < 32 << 20
    with connect("127.0.0.1", server.port, token=server.token) as c2:
        assert c2.info()["api_version"] >= 1


def test_a_frozenset_of_colliding_ints_is_refused_before_decoding(server):
    colliding = frozenset(i * (2**61 - 1) for i in range(1, 3000))  # every hash is 0
    payload = _request(consts.HANDLE_CALLATTR, (("x", 1, 1), "exposed_info", (colliding,), ()))
    c = connect("127.0.0.1", server.port, token=server.token)
    t0 = time.monotonic()
    _raw_frame(c, payload)
    assert _connection_dropped(c)
    with connect("127.0.0.1", server.port, token=server.token) as other:
        assert other.info()["api_version"] >= 1
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("kind", [consts.MSG_EXCEPTION, consts.MSG_REPLY])
def test_replies_and_exceptions_from_a_client_are_not_decoded(server, kind):
    from rpyc.core import vinegar

    before = len(vinegar._generic_exceptions_cache)
    c = connect("127.0.0.1", server.port, token=server.token)
    exc = (("evil.module", "Bomb0"), ("x" * 1000,), (), "")
    _raw_frame(c, bytes([kind]) + brine.dump((1, exc)))
    assert _connection_dropped(c)
    assert len(vinegar._generic_exceptions_cache) == before


def test_only_plain_values_are_decoded(server):
    for value in (slice(1, 2), 1j, Ellipsis, 10**50):
        c = connect("127.0.0.1", server.port, token=server.token)
        _raw_frame(c, _request(consts.HANDLE_CALLATTR, (("x", 1, 1), "exposed_info", (value,), ())))
        assert _connection_dropped(c), value


def test_huge_frame_padding_is_refused_before_any_name_is_made(server, tmp_path):
    spec = make_shot(tmp_path, frames=1)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        data = json.loads(spec.to_json())
        data["plate"] = str(Path(spec.plate).parent / "shot.%0250000000d.exr")
        t0 = time.monotonic()
        with pytest.raises(VoidVfxError, match="padding of 250000000 digits"):
            c.call("submit", json.dumps(data), "path")
        assert time.monotonic() - t0 < 1.0


# -- quotas and expiry --------------------------------------------------------------------------
def test_open_jobs_and_the_data_folder_have_quotas(tmp_path):
    limits = Limits(max_open_jobs=3, max_data_bytes=12 << 20)
    srv = start_server(tmp_path, limits=limits)
    try:
        spec = make_shot(tmp_path, frames=1)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            jobs = [c.submit(spec, files_mode="stream", start=False) for _ in range(2)]
            with pytest.raises(TransferError, match="--max-data-gb"):
                for i in range(16):  # 16 x 1 MiB into a 12 MiB data folder
                    c.call("upload", jobs[0], f"big{i}.bin", 0, bytes(1 << 20))
            c.delete(jobs[0])
            jobs = jobs[1:] + [c.submit(spec, files_mode="stream", start=False) for _ in range(2)]
            with pytest.raises(ServerError, match="--max-open-jobs"):
                c.submit(spec, files_mode="stream", start=False)
            assert all(j["host"] == "127.0.0.1" for j in c.jobs())  # who submitted each
    finally:
        srv.close()


def test_abandoned_jobs_and_idle_uploads_expire(tmp_path):
    from void_vfx_server import part_writer

    srv = start_server(tmp_path, limits=Limits(abandoned_hours=1.5 / 3600, upload_idle_s=0.5))
    try:
        spec = make_shot(tmp_path, frames=1)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="stream", start=False)
            c.call("upload", job, "one.bin", 0, b"x")
            assert part_writer.open_writers() == 1
            deadline = time.time() + 8
            while part_writer.open_writers() and time.time() < deadline:
                time.sleep(0.1)
            assert part_writer.open_writers() == 0  # the idle writer let its thread go
            assert c.call("upload_status", job, "one.bin") == 1  # the byte stays: resumable
            while time.time() < deadline:
                try:
                    c.status(job)
                except ServerError:
                    break
                time.sleep(0.2)
            with pytest.raises(ServerError, match="no such job"):
                c.status(job)
            assert not (srv.store.jobs_dir / job).exists()
    finally:
        srv.close()


def test_uploads_written_at_once_are_bounded(server, tmp_path, monkeypatch):
    from void_vfx_server import part_writer

    monkeypatch.setattr(part_writer, "MAX_WRITERS", 4)
    spec = make_shot(tmp_path, frames=1)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="stream", start=False)
        for i in range(4):
            c.call("upload", job, f"f{i}.bin", 0, b"x")
        with pytest.raises(TransferError, match="uploads are being written already"):
            c.call("upload", job, "f9.bin", 0, b"x")
        c.delete(job)
    assert part_writer.open_writers() == 0
