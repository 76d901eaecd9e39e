"""Start the inference server: engine loaded once, one worker, a threaded RPyC listener.

``python -m void_vfx_server.main --help`` or ``void-vfx serve``. Binding anything but loopback
needs TLS with client certificates (``--tls-cert``, ``--tls-key``, ``--tls-ca``) unless
``--insecure-network`` says the network is trusted. Path-mode jobs read and write only inside
``--allow-read`` / ``--allow-write`` (default: the user's home folder).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from void_vfx import __version__
from void_vfx.errors import AuthError, EngineError, ServerError
from void_vfx.job.spec import ENGINES, SCHEMA
from void_vfx.media.image_io import max_image_pixels, set_max_image_pixels
from void_vfx.media.source_files import add_read_check, remove_read_check
from void_vfx.protocol.paths import config_dir
from void_vfx.protocol.wire import DEFAULT_PORT, protocol_config

from . import gpu_pool
from .auth import TokenAuthenticator, ensure_token, server_ssl_context
from .jobs import JobStore
from .limits import Limits, add_limit_arguments, limits_from_args
from .listener import Listener, one_line_logs
from .quota import DataQuota
from .roots import Roots
from .service import ServerContext
from .worker import ProcessFn, Worker

log = logging.getLogger("void_vfx_server")

DEFAULT_MIN_FREE_BYTES = 2 * 1024**3
DEFAULT_RETENTION_DAYS = 14.0


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "void-vfx" / "server"


def is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def load_engine(engine: str, weights: str | None = None, options: dict | None = None) -> Any:
    """'preview', 'void', or 'package.module:factory' (tests plug a slow engine in this way).

    ``options`` for 'void': checkpoints (folder of void_pass1/2.safetensors), raft_path,
    memory_mode.
    """
    if engine == "preview":
        from .engines.preview import PreviewEngine

        obj = PreviewEngine()
    elif engine == "void":
        from .engines.void.engine import VoidEngine

        opts = {k: v for k, v in (options or {}).items() if v is not None}
        obj = VoidEngine(weights or None, **opts)
    elif ":" in engine:
        mod, _, attr = engine.partition(":")
        obj = getattr(importlib.import_module(mod), attr)()
    else:
        raise EngineError(f"engine {engine!r}: use 'preview' (CPU, no weights) or 'void'")
    obj.load()
    return obj


def spec_engines(engine: Any) -> tuple[str, ...]:
    """The ``JobSpec.engine`` values a loaded engine runs: its ``spec_engines`` if it says, else
    its own name when that is a spec engine, else any (an engine plugged in for tests)."""
    declared = getattr(engine, "spec_engines", None)
    if declared:
        return tuple(str(e) for e in declared)
    name = getattr(engine, "name", "")
    return (name,) if name in ENGINES else tuple(ENGINES)


#: The bounded listener (kept under its old name for code that reaches it).
_Listener = Listener


class InferenceServer:
    """Engine + job store + worker + listener. ``start_in_thread()`` for in-process use."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        data_dir: str | Path | None = None,
        engine: str | Any = "preview",
        weights: str | None = None,
        token_file: str | Path | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_ca: str | None = None,
        insecure_network: bool = False,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        process_fn: ProcessFn | None = None,
        engine_options: dict | None = None,
        allow_read: list[str] | None = None,
        allow_write: list[str] | None = None,
        guard_reads: bool = True,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits = limits or Limits()
        if limits.max_image_pixels != max_image_pixels():
            set_max_image_pixels(limits.max_image_pixels)
        tls = bool(tls_cert or tls_key)
        if tls and not (tls_cert and tls_key):
            raise AuthError("TLS needs both --tls-cert and --tls-key")
        if not is_loopback(host) and not insecure_network and not (tls and tls_ca):
            raise ServerError(
                f"refusing to listen on {host} without TLS and client certificates: anyone on "
                "the network could reach the server. Give --tls-cert, --tls-key and --tls-ca "
                "(the CA that signs client certificates), bind 127.0.0.1, or pass "
                "--insecure-network on a network you trust"
            )
        ctx: ssl.SSLContext | None = server_ssl_context(tls_cert, tls_key, tls_ca) if tls else None
        self.token, self.token_path = ensure_token(token_file)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = JobStore(self.data_dir)
        gpus = gpu_pool.gpu_devices(
            engine,
            (engine_options or {}).get("gpus"),
            (engine_options or {}).get("memory_mode"),
        )
        pooled: list[Any] = []
        if isinstance(engine, str):
            opts = gpu_pool.engine_options(engine_options, gpus, 0)
            self.engine = load_engine(engine, weights, opts)
        elif isinstance(engine, (list, tuple)):  # engines made by the caller, one per GPU
            pooled, gpus = list(engine), list(range(len(engine)))
            self.engine = pooled[0]
        else:
            self.engine = engine
        engines = spec_engines(self.engine)
        self.roots = Roots(allow_read, allow_write, private=(self.data_dir, config_dir()))
        #: Installed while the server runs (start to close): every source file it reads passes.
        self._read_check = _source_check(self.roots, self.store.jobs_dir) if guard_reads else None
        info = {
            "version": __version__,
            "job_schema": SCHEMA,
            "engines": engines,
            "engine": getattr(self.engine, "name", str(engine)),
            "engine_info": _plain_dict(self.engine.info()),
            "tls": tls,
            "data_dir": str(self.data_dir),
        }
        rpyc_log = logging.getLogger("void_vfx_server.rpyc")
        if rpyc_log.level == logging.NOTSET:
            rpyc_log.setLevel(logging.WARNING)  # one line per connection is noise at INFO
        shared = ServerContext(
            self.store,
            info,
            int(min_free_bytes),
            self.roots,
            engines,
            info["engine"],
            limits,
            DataQuota(self.data_dir, limits.max_data_bytes),
        )
        self.worker = gpu_pool.make_workers(
            Worker,
            self.store,
            self.engine,
            gpus,
            (lambda i: pooled[i])
            if pooled
            else lambda i: load_engine(
                engine, weights, gpu_pool.engine_options(engine_options, gpus, i)
            ),
            process_fn,
            retention_days,
            roots=self.roots,
            engines=engines,
            limits=limits,
        )
        self.listener = Listener(
            shared,
            limits.max_connections,
            limits.max_per_peer,
            hostname=host,
            port=port,
            authenticator=TokenAuthenticator(self.token, ctx, limits.handshake_timeout_s),
            protocol_config=protocol_config(),
            logger=rpyc_log,
        )
        self.host, self.port = host, self.listener.port
        #: The engine's name as the server's info gives it ("preview", "void", ...).
        self.engine_name = info["engine"]

    def _guard_reads(self) -> None:
        if self._read_check is not None:
            add_read_check(self._read_check)

    def start(self) -> None:
        """Blocking: serve until closed or interrupted."""
        self._guard_reads()
        self.worker.start()
        try:
            self.listener.start()
        finally:
            self.close()
        if self.listener.failure is not None:  # not closed on purpose: say so, exit non-zero
            raise ServerError(f"the listener stopped: {self.listener.failure}")

    def start_in_thread(self) -> None:
        self._guard_reads()
        self.worker.start()
        self.listener._listen()
        self.port = self.listener.port
        threading.Thread(target=self.listener.start, name="void-vfx-listener", daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        self.worker.stop()
        if self.worker.is_alive():
            self.worker.join(timeout=30)
        try:
            self.engine.unload()
        finally:
            self.store.close()
            if self._read_check is not None:
                remove_read_check(self._read_check)


def _source_check(roots: Roots, jobs_dir: Path):
    """The check every source file the server reads passes, on the real path of its open
    descriptor: inside the job folders (uploads, work), a read root, or a write root (a
    version folder read back)."""
    jobs = os.path.realpath(jobs_dir)

    def check(real: str) -> None:
        if real == jobs or real.startswith(jobs + os.sep):
            return
        if not roots.inside(real, "write"):
            roots.check(real, "read", "source file")

    return check


def _plain_dict(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, str | int | float | bool) or v is None:
            out[str(k)] = v
        elif isinstance(v, list | tuple):
            out[str(k)] = tuple(str(x) for x in v)
        else:
            out[str(k)] = str(v)
    return out


def serve(**options: Any) -> None:
    """Run a server (:class:`InferenceServer`, with its keyword arguments) in the foreground
    until Ctrl-C."""
    server = InferenceServer(**options)

    def _terminate(signum, frame):  # SIGTERM (systemd, docker stop): stop like Ctrl-C
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    print(
        f"void-vfx server {__version__} listening on {server.host}:{server.port} "
        f"(engine {server.engine_name}, data {server.data_dir}, token {server.token_path}; "
        f"path mode may "
        f"{server.roots.describe()})",
        flush=True,
    )
    server.start()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``serve`` options, shared by ``void-vfx serve`` and ``python -m
    void_vfx_server.main``."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument(
        "--data-dir", default=None, help=f"jobs and uploads (default {default_data_dir()})"
    )
    p.add_argument("--engine", default="preview", help="preview (CPU, no weights) or void")
    p.add_argument(
        "--weights", default=None, help="base model folder (CogVideoX-Fun-V1.5-5b-InP layout)"
    )
    p.add_argument(
        "--checkpoints", default=None, help="folder holding void_pass1/void_pass2.safetensors"
    )
    p.add_argument("--raft", default=None, help="RAFT-large weights file for Pass 2 (.pth)")
    p.add_argument(
        "--memory-mode",
        default="auto",
        help="auto (from free GPU memory), gpu, gpu-fp8, offload, offload-fp8, sequential, cpu",
    )
    p.add_argument(
        "--gpus",
        default=None,
        help="void engine: GPU indices to run one worker "
        "each on, e.g. 0,1 (default: every GPU found)",
    )
    p.add_argument("--token-file", default=None, help="token file (default: user config folder)")
    p.add_argument("--tls-cert", default=None, help="server certificate (PEM)")
    p.add_argument("--tls-key", default=None, help="server private key (PEM)")
    p.add_argument(
        "--tls-ca", default=None, help="CA that signs client certificates (required off loopback)"
    )
    p.add_argument(
        "--insecure-network",
        action="store_true",
        help="allow non-loopback without TLS and client certificates",
    )
    p.add_argument(
        "--allow-read",
        action="append",
        default=None,
        metavar="DIR",
        help="folder path-mode jobs may read (repeat for more; default: your home folder)",
    )
    p.add_argument(
        "--allow-write",
        action="append",
        default=None,
        metavar="DIR",
        help="folder path-mode jobs may write their version folders in (repeat for "
        "more; default: your home folder)",
    )
    p.add_argument(
        "--min-free-gb",
        type=float,
        default=DEFAULT_MIN_FREE_BYTES / 1024**3,
        help="refuse uploads that would leave less free disk than this",
    )
    p.add_argument(
        "--retention-days",
        type=float,
        default=DEFAULT_RETENTION_DAYS,
        help="remove finished job folders after this many days",
    )
    add_limit_arguments(p)
    p.add_argument("--process-fn", default=None, help=argparse.SUPPRESS)  # tests: module:function


def run_from_args(args: argparse.Namespace) -> int:
    process_fn = None
    if args.process_fn:
        mod, _, attr = args.process_fn.partition(":")
        process_fn = getattr(importlib.import_module(mod), attr)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    one_line_logs()  # a newline in a client's file name cannot forge a log line
    try:
        serve(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            engine=args.engine,
            weights=args.weights,
            token_file=args.token_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_ca=args.tls_ca,
            insecure_network=args.insecure_network,
            min_free_bytes=int(args.min_free_gb * 1024**3),
            retention_days=args.retention_days,
            process_fn=process_fn,
            engine_options={
                "checkpoints": args.checkpoints,
                "raft_path": args.raft,
                "memory_mode": args.memory_mode,
                "gpus": args.gpus,
            },
            allow_read=args.allow_read,
            allow_write=args.allow_write,
            limits=limits_from_args(args),
        )
    except KeyboardInterrupt:
        return 0
    return 0


#: ``void-vfx serve`` (listed in :data:`void_vfx_server.api.COMMANDS`).
add_serve_arguments = add_arguments
run_serve = run_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="void_vfx_server", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (ServerError, EngineError, AuthError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
