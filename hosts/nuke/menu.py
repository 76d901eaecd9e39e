"""void-vfx for Nuke's GUI: the VOID Remove node in Nodes > VOID (and the Tab menu), the job panel,
Nuke > VOID menu commands, and re-attaching VOID Remove nodes to their jobs when a script opens.
Wrapped so a broken install never breaks Nuke's start-up."""

import traceback

try:
    import nuke
    import nukescripts

    _create = "import void_vfx.hosts.nuke_node as m; m.create()"
    nuke.menu("Nodes").addMenu("VOID").addCommand("VOID Remove", _create)
    _menu = nuke.menu("Nuke").addMenu("VOID")
    _menu.addCommand("VOID Remove", _create)
    _menu.addCommand("Job panel", "import void_vfx.ui.job_panel as m; m.open_panel()")
    # Foundry's panels.py evaluates this string in __main__ (inside a PyCustom_Knob), also when a
    # saved workspace restores the pane: it must import what it names.
    nukescripts.panels.registerWidgetAsPanel(
        "__import__('void_vfx.ui.job_panel', fromlist=['JobPanel']).JobPanel",
        "VOID Jobs",
        "com.void_vfx.JobPanel",
    )

    def _reattach():
        import void_vfx.hosts.nuke_send as m

        m.on_script_load()

    nuke.addOnScriptLoad(_reattach)

    def _update_ui():
        import void_vfx.hosts.nuke_node as m

        m.update_ui(nuke.thisNode())

    nuke.addUpdateUI(_update_ui, nodeClass="Group")
except BaseException:  # noqa: BLE001 - Nuke must start whatever happens here
    traceback.print_exc()
    print("void-vfx: the VOID menu could not be registered (see above); Nuke starts without it")
