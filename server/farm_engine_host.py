"""A worker session's resident engine: loaded once by the Infer step's environment (``worker
engine-start``), used by every window task of that session, stopped by ``worker engine-stop``.

Loading VOID takes far longer than a window on a warm GPU, so a session does it once. The host is
a child process in its own session (it outlives the onEnter action); it listens on a socket in a
private folder (mode 0700; a Unix socket, a named pipe on Windows), authenticates callers with a
random key kept in that folder (mode 0600) and speaks JSON only (never pickle). The folder is
handed to later actions in ``VOID_VFX_ENGINE`` (``openjd_env:``). A host left without
``engine-stop`` (a crashed worker) exits after ``idle_timeout`` seconds without a request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from typing import Any

from void_vfx.errors import Cancelled, EngineError, VoidVfxError
from void_vfx.farm.pathmap import load_rules
from void_vfx.farm.stages import run_window

ENV = "VOID_VFX_ENGINE"
_ERRORS = {"Cancelled": Cancelled, "EngineError": EngineError}


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine", default="", help="void, preview or package.module:factory (default: the job's)"
    )
    p.add_argument("--weights", default="", help="base model folder (default: search)")
    p.add_argument("--checkpoints", default="", help="folder of void_pass1/2.safetensors")
    p.add_argument("--raft", default="", help="RAFT-large weights file (Pass 2)")
    p.add_argument(
        "--memory-mode",
        default="auto",
        help="gpu, gpu-fp8, offload, offload-fp8, sequential, cpu or auto",
    )
    p.add_argument("--idle-timeout", type=float, default=3600.0, help=argparse.SUPPRESS)


def load_worker_engine(args: argparse.Namespace, spec: Any = None) -> Any:
    """The engine the task asks for (else the spec's), loaded through the server's loader."""
    from .main import load_engine

    name = args.engine or (spec.engine if spec is not None else "preview")
    options = {
        "checkpoints": args.checkpoints or None,
        "raft_path": args.raft or None,
        "memory_mode": args.memory_mode or None,
    }
    return load_engine(name, args.weights or None, options if name == "void" else None)


def _address(folder: str) -> str:
    if sys.platform == "win32":
        return r"\\.\pipe\void-vfx-" + os.path.basename(folder)
    return os.path.join(folder, "engine.sock")


def _key(folder: str) -> bytes:
    with open(os.path.join(folder, "engine.key"), "rb") as fh:
        return fh.read()


def _send(conn, message: dict[str, Any]) -> None:
    conn.send_bytes(json.dumps(message).encode())


def _recv(conn) -> dict[str, Any]:
    return json.loads(conn.recv_bytes(1 << 20).decode())


def request(
    folder: str, message: dict[str, Any], on_message: Callable[[dict], None] = print
) -> dict:
    """Send one request; pass each progress/status message on; return the final reply."""
    with Client(_address(folder), authkey=_key(folder)) as conn:
        _send(conn, message)
        while True:
            reply = _recv(conn)
            if "final" not in reply:
                on_message(reply)
                continue
            if reply.get("error"):
                raise _ERRORS.get(reply.get("type"), EngineError)(reply["error"])
            return reply


def start(argv: list[str], *, timeout: float = 3600.0, say: Callable[[str], None] = print) -> str:
    """Start a host for the engine options ``argv``; return its folder once the engine is loaded."""
    folder = tempfile.mkdtemp(prefix="vvfx-")  # short: Unix socket paths are limited to ~100
    key_path = os.path.join(folder, "engine.key")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(32))
    log_path = os.path.join(folder, "engine.log")
    flags: dict[str, Any] = {"start_new_session": True}
    if sys.platform == "win32":
        flags = {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
    with open(log_path, "w") as log:
        # Its own output goes to the log: an inherited stdout would keep the action open.
        proc = subprocess.Popen(
            [sys.executable, "-m", "void_vfx_server.farm_engine_host", folder, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            **flags,
        )
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            with open(log_path, errors="replace") as fh:
                tail = fh.read()[-2000:]
            shutil.rmtree(folder, ignore_errors=True)
            raise EngineError(
                f"the engine host stopped while loading (exit {proc.returncode}):\n{tail}"
            )
        try:
            reply = request(folder, {"op": "ping"})
            say(f"engine {reply['engine']} loaded in the session (host pid {proc.pid})")
            return folder
        except (OSError, EOFError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            shutil.rmtree(folder, ignore_errors=True)
            raise EngineError(f"the engine did not load within {timeout:.0f} s; see {log_path}")
        time.sleep(0.2)


def stop(folder: str, say: Callable[[str], None] = print) -> None:
    """Stop the host of ``folder`` and remove the folder (nothing left when it is gone already)."""
    try:
        reply = request(folder, {"op": "stop"})
        say(f"engine host ran {reply['runs']} window(s) on {reply['loads']} load(s)")
        pid = int(reply["pid"])
        for _ in range(150):
            if not _alive(pid):
                break
            time.sleep(0.2)
    except (OSError, EOFError, ValueError):
        say("the engine host was already gone")
    shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a child of ours that exited is a zombie until reaped; it is gone all the same
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


# -- the host process -------------------------------------------------------------------------


def _serve(folder: str, args: argparse.Namespace) -> int:

    engine = load_worker_engine(args)
    state = {"runs": 0, "loads": 1, "last": time.monotonic(), "busy": False}

    def watchdog() -> None:
        while True:
            time.sleep(5)
            if not state["busy"] and time.monotonic() - state["last"] > args.idle_timeout:
                print("idle for too long; exiting", flush=True)
                shutil.rmtree(folder, ignore_errors=True)
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    with Listener(_address(folder), authkey=_key(folder)) as listener:
        print(f"engine {getattr(engine, 'name', args.engine)} ready", flush=True)
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError, AuthenticationError):  # wrong key, or gone
                continue
            with conn:
                state["busy"], state["last"] = True, time.monotonic()
                try:
                    msg = _recv(conn)
                    if msg.get("op") == "stop":
                        _send(
                            conn,
                            {
                                "final": True,
                                "runs": state["runs"],
                                "loads": state["loads"],
                                "pid": os.getpid(),
                            },
                        )
                        break
                    if msg.get("op") == "ping":
                        _send(conn, {"final": True, "engine": getattr(engine, "name", "engine")})
                    elif msg.get("op") == "run":
                        result = _run(conn, engine, msg, run_window, load_rules)
                        state["runs"] += 1
                        _send(conn, {"final": True, **result})
                except (OSError, EOFError):
                    pass  # the task went away (cancelled): nothing was committed
                except VoidVfxError as exc:
                    _safe_send(conn, {"final": True, "error": str(exc), "type": type(exc).__name__})
                except Exception as exc:  # noqa: BLE001 - one bad window must not kill the host
                    _safe_send(conn, {"final": True, "error": f"{type(exc).__name__}: {exc}"})
                finally:
                    state["busy"], state["last"] = False, time.monotonic()
    engine.unload()
    return 0


def _safe_send(conn, message: dict) -> None:
    try:
        _send(conn, message)
    except (OSError, EOFError):
        pass


def _run(conn, engine, msg: dict, run_window, load_rules) -> dict:
    def should_cancel() -> bool:
        if conn.poll():  # a cancel request, or the task hung up
            try:
                return _recv(conn).get("op") == "cancel"
            except (OSError, EOFError):
                return True
        return False

    def progress(step: int, total: int, message: str = "") -> None:
        _send(conn, {"progress": 100.0 * step / max(total, 1)})

    def engine_fn(window_input):
        if should_cancel():
            raise Cancelled("window cancelled")
        return engine.run(window_input, progress, should_cancel)

    say = lambda text: _send(conn, {"status": str(text)})  # noqa: E731
    rules = load_rules(msg.get("rules") or None)
    return run_window(msg["job_dir"], int(msg["window"]), engine_fn, rules, say=say)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="void_vfx_server.farm_engine_host", description=__doc__)
    p.add_argument("folder")
    add_engine_arguments(p)
    args = p.parse_args(argv)
    return _serve(args.folder, args)


if __name__ == "__main__":
    sys.exit(main())
