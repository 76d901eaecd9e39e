"""The spec each host sent, kept beside the client's job notes so the job panel can retry a job;
where a job's review lies on this machine.

A server sends again a job it still holds (``Client.retry``); for one it no longer holds, or an
older server, a host that submits saves the spec here (``<config>/jobs/<id>.spec.json``).
Standard library only: Nuke's Python imports it.
"""

from __future__ import annotations

import os

from void_vfx.protocol.paths import config_dir

_MAX_BYTES = 1 << 20


def _path(job_id: str) -> str | None:
    if not (isinstance(job_id, str) and job_id.isalnum() and len(job_id) <= 64):
        return None
    return os.path.join(str(config_dir()), "jobs", f"{job_id}.spec.json")


def save_spec(job_id: str, spec_json: str) -> bool:
    """Remember a job's spec; False when the config folder cannot be written (no retry then)."""
    path = _path(job_id)
    if path is None:
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(spec_json)
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def load_spec(job_id: str) -> str | None:
    """The spec JSON a host saved for ``job_id``, or None."""
    path = _path(job_id)
    if path is None or not os.path.isfile(path) or os.path.getsize(path) > _MAX_BYTES:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def review_folder(job_id: str, result_folder: str = "") -> str | None:
    """Where a job's review is on this machine: ``<version folder>_review`` beside its results
    when they are here (where ``void-vfx remove --review`` writes it), else one in the config
    folder's job notes. None for a malformed id."""
    if result_folder:
        return result_folder.rstrip("/\\") + "_review"
    path = _path(job_id)
    return None if path is None else os.path.join(os.path.dirname(path), f"{job_id}_review")


def save_contact_sheet(folder: str, png: bytes) -> str | None:
    """Write ``contact_sheet.png`` into ``folder`` (made if missing) under a temporary name
    renamed into place; its path, or None where the folder cannot be written."""
    path = os.path.join(folder, "contact_sheet.png")
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".contact_sheet.{os.getpid()}.tmp.png")
        with open(tmp, "wb") as fh:
            fh.write(png)
        os.replace(tmp, path)
        return path
    except OSError:
        return None
