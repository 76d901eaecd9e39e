"""The RPyC service: a short list of methods that take and return plain values only.

Nothing else is reachable: the connection (:class:`ServerConnection`) answers only calls of
exposed methods on the root (no getattr, dir, setattr, pickle...), ``_rpyc_getattr`` answers
only the names in ``EXPOSED`` (no dunder, no private name, no module), every argument must be a
plain value (a netref to a client object is refused), and every result is checked to be plain
before it leaves, so no server object but the root itself is ever handed out as a netref. Dicts and lists leave as tuples (:func:`void_vfx.protocol.wire.to_wire`)
because RPyC would send a dict by reference. Long work returns an id that the client polls.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import rpyc
from rpyc.core import consts

from void_vfx.errors import ServerError, TransferError
from void_vfx.job.spec import FILE_FIELDS
from void_vfx.protocol.wire import API_VERSION, MAX_CHUNK, PROBE_RE, FastConnection, to_wire

from . import transfer
from .jobs import JobStore

log = logging.getLogger("void_vfx_server.service")

_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))
#: Upload chunks arrive as views of the received frame (see void_vfx.protocol.wire._load_from).
_PLAIN_ARGS = (*_PLAIN_SCALARS, memoryview)
#: Spec keys whose values are file patterns (top level, or a dict's "path").
_PATH_KEYS = FILE_FIELDS


def _is_plain(value: Any, depth: int = 0, scalars: tuple = _PLAIN_SCALARS) -> bool:
    if depth > 8:
        return False
    if type(value) in scalars:
        return True
    if type(value) is tuple:
        return all(_is_plain(v, depth + 1, scalars) for v in value)
    return False


def _plain(method):
    """Refuse non-plain arguments; send the result as nested tuples, checked plain."""

    @functools.wraps(method)
    def wrapper(self, *args):
        for a in args:
            if not _is_plain(a, 0, _PLAIN_ARGS):
                raise TypeError(f"{method.__name__}: arguments must be plain values")
        result = to_wire(method(self, *args))
        if not _is_plain(result):
            raise TypeError(f"{method.__name__}: internal error, result is not a plain value")
        return result

    return wrapper


class ServerConnection(FastConnection):
    """The server's end of a connection: only calls of exposed methods on the root get through.

    Stock RPyC answers many request kinds (getattr, dir, setattr, call of any netref, hash...).
    Here a client may fetch the root, call ``exposed_*`` methods on it in one CALLATTR request,
    and release the root; ``getattr`` is refused so not even a bound method is handed out as a
    netref. ``inspect`` (RPyC builds the client's proxy class from it) lists exposed names only.
    """

    def _refuse(self, *args: Any) -> Any:
        raise AttributeError("request refused: only calls of the exposed methods are allowed")

    def _call_exposed(self, obj: Any, name: Any, args: tuple, kwargs: tuple = ()) -> Any:
        if obj is not self._local_root or kwargs or not isinstance(name, str):
            self._refuse()
        return obj._rpyc_getattr(name)(*args)

    def _inspect_root(self, id_pack: Any) -> tuple:
        if self._local_objects[id_pack] is not self._local_root:
            self._refuse()
        return tuple(m for m in super()._handle_inspect(id_pack) if m[0].startswith("exposed_"))

    @classmethod
    def _request_handlers(cls) -> dict:
        handlers = dict.fromkeys(super()._request_handlers(), cls._refuse)
        handlers.update({
            consts.HANDLE_PING: cls._handle_ping,
            consts.HANDLE_CLOSE: cls._handle_close,
            consts.HANDLE_GETROOT: cls._handle_getroot,
            consts.HANDLE_DEL: cls._handle_del,
            consts.HANDLE_CALLATTR: cls._call_exposed,
            consts.HANDLE_INSPECT: cls._inspect_root,
            consts.HANDLE_REPR: lambda self, obj: "<void-vfx service>",
            consts.HANDLE_STR: lambda self, obj: "<void-vfx service>",
        })  # fmt: skip
        return handlers


class VoidVfxService(rpyc.Service):
    """One instance per connection, all sharing the server's store and engine info."""

    ALIASES = ("VOIDVFX",)
    _protocol = ServerConnection
    EXPOSED = frozenset(
        (
            "info",
            "submit",
            "probe_path",
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
        )
    )

    def __init__(self, store: JobStore, server_info: dict[str, Any], min_free_bytes: int) -> None:
        self._store = store
        self._info = server_info
        self._min_free = int(min_free_bytes)

    def _rpyc_getattr(self, name: str) -> Any:
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
        return dict(self._info, api_version=API_VERSION)

    @_plain
    def exposed_submit(self, spec_json: str, mode: str = "stream") -> str:
        """Register a job; stream mode rewrites its job-relative file names into the job folder."""
        if mode not in ("stream", "path"):
            raise ServerError(f"mode {mode!r}: use 'stream' or 'path'")
        try:
            spec = json.loads(spec_json)
        except ValueError as ex:
            raise ServerError(f"job spec is not JSON: {ex}") from ex
        if not isinstance(spec, dict):
            raise ServerError("job spec must be a JSON object")
        _check_spec(spec_json)
        priority = int(spec.get("priority") or 0)
        job_id = self._store.create(spec_json, mode, priority)
        try:
            if mode == "stream":
                spec = _rebase_paths(spec, self._store.inputs_dir(job_id))
                spec.setdefault("output", {})
                if isinstance(spec["output"], dict):
                    spec["output"]["dir"] = str(self._store.job_dir(job_id) / "results")
            else:
                _require_absolute(spec)
                out = _reserve_path_mode_output(spec)
                self._store.update(job_id, out_dir=str(out))
            self._store.update(job_id, spec=json.dumps(spec))
        except Exception:
            self._store.delete(job_id)
            raise
        return job_id

    @_plain
    def exposed_probe_path(self, path: str, sha256: str) -> bool:
        """True when this server reads the client's probe file with the expected contents."""
        p = Path(path)
        if not p.is_absolute() or not PROBE_RE.match(p.name):
            raise TransferError(f"{path}: not a void-vfx probe file")
        try:
            with open(p, "rb") as fh:
                data = fh.read(4096)
        except OSError:
            return False
        return hashlib.sha256(data).hexdigest() == sha256

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
        events, new_cursor = self._store.events(job_id, int(cursor))
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
        return True

    # -- transfer -------------------------------------------------------------------------------
    def _inputs(self, job_id: str) -> Path:
        row = self._store.get(job_id)
        if row["state"] != "created":
            raise TransferError(f"job {job_id} is {row['state']}: uploads are closed")
        if row["mode"] != "stream":
            raise TransferError(f"job {job_id} is a path-mode job: nothing to upload")
        return self._store.inputs_dir(job_id)

    @_plain
    def exposed_check_space(self, job_id: str, nbytes: int) -> bool:
        """Refuse a whole upload up front when the job's files would not fit on the disk."""
        nbytes = int(nbytes)
        if nbytes < 0:
            raise TransferError(f"job {job_id}: upload size must not be negative")
        transfer.check_free_space(self._inputs(job_id), nbytes, self._min_free)
        return True

    @_plain
    def exposed_upload(self, job_id: str, name: str, offset: int, data: bytes) -> int:
        return transfer.write_chunk(self._inputs(job_id), name, int(offset), data, self._min_free)

    @_plain
    def exposed_upload_status(self, job_id: str, name: str) -> int:
        return transfer.upload_size(self._store.inputs_dir(job_id), name)

    @_plain
    def exposed_upload_done(self, job_id: str, name: str, sha256: str, size: int) -> bool:
        transfer.finish_upload(self._inputs(job_id), name, sha256, int(size))
        return True

    @_plain
    def exposed_list_results(self, job_id: str) -> tuple:
        row = self._store.get(job_id)
        if row["state"] != "done":
            raise TransferError(f"job {job_id} is {row['state']}: results come when it is done")
        return tuple(_manifest(self._store.job_dir(job_id), self._store.results_dir(job_id)))

    @_plain
    def exposed_download(self, job_id: str, name: str, offset: int, size: int) -> bytes:
        return transfer.read_chunk(
            self._store.results_dir(job_id), name, int(offset), min(int(size), MAX_CHUNK)
        )


def _manifest(job_dir: Path, root: Path) -> list[dict]:
    """name, size, sha256 of every result; hashed once and kept in the job folder."""
    cache = job_dir / "manifest.json"
    files = transfer.list_files(root)
    stamp = [[name, p.stat().st_size, p.stat().st_mtime_ns] for name, p in files]
    try:
        saved = json.loads(cache.read_text())
        if saved["stamp"] == stamp:
            return saved["results"]
    except (OSError, ValueError, KeyError):
        pass
    results = [
        {"name": name, "size": size, "sha256": transfer.sha256_file(root / name)}
        for name, size, _ in stamp
    ]
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"stamp": stamp, "results": results}))
    tmp.replace(cache)
    return results


def _check_spec(spec_json: str) -> None:
    """Validate with the core's JobSpec when it is installed (it always is on a server)."""
    try:
        from void_vfx.job.spec import JobSpec
    except ImportError:  # pragma: no cover - the core ships with the server
        return
    JobSpec.from_json(spec_json).validate()


def _pattern_of(spec: dict, key: str) -> tuple[Any, str | None]:
    value = spec.get(key)
    if isinstance(value, dict):
        return value, value.get("path")
    return value, value if isinstance(value, str) else None


def _rebase_paths(spec: dict, inputs: Path) -> dict:
    """Stream mode: every file pattern must be a safe job-relative name; make it absolute."""
    for key in _PATH_KEYS:
        holder, path = _pattern_of(spec, key)
        if path is None:
            continue
        transfer.safe_name(path)
        full = str(inputs / path)
        if isinstance(holder, dict):
            holder["path"] = full
        else:
            spec[key] = full
    return spec


def _require_absolute(spec: dict) -> None:
    for key in _PATH_KEYS:
        _, path = _pattern_of(spec, key)
        if path is not None and not Path(path).is_absolute():
            raise ServerError(f"{key}: path mode needs absolute paths, got {path!r}")


def _reserve_path_mode_output(spec: dict) -> Path:
    """Path mode writes straight into the client's next version folder; the version it got goes
    into the stored spec, so the render names the files after it."""
    from void_vfx.job.naming import reserve_for_spec
    from void_vfx.job.spec import JobSpec

    out = spec.get("output") or {}
    base = out.get("dir") if isinstance(out, dict) else None
    if not base or not Path(base).is_absolute():
        raise ServerError("output.dir: path mode needs an absolute output folder")
    reserved = reserve_for_spec(JobSpec.from_dict(spec))
    spec["output"]["version"] = reserved.version
    return Path(reserved.folder)
