"""The client and CLI against real servers: both file modes, TLS, re-attach, commands."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _server_fakes import make_shot, private_config, start_server  # noqa: F401

from void_vfx.cli.main import main as cli_main
from void_vfx.client import connect, find_token
from void_vfx.client.local import run_local_job
from void_vfx.errors import AuthError, ServerError
from void_vfx_server.main import InferenceServer


def _pixels(path: str) -> np.ndarray:
    import OpenImageIO as oiio

    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)


def test_local_job_real_render_stream_and_path_agree(tmp_path):
    """The real render on a generated shot: uploads change nothing in the result."""
    from void_vfx.demo.run import build_spec, make_demo_shot

    shot = make_demo_shot(tmp_path / "shot", frames=5, size=(160, 96), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    streamed = sorted(run_local_job(spec, files_mode="stream"))
    direct = sorted(run_local_job(spec, files_mode="path"))
    assert [Path(p).name for p in streamed] == [
        f"demo_plate_void_v001.{f}.exr" for f in shot.frames
    ]
    assert [Path(p).name for p in direct] == [f"demo_plate_void_v002.{f}.exr" for f in shot.frames]
    for a, b, plate in zip(streamed, direct, shot.paths("plate"), strict=True):
        pa, pb = _pixels(a), _pixels(b)
        assert pa.shape == _pixels(plate).shape
        np.testing.assert_array_equal(pa, pb)
    # The object was removed: the result differs from the plate inside the matte.
    assert not np.array_equal(_pixels(streamed[2]), _pixels(shot.paths("plate")[2]))


def _make_certs(folder: Path) -> dict[str, str]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        (folder / f"{name}.ext").write_text(ext + "\n")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.pem",
            "-extfile",
            f"{name}.ext",
        )
    return {
        n: str(folder / n)
        for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    }


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command makes the test certificates"
)
def test_tls_requires_client_certificate(tmp_path):
    certs = _make_certs(tmp_path)
    srv = start_server(
        tmp_path, tls_cert=certs["server.pem"], tls_key=certs["server.key"], tls_ca=certs["ca.pem"]
    )
    try:
        good = {"ca": certs["ca.pem"], "cert": certs["client.pem"], "key": certs["client.key"]}
        with connect("127.0.0.1", srv.port, token=srv.token, tls=good) as c:
            assert c.info()["tls"] is True
        with pytest.raises(AuthError):  # no client certificate
            connect("127.0.0.1", srv.port, token=srv.token, tls={"ca": certs["ca.pem"]})
        with pytest.raises(AuthError):  # no TLS at all
            connect("127.0.0.1", srv.port, token=srv.token)
    finally:
        srv.close()
    # With TLS, listening on every interface is allowed without --insecure-network.
    net = InferenceServer(
        "0.0.0.0",
        0,
        tmp_path / "d2",
        engine=srv.engine,
        token_file=tmp_path / "token",
        tls_cert=certs["server.pem"],
        tls_key=certs["server.key"],
        tls_ca=certs["ca.pem"],
    )
    net.listener.close()
    net.store.close()


def test_reattach_after_server_restart(tmp_path):
    srv = start_server(tmp_path)
    port = srv.port
    spec = make_shot(tmp_path, frames=10)
    c = connect("127.0.0.1", port, token=srv.token)
    job = c.submit(spec, files_mode="stream")
    log = srv.data_dir / "jobs" / job / "work" / "computed.log"
    deadline = time.time() + 30
    while "commit 1" not in (log.read_text() if log.exists() else "") and time.time() < deadline:
        time.sleep(0.05)
    srv.close()  # the host machine's server goes away mid-job
    with pytest.raises(ServerError, match="connection"):
        c.status(job)
    holder = {}
    threading.Timer(
        1.0, lambda: holder.setdefault("srv", start_server(tmp_path, port=port))
    ).start()
    try:
        assert c.reattach(job)["state"] in ("queued", "running", "done")
        status = c.follow(job, callback=lambda s, e: None, poll_s=0.05)
        assert status["state"] == "done"
        assert len(c.download_results(job)) == 10
    finally:
        c.close()
        time.sleep(0.1)
        holder["srv"].close()
    commits = [ln for ln in log.read_text().splitlines() if ln.startswith("commit")]
    assert sorted(commits) == sorted(set(commits)) and len(commits) == 10


def _tiny_real(tmp_path, frames: int = 3):
    """A real preview render's inputs: a tiny generated shot, its spec, and a server that runs
    the real processing with the preview engine (no fake over random bytes)."""
    from void_vfx.demo.run import build_spec, make_demo_shot

    shot = make_demo_shot(tmp_path / "shot", frames=frames, size=(96, 64), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    return shot, spec, start_server(tmp_path, engine="preview", process_fn=None)


def test_follow_reattaches_after_dropped_connection(tmp_path):
    """The network drops while following a job on a server that stays up: follow carries on."""
    import socket

    shot, spec, srv = _tiny_real(tmp_path, frames=4)
    try:
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path")
            dropped = []

            def drop_once(status, events):
                if not dropped:
                    dropped.append(status["state"])
                    c._conn._channel.stream.sock.shutdown(socket.SHUT_RDWR)

            assert c.follow(job, callback=drop_once, poll_s=0.05)["state"] == "done"
            assert dropped
            paths = sorted(c.download_results(job))
            assert [Path(p).name for p in paths] == [
                f"demo_plate_void_v001.{f}.exr" for f in shot.frames
            ]
            assert _pixels(paths[0]).shape == (64, 96, 3)
    finally:
        srv.close()


def test_connection_errors_say_what_to_do(tmp_path):
    with pytest.raises(AuthError, match="void-vfx serve"):
        find_token(tmp_path / "nope")
    with pytest.raises(ServerError, match="cannot reach"):
        connect("127.0.0.1", 1, token="0" * 64)


def test_cli_remove_jobs_cancel_doctor(tmp_path, capsys):
    shot, spec, srv = _tiny_real(tmp_path)
    try:
        conn = ["--server", f"127.0.0.1:{srv.port}", "--token-file", str(srv.token_path)]
        rc = cli_main(
            [
                "remove",
                spec.plate,
                "--primary",
                shot.primary,
                "--primary-channel",
                "A",
                "--dilate",
                "2",
                "--engine",
                "preview",
                "-o",
                str(tmp_path / "cli_out"),
                "--files",
                "stream",
                *conn,
            ]
        )
        assert rc == 0
        out = sorted((tmp_path / "cli_out" / "demo_plate_void_v001").iterdir())
        assert [p.name for p in out] == [
            f"demo_plate_void_v001.{f}.exr" for f in (1001, 1002, 1003)
        ]
        # the demo plate's header names its colour space: said as information, not a warning
        err = capsys.readouterr().err
        assert (
            "plate colour space Linear Rec.709 (sRGB) (rule: attribute; its colorInteropID "
            "attribute is 'lin_rec709_scene')" in err
        )
        assert "warning" not in err
        # following a remote job: its events once each, progress as plain lines in a log
        assert err.count("  summary: windows computed [0], reused [], skipped []") == 1
        assert "\r" not in err
        assert ": done: 3/3 frames written, " in err and "1/1 windows run" in err
        assert cli_main(["jobs", *conn]) == 0
        listing = capsys.readouterr().out.splitlines()
        assert listing[0].split() == [
            "ID",
            "STATE",
            "PRI",
            "MODE",
            "DONE",
            "ELAPSED",
            "CREATED",
            "FROM",
            "MESSAGE",
        ]
        row = listing[1].split()
        assert row[1:5] == ["done", "0", "stream", "100%"]
        # the whole message and the render's counts, never cut
        assert listing[1].endswith(
            "3/3 frames written, " + listing[1].split(", ")[-3] + ", 1/1 "
            "windows run, 3/3 frames read"
        )
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            queued = c.submit(spec, files_mode="path", start=False)
        assert cli_main(["cancel", queued, *conn]) == 0
        assert f"job {queued}: cancelled" in capsys.readouterr().out
        # Cancelling a finished job, or one the server does not have, says so and what to do.
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            done = next(j["id"] for j in c.jobs() if j["state"] == "done")
        assert cli_main(["cancel", done, *conn]) == 0
        assert "already finished (done); nothing to cancel" in capsys.readouterr().out
        assert cli_main(["cancel", "0123456789abcdef", *conn]) == 1
        assert "'void-vfx jobs' lists the jobs" in capsys.readouterr().err
        assert cli_main(["cancel", "nope", *conn]) == 1
        assert "'void-vfx jobs' lists the ids" in capsys.readouterr().err
        rc = cli_main(["doctor", *conn])
        report = capsys.readouterr().out
        assert "ok   server" in report and "OCIO" in report and "GPU" in report
        # a FIX line (no GPU or no weights here) is something to fix: the exit status says so
        assert rc == (1 if "\nFIX" in "\n" + report else 0)
    finally:
        srv.close()
    assert cli_main(["doctor", "--server", "127.0.0.1:1", "--token-file", str(srv.token_path)]) == 1
    assert "FIX  server" in capsys.readouterr().out


def test_wire_encoding_matches_rpyc_and_round_trips():
    from rpyc.core import brine

    from void_vfx.protocol.wire import _dump_pieces, from_wire, to_wire

    big = bytes(range(256)) * 300
    for obj in [(1, (2, "x", big, None)), (5, (big,)), (*range(300), big), (b"",), ()]:
        pieces: list[bytes] = []
        _dump_pieces(obj, pieces)
        assert b"".join(pieces) == brine.dump(obj)
        assert any(p is big for p in pieces) == (
            big in obj or any(big in t for t in obj if type(t) is tuple)
        )
    value = {"a": [1, {"b": (2.5, None, b"x")}], "c": "d"}
    wired = to_wire(value)
    assert brine.dumpable(wired)  # copied by value, never a netref
    assert from_wire(wired) == {"a": (1, {"b": (2.5, None, b"x")}), "c": "d"}


def test_failed_path_mode_job_leaves_no_empty_version(tmp_path):
    """A job that fails before writing a frame (here: an empty matte) keeps no version folder."""
    from void_vfx.demo.run import build_spec, make_demo_shot
    from void_vfx.job.spec import MatteSource

    shot = make_demo_shot(tmp_path / "shot", frames=3, size=(96, 64), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.affected = None
    spec.primary = MatteSource(shot.plate, "A")  # the plate has R, G, B only
    with pytest.raises(
        ServerError,
        match=r"demo_plate.1001.exr \(frame 1001\): no channel 'A'; the file has R, G, B",
    ):
        run_local_job(spec, files_mode="path")
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())
