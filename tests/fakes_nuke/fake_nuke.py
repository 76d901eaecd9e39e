"""The fake ``nuke`` module: nodes, knobs, groups, execute, threads, ProgressTask, menus.

Behaviour follows Foundry's Nuke Python developer guide (threading, ProgressTask, execute, menus):

- ``executeInMainThread`` and ``executeInMainThreadWithResult`` called from the main thread raise,
  because in Nuke they hang. From another thread they queue the call for the GUI's event loop,
  which a test runs with ``nuke._process_events``; ``...WithResult`` waits for it and returns None
  when the call raised (printing the traceback), as Nuke does.
- ``execute`` must run on the main thread and writes real EXRs (see :mod:`fakes_nuke.graph`).

Names starting with ``_`` are test hooks, never Nuke API; production code must not use them.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import traceback
from types import ModuleType

from fakes_nuke import graph, knobs, nodes, tcl


class ProgressTask:
    """``nuke.ProgressTask(name)``: setProgress, setMessage, isCancelled; a test presses Cancel
    with ``_cancel()``."""

    def __init__(self, module, name: str) -> None:
        self._name = str(name)
        self._progress: list[int] = []
        self._messages: list[str] = []
        self._cancelled = False
        module._tasks.append(self)

    def setProgress(self, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"fake nuke: ProgressTask progress {value!r} must be an int 0-100")
        self._progress.append(value)

    def setMessage(self, text: str) -> None:
        self._messages.append(str(text))

    def isCancelled(self) -> bool:
        return self._cancelled

    def _cancel(self) -> None:
        self._cancelled = True


class Undo:
    """``nuke.Undo()``: ``begin(name)`` ... ``end()`` groups the changes between them into one
    undo step (Foundry's reference, ``nuke.Undo``); the fake records the named groups."""

    def __init__(self, module) -> None:
        self._module, self._name = module, None

    def begin(self, name: str | None = None) -> None:
        if self._name is not None:
            raise RuntimeError("fake nuke: Undo.begin twice without end")
        self._name = name or ""

    def end(self) -> None:
        if self._name is None:
            raise RuntimeError("fake nuke: Undo.end without begin")
        self._module._undo_groups.append(self._name)
        self._name = None

    def cancel(self) -> None:
        self._name = None


class MenuItem:
    def __init__(self, module, name: str, command, shortcut: str = "", icon: str = "") -> None:
        self._module, self._name, self._command = module, name, command
        self._shortcut, self._icon = shortcut, icon

    def name(self) -> str:
        return self._name

    def script(self):
        return self._command

    def invoke(self) -> None:
        if callable(self._command):
            self._command()
        else:
            exec(self._command, {"nuke": self._module})  # noqa: S102 - a menu command string


class Menu(MenuItem):
    """``nuke.Menu``: ``addMenu``, ``addCommand``, ``findItem``, ``items``."""

    def __init__(self, module, name: str, icon: str = "") -> None:
        super().__init__(module, name, None, icon=icon)
        self._items: list[MenuItem] = []

    def addMenu(self, name: str, icon: str = "", index: int = -1) -> Menu:
        found = self.findItem(name)
        if isinstance(found, Menu):
            return found
        menu = Menu(self._module, name, icon)
        self._items.append(menu)
        return menu

    def addCommand(
        self,
        name: str,
        command="",
        shortcut: str = "",
        icon: str = "",
        tooltip: str = "",
        index: int = -1,
    ) -> MenuItem:
        path, _, leaf = name.rpartition("/")
        menu = self.addMenu(path) if path else self
        item = MenuItem(self._module, leaf, command, shortcut, icon)
        menu._items.append(item)
        return item

    def findItem(self, name: str):
        head, _, rest = name.partition("/")
        item = next((i for i in self._items if i._name == head), None)
        if rest and isinstance(item, Menu):
            return item.findItem(rest)
        return None if rest else item

    def items(self) -> list:
        return list(self._items)


def make_module(gui: bool = True) -> ModuleType:
    m = ModuleType("nuke")
    m.__doc__ = "fake nuke for the void-vfx tests"
    m.GUI = bool(gui)
    m.STARTLINE = knobs.STARTLINE
    for name in (
        "String_Knob",
        "Multiline_Eval_String_Knob",
        "Tab_Knob",
        "Text_Knob",
        "File_Knob",
        "Int_Knob",
        "Double_Knob",
        "Boolean_Knob",
        "Enumeration_Knob",
        "PyScript_Knob",
    ):
        setattr(m, name, getattr(knobs, name))
    m.FrameRange = nodes.FrameRange
    root = nodes.Node(m, "Root", "Root", None)
    m._root, m._context, m._tasks = root, [root], []
    m._main = threading.main_thread()
    m._queue: queue.Queue = queue.Queue()
    m._this: list = []
    m._menus: dict[str, Menu] = {}
    m._plugin_paths: list[str] = []
    m._executed: list = []
    m._saved: list = []
    m._meters = 0
    m._cancel_render_after = None
    m._on_script_load: list = []
    m._update_ui: list = []
    m._undo_groups: list = []
    m._filename_printf = False  # True: nuke.filename gives #### back as %04d
    m._knob_changed_on_set = False  # True plays Nuke 17.1 (see knobs.Knob._changed)

    def root_():
        return m._root

    def _current():
        return m._context[-1]

    def _new(cls: str, values: dict):
        parent = _current()
        if parent._class not in ("Root", "Group"):
            raise RuntimeError("fake nuke: the current context is not a group")
        name = values.pop("name", None) or f"{cls}1"
        node = nodes.Node(m, cls, name, parent)
        parent._children.append(node)
        node.setName(name)
        for key, value in values.items():
            node[key].setValue(value)
        return node

    class _Nodes:
        """``nuke.nodes.<Class>(**knobs)``: a node in the current group, not connected."""

        def __getattr__(self, cls: str):
            if cls not in nodes.CLASS_KNOBS or cls == "Root":
                raise AttributeError(f"fake nuke: nuke.nodes has no class {cls!r}")
            return lambda **values: _new(cls, dict(values))

    def createNode(node: str, args: str = "", inpanel: bool = True):
        """Create a node; in the GUI its input 0 connects to the selected node, as Nuke does."""
        if args:
            raise NotImplementedError("fake nuke: void-vfx passes no knob string to createNode")
        selected = [n for n in _current()._children if n._selected]
        new = _new(node, {})
        if m.GUI and len(selected) == 1 and new.maxInputs() > 0:
            new.setInput(0, selected[0])
        for n in _current()._children:
            n._selected = n is new
        return new

    def toNode(name: str):
        group = _current()
        for part in name.split("."):
            group = (
                group.node(part)
                if group is not None and group._class in ("Root", "Group")
                else None
            )
        return group

    def selectedNode():
        sel = [n for n in _current()._children if n._selected]
        if not sel:
            raise ValueError("no node selected")
        return sel[-1]

    def thisNode():
        return m._this[-1][0] if m._this else m._root

    def thisKnob():
        return m._this[-1][1] if m._this else None

    def _run_callback(code: str, node, knob) -> None:
        m._this.append((node, knob))
        try:
            exec(code, {"nuke": m})  # noqa: S102 - a knob's script, as Nuke runs it
        finally:
            m._this.pop()

    def execute(
        nameOrNode, start: int, end: int, incr: int = 1, views=None, continueOnError: bool = False
    ) -> None:
        executeMultiple((nameOrNode,), ((start, end, incr),), views, continueOnError)

    def executeMultiple(nodes, ranges=(), views=None, continueOnError: bool = False) -> None:
        """NDG ``nuke.execute``/``executeMultiple``: main thread only; each call shows one
        progress meter in the GUI whose Cancel raises ``RuntimeError("Cancelled")``; without
        ``views`` every view of the script is rendered (hosts-facts, third round). A test presses
        the meter's Cancel after n frames with ``nuke._cancel_render_after = n``."""
        if threading.current_thread() is not m._main:
            raise RuntimeError("fake nuke: nuke.execute must run on the main thread")
        found = [toNode(n) if isinstance(n, str) else n for n in nodes]
        for node, name in zip(found, nodes, strict=True):
            if node is None or node.Class() != "Write":
                raise ValueError(f"fake nuke: execute needs a Write node, got {name!r}")
            if node["disable"].value():
                raise RuntimeError(f"{node.name()} is disabled")
        m._meters += 1 if m.GUI else 0
        for view in list(views) if views is not None else views_():
            if view not in views_():
                raise ValueError(f"fake nuke: no view {view!r}")
            for start, end, incr in ranges:
                for frame in range(int(start), int(end) + 1, int(incr)):
                    if m._cancel_render_after is not None and (
                        len(m._executed) >= m._cancel_render_after
                    ):
                        raise RuntimeError("Cancelled")
                    for node in found:
                        graph.write_frame(node, frame)
                        m._executed.append((node.fullName(), frame))

    def delete(node) -> None:
        """``nuke.delete(node)``: the node goes; whatever it fed loses that input."""
        node._parent._children.remove(node)
        for other in allNodes(group=node._parent):
            other._inputs = [None if i is node else i for i in other._inputs]

    def views_() -> list:
        """``nuke.views()``: the script's view names (Root ``views``)."""
        return [v.split()[0] for v in m._root["views"].value().splitlines() if v.strip()]

    def filename(node, i=None):
        """NDG 13.1 ``nuke.filename``: the current filename of a node with a file knob, "based on
        the root.proxy settings": the ``proxy`` file when proxy is on and one is filled in; "all
        expansion of commands and variables is done"; frame tokens kept unless ``i`` is
        REPLACE (not played)."""
        if i is not None:
            raise NotImplementedError("fake nuke: filename(node, REPLACE) is not played")
        knob = node.knob("file")
        if knob is None:
            return None
        proxy = node.knob("proxy")
        if m._root["proxy"].value() and proxy is not None and proxy.value():
            knob = proxy
        text = tcl.substitute(knob.value(), node)
        if m._filename_printf:  # NDG 13.1: "it will still have %04d sequences in it"; DCN's
            # assets.py: the knob's #### reads back as %04d. The fake plays either reading.
            text = re.sub(r"#+", lambda h: f"%0{len(h.group(0))}d", text)
        return text or None

    def allNodes(filter=None, group=None, recurseGroups: bool = False) -> list:
        out, todo = [], list((group or _current())._children)
        while todo:
            node = todo.pop(0)
            if filter is None or node.Class() == filter:
                out.append(node)
            if recurseGroups and node.Class() == "Group":
                todo.extend(node._children)
        return out

    def addOnScriptLoad(call, args=(), kwargs=None, nodeClass: str = "Root") -> None:
        """NDG callbacks: run after a script is loaded (GUI and ``-t``)."""
        m._on_script_load.append((call, tuple(args), dict(kwargs or {})))

    def addUpdateUI(call, args=(), kwargs=None, nodeClass: str = "*") -> None:
        """NDG 13.0 ``nuke.addUpdateUI``: run for every node (of ``nodeClass``) "when things
        change ... during idle", with ``nuke.thisNode()`` the node; NDG 13.2
        ``addKnobChanged``: knobChanged is for the open panel, "use addUpdateUI() for changes
        that should happen even when the panel is closed". The fake never runs knobChanged
        for a rewired input (a panel that is shut); a test runs the idle step with ``_idle``."""
        m._update_ui.append((call, tuple(args), dict(kwargs or {}), nodeClass))

    def _idle() -> None:
        for call, args, kwargs, cls in list(m._update_ui):
            for node in allNodes(group=m._root, recurseGroups=True):
                if cls in ("*", node.Class()):
                    m._this.append((node, None))
                    try:
                        call(*args, **kwargs)
                    finally:
                        m._this.pop()

    def _script_loaded() -> None:
        """Test hook: a script was opened; Nuke runs its onScriptLoad callbacks."""
        for call, args, kwargs in list(m._on_script_load):
            call(*args, **kwargs)

    def _on_main_check(what: str) -> None:
        if threading.current_thread() is m._main:
            raise RuntimeError(f"fake nuke: {what} called from the main thread (Nuke would hang)")

    def executeInMainThread(call, args=(), kwargs=None) -> None:
        _on_main_check("executeInMainThread")
        args = args if isinstance(args, tuple) else (args,)
        m._queue.put((call, args, dict(kwargs or {}), None))

    def executeInMainThreadWithResult(call, args=(), kwargs=None):
        _on_main_check("executeInMainThreadWithResult")
        args = args if isinstance(args, tuple) else (args,)
        box: dict = {"done": threading.Event()}
        m._queue.put((call, args, dict(kwargs or {}), box))
        box["done"].wait()
        return box.get("result")

    def _process_events(until=None, timeout: float = 30.0) -> bool:
        """The GUI event loop (test hook): run queued calls until ``until()`` or the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                call, args, kwargs, box = m._queue.get(timeout=0.02)
            except queue.Empty:
                if until is None or until():
                    return True
                if time.monotonic() > deadline:
                    return False
                continue
            try:
                result = call(*args, **kwargs)
            except Exception:  # noqa: BLE001 - Nuke prints it and answers None
                traceback.print_exc()
                result = None
            if box is not None:
                box["result"] = result
                box["done"].set()
            if until is not None and until():
                return True

    def menu(name: str) -> Menu:
        if name not in ("Nuke", "Nodes", "Pane", "Viewer"):
            raise ValueError(f"fake nuke: no menu {name!r}")
        return m._menus.setdefault(name, Menu(m, name))

    def pluginAddPath(path: str, addToSysPath: bool = True) -> None:
        m._plugin_paths.insert(0, str(path))

    def pluginPath() -> list:
        return list(m._plugin_paths)

    def _user_sets(node, knob: str, value) -> None:
        """A user changes a knob in the panel (test hook): Nuke then runs the knobChanged."""
        node[knob].setValue(value)
        if m._knob_changed_on_set:
            return  # setValue ran it already (17.1)
        code = node["knobChanged"].value() if node.knob("knobChanged") else ""
        if code:
            _run_callback(code, node, node[knob])

    def scriptOpen(path: str) -> None:
        raise NotImplementedError(f"fake nuke cannot read .nk scripts ({path})")

    def scriptSave(filename: str = "") -> bool:
        m._saved.append(filename or m._root._name)
        return True

    def _set_script_name(path: str) -> None:
        m._root._name = str(path)

    for fn in (
        root_,
        createNode,
        toNode,
        selectedNode,
        thisNode,
        thisKnob,
        execute,
        executeInMainThread,
        executeInMainThreadWithResult,
        menu,
        pluginAddPath,
        pluginPath,
        scriptOpen,
        scriptSave,
        executeMultiple,
        views_,
        filename,
        allNodes,
        addOnScriptLoad,
        delete,
        addUpdateUI,
    ):
        setattr(m, fn.__name__.rstrip("_"), fn)
    m.Undo = lambda: Undo(m)
    m._script_loaded = _script_loaded
    m._idle = _idle
    m.nodes = _Nodes()
    m.ProgressTask = lambda name: ProgressTask(m, name)
    m._run_callback = _run_callback
    m._process_events = _process_events
    m._set_script_name = _set_script_name
    m._user_sets = _user_sets
    return m
