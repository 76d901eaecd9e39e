"""Talk to a void-vfx server from a host (Nuke, Resolve), the CLI or a farm task.

Standard library and rpyc only at import time. Typical use::

    from void_vfx.client import connect
    with connect("127.0.0.1") as c:
        job = c.submit(spec)              # uploads frames unless the server can read them
        c.follow(job)                     # progress bar; Ctrl-C cancels the job
        paths = c.download_results(job)   # into the next versioned output folder

Files travel in one of two ways. Path mode: the server proves it sees the client's files (the
first plate frame's size, time and leading bytes, read only; and a probe file with random
contents in the output folder, never in a source folder); then no pixel crosses the socket and
the server writes the versioned output folder itself. Stream mode: frames go up in 2 MiB chunks
(resumable, sha256-checked) and results come back the same way. Either way the output folder is
checked writable before anything is sent.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rpyc.core import consts

from void_vfx.client import files as client_files
from void_vfx.client import progress as client_progress
from void_vfx.client.handshake import find_token, open_connection, translate_error
from void_vfx.client.progress import cancel_message
from void_vfx.errors import ConnectionLost, ServerError, TransferError
from void_vfx.job.naming import reserve_output
from void_vfx.job.spec import JobSpec
from void_vfx.model_facts import FINISHED_STATES
from void_vfx.protocol.wire import CHUNK_SIZE, DEFAULT_PORT, PROBE_PREFIX, file_sha256, from_wire

FINISHED = FINISHED_STATES
#: status(dict), new events(tuple of dicts) -> None
Callback = Callable[[dict, tuple], None]


def connect(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    tls: Any = None,
    timeout: float = 10.0,
) -> Client:
    """Open an authenticated connection; raises AuthError or ServerError with what to do."""
    token = token or find_token()
    conn = open_connection(host, int(port), token, tls, timeout)
    return Client(conn, host, int(port), token, tls)


class Client:
    """One connection to a server. Every method returns plain values or paths."""

    def __init__(self, conn: Any, host: str, port: int, token: str, tls: Any) -> None:
        self._conn = conn
        self.host, self.port = host, port
        self._token, self._tls = token, tls
        self._memo: dict[str, dict] = {}
        #: Note each job's output folder in the config folder, for downloads after a restart.
        self.remember_jobs = True

    # -- plumbing -------------------------------------------------------------------------------
    def call(self, name: str, *args: Any) -> Any:
        try:
            # One CALLATTR request per call (getattr + call + decref would be three round trips).
            root = self._conn.root
            result = self._conn.sync_request(
                consts.HANDLE_CALLATTR, root, "exposed_" + name, args, ()
            )
            # A big byte string arrives as a view of the received frame; callers get bytes.
            return bytes(result) if type(result) is memoryview else from_wire(result)
        except (EOFError, ConnectionError) as ex:
            raise self._lost(ex) from None
        except Exception as ex:  # remote errors arrive as rpyc generic exceptions
            raise translate_error(ex) from None

    def pipeline(self, name: str, calls, depth: int = 3):
        """Yield the results of ``name(*args)`` for each args in ``calls``, in order, keeping up to
        ``depth`` requests in flight so the next chunk travels while the server handles this one."""
        root = self._conn.root
        pending: deque = deque()

        def take():
            try:
                return from_wire(pending.popleft().value)
            except (EOFError, ConnectionError) as ex:
                raise self._lost(ex) from None
            except Exception as ex:  # noqa: BLE001 - remote errors, translated
                raise translate_error(ex) from None

        try:
            for args in calls:
                pending.append(
                    self._conn.async_request(
                        consts.HANDLE_CALLATTR,
                        root,
                        "exposed_" + name,
                        tuple(args),
                        (),
                        timeout=self._conn._config["sync_request_timeout"],
                    )
                )
                if len(pending) >= depth:
                    yield take()
            while pending:
                yield take()
        except (EOFError, ConnectionError) as ex:
            raise self._lost(ex) from None

    def _lost(self, ex: BaseException) -> ConnectionLost:
        return ConnectionLost(f"connection to {self.host}:{self.port} lost ({ex}); call reattach()")

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 - already gone
            pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def reattach(self, job_id: str | None = None) -> dict | None:
        """Reconnect after a dropped connection or a server restart; return the job's status."""
        self.close()
        deadline = time.time() + 30.0
        while True:
            try:
                fresh = connect(self.host, self.port, self._token, self._tls)
                break
            except ServerError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        self._conn = fresh._conn
        return self.status(job_id) if job_id else None

    # -- API ------------------------------------------------------------------------------------
    def info(self) -> dict:
        return dict(self.call("info"))

    def status(self, job_id: str) -> dict:
        return dict(self.call("status", job_id))

    def events(self, job_id: str, cursor: int = 0) -> tuple[tuple, int]:
        events, cursor = self.call("events", job_id, cursor)
        return tuple(dict(e) for e in events), int(cursor)

    def cancel(self, job_id: str) -> str:
        return self.call("cancel", job_id)

    def delete(self, job_id: str) -> bool:
        return self.call("delete", job_id)

    def jobs(self) -> list[dict]:
        return [dict(j) for j in self.call("list_jobs")]

    def start(self, job_id: str) -> str:
        return self.call("start", job_id)

    # -- submit ---------------------------------------------------------------------------------
    def submit(
        self, spec: Any, files_mode: str = "auto", start: bool = True, resume_job: str = ""
    ) -> str:
        """Send a job (a JobSpec, dict or JSON text) and its files; returns the job id.

        files_mode: "auto" (path mode when the server proves it reads our files), "path", "stream".
        resume_job: the id of a stream-mode job whose uploads were interrupted; files already
        on the server are kept, a half-sent file continues from where it stopped.
        """
        spec = client_files.checked_spec(spec)  # this side's one parse; edited as a JobSpec
        plate = spec.plate
        out_dir = client_files.output_folder(spec)
        client_files.check_output_folder(out_dir)
        local = copy.deepcopy(spec)  # as sent from here, files absolute: for a retry
        client_files.absolutise(local)
        local.output.dir = out_dir
        mode = files_mode
        if mode == "auto":
            mode = "path" if self.server_reads(out_dir, spec) else "stream"
        if mode == "path":
            client_files.absolutise(spec)
            spec.output.dir = out_dir
            job_id = _job_id(self.call("submit", spec.to_json(indent=None), "path"))
        elif mode == "stream":
            uploads = client_files.stream_rewrite(spec)
            job_id = _job_id(resume_job or self.call("submit", spec.to_json(indent=None), "stream"))
            try:
                # The server refuses the whole upload now rather than half-way on a full disk.
                self.call("check_space", job_id, sum(os.path.getsize(p) for _, p in uploads))
                for name, path in uploads:
                    self.upload_file(job_id, name, path)
            except KeyboardInterrupt:  # Ctrl-C while uploading: the job is not wanted
                self._cancel_quietly(job_id)
                raise
        else:
            raise ServerError(f"files_mode {files_mode!r}: use auto, path or stream")
        self._memo[job_id] = {
            "plate": plate,
            "out_dir": out_dir,
            "mode": mode,
            "name": spec.output.name,
            "version": spec.output.version,
            "spec": local.to_json(indent=None),
        }
        if self.remember_jobs:
            client_files.save_memo(job_id, self._memo[job_id])
        if start:
            self.start(job_id)
        return job_id

    def server_reads(self, folder: str, spec: JobSpec | None = None) -> bool:
        """True when the server sees the job's files and output folder as this client does.

        The plate is proven read-only (:func:`void_vfx.client.files.plate_proof`); the output
        folder (or its nearest existing parent) gets a random probe file for a moment, unless it
        is a source folder: nothing is ever written beside the plates or mattes.
        """
        try:
            if spec is not None and not self.call("probe_file", *client_files.plate_proof(spec)):
                return False
            there = Path(client_files.existing_folder(folder)).resolve()
            if spec is not None and str(there) in client_files.source_folders(spec):
                return False  # no probe beside the sources: stream the files instead
            probe = there / (PROBE_PREFIX + secrets.token_hex(16))
            payload = secrets.token_bytes(64)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except (OSError, TransferError):
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            return bool(self.call("probe_path", str(probe), hashlib.sha256(payload).hexdigest()))
        finally:
            probe.unlink(missing_ok=True)

    def upload_file(self, job_id: str, name: str, path: str | os.PathLike) -> int:
        """Upload one file, resuming from what the server already holds. Returns its size."""
        path = Path(path)
        size = path.stat().st_size
        offset = int(self.call("upload_status", job_id, name))
        if offset > size:
            raise TransferError(f"{path}: the server holds {offset} bytes of a {size}-byte file")
        h = client_files.BackgroundHash(file_sha256(path, offset))
        with open(path, "rb") as fh, h:
            fh.seek(offset)

            def chunks():
                at = offset
                while at < size:
                    chunk = fh.read(CHUNK_SIZE)
                    if not chunk:
                        raise TransferError(f"{path}: file shrank while uploading")
                    h.update(chunk)  # on a helper thread, while the chunk crosses the network
                    yield job_id, name, at, chunk
                    at += len(chunk)

            for _ in self.pipeline("upload", chunks()):
                pass
        self.call("upload_done", job_id, name, h.hexdigest(), size)
        return size

    # -- follow ---------------------------------------------------------------------------------
    def follow(self, job_id: str, callback: Callback | None = None, poll_s: float = 0.5) -> dict:
        """Poll until the job finishes; returns its last status. Ctrl-C cancels the job."""
        bar = None if callback else client_progress.make_bar(job_id)
        cursor = 0
        try:
            while True:
                try:
                    status = self.status(job_id)
                    events, cursor = self.events(job_id, cursor)
                except ConnectionLost:
                    status = self.reattach(job_id)
                    events = ()
                if callback:
                    callback(status, events)
                elif bar is not None:
                    bar(status)
                if status["state"] in FINISHED:
                    return status
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self._cancel_quietly(job_id)
            raise
        finally:
            if bar is not None:
                bar(None)

    def _cancel_quietly(self, job_id: str) -> None:
        """Ctrl-C: cancel the job on the server and say so; a failure must not hide the Ctrl-C."""
        try:
            state = self.cancel(job_id)
        except Exception as ex:  # noqa: BLE001 - the interrupt is what the caller must see
            print(
                f"void-vfx: could not cancel job {job_id} ({ex}); run 'void-vfx cancel {job_id}'",
                file=sys.stderr,
            )
            return
        print(f"void-vfx: {cancel_message(job_id, state)}", file=sys.stderr)

    # -- results --------------------------------------------------------------------------------
    def list_results(self, job_id: str) -> list[dict]:
        return [dict(r) for r in self.call("list_results", job_id)]

    def download_results(self, job_id: str, out_dir: str | os.PathLike | None = None) -> list[str]:
        """Fetch the results into the next versioned folder; returns the local paths.

        In path mode the server wrote them into our folder already; they are only checked.
        """
        status = self.status(job_id)
        if status["state"] != "done":
            raise ServerError(f"job {job_id} is {status['state']}: {status['message']}")
        results = self.list_results(job_id)
        memo = self._memo.get(job_id) or client_files.load_memo(job_id)
        server_out = status.get("out_dir") or ""
        if status.get("mode") == "path" and server_out and Path(server_out).is_dir():
            paths = [Path(server_out) / client_files.result_name(r["name"]) for r in results]
            if all(p.is_file() and p.stat().st_size == r["size"] for p, r in zip(paths, results)):
                return [str(p) for p in paths]
        names = [client_files.result_name(r["name"]) for r in results]
        plate = memo.get("plate") or "result.####.exr"
        target = out_dir or memo.get("out_dir") or os.getcwd()
        client_files.check_output_folder(str(target))
        reserved = reserve_output(
            plate, str(target), name=memo.get("name", ""), version=memo.get("version", 0)
        )
        written: list[str] = []
        try:
            for r, name in zip(results, names):
                local = Path(reserved.folder) / client_files.local_name(name, reserved.stem)
                for attempt in range(3):
                    try:
                        self._download_one(job_id, r, local)
                        break
                    except ConnectionLost:
                        if attempt == 2:
                            raise
                        self.reattach()  # the .part file keeps what arrived; resume from there
                written.append(str(local))
        except BaseException:
            _discard_version(Path(reserved.folder), written)
            raise
        return written

    # -- pictures and retry -----------------------------------------------------------------
    def preview(self, job_id: str, frame: int | None = None) -> dict:
        """{"frame", "first", "last", "before", "after"}: a result frame (None: the latest
        written) and its plate as PNG bytes the server made (a host decodes them with Qt's
        ``QPixmap.loadFromData``); each checked to be a bounded PNG."""
        from void_vfx.protocol.wire import MAX_PREVIEW_BYTES

        if frame is not None and type(frame) is not int:
            raise TypeError(f"frame: a whole number or None, not {type(frame).__name__}")
        answer = _answer_map(self.call("preview", job_id, frame), "preview")
        out = {k: _whole(answer.get(k), k) for k in ("frame", "first", "last")}
        for key in ("before", "after"):
            out[key] = _png(answer.get(key), MAX_PREVIEW_BYTES, f"job {job_id} {key}")
        return out

    def review_sheet(self, job_id: str) -> dict:
        """{"name", "contact_sheet"}: a finished job's contact sheet, made by the server."""
        from void_vfx.protocol.wire import MAX_SHEET_BYTES

        answer = _answer_map(self.call("review_sheet", job_id), "review")
        name = answer.get("name")
        return {
            "name": name if type(name) is str else "",
            "contact_sheet": _png(
                answer.get("contact_sheet"), MAX_SHEET_BYTES, f"job {job_id} contact sheet"
            ),
        }

    def retry(self, job_id: str) -> str:
        """Send a finished job the server holds again, as a new job; the new job's id."""
        return _job_id(self.call("retry", job_id))

    def _download_one(self, job_id: str, result: dict, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(local.name + ".part")
        offset = part.stat().st_size if part.exists() else 0
        if offset > result["size"]:
            part.unlink()
            offset = 0
        h = client_files.BackgroundHash(file_sha256(part, offset) if offset else hashlib.sha256())
        size = result["size"]
        calls = (
            (job_id, result["name"], at, min(CHUNK_SIZE, size - at))
            for at in range(offset, size, CHUNK_SIZE)
        )
        with open(part, "ab") as fh, h:
            for data in self.pipeline("download", calls):
                if not data:
                    raise TransferError(f"{result['name']}: server file shorter than listed")
                fh.write(data)
                h.update(data)
        if h.hexdigest() != result["sha256"]:
            part.unlink()
            raise TransferError(f"{local}: sha256 mismatch after download; download it again")
        os.replace(part, local)


def _discard_version(folder: Path, written: list[str]) -> None:
    """A download that failed leaves no version behind: what it wrote goes, then the folder."""
    for path in [*written, *(str(p) for p in folder.glob("*.part"))]:
        Path(path).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass  # something else is in it: keep it


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _answer_map(value: Any, what: str) -> dict:
    if type(value) is not dict:
        raise ServerError(f"the server's {what} answer is not a map; update the server")
    return value


def _whole(value: Any, what: str) -> int:
    if type(value) is not int:
        raise ServerError(f"the server's preview answer has no whole {what!r}")
    return value


def _png(value: Any, cap: int, what: str) -> bytes:
    """PNG bytes from the server: exact bytes, at most ``cap``, with the PNG signature."""
    if type(value) is memoryview:
        value = bytes(value)
    if type(value) is not bytes or len(value) > cap or not value.startswith(_PNG_SIGNATURE):
        raise ServerError(f"{what}: the server sent no PNG of at most {cap} bytes")
    return value


_JOB_ID = re.compile(r"[0-9A-Za-z]{1,64}")


def _job_id(value: Any) -> str:
    """A job id as the server sends it: letters and digits only, since it names the job's memo
    file here (a server cannot steer that write with ``../``)."""
    if type(value) is not str or not _JOB_ID.fullmatch(value):
        raise ServerError(f"the server answered a malformed job id {str(value)[:40]!r}")
    return value
