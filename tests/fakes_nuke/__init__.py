"""Fakes of Nuke's ``nuke`` and ``nukescripts`` modules for the VOID Remove tests.

They follow Foundry's documented Python API for exactly the calls void-vfx makes and refuse
everything else: an unknown module attribute, node class, knob or method raises, so a call that
Nuke lacks fails the test. A Write's ``execute`` writes real EXRs through OpenImageIO from what its
Read inputs hold (see :mod:`.graph`). Test files install them with :func:`install`.
"""

from __future__ import annotations

import sys
from types import ModuleType


def install(monkeypatch, gui: bool = True) -> ModuleType:
    """Put fresh fakes in ``sys.modules`` (``nuke``, ``nukescripts``); return the ``nuke`` fake."""
    from fakes_nuke import fake_nuke, fake_nukescripts

    nuke = fake_nuke.make_module(gui=gui)
    scripts = fake_nukescripts.make_module(nuke)
    monkeypatch.setitem(sys.modules, "nuke", nuke)
    monkeypatch.setitem(sys.modules, "nukescripts", scripts)
    monkeypatch.setitem(sys.modules, "nukescripts.panels", scripts.panels)
    return nuke
