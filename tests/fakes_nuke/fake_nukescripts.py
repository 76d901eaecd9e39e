"""The fake ``nukescripts``: ``panels.registerWidgetAsPanel``, ``registerPanel``, ``restorePanel``
and ``WidgetKnob``, as Foundry's ``nukescripts/panels.py`` writes them.

- ``registerWidgetAsPanel(widget, name, id, create=False)`` adds a Pane menu command and registers
  ``id`` for workspace restore; opening the pane builds a PythonPanel holding
  ``nuke.PyCustom_Knob(name, "", "__import__('nukescripts').panels.WidgetKnob(" + widget + ")")``.
- A PyCustom_Knob's command is evaluated in ``__main__`` (hosts-facts, third round): ``widget``
  is an *expression* there, so a dotted name whose package is not bound in ``__main__`` raises
  NameError. The fake's ``__main__`` holds what Nuke's holds after start-up that void-vfx relies
  on: ``nuke`` (the Script Editor's namespace); nothing from menu.py, which runs in its own.
- ``WidgetKnob(widget).makeUI()`` calls ``widget()`` with no arguments.
- ``restorePanel(id)`` (what a saved workspace does at start-up) calls the registered command.
"""

from __future__ import annotations

import builtins
from types import ModuleType


class _PythonPanel:
    """The PythonPanel registerWidgetAsPanel builds: the PyCustom_Knob command it holds."""

    def __init__(self, panels, widget: str, name: str, panel_id: str) -> None:
        self.name, self.id = name, panel_id
        self.command = "__import__('nukescripts').panels.WidgetKnob(" + widget + ")"
        self._panels = panels

    def makeUI(self):
        """What Nuke does when the pane is shown: evaluate the knob's command in ``__main__``,
        then call ``makeUI`` on what it returned."""
        knob_object = eval(self.command, self._panels._main_namespace())  # noqa: S307
        return knob_object.makeUI()


def make_module(nuke) -> ModuleType:
    scripts = ModuleType("nukescripts")
    panels = ModuleType("nukescripts.panels")
    panels._registered = {}
    panels._restorers = {}

    class WidgetKnob:
        def __init__(self, widget) -> None:
            self.widget = widget

        def makeUI(self):
            self.widgetInstance = self.widget()
            return self.widgetInstance

    def registerPanel(id: str, command) -> None:
        panels._restorers[id] = command

    def restorePanel(id: str):
        try:
            return panels._restorers[id]()
        except KeyError:
            print("Can't restore panel '", id, "' because it hasn't been registered.")
            return None

    def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False):
        if not isinstance(widget, str) or not isinstance(name, str) or not isinstance(id, str):
            raise TypeError("registerWidgetAsPanel takes strings: widget, name, id")
        panels._registered[id] = (widget, name)

        def add_panel(toPane: bool = True):
            return _PythonPanel(panels, widget, name, id)

        nuke.menu("Pane").addCommand(name, add_panel)
        registerPanel(id, add_panel)
        return _PythonPanel(panels, widget, name, id) if create else None

    def _main_namespace() -> dict:
        return {"__name__": "__main__", "__builtins__": builtins, "nuke": nuke}

    def _create(panel_id: str):
        """Test hook: the pane is restored from a saved workspace and shown; returns the widget."""
        return restorePanel(panel_id).makeUI()

    panels.WidgetKnob = WidgetKnob
    panels.registerPanel = registerPanel
    panels.restorePanel = restorePanel
    panels.registerWidgetAsPanel = registerWidgetAsPanel
    panels._main_namespace = _main_namespace
    panels._create = _create
    scripts.panels = panels
    scripts.registerWidgetAsPanel = registerWidgetAsPanel
    return scripts
