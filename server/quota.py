"""Quotas: how much the data folder may hold, and housekeeping of what clients left behind.

The data folder's size is measured by walking it (at most every few seconds) and counted up
between walks as uploads and submits add to it, so a quota check costs nothing per chunk.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

from void_vfx.errors import TransferError

log = logging.getLogger("void_vfx_server.quota")

_REMEASURE_S = 10.0


def folder_bytes(folder: Path) -> int:
    """Bytes held by regular files under ``folder`` (links not followed)."""
    total = 0
    stack = [os.fspath(folder)]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(e.path)
            elif stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


class DataQuota:
    """The most bytes the data folder may hold (0: no quota)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._used = 0
        self._measured = -_REMEASURE_S

    def used(self) -> int:
        with self._lock:
            if time.monotonic() - self._measured >= _REMEASURE_S:
                self._used = folder_bytes(self.folder)
                self._measured = time.monotonic()
            return self._used

    def invalidate(self) -> None:
        """Measure again at the next check (a job was deleted)."""
        with self._lock:
            self._measured = -_REMEASURE_S

    def check(self, needed: int, what: str) -> None:
        """Refuse ``needed`` more bytes when they would take the folder past its quota."""
        if self.max_bytes <= 0:
            return
        used = self.used()
        if used + needed > self.max_bytes:
            raise TransferError(
                f"{what}: the server's data folder {self.folder} holds {_size(used)} of at most "
                f"{_size(self.max_bytes)}; delete finished jobs ('void-vfx jobs', "
                "then delete them) or start the server with a higher --max-data-gb"
            )
        with self._lock:
            self._used += needed


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"
