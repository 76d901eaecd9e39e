"""Transfer benchmark: stream mode against a raw socket doing the same work, over loopback.

Run: ``python bench/transfer_bench.py [--mib 128] [--rounds 3] [--defaults-mib 0]``.

Every stream-mode figure is paired with a raw-socket figure whose two ends do the same work, so
a ratio measures what RPyC, the protocol and the server add, not a difference in the job:

=================  ================================  =====================================
pair               raw socket                        stream mode (real authenticated server)
=================  ================================  =====================================
memory -> memory   ``sendall`` 2 MiB pieces; the      ``sink`` calls carrying the 2 MiB
                   receiver ``recv_into``'s them      chunks; the server drops them
                   and drops them
upload to a file   the same, receiver appends to a    ``upload`` calls + ``upload_done``:
                   file in the upload folder and      chunks appended to the job folder,
                   sha256's what arrived              sha256'd by the writer thread
download of a      the sender reads the file in       ``download`` calls of the file
file               2 MiB pieces; receiver drops them  in 2 MiB pieces; the client drops them
=================  ================================  =====================================

The issue's target, "stream mode at least 50% of the raw socket", is checked on each pair; the
headline is the upload pair (what an upload must do: receive and store the bytes). The sending
side holds the payload in memory in every case (2 MiB bytes objects made before timing); stream
calls are pipelined (``Client.pipeline``, as ``Client.upload_file`` does). Also printed: stream
upload against the memory -> memory raw socket (unlike work, for reference), and
``Client.upload_file`` end to end (adds reading the source file and sha256 on the client).

Raw and stream rounds alternate (``--rounds``) so both see the same load on a shared machine;
the best and the median of each are printed and the ratios use the best rounds. MB = 10**6 B.
CPU seconds per GB (client and server ends together, least over the rounds) are printed too:
unlike MB/s they barely move when other work shares the machine.
The upload is also compared with a raw receiver that skips the sha256 (the server cannot: the
issue asks for a sha256 per file), so the cost of the hash itself is visible.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

CHUNK = 2 * 1024 * 1024
MIB = 1024 * 1024


def _raw_pair(send, receive) -> float:
    """Time ``send(sock)`` to a thread running ``receive(conn)``; returns MB/s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = [0]

    def serve() -> None:
        conn, _ = srv.accept()
        got[0] = receive(conn)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = socket.create_connection(srv.getsockname())
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    sent = send(cli)
    cli.shutdown(socket.SHUT_WR)
    t.join()
    dt = time.perf_counter() - t0
    cli.close()
    srv.close()
    assert got[0] == sent, (got[0], sent)
    return sent / dt / 1e6


def _receiver(sink: Path | None, sha256: bool = False):
    def receive(conn: socket.socket) -> int:
        view = memoryview(bytearray(4 * MIB))
        fd = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if sink else -1
        h = hashlib.sha256()
        total = 0
        while n := conn.recv_into(view):
            if fd >= 0:
                os.write(fd, view[:n])
            if sha256:
                h.update(view[:n])
            total += n
        if fd >= 0:
            os.close(fd)
            sink.unlink()
        return total

    return receive


def raw_from_memory(chunks: list[bytes], sink: Path | None = None, sha256: bool = False) -> float:
    """Memory -> memory (``sink`` None) or memory -> file (and sha256 of what arrived)."""

    def send(sock: socket.socket) -> int:
        for c in chunks:
            sock.sendall(c)
        return sum(len(c) for c in chunks)

    return _raw_pair(send, _receiver(sink, sha256))


def raw_from_file(path: Path) -> float:
    """File -> memory: the sender reads 2 MiB pieces of ``path`` and sends them."""

    def send(sock: socket.socket) -> int:
        buf = bytearray(CHUNK)
        total = 0
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                sock.sendall(memoryview(buf)[:n])
                total += n
        return total

    return _raw_pair(send, _receiver(None))


class _NoEngine:
    name = "none"

    def info(self) -> dict:
        return {"device": "none"}

    def load(self) -> None:
        pass

    def unload(self) -> None:
        pass


def _bench_server(tmp: Path):
    """The real server, plus one bench-only method: ``sink`` drops a chunk (memory -> memory)."""
    from void_vfx_server.main import InferenceServer
    from void_vfx_server.service import VoidVfxService, _plain

    class SinkService(VoidVfxService):
        EXPOSED = VoidVfxService.EXPOSED | {"sink"}

        @_plain
        def exposed_sink(self, job_id: str, name: str, offset: int, data: bytes) -> int:
            return int(offset) + len(data)

    server = InferenceServer(
        "127.0.0.1", 0, tmp / "data", _NoEngine(), token_file=tmp / "token", min_free_bytes=0
    )
    server.listener.service_class = SinkService  # one instance per connection, as served
    server.start_in_thread()
    return server


def _cpu_s() -> float:
    """CPU seconds of this process, all threads: both ends of every transfer run in it."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_rounds(payload: bytes, tmp: Path, rounds: int):
    """Alternate raw-socket and stream-mode rounds so both see the same machine load."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _server_fakes import make_shot

    from void_vfx.client import connect
    from void_vfx_server.transfer import record_results

    server = _bench_server(tmp)
    chunks = [payload[i : i + CHUNK] for i in range(0, len(payload), CHUNK)]
    size, sha = len(payload), hashlib.sha256(payload).hexdigest()
    out: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def note(key: str, run, *args, **kwargs) -> None:
        """Run one measurement; keep MB/s and the CPU seconds per GB it cost (all threads)."""
        cpu0 = _cpu_s()
        mb_s = run(*args, **kwargs)
        out.setdefault(key, []).append(mb_s)
        cpu.setdefault(key, []).append((_cpu_s() - cpu0) / (size / 1e9))

    def timed(work, *args) -> float:
        t0 = time.perf_counter()
        work(*args)
        return size / (time.perf_counter() - t0) / 1e6

    def sink(job: str) -> None:
        calls = ((job, "x", i * CHUNK, ch) for i, ch in enumerate(chunks))
        assert list(c.pipeline("sink", calls))[-1] == size

    def upload(job: str) -> None:
        calls = ((job, "bench/upload.bin", i * CHUNK, ch) for i, ch in enumerate(chunks))
        for _ in c.pipeline("upload", calls):
            pass
        c.call("upload_done", job, "bench/upload.bin", sha, size)

    def download(job: str) -> None:
        calls = ((job, "result.bin", i, CHUNK) for i in range(0, size, CHUNK))
        assert sum(len(d) for d in c.pipeline("download", calls)) == size

    try:
        with connect("127.0.0.1", server.port, token=server.token) as c:
            spec = make_shot(tmp / "shot", frames=1, size=1024)
            src = tmp / "file.bin"
            src.write_bytes(payload)
            raw_sink = tmp / "raw_sink.bin"
            for _ in range(rounds):
                job = c.submit(spec, files_mode="stream", start=False)
                note("raw mem", raw_from_memory, chunks)
                note("stream mem", timed, sink, job)
                note("raw file", raw_from_memory, chunks, raw_sink)
                note("raw file sha", raw_from_memory, chunks, raw_sink, sha256=True)
                note("stream upload", timed, upload, job)

                results = server.store.job_dir(job) / "results"
                os.replace(
                    server.store.inputs_dir(job) / "bench" / "upload.bin", results / "result.bin"
                )
                # Downloads serve only what a finished job recorded: finish this one by hand.
                record_results(results, server.store.job_dir(job))
                server.store.set_state(job, "done")
                note("raw download", raw_from_file, results / "result.bin")
                note("stream download", timed, download, job)

                job2 = c.submit(spec, files_mode="stream", start=False)
                note("upload_file", timed, c.upload_file, job2, "bench/file.bin", src)
                c.delete(job)
                c.delete(job2)
    finally:
        server.close()
    return out, cpu


def rpyc_defaults(payload: bytes) -> float:
    """One bytes object through stock RPyC (compressed Channel, stock SocketStream)."""
    import rpyc
    from rpyc.utils.server import ThreadedServer

    class Sink(rpyc.Service):
        def exposed_put(self, data):
            return len(data)

    server = ThreadedServer(Sink, hostname="127.0.0.1", port=0)
    threading.Thread(target=server.start, daemon=True).start()
    time.sleep(0.3)
    conn = rpyc.connect("127.0.0.1", server.port, config={"sync_request_timeout": 3600})
    t0 = time.perf_counter()
    assert conn.root.put(payload) == len(payload)
    dt = time.perf_counter() - t0
    conn.close()
    server.close()
    return len(payload) / dt / 1e6


PAIRS = (
    # (label, stream key, raw key, is the headline target)
    ("upload: to a file + sha256", "stream upload", "raw file sha", True),
    ("upload: to a file (raw skips the sha256)", "stream upload", "raw file", False),
    ("memory -> memory", "stream mem", "raw mem", False),
    ("download of a file", "stream download", "raw download", False),
)
LABELS = {
    "raw mem": "raw socket, memory -> memory",
    "stream mem": "stream 'sink' calls, memory -> memory",
    "raw file": "raw socket, receiver appends to a file",
    "raw file sha": "raw socket, receiver appends to a file + sha256",
    "stream upload": "stream upload + upload_done (to a file)",
    "raw download": "raw socket, sender reads a file",
    "stream download": "stream download (server reads a file)",
    "upload_file": "Client.upload_file (+ file read, client sha256)",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mib", type=int, default=128, help="payload size (default 128 MiB)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--defaults-mib", type=int, default=0, help="also time stock RPyC on N MiB")
    ap.add_argument(
        "--data-dir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the server stores uploads (default /dev/shm: measure the wire, not the disk)",
    )
    args = ap.parse_args()
    payload = os.urandom(args.mib * MIB)
    print(
        f"payload {args.mib} MiB of random bytes, {CHUNK // MIB} MiB chunks, loopback, "
        f"{args.rounds} alternating rounds"
    )
    with tempfile.TemporaryDirectory(prefix="void-vfx-bench-", dir=args.data_dir) as tmp:
        print(f"  uploads land in {tmp}")
        figures, cpu = run_rounds(payload, Path(tmp), args.rounds)
    best = {k: max(v) for k, v in figures.items()}
    print(f"  {'':48} {'best':>7}  {'median':>7} MB/s   CPU s/GB (both ends, least)")
    for key, label in LABELS.items():
        v = figures[key]
        print(
            f"  {label:48} {max(v):7.1f}  {statistics.median(v):7.1f}        {min(cpu[key]):5.2f}"
        )
    print("like-for-like ratios (stream / raw socket doing the same work, best rounds):")
    for label, s_key, r_key, target in PAIRS:
        ratio = best[s_key] / best[r_key]
        verdict = "meets" if ratio >= 0.5 else "MISSES"
        note = "  <- the issue's target" if target else ""
        print(f"  {label:42} {ratio:5.2f}  ({verdict} >= 0.50){note}")
    print("for reference (unlike work):")
    print(
        "  stream upload / raw memory -> memory       "
        f"{best['stream upload'] / best['raw mem']:5.2f}"
    )
    print(
        "  Client.upload_file / raw into a file       "
        f"{best['upload_file'] / best['raw file']:5.2f}"
    )
    if args.defaults_mib:
        small = payload[: args.defaults_mib * MIB]
        print(f"  stock RPyC, one {args.defaults_mib} MiB object: {rpyc_defaults(small):.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
