"""The job panel: the server's jobs with state and progress; cancel, retry, reveal a result;
the selected job's latest frame before and after, a thumbnail of it in the list, its review.

One widget for every host: Nuke registers it as a pane (``nukescripts.panels``), Resolve and
``void-vfx panel`` open it as a window with :func:`open_panel`. Qt comes through :mod:`.qt`
(PySide6 or PySide2). The panel polls the server once a second on the GUI thread: ``jobs`` is one
small local call; a server that is down shows as a line on the panel, never an exception.
Pictures come from the server as small PNGs (a host's Python cannot read EXR), fetched when the
selection changes and, for a running job, at most every :data:`PREVIEW_EVERY_S` seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from void_vfx.client.progress import progress_fraction, progress_text
from void_vfx.errors import VoidVfxError
from void_vfx.ui import job_records
from void_vfx.ui.qt import QtCore, QtGui, QtWidgets

COLUMNS = (
    "job",
    "plate",
    "frames",
    "engine",
    "state",
    "progress",
    "submitted",
    "elapsed",
    "message",
)
#: The column that holds a progress bar rather than text.
PROGRESS_COLUMN = COLUMNS.index("progress")
POLL_MS = 1000
#: A running job's picture is fetched again at most this often.
PREVIEW_EVERY_S = 5.0
_KEEP: list = []  # top-level windows live as long as the host: Python must not collect them


def _default_connect():
    from void_vfx.client import connect

    return connect()


def _open_folder(folder: str) -> None:
    QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(folder))


def job_percent(job: dict) -> int:
    """A listed job's progress, 0-100: the render's counts where the server sends them (frames
    read, through the engine and written), else its finished windows."""
    fraction = progress_fraction(job)
    return int(100 * fraction) if fraction is not None else 0


def job_cells(job: dict, now: float) -> tuple[str, ...]:
    """The text of a job's row, column by column (:data:`COLUMNS`): the whole message, with the
    render's progress after it."""
    from void_vfx.client.progress import duration_text

    started, finished = job.get("started"), job.get("finished")
    elapsed = duration_text((finished or now) - started) if started else ""
    submitted = time.strftime("%Y-%m-%d %H:%M", time.localtime(job["created"]))
    message = "; ".join(t for t in (job.get("message", ""), progress_text(job)) if t)
    return (
        job["id"],
        job.get("plate", ""),
        job.get("frames", ""),
        job.get("engine", ""),
        job["state"],
        f"{job_percent(job)}%",
        submitted,
        elapsed,
        message,
    )


class JobPanel(QtWidgets.QWidget):
    """``JobPanel(connect_fn=None, parent=None)``; ``connect_fn()`` returns a
    :class:`void_vfx.client.Client` (default: :func:`void_vfx.client.connect`)."""

    def __init__(self, connect_fn: Callable | None = None, parent=None) -> None:
        super().__init__(parent)
        self._connect_fn = connect_fn or _default_connect
        self._client = None
        self.jobs: list[dict] = []
        #: How a result folder is shown (the file browser); a test may replace it.
        self.open_folder: Callable[[str], None] = _open_folder
        self.setWindowTitle("VOID jobs")
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.message = QtWidgets.QLabel("", self)
        self.message.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        self.buttons = {}
        for name, slot in (
            ("Refresh", self.refresh),
            ("Cancel", self.cancel_selected),
            ("Retry", self.retry_selected),
            ("Reveal result", self.reveal_selected),
            ("Review", self.review_selected),
        ):
            button = QtWidgets.QPushButton(name, self)
            button.clicked.connect(lambda _=False, s=slot: s())
            buttons.addWidget(button)
            self.buttons[name] = button
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self._add_preview(layout)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(POLL_MS)
        self.refresh()

    # -- server ------------------------------------------------------------------------------
    def client(self):
        if self._client is None:
            self._client = self._connect_fn()
        return self._client

    def _call(self, what: str, fn: Callable):
        """Run one server call; a failure becomes the panel's message (and a reconnect later)."""
        try:
            return fn(self.client())
        except VoidVfxError as ex:
            if "connect" in str(ex) or "reach" in str(ex):
                self._drop_client()
            self.message.setText(f"{what}: {ex}")
        except (OSError, EOFError) as ex:
            self._drop_client()
            self.message.setText(f"{what}: connection lost ({ex})")
        return None

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    # -- the list -----------------------------------------------------------------------------
    def refresh(self) -> None:
        jobs = self._call("list jobs", lambda c: c.jobs())
        if jobs is None:
            return
        self.jobs = list(reversed(jobs))  # newest first
        selected = self.selected_job_id()
        self.table.setRowCount(len(self.jobs))
        now = time.time()
        for row, job in enumerate(self.jobs):
            for col, value in enumerate(job_cells(job, now)):
                item = QtWidgets.QTableWidgetItem(value)
                item.setToolTip(progress_text(job) or job.get("message", ""))
                self.table.setItem(row, col, item)
            bar = self.table.cellWidget(row, PROGRESS_COLUMN)
            if bar is None:
                bar = QtWidgets.QProgressBar(self.table)
                bar.setRange(0, 100)
                self.table.setCellWidget(row, PROGRESS_COLUMN, bar)
            bar.setValue(job_percent(job))
            bar.setFormat(f"{job_percent(job)}%")
            if job["id"] in self.thumbnails:
                self.table.item(row, 0).setIcon(QtGui.QIcon(self.thumbnails[job["id"]]))
            if job["id"] == selected:
                self.table.selectRow(row)
        self.update_preview()

    def select_job(self, job_id: str) -> bool:
        for row, job in enumerate(self.jobs):
            if job["id"] == job_id:
                self.table.selectRow(row)
                return True
        return False

    def selected_job_id(self) -> str:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return ""
        item = self.table.item(rows[0].row(), 0)
        return item.text() if item is not None else ""

    def _selected(self, action: str) -> str:
        job_id = self.selected_job_id()
        if not job_id:
            self.message.setText(f"{action}: select a job first")
        return job_id

    # -- actions ------------------------------------------------------------------------------
    def cancel_selected(self) -> str:
        from void_vfx.client import cancel_message

        job_id = self._selected("cancel")
        state = job_id and self._call("cancel", lambda c: c.cancel(job_id))
        if state:
            self.message.setText(cancel_message(job_id, state))
            self.refresh()
        return state or ""

    def retry_selected(self) -> str:
        """Send the selected job again: by the server, from the spec and files it holds (any
        job, from any machine); else from the spec kept on this machine (by the host that sent
        it, or the client that submitted it). The new job's id."""
        from void_vfx.client.files import load_memo
        from void_vfx.job.spec import JobSpec

        job_id = self._selected("retry")
        if not job_id:
            return ""
        new_id = self._retry_on_server(job_id)
        if new_id:
            return new_id
        said = self._server_said
        if said and not any(w in said for w in ("no such job", "denied", "connection")):
            self.message.setText(f"retry: {said}")  # held, but not to be sent again (running)
            return ""
        text = job_records.load_spec(job_id) or load_memo(job_id).get("spec")
        if text is None:
            self.message.setText(
                f"retry: {self._server_said or 'the server cannot send it again'}; the spec of "
                f"job {job_id} is not kept on this machine either: send it again from the host "
                "that made it"
            )
            return ""
        spec = JobSpec.from_json(text)
        new_id = self._call("retry", lambda c: c.submit(spec, files_mode="auto"))
        if not new_id:
            return ""
        job_records.save_spec(new_id, text)
        self.message.setText(f"job {job_id} sent again as job {new_id}")
        self.refresh()
        return new_id

    def result_folder(self, job_id: str) -> str:
        """Where the job's results are on this machine: the server's folder in path mode, else
        the folder the client downloads into; "" when neither exists here."""
        from void_vfx.client.files import load_memo

        status = self._call("reveal", lambda c: c.status(job_id)) or {}
        folder = status.get("out_dir") or ""
        if status.get("mode") == "path" and folder and os.path.isdir(folder):
            return folder
        folder = load_memo(job_id).get("out_dir", "")
        return folder if folder and os.path.isdir(folder) else ""

    def reveal_selected(self) -> str:
        job_id = self._selected("reveal")
        if not job_id:
            return ""
        folder = self.result_folder(job_id)
        if not folder:
            self.message.setText(f"reveal: job {job_id} has no result folder on this machine")
            return ""
        self.open_folder(folder)
        self.message.setText(f"job {job_id}: {folder}")
        return folder

    def _retry_on_server(self, job_id: str) -> str:
        """The server's retry of ``job_id`` (its new id), or "" with why in ``_server_said``."""
        from void_vfx.client.files import load_memo, save_memo

        self._server_said = ""
        try:
            new_id = self.client().retry(job_id)
        except VoidVfxError as ex:
            self._server_said = str(ex)
            return ""
        except (OSError, EOFError) as ex:
            self._drop_client()
            self._server_said = f"connection lost ({ex})"
            return ""
        memo = load_memo(job_id)  # where its results go here, for a later download or reveal
        if memo:
            save_memo(new_id, dict(memo, version=0))
        text = job_records.load_spec(job_id)
        if text:
            job_records.save_spec(new_id, text)
        self.message.setText(f"job {job_id} sent again by the server as job {new_id}")
        self.refresh()
        return new_id

    # -- pictures -----------------------------------------------------------------------------
    def _add_preview(self, layout) -> None:
        from void_vfx.ui.preview_view import THUMB_HEIGHT, BeforeAfterView

        self.preview = BeforeAfterView(self)
        layout.addWidget(self.preview)
        self.table.setIconSize(QtCore.QSize(2 * THUMB_HEIGHT, THUMB_HEIGHT))
        #: Each job's latest result frame, small, shown beside its id in the list.
        self.thumbnails: dict = {}
        self._server_said = ""
        self._preview_key: tuple = ()
        self._preview_at = 0.0
        self.table.itemSelectionChanged.connect(self.update_preview)

    def update_preview(self) -> None:
        """Fetch the selected job's latest frame when the selection changed, or when it is
        running and :data:`PREVIEW_EVERY_S` passed; nothing otherwise."""
        job_id = self.selected_job_id()
        job = next((j for j in self.jobs if j["id"] == job_id), None)
        if job is None:
            if self._preview_key:
                self._preview_key = ()
                self.preview.clear("select a job to see its latest frame")
            return
        key = (job_id, job.get("state"))
        running = job.get("state") == "running"
        if key == self._preview_key and not (
            running and time.time() - self._preview_at >= PREVIEW_EVERY_S
        ):
            return
        self._preview_key, self._preview_at = key, time.time()
        self.show_preview(job_id, job.get("state", ""))

    def show_preview(self, job_id: str, state: str = "") -> bool:
        """Ask the server for the job's latest frame and show it (and its thumbnail)."""
        from void_vfx.ui.preview_view import THUMB_HEIGHT

        if state in ("created", "queued", "failed", "cancelled"):
            self.preview.clear(f"job {job_id} is {state}: no result frame to show")
            return False
        try:
            pics = self.client().preview(job_id)
        except VoidVfxError as ex:
            self.preview.clear(f"job {job_id}: {ex}")
            return False
        except (OSError, EOFError) as ex:
            self._drop_client()
            self.preview.clear(f"job {job_id}: connection lost ({ex})")
            return False
        caption = (
            f"job {job_id}, frame {pics['frame']} (written {pics['first']}-{pics['last']}): "
            "plate | result"
        )
        if not self.preview.show_pair(pics["before"], pics["after"], caption):
            return False
        thumb = self.preview.pixmaps[1].scaledToHeight(
            THUMB_HEIGHT, QtCore.Qt.TransformationMode.SmoothTransformation
        )
        self.thumbnails[job_id] = thumb
        for row, job in enumerate(self.jobs):
            item = self.table.item(row, 0)
            if job["id"] == job_id and item is not None:
                item.setIcon(QtGui.QIcon(thumb))
        return True

    def review_selected(self) -> str:
        """Open the selected job's review: the one made beside its results on this machine
        (contact sheet and before/after movie, ``void-vfx remove --review``), else a contact
        sheet the server makes, saved here. The folder opened, or ""."""
        job_id = self._selected("review")
        if not job_id:
            return ""
        status = self._call("review", lambda c: c.status(job_id)) or {}
        results = status.get("out_dir") or ""  # the version folder itself, in path mode only
        if status.get("mode") != "path" or not os.path.isdir(results):
            results = ""
        folder = job_records.review_folder(job_id, results)
        if folder and os.path.isfile(os.path.join(folder, "contact_sheet.png")):
            self.open_folder(folder)
            self.message.setText(f"job {job_id}: review in {folder}")
            return folder
        sheet = self._call("review", lambda c: c.review_sheet(job_id))
        if not sheet:
            return ""
        saved = folder and job_records.save_contact_sheet(folder, sheet["contact_sheet"])
        if not saved and results:  # the results' folder is read-only here: the config folder
            folder = job_records.review_folder(job_id)
            saved = folder and job_records.save_contact_sheet(folder, sheet["contact_sheet"])
        if not saved:
            self.message.setText(f"review: job {job_id}'s contact sheet could not be saved")
            return ""
        self.open_folder(folder)
        self.message.setText(f"job {job_id}: contact sheet made by the server, in {folder}")
        return folder

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.timer.stop()
        self._drop_client()
        super().closeEvent(event)


def open_panel(address: tuple[str, int] | None = None, token_file: str | None = None) -> JobPanel:
    """Show the panel as a top-level window (making a QApplication when none exists).

    ``token_file``: the server's token file (default: $VOID_VFX_TOKEN_FILE, else the user's
    config folder)."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication([])
        _KEEP.append(app)
    connect_fn = None
    if address is not None or token_file:
        from void_vfx.client import connect, find_token
        from void_vfx.protocol.wire import DEFAULT_PORT

        host, port = address or ("127.0.0.1", DEFAULT_PORT)

        def connect_fn():
            return connect(host, int(port), token=find_token(token_file))

    panel = JobPanel(connect_fn)
    panel.resize(720, 320)
    panel.show()
    _KEEP.append(panel)
    return panel
