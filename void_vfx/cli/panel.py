"""``void-vfx panel``: the job panel in a window of its own (PySide6)."""

from __future__ import annotations

import argparse

from void_vfx.protocol.wire import DEFAULT_PORT


def add_panel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server", default=f"127.0.0.1:{DEFAULT_PORT}", help="HOST:PORT of the void-vfx server"
    )


def run_panel(args: argparse.Namespace) -> int:
    from void_vfx.hosts.nuke_spec import parse_server
    from void_vfx.ui.job_panel import open_panel
    from void_vfx.ui.qt import QtWidgets, exec_app

    open_panel(parse_server(args.server))
    return exec_app(QtWidgets.QApplication.instance())
