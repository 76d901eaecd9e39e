"""Job state that survives a crash: SQLite under the data folder plus a folder per job.

States: ``created`` (waiting for its files and ``start``), ``queued``, ``running``, ``done``,
``failed``, ``cancelled``. Each job folder holds ``inputs/`` (uploads), ``work/`` (windows
committed as they finish, so a restarted server resumes) and ``results/`` (EXRs to download).
Every state change and message is also an event row; clients poll events with a cursor. An
event carries its fields apart: ``kind``, ``state`` (a state event's new state), ``message`` and
``progress`` (the render's counts), never one packed into another's text.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

from void_vfx.errors import ServerError
from void_vfx.model_facts import FINISHED_STATES, JOB_STATES

from .part_writer import settle_all
from .safe_fs import make_private, rmdir_if_empty


def private_folder(path: Path) -> None:
    """Make ``path`` (mode 0700) or check an existing one: owned by this user, no access for
    others. A looser mode is tightened and said; another owner is refused."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise ServerError(f"{path}: not a folder (a link?); give --data-dir a real folder")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ServerError(
            f"{path}: owned by another user (uid {st.st_uid}); the server keeps prompts and "
            "frames there, so it must be yours: give --data-dir a folder of your own"
        )
    if st.st_mode & 0o077:
        log.warning("%s: was mode %04o, readable by others; now 0700", path, st.st_mode & 0o777)
        os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Mode 0600 for a file of the server's own (the job database), if it exists."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        os.chmod(path, 0o600)


log = logging.getLogger("void_vfx_server.jobs")

STATES = JOB_STATES
FINISHED = FINISHED_STATES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 50,
    mode TEXT NOT NULL,
    spec TEXT NOT NULL,
    out_dir TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    window INTEGER NOT NULL DEFAULT 0,
    windows INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    steps INTEGER NOT NULL DEFAULT 0,
    eta_s REAL,
    message TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    progress TEXT NOT NULL DEFAULT '{}',
    out_id TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    progress TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
"""

_COLUMNS = (
    "id",
    "state",
    "priority",
    "mode",
    "spec",
    "out_dir",
    "created",
    "updated",
    "started",
    "finished",
    "window",
    "windows",
    "step",
    "steps",
    "eta_s",
    "message",
    "cancel_requested",
    "progress",
    "out_id",
    "host",
)
#: Columns added after the first release: (name, declaration) for ALTER TABLE on older stores.
_ADDED = (
    ("out_id", "TEXT NOT NULL DEFAULT ''"),
    ("host", "TEXT NOT NULL DEFAULT ''"),
    ("progress", "TEXT NOT NULL DEFAULT '{}'"),
)
#: Event columns added later. An older store's state events packed ``state: message`` into the
#: message; :data:`_SPLIT_OLD_STATE_EVENTS` moves the state into its own column, once.
_ADDED_EVENT = (
    ("state", "TEXT NOT NULL DEFAULT ''"),
    ("progress", "TEXT NOT NULL DEFAULT '{}'"),
)
_SPLIT_OLD_STATE_EVENTS = """
UPDATE events SET
    state = CASE WHEN instr(message, ': ') > 0
        THEN substr(message, 1, instr(message, ': ') - 1) ELSE message END,
    message = CASE WHEN instr(message, ': ') > 0
        THEN substr(message, instr(message, ': ') + 2) ELSE '' END
WHERE kind = 'state' AND state = ''
"""
#: The longest message a job or event keeps (characters); a longer one is cut with "...".
MAX_MESSAGE = 4000
_STATUS_FIELDS = (
    "state",
    "window",
    "windows",
    "step",
    "steps",
    "eta_s",
    "message",
    "mode",
    "out_dir",
    "progress",
)
#: The counts a job's ``progress`` holds (the render's, see void_vfx.render.progress.JobProgress).
PROGRESS_KEYS = (
    "frames_read",
    "frames_to_read",
    "windows_done",
    "windows",
    "frames_written",
    "frames_unchanged",
    "frames",
    "rate_fps",
    "eta_s",
    "done",
    "total",
)


def _message(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def progress_json(stats: dict[str, Any] | None) -> str:
    """The render's counts as stored: the known keys with plain number (or None) values."""
    stats = stats or {}
    keep = {
        k: stats[k]
        for k in PROGRESS_KEYS
        if k in stats and (stats[k] is None or type(stats[k]) in (int, float))
    }
    return json.dumps(keep)


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """A listed job: its spec replaced by the plate's file name, frame range and engine."""
    try:
        spec = json.loads(row.pop("spec") or "{}")
    except ValueError:
        spec = {}
    spec = spec if isinstance(spec, dict) else {}
    plate, frames = spec.get("plate"), spec.get("frame_range")
    row["plate"] = os.path.basename(plate) if isinstance(plate, str) else ""
    row["frames"] = (
        f"{frames[0]}-{frames[1]}"
        if isinstance(frames, list) and len(frames) == 2 and all(type(f) is int for f in frames)
        else ""
    )
    row["engine"] = spec.get("engine") if isinstance(spec.get("engine"), str) else ""
    return row


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its ``progress`` as a dict (``{}`` before the first report)."""
    if "progress" in row:
        try:
            value = json.loads(row["progress"] or "{}")
        except ValueError:
            value = {}
        row["progress"] = value if isinstance(value, dict) else {}
    return row


class JobStore:
    """Thread-safe access to the job table; one connection guarded by a lock."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        private_folder(self.data_dir)
        private_folder(self.jobs_dir)
        loose = make_private(self.jobs_dir)  # files an older server left with the umask's modes
        if loose:
            log.warning(
                "%s: %d files or folders were readable by others; now 0600/0700",
                self.jobs_dir,
                loose,
            )
        db_path = self.data_dir / "jobs.sqlite3"
        if not db_path.exists():  # sqlite would create it with the umask's mode (0644)
            os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
        have = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        for name, decl in _ADDED_EVENT:
            if name not in have:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")
        if "state" not in have:
            self._db.execute(_SPLIT_OLD_STATE_EVENTS)
        for suffix in ("", "-wal", "-shm"):
            private_file(Path(str(db_path) + suffix))
        self.wakeup = threading.Condition(self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- folders ------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        if not (isinstance(job_id, str) and len(job_id) == 16 and job_id.isalnum()):
            raise ServerError(
                f"job id {job_id!r} is malformed (16 letters and digits); 'void-vfx jobs' lists "
                "the ids"
            )
        return self.jobs_dir / job_id

    def inputs_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "inputs"

    def work_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "work"

    def results_dir(self, job_id: str) -> Path:
        """Where the job's outputs are: its own ``results/`` or, in path mode, the client's
        folder."""
        out = self.row(job_id, "out_dir")["out_dir"]
        return Path(out) if out else self.job_dir(job_id) / "results"

    # -- rows ---------------------------------------------------------------------------------
    def create(self, spec_json: str, mode: str, priority: int = 50, host: str = "") -> str:
        """A new job row, then its folders (a row that cannot be stored leaves no folder)."""
        if type(priority) is not int or not -(2**62) < priority < 2**62:
            raise ServerError(f"priority {priority!r}: must be a whole number")
        job_id = secrets.token_hex(8)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, state, priority, mode, spec, created, updated, host) "
                "VALUES (?, 'created', ?, ?, ?, ?, ?, ?)",
                (job_id, priority, mode, spec_json, now, now, str(host)[:200]),
            )
            self._event(job_id, "state", "", state="created")
        (self.jobs_dir / job_id).mkdir(mode=0o700, exist_ok=True)
        for sub in ("inputs", "work", "results"):
            (self.jobs_dir / job_id / sub).mkdir(mode=0o700, exist_ok=True)
        return job_id

    def row(self, job_id: str, *columns: str) -> dict[str, Any]:
        """Only the named columns of a job (all when none are named: the spec may be large)."""
        self.job_dir(job_id)
        bad = [c for c in columns if c not in _COLUMNS]
        if bad:
            raise ServerError(f"internal error: no job column {bad[0]!r}")
        cols = ", ".join(columns) if columns else ", ".join(_COLUMNS)
        with self._lock:
            row = self._db.execute(f"SELECT {cols} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise ServerError(
                f"job {job_id}: no such job on this server (deleted, or removed after the "
                "retention period); 'void-vfx jobs' lists the jobs it has"
            )
        return dict(row)

    def get(self, job_id: str) -> dict[str, Any]:
        return self.row(job_id)

    def state(self, job_id: str) -> str:
        return self.row(job_id, "state")["state"]

    def status(self, job_id: str) -> dict[str, Any]:
        return _decoded(self.row(job_id, *_STATUS_FIELDS))

    def list(self) -> list[dict[str, Any]]:
        """Every job, oldest first, with what a list shows of its spec: the plate's file name,
        the frame range and the engine."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, state, priority, mode, created, started, finished, window, windows, "
                "message, progress, host, spec FROM jobs ORDER BY created"
            ).fetchall()
        return [_listed(_decoded(dict(r))) for r in rows]

    def update(self, job_id: str, **fields: Any) -> None:
        if not fields:
            return
        if "message" in fields:
            fields["message"] = _message(fields["message"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def set_state(self, job_id: str, state: str, message: str = "") -> None:
        assert state in STATES, state
        message = _message(message)
        fields: dict[str, Any] = {"state": state}
        if message:
            fields["message"] = message
        if state == "running":
            fields["started"] = time.time()
        if state in FINISHED:
            fields["finished"] = time.time()
        with self._lock:
            self.update(job_id, **fields)
            self._event(job_id, "state", message, state=state)
            self.wakeup.notify_all()

    # -- queue --------------------------------------------------------------------------------
    def enqueue(self, job_id: str) -> None:
        with self._lock:
            state = self.state(job_id)
            if state == "queued":
                return
            if state != "created":
                raise ServerError(f"job {job_id} is {state}; only a new job can be started")
            self.set_state(job_id, "queued")

    def claim_next(self) -> str | None:
        """Mark the most urgent queued job running and return its id (None when idle)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, created, id "
                "LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            self.set_state(row["id"], "running")
            return row["id"]

    def requeue_interrupted(self) -> list[str]:
        """After a crash: jobs left ``running`` go back to the queue (they resume from work/)."""
        with self._lock:
            ids = [r["id"] for r in self._db.execute("SELECT id FROM jobs WHERE state='running'")]
            for job_id in ids:
                if self.row(job_id, "cancel_requested")["cancel_requested"]:
                    self.set_state(job_id, "cancelled", "cancelled while the server was down")
                else:
                    self.set_state(job_id, "queued", "server restarted; resuming")
        return ids

    def request_cancel(self, job_id: str) -> str:
        """Cancel now when not running; a running job stops at its next denoising step."""
        with self._lock:
            state = self.state(job_id)
            if state in FINISHED:
                return state
            self.update(job_id, cancel_requested=1)
            if state in ("created", "queued"):
                self._drop_reserved_folder(job_id)
                self.set_state(job_id, "cancelled", "cancelled before it started")
                return "cancelled"
            self._event(job_id, "message", "cancel requested")
            return state

    def _drop_reserved_folder(self, job_id: str) -> None:
        """A path-mode job reserved its version folder at submit; cancelled before it ran, it
        leaves no empty version behind (rmdir: a folder with anything in it stays)."""
        row = self._db.execute(
            "SELECT mode, out_dir, out_id FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is not None and row["mode"] == "path" and row["out_dir"]:
            # only the very folder reserved (same inode, not a link put in its place)
            rmdir_if_empty(row["out_dir"], json.loads(row["out_id"]) if row["out_id"] else None)

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return bool(row is None or row[0])

    def delete(self, job_id: str) -> None:
        with self._lock:
            state = self.state(job_id)
            if state == "running":
                raise ServerError(f"job {job_id} is running; cancel it before deleting it")
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
        settle_all(self.job_dir(job_id))
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def expire(self, retention_days: float) -> list[str]:
        """Delete finished jobs older than the retention period; returns their ids."""
        cutoff = time.time() - retention_days * 86400.0
        with self._lock:
            ids = [
                r["id"]
                for r in self._db.execute(
                    f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(FINISHED))}) "
                    "AND finished IS NOT NULL AND finished < ?",
                    (*FINISHED, cutoff),
                )
            ]
        for job_id in ids:
            self.delete(job_id)
        return ids

    def count_open(self) -> int:
        """Jobs not finished (created, queued, running)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE state NOT IN ({','.join('?' * len(FINISHED))})",
                FINISHED,
            ).fetchone()
        return int(row[0])

    def touch(self, job_id: str) -> None:
        """Note activity on a job (an upload), at most every 10 s, so it does not expire."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET updated = ? WHERE id = ? AND updated < ?", (now, job_id, now - 10)
            )

    def expire_abandoned(self, idle_s: float) -> list[str]:
        """Delete jobs left ``created`` (never started) with no call for ``idle_s`` seconds,
        their uploads with them; returns their ids."""
        cutoff = time.time() - idle_s
        with self._lock:
            ids = [
                r["id"]
                for r in self._db.execute(
                    "SELECT id FROM jobs WHERE state = 'created' AND updated < ?", (cutoff,)
                )
            ]
        for job_id in ids:
            with self._lock:
                row = self._db.execute(
                    "SELECT state, updated FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                if row is None or row["state"] != "created" or row["updated"] >= cutoff:
                    continue  # started or touched meanwhile
                self._drop_reserved_folder(job_id)
            self.delete(job_id)
        return ids

    # -- events -------------------------------------------------------------------------------
    def _event(
        self,
        job_id: str,
        kind: str,
        message: str,
        state: str = "",
        progress: dict[str, Any] | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO events (job_id, t, kind, message, state, progress) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (job_id, time.time(), kind, _message(message), state, progress_json(progress)),
        )

    def add_event(
        self, job_id: str, kind: str, message: str, progress: dict[str, Any] | None = None
    ) -> None:
        """An event; ``progress`` (a ``progress`` event's counts) is kept as
        :data:`PROGRESS_KEYS`."""
        with self._lock:
            self._event(job_id, kind, message, progress=progress)

    def events(self, job_id: str, cursor: int, limit: int = 500) -> tuple[list[dict], int]:
        """Up to ``limit`` events after ``cursor``: ``seq``, ``t``, ``kind``, ``state`` (a state
        event's new state, else ``""``), ``message`` and ``progress`` (a dict, ``{}`` if none)."""
        self.state(job_id)
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, t, kind, state, message, progress FROM events "
                "WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (job_id, int(cursor), int(limit)),
            ).fetchall()
        out = [_decoded(dict(r)) for r in rows]
        return out, (out[-1]["seq"] if out else int(cursor))

    def spec(self, job_id: str) -> dict[str, Any]:
        return json.loads(self.row(job_id, "spec")["spec"])
