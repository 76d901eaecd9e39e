"""Fake Nuke knobs: the knob classes void-vfx creates or reads, with Nuke's documented methods.

Sources: Foundry's Nuke Python API reference (``nuke.Knob``, ``nuke.String_Knob``,
``nuke.Int_Knob``,
``nuke.Double_Knob``, ``nuke.Boolean_Knob``, ``nuke.Enumeration_Knob``, ``nuke.File_Knob``,
``nuke.PyScript_Knob``, ``nuke.Text_Knob``, ``nuke.Tab_Knob``, ``nuke.Multiline_Eval_String_Knob``).
Anything not written here is an AttributeError, as a method Nuke lacks would be.
"""

from __future__ import annotations

import re

STARTLINE = 0x00001000
_RANGE = re.compile(r"^(?P<path>.*\S)\s+(?P<first>-?\d+)-(?P<last>-?\d+)$")


class Knob:
    """``nuke.Knob``: name, label, value, flags, enabled, visible, tooltip."""

    _kind = "Knob"

    def __init__(self, name: str, label: str | None = None, value=None) -> None:
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError(f"fake nuke: bad knob name {name!r}")
        self._name = name
        self._label = label if label is not None else name
        self._value = self._default() if value is None else self._coerce(value)
        self._flags = 0
        self._enabled = True
        self._visible = True
        self._tooltip = ""
        self._node = None

    def _default(self):
        return ""

    def _coerce(self, value):
        if not isinstance(value, str):
            raise TypeError(f"fake nuke: {self._kind} {self._name} takes a string, got {value!r}")
        return value

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def node(self):
        return self._node

    def value(self):
        return self._value

    def getValue(self):
        return self._value

    def setValue(self, value) -> bool:
        self._value = self._coerce(value)
        self._changed()
        return True

    def _changed(self) -> None:
        """Nuke 17.1 documents the node's knobChanged running on programmatic changes too
        (``../shared/docs/hosts-facts.md``, third round); earlier versions run it only for the
        user's changes. The fake plays 17.1 when ``nuke._knob_changed_on_set`` is True."""
        node = self._node
        module = getattr(node, "_module", None)
        if module is None or not getattr(module, "_knob_changed_on_set", False):
            return
        code = node["knobChanged"].value() if node.knob("knobChanged") else ""
        if code and self._name != "knobChanged":
            module._run_callback(code, node, self)

    def setFlag(self, flag: int) -> None:
        self._flags |= int(flag)

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~int(flag)

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & int(flag))

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def enabled(self) -> bool:
        return self._enabled

    def setVisible(self, visible: bool) -> None:
        self._visible = bool(visible)

    def visible(self) -> bool:
        return self._visible

    def setTooltip(self, text: str) -> None:
        self._tooltip = str(text)

    def tooltip(self) -> str:
        return self._tooltip


class String_Knob(Knob):
    _kind = "String_Knob"

    def getEvaluatedValue(self, oc=None) -> str:
        """The text with its TCL ``[...]`` expressions evaluated (Foundry's reference,
        ``nuke.String_Knob.getEvaluatedValue``; deadline-cloud-for-nuke's ``assets.py`` reads Root
        ``project_directory`` this way)."""
        from fakes_nuke import tcl

        return tcl.substitute(self._value, self._node)


class Multiline_Eval_String_Knob(String_Knob):
    _kind = "Multiline_Eval_String_Knob"


class Tab_Knob(Knob):
    _kind = "Tab_Knob"


class Text_Knob(Knob):
    """``nuke.Text_Knob(name, label, text)``: a read-only line of text on the panel."""

    _kind = "Text_Knob"


class File_Knob(String_Knob):
    """``nuke.File_Knob``; ``fromUserText("path 1001-1100")`` also sets a Read's frame range."""

    _kind = "File_Knob"

    def fromUserText(self, text: str) -> None:
        m = _RANGE.match(text.strip())
        path = m.group("path") if m else text.strip()
        self._value = path
        node = self._node
        if m and node is not None and node.Class() == "Read":
            first, last = int(m.group("first")), int(m.group("last"))
            for name, v in (
                ("first", first),
                ("origfirst", first),
                ("last", last),
                ("origlast", last),
            ):
                node[name].setValue(v)


class _NumberKnob(Knob):
    """``nuke.Int_Knob(name, label)`` / ``nuke.Double_Knob(name, label)``: Foundry's reference
    documents two arguments, then ``setValue``; a third is refused. Array_Knob's
    ``setExpression(expr)`` makes the value follow a Nuke expression of ``frame``."""

    def __init__(self, name: str, label: str | None = None, *extra, value=None) -> None:
        if extra:
            raise TypeError(f"fake nuke: {self._kind}(name, label) takes no value; use setValue")
        super().__init__(name, label, value)
        self._expression = ""

    def setExpression(self, expression: str, channel: int = -1, view=None) -> bool:
        self._expression = str(expression)
        return True

    def hasExpression(self, index: int = -1) -> bool:
        return bool(self._expression)

    def clearAnimated(self, index: int = -1, view=None) -> bool:
        self._expression = ""
        return True

    def setValue(self, value) -> bool:
        self._expression = ""  # a plain value replaces the expression, as typing one in does
        return super().setValue(value)

    def valueAt(self, time: float, index: int = 0, view=None):
        if not self._expression:
            return self._value
        import numpy as np

        from fakes_nuke import graph

        value = graph.Expr(self._expression).evaluate({"frame": np.float32(time)})
        return self._coerce(float(np.asarray(value)))


class Int_Knob(_NumberKnob):
    _kind = "Int_Knob"

    def _default(self):
        return 0

    def _coerce(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"fake nuke: Int_Knob {self._name} takes a number, got {value!r}")
        return int(value)


class Double_Knob(_NumberKnob):
    _kind = "Double_Knob"

    def _default(self):
        return 0.0

    def _coerce(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"fake nuke: Double_Knob {self._name} takes a number, got {value!r}")
        return float(value)

    def setRange(self, low: float, high: float) -> None:
        self._range = (float(low), float(high))


class Boolean_Knob(Knob):
    _kind = "Boolean_Knob"

    def _default(self):
        return False

    def _coerce(self, value):
        if not isinstance(value, bool | int):
            raise TypeError(f"fake nuke: Boolean_Knob {self._name} takes a bool, got {value!r}")
        return bool(value)


class Enumeration_Knob(Knob):
    """``nuke.Enumeration_Knob(name, label, items)``: value() is the item's text."""

    _kind = "Enumeration_Knob"

    def __init__(self, name: str, label: str | None = None, items=()) -> None:
        self._items = [str(i) for i in items]
        super().__init__(name, label)

    def _default(self):
        return self._items[0] if self._items else ""

    def _coerce(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(self._items):
                raise ValueError(f"fake nuke: {self._name} has no item {value}")
            return self._items[value]
        if value not in self._items:
            raise ValueError(f"fake nuke: {self._name}: {value!r} is not one of {self._items}")
        return value

    def values(self) -> list[str]:
        return list(self._items)

    def setValues(self, items) -> None:
        self._items = [str(i) for i in items]
        if self._value not in self._items:
            self._value = self._default()


class PyScript_Knob(Knob):
    """``nuke.PyScript_Knob(name, label, command)``: ``execute()`` runs the command with
    ``nuke.thisNode()`` the knob's node, as pressing the button does."""

    _kind = "PyScript_Knob"

    def __init__(self, name: str, label: str | None = None, command: str = "") -> None:
        super().__init__(name, label, command)

    def execute(self) -> None:
        node = self._node
        module = node._module if node is not None else None
        if module is None:
            raise RuntimeError("fake nuke: a button knob must be on a node to execute")
        module._run_callback(self.value(), node, self)


class Script_Knob(PyScript_Knob):
    """A node's built-in button such as a Read's ``reload``: ``execute()`` runs its action."""

    _kind = "Script_Knob"

    def __init__(self, name: str, action) -> None:
        super().__init__(name, name, "")
        self._action = action

    def execute(self) -> None:
        self._action()
