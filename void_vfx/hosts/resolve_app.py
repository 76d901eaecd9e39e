"""Reaching DaVinci Resolve's scripting API, and turning its ``False``/``None`` answers into errors.

Resolve's calls report failure by returning ``False`` or ``None`` (or an empty list) and say
nothing more. :func:`call` wraps each call the integration makes so that a failure becomes a
:class:`ResolveCallFailed` naming the call and what to do. Standard library only: Resolve's
Python imports this module.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from void_vfx.errors import VoidVfxError

STUDIO_NOTE = (
    "Python scripts in Workspace > Scripts need DaVinci Resolve Studio from 21.1 on (the free "
    "edition lists only Lua scripts); scripting from outside Resolve needs Studio with "
    "Preferences > System > General > 'External scripting using' set to Local"
)

#: Where Blackmagic installs the scripting module (DaVinciResolveScript.py), per platform.
_SCRIPT_API = {
    "darwin": "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
    "win32": os.path.join(
        os.environ.get("PROGRAMDATA", r"C:\ProgramData"),
        "Blackmagic Design",
        "DaVinci Resolve",
        "Support",
        "Developer",
        "Scripting",
    ),
    "linux": "/opt/resolve/Developer/Scripting",
}


class ResolveError(VoidVfxError):
    """Something in Resolve stopped the removal; the message says what to do."""


class ResolveUnavailable(ResolveError):
    """The ``resolve`` scripting object could not be reached."""


class ResolveCallFailed(ResolveError):
    """A Resolve call answered False, None or nothing. ``call`` names it."""

    def __init__(self, call_name: str, message: str) -> None:
        self.call = call_name
        super().__init__(f"Resolve {call_name} failed: {message}")


class ClipRefused(ResolveError):
    """The clip cannot be sent as its files are: a retime, a transform or an effect."""


class RenderFailed(ResolveError):
    """Resolve's render queue did not produce the EXR frames."""


def call(obj: Any, name: str, *args: Any, fix: str, allow_empty: bool = False) -> Any:
    """``obj.name(*args)``, raising :class:`ResolveCallFailed` with ``fix`` on False/None.

    An empty list or dict also counts as failure unless ``allow_empty``.
    """
    method = getattr(obj, name, None)
    if method is None:
        raise ResolveCallFailed(name, f"this Resolve has no {name}(); {fix}")
    result = method(*args)
    failed = result is None or result is False
    if not allow_empty and isinstance(result, (list, dict, str)) and len(result) == 0:
        failed = True
    if failed:
        raise ResolveCallFailed(name, f"it answered {result!r}; {fix}")
    return result


def script_module_paths(platform: str | None = None) -> list[str]:
    """Folders that may hold ``DaVinciResolveScript.py``: $RESOLVE_SCRIPT_API/Modules first."""
    platform = platform or sys.platform
    key = "linux" if platform.startswith("linux") else platform
    paths = []
    env = os.environ.get("RESOLVE_SCRIPT_API")
    if env:
        paths.append(os.path.join(env, "Modules"))
    if key in _SCRIPT_API:
        paths.append(os.path.join(_SCRIPT_API[key], "Modules"))
    if key == "linux":
        paths.append("/opt/resolve/libs/Fusion/Modules")
    return paths


def get_resolve(namespace: dict | None = None) -> Any:
    """The ``resolve`` object, whichever way Resolve provides it.

    In order: a ``resolve`` already in ``namespace`` (the script's globals; Resolve's console
    injects it), ``app.GetResolve()`` (what Workspace > Scripts injects), then the external
    ``DaVinciResolveScript.scriptapp("Resolve")``. Raises :class:`ResolveUnavailable` saying why.
    """
    namespace = namespace if namespace is not None else {}
    found = namespace.get("resolve")
    if found is not None:
        return found
    app = namespace.get("app")
    if app is not None:
        getter = getattr(app, "GetResolve", None)
        found = getter() if getter is not None else None
        if found is not None:
            return found
    module = _import_script_module()
    if module is None:
        raise ResolveUnavailable(
            "cannot import DaVinciResolveScript: run this from Workspace > Scripts inside "
            "Resolve, or set RESOLVE_SCRIPT_API to Resolve's Developer/Scripting folder "
            f"(looked in {', '.join(script_module_paths())}). {STUDIO_NOTE}"
        )
    found = module.scriptapp("Resolve")
    if found is None:
        raise ResolveUnavailable(
            "DaVinciResolveScript.scriptapp('Resolve') answered None: start Resolve first. "
            + STUDIO_NOTE
        )
    return found


def _import_script_module() -> Any:
    try:
        import DaVinciResolveScript  # noqa: PLC0415 - only present where Resolve is installed

        return DaVinciResolveScript
    except ImportError:
        pass
    for folder in script_module_paths():
        if os.path.isfile(os.path.join(folder, "DaVinciResolveScript.py")):
            if folder not in sys.path:
                sys.path.append(folder)
            try:
                import DaVinciResolveScript  # noqa: PLC0415

                return DaVinciResolveScript
            except ImportError:
                continue
    return None


def current_project(resolve: Any) -> Any:
    manager = call(resolve, "GetProjectManager", fix="restart Resolve and run the script again")
    return call(manager, "GetCurrentProject", fix="open a project in Resolve first")


def current_timeline(project: Any) -> Any:
    return call(project, "GetCurrentTimeline", fix="open the timeline on the Edit page first")


def find_clip(timeline: Any, name: str = "") -> Any:
    """The video item called ``name`` (the lowest track first), else the one under the playhead.

    Resolve's API reports the item under the playhead (``GetCurrentVideoItem``), not the
    selection: park the playhead on the clip, or give its name.
    """
    if not name:
        return call(
            timeline,
            "GetCurrentVideoItem",
            fix="park the playhead on the clip (or give --clip NAME)",
        )
    names = []
    count = int(call(timeline, "GetTrackCount", "video", fix="open a timeline with video"))
    for track in range(1, count + 1):
        items = timeline.GetItemListInTrack("video", track) or []
        for item in items:
            names.append(item.GetName())
            if item.GetName() == name:
                return item
    listed = ", ".join(sorted(set(names))) or "none"
    raise ResolveError(
        f"no video clip named {name!r} on timeline {timeline.GetName()!r}; clips: {listed}"
    )


def track_of(item: Any) -> int:
    """The 1-based video track index of a timeline item."""
    kind, index = call(item, "GetTrackTypeAndIndex", fix="update Resolve to 18.5 or later")
    if kind != "video":
        raise ResolveError(f"clip {item.GetName()!r} is on a {kind} track; choose a video clip")
    return int(index)
