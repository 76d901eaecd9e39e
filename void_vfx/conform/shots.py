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

import fnmatch
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
    #: The part of the clip's source range that shows in the edit, as an OTIO TimeRange in the
    #: clip's source time: its trimmed range, cut further by enclosing compositions' trims.
    window: Any = None
    #: The timeline's global start (record timecode of its first frame), or None.
    origin: Any = None

    @property
    def record_timecode(self) -> str:
        """The record in point as timecode, counted from the timeline's global start."""
        if self.record is None:
            return ""
        start = self.record.start_time
        if self.origin is not None:
            start = start + self.origin.rescaled_to(start.rate)
        return _tc(start)


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
        prompt = _note(marker.metadata)
    if not prompt and m and m.group("rest"):
        prompt = m.group("rest").strip(" :-\u2013|\t")
    prompt = str(meta.get("prompt") or prompt)
    return True, prompt, meta


#: Where NLE exports keep a marker's note when OTIO's ``comment`` is empty: Resolve writes
#: ``Resolve_OTIO.Note``; ayon's Hiero and Resolve exports ``metadata["note"]``;
#: FCP7 ``fcp_xml.comment``; AAF ``AAF.Comment`` (the Avid locator's comment).
NOTE_PLACES = (
    (None, ("note", "Note", "comment", "Comment")),
    ("Resolve_OTIO", ("Note", "note", "Comment", "comment")),
    ("hiero", ("note", "Note", "comment")),
    ("Hiero", ("tag.note", "note")),  # OTIO's contrib Hiero exporter: the tag's metadata
    ("fcp_xml", ("comment", "Comment", "note")),
    ("AAF", ("Comment", "comment", "CommentMarkerUSer", "Note")),
)


def _note(metadata) -> str:
    for ns, keys in NOTE_PLACES:
        sub = metadata if ns is None else metadata.get(ns)
        if not hasattr(sub, "get"):
            continue
        for key in keys:
            note = sub.get(key)
            if isinstance(note, str) and note.strip():
                return note.strip()
    return ""


def is_result(clip) -> bool:
    """A clip a conform wrote (its metadata or its active media says so): a conformed
    timeline conformed again must not process its results."""
    meta = _clip_meta(clip)
    if "source_clip" in meta or "original_media_key" in meta:
        return True
    ref = clip.media_reference
    rmeta = ref.metadata.get(NAMESPACE) if ref is not None and ref.metadata else None
    return hasattr(rmeta, "get") and "job_id" in rmeta


def disabled(item) -> bool:
    """OTIO's ``enabled``, or the FCP7/Premiere state the fcp_xml adapter leaves in metadata
    (``<enabled>FALSE</enabled>`` becomes ``metadata["fcp_xml"]["enabled"] == "FALSE"`` while
    ``enabled`` stays true)."""
    if not getattr(item, "enabled", True):
        return True
    fcp = item.metadata.get("fcp_xml") if item.metadata else None
    state = fcp.get("enabled") if hasattr(fcp, "get") else None
    return str(state).strip().upper() in ("FALSE", "0", "NO") if state is not None else False


def shown_window(clip, stack):
    """(window in the clip's source time, record range in ``stack``) of the part of the clip
    its enclosing compositions show, or (None, None) when they hide all of it.

    OTIO's ``transformed_time_range`` maps times but does not cut them at a nested stack's or
    track's own trimmed range; this walks up and cuts at each."""
    import opentimelineio as otio

    trimmed = clip.trimmed_range()
    shift = clip.range_in_parent().start_time - trimmed.start_time  # source -> parent time
    start, end = trimmed.start_time + shift, trimmed.end_time_exclusive() + shift
    node = clip.parent()
    while node is not None and node is not stack:
        parent = node.parent()
        if parent is None or parent is stack:
            # A top-level track's source range places the edit in record time (the cmx_3600
            # adapter gives V a start of -86243 for record 00:59:53:11), it trims nothing.
            up = node.range_in_parent().start_time - node.trimmed_range().start_time
            start, end, shift = start + up, end + up, shift + up
            break
        shown = node.trimmed_range()
        start = max(start, shown.start_time)
        end = min(end, shown.end_time_exclusive())
        if end <= start:
            return None, None
        up = node.range_in_parent().start_time - shown.start_time
        start, end, shift = start + up, end + up, shift + up
        node = parent
    window = otio.opentime.range_from_start_end_time(start - shift, end - shift)
    record = otio.opentime.range_from_start_end_time(start, end)
    return window, record


def _clip_meta(clip) -> dict:
    value = clip.metadata.get(NAMESPACE) if clip.metadata else None
    return dict(value) if hasattr(value, "keys") else {}


_disabled = disabled


def _items(composition, prefix: tuple[int, ...], top: int, disabled: bool):
    """(item, path, top track index, disabled) for every clip under a composition."""
    import opentimelineio as otio

    for i, item in enumerate(composition):
        off = disabled or _disabled(item)
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

    import opentimelineio as otio

    prompt_default = prompt
    stack = timeline.tracks
    shots: list[MarkedShot] = []
    skipped: list[Skipped] = []
    clips = []  # (clip, path, top track, disabled, record range)
    for ti, track in enumerate(stack):
        if track.kind != otio.schema.TrackKind.Video or track.name == VOID_TRACK:
            continue
        results = _is_results_track(track)
        for clip, path, top, off in _items(track, (ti,), ti, disabled(track)):
            if results or is_result(clip):
                continue  # a result of an earlier conform: never a shot
            try:
                window, rec = shown_window(clip, stack)
            except Exception:  # noqa: BLE001 - a clip OTIO cannot place is reported when marked
                window, rec = None, None
                hidden = False
            else:
                hidden = window is None
            clips.append((clip, path, top, off, rec, window, hidden))
    outer = _outer_markers(stack)
    for clip, path, top, off, rec, window, hidden in clips:
        where = f'track {top + 1} "{stack[top].name}", item {path[-1] + 1}'
        name = clip.name or f"clip {path[-1] + 1}"
        meta = _clip_meta(clip)
        prompt, marked_by, stray = "", "", []
        for marker in clip.markers:
            ok, text, mmeta = void_marker(marker)
            if ok and not _inside(marker, clip):
                stray.append(marker)
                continue
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
        if stray and not marked_by:
            skipped.append(Skipped(name, where, _stray_reason(stray, clip)))
            continue
        if not marked_by or meta.get("enabled", True) is False:
            continue
        prompt = str(meta.get("prompt") or prompt or prompt_default)
        if off:
            skipped.append(Skipped(name, where, "the clip or its track is disabled"))
            continue
        if hidden:
            skipped.append(Skipped(name, where, "its enclosing composition's trim hides all of it"))
            continue
        shots.append(
            MarkedShot(
                clip,
                name,
                where,
                path,
                prompt,
                meta,
                rec,
                marked_by,
                window,
                timeline.global_start_time,
            )
        )
    return shots, skipped


def _is_results_track(track) -> bool:
    meta = track.metadata.get(NAMESPACE) if track.metadata else None
    return hasattr(meta, "get") and meta.get("role") == "results"


def _inside(marker, clip) -> bool:
    """Whether a clip's marker lies in the clip's range: an AAF may attach every locator of a
    track to one clip. OTIO puts clip markers in the clip's source time; exports built on the
    NLEs' scripting APIs put them at an offset from the clip's first frame (ayon-resolve's
    ``create_otio_markers`` uses ``TimelineItem.GetMarkers()`` frame keys, Flame's exporter
    ``marker - record_in + 1``), so either reading counts."""
    import opentimelineio as otio

    rng = clip.trimmed_range()
    one = otio.opentime.RationalTime(1, rng.duration.rate)
    # 0-based (Resolve) or 1-based (Flame): frames 0 to the clip's length
    offset = otio.opentime.TimeRange(rng.start_time - rng.start_time, rng.duration + one)
    m = marker.marked_range
    for span in (rng, offset):
        if m.duration.value > 0:
            if (
                m.start_time < span.end_time_exclusive()
                and span.start_time < m.end_time_exclusive()
            ):
                return True
        elif span.start_time <= m.start_time < span.end_time_exclusive():
            return True
    return False


def _stray_reason(markers, clip) -> str:
    rng = clip.trimmed_range()
    at = ", ".join(_tc(m.marked_range.start_time) for m in markers)
    return (
        f"its VOID marker (at {at}) lies outside the clip's source range "
        f"{_tc(rng.start_time)}-{_tc(rng.end_time_exclusive())} (and past its "
        f"{rng.duration.value:g} frames as an offset), so it may "
        "belong to another clip; move the marker onto the clip (or mark it with --shot)"
    )


def _tc(t) -> str:
    try:
        return t.to_timecode()
    except Exception:  # noqa: BLE001 - a rate timecode cannot spell: frames
        return f"frame {t.value:g} at {t.rate:g} fps"


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
