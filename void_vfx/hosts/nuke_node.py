"""The VOID Remove node: a Group built from code, its knobs, and what its knobs change.

Every function here runs on Nuke's main thread (button presses, knobChanged, or calls the send
worker marshals with ``nuke.executeInMainThreadWithResult``). Imports ``nuke``; the logic it uses
(:mod:`.nuke_spec`, :mod:`.nuke_quadmask`, :mod:`.nuke_versions`) is plain Python.

Inside the group: Inputs ``plate``, ``object``, ``affected``; Writes ``write_plate``,
``write_object``, ``write_affected`` (disabled except while Send renders, so a script-wide render
never runs them); ``copy_affected`` + ``quadmask_view`` (the quadmask Expression); ``result``, the
Read of the cleaned plate; ``in_range`` (a Switch showing the result on its frames and the plate
elsewhere); ``switch`` (0 plate, 1 result in range, 2 quadmask view) into ``Output1``.
"""

from __future__ import annotations

import json
import os

import nuke

from void_vfx.hosts import nuke_quadmask, nuke_versions
from void_vfx.hosts.nuke_spec import (
    INPUTS,
    PASS_THROUGH,
    RANGE_MODES,
    THIRD_INPUT,
    NodeSettings,
    absolute_path,
)

LABEL = "VOID Remove"
NAME = "VOIDRemove"
SHOW_PLATE, SHOW_RESULT, SHOW_QUADMASK = 0, 1, 2
#: The inner layout's version, kept in the hidden ``void_node`` knob (absent: 1). 2 added
#: ``in_range``. A saved script's nodes are brought up to date when it opens (:func:`upgrade`);
#: the buttons and callbacks call into void_vfx, so everything else picks up fixes by itself.
NODE_VERSION = 2
_CALL = "import void_vfx.hosts.{module} as m; m.{fn}(nuke.thisNode())"
_D = NodeSettings()
#: Nodes whose show_version runs now: Nuke 17.1 runs knobChanged for programmatic changes too,
#: so setting the version knob from show_version must not call show_version again.
_SHOWING: set[str] = set()


def create():
    """The menu command: a new VOID Remove node, its plate input on the selected node."""
    try:
        selected = nuke.selectedNode()
    except ValueError:  # nothing selected
        selected = None
    node = nuke.createNode("Group")
    build(node)  # a new Group has no inputs until its Input nodes exist: connect it now
    if selected is not None and selected is not node and node.input(0) is None:
        node.setInput(0, selected)
    return node


def build(group) -> None:
    """Fill an empty Group with the inner nodes and the knobs."""
    group.setName(NAME)
    group.begin()
    try:
        inputs = []
        for number, role in enumerate(INPUTS):
            inputs.append(nuke.nodes.Input(name=role, number=number))
            write = nuke.nodes.Write(name=f"write_{role}", disable=True, file_type="exr")
            write.setInput(0, inputs[-1])
        copy = nuke.nodes.Copy(
            name="copy_affected",
            from0=nuke_quadmask.PRIMARY_CHANNEL,
            to0=nuke_quadmask.AFFECTED_CHANNEL,
        )
        copy.setInput(0, inputs[1])
        copy.setInput(1, inputs[2])
        # The soft edge: the solid primary into blue, grown by a Dilate (Erode (fast)) node.
        solid = nuke.nodes.Expression(name="soft_solid")
        solid.setInput(0, copy)
        grow = nuke.nodes.Dilate(
            name="soft_grow",
            channels=nuke_quadmask.SOLID_CHANNEL,
            size=float(nuke_quadmask.SOFT_EDGE_PX),
        )
        grow.setInput(0, solid)
        view = nuke.nodes.Expression(name="quadmask_view")
        view.setInput(0, grow)
        result = nuke.nodes.Read(name="result", on_error="error")
        in_range = nuke.nodes.Switch(name="in_range", which=0)
        in_range.setInput(0, inputs[0])
        in_range.setInput(1, result)
        switch = nuke.nodes.Switch(name="switch", which=SHOW_PLATE)
        for i, node in enumerate((inputs[0], in_range, view)):
            switch.setInput(i, node)
        nuke.nodes.Output(name="Output1").setInput(0, switch)
    finally:
        group.end()
    _add_knobs(group)
    update_view(group)


def _knob(group, knob, tooltip: str = "", newline: bool = True, value=None):
    if value is not None:  # Foundry documents Int_Knob/Double_Knob(name, label), then setValue
        knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    if not newline:
        knob.clearFlag(nuke.STARTLINE)
    group.addKnob(knob)
    return knob


def _add_knobs(g) -> None:
    _knob(g, nuke.Tab_Knob("void", LABEL))
    _knob(g, nuke.String_Knob("server", "server", _D.server), "host:port of the void-vfx server")
    engine = _knob(g, nuke.Enumeration_Knob("engine", "engine", ["void", "preview"]))
    engine.setValue(_D.engine)
    _knob(
        g,
        nuke.Enumeration_Knob("third_input", "third input", list(THIRD_INPUT)),
        "input 3 holds the affected matte (shadows, what falls) or a ready quadmask",
    )
    _knob(
        g,
        nuke.Multiline_Eval_String_Knob("prompt", "prompt"),
        "what the shot looks like after the removal",
    )
    _knob(g, nuke.Enumeration_Knob("range_mode", "frame range", list(RANGE_MODES)))
    _knob(g, nuke.Int_Knob("first", "first"), newline=False, value=_D.first)
    _knob(g, nuke.Int_Knob("last", "last"), newline=False, value=_D.last)
    _add_view_knob(g)
    passes = _knob(g, nuke.Enumeration_Knob("passes", "passes", ["1", "2"]))
    passes.setValue(str(_D.passes))
    _knob(g, nuke.Int_Knob("steps", "steps"), "Pass 1 denoising steps", False, _D.steps)
    _knob(g, nuke.Int_Knob("seed", "seed"), newline=False, value=_D.seed)
    _knob(
        g,
        nuke.Int_Knob("min_window", "min window"),
        "shortest model window (8j+5): 13 or 21 is faster, 85 is what VOID was trained on",
        value=_D.min_window,
    )
    _knob(
        g,
        nuke.Double_Knob("roi_margin", "ROI margin"),
        "margin around the mask's box, as a fraction of the box",
        value=_D.roi_margin,
    )
    _knob(g, nuke.Int_Knob("roi_feather", "feather"), newline=False, value=_D.roi_feather)
    _knob(
        g,
        nuke.Boolean_Knob("finish_detail", "detail from other frames"),
        "the fill made as sharp as the plate with fine detail other frames see behind the object",
        value=_D.finish_detail,
    )
    _knob(
        g,
        nuke.Boolean_Knob("finish_grain", "match grain"),
        "the plate's grain, measured outside the mask, put on the clean fill",
        newline=False,
        value=_D.finish_grain,
    )
    _knob(
        g,
        nuke.File_Knob("output_dir", "output folder"),
        "where the versions go; empty: void/ beside the saved script",
    )
    _knob(
        g,
        nuke.String_Knob("output_name", "output name"),
        "base name of the versions; empty: the plate's name",
    )
    _knob(g, nuke.PyScript_Knob("send", "Send", _CALL.format(module="nuke_send", fn="send")))
    _knob(
        g,
        nuke.PyScript_Knob("cancel", "Cancel", _CALL.format(module="nuke_send", fn="cancel")),
        newline=False,
    )
    _knob(g, nuke.Boolean_Knob("show_quadmask", "show quadmask"), newline=False)
    _knob(g, nuke.Text_Knob("status", "status", "idle"))
    progress = _knob(g, nuke.Double_Knob("progress", "progress"))
    progress.setRange(0.0, 100.0)
    progress.setEnabled(False)
    _knob(
        g,
        nuke.Enumeration_Knob("version", "version", [nuke_versions.NONE]),
        "the result shown: none shows the plate",
    )
    for name in ("job_id", "void_state"):
        hidden = _knob(g, nuke.String_Knob(name, name))
        hidden.setVisible(False)
    _knob(g, nuke.Int_Knob("void_node", "void_node"), value=NODE_VERSION).setVisible(False)
    g["knobChanged"].setValue(_CALL.format(module="nuke_node", fn="knob_changed"))


def _add_view_knob(group) -> None:
    _knob(
        group,
        nuke.Enumeration_Knob("view", "view", list(nuke.views())),
        "the view each Send sends (one job per view); a script with one view sends it",
    )


def upgrade(group) -> bool:
    """Bring a node saved by an older void-vfx up to :data:`NODE_VERSION`; True if it changed."""
    knob = group.knob("void_node")
    if knob is not None and knob.value() >= NODE_VERSION:
        return False
    if group.node("in_range") is None:
        group.begin()
        try:
            in_range = nuke.nodes.Switch(name="in_range", which=0)
            in_range.setInput(0, group.node(INPUTS[0]))
            in_range.setInput(1, group.node("result"))
            group.node("switch").setInput(SHOW_RESULT, in_range)
        finally:
            group.end()
    if group.knob("view") is None:
        _add_view_knob(group)
    if knob is None:
        knob = _knob(group, nuke.Int_Knob("void_node", "void_node"))
        knob.setVisible(False)
    knob.setValue(NODE_VERSION)
    return True


# -- reading the node ------------------------------------------------------------------------
def settings(group) -> NodeSettings:
    names = [f for f in NodeSettings.__dataclass_fields__]
    return NodeSettings.from_knobs({n: group[n].value() for n in names if group.knob(n)})


def describe(node) -> dict:
    """A node as the plain dict :func:`void_vfx.hosts.nuke_spec.files_as_they_are` reads."""
    out = {"class": node.Class()}
    if node.Class() == "Read":
        for name in ("file", "first", "last", "frame", "premultiplied", "colorspace", "raw"):
            out[name] = node[name].value()
        out["file"] = file_path(node)
    return out


def file_path(node) -> str:
    """A Read's file as Nuke reads it: TCL evaluated (``nuke.filename``, frame and view tokens
    kept) and made absolute against the Root's evaluated ``project_directory``."""
    project = nuke.root()["project_directory"].getEvaluatedValue() or ""
    return absolute_path(nuke.filename(node) or "", project, os.getcwd())


def upstream(group, index: int) -> tuple[list[dict], dict | None]:
    """(the chain from input ``index`` to its first real node, the first Read above it)."""
    chain, node = [], group.input(index)
    while node is not None and node.Class() in PASS_THROUGH:
        chain.append(describe(node))
        node = node.input(0)
    if node is None:
        return [], None
    chain.append(describe(node))
    for _ in range(1000):  # the first Read up the B pipe, for its colour space
        if node is None or node.Class() == "Read":
            break
        node = node.input(0)
    return chain, (describe(node) if node is not None else None)


def input_range(group) -> tuple[int, int]:
    frames = group.input(0).frameRange()
    return frames.first(), frames.last()


def state(group) -> dict:
    """What the last Send left on the node: output folder, name, plate colour space."""
    try:
        return json.loads(group["void_state"].value() or "{}")
    except ValueError:
        return {}


# -- writing the node ------------------------------------------------------------------------
def set_status(group, text: str, progress: float | None = None) -> None:
    group["status"].setValue(text)
    if progress is not None:
        group["progress"].setValue(float(progress))


def refresh_versions(group) -> list[str]:
    s = state(group)
    items = nuke_versions.version_items(s.get("out_dir", ""), s.get("name", "")) if s else ["none"]
    group["version"].setValues(items)
    return items


def show_version(group, item: str) -> bool:
    """Point the inner Read at version ``item`` and show it; "none" shows the plate."""
    key = group.fullName()
    if key in _SHOWING:
        return True
    _SHOWING.add(key)
    try:
        return _show_version(group, item)
    finally:
        _SHOWING.discard(key)


def _show_version(group, item: str) -> bool:
    s = state(group)
    found = nuke_versions.version_sequence(s.get("out_dir", ""), s.get("name", ""), item)
    if found is None:
        group["version"].setValue(nuke_versions.NONE)
        update_view(group)
        return False
    pattern, first, last = found
    group["version"].setValue(item)
    read = group.node("result")
    read["file"].fromUserText(f"{pattern} {first}-{last}")
    for name, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
        read[name].setValue(value)
    read["colorspace"].setValue(s.get("colorspace") or "default")
    read["raw"].setValue(bool(s.get("raw")))
    read["on_error"].setValue("error")  # a missing result frame must show, not pass as black
    read["reload"].execute()
    in_range = group.node("in_range")  # absent in nodes built before it existed
    if in_range is not None:  # outside the cleaned frames the plate passes through
        in_range["which"].setExpression(f"frame >= {int(first)} && frame <= {int(last)}")
    update_view(group)
    return True


def update_view(group) -> None:
    """The switch and the quadmask Expression, from show_quadmask, third_input and version."""
    s = settings(group) if group.knob("server") else _D
    quad_mode = s.third_input == "quadmask"
    has_affected = group.input(2) is not None
    first = None
    if group.knob("server") and group.input(0) is not None:
        first = s.first if s.range_mode == "custom" else input_range(group)[0]
    inner = {n.name(): n for n in group.nodes()}
    soft = nuke_quadmask.SOFT_EDGE_PX if "soft_grow" in inner else 0  # absent in older nodes
    expr = nuke_quadmask.quadmask_expression(
        has_affected=has_affected, clear_first_frame=first, soft_edge_px=soft
    )
    views = list(nuke.views())
    if group.knob("view") is not None and group["view"].values() != views:
        group["view"].setValues(views)  # the script's views, kept current at idle
    for i in range(4):  # only what differs is set: update_ui runs this at every idle moment
        _set(inner["quadmask_view"][f"expr{i}"], expr)
    if soft:
        for i, text in enumerate(nuke_quadmask.solid_expressions()):
            _set(inner["soft_solid"][f"expr{i}"], text)
    source = inner["affected" if quad_mode else "quadmask_view"]
    if inner["switch"].input(SHOW_QUADMASK) is not source:
        inner["switch"].setInput(SHOW_QUADMASK, source)
    if group.knob("show_quadmask") and group["show_quadmask"].value():
        which = SHOW_QUADMASK
    elif group.knob("version") and group["version"].value() != nuke_versions.NONE:
        which = SHOW_RESULT
    else:
        which = SHOW_PLATE
    _set(inner["switch"]["which"], which)


def _set(knob, value) -> None:
    if knob.value() != value:
        knob.setValue(value)


def update_ui(group) -> None:
    """Nuke's updateUI callback (menu.py): knobChanged runs only while the node's panel is open,
    so inputs rewired with the panel shut would leave the quadmask view stale; updateUI runs at
    idle whether the panel is open or not (NDG ``nuke.addKnobChanged`` / ``addUpdateUI``)."""
    if group.knob("void_node") is not None and group.node("quadmask_view") is not None:
        update_view(group)


def knob_changed(group) -> None:
    """The group's knobChanged: the view follows the knobs."""
    knob = nuke.thisKnob()
    name = knob.name() if knob is not None else ""
    if name == "version":
        show_version(group, group["version"].value())
    elif name in ("show_quadmask", "third_input", "range_mode", "first", "inputChange"):
        update_view(group)
