"""Folders and files the server touches for a job, reached through descriptors it holds.

A folder is opened once (never through a link in its last component), checked after opening
(a directory, the identity recorded when it was reserved, owned by the server's user, inside
the roots) and then used only through its descriptor: files inside are opened relative to it
with ``dir_fd`` and ``O_NOFOLLOW``, one component at a time, and deleted relative to it. A
folder swapped for a symlink by anyone, before the job starts or while it runs, therefore
changes nothing the server reads, writes or deletes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from void_vfx.errors import TransferError
from void_vfx.media.source_files import fd_name, real_path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)


def identity(st: os.stat_result) -> list[int]:
    """What names a file for good on this machine: device and inode."""
    return [int(st.st_dev), int(st.st_ino)]


def open_dir(
    path: str | os.PathLike, expect: list[int] | None = None, *, what: str = "folder"
) -> int:
    """A descriptor of the folder ``path`` (not a link to one), optionally the very folder
    whose identity was recorded. TransferError says what changed."""
    try:
        fd = os.open(path, DIR_FLAGS)
    except OSError as ex:
        raise TransferError(
            f"{what} {path}: was moved or replaced (cannot open it as a folder: {ex.strerror})"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode) or (expect is not None and identity(st) != list(expect)):
        os.close(fd)
        raise TransferError(f"{what} {path}: the folder was moved or replaced since the job began")
    return fd


def dir_name(fd: int, fallback: str) -> str:
    """A name for the folder behind ``fd`` that cannot be swapped (Linux), else ``fallback``."""
    return fd_name(fd) or fallback


def where(fd: int) -> str | None:
    """The real path of an open descriptor (None where the system cannot say)."""
    return real_path(fd)


def open_beneath(dir_fd: int, name: str, flags: int = FILE_FLAGS) -> int:
    """Open the job-relative ``name`` (``a/b.exr``) under ``dir_fd``, one component at a time,
    following no link; the last must be a regular file. The caller closes the descriptor."""
    parts = name.split("/")
    here = dir_fd
    try:
        for part in parts[:-1]:
            nxt = os.open(part, DIR_FLAGS, dir_fd=here)
            if here != dir_fd:
                os.close(here)
            here = nxt
        fd = os.open(parts[-1], flags, dir_fd=here)
    except OSError as ex:
        raise TransferError(f"{name}: cannot open ({ex.strerror})") from None
    finally:
        if here != dir_fd:
            os.close(here)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TransferError(f"{name}: not a regular file")
    if flags & getattr(os, "O_NONBLOCK", 0) and hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def walk_files(
    dir_fd: int, prefix: str = "", depth: int = 0
) -> Iterator[tuple[str, os.stat_result]]:
    """(relative name, lstat) of every regular file under ``dir_fd``, sorted; links and hidden
    names are skipped, sub-folders are entered through descriptors (at most 8 deep)."""
    for entry in sorted(os.listdir(dir_fd)):
        if entry.startswith("."):
            continue
        st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            yield prefix + entry, st
        elif stat.S_ISDIR(st.st_mode) and depth < 8:
            try:
                sub = os.open(entry, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                yield from walk_files(sub, f"{prefix}{entry}/", depth + 1)
            finally:
                os.close(sub)


def remove_created(dir_fd: int, before: set[str], uid: int | None = None) -> list[str]:
    """Delete, relative to ``dir_fd``, the regular files that appeared since ``before`` (the
    names listed when the job began) and that the server's user owns: only what the job wrote.
    Links, folders and other users' files stay. Returns the names removed."""
    uid = os.getuid() if uid is None and hasattr(os, "getuid") else uid
    removed = []
    try:
        names = set(os.listdir(dir_fd)) - before
    except OSError:
        return removed
    for name in sorted(names):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or (uid is not None and st.st_uid != uid):
                continue
            os.unlink(name, dir_fd=dir_fd)
            removed.append(name)
        except OSError:
            continue
    return removed


def rmdir_if_empty(path: str | os.PathLike, expect: list[int] | None) -> bool:
    """Remove the empty folder ``path`` if it is still the folder recorded (``expect``); a
    link or another folder put in its place stays. True when removed."""
    path = os.fspath(path)
    parent, name = os.path.split(path.rstrip("/"))
    try:
        pfd = os.open(parent or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    except OSError:
        return False
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode) or (expect is not None and identity(st) != list(expect)):
            return False
        os.rmdir(name, dir_fd=pfd)
        return True
    except OSError:
        return False
    finally:
        os.close(pfd)


def make_private(folder: str | os.PathLike) -> int:
    """Modes 0700 for folders and 0600 for files under ``folder`` (through descriptors, no link
    followed), for what was written with the process's umask (a job's windows and results).
    Returns how many modes were changed."""
    try:
        fd = os.open(folder, DIR_FLAGS)
    except OSError:
        return 0
    try:
        return _private_at(fd, 0)
    finally:
        os.close(fd)


def _private_at(fd: int, depth: int) -> int:
    changed = _tighten(fd, 0o700)
    for name in os.listdir(fd):
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and depth < 8:
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
                try:
                    changed += _private_at(sub, depth + 1)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                f = os.open(name, FILE_FLAGS, dir_fd=fd)
                try:
                    changed += _tighten(f, 0o600)
                finally:
                    os.close(f)
        except OSError:
            continue
    return changed


def _tighten(fd: int, mode: int) -> int:
    st = os.fstat(fd)
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & mode)
        return 1
    return 0
