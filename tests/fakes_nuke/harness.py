"""Helpers the Nuke tests share: fresh fakes and host modules, a demo shot, a comp around it."""

from __future__ import annotations

import importlib
import sys

HOST_MODULES = ("void_vfx.hosts.nuke_node", "void_vfx.hosts.nuke_send", "void_vfx.hosts.nuke_batch")


def fresh(monkeypatch, tmp_path, gui: bool = True):
    """Install the fakes, point the client's config at ``tmp_path``, import the host modules anew
    (they bind the ``nuke`` they import). Returns (nuke, nuke_node, nuke_send)."""
    from fakes_nuke import install

    nuke = install(monkeypatch, gui=gui)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in HOST_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    node = importlib.import_module("void_vfx.hosts.nuke_node")
    send = importlib.import_module("void_vfx.hosts.nuke_send")
    return nuke, node, send


def comp(nuke, nuke_node, shot, *, object_through=None, affected=True):
    """Reads of the demo shot and a VOID Remove node on them, created as a user does (the plate
    Read selected, then the menu command). ``object_through`` puts a node class (Multiply)
    between the object matte's Read and the node, so the matte must be rendered."""
    reads = {}
    for role, pattern in (
        ("plate", shot.plate),
        ("object", shot.primary),
        ("affected", shot.affected),
    ):
        read = nuke.nodes.Read(name=f"Read_{role}")
        read["file"].fromUserText(f"{pattern} {shot.first}-{shot.last}")
        read["colorspace"].setValue(shot.colourspace)
        reads[role] = read
    reads["plate"].setSelected(True)
    group = nuke_node.create()
    matte = reads["object"]
    if object_through:
        matte = getattr(nuke.nodes, object_through)()
        matte.setInput(0, reads["object"])
    group.setInput(1, matte)
    if affected:
        group.setInput(2, reads["affected"])
    return group, reads


def preview_server(folder):
    """A real preview server on 127.0.0.1 with its data and token in ``folder``; ``token_file``
    names the token for the node's client (the caller closes it)."""
    from void_vfx.server_entry import server_api

    srv = server_api().start_local_server(folder / "data", folder / "token", "preview")
    srv.token_file = folder / "token"
    return srv
