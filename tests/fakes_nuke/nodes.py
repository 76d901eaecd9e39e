"""Fake Nuke nodes: the node classes void-vfx creates or reads, with their documented knobs.

Knob names follow Foundry's reference guide for each node (Read, Write, Input, Output, Dot,
Switch, Copy, Expression, Dilate (Erode (fast)), Multiply, Group, Root). A node class or knob not
listed here is refused.
"""

from __future__ import annotations

from fakes_nuke import knobs as K

_EXR_COMPRESSIONS = [
    "none",
    "Zip (1 scanline)",
    "Zip (16 scanlines)",
    "PIZ Wavelet (32 scanlines)",
    "RLE",
    "B44",
    "DWAA",
    "DWAB",
]
_METADATA = [
    "no metadata",
    "default metadata",
    "default metadata and exr/*",
    "all metadata except input/*",
    "all metadata",
]


def _read_knobs():
    return [
        K.File_Knob("file"),
        K.Int_Knob("first", value=1),
        K.Int_Knob("last", value=1),
        K.Int_Knob("origfirst", value=1),
        K.Int_Knob("origlast", value=1),
        K.String_Knob("colorspace", value="default"),
        K.Boolean_Knob("raw"),
        K.Enumeration_Knob("on_error", items=["error", "black", "checkerboard", "nearest frame"]),
        K.Enumeration_Knob("frame_mode", items=["expression", "start at", "offset"]),
        K.String_Knob("frame"),
        K.Boolean_Knob("premultiplied"),
        # Foundry's Read reference: before/after "hold" by default (the first/last frame is held
        # outside the range); "black" gives an empty frame. ``proxy`` is the proxy file.
        K.Enumeration_Knob("before", items=["hold", "loop", "bounce", "black"]),
        K.Enumeration_Knob("after", items=["hold", "loop", "bounce", "black"]),
        K.File_Knob("proxy"),
    ]


def _write_knobs():
    return [
        K.File_Knob("file"),
        K.Enumeration_Knob("file_type", items=["", "exr", "dpx", "tiff"]),
        K.Enumeration_Knob("datatype", items=["16 bit half", "32 bit float"]),
        K.Enumeration_Knob("compression", items=_EXR_COMPRESSIONS),
        K.Enumeration_Knob("metadata", items=_METADATA),
        K.String_Knob("channels", value="rgb"),
        K.String_Knob("colorspace", value="default"),
        K.Boolean_Knob("raw"),
        K.Boolean_Knob("create_directories"),
        K.Boolean_Knob("use_limit"),
        K.Int_Knob("first", value=1),
        K.Int_Knob("last", value=1),
    ]


# Root colour management (Foundry, "OCIO Color Management", Nuke 12.2-15.1 user guide, and the
# Root node's reference guide; scripting names as studios set them, e.g.
# nuke.knobDefault('Root.colorManagement', 'Nuke') and nuke.knobDefault('Root.OCIO_config',
# 'nuke-default')): "color management" Nuke (native LUTs, nuke-default's names) or OCIO; "OCIO
# config" one of the shipped configs or "custom" with "custom OCIO config path"; "working
# space" (workingSpaceLUT: what Reads convert to and Writes from); the default LUT for float
# files (floatLut) that a Read or Write left at "default" uses. Defaults: Nuke 14's new-project
# settings (OCIO, the ACES CG config Foundry ships as fn-nuke_cg-config-...); tests set the
# nuke-default reading (Nuke 13 and earlier) explicitly.
OCIO_CONFIGS = [
    "nuke-default",
    "aces_1.0.3",
    "aces_1.1",
    "aces_1.2",
    "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1",
    "fn-nuke_studio-config-v1.0.0_aces-v1.3_ocio-v2.1",
    "custom",
]


def _root_knobs():
    config = K.Enumeration_Knob("OCIO_config", items=OCIO_CONFIGS)
    config.setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    return [
        K.Int_Knob("first_frame", value=1),
        K.Int_Knob("last_frame", value=100),
        K.Enumeration_Knob("colorManagement", items=["OCIO", "Nuke"]),
        config,
        K.File_Knob("customOCIOConfigPath"),
        K.String_Knob("workingSpaceLUT", value="ACEScg"),
        K.String_Knob("floatLut", value="scene_linear"),
    ]


CLASS_KNOBS = {
    "Read": _read_knobs,
    "Write": _write_knobs,
    "Input": lambda: [K.Int_Knob("number")],
    "Output": list,
    "Dot": list,
    "Switch": lambda: [K.Int_Knob("which")],
    "Copy": lambda: [
        K.String_Knob("from0", value="rgba.alpha"),
        K.String_Knob("to0", value="rgba.alpha"),
    ],
    "Expression": lambda: [K.String_Knob(f"expr{i}") for i in range(4)],
    "Multiply": lambda: [K.Double_Knob("value", value=1.0)],
    # Foundry's Erode (fast) reference (class Dilate): ``channels`` (default all) and ``size``
    # (default 0; positive grows the light pixels, negative the dark).
    "Dilate": lambda: [
        K.String_Knob("channels", value="all"),
        K.Double_Knob("size", value=0.0),
    ],
    "Group": lambda: [K.String_Knob("knobChanged")],
    "Root": _root_knobs,
}
_ROOT_BASE = CLASS_KNOBS["Root"]


def _root_knobs():
    """Root's proxy and project knobs (Foundry's Project Settings reference): ``proxy`` on makes
    renders run at ``proxy_scale`` (proxy_type "scale"); ``project_directory`` is what relative
    file paths are relative to (deadline-cloud-for-nuke ``assets.py`` ``get_project_path``);
    ``views`` is the script's list of views, one per line (``nuke.views()`` reads it)."""
    proxy_type = K.Enumeration_Knob("proxy_type", items=["format", "scale"])
    proxy_type.setValue("scale")  # the Project Settings default: scale 0.5
    return _ROOT_BASE() + [
        K.Boolean_Knob("proxy"),
        proxy_type,
        K.Double_Knob("proxy_scale", value=0.5),
        K.String_Knob("project_directory"),
        K.String_Knob("views", value="main"),
    ]


CLASS_KNOBS["Root"] = _root_knobs
MAX_INPUTS = {"Read": 0, "Input": 0, "Copy": 2, "Switch": 8, "Output": 1, "Root": 0}


class FrameRange:
    """``nuke.FrameRange``: ``first()``, ``last()``."""

    def __init__(self, first: int, last: int) -> None:
        self._first, self._last = int(first), int(last)

    def first(self) -> int:
        return self._first

    def last(self) -> int:
        return self._last


class Node:
    """``nuke.Node``; a Group adds ``begin``/``end``/``node``/``nodes``."""

    def __init__(self, module, cls: str, name: str, parent) -> None:
        if cls not in CLASS_KNOBS:
            raise RuntimeError(f"fake nuke: unknown node class {cls!r}")
        self._module, self._class, self._parent = module, cls, parent
        self._name = name
        self._knobs: dict[str, K.Knob] = {}
        self._inputs: list = []
        self._children: list[Node] = []
        self._selected = False
        for k in [K.Boolean_Knob("disable")] if cls not in ("Root", "Group") else []:
            self._attach(k)
        for k in CLASS_KNOBS[cls]():
            self._attach(k)
        if cls == "Read":
            self._attach(K.Script_Knob("reload", self._reload))
        self.reloads = 0

    def _attach(self, knob: K.Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    def _reload(self) -> None:
        self.reloads += 1

    # -- identity --------------------------------------------------------------------------
    def Class(self) -> str:
        return self._class

    def _main_thread_only(self) -> None:
        """NDG threading guide: Nuke's API that touches nodes is not thread-safe and must run on
        the main thread (marshal with ``nuke.executeInMainThread*``); in the GUI the fake refuses
        node access from other threads. Command-line Nuke runs everything inline."""
        import threading

        if self._module.GUI and threading.current_thread() is not self._module._main:
            raise RuntimeError(f"fake nuke: {self._name} touched off the main thread")

    def name(self) -> str:
        self._main_thread_only()
        return self._name

    def fullName(self) -> str:
        self._main_thread_only()
        if self._parent is None or self._parent._class == "Root":
            return self._name
        return f"{self._parent.fullName()}.{self._name}"

    def setName(self, name: str, uncollide: bool = True) -> None:
        siblings = {n._name for n in self._parent._children if n is not self}
        base, i = name, 1
        while name in siblings:
            if not uncollide:
                raise ValueError(f"fake nuke: name {name!r} is taken")
            name, i = f"{base}{i}", i + 1
        self._name = name

    def setSelected(self, selected: bool) -> None:
        self._selected = bool(selected)

    def isSelected(self) -> bool:
        return self._selected

    # -- knobs -----------------------------------------------------------------------------
    def knob(self, name: str):
        self._main_thread_only()
        return self._knobs.get(name)

    def knobs(self) -> dict:
        return dict(self._knobs)

    def __getitem__(self, name: str):
        self._main_thread_only()
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def removeKnob(self, knob: K.Knob) -> None:
        """Foundry's reference: ValueError when the knob is not on the node."""
        if self._knobs.get(knob.name()) is not knob:
            raise ValueError(f"fake nuke: {knob.name()} is not a knob of {self._name}")
        del self._knobs[knob.name()]

    def addKnob(self, knob: K.Knob) -> None:
        if self._class != "Group":
            raise RuntimeError("fake nuke: void-vfx adds knobs only to its Group")
        if knob.name() in self._knobs:
            raise RuntimeError(f"fake nuke: knob {knob.name()} exists already")
        self._attach(knob)

    # -- inputs ----------------------------------------------------------------------------
    def maxInputs(self) -> int:
        if self._class == "Group":
            return len([n for n in self._children if n._class == "Input"])
        return MAX_INPUTS.get(self._class, 1)

    def setInput(self, i: int, node) -> bool:
        self._main_thread_only()
        if not 0 <= i < self.maxInputs():
            raise IndexError(f"fake nuke: {self._class} {self._name} has no input {i}")
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        return True

    def input(self, i: int):
        self._main_thread_only()
        return self._inputs[i] if 0 <= i < len(self._inputs) else None

    def inputs(self) -> int:
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return len(self._inputs)

    def frameRange(self) -> FrameRange:
        if self._class == "Read":
            return FrameRange(self["first"].value(), self["last"].value())
        up = self.input(0)
        if up is None:
            root = self._module.root()
            return FrameRange(root["first_frame"].value(), root["last_frame"].value())
        return up.frameRange()

    # -- groups ----------------------------------------------------------------------------
    def _need_group(self) -> None:
        if self._class not in ("Group", "Root"):
            raise AttributeError(f"fake nuke: {self._class} is not a group")

    def begin(self):
        self._need_group()
        self._module._context.append(self)
        return self

    def end(self) -> None:
        self._need_group()
        if self._module._context[-1] is not self:
            raise RuntimeError("fake nuke: end() of a group that is not the current one")
        self._module._context.pop()

    def node(self, name: str):
        self._need_group()
        return next((n for n in self._children if n._name == name), None)

    def nodes(self) -> list:
        self._need_group()
        return list(self._children)
