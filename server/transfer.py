"""Files in and out of a job folder: safe names, resumable chunks, sha256, free-disk check.

An upload goes to ``<name>.part`` (written on a background thread, see :mod:`.part_writer`) and is
only renamed to ``<name>`` once its size and sha256 match what the client says; the size of the
``.part`` file is the offset to resume from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from void_vfx.errors import SpecError, TransferError
from void_vfx.job.naming import safe_component
from void_vfx.protocol.wire import MAX_CHUNK, file_sha256

from . import safe_fs
from .part_writer import settle, writer_for

PART_SUFFIX = ".part"
#: Where the worker records what a finished job wrote (the only files a download may read).
RECORD_NAME = "results.json"
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def safe_name(name: object) -> str:
    """Check a job-relative file name; refuse anything that could leave the job folder.

    Allowed: relative POSIX paths of plain components (spaces and letters of any script are
    fine). Refused: ``..``, absolute paths, backslashes, drive letters, NUL and other control
    characters, empty or hidden components (see :func:`void_vfx.job.naming.safe_component`).
    """
    if type(name) is not str or not name:
        raise TransferError(f"file name {name!r}: must be a non-empty string")
    bad = None
    if "\x00" in name or any(ord(c) < 32 for c in name):
        bad = "contains a NUL or control character"
    elif "\\" in name:
        bad = "contains a backslash (use / between folders)"
    elif name.startswith("/"):
        bad = "is an absolute path"
    elif _DRIVE_RE.match(name):
        bad = "starts with a drive letter"
    elif len(name) > 400:
        bad = "is longer than 400 characters"
    else:
        for part in name.split("/"):
            if part in ("", ".", ".."):
                bad = "has an empty, '.' or '..' component"
                break
            try:
                safe_component(part, "file name")
            except SpecError as ex:
                bad = f"component {part!r}: {str(ex).split(': ', 1)[1]}"
                break
            if part.endswith(PART_SUFFIX):
                bad = f"component {part!r} ends with the reserved suffix {PART_SUFFIX}"
                break
    if bad:
        raise TransferError(
            f"file name {name!r} {bad}; send job-relative names such as plate/p.0001.exr"
        )
    return name


def resolve(root: Path, name: str) -> Path:
    """``root / name`` after :func:`safe_name`, checked again after resolving symlinks."""
    path = (root / safe_name(name)).resolve()
    base = root.resolve()
    if base != path and base not in path.parents:
        raise TransferError(f"file name {name!r} resolves outside the job folder")
    return path


def check_free_space(folder: Path, needed: int, min_free: int) -> None:
    """Refuse when writing ``needed`` bytes would leave less than ``min_free`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free - needed < min_free:
        raise TransferError(
            f"not enough free disk space on the server in {folder}: {free / 1e9:.2f} GB free, "
            f"{(needed + min_free) / 1e9:.2f} GB required (keeps {min_free / 1e9:.2f} GB spare); "
            "free space there, delete old jobs, or start the server with another --data-dir"
        )


def sha256_file(path: Path) -> str:
    return file_sha256(path).hexdigest()


def upload_size(root: Path, name: str) -> int:
    """Bytes of ``name`` on disk (complete file or ``.part``), the offset to resume at."""
    final = resolve(root, name)
    if final.exists():
        return final.stat().st_size
    part = final.with_name(final.name + PART_SUFFIX)
    try:
        settle(part)
    except TransferError:
        pass  # the size on disk below is what the client must resume from
    return part.stat().st_size if part.exists() else 0


def write_chunk(root: Path, name: str, offset: int, data: bytes | memoryview, min_free: int) -> int:
    """Queue ``data`` at ``offset`` (which must be the size so far). Returns the new size.

    ``data`` may be a view of the received frame (no copy); the writer keeps it alive.
    """
    if not isinstance(data, bytes | memoryview) or len(data) > MAX_CHUNK:
        raise TransferError(f"{name}: a chunk must be bytes of at most {MAX_CHUNK} bytes")
    if isinstance(data, memoryview) and data.format != "B":
        raise TransferError(f"{name}: a chunk must be a flat byte string")
    final = resolve(root, name)
    if final.exists():
        raise TransferError(f"{name}: already uploaded and checked; delete the job to resend")
    part = final.with_name(final.name + PART_SUFFIX)
    part.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(part.parent, len(data), min_free)
    return writer_for(part).put(offset, data)


def finish_upload(root: Path, name: str, sha256: str, size: int) -> None:
    """Check the received file against the client's size and sha256, then make it visible."""
    final = resolve(root, name)
    part = final.with_name(final.name + PART_SUFFIX)
    written_sha = settle(part)  # hashed by the writer as it wrote: no read-back
    if final.exists() and not part.exists():
        got_size, got_sha = final.stat().st_size, sha256_file(final)
        if (got_size, got_sha) == (size, sha256):
            return  # a retried upload_done after a dropped reply
        raise TransferError(f"{name}: already uploaded with other contents")
    if not part.exists():
        raise TransferError(f"{name}: nothing was uploaded")
    got_size = part.stat().st_size
    if got_size != size:
        raise TransferError(f"{name}: the server holds {got_size} bytes, the client sent {size}")
    got_sha = written_sha or sha256_file(part)
    if got_sha != sha256:
        part.unlink()
        raise TransferError(f"{name}: sha256 mismatch (received data corrupt); upload it again")
    os.replace(part, final)


def record_results(root: Path | int, job_dir: Path) -> None:
    """After a job finished: note each file it wrote (name, size, device and inode) and the
    folder's own identity, read through the descriptor the job wrote through (``root`` may be
    that descriptor, or a folder name, opened here without following a link). Downloads
    serve these files and nothing else."""
    fd = root if isinstance(root, int) else safe_fs.open_dir(root, what="results folder")
    try:
        files = [
            {"name": name, "size": st.st_size, "id": safe_fs.identity(st)}
            for name, st in safe_fs.walk_files(fd)
            if not name.endswith(PART_SUFFIX)
        ]
        record = {
            "root": safe_fs.where(fd) or str(root),
            "root_id": safe_fs.identity(os.fstat(fd)),
            "files": files,
        }
    finally:
        if not isinstance(root, int):
            os.close(fd)
    tmp = job_dir / (RECORD_NAME + ".tmp")
    fd_tmp = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd_tmp, "w") as fh:
        fh.write(json.dumps(record))
    os.replace(tmp, job_dir / RECORD_NAME)


def load_record(job_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((job_dir / RECORD_NAME).read_text())
    except (OSError, ValueError) as ex:
        raise TransferError(
            f"{job_dir.name}: no record of the files this job wrote ({ex}); run the job again"
        ) from None


def open_result(root: Path, record: dict[str, Any], name: str) -> int:
    """A read-only descriptor of the result ``name``, only if it is the very file the job wrote:
    the folder opened without following a link and the same folder (device and inode) the job
    wrote into, then the file opened relative to it, no link, same device and inode. The
    caller closes it."""
    safe_name(name)
    entry = next((f for f in record["files"] if f["name"] == name), None)
    if entry is None:
        raise TransferError(f"{name}: not a result of this job")
    expect = record.get("root_id")
    if expect is None and os.path.realpath(root) != record["root"]:  # a record of an older server
        raise TransferError(f"{name}: the job's output folder {root} was moved or replaced")
    try:
        dfd = safe_fs.open_dir(root, expect, what="the job's output folder")
    except TransferError as ex:
        raise TransferError(f"{name}: {ex}") from None
    try:
        fd = safe_fs.open_beneath(dfd, name)
    except TransferError as ex:
        raise TransferError(f"{name}: cannot open the result ({ex})") from None
    finally:
        os.close(dfd)
    if safe_fs.identity(os.fstat(fd)) != list(entry["id"]):
        os.close(fd)
        raise TransferError(f"{name}: the result was replaced after the job wrote it")
    return fd


def read_chunk(root: Path, record: dict[str, Any], name: str, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of a recorded result from ``offset`` (empty at the end)."""
    if offset < 0 or size < 0:
        raise TransferError(f"{name}: offset and size must not be negative")
    fd = open_result(root, record, name)
    try:
        return os.pread(fd, min(size, MAX_CHUNK), offset)
    finally:
        os.close(fd)


def result_sha256(root: Path, record: dict[str, Any], name: str) -> str:

    h = hashlib.sha256()
    with os.fdopen(open_result(root, record, name), "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()
