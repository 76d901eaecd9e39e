"""The job panel under pytest-qt (offscreen) against a real preview server: list, cancel,
retry, reveal; the panel Nuke builds from its registration; a server that is down."""

from __future__ import annotations

import os

import pytest

if not os.environ.get("QT_QPA_PLATFORM"):  # no display in CI: draw offscreen
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
pytest.importorskip("pytestqt")
pytest.importorskip("PySide6.QtWidgets")

from void_vfx.client import connect  # noqa: E402
from void_vfx.job.spec import JobSpec  # noqa: E402
from void_vfx.ui import job_records  # noqa: E402


@pytest.fixture
def served(tmp_path, monkeypatch):
    from void_vfx.demo.run import build_spec, make_demo_shot
    from void_vfx.server_entry import server_api

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    srv = server_api().start_local_server(tmp_path / "data", tmp_path / "token", "preview")
    shot = make_demo_shot(tmp_path / "shot", frames=5, size=(48, 32), camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.window.min_length = 5
    client = connect("127.0.0.1", srv.port, token=srv.token)
    done = client.submit(spec)
    job_records.save_spec(done, spec.to_json())
    client.follow(done, callback=lambda s, e: None, poll_s=0.05)
    waiting = client.submit(spec, start=False)  # created, never started
    yield srv, client, done, waiting, tmp_path
    client.close()
    srv.close()


def _panel(qtbot, srv):
    from void_vfx.ui.job_panel import JobPanel

    panel = JobPanel(lambda: connect("127.0.0.1", srv.port, token=srv.token))
    qtbot.addWidget(panel)
    panel.timer.stop()  # the test refreshes by hand
    return panel


def test_panel_lists_cancels_retries_and_reveals(qtbot, served):
    srv, client, done, waiting, tmp = served
    panel = _panel(qtbot, srv)
    rows = {panel.table.item(r, 0).text(): r for r in range(panel.table.rowCount())}
    assert set(rows) == {done, waiting}
    from void_vfx.ui.job_panel import COLUMNS

    col = {name: i for i, name in enumerate(COLUMNS)}
    assert panel.table.item(rows[done], col["state"]).text() == "done"
    assert panel.table.item(rows[done], col["progress"]).text() == "100%"
    assert panel.table.cellWidget(rows[done], col["progress"]).value() == 100  # a real bar
    assert panel.table.item(rows[waiting], col["state"]).text() == "created"
    # What the job is: the plate's file, its frames and engine, when it was sent, how long it ran
    assert panel.table.item(rows[done], col["plate"]).text() == "demo_plate.####.exr"
    assert panel.table.item(rows[done], col["engine"]).text() == "preview"
    assert panel.table.item(rows[done], col["elapsed"]).text().endswith(" s")
    assert panel.table.item(rows[waiting], col["elapsed"]).text() == ""  # never started
    # The whole message and the render's counts: nothing cut.
    message = panel.table.item(rows[done], col["message"]).text()
    assert message.startswith("finished in ") and "frames written" in message

    assert panel.select_job(waiting)
    qtbot.mouseClick(panel.buttons["Cancel"], _left())
    assert client.status(waiting)["state"] == "cancelled"
    assert panel.message.text() == f"job {waiting}: cancelled"

    shown = []
    panel.open_folder = shown.append
    panel.select_job(done)
    qtbot.mouseClick(panel.buttons["Reveal result"], _left())
    assert shown == [str(tmp / "out" / "demo_plate_void_v001")]

    new = panel.retry_selected()
    assert new and new not in (done, waiting)
    client.follow(new, callback=lambda s, e: None, poll_s=0.05)
    assert client.status(new)["state"] == "done"
    assert (tmp / "out" / "demo_plate_void_v002").is_dir()  # a retry is a new version
    # A job sent from any front end on this machine (here the client alone, no host record)
    # is retried from what the client kept when it sent it.
    panel.select_job(waiting)
    again = panel.retry_selected()
    assert again and again not in (done, waiting, new)
    client.follow(again, callback=lambda s, e: None, poll_s=0.05)
    assert (tmp / "out" / "demo_plate_void_v003").is_dir()
    # One sent from another machine (nothing kept here) is sent again by the server, from
    # the spec and files it holds.
    from void_vfx.client.files import _memo_path

    _memo_path(waiting).unlink()
    panel.select_job(waiting)
    third = panel.retry_selected()
    assert third and panel.message.text() == (
        f"job {waiting} sent again by the server as job {third}"
    )
    client.follow(third, callback=lambda s, e: None, poll_s=0.05)
    assert (tmp / "out" / "demo_plate_void_v004").is_dir()
    # One not finished is not sent twice: the server's refusal is said.
    fresh = client.submit(JobSpec.from_json(job_records.load_spec(done)), start=False)
    panel.refresh()
    panel.select_job(fresh)
    assert panel.retry_selected() == ""
    assert panel.message.text().startswith(f"retry: job {fresh} is created: only a finished job")


def test_panel_shows_the_latest_frame_and_a_review(qtbot, served):
    """Selecting a job shows its latest frame before and after (PNGs the server made, decoded
    by Qt) and a thumbnail in the list; Review opens a contact sheet the server made."""
    from void_vfx.ui.qt import QtGui

    srv, client, done, waiting, tmp = served
    panel = _panel(qtbot, srv)
    panel.select_job(done)  # the selection alone fetches the pictures
    assert panel.preview.caption.text() == (
        f"job {done}, frame 1005 (written 1001-1005): plate | result"
    )
    before, after = (p.toImage() for p in panel.preview.pixmaps)
    assert (before.width(), before.height()) == (after.width(), after.height()) == (48, 32)
    differ = [
        (x, y) for y in range(32) for x in range(48) if before.pixel(x, y) != after.pixel(x, y)
    ]
    assert 10 < len(differ) < 48 * 32 // 2  # the object's region, not the whole frame
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == done)
    assert not panel.table.item(row, 0).icon().isNull()  # the thumbnail beside the job id
    assert panel.thumbnails[done].height() == 32
    # A job not started: said, no picture.
    panel.select_job(waiting)
    assert panel.preview.pixmaps == (None, None)
    assert panel.preview.caption.text() == f"job {waiting} is created: no result frame to show"

    shown = []
    panel.open_folder = shown.append
    panel.select_job(done)
    qtbot.mouseClick(panel.buttons["Review"], _left())
    review = tmp / "out" / "demo_plate_void_v001_review"
    assert shown == [str(review)]
    sheet = QtGui.QImage(str(review / "contact_sheet.png"))
    assert sheet.width() == 4 * 320 + 3 * 4  # plate | mask | result | difference
    # Opened again: the review already there is shown, not made again.
    stamp = (review / "contact_sheet.png").stat().st_mtime_ns
    qtbot.mouseClick(panel.buttons["Review"], _left())
    assert shown[-1] == str(review) and (review / "contact_sheet.png").stat().st_mtime_ns == stamp
    # A job whose results are not on this machine as a folder (sent as a stream): the sheet
    # goes to the job notes in the config folder, nothing beside the output folder.
    streamed = client.submit(JobSpec.from_json(job_records.load_spec(done)), files_mode="stream")
    client.follow(streamed, callback=lambda s, e: None, poll_s=0.05)
    panel.refresh()
    panel.select_job(streamed)
    notes = tmp / "config" / "void-vfx" / "jobs" / f"{streamed}_review"
    assert panel.review_selected() == str(notes) == shown[-1]
    assert (notes / "contact_sheet.png").is_file()
    reviews = [p.name for p in (tmp / "out").iterdir() if p.name.endswith("_review")]
    assert reviews == ["demo_plate_void_v001_review"]


def test_panel_says_when_the_server_is_down(qtbot):
    from void_vfx.errors import ServerError
    from void_vfx.ui.job_panel import JobPanel

    def down():
        raise ServerError("cannot reach a void-vfx server at 127.0.0.1:1 (refused)")

    panel = JobPanel(down)
    qtbot.addWidget(panel)
    panel.timer.stop()
    assert panel.table.rowCount() == 0
    assert panel.message.text() == (
        "list jobs: cannot reach a void-vfx server at 127.0.0.1:1 (refused)"
    )


def test_nuke_builds_the_registered_panel(qtbot, monkeypatch, tmp_path, served):
    import runpy
    import sys
    from pathlib import Path

    from fakes_nuke import harness

    srv = served[0]
    harness.fresh(monkeypatch, tmp_path)
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(tmp_path / "token"))
    import void_vfx.ui.job_panel as jp

    monkeypatch.setattr(jp, "_default_connect", lambda: connect("127.0.0.1", srv.port))
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "hosts" / "nuke" / "menu.py"))
    panel = sys.modules["nukescripts.panels"]._create("com.void_vfx.JobPanel")
    qtbot.addWidget(panel)
    panel.timer.stop()
    assert isinstance(panel, jp.JobPanel) and panel.table.rowCount() == 2


def _left():
    from void_vfx.ui.qt import QtCore

    return QtCore.Qt.MouseButton.LeftButton
