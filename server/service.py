"""The RPyC service: a short list of methods that take and return plain values only.

Nothing else is reachable: the connection (:class:`ServerConnection`) answers only calls of
exposed methods on the root (no getattr, dir, setattr, pickle...), ``_rpyc_getattr`` answers
only the names in ``EXPOSED`` (no dunder, no private name, no module), every argument must be a
plain value of an exact built-in type (a reference to a client object is refused as it is
decoded), and every result is checked to be plain before it leaves, so no server object but the
root itself is ever handed out as a netref. Dicts and lists leave as tuples
(:func:`void_vfx.protocol.wire.to_wire`) because RPyC would send a dict by reference. Each
connection gets its own service object. Long work returns an id that the client polls.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rpyc

from void_vfx.errors import ServerError, SpecError, TransferError
from void_vfx.job.naming import reserve_for_spec
from void_vfx.job.spec import JobSpec, file_patterns, set_file_pattern
from void_vfx.media.colour_rules import check_named_colour
from void_vfx.model_facts import FINISHED_STATES
from void_vfx.protocol.wire import API_VERSION, MAX_CHUNK, PROBE_HEAD_BYTES, PROBE_RE, to_wire

from . import previews, retry, safe_fs, transfer
from .connection import _PLAIN_ARGS, ServerConnection, _is_plain
from .jobs import JobStore
from .roots import Roots

log = logging.getLogger("void_vfx_server.service")

MODES = ("stream", "path")


def _plain(method):
    """Refuse non-plain arguments; send the result as nested tuples, checked plain."""

    @functools.wraps(method)
    def wrapper(self, *args):
        if not _is_plain(args, 0, _PLAIN_ARGS):
            raise TypeError(f"{method.__name__}: arguments must be plain values")
        result = to_wire(method(self, *args))
        if not _is_plain(result):
            raise TypeError(f"{method.__name__}: internal error, result is not a plain value")
        return result

    return wrapper


@dataclass(frozen=True)
class ServerContext:
    """What every connection's service shares: the store, the server's facts, its limits."""

    store: JobStore
    info: dict[str, Any]
    min_free: int
    roots: Roots
    #: The spec engines this server runs (``JobSpec.engine`` values).
    engines: tuple[str, ...]
    engine_name: str
    #: The server's bounds (:class:`.limits.Limits`) and the data folder's quota.
    limits: Any = None
    quota: Any = None


class VoidVfxService(rpyc.Service):
    """One instance per connection (made by the listener); all share one :class:`ServerContext`."""

    ALIASES = ("VOIDVFX",)
    _protocol = ServerConnection
    EXPOSED = frozenset(
        (
            "info",
            "submit",
            "probe_path",
            "probe_file",
            "check_space",
            "upload",
            "upload_status",
            "upload_done",
            "start",
            "status",
            "events",
            "cancel",
            "list_jobs",
            "list_results",
            "download",
            "delete",
            "preview",
            "review_sheet",
            "retry",
        )
    )

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._store = ctx.store
        #: Who this connection is (recorded with each job it submits, shown by ``jobs``).
        self._peer = ""
        #: What a client sees of the root: a name and a constant (RPyC would send its class's
        #: and its own memory address, telling an attacker where the heap is).
        self.____id_pack__ = ("void_vfx_server.service.VoidVfxService", 1, 1)

    def on_connect(self, conn: Any) -> None:
        creds = conn._config.get("credentials") or {}
        self._peer = str(creds.get("peer", "")) if isinstance(creds, dict) else ""

    def _rpyc_getattr(self, name: str) -> Any:
        if type(name) is not str:
            raise AttributeError("access denied")
        if name.startswith("exposed_"):
            name = name[len("exposed_") :]
        if name not in self.EXPOSED:
            raise AttributeError(f"access to {name!r} denied")
        return getattr(self, "exposed_" + name)

    def _rpyc_setattr(self, name: str, value: Any) -> None:
        raise AttributeError("access denied")

    def _rpyc_delattr(self, name: str) -> None:
        raise AttributeError("access denied")

    # -- info and jobs --------------------------------------------------------------------------
    @_plain
    def exposed_info(self) -> dict:
        return dict(self._ctx.info, api_version=API_VERSION)

    @_plain
    def exposed_submit(self, spec_json: str, mode: str = "stream") -> str:
        """Register a job; stream mode rewrites its job-relative file names into the job folder,
        path mode checks every path against the server's roots and reserves the version folder."""
        if mode not in MODES:
            raise ServerError(f"mode {mode!r}: use 'stream' or 'path'")
        # The one parse on this side: bounded size, exact types, validated. The job is edited
        # as a JobSpec and stored as its JSON, which the worker parses once in turn.
        spec = JobSpec.from_json(spec_json)
        # A host without OCIO (Nuke's, Resolve's Python) cannot check a colour name in a custom
        # config itself: refused here, before any frame is uploaded.
        check_named_colour(spec)
        self._check_engine(spec.engine)
        self._check_quotas(len(spec_json))
        if mode == "path":
            _require_absolute(spec)
            self._ctx.roots.check_spec(spec)
        job_id = self._store.create(spec_json, mode, spec.priority, self._peer)
        try:
            if mode == "stream":
                _rebase_paths(spec, self._store.inputs_dir(job_id))
                spec.output.dir = str(self._store.job_dir(job_id) / "results")
            else:
                out = _reserve_path_mode_output(spec)
                self._store.update(job_id, out_dir=str(out))
                ident = self._check_reserved(out)
                self._store.update(job_id, out_id=json.dumps(ident))
            spec.validate()  # what the worker will run is a valid spec too
            self._store.update(job_id, spec=spec.to_json(indent=None))
        except Exception:
            self._store.delete(job_id)
            raise
        return job_id

    def _check_quotas(self, spec_bytes: int) -> None:
        """Open jobs, data-folder size and free disk, before anything is stored."""
        limits = self._ctx.limits
        if limits is not None and self._store.count_open() >= limits.max_open_jobs:
            raise ServerError(
                f"this server holds {limits.max_open_jobs} unfinished jobs already; start, cancel "
                "or delete some ('void-vfx jobs'), or start it with a higher --max-open-jobs"
            )
        # The spec is stored twice (as sent, and as run) and its events beside it.
        needed = 4 * spec_bytes + 64 * 1024
        transfer.check_free_space(self._store.data_dir, needed, self._ctx.min_free)
        if self._ctx.quota is not None:
            self._ctx.quota.check(needed, "submit")

    def _check_reserved(self, out: Path) -> list[int]:
        """The version folder just reserved, opened without following a link: a real folder of
        the server's own, inside the write roots. Its identity is kept; the worker and downloads
        use that very folder, whatever its name points at later."""
        fd = safe_fs.open_dir(out, what="output folder")
        try:
            st = os.fstat(fd)
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                raise ServerError(f"output.dir: {out} was replaced by another user's folder")
            real = safe_fs.where(fd)
            if real is not None:
                try:
                    self._ctx.roots.check(real, "write", "output.dir")
                except ServerError:  # made through a swapped parent: take the empty folder back
                    safe_fs.rmdir_if_empty(out, safe_fs.identity(st))
                    raise
            return safe_fs.identity(st)
        finally:
            os.close(fd)

    def _check_engine(self, wanted: str) -> None:
        if wanted in self._ctx.engines:
            return
        runs = " or ".join(self._ctx.engines)
        hint = (
            "start a server with VOID: void-vfx serve --engine void --weights "
            "/models/CogVideoX-Fun-V1.5-5b-InP --checkpoints /models/void-model"
            if wanted == "void"
            else "start one with: void-vfx serve --engine preview"
        )
        raise SpecError(
            "engine",
            f"the job asks for the {wanted!r} engine but this server runs {runs} "
            f"({self._ctx.engine_name}); {hint}, or set the job's engine to "
            f"{self._ctx.engines[0]!r} (--engine {self._ctx.engines[0]})",
        )

    @_plain
    def exposed_probe_path(self, path: str, sha256: str) -> bool:
        """True when this server reads the client's probe file (in the output folder, inside the
        server's write roots) with the expected contents."""
        p = Path(path)
        if not p.is_absolute() or not PROBE_RE.match(p.name):
            raise TransferError(f"{path}: not a void-vfx probe file")
        try:
            folder = self._ctx.roots.check(p.parent, "write", "probe")  # the name is hidden
            fd = _open_probe(folder / p.name)
        except (OSError, ServerError):
            return False
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(4096)
        return hashlib.sha256(data).hexdigest() == sha256

    @_plain
    def exposed_probe_file(self, path: str, size: int, mtime_ns: int, head_sha256: str) -> bool:
        """True when this server sees the client's file (a plate frame) as the client does: same
        size, modification time and sha256 of its first 64 KiB. Nothing is written anywhere."""
        try:
            real = self._ctx.roots.check(path, "read", "probe")
            fd = _open_probe(real)
        except (OSError, ServerError):
            return False
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                return False
            head = fh.read(PROBE_HEAD_BYTES)
        return hashlib.sha256(head).hexdigest() == head_sha256

    @_plain
    def exposed_start(self, job_id: str) -> str:
        inputs = self._store.inputs_dir(job_id)
        partial = [
            p.relative_to(inputs).as_posix() for p in inputs.rglob("*" + transfer.PART_SUFFIX)
        ]
        if partial:
            raise TransferError(
                f"job {job_id}: uploads not finished ({', '.join(sorted(partial)[:3])}"
                f"{' ...' if len(partial) > 3 else ''}); resume them before starting"
            )
        self._store.enqueue(job_id)
        return "queued"

    @_plain
    def exposed_status(self, job_id: str) -> dict:
        return self._store.status(job_id)

    @_plain
    def exposed_events(self, job_id: str, cursor: int = 0) -> tuple:
        events, new_cursor = self._store.events(job_id, _int(cursor, "cursor"))
        return tuple(events), new_cursor

    @_plain
    def exposed_cancel(self, job_id: str) -> str:
        return self._store.request_cancel(job_id)

    @_plain
    def exposed_list_jobs(self) -> tuple:
        return tuple(self._store.list())

    @_plain
    def exposed_delete(self, job_id: str) -> bool:
        self._store.delete(job_id)
        if self._ctx.quota is not None:
            self._ctx.quota.invalidate()
        return True

    # -- transfer -------------------------------------------------------------------------------
    def _inputs(self, job_id: str) -> Path:
        row = self._store.row(job_id, "state", "mode")
        if row["state"] != "created":
            raise TransferError(f"job {job_id} is {row['state']}: uploads are closed")
        if row["mode"] != "stream":
            raise TransferError(f"job {job_id} is a path-mode job: nothing to upload")
        self._store.touch(job_id)  # an upload in progress is no abandoned job
        return self._store.inputs_dir(job_id)

    @_plain
    def exposed_check_space(self, job_id: str, nbytes: int) -> bool:
        """Refuse a whole upload up front when the job's files would not fit on the disk."""
        nbytes = _int(nbytes, "nbytes")
        if nbytes < 0:
            raise TransferError(f"job {job_id}: upload size must not be negative")
        transfer.check_free_space(self._inputs(job_id), nbytes, self._ctx.min_free)
        if self._ctx.quota is not None and self._ctx.quota.max_bytes > 0:
            used = self._ctx.quota.used()
            if used + nbytes > self._ctx.quota.max_bytes:
                self._ctx.quota.check(nbytes, f"job {job_id}")  # raises, saying what to do
        return True

    @_plain
    def exposed_upload(self, job_id: str, name: str, offset: int, data: bytes) -> int:
        inputs = self._inputs(job_id)
        if self._ctx.quota is not None and type(data) in (bytes, memoryview):
            self._ctx.quota.check(len(data), f"{name}")
        return transfer.write_chunk(inputs, name, _int(offset, "offset"), data, self._ctx.min_free)

    @_plain
    def exposed_upload_status(self, job_id: str, name: str) -> int:
        if self._store.row(job_id, "mode")["mode"] != "stream":
            raise TransferError(f"job {job_id} is a path-mode job: nothing to upload")
        return transfer.upload_size(self._store.inputs_dir(job_id), name)

    @_plain
    def exposed_upload_done(self, job_id: str, name: str, sha256: str, size: int) -> bool:
        transfer.finish_upload(self._inputs(job_id), name, sha256, _int(size, "size"))
        return True

    def _finished(self, job_id: str) -> tuple[Path, dict]:
        """A done job's output folder and the record of what it wrote; refused otherwise."""
        row = self._store.row(job_id, "state", "out_dir")
        if row["state"] != "done":
            raise TransferError(f"job {job_id} is {row['state']}: results come when it is done")
        job_dir = self._store.job_dir(job_id)
        return self._store.results_dir(job_id), transfer.load_record(job_dir)

    @_plain
    def exposed_list_results(self, job_id: str) -> tuple:
        root, record = self._finished(job_id)
        return tuple(_manifest(self._store.job_dir(job_id), root, record))

    @_plain
    def exposed_download(self, job_id: str, name: str, offset: int, size: int) -> bytes:
        root, record = self._finished(job_id)
        offset, size = _int(offset, "offset"), _int(size, "size")
        return transfer.read_chunk(root, record, name, offset, min(size, MAX_CHUNK))

    # -- pictures and retry (hosts without numpy or OpenImageIO) --------------------------------
    @_plain
    def exposed_preview(self, job_id: str, frame: int | None = None) -> dict:
        """{"frame", "first", "last", "before", "after"}: one result frame (None: the latest
        written) and its plate as small PNGs, for a running or finished job."""

        return previews.frame_preview(self._store, self._ctx.roots, job_id, frame)

    @_plain
    def exposed_review_sheet(self, job_id: str) -> dict:
        """{"name", "contact_sheet"}: a finished job's contact sheet as a PNG."""

        return previews.contact_sheet(self._store, self._ctx.roots, job_id)

    @_plain
    def exposed_retry(self, job_id: str) -> str:
        """Send a finished job again as a new job, for the same sender, started at once: the
        spec it ran (path mode: the next free version), its uploads linked (stream mode)."""

        row = self._store.row(job_id, "state", "mode", "spec", "host")
        if row["state"] not in FINISHED_STATES:
            raise ServerError(
                f"job {job_id} is {row['state']}: only a finished job is sent again (cancel it "
                f"first: void-vfx cancel {job_id})"
            )
        old_inputs = self._store.inputs_dir(job_id)
        if row["mode"] == "stream":
            retry.check_uploads_complete(job_id, old_inputs)
        text = retry.spec_to_send_again(row["spec"], row["mode"], old_inputs)
        new_id = self.exposed_submit(text, row["mode"])
        try:
            if row["mode"] == "stream":
                retry.link_uploads(old_inputs, self._store.inputs_dir(new_id))
            retry.note_retry(self._store, job_id, new_id, row["host"], self._peer)
            self.exposed_start(new_id)
        except Exception:
            self._store.request_cancel(new_id)  # a reserved version folder goes with it
            self._store.delete(new_id)
            raise
        return new_id


def _open_probe(path: Path) -> int:
    """A regular file opened without following a link and without blocking (a FIFO would
    wait for a writer forever); OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path}: not a regular file")
    os.set_blocking(fd, True)
    return fd


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise TypeError(f"{what}: expected a whole number, got {type(value).__name__}")
    return value


def _manifest(job_dir: Path, root: Path, record: dict) -> list[dict]:
    """name, size, sha256 of every recorded result; hashed once and kept in the job folder."""
    cache = job_dir / "manifest.json"
    stamp = [[f["name"], f["size"], f["id"]] for f in record["files"]]
    try:
        saved = json.loads(cache.read_text())
        if saved["stamp"] == stamp:
            return saved["results"]
    except (OSError, ValueError, KeyError):
        pass
    results = [
        {"name": name, "size": size, "sha256": transfer.result_sha256(root, record, name)}
        for name, size, _ in stamp
    ]
    tmp = cache.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"stamp": stamp, "results": results}))
    tmp.replace(cache)
    return results


def _rebase_paths(spec: JobSpec, inputs: Path) -> None:
    """Stream mode: every file pattern must be a safe job-relative name; make it absolute."""
    for key, path in file_patterns(spec).items():
        transfer.safe_name(path)
        set_file_pattern(spec, key, str(inputs / path))


def _require_absolute(spec: JobSpec) -> None:
    for key, path in file_patterns(spec).items():
        if not Path(path).is_absolute():
            raise ServerError(f"{key}: path mode needs absolute paths, got {path!r}")
    if not spec.output.dir or not Path(spec.output.dir).is_absolute():
        raise ServerError("output.dir: path mode needs an absolute output folder")


def _reserve_path_mode_output(spec: JobSpec) -> Path:
    """Path mode writes straight into the client's next version folder (through
    :func:`void_vfx.job.naming.reserve_for_spec`); the version it got goes into the stored spec,
    so the render names the files after it."""
    reserved = reserve_for_spec(spec)
    spec.output.version = reserved.version
    return Path(reserved.folder)
