"""``void-vfx panel``: the job panel in a window of its own (PySide6)."""

from __future__ import annotations

import argparse

from void_vfx.protocol.wire import DEFAULT_PORT


def add_panel_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server", default=f"127.0.0.1:{DEFAULT_PORT}", help="HOST:PORT of the void-vfx server"
    )
    p.add_argument("--token-file", default=None, help="token file (default: user config folder)")


def run_panel(args: argparse.Namespace) -> int:
    from void_vfx.cli.extras import install_line
    from void_vfx.errors import VoidVfxError
    from void_vfx.hosts.nuke_spec import parse_server
    from void_vfx.ui.display import window_problem

    problem = window_problem()  # Qt would abort the process: say why first
    if problem:
        raise VoidVfxError(problem)
    try:
        from void_vfx.ui.job_panel import open_panel
        from void_vfx.ui.qt import QtWidgets, exec_app
    except ImportError as ex:
        raise VoidVfxError(f"{ex}; install it with: {install_line('ui')}") from None
    open_panel(parse_server(args.server), token_file=args.token_file)
    return exec_app(QtWidgets.QApplication.instance())
