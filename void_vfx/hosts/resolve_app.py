"""Reaching DaVinci Resolve's scripting API, and turning its ``False``/``None`` answers into errors.

Resolve's calls report failure by returning ``False`` or ``None`` (or an empty list) and say
nothing more. :func:`call` wraps each call the integration makes so that a failure becomes a
:class:`ResolveCallFailed` naming the call and what to do. Standard library only: Resolve's
Python imports this module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


def with_note(exc: ResolveError, note: str) -> ResolveError:
    """The same error with ``note`` appended to its message."""
    if isinstance(exc, ResolveCallFailed):
        return ResolveCallFailed(exc.call, str(exc).split(": ", 1)[-1] + note)
    return type(exc)(str(exc) + note)


class Undo:
    """What a lay-back made, so that a failure removes it all (newest first), never raising."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def add(self, what: str, fn: Any) -> None:
        self.steps.append((what, fn))

    def run(self) -> list[str]:
        """Undo everything; return what could not be undone (for the message)."""
        left = []
        for what, fn in reversed(self.steps):
            try:
                if fn() is False:
                    left.append(what)
            except Exception:  # noqa: BLE001 - keep undoing the rest
                left.append(what)
        self.steps = []
        return left


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


#: The oldest Resolve this integration supports: Blackmagic's scripting README for 19.0 (beta,
#: 1 April 2024) is the first to list AppendToTimeline's "trackIndex"/"recordFrame", Timeline
#: AddTrack/DeleteTrack/SetTrackEnable/GetIsTrackEnabled and Timeline.DeleteClips (the 18.0.4
#: README, 9 May 2022, has none of them). See hosts/resolve/README.md.
OLDEST = (19, 0)


def has_call(obj: Any, name: str) -> bool:
    """Whether ``obj`` offers ``name()``: feature-test every call newer than :data:`OLDEST`.

    Real Resolve answers None for a name it lacks (``hasattr`` is always True there), and one
    bridge build was seen to fabricate callables; ``dir()`` is the reliable probe
    (samuelgursky/davinci-resolve-mcp api-limitations.md, "hasattr() / getattr()").
    """
    try:
        names = dir(obj)
    except Exception:  # noqa: BLE001 - a bridge without dir(): fall back to the attribute
        names = []
    method = getattr(obj, name, None)
    if any(n[:1].isupper() for n in names):
        return name in names and callable(method)
    return callable(method)


def version_of(resolve: Any) -> tuple:
    """(major, minor, patch) of the running Resolve; () when it cannot say."""
    fields = resolve.GetVersion() if has_call(resolve, "GetVersion") else None
    if not fields and has_call(resolve, "GetVersionString"):
        fields = str(resolve.GetVersionString() or "").split(".")
    out = []
    for field in list(fields or [])[:3]:
        digits = "".join(ch for ch in str(field) if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def check_version(resolve: Any) -> tuple:
    """Refuse a Resolve older than :data:`OLDEST`, naming it and what it lacks."""
    version = version_of(resolve)
    if version and version[:2] < OLDEST:
        shown = ".".join(str(v) for v in version)
        raise ResolveError(
            f"DaVinci Resolve {shown} is too old: placing a clip on a chosen track and record "
            "frame (AppendToTimeline trackIndex/recordFrame) and adding tracks arrived in 19.0; "
            "update Resolve to 19.0 or later"
        )
    return version


@contextmanager
def on_page(resolve: Any, page: str) -> Iterator[None]:
    """Open ``page`` for the block and go back to the user's page after (as ayon-resolve's
    ``maintain_page_by_name``). Timeline.DeleteClips answers False off the Edit page
    (samuelgursky/davinci-resolve-mcp api-limitations.md, measured on the Fairlight page, 21.0)."""
    if not (has_call(resolve, "GetCurrentPage") and has_call(resolve, "OpenPage")):
        yield
        return
    current = resolve.GetCurrentPage()
    if current == page:
        yield
        return
    if not resolve.OpenPage(page):
        raise ResolveError(f"Resolve did not open the {page.title()} page; open it and run again")
    try:
        yield
    finally:
        if current:
            resolve.OpenPage(current)


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


def video_items(timeline: Any) -> list:
    """[(track, item)] of every video item, the lowest track first."""
    out = []
    count = int(call(timeline, "GetTrackCount", "video", fix="open a timeline with video"))
    for track in range(1, count + 1):
        out += [(track, item) for item in timeline.GetItemListInTrack("video", track) or []]
    return out


def _where(track: int, item: Any) -> str:
    return f"V{track} at record frame {item.GetStart()}"


def find_clip(timeline: Any, name: str = "") -> Any:
    """The video clip to work on: ``name``, else the one selection, else the playhead's.

    ``name`` must name one clip (two of that name are refused, listing where each sits).
    Without it: the one selected video clip where Resolve reports the selection
    (``Timeline.GetSelectedClips``, 21.0.4 on), else ``GetCurrentVideoItem`` (the top item under
    the playhead); a title or generator there gives way to the one clip with media below it.
    """
    if name:
        items = video_items(timeline)
        found = [(t, i) for t, i in items if i.GetName() == name]
        if len(found) == 1:
            return found[0][1]
        if found:
            places = "; ".join(_where(t, i) for t, i in found)
            raise ResolveError(
                f"{len(found)} video clips are named {name!r} ({places}); park the playhead on "
                "the one you mean and run without --clip"
            )
        listed = ", ".join(sorted({i.GetName() for _, i in items})) or "none"
        raise ResolveError(
            f"no video clip named {name!r} on timeline {timeline.GetName()!r}; clips: {listed}"
        )
    if has_call(timeline, "GetSelectedClips"):
        chosen = [i for i in timeline.GetSelectedClips() or [] if _is_video(i)]
        if len(chosen) == 1:
            return chosen[0]
    item = call(
        timeline, "GetCurrentVideoItem", fix="park the playhead on the clip (or give --clip NAME)"
    )
    if item.GetMediaPoolItem() is None:
        return _plate_below(timeline, item)
    return item


def _is_video(item: Any) -> bool:
    if not has_call(item, "GetTrackTypeAndIndex"):
        return True
    found = item.GetTrackTypeAndIndex()
    return bool(found) and found[0] == "video"


def _plate_below(timeline: Any, top: Any) -> Any:
    """Under a title: the one clip with media spanning the title's range on a track below it."""
    start, end = top.GetStart(), top.GetEnd()
    track = track_of(top, timeline)
    below = [
        (t, i)
        for t, i in video_items(timeline)
        if t < track
        and i.GetMediaPoolItem() is not None
        and i.GetStart() <= start
        and end <= i.GetEnd()
    ]
    if len(below) == 1:
        return below[0][1]
    return top  # nothing (or several) below: the title itself goes through the render path


def track_of(item: Any, timeline: Any = None) -> int:
    """The 1-based video track index of a timeline item.

    ``GetTrackTypeAndIndex`` arrived in 19.0 (absent from the 19.0 beta README): without it the
    item is found on the timeline's tracks by its unique id.
    """
    if has_call(item, "GetTrackTypeAndIndex"):
        kind, index = call(item, "GetTrackTypeAndIndex", fix="reselect the clip and run again")
        if kind != "video":
            raise ResolveError(f"clip {item.GetName()!r} is on a {kind} track; choose a video clip")
        return int(index)
    uid = item.GetUniqueId()
    if timeline is not None:
        for track, other in video_items(timeline):
            if other.GetUniqueId() == uid:
                return track
    raise ResolveError(
        f"clip {item.GetName()!r} is not on a video track of the current timeline; choose a "
        "video clip"
    )
