"""The fake ``nukescripts``: only ``panels.registerWidgetAsPanel`` (Nuke Python API reference,
``nukescripts.panels``). The widget is given as a string naming an importable QWidget class."""

from __future__ import annotations

import importlib
from types import ModuleType


def make_module(nuke) -> ModuleType:
    scripts = ModuleType("nukescripts")
    panels = ModuleType("nukescripts.panels")
    panels._registered = {}

    def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False):
        if not isinstance(widget, str) or "." not in widget:
            raise TypeError(
                "registerWidgetAsPanel takes the widget class as a 'module.Class' string"
            )
        if not isinstance(name, str) or not isinstance(id, str) or not id:
            raise TypeError("registerWidgetAsPanel takes a panel name and a unique id string")
        panels._registered[id] = (widget, name)
        nuke.menu("Pane").addCommand(name, lambda: panels._create(id))
        return None

    def _create(panel_id: str):
        """What Nuke does when the pane is opened: import the class and build it with no
        arguments (test hook)."""
        widget, _ = panels._registered[panel_id]
        module_name, _, cls = widget.rpartition(".")
        return getattr(importlib.import_module(module_name), cls)()

    panels.registerWidgetAsPanel = registerWidgetAsPanel
    panels._create = _create
    scripts.panels = panels
    return scripts
