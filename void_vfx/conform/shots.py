"""Finding the shots marked for removal in a timeline.

A clip is marked when it carries (or sits under) a marker named ``VOID``, or when its metadata has
a ``void_vfx`` namespace. The marker's comment is the prompt; editors whose marker exports have no
comment field (EDL locators, Avid comments read from AAF) write ``VOID: the prompt`` in the name.
Metadata ``void_vfx`` (on the clip or the marker) may name ``prompt``, ``matte``,
``matte_channel``, ``affected``, ``affected_channel``, ``quadmask``, ``quadmask_channel`` and
``enabled`` (false unmarks a clip). Markers on the timeline or a track mark the topmost enabled
video clip under their start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "void_vfx"
MARKER_NAME = "VOID"
#: The track the conform writes; its clips are results, never shots.
VOID_TRACK = "VOID"
_MARKER = re.compile(r"^\s*VOID(?:$|[\s:\-\u2013|](?P<rest>.*)$)", re.IGNORECASE | re.DOTALL)


@dataclass
class MarkedShot:
    """One clip to process and what marked it."""

    clip: Any
    name: str
    #: Where the clip sits, for messages: ``track 2 "V2", item 5``.
    where: str
    #: Item indices from the timeline's stack down to the clip (stable identity).
    path: tuple[int, ...]
    prompt: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: Range in the timeline's stack (record time), as an OTIO TimeRange.
    record: Any = None
    marked_by: str = ""


@dataclass
class Skipped:
    """A marked clip that is not processed, and why (not an error)."""

    name: str
    where: str
    reason: str


def void_marker(marker) -> tuple[bool, str, dict]:
    """(is a VOID marker, prompt, void_vfx metadata) for an OTIO marker."""
    meta = dict(marker.metadata.get(NAMESPACE, {}) or {}) if marker.metadata else {}
    m = _MARKER.match(marker.name or "")
    if not m and not meta:
        return False, "", {}
    prompt = (marker.comment or "").strip()
    if not prompt and marker.metadata:
        for ns in ("fcp_xml", "Resolve_OTIO", "hiero", "AAF"):
            sub = marker.metadata.get(ns)
            note = sub.get("comment") or sub.get("note") if hasattr(sub, "get") else None
            if isinstance(note, str) and note.strip():
                prompt = note.strip()
                break
    if not prompt and m and m.group("rest"):
        prompt = m.group("rest").strip(" :-\u2013|\t")
    prompt = str(meta.get("prompt") or prompt)
    return True, prompt, meta


def _clip_meta(clip) -> dict:
    value = clip.metadata.get(NAMESPACE) if clip.metadata else None
    return dict(value) if hasattr(value, "keys") else {}


def _items(composition, prefix: tuple[int, ...], top: int, disabled: bool):
    """(item, path, top track index, disabled) for every clip under a composition."""
    import opentimelineio as otio

    for i, item in enumerate(composition):
        off = disabled or not getattr(item, "enabled", True)
        if isinstance(item, otio.schema.Clip):
            yield item, prefix + (i,), top, off
        elif isinstance(item, otio.core.Composition):
            yield from _items(item, prefix + (i,), top, off)


def find_shots(
    timeline, names: tuple[str, ...] = (), prompt: str = ""
) -> tuple[list[MarkedShot], list[Skipped]]:
    """The marked clips of ``timeline`` in track order, and the marked ones that are skipped.

    ``names`` (shell-style patterns) also mark clips by name, for formats whose markers do not
    survive export; ``prompt`` is then their prompt unless a marker or metadata gives one.
    """
    import fnmatch

    import opentimelineio as otio

    prompt_default = prompt
    stack = timeline.tracks
    shots: list[MarkedShot] = []
    skipped: list[Skipped] = []
    clips = []  # (clip, path, top track, disabled, record range)
    for ti, track in enumerate(stack):
        if track.kind != otio.schema.TrackKind.Video or track.name == VOID_TRACK:
            continue
        for clip, path, top, off in _items(track, (ti,), ti, not track.enabled):
            try:
                rec = clip.transformed_time_range(clip.trimmed_range(), stack)
            except Exception:  # noqa: BLE001 - a clip OTIO cannot place is reported when marked
                rec = None
            clips.append((clip, path, top, off, rec))
    outer = _outer_markers(stack)
    for clip, path, top, off, rec in clips:
        where = f'track {top + 1} "{stack[top].name}", item {path[-1] + 1}'
        name = clip.name or f"clip {path[-1] + 1}"
        meta = _clip_meta(clip)
        prompt, marked_by = "", ""
        for marker in clip.markers:
            ok, text, mmeta = void_marker(marker)
            if ok:
                prompt, marked_by = text, f"marker {marker.name!r}"
                meta = {**meta, **mmeta}
                break
        if not marked_by and rec is not None:
            for track_index, marker, text, mmeta in outer:
                if track_index not in (None, top):
                    continue
                t = marker.marked_range.start_time
                if track_index is not None:  # a track marker is in the track's own time
                    t = stack[top].transformed_time(t, stack)
                if rec.contains(t) and _topmost(clips, t, top, track_index):
                    prompt, marked_by = text, f"timeline marker {marker.name!r}"
                    meta = {**meta, **mmeta}
                    break
        if not marked_by and meta and meta.get("enabled", True) is not False:
            marked_by = "metadata void_vfx"
        if not marked_by and any(fnmatch.fnmatchcase(clip.name or "", n) for n in names):
            prompt, marked_by = prompt_default, "--shot"
        if not marked_by or meta.get("enabled", True) is False:
            continue
        prompt = str(meta.get("prompt") or prompt or prompt_default)
        if off:
            skipped.append(Skipped(name, where, "the clip or its track is disabled"))
            continue
        shots.append(MarkedShot(clip, name, where, path, prompt, meta, rec, marked_by))
    return shots, skipped


def _outer_markers(stack) -> list[tuple[int | None, Any, str, dict]]:
    out = []
    for marker in stack.markers:
        ok, text, meta = void_marker(marker)
        if ok:
            out.append((None, marker, text, meta))
    for ti, track in enumerate(stack):
        for marker in track.markers:
            ok, text, meta = void_marker(marker)
            if ok:
                out.append((ti, marker, text, meta))
    return out


def _topmost(clips, t, top: int, track_index: int | None) -> bool:
    """A timeline marker marks the topmost enabled clip under it; a track marker its own."""
    if track_index is not None:
        return True
    higher = [c for c in clips if c[2] > top and not c[3] and c[4] is not None and c[4].contains(t)]
    return not higher
