"""PySide6 (Nuke 16+, the standalone panel) or PySide2 (Nuke 13-15), under one set of names.

Only what the job panel uses. PySide6 is tried first; ``VOID_VFX_QT=PySide2`` forces the older
binding. Qt 6 moved ``QAction`` to QtGui and renamed ``exec_`` to ``exec``: both are named here.
"""

from __future__ import annotations

import importlib
import os


def _load():
    order = ["PySide6", "PySide2"]
    if os.environ.get("VOID_VFX_QT") in order:
        order.remove(os.environ["VOID_VFX_QT"])
        order.insert(0, os.environ["VOID_VFX_QT"])
    errors = []
    for name in order:
        try:
            core = importlib.import_module(f"{name}.QtCore")
            gui = importlib.import_module(f"{name}.QtGui")
            widgets = importlib.import_module(f"{name}.QtWidgets")
        except ImportError as ex:
            errors.append(f"{name}: {ex}")
            continue
        return name, core, gui, widgets
    raise ImportError("no Qt binding: install PySide6 (" + "; ".join(errors) + ")")


BINDING, QtCore, QtGui, QtWidgets = _load()


def exec_app(app) -> int:
    """Run the event loop: ``exec`` in Qt 6, ``exec_`` in PySide2."""
    run = getattr(app, "exec", None) or app.exec_
    return int(run())
