"""What each attack of issue 21 costs a real server on 127.0.0.1: memory, stalls, survival.

Run: ``python bench/server_attacks_bench.py`` (a minute; about 0.5 GB of memory at most on an
unbounded server). Run it from an older checkout (``PYTHONPATH=<old tree>``) for the figures
before. Each attack goes to a fresh ``void-vfx serve --engine preview`` in a subprocess whose
resident memory is sampled every 10 ms; MiB = 2**20 B.

Printed, one line each:

- ``zlib bomb``: a 256 KiB compressed frame that inflates to 256 MiB: the server's peak memory
  growth, and whether the connection was dropped.
- ``frozenset``: a frozenset of 6000 integers with one hash: how long another client's ``info``
  call waits while it is decoded.
- ``vinegar``: 3000 exception replies with distinct class names and 4 KiB messages: memory
  kept by the server afterwards.
- ``fd flood``: a server with 64 descriptors and 150 idle connections: alive or exited (and its
  status), and whether a real client then gets in.
- ``padding`` / ``image header``: in a child process, ``Sequence.path`` of a ``%0250000000d``
  pattern, and ``read_image`` of a valid black 8000 x 8000 PNG (190 KB) and of an EXR of a
  few KB whose header says 12000 x 12000: peak memory growth (imports excluded).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import psutil
from rpyc.core import brine, consts

MIB = 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, nofile: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        self.token_file = tmp / "token"
        code = (
            "import resource, sys\n"
            + (
                f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))\n"
                if nofile
                else ""
            )
            + "from void_vfx_server.main import main\nsys.exit(main(sys.argv[1:]))\n"
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "--port",
                str(self.port),
                "--data-dir",
                str(tmp / "d"),
                "--token-file",
                str(self.token_file),
                "--engine",
                "preview",
                *extra,
            ],
            env=dict(os.environ, XDG_CONFIG_HOME=str(tmp / "cfg")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 60
        while True:
            try:
                self.token = self.token_file.read_text().strip()
                self.client().close()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(self.proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        self.base = self.rss()

    def client(self):
        from void_vfx.client import connect

        c = connect("127.0.0.1", self.port, token=self.token)
        c.remember_jobs = False
        return c

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


def _sample(srv: Server, seconds: float) -> int:
    peak, end = srv.rss(), time.time() + seconds
    while time.time() < end:
        try:
            peak = max(peak, srv.rss())
        except psutil.Error:
            break
        time.sleep(0.01)
    return peak


def _raw(c, payload: bytes, compressed: int = 0) -> None:
    ch = c._conn._channel
    ch.stream.sock.sendall(ch.FRAME_HEADER.pack(len(payload), compressed) + payload + ch.FLUSHER)


def _dropped(c, seconds: float = 5.0) -> bool:
    sock = c._conn._channel.stream.sock
    sock.settimeout(seconds)
    try:
        while piece := sock.recv(65536):
            if piece[5:6] in (bytes([consts.MSG_REPLY]), bytes([consts.MSG_EXCEPTION])):
                return False
        return True
    except OSError:
        return True


def zlib_bomb(tmp: Path) -> str:
    srv = Server(tmp)
    try:
        c = srv.client()
        bomb = zlib.compress(bytes(256 * MIB), 9)
        _raw(c, bomb, 1)
        peak = _sample(srv, 2.0)
        dropped = _dropped(c, 2.0)
        return (
            f"zlib bomb: {len(bomb) // 1024} KiB frame, "
            f"server peak +{(peak - srv.base) / MIB:.0f} MiB, dropped {dropped}"
        )
    finally:
        srv.close()


def frozenset_stall(tmp: Path) -> str:
    srv = Server(tmp)
    try:
        colliding = frozenset(i * (2**61 - 1) for i in range(1, 6001))
        req = bytes([consts.MSG_REQUEST]) + brine.dump(
            (9, (consts.HANDLE_CALLATTR, (("x", 1, 1), "exposed_info", (colliding,), ())))
        )
        attacker, other = srv.client(), srv.client()
        waits = []

        def poll() -> None:
            for _ in range(40):
                t0 = time.perf_counter()
                other.info()
                waits.append(time.perf_counter() - t0)
                time.sleep(0.05)

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.1)
        _raw(attacker, req)
        t.join(120)
        return f"frozenset: another client's info() waited at most {max(waits):.2f} s"
    finally:
        srv.close()


def vinegar(tmp: Path) -> str:
    srv = Server(tmp)
    try:
        sent = 0
        for batch in range(30):
            c = srv.client()
            try:
                for i in range(100):
                    exc = ((f"evil{batch}_{i}", f"Bomb{batch}_{i}"), ("x" * 4096,), (), "")
                    _raw(c, bytes([consts.MSG_EXCEPTION]) + brine.dump((1, exc)))
                    sent += 1
            except OSError:
                pass
            c._conn._channel.stream.sock.close()
        time.sleep(1.0)
        return (
            f"vinegar: {sent} exception frames sent, "
            f"server kept +{(srv.rss() - srv.base) / MIB:.0f} MiB"
        )
    finally:
        srv.close()


def fd_flood(tmp: Path) -> str:
    try:  # a server of this version: keep the idle peers for the whole flood
        import void_vfx_server.limits  # noqa: F401

        extra: tuple[str, ...] = ("--handshake-timeout", "30")
    except ImportError:  # an older server (the figures before): its 10 s per-byte timeout
        extra = ()
    srv = Server(tmp, nofile=64, extra=extra)
    socks = []
    try:
        for _ in range(150):
            try:
                socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
            except OSError:
                break
        time.sleep(1.5)
        alive = srv.proc.poll() is None
        for s in socks:
            s.close()
        time.sleep(0.5)
        served = False
        if alive:
            try:
                srv.client().close()
                served = True
            except Exception:  # noqa: BLE001
                served = False
        state = "alive" if alive else f"exited with status {srv.proc.returncode}"
        return (
            f"fd flood: {len(socks)} idle connections at RLIMIT_NOFILE 64: "
            f"server {state}, next client served {served}"
        )
    finally:
        for s in socks:
            s.close()
        srv.close()


_CHILD = r"""
import resource, sys
from void_vfx.media.image_io import read_image  # imports before the baseline
from void_vfx.media.sequences import Sequence
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
what = sys.argv[1]
try:
    if what == "padding":
        Sequence.parse("/x/p.%0250000000d.exr").path(1)
    else:
        read_image(sys.argv[2], "rgb")
    result = "accepted"
except Exception as ex:
    result = "refused: " + type(ex).__name__
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{(peak - base) / 1024:.0f} MiB, {result}")
"""


def _png(path: Path, w: int, h: int) -> None:
    """A valid black RGB PNG of ``w`` x ``h``: its rows of zeros deflate ~1000:1."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    deflate, row, idat = zlib.compressobj(9), bytes(1 + 3 * w), []
    for _ in range(h):
        idat.append(deflate.compress(row))
    idat.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(idat))
        + chunk(b"IEND", b"")
    )


def _exr(path: Path, w: int, h: int) -> None:
    """A 16 x 8 uncompressed EXR whose data and display windows are patched to ``w`` x ``h``."""
    import struct

    import OpenImageIO as oiio

    spec = oiio.ImageSpec(16, 8, 3, "half")
    spec.attribute("compression", "none")
    small = path.with_name("small.exr")
    oiio.ImageBuf(spec).write(str(small))
    data = small.read_bytes()
    for name in (b"dataWindow", b"displayWindow"):
        at = data.index(name + b"\0box2i\0") + len(name) + 11
        data = data[:at] + struct.pack("<4i", 0, 0, w - 1, h - 1) + data[at + 16 :]
    path.write_bytes(data)


def child(what: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, what, *args], capture_output=True, text=True, timeout=300
    )
    return f"{what}: peak +{out.stdout.strip() or out.stderr.strip()[-200:]}"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        png, exr = tmp / "bomb.png", tmp / "bomb.exr"
        _png(png, 8000, 8000)
        _exr(exr, 12000, 12000)
        for i, fn in enumerate((zlib_bomb, frozenset_stall, vinegar, fd_flood)):
            folder = tmp / str(i)
            folder.mkdir()
            print(fn(folder), flush=True)
        print(child("padding"), flush=True)
        print(child(f"PNG header ({png.stat().st_size} B)", str(png)), flush=True)
        print(child(f"EXR header ({exr.stat().st_size} B)", str(exr)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
