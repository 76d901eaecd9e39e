"""Job files on the client side: where they are, what they are called on the server.

Stdlib only (host Pythons import the client, which imports this). Stream mode renames every source
to a safe job-relative name (``plate/plate.####.exr``...) so the server never sees a user's path;
results are renamed back to the local version folder's stem on the way down.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from void_vfx.errors import SpecError, TransferError
from void_vfx.job.naming import output_dir, plate_stem, safe_component
from void_vfx.job.spec import JobSpec, file_patterns, set_file_pattern
from void_vfx.media.sequences import Sequence, find_sequence
from void_vfx.protocol.paths import config_dir
from void_vfx.protocol.wire import PROBE_HEAD_BYTES


class BackgroundHash:
    """sha256 on a helper thread: hashing a chunk overlaps sending (or writing) the next one.

    hashlib releases the GIL on big buffers, so this runs truly in parallel. At most two chunks
    wait for the hasher, which bounds memory. Use as a context manager; ``hexdigest`` after it.
    """

    def __init__(self, h: Any) -> None:
        self._h = h
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="void-vfx-sha256")
        self._pending: list = []

    def update(self, data: bytes) -> None:
        if len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._h.update, data))

    def hexdigest(self) -> str:
        self.__exit__()
        return self._h.hexdigest()

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(self, *exc: Any) -> None:
        while self._pending:
            self._pending.pop(0).result()
        self._pool.shutdown(wait=True)


def result_name(name: object) -> str:
    """A result name the server listed, if it is a relative path of plain components."""
    if type(name) is not str or not name:
        raise TransferError(f"the server listed a result named {name!r}; refusing it")
    try:
        for part in name.split("/"):
            safe_component(part, "result name")
    except SpecError as ex:
        raise TransferError(f"the server listed an unsafe result name: {ex}") from None
    return name


def local_name(name: str, stem: str) -> str:
    """Rename ``<anything>.<frame>.exr`` to ``<stem>.<frame>.exr``; other files keep their name.
    The result is one checked path component."""
    parts = result_name(name).rsplit("/", 1)[-1].split(".")
    if len(parts) >= 3 and parts[-2].lstrip("-").isdigit():
        local = f"{stem}.{parts[-2]}.{parts[-1]}"
    else:
        local = ".".join(parts)
    return safe_component(local, "result name")


def checked_spec(spec: Any) -> JobSpec:
    """A spec (a JobSpec, dict or JSON text) as this side's one parsed copy, checked (size,
    bounds, exact types) before anything is sent; never the caller's own object."""
    if isinstance(spec, JobSpec):
        text = spec.to_json()
    elif isinstance(spec, str):
        text = spec
    else:
        text = json.dumps(spec)
    return JobSpec.from_json(text)  # SpecError naming the field, here rather than from the server


def source_folders(spec: JobSpec) -> set[str]:
    """The resolved folders of every source (plate, mattes...): nothing is written in them."""
    return {
        os.path.realpath(find_sequence(p).directory or ".") for p in file_patterns(spec).values()
    }


def existing_folder(folder: str) -> str:
    """``folder`` or its nearest existing ancestor (which may be a file, see below)."""
    path = os.path.abspath(folder)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def check_output_folder(folder: str) -> None:
    """Refuse, before any work starts, an output folder this user cannot write (or create).
    Read-only: nothing is created or written to find out."""
    there = existing_folder(folder)
    what = folder if there == os.path.abspath(folder) else f"{folder} (in {there})"
    if not os.path.isdir(there):
        raise TransferError(
            f"output folder {what}: {there} is a file, not a folder; choose another with -o DIR "
            "(output.dir in a spec)"
        )
    if not os.access(there, os.W_OK | os.X_OK):
        raise TransferError(
            f"output folder {what} is not writable by this user; choose another with -o DIR "
            "(output.dir in a spec)"
        )


def plate_proof(spec: JobSpec) -> tuple[str, int, int, str]:
    """(path, size, mtime_ns, sha256 of the first 64 KiB) of the job's first plate frame: a
    read-only proof that a server sees the same file (path mode), nothing written anywhere."""
    seq = find_sequence(spec.plate)
    path = os.path.abspath(seq.path(None if seq.is_still else seq.frames(spec.frame_range)[0]))
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        head = fh.read(PROBE_HEAD_BYTES)
    return path, st.st_size, st.st_mtime_ns, hashlib.sha256(head).hexdigest()


def output_folder(spec: JobSpec) -> str:
    """The absolute folder the job's version folders go into (see
    :func:`void_vfx.job.naming.output_dir`)."""
    return output_dir(spec)


def absolutise(spec: JobSpec) -> None:
    for role, path in file_patterns(spec).items():
        set_file_pattern(spec, role, os.path.abspath(path))


def stream_rewrite(spec: JobSpec) -> list[tuple[str, str]]:
    """Rename every source to a safe job-relative name; return (upload name, local file) pairs."""
    plate_seq = find_sequence(spec.plate)
    rng = spec.frame_range
    frames = plate_seq.frames(rng)
    if not plate_seq.is_still:
        spec.frame_range = (frames[0], frames[-1])
    if not spec.output.name:
        spec.output.name = plate_stem(spec.plate)
    uploads: list[tuple[str, str]] = []
    for role, src in file_patterns(spec).items():
        seq = find_sequence(src)
        suffix = seq.suffix if seq.suffix.replace(".", "").isalnum() else ".exr"
        if seq.is_still:
            files = {None: seq.path()}
            remote = Sequence(role, role + suffix, "", 1, "", None)
        else:
            files = {f: seq.scan().files.get(f) or seq.path(f) for f in seq.frames(rng or None)}
            files = {f: p for f, p in files.items() if f is None or frames[0] <= f <= frames[-1]}
            remote = Sequence(role, role + ".", suffix, max(seq.padding, 4), "hash", None)
        for frame, local in files.items():
            uploads.append((remote.path(frame).replace(os.sep, "/"), local))
        set_file_pattern(spec, role, remote.format("hash").replace(os.sep, "/"))
    return uploads


def _memo_path(job_id: str) -> Path:
    if type(job_id) is not str or not re.fullmatch(r"[0-9A-Za-z]{1,64}", job_id):
        raise ValueError(f"job id {str(job_id)[:40]!r}: not a job id")  # never a path
    return config_dir() / "jobs" / f"{job_id}.json"


def save_memo(job_id: str, memo: dict) -> None:
    """Remember where a job's results go, so a restarted host can still download them."""
    try:
        path = _memo_path(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(memo))
    except (OSError, ValueError):
        pass  # a read-only home only costs the folder name after a host restart


def load_memo(job_id: str) -> dict:
    if not (job_id.isalnum() and len(job_id) <= 64):
        return {}
    try:
        return json.loads(_memo_path(job_id).read_text())
    except (OSError, ValueError):
        return {}
