"""The spec each host sent, kept beside the client's job notes so the job panel can retry a job.

The server does not hand a job's spec back, so a host that submits saves it here
(``<config>/jobs/<id>.spec.json``). Standard library only: Nuke's Python imports it.
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
