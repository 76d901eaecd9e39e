"""The server lets in only token holders and exposes nothing but its plain-value methods."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import rpyc
from _server_fakes import make_shot, private_config, start_server  # noqa: F401
from rpyc.core import consts

from void_vfx.client import connect, find_token
from void_vfx.errors import AuthError, ServerError, TransferError
from void_vfx.protocol.wire import AUTH_MAGIC, AUTH_NONCE_LEN, HANDSHAKE_NO
from void_vfx_server.transfer import safe_name

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path)
    yield srv
    srv.close()


def test_token_file_is_created_private(server):
    mode = stat.S_IMODE(server.token_path.stat().st_mode)
    assert mode == 0o600
    assert find_token(server.token_path) == server.token


def test_wrong_token_refused(server):
    wrong = ("0" if server.token[0] != "0" else "1") + server.token[1:]
    with pytest.raises(AuthError, match="could not prove it holds your token"):
        connect("127.0.0.1", server.port, token=wrong)


def test_missing_token_refused(server, tmp_path, monkeypatch):
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(AuthError, match="cannot read the server token"):
        connect("127.0.0.1", server.port)
    # A peer that sends a short line and stops is answered NO and dropped, before any RPyC.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"hello\n")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(16) == HANDSHAKE_NO
        assert s.recv(16) == b""


def test_plain_rpyc_client_gets_nothing(server):
    """An rpyc request without the handshake is eaten as a bad hello; no RPyC reply comes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x00" * (len(AUTH_MAGIC) + AUTH_NONCE_LEN))
        assert s.recv(16) == HANDSHAKE_NO


def test_internals_unreachable(server):
    with connect("127.0.0.1", server.port, token=server.token) as c:
        conn = c._conn
        root = conn.root
        # No attribute fetch at all: not private state, not classic-mode entry points, and not
        # even an exposed method (a bound method would be a server object sent as a netref).
        for name in (
            "_store",
            "_info",
            "__dict__",
            "_min_free",
            "_rpyc_getattr",
            "_protocol",
            "get_service_name",
            "on_connect",
            "getmodule",
            "eval",
            "execute",
            "modules",
            "namespace",
            "info",
            "exposed_info",
            "__class__",
        ):
            with pytest.raises(AttributeError, match="refused"):
                conn.sync_request(consts.HANDLE_GETATTR, root, name)
        with pytest.raises(AttributeError):
            root.info  # noqa: B018 - the proxy's attribute access goes to the server
        # Other request kinds of stock RPyC: dir, setattr, delattr, call, hash, pickle.
        for handler, args in (
            (consts.HANDLE_DIR, ()),
            (consts.HANDLE_SETATTR, ("x", 1)),
            (consts.HANDLE_DELATTR, ("_store",)),
            (consts.HANDLE_CALL, ((), ())),
            (consts.HANDLE_HASH, ()),
            (consts.HANDLE_PICKLE, (2,)),
        ):
            with pytest.raises(AttributeError, match="refused"):
                conn.sync_request(handler, root, *args)
        # CALLATTR reaches exposed methods only.
        for name in ("_rpyc_getattr", "__init__", "exposed__store", "get_service_name"):
            with pytest.raises(AttributeError):
                conn.sync_request(consts.HANDLE_CALLATTR, root, name, (), ())
        # The proxy class RPyC builds from the server's answer lists exposed names only.
        names = [m[0] for m in conn.sync_request(consts.HANDLE_INSPECT, root.____id_pack__)]
        assert names and all(n.startswith("exposed_") for n in names), names
        # A client object passed as an argument would arrive as a netref: refused.
        with pytest.raises(TypeError, match="plain values"):
            conn.sync_request(consts.HANDLE_CALLATTR, root, "exposed_status", ({"id": "x"},), ())
        # Results are copied values, never references to server objects.
        raw = conn.sync_request(consts.HANDLE_CALLATTR, root, "exposed_info", (), ())
        assert type(raw) is tuple
        assert not isinstance(raw, rpyc.BaseNetref)
        assert c.info()["api_version"] >= 1
        # Exposed methods are called directly; none hands out a netref.
        for name in ("list_jobs", "info"):
            assert not isinstance(c.call(name), rpyc.BaseNetref)


def test_default_token_created_private_on_first_start(tmp_path):
    """No --token-file: the token goes into the user's config folder, file 0600, folder 0700."""
    from void_vfx_server.auth import ensure_token

    token, path = ensure_token()
    assert path == tmp_path / "config" / "void-vfx" / "token"  # XDG_CONFIG_HOME of the fixture
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert find_token() == token
    assert ensure_token() == (token, path)  # a restart keeps the token
    path.chmod(0o644)  # a copy others can read is refused (the token may be known), and kept
    with pytest.raises(AuthError, match=r"other users \(mode 0644\).*chmod 600"):
        ensure_token()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with pytest.raises(AuthError, match=r"other users \(mode 0644\).*chmod 600"):
        find_token()  # the client refuses it too


def test_frame_reader_gives_views_of_big_bytes():
    """Upload chunks are decoded as views of the received frame, everything else as brine does."""
    from rpyc.core import brine

    from void_vfx.protocol.wire import _load_from

    big = bytes(range(256)) * 400
    for obj in [(1, ("job", "n", 5, big)), ("x" * 70000, big, b"small"), (big,) * 3, (-7, 2.5)]:
        frame = b"\x01" + brine.dump(obj)
        got = _load_from(frame, 1)
        assert [bytes(v) if type(v) is memoryview else v for v in _flat(got)] == list(_flat(obj))
        views = [v for v in _flat(got) if type(v) is memoryview]
        assert len(views) == sum(1 for v in _flat(obj) if type(v) is bytes and len(v) >= 65536)


def _flat(obj):
    for v in obj:
        if type(v) is tuple:
            yield from _flat(v)
        else:
            yield v


@pytest.mark.parametrize(
    "name",
    [
        "../x.exr",
        "a/../../x.exr",
        "/etc/passwd",
        "C:/x.exr",
        "c:x.exr",
        "a\\b.exr",
        "a\x00b",
        "",
        ".hidden",
        "a//b",
        "./a",
        "plate/.ssh",
        "x.part",
    ],
)
def test_unsafe_names_refused(name):
    with pytest.raises(TransferError):
        safe_name(name)


def test_unsafe_names_refused_by_server(server, tmp_path):
    spec = make_shot(tmp_path, frames=1)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        job = c.submit(spec, files_mode="stream", start=False)
        for name in ("../escape.exr", "/tmp/abs.exr", "plate\\..\\x", "C:/x.exr"):
            with pytest.raises(TransferError, match="file name"):
                c.call("upload", job, name, 0, b"data")
            with pytest.raises(TransferError, match="results come when it is done"):
                c.call("download", job, name, 0, 10)  # no download before the job is done
        assert not (tmp_path / "escape.exr").exists()
        # A stream-mode spec whose file names climb out of the job folder is refused at submit.
        data = spec.to_dict()
        data["plate"] = "../../../etc/shot.####.exr"
        import json

        with pytest.raises(TransferError, match="file name"):
            c.call("submit", json.dumps(data), "stream")


def test_disk_space_checked_before_any_byte(tmp_path, monkeypatch):
    """A job whose files would not fit is refused before its first chunk, not half-way."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 0, 20 * 10**6))
    srv = start_server(tmp_path)
    try:
        spec = make_shot(tmp_path, frames=3, size=8 * 10**6)  # 24 MB: each file fits, not all
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            with pytest.raises(TransferError, match="not enough free disk space"):
                c.submit(spec, files_mode="stream")
            (job,) = [j["id"] for j in c.jobs()]
        inputs = srv.store.inputs_dir(job)
        assert [p for p in inputs.rglob("*") if p.is_file()] == []
    finally:
        srv.close()


def test_disk_space_refusal(tmp_path):
    srv = start_server(tmp_path, min_free_bytes=1 << 62)
    try:
        spec = make_shot(tmp_path, frames=1)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            with pytest.raises(TransferError, match="not enough free disk space"):
                c.submit(spec, files_mode="stream")
    finally:
        srv.close()


def test_non_loopback_without_tls_refused(tmp_path):
    from void_vfx_server.main import InferenceServer

    with pytest.raises(ServerError, match="without TLS"):
        InferenceServer("0.0.0.0", 0, tmp_path / "d", engine=object(), token_file=tmp_path / "t")
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "void_vfx_server.main",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
            "--token-file",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "--insecure-network" in proc.stderr
