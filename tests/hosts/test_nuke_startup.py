"""Nuke start-up: init.py, menu.py (never breaking start-up), the panel registration,
``void-vfx install nuke``, and what the Nuke side imports."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from fakes_nuke import harness
from host_python import run_like_a_host

from void_vfx.cli.main import main as cli_main
from void_vfx.hosts import nuke_quadmask

REPO = Path(__file__).resolve().parents[2]
NUKE_DIR = REPO / "hosts" / "nuke"


def test_init_puts_void_vfx_on_the_path_and_menu_registers_the_node(monkeypatch, tmp_path):
    nuke, _, _ = harness.fresh(monkeypatch, tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO])
    runpy.run_path(str(NUKE_DIR / "init.py"))
    assert sys.path[0] == str(REPO)
    runpy.run_path(str(NUKE_DIR / "menu.py"))
    item = nuke.menu("Nodes").findItem("VOID/VOID Remove")
    assert item is not None and nuke.menu("Nuke").findItem("VOID/Job panel") is not None
    item.invoke()  # what Tab > VOID Remove does
    group = nuke.toNode("VOIDRemove")
    assert group is not None and group.Class() == "Group" and group.maxInputs() == 3
    names = [n.name() for n in group.nodes()]
    assert names[:2] == ["plate", "write_plate"] and "result" in names and "switch" in names
    for knob in (
        "server",
        "prompt",
        "range_mode",
        "passes",
        "steps",
        "seed",
        "roi_margin",
        "roi_feather",
        "output_dir",
        "output_name",
        "send",
        "cancel",
        "status",
        "progress",
        "version",
        "show_quadmask",
        "engine",
        "third_input",
    ):
        assert group.knob(knob) is not None, knob
    assert group["engine"].values() == ["void", "preview"] and group["engine"].value() == "void"
    assert group["progress"].enabled() is False and group["job_id"].visible() is False
    # The pane: Foundry's panels.py evaluates the widget string in __main__, where menu.py's
    # names are not bound, also when a saved workspace restores it (restorePanel).
    panels = sys.modules["nukescripts.panels"]
    widget, name = panels._registered["com.void_vfx.JobPanel"]
    assert name == "VOID Jobs" and nuke.menu("Pane").findItem("VOID Jobs") is not None
    import void_vfx.ui.job_panel as job_panel

    for panel in (
        panels.restorePanel("com.void_vfx.JobPanel"),
        nuke.menu("Pane").findItem("VOID Jobs").script()(),
    ):
        knob = eval(panel.command, panels._main_namespace())  # what the PyCustom_Knob does
        assert knob.widget is job_panel.JobPanel
    # The fake is strict where Nuke is: a bare dotted name is not bound in __main__.
    with pytest.raises(NameError):
        panels.registerWidgetAsPanel("void_vfx.ui.job_panel.JobPanel", "x", "x.y", True).makeUI()
    assert len(panels._main_namespace()) == 3  # __main__ gained nothing from menu.py
    # Inputs rewired with the panel shut: no knobChanged runs, updateUI (at idle) does.
    view = group.node("quadmask_view")["expr0"]
    before = view.value()
    reads = [nuke.nodes.Read(name=f"r{i}") for i in range(3)]
    for i, read in enumerate(reads):
        read["file"].fromUserText(f"/s/{i}.####.exr 1001-1010")
        group.setInput(i, read)
    assert view.value() == before  # nothing ran yet
    nuke._idle()
    assert view.value() != before and "frame != 1001" in view.value()
    group.setInput(2, None)
    nuke._idle()
    assert view.value() == nuke_quadmask.quadmask_expression(
        has_affected=False, soft_edge_px=nuke_quadmask.SOFT_EDGE_PX
    )


def test_a_broken_install_does_not_break_startup(monkeypatch, tmp_path, capsys):
    harness.fresh(monkeypatch, tmp_path)
    monkeypatch.delitem(sys.modules, "nukescripts")  # an install whose import fails
    monkeypatch.setitem(sys.modules, "nukescripts", None)
    runpy.run_path(str(NUKE_DIR / "menu.py"))
    assert "the VOID menu could not be registered" in capsys.readouterr().out


def test_install_nuke_is_idempotent_and_print_writes_nothing(tmp_path, capsys):
    nuke_dir = tmp_path / ".nuke"
    nuke_dir.mkdir()
    (nuke_dir / "init.py").write_text("import nuke\nnuke.pluginAddPath('/studio/tools')")
    assert cli_main(["install", "nuke", "--print", "--nuke-dir", str(nuke_dir)]) == 0
    assert "nuke.pluginAddPath('" + str(NUKE_DIR) + "')" in capsys.readouterr().out
    assert not (nuke_dir / "void_vfx_lib").exists()
    for _ in range(2):
        assert cli_main(["install", "nuke", "--nuke-dir", str(nuke_dir)]) == 0
    text = (nuke_dir / "init.py").read_text()
    assert text.startswith("import nuke\nnuke.pluginAddPath('/studio/tools')\n")
    assert text.count("# >>> void-vfx >>>") == 1 and str(NUKE_DIR) in text
    assert (nuke_dir / "void_vfx_lib" / "rpyc" / "__init__.py").is_file()
    assert "already loads void-vfx" in capsys.readouterr().out


def test_install_of_a_missing_target_says_so(monkeypatch, capsys):
    from void_vfx.cli import install

    monkeypatch.setitem(install.TARGETS, "resolve", "void_vfx.hosts.no_such_install")
    assert cli_main(["install", "resolve"]) == 2
    err = capsys.readouterr().err
    assert "install resolve is not available" in err and "Traceback" not in err


NUKE_SIDE = [
    "void_vfx.hosts.nuke_node",
    "void_vfx.hosts.nuke_send",
    "void_vfx.hosts.nuke_batch",
    "void_vfx.hosts.nuke_spec",
    "void_vfx.ui.job_records",
]


@pytest.mark.parametrize("module", NUKE_SIDE)
def test_nuke_side_imports_only_stdlib_rpyc_and_host_parts(module):
    proc, heavy = run_like_a_host(
        f"import importlib; importlib.import_module({module!r})",
        # Nuke's own module, nothing else
        prelude="import types; sys.modules['nuke'] = types.ModuleType('nuke')\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert heavy == []
