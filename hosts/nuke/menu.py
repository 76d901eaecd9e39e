"""void-vfx for Nuke's GUI: the VOID Remove node in Nodes > VOID (and the Tab menu), the job panel,
and Nuke > VOID menu commands. Wrapped so a broken install never breaks Nuke's start-up."""

import traceback

try:
    import nuke
    import nukescripts

    _create = "import void_vfx.hosts.nuke_node as m; m.create()"
    nuke.menu("Nodes").addMenu("VOID").addCommand("VOID Remove", _create)
    _menu = nuke.menu("Nuke").addMenu("VOID")
    _menu.addCommand("VOID Remove", _create)
    _menu.addCommand("Job panel", "import void_vfx.ui.job_panel as m; m.open_panel()")
    nukescripts.panels.registerWidgetAsPanel(
        "void_vfx.ui.job_panel.JobPanel", "VOID Jobs", "com.void_vfx.JobPanel"
    )
except BaseException:  # noqa: BLE001 - Nuke must start whatever happens here
    traceback.print_exc()
    print("void-vfx: the VOID menu could not be registered (see above); Nuke starts without it")
