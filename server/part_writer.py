"""Background writing of upload chunks, so the next chunk crosses the network meanwhile.

An upload call checks the offset, queues the chunk and answers at once; one thread per file
appends the chunks in order. ``flush`` (used by upload_status and upload_done) waits until
everything queued is on disk, so the size a client resumes from is always the size on disk.
A failed write is reported by the next call on that file, and the writer is dropped so the
client can resume from what really reached the disk.

The writer also hashes what it writes (hashlib and ``os.write`` both release the GIL), so
``upload_done`` gets the file's sha256 without reading the file back.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from pathlib import Path

from void_vfx.errors import TransferError
from void_vfx.protocol.wire import file_sha256

#: Chunks queued per file before an upload call waits (bounds memory at ~4 x 2 MiB per file).
QUEUE_DEPTH = 4
#: Uploads being written at once (each holds a thread and a descriptor until it is settled or
#: closed as idle by :func:`close_idle`).
MAX_WRITERS = 64

_registry: dict[Path, PartWriter] = {}
_registry_lock = threading.Lock()


class PartWriter:
    """Appends chunks to one ``.part`` file on its own thread."""

    def __init__(self, part: Path) -> None:
        self.part = part
        part.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(part, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size
        self._hash = hashlib.sha256()
        self._hashed = False  # the bytes already in the file are hashed first, on the thread
        self._lock = threading.Lock()
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(QUEUE_DEPTH)
        self._error: OSError | None = None
        self.last_used = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="void-vfx-upload", daemon=True)
        try:
            self._thread.start()
        except RuntimeError:
            os.close(self._fd)
            raise TransferError(
                f"{part.name}: the server is busy; resume the upload later"
            ) from None

    def _hash_existing(self) -> None:
        """A resumed upload: hash what an earlier connection left in the ``.part`` file."""
        file_sha256(self.part, self.size, into=self._hash)

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._hash.update(data)

    def _run(self) -> None:
        try:
            self._hash_existing()
        except OSError as ex:
            self._error = ex
        while True:
            data = self._queue.get()
            try:
                if data is None:
                    os.close(self._fd)
                    return
                if self._error is None:
                    self._write(data)
            except OSError as ex:
                self._error = ex
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._error is not None:
            raise TransferError(
                f"{self.part.name}: writing on the server failed ({self._error}); free disk "
                "space there, then resume the upload"
            )

    def put(self, offset: int, data: bytes | memoryview) -> int:
        with self._lock:
            self._check()
            if offset != self.size:
                raise TransferError(
                    f"{self.part.name}: chunk at offset {offset} but the server holds "
                    f"{self.size} bytes; resume from upload_status()"
                )
            self._queue.put(data)
            self.size += len(data)
            self.last_used = time.monotonic()
            return self.size

    def flush(self) -> str:
        """Wait until everything queued is written; returns the sha256 of the whole file."""
        self._queue.join()
        self._check()
        return self._hash.hexdigest()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)


def writer_for(part: Path) -> PartWriter:
    with _registry_lock:
        writer = _registry.get(part)
        if writer is None:
            if len(_registry) >= MAX_WRITERS:
                raise TransferError(
                    f"{part.name}: {MAX_WRITERS} uploads are being written already; finish "
                    "or cancel some, or resume this one in a few minutes"
                )
            writer = _registry[part] = PartWriter(part)
        return writer


def close_idle(idle_s: float) -> int:
    """Settle writers that got no chunk for ``idle_s`` seconds (abandoned uploads keep no
    thread or descriptor); the part file stays, so its client resumes from its size."""
    now = time.monotonic()
    with _registry_lock:
        idle = [p for p, w in _registry.items() if now - w.last_used >= idle_s]
    for part in idle:
        try:
            settle(part)
        except TransferError:
            pass
    return len(idle)


def open_writers() -> int:
    with _registry_lock:
        return len(_registry)


def settle(part: Path) -> str | None:
    """Finish and forget the writer of ``part`` (if any): everything queued reaches the disk.

    Returns the file's sha256 when a writer had it open (None otherwise). Raises the writer's
    error, if it had one, after dropping it.
    """
    with _registry_lock:
        writer = _registry.pop(part, None)
    if writer is None:
        return None
    try:
        return writer.flush()
    finally:
        writer.close()


def settle_all(folder: Path) -> None:
    """Settle every writer under ``folder`` (a job being deleted), ignoring write errors."""
    with _registry_lock:
        parts = [p for p in _registry if folder == p or folder in p.parents]
    for part in parts:
        try:
            settle(part)
        except TransferError:
            pass
