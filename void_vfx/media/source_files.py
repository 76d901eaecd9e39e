"""Opening source files (plates, mattes) so that what is checked is what is read.

A server reads files that clients name on its disks. A name checked once and opened later can
be swapped for a symlink in between, so a server installs a *read check* here
(:func:`add_read_check`): from then on every source file is opened without following a link in
its last component, must be a regular file (a FIFO or device would block or never end), and the
real path of the opened descriptor, not of the name, is handed to the check, which raises when
it lies outside the folders the server may read. Readers then use the descriptor itself, or
``/proc/self/fd/N`` where a library wants a name (OpenImageIO): that name cannot be swapped.
Without a check (the CLI on the user's own files) links are followed as usual.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable

from void_vfx.errors import ImageIOError

#: fn(real_path) -> None, raising to refuse; none installed: no check (local use). Several
#: servers in one process (tests) each add theirs: a file passes when one of them allows it.
_read_checks: list[Callable[[str], None]] = []

_PROC_FD = "/proc/self/fd"
_F_GETPATH = 50  # macOS fcntl: the path of an open descriptor


def add_read_check(check: Callable[[str], None]) -> None:
    """Install a check every source file passes after opening (a server's roots)."""
    _read_checks.append(check)


def remove_read_check(check: Callable[[str], None]) -> None:
    if check in _read_checks:
        _read_checks.remove(check)


def read_check_installed() -> bool:
    return bool(_read_checks)


def _run_checks(real: str) -> None:
    first: Exception | None = None
    for check in list(_read_checks):
        try:
            check(real)
            return
        except Exception as ex:  # noqa: BLE001 - the first refusal is the one reported
            first = first or ex
    if first is not None:
        raise ImageIOError(str(first)) from None


def fd_name(fd: int) -> str | None:
    """A name for an open descriptor that cannot be swapped (Linux), or None."""
    name = f"{_PROC_FD}/{fd}"
    return name if os.path.isdir(_PROC_FD) else None


def real_path(fd: int) -> str | None:
    """Where an open descriptor really is, or None where the system cannot say."""
    if os.path.isdir(_PROC_FD):
        try:
            return os.readlink(f"{_PROC_FD}/{fd}")
        except OSError:
            return None
    if sys.platform == "darwin":
        import fcntl

        try:
            raw = fcntl.fcntl(fd, _F_GETPATH, bytes(1024))
        except OSError:
            return None
        return os.fsdecode(raw.split(b"\0", 1)[0])
    return None


def open_fd(path: str, where: str | None = None) -> int:
    """A read-only descriptor of the regular file ``path``; ImageIOError naming the file and
    what to do otherwise. Under a read check: no link followed, real path checked."""
    where = where or path
    guarded = bool(_read_checks)
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if guarded:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageIOError(f"{where}: file not found; check the path and frame range") from None
    except OSError as ex:
        if guarded and ex.errno in (40, 62):  # ELOOP (Linux, macOS): the name is a link
            raise ImageIOError(
                f"{where}: is a symbolic link; the server reads only regular files (give the "
                "path of the file itself)"
            ) from None
        raise ImageIOError(f"{where}: cannot open ({ex.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageIOError(
                f"{where}: not a regular file (a folder, pipe or device); give an image file"
            )
        if guarded:
            real = real_path(fd)
            _run_checks(real if real is not None else os.path.realpath(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_binary(path: str, where: str | None = None):
    """A binary file object of the checked descriptor (the caller closes it)."""
    return os.fdopen(open_fd(path, where), "rb")
