"""The RPyC listener, bounded: how many connections, how many from one peer, and a listener
that outlives descriptor exhaustion.

Without bounds every idle connection holds a descriptor and a thread; at the descriptor limit
``accept`` raises and a stock RPyC server stops (``void-vfx serve`` then exited 0 in silence).
Here a connection over the total or per-peer bound is closed at once, each handshake has one
deadline (see :mod:`.auth`), and when descriptors run out a spare one is given up to accept and
close the waiting connection (so it does not hang in the backlog), the cause is logged once a
minute, and the listener goes on. Any other failure of ``accept`` is logged and kept in
``failure`` so the server exits with an error, not 0.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections import Counter
from typing import Any

from rpyc.utils.server import ThreadedServer

from void_vfx.protocol.wire import MAX_REQUEST_BYTES, make_channel, set_nodelay

from .service import ServerContext, VoidVfxService

log = logging.getLogger("void_vfx_server.listener")

#: Defaults of ``serve --max-connections`` and ``--max-connections-per-peer``.
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_MAX_PER_PEER = 16
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_LOG_EVERY_S = 60.0


class Listener(ThreadedServer):
    """ThreadedServer with TCP_NODELAY, an uncompressed, copy-free channel whose frames are
    bounded, a new service object for every connection, and the bounds above."""

    def __init__(
        self,
        ctx: ServerContext,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_peer: int = DEFAULT_MAX_PER_PEER,
        **kwargs: Any,
    ) -> None:
        self._ctx = ctx
        #: The class whose instance serves each connection (a benchmark adds a method to it).
        self.service_class = VoidVfxService
        self.max_connections = max(1, int(max_connections))
        self.max_per_peer = max(1, int(max_per_peer))
        self._count_lock = threading.Lock()
        self._open = 0
        self._per_peer: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}
        #: The error that stopped the listener, if one did (None after a normal close).
        self.failure: BaseException | None = None
        self._spare_lock = threading.Lock()
        self._spare = _spare_fd()
        super().__init__(VoidVfxService, **kwargs)

    def _say(self, key: str, message: str, *args: Any) -> None:
        """Log ``message`` at most once a minute per ``key`` (a flood must not flood the log)."""
        now = time.monotonic()
        if now - self._last_log.get(key, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_log[key] = now
            log.warning(message, *args)

    def _on_exhausted(self, ex: OSError) -> None:
        self._say(
            "fds",
            "out of file descriptors (%s) with %d connections open: new connections are "
            "refused until some close; raise the limit (ulimit -n) or lower --max-connections",
            ex.strerror,
            self._open,
        )
        with self._spare_lock:  # take the waiting connection off the backlog and close it
            if self._spare is not None and self.active:
                os.close(self._spare)
                self._spare = None
                try:
                    sock, _ = self.listener.accept()
                    sock.close()
                except OSError:
                    pass
                self._spare = _spare_fd()
        time.sleep(0.05)

    def accept(self) -> None:
        while self.active:
            try:
                sock, addrinfo = self.listener.accept()
            except TimeoutError:
                continue
            except OSError as ex:
                if not self.active:
                    return
                if ex.errno in (errno.EINTR, errno.EAGAIN, errno.ECONNABORTED):
                    continue
                if ex.errno in _EXHAUSTED:
                    self._on_exhausted(ex)
                    continue
                self.failure = ex
                log.error("the listener failed (%s); the server stops", ex)
                raise EOFError(str(ex)) from ex
            break
        else:
            return
        peer = str(addrinfo[0]) if isinstance(addrinfo, tuple) and addrinfo else "local"
        with self._count_lock:
            over = self._open >= self.max_connections
            over_peer = self._per_peer[peer] >= self.max_per_peer
            if not (over or over_peer):
                self._open += 1
                self._per_peer[peer] += 1
        if over or over_peer:
            sock.close()
            self._say(
                "limit",
                "connection from %s refused: %s (raise --max-connections or "
                "--max-connections-per-peer if this is real use)",
                peer,
                "too many from that address" if over_peer else "too many connections",
            )
            return
        sock.setblocking(True)
        self.clients.add(sock)
        try:
            threading.Thread(
                target=self._counted, args=(sock, peer), name="void-vfx-conn", daemon=True
            ).start()
        except RuntimeError as ex:  # no thread to be had
            self._release(peer)
            self.clients.discard(sock)
            sock.close()
            self._say("threads", "connection from %s refused: %s", peer, ex)

    def _release(self, peer: str) -> None:
        with self._count_lock:
            self._open -= 1
            self._per_peer[peer] -= 1
            if self._per_peer[peer] <= 0:
                del self._per_peer[peer]

    def _counted(self, sock: socket.socket, peer: str) -> None:
        try:
            self._authenticate_and_serve_client(sock)
        except Exception as ex:  # noqa: BLE001 - one line, never a traceback per bad peer
            log.info("connection from %s ended: %s", peer, _short(ex))
        finally:
            self._release(peer)

    def _serve_client(self, sock, credentials):
        set_nodelay(sock)
        config = dict(self.protocol_config, credentials=credentials, logger=self.logger)
        service = self.service_class(self._ctx)
        conn = service._connect(make_channel(sock, MAX_REQUEST_BYTES), config)
        try:
            conn.serve_all()
        except (OSError, ValueError, EOFError):
            pass  # the socket went away under us (server closing, client killed)
        except Exception as ex:  # noqa: BLE001 - a malformed frame: one line, no traceback
            log.info("connection closed: %s", _short(ex))
        finally:
            conn.close()

    def close(self) -> None:
        # Called twice (by the owner, and by RPyC's accept loop as it ends): the spare
        # descriptor must be closed once, or the second close hits a number reused meanwhile.
        super().close()
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            os.close(spare)


class OneLineFormatter(logging.Formatter):
    """Each record on one line: a newline or carriage return in a message (a file name sent
    by a client) is written as ``\\n`` / ``\\r`` and cannot forge a log line; a traceback is
    folded onto its record's line."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace("\r", "\\r").replace("\n", "\\n")


def one_line_logs() -> None:
    """Give every handler of the root logger the one-line formatter (``void-vfx serve``)."""
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter._fmt if handler.formatter is not None else None
        handler.setFormatter(OneLineFormatter(fmt))


def _short(ex: BaseException) -> str:
    text = f"{type(ex).__name__}: {ex}"
    return text[:200].replace("\n", "\\n").replace("\r", "\\r")


def _spare_fd() -> int | None:
    """A descriptor held in reserve, given up to accept one connection when none are left."""
    try:
        return os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
