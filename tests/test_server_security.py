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
from void_vfx.wire import HANDSHAKE_NO, TOKEN_LINE_LEN
from void_vfx_server.transfer import safe_name

REPO = Path(__file__).resolve().parents[1]


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
    with pytest.raises(AuthError, match="refused the token"):
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
    """An rpyc request without the token line is eaten as a bad token; no RPyC reply comes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"\x00" * TOKEN_LINE_LEN)
        assert s.recv(16) == HANDSHAKE_NO


def test_internals_unreachable(server):
    with connect("127.0.0.1", server.port, token=server.token) as c:
        root = c._conn.root
        for name in ("_store", "_info", "__dict__", "_min_free", "_rpyc_getattr", "_protocol",
                     "get_service_name", "exposed_get_service_aliases", "on_connect"):  # fmt: skip
            with pytest.raises(AttributeError):
                getattr(root, name)
        # Classic-mode entry points do not exist on this service.
        for name in ("getmodule", "eval", "execute", "modules", "namespace"):
            with pytest.raises(AttributeError):
                getattr(root, name)
        # The bound method handed back for a call exposes no function internals either.
        info = root.info
        for name in ("__self__", "__func__", "__globals__", "__code__", "__closure__"):
            with pytest.raises(AttributeError):
                getattr(info, name)
        # Pickling (the gateway of teleport and obtain) is off.
        with pytest.raises(ValueError, match="pickling is disabled"):
            c._conn.sync_request(consts.HANDLE_PICKLE, root, 2)
        # A client object passed as an argument would arrive as a netref: refused.
        with pytest.raises(TypeError, match="plain values"):
            root.status({"id": "x"})
        # Results are copied values, never references to server objects.
        raw = root.info()
        assert type(raw) is tuple
        assert not isinstance(raw, rpyc.BaseNetref)
        assert c.info()["api_version"] >= 1


@pytest.mark.parametrize(
    "name",
    ["../x.exr", "a/../../x.exr", "/etc/passwd", "C:/x.exr", "c:x.exr", "a\\b.exr", "a\x00b",
     "", ".hidden", "a//b", "./a", "plate/.ssh", "x.part"],
)  # fmt: skip
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
            with pytest.raises(TransferError, match="file name"):
                c.call("download", job, name, 0, 10)
        assert not (tmp_path / "escape.exr").exists()
        # A stream-mode spec whose file names climb out of the job folder is refused at submit.
        data = spec.to_dict()
        data["plate"] = "../../../etc/shot.####.exr"
        import json

        with pytest.raises(TransferError, match="file name"):
            c.call("submit", json.dumps(data), "stream")


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
        [sys.executable, "-m", "void_vfx_server.main", "--host", "0.0.0.0", "--port", "0",
         "--data-dir", str(tmp_path / "d"), "--token-file", str(tmp_path / "t")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--insecure-network" in proc.stderr
