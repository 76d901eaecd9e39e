"""Resolve's UIManager (``fu.UIManager``) and ``bmd.UIDispatcher``, for exactly the calls used.

Widgets are made by ``ui.<Kind>({props})`` (layouts take a list of children), a window by
``disp.AddWindow({props}, layout)``; ``win.GetItems()`` maps IDs to widgets, ``win.On.<ID>.<Event>``
and ``disp.On.<TimerID>.Timeout`` take handlers, ``disp.RunLoop()`` runs until ``ExitLoop()``.
The fake's RunLoop plays a test's scripted user actions and fires the started timers.
"""

from __future__ import annotations

import time

from fakes_resolve.base import Strict

PROPS = {
    "Label": {"ID", "Text"},
    "LineEdit": {"ID", "Text", "PlaceholderText"},
    "Button": {"ID", "Text"},
    "CheckBox": {"ID", "Text", "Checked"},
    "ComboBox": {"ID"},
    "Timer": {"ID", "Interval", "SingleShot"},
}
EVENTS = {"Button": {"Clicked"}, "Window": {"Close"}, "Timer": {"Timeout"}}
WINDOW_PROPS = {"ID", "WindowTitle", "Geometry"}


class Widget(Strict):
    def __init__(self, kind: str, props: dict) -> None:
        unknown = set(props) - PROPS[kind]
        if unknown:
            raise TypeError(f"fake UIManager: {kind} has no properties {sorted(unknown)}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(
            self,
            "state",
            {
                "Text": "",
                "Checked": False,
                "Enabled": True,
                "items": [],
                "current": 0,
                "running": False,
            },
        )
        self.state.update(props)

    def __setattr__(self, name: str, value) -> None:
        allowed = {
            "Label": {"Text"},
            "LineEdit": {"Text"},
            "Button": {"Text", "Enabled"},
            "CheckBox": {"Checked"},
            "ComboBox": set(),
            "Timer": set(),
        }
        if name not in allowed[self.kind]:
            raise AttributeError(f"fake UIManager: cannot set {name} on a {self.kind}")
        self.state[name] = value

    def __getattr__(self, name: str):
        if name in ("Text", "Checked", "Enabled") and self.kind != "Timer":
            return self.state[name]
        if name == "CurrentText" and self.kind == "ComboBox":
            items = self.state["items"]
            return items[self.state["current"]] if items else ""
        if name == "AddItems" and self.kind == "ComboBox":
            return lambda items: self.state["items"].extend(items)
        if name in ("Start", "Stop") and self.kind == "Timer":
            return lambda: self.state.update(running=name == "Start")
        return Strict.__getattr__(self, name)


class Layout(Strict):
    def __init__(self, children: list) -> None:
        self.children = list(children)

    def widgets(self):
        for child in self.children:
            if isinstance(child, Layout):
                yield from child.widgets()
            else:
                yield child


class FakeUIManager(Strict):
    def __init__(self) -> None:
        self.timers: dict[str, Widget] = {}

    def VGroup(self, children: list) -> Layout:
        return Layout(children)

    def HGroup(self, children: list) -> Layout:
        return Layout(children)

    def __getattr__(self, kind: str):
        if kind in PROPS:

            def make(props: dict) -> Widget:
                widget = Widget(kind, props)
                if kind == "Timer":
                    self.timers[props["ID"]] = widget
                return widget

            return make
        return Strict.__getattr__(self, kind)


class Handlers(Strict):
    """``On.<ID>.<Event> = handler``, allowed only for IDs and events that exist."""

    def __init__(self, kinds: dict[str, str]) -> None:
        object.__setattr__(self, "_kinds", kinds)
        object.__setattr__(self, "handlers", {})

    def __getattr__(self, widget_id: str):
        return self[widget_id]

    def __getitem__(self, widget_id: str):
        kind = self._kinds.get(widget_id)
        if kind is None:
            raise AttributeError(f"fake UIManager: no widget {widget_id!r} to attach events to")
        handlers = self.handlers

        class Slot:
            def __setattr__(self, event: str, fn) -> None:
                if event not in EVENTS.get(kind, ()):
                    raise AttributeError(f"fake UIManager: a {kind} has no {event} event")
                handlers[(widget_id, event)] = fn

        return Slot()


class FakeWindow(Strict):
    def __init__(self, props: dict, layout: Layout) -> None:
        unknown = set(props) - WINDOW_PROPS
        if unknown:
            raise TypeError(f"fake UIManager: window has no properties {sorted(unknown)}")
        self.props = props
        self.items = {w.state["ID"]: w for w in layout.widgets() if "ID" in w.state}
        kinds = {i: w.kind for i, w in self.items.items()}
        kinds[props["ID"]] = "Window"
        self.On = Handlers(kinds)
        self.shown = False

    def GetItems(self) -> dict:
        return dict(self.items)

    def Show(self) -> None:
        self.shown = True

    def Hide(self) -> None:
        self.shown = False

    # -- what a test's user does --
    def click(self, widget_id: str) -> None:
        self.On.handlers[(widget_id, "Clicked")]({"who": widget_id})

    def close(self) -> None:
        self.On.handlers[(self.props["ID"], "Close")]({"who": self.props["ID"]})


class FakeDispatcher(Strict):
    def __init__(self, ui: FakeUIManager) -> None:
        self.ui = ui
        self.windows: list[FakeWindow] = []
        self.actions: list = []  # callables(window) -> True when done; played by RunLoop
        self.ticks = 0
        self._exit = False

    @property
    def On(self) -> Handlers:
        if not hasattr(self, "_on"):
            object.__setattr__(self, "_on", Handlers({t: "Timer" for t in self.ui.timers}))
        return self._on

    def AddWindow(self, props: dict, layout: Layout) -> FakeWindow:
        window = FakeWindow(props, layout)
        self.windows.append(window)
        return window

    def RunLoop(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._exit:
            if time.monotonic() > deadline:
                raise TimeoutError("fake UIManager: RunLoop ran past its time")
            if self.actions and self.actions[0](self.windows[-1]):
                self.actions.pop(0)
                continue
            for timer_id, timer in self.ui.timers.items():
                handler = self.On.handlers.get((timer_id, "Timeout"))
                if timer.state["running"] and handler is not None:
                    self.ticks += 1
                    handler({"who": timer_id})
            time.sleep(0.01)

    def ExitLoop(self) -> None:
        self._exit = True


class FakeBmd(Strict):
    def __init__(self, actions: list | None = None) -> None:
        self.actions = list(actions or [])

    def UIDispatcher(self, ui: FakeUIManager) -> FakeDispatcher:
        self.dispatcher = FakeDispatcher(ui)
        self.dispatcher.actions = self.actions
        return self.dispatcher


class FakeFusion(Strict):
    def __init__(self) -> None:
        self.UIManager = FakeUIManager()
