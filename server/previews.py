"""Pictures of a job for hosts that cannot decode EXR: a before/after pair of one result frame
(the latest by default) and the job's contact sheet, as bounded PNG bytes.

The result frames are found and read through the job's output folder held as a descriptor: for
a running job the very folder reserved at submit (path mode: same device and inode, the
server's own, inside the write roots); for a finished one the folder and files recorded when it
finished (:func:`.transfer.record_results`), nothing else. Each file is read as
``/proc/self/fd/N/<name>`` (no link followed in its name, the read check of
:mod:`void_vfx.media.source_files` on the descriptor's real path); the plate is read as the
render reads it, under the same check.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from void_vfx.errors import TransferError
from void_vfx.job.spec import JobSpec

from . import safe_fs, transfer

#: Result frames by name: ``<stem>.<frame>.exr``.
_FRAME = re.compile(r"\.(-?\d+)\.exr$", re.IGNORECASE)
#: Pictures made at once, server-wide: each reads full plate frames into memory.
_MAKING = threading.BoundedSemaphore(2)
#: Pictures made lately, by job, frame and the result file's identity, size and time: a panel
#: that asks again for a running job's latest frame gets it at once until a new one is written.
_MADE: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
_MADE_MAX = 16
_MADE_LOCK = threading.Lock()


@contextmanager
def result_frames(store: Any, roots: Any, job_id: str) -> Iterator[tuple[str, dict[int, str]]]:
    """(a name of the held output folder, {frame: file name}, {frame: identity, size and time})
    of the frames the job has written; the folder stays held while the caller reads."""
    row = store.row(job_id, "state", "mode", "out_id")
    state, mode = row["state"], row["mode"]
    if state not in ("running", "done"):
        raise TransferError(
            f"job {job_id} is {state}: it has no result frame to show"
            + (" yet" if state in ("created", "queued") else "")
        )
    kept: dict[str, list] | None = None
    if state == "done":
        record = transfer.load_record(store.job_dir(job_id))
        expect = record.get("root_id")
        kept = {f["name"]: list(f["id"]) for f in record["files"]}
    else:
        expect = json.loads(row["out_id"]) if mode == "path" and row["out_id"] else None
    path = store.results_dir(job_id)
    fd = safe_fs.open_dir(path, expect, what="the job's output folder")
    try:
        st = os.fstat(fd)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise TransferError(f"job {job_id}: its output folder is not the server's own")
        real = safe_fs.where(fd)
        if mode == "path" and roots is not None and real is not None:
            roots.check(real, "write", "output.dir")
        frames: dict[int, str] = {}
        stamps: dict[int, tuple] = {}
        for name, fst in safe_fs.walk_files(fd):
            found = _FRAME.search(name)
            if found is None or "/" in name:
                continue
            if kept is not None and kept.get(name) != safe_fs.identity(fst):
                continue  # not a file the job wrote (or replaced since)
            frames[int(found.group(1))] = name
            stamps[int(found.group(1))] = (*safe_fs.identity(fst), fst.st_size, fst.st_mtime_ns)
        yield safe_fs.dir_name(fd, str(path)), frames, stamps
    finally:
        os.close(fd)


def _spec(store: Any, job_id: str) -> Any:

    return JobSpec.from_json(store.row(job_id, "spec")["spec"])


def frame_preview(store: Any, roots: Any, job_id: str, frame: int | None) -> dict[str, Any]:
    """{"frame", "first", "last", "before", "after"}: PNG bytes of ``frame`` (None: the latest
    written) as plate and result, and the range of frames written so far."""
    from void_vfx.review.preview import frame_pair

    if frame is not None and type(frame) is not int:
        raise TypeError(f"frame: expected a whole number or None, got {type(frame).__name__}")
    spec = _spec(store, job_id)
    with result_frames(store, roots, job_id) as (folder, frames, stamps):
        if not frames:
            raise TransferError(f"job {job_id}: no result frame written yet")
        chosen = max(frames) if frame is None else frame
        if chosen not in frames:
            raise TransferError(
                f"job {job_id}: frame {chosen} has no result file (it wrote frames "
                f"{min(frames)}-{max(frames)}; a patch output has no file for an unchanged frame)"
            )
        key = (job_id, chosen, stamps[chosen])
        with _MADE_LOCK:
            made = _MADE.get(key)
        if made is None:
            with _MAKING:
                made = frame_pair(spec, chosen, f"{folder}/{frames[chosen]}")
            with _MADE_LOCK:
                _MADE[key] = made
                while len(_MADE) > _MADE_MAX:
                    _MADE.popitem(last=False)
        before, after = made
    return {
        "frame": chosen,
        "first": min(frames),
        "last": max(frames),
        "before": before,
        "after": after,
    }


def contact_sheet(store: Any, roots: Any, job_id: str) -> dict[str, Any]:
    """{"name", "contact_sheet"}: a finished job's contact sheet as PNG bytes."""
    from void_vfx.review.preview import contact_sheet_png

    if store.row(job_id, "state")["state"] != "done":
        raise TransferError(f"job {job_id} is not done: its review comes when it is")
    spec = _spec(store, job_id)
    with result_frames(store, roots, job_id) as (folder, frames, _):
        if not frames:
            raise TransferError(f"job {job_id}: it wrote no frame to review")
        with _MAKING:
            data = contact_sheet_png(spec, [f"{folder}/{frames[n]}" for n in sorted(frames)])
    return {"name": os.path.basename(spec.plate), "contact_sheet": data}
