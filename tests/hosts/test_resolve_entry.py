"""The Scripts-menu file: the UIManager dialog and the terminal mode, on a fake Resolve."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from fakes_resolve.ui import FakeBmd, FakeFusion
from resolve_setup import CLIP_FRAMES, RECORD, edit

pytest_plugins = ["resolve_fixtures"]
SCRIPT = Path(__file__).resolve().parents[2] / "hosts" / "resolve" / "VOID Remove Object.py"


def _fill(window, shot, server, out: str = "") -> bool:
    items = window.GetItems()
    items["Matte"].Text = shot.primary
    items["Channel"].Text = "A"
    items["Prompt"].Text = "a tiled floor"
    items["Server"].Text = f"127.0.0.1:{server.port}"
    items["Out"].Text = out
    return True


def test_dialog_sends_and_lays_back_while_the_loop_runs(shot, server, tmp_path, monkeypatch):
    (tmp_path / "token").write_text(server.token)
    (tmp_path / "token").chmod(0o600)  # the client refuses a token file others can read
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setattr("void_vfx.hosts.resolve_ui.open_job_panel", lambda host, port: False)
    from void_vfx.hosts.resolve_ui import Dialog

    form = Dialog.request

    def preview_request(self):  # the form has no engine field: a test server is a preview one
        req = form(self)
        req.engine, req.window_min = "preview", CLIP_FRAMES
        return req

    monkeypatch.setattr(Dialog, "request", preview_request)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT)])
    resolve, project, timeline, clip = edit(shot)
    status = lambda w: w.GetItems()["Status"].Text  # noqa: E731
    bmd = FakeBmd(
        [
            lambda w: _fill(w, shot, server),
            lambda w: w.click("Send") or True,
            lambda w: status(w).startswith(("done", "failed")),
            lambda w: w.close() or True,
        ]
    )
    namespace = {"resolve": resolve, "fu": FakeFusion(), "bmd": bmd, "__file__": str(SCRIPT)}
    runpy.run_path(str(SCRIPT), init_globals=namespace, run_name="__main__")
    window = bmd.dispatcher.windows[0]
    assert status(window).startswith("done"), status(window)
    # The loop kept running (timer ticks) while the job ran on the worker thread.
    assert bmd.dispatcher.ticks >= 3
    new = timeline.tracks[2][0]
    assert (new.GetStart(), new.GetDuration()) == (RECORD, CLIP_FRAMES)
    home = tmp_path / "home" / "void-vfx" / "resolve" / "Show_01"
    assert new.media.path == str(home / "demo_plate_void_v001" / "demo_plate_void_v001.%04d.exr")


def test_terminal_mode_as_a_take(shot, server, tmp_path, monkeypatch, capsys):
    resolve, project, timeline, clip = edit(shot)
    argv = [
        "--clip",
        "plate",
        "--matte",
        shot.primary,
        "--matte-channel",
        "A",
        "--mode",
        "take",
        "--port",
        str(server.port),
        "--token",
        server.token,
        "--engine",
        "preview",
        "--window-min",
        str(CLIP_FRAMES),
        "--out",
        str(tmp_path / "out"),
    ]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    before = timeline.snapshot()
    namespace = {"resolve": resolve, "__file__": str(SCRIPT)}
    try:
        runpy.run_path(str(SCRIPT), init_globals=namespace, run_name="__main__")
    except SystemExit as done:
        assert done.code == 0, capsys.readouterr().err
    # The result is take 2 of the original clip, selected; no track was added.
    assert timeline.GetTrackCount("video") == 2
    assert clip.GetTakesCount() == 2 and clip.GetSelectedTakeIndex() == 2
    take = clip.takes[1]
    # 20.3 reads endFrame exclusive (nakano000/Resolve_Script): the take plays the clip whole.
    assert (take["startFrame"], take["endFrame"]) == (0, CLIP_FRAMES)
    assert clip.GetDuration() == CLIP_FRAMES
    assert take["mediaPoolItem"].path.endswith("demo_plate_void_v001.%04d.exr")
    others = {k: v for k, v in timeline.snapshot().items() if k != clip.uid}
    assert others == {k: v for k, v in before.items() if k != clip.uid}
    assert "new take at record frame 86410" in capsys.readouterr().out


def test_terminal_mode_without_resolve_says_why(tmp_path, monkeypatch, capsys):
    from void_vfx.hosts.resolve_cli import main

    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "nowhere"))
    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)  # not importable
    assert main(["--matte", "m.####.exr"], {}) == 1
    err = capsys.readouterr().err
    assert "cannot import DaVinciResolveScript" in err and "Studio" in err
    assert str(tmp_path / "nowhere" / "Modules") in err


def test_dialog_takes_a_results_folder(tmp_path):
    """A shared project's results go where the artist says (~ is the artist's home)."""
    from void_vfx.hosts.resolve_ui import Dialog

    fu, bmd = FakeFusion(), FakeBmd()
    dialog = Dialog(None, fu.UIManager, bmd.UIDispatcher(fu.UIManager))
    dialog.items["Matte"].Text = "roto.####.exr"
    assert dialog.request().out_dir == ""  # blank: ~/void-vfx/resolve/<project>
    dialog.items["Out"].Text = " ~/shows/sh010/void "
    assert dialog.request().out_dir == str(tmp_path / "home" / "shows" / "sh010" / "void")
    assert dialog.request().handles == 0
    dialog.items["Handles"].Text = "8"
    assert dialog.request().handles == 8


def test_the_job_panel_is_pumped_by_the_dialogs_timer(monkeypatch):
    """Resolve runs no Qt event loop: each UIManager tick runs the Qt events that are due."""
    import os

    if not os.environ.get("QT_QPA_PLATFORM"):
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from void_vfx.hosts.resolve_ui import Dialog
    from void_vfx.ui.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    _APPS.append(app)
    fu, bmd = FakeFusion(), FakeBmd()
    dialog = Dialog(None, fu.UIManager, bmd.UIDispatcher(fu.UIManager))
    fired = []
    QtCore.QTimer.singleShot(0, lambda: fired.append("refresh"))
    dialog.on_tick()
    assert fired == []  # no panel open: Qt is left alone
    dialog.panel_opened = True
    dialog.on_tick()
    assert fired == ["refresh"]


_APPS: list = []
