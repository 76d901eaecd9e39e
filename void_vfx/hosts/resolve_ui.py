"""The dialog of Workspace > Scripts > VOID Remove Object, in Resolve's own UIManager.

The form (mattes, prompt, server, where the result goes) is a UIManager window; a UIManager timer
calls :meth:`RemoveSession.step` every few hundred milliseconds, so Resolve's UI never waits on
the job: the upload, the job's progress and the download run on the session's worker thread.
Where PySide imports, the shared job panel (``void_vfx.ui.job_panel.open_panel``) also opens on
the server once the job is sent. Standard library only (UIManager comes from Resolve).
"""

from __future__ import annotations

import os
from typing import Any

from void_vfx.hosts.resolve_app import ResolveUnavailable, get_resolve
from void_vfx.hosts.resolve_layback import MODES
from void_vfx.hosts.resolve_remove import RemoveRequest, RemoveSession

TICK_MS = 250
WINDOW_ID = "VoidRemove"


def open_job_panel(host: str, port: int) -> bool:
    """Open the shared PySide job panel when PySide and the panel import; False otherwise."""
    try:
        from void_vfx.ui.job_panel import open_panel
    except ImportError:
        return False
    try:
        open_panel((host, port))
    except Exception:  # noqa: BLE001 - the dialog's own progress line still shows the job
        return False
    return True


def pump_qt() -> None:
    """Run the Qt events that are due: inside Resolve no Qt event loop runs, so the job panel's
    refresh timer and repaints happen only when the dialog's UIManager timer pumps them."""
    import sys

    qt = sys.modules.get("void_vfx.ui.qt")  # loaded only when the panel was opened
    if qt is None:
        return
    try:
        app = qt.QtWidgets.QApplication.instance()
        if app is not None:
            app.processEvents()
    except Exception:  # noqa: BLE001 - the dialog must keep running whatever Qt does
        pass


def bar(fraction: float, width: int = 20) -> str:
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "-" * (width - filled) + f"] {fraction * 100:3.0f}%"


class Dialog:
    """The send form and its progress line."""

    def __init__(self, resolve: Any, ui: Any, dispatcher: Any) -> None:
        self.resolve, self.ui, self.disp = resolve, ui, dispatcher
        self.session: RemoveSession | None = None
        self.panel_opened = False
        ui_ = ui
        row = ui_.HGroup
        self.window = dispatcher.AddWindow(
            {
                "ID": WINDOW_ID,
                "WindowTitle": "VOID Remove Object",
                "Geometry": [200, 200, 560, 390],
            },
            ui_.VGroup(
                [
                    row(
                        [
                            ui_.Label({"Text": "Object matte"}),
                            ui_.LineEdit(
                                {"ID": "Matte", "PlaceholderText": "/shots/sh010/roto.####.exr"}
                            ),
                        ]
                    ),
                    row(
                        [
                            ui_.Label({"Text": "Matte channel"}),
                            ui_.LineEdit({"ID": "Channel", "Text": "a"}),
                        ]
                    ),
                    row(
                        [
                            ui_.Label({"Text": "Affected matte"}),
                            ui_.LineEdit({"ID": "Affected", "PlaceholderText": "optional"}),
                        ]
                    ),
                    row(
                        [
                            ui_.Label({"Text": "After removal"}),
                            ui_.LineEdit(
                                {"ID": "Prompt", "PlaceholderText": "what the shot shows"}
                            ),
                        ]
                    ),
                    row(
                        [
                            ui_.Label({"Text": "Server"}),
                            ui_.LineEdit({"ID": "Server", "Text": "127.0.0.1"}),
                        ]
                    ),
                    row([ui_.Label({"Text": "Result"}), ui_.ComboBox({"ID": "Mode"})]),
                    row(
                        [
                            ui_.Label({"Text": "Handles"}),
                            ui_.LineEdit({"ID": "Handles", "Text": "0"}),
                        ]
                    ),
                    row(
                        [
                            ui_.Label({"Text": "Results folder"}),
                            ui_.LineEdit(
                                {"ID": "Out", "PlaceholderText": "~/void-vfx/resolve/<project>"}
                            ),
                        ]
                    ),
                    ui_.CheckBox(
                        {"ID": "Render", "Text": "Render the clip to EXR", "Checked": False}
                    ),
                    row(
                        [
                            ui_.CheckBox(
                                {
                                    "ID": "Detail",
                                    "Text": "Detail from other frames",
                                    "Checked": True,
                                }
                            ),
                            ui_.CheckBox({"ID": "Grain", "Text": "Match grain", "Checked": True}),
                        ]
                    ),
                    row(
                        [
                            ui_.Button({"ID": "Send", "Text": "Send"}),
                            ui_.Button({"ID": "Cancel", "Text": "Cancel"}),
                        ]
                    ),
                    ui_.Label(
                        {"ID": "Status", "Text": "Park the playhead on the clip, then Send."}
                    ),
                ]
            ),
        )
        # A timer is not a widget: it lives beside the window and reports to the dispatcher.
        self.timer = ui_.Timer({"ID": "Tick", "Interval": TICK_MS})
        self.items = self.window.GetItems()
        self.items["Mode"].AddItems(list(MODES))
        self.window.On.Send.Clicked = self.on_send
        self.window.On.Cancel.Clicked = self.on_cancel
        self.window.On[WINDOW_ID].Close = self.on_close
        dispatcher.On.Tick.Timeout = self.on_tick

    def request(self) -> RemoveRequest:
        server = self.items["Server"].Text.strip() or "127.0.0.1"
        host, _, port = server.partition(":")
        handles = self.items["Handles"].Text.strip()
        return RemoveRequest(
            matte=self.items["Matte"].Text.strip(),
            matte_channel=self.items["Channel"].Text.strip() or "a",
            affected=self.items["Affected"].Text.strip(),
            prompt=self.items["Prompt"].Text.strip(),
            render=bool(self.items["Render"].Checked),
            detail=bool(self.items["Detail"].Checked),
            grain=bool(self.items["Grain"].Checked),
            mode=str(self.items["Mode"].CurrentText),
            out_dir=os.path.expanduser(self.items["Out"].Text.strip()),
            handles=int(handles) if handles.isdigit() else 0,
            host=host,
            port=int(port) if port.isdigit() else 0,
        )

    def show(self, text: str) -> None:
        self.items["Status"].Text = text

    def on_send(self, event: Any = None) -> None:
        if self.session is not None and not self.session.finished:
            self.show("A job is running; Cancel it first.")
            return
        req = self.request()
        if not req.matte:
            self.show("Give the object matte (a sequence such as roto.####.exr).")
            return
        self.session = RemoveSession(self.resolve, req, self.on_progress)
        self.items["Send"].Enabled = False
        self.timer.Start()

    def on_progress(self, stage: str, fraction: float, message: str) -> None:
        if stage == "job" and not self.panel_opened and self.session and self.session.job_id:
            # once per dialog: the panel lists every job, later sends included
            req = self.session.req
            self.panel_opened = open_job_panel(req.host, req.port or 0)
        self.show(f"{stage}: {bar(fraction)} {message}")

    def on_tick(self, event: Any = None) -> None:
        if self.panel_opened:
            pump_qt()
        if self.session is None or self.session.finished:
            return
        self.session.step()
        if self.session.finished:
            if not self.panel_opened:  # an open panel keeps being pumped until the dialog closes
                self.timer.Stop()
            self.items["Send"].Enabled = True

    def on_cancel(self, event: Any = None) -> None:
        if self.session is not None and not self.session.finished:
            self.session.cancel()
            self.show("Cancelling...")
        else:
            self.disp.ExitLoop()

    def on_close(self, event: Any = None) -> None:
        if self.session is not None and not self.session.finished:
            self.session.cancel()
        self.disp.ExitLoop()

    def run(self) -> None:
        self.window.Show()
        self.disp.RunLoop()
        self.window.Hide()


def launch(namespace: dict) -> Dialog:
    """Workspace > Scripts entry: find ``resolve`` and the UIManager, show the dialog."""
    resolve = get_resolve(namespace)
    fu = namespace.get("fu") or namespace.get("fusion")
    if fu is None:
        fu = resolve.Fusion()
    bmd = namespace.get("bmd")
    if fu is None or bmd is None:
        raise ResolveUnavailable(
            "Resolve's UIManager is not available here (no 'fu'/'bmd'); run the terminal mode: "
            'python "VOID Remove Object.py" --clip NAME --matte roto.####.exr'
        )
    ui = fu.UIManager
    dialog = Dialog(resolve, ui, bmd.UIDispatcher(ui))
    dialog.run()
    return dialog
