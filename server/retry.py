"""Sending a finished job again from what the server holds: its spec, and in stream mode the
files uploaded for it (linked into the new job's uploads, not copied nor sent again).

The spec kept is the one the job ran: a path-mode spec names the version folder it got (made 0
here, so the retry gets the next free version); a stream-mode spec names the job's own upload
folder (made job-relative again here, so the new job's submit puts its own folder back).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from void_vfx.errors import ServerError
from void_vfx.job.spec import FILE_FIELDS

from . import safe_fs, transfer


def spec_to_send_again(spec_text: str, mode: str, inputs: Path) -> str:
    """The stored spec as a client would send it: stream names relative to the job's uploads,
    path mode with the next free version."""
    spec = json.loads(spec_text)
    out = spec.setdefault("output", {})
    if mode == "path":
        out["version"] = 0
        return json.dumps(spec)
    out.pop("dir", None)
    for key in FILE_FIELDS:
        value = spec.get(key)
        holder = value if type(value) is dict else spec
        field = "path" if type(value) is dict else key
        path = holder.get(field)
        if type(path) is not str:
            continue
        try:
            holder[field] = Path(path).relative_to(inputs).as_posix()
        except ValueError:
            raise ServerError(
                f"{key}: {path} is not among the job's uploads; send the job again from the host"
            ) from None
    return json.dumps(spec)


def check_uploads_complete(job_id: str, inputs: Path) -> None:
    partial = [p.name for p in inputs.rglob("*" + transfer.PART_SUFFIX)]
    if partial:
        raise ServerError(
            f"job {job_id}: its uploads were never finished ({partial[0]}); send it again "
            "from the host that made it"
        )


def link_uploads(src: Path, dst: Path) -> int:
    """Every uploaded file of ``src`` into ``dst`` (both job upload folders, reached through
    descriptors, no link followed): a hard link, or a copy where the disk refuses one.
    Returns how many files."""
    sfd = safe_fs.open_dir(src, what="the job's uploads")
    try:
        dfd = safe_fs.open_dir(dst, what="the new job's uploads")
        try:
            return _link_tree(sfd, dfd, 0)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _link_tree(sfd: int, dfd: int, depth: int) -> int:
    count = 0
    for entry in sorted(os.listdir(sfd)):
        if entry.startswith(".") or entry.endswith(transfer.PART_SUFFIX):
            continue
        st = os.stat(entry, dir_fd=sfd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            try:
                os.link(entry, entry, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
            except OSError:
                _copy_at(sfd, dfd, entry)
            count += 1
        elif stat.S_ISDIR(st.st_mode) and depth < 8:
            os.mkdir(entry, 0o700, dir_fd=dfd)
            sub_s = os.open(entry, safe_fs.DIR_FLAGS, dir_fd=sfd)
            try:
                sub_d = os.open(entry, safe_fs.DIR_FLAGS, dir_fd=dfd)
                try:
                    count += _link_tree(sub_s, sub_d, depth + 1)
                finally:
                    os.close(sub_d)
            finally:
                os.close(sub_s)
    return count


def _copy_at(sfd: int, dfd: int, name: str) -> None:
    src = safe_fs.open_beneath(sfd, name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(src, "rb") as fin, os.fdopen(os.open(name, flags, 0o600, dir_fd=dfd), "wb") as f:
        shutil.copyfileobj(fin, f, 4 * 1024 * 1024)


def note_retry(store: Any, old: str, new: str, host: str, peer: str) -> None:
    """The new job belongs to the old one's sender; its events say whose job it repeats."""
    store.update(new, host=str(host)[:200])
    store.add_event(new, "message", f"sent again from {peer or 'a client'}: a retry of job {old}")
