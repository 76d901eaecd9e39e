"""Lay the cleaned plate back on the timeline: import it into a "VOID" bin and place it.

Facts relied on (Blackmagic's scripting README, AYON's Resolve host): ``ImportMedia`` takes
``{"FilePath": printf pattern, "StartIndex", "EndIndex"}`` (both inclusive) and imports into the
media pool's current folder; ``AppendToTimeline`` takes ``mediaPoolItem``, ``startFrame`` and
``endFrame`` (media frames from 0, end inclusive), ``mediaType`` 1 (video), ``trackIndex``
(1-based) and ``recordFrame``; a record frame on an occupied spot fails, and a failed append may
return an item whose getters answer None, so the placed item is checked. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from void_vfx.hosts.resolve_app import ResolveCallFailed, ResolveError, call
from void_vfx.hosts.resolve_source import SourceRange

MODES = ("new-track", "replace", "take")
BIN_NAME = "VOID"
CLIP_COLOUR = "Teal"
MARKER_COLOUR = "Mint"
MARKER_NAME = "VOID"
_TAG = "void-vfx job "


@dataclass(frozen=True)
class Placed:
    """Where the result went: track (0 for a take), record frame, the items."""

    track: int
    record_frame: int
    duration: int
    file_path: str
    media_item: Any
    timeline_item: Any


def result_sequence(paths: list[str]) -> tuple[str, int, int]:
    """(printf pattern, first, last) of the downloaded result frames; they must be contiguous."""
    from void_vfx.media.sequences import find_sequence

    if not paths:
        raise ResolveError("the job returned no frames; see the server's log")
    frames_paths = sorted(p for p in paths if p.lower().endswith(".exr"))
    seq = find_sequence(frames_paths[0])
    frames = seq.frames()
    if len(frames) != len(frames_paths):
        raise ResolveError(
            f"{seq.format('hash')}: {len(frames)} frames on disk but the job returned "
            f"{len(frames_paths)}; download the results again"
        )
    return seq.format("printf"), frames[0], frames[-1]


def void_bin(media_pool: Any) -> Any:
    root = call(media_pool, "GetRootFolder", fix="open the Media page once and retry")
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    return call(media_pool, "AddSubFolder", root, BIN_NAME, fix="check the project is writable")


def import_result(media_pool: Any, pattern: str, first: int, last: int) -> Any:
    """Import the sequence as one clip into the VOID bin, keeping the user's current bin."""
    folder = void_bin(media_pool)
    previous = media_pool.GetCurrentFolder()
    call(media_pool, "SetCurrentFolder", folder, fix="check the VOID bin is not locked")
    try:
        items = call(
            media_pool,
            "ImportMedia",
            [{"FilePath": pattern, "StartIndex": first, "EndIndex": last}],
            fix=f"check that {pattern % first} .. {pattern % last} exist and are readable",
        )
    finally:
        if previous is not None:
            media_pool.SetCurrentFolder(previous)
    if len(items) != 1:
        raise ResolveError(
            f"importing {pattern} made {len(items)} clips, expected one: turn off "
            "'Show Individual Frames' in the Media Pool's menu and run again"
        )
    return items[0]


def occupied(timeline: Any, track: int, start: int, end: int) -> bool:
    """True when an item on video ``track`` overlaps record frames [start, end)."""
    for item in timeline.GetItemListInTrack("video", track) or []:
        if item.GetStart() < end and start < item.GetEnd():
            return True
    return False


def job_of(item: Any) -> str:
    """The void-vfx job id a timeline item was tagged with ('' if none)."""
    for marker in (item.GetMarkers() or {}).values():
        note = str(marker.get("note", ""))
        if marker.get("name") == MARKER_NAME and note.startswith(_TAG):
            return note[len(_TAG) :]
    return ""


def original_of(timeline: Any, item: Any) -> Any:
    """A re-run from a void-vfx result under the playhead means its original clip below it."""
    if not job_of(item):
        return item
    kind, track = item.GetTrackTypeAndIndex()
    span = (item.GetStart(), item.GetEnd())
    for lower in range(int(track) - 1, 0, -1):
        for other in timeline.GetItemListInTrack("video", lower) or []:
            if (other.GetStart(), other.GetEnd()) == span and not job_of(other):
                return other
    raise ResolveError(
        f"clip {item.GetName()!r} is a void-vfx result and no original clip lies below it at "
        f"record frames {span[0]}-{span[1] - 1}; park the playhead on the original clip"
    )


def free_track(timeline: Any, above: int, start: int, end: int) -> int:
    """The first video track above ``above`` free over [start, end); a new one when none is."""
    count = int(call(timeline, "GetTrackCount", "video", fix="open the timeline again"))
    for track in range(above + 1, count + 1):
        if not occupied(timeline, track, start, end):
            return track
    call(timeline, "AddTrack", "video", fix="unlock the timeline to let a track be added")
    track = int(timeline.GetTrackCount("video"))
    if track != count + 1:
        raise ResolveCallFailed("AddTrack", f"video tracks went from {count} to {track}")
    timeline.SetTrackName("video", track, BIN_NAME)
    return track


def earlier_result(timeline: Any, src: SourceRange) -> tuple[int, Any] | None:
    """(track, item) of a void-vfx result above the clip at the same record range, if any."""
    count = int(timeline.GetTrackCount("video") or 0)
    for track in range(count, src.track, -1):
        for item in timeline.GetItemListInTrack("video", track) or []:
            if (item.GetStart(), item.GetEnd()) == (src.record_start, src.record_end) and job_of(
                item
            ):
                return track, item
    return None


def append(media_pool: Any, timeline: Any, media: Any, track: int, src: SourceRange) -> Any:
    """Append the whole result at the clip's record frame on ``track`` and check it is there."""
    info = {
        "mediaPoolItem": media,
        "startFrame": 0,
        "endFrame": src.duration - 1,
        "mediaType": 1,
        "trackIndex": track,
        "recordFrame": src.record_start,
    }
    fix = f"free record frames {src.record_start}-{src.record_end - 1} on track V{track}"
    items = call(media_pool, "AppendToTimeline", [info], fix=fix)
    item = items[0]
    got = (item.GetStart(), item.GetDuration())
    if got != (src.record_start, src.duration):
        raise ResolveCallFailed(
            "AppendToTimeline",
            f"the new clip is not on the timeline (it reads start {got[0]}, duration {got[1]}; "
            f"expected {src.record_start}, {src.duration}); {fix}",
        )
    listed = {i.GetUniqueId() for i in timeline.GetItemListInTrack("video", track) or []}
    if item.GetUniqueId() not in listed:
        raise ResolveCallFailed("AppendToTimeline", f"the new clip is not on V{track}; {fix}")
    return item


def tag(item: Any, job_id: str) -> None:
    """Clip colour and a one-frame marker carrying the job id."""
    call(item, "SetClipColor", CLIP_COLOUR, fix="the new clip lost its place; undo and rerun")
    call(
        item,
        "AddMarker",
        0,
        MARKER_COLOUR,
        MARKER_NAME,
        _TAG + job_id,
        1,
        job_id,
        fix="a marker already sits on the clip's first frame; remove it and rerun",
    )


def lay_back(
    project: Any,
    timeline: Any,
    original: Any,
    src: SourceRange,
    result_paths: list[str],
    job_id: str,
    mode: str = "new-track",
) -> Placed:
    """Import the result and put it on the timeline as ``mode`` says (see MODES)."""
    if mode not in MODES:
        raise ResolveError(f"lay-back mode {mode!r}: use one of {', '.join(MODES)}")
    pattern, first, last = result_sequence(result_paths)
    if last - first + 1 != src.duration:
        raise ResolveError(
            f"{pattern}: {last - first + 1} frames for a {src.duration}-frame clip; "
            "run the job again over the clip's range"
        )
    media_pool = call(project, "GetMediaPool", fix="open the Media page once and retry")
    media = import_result(media_pool, pattern, first, last)
    path = str(media.GetClipProperty("File Path") or pattern)
    if mode == "take":
        call(original, "AddTake", media, 0, src.duration - 1, fix="finalize the clip's takes")
        index = int(call(original, "GetTakesCount", fix="the take was not added; rerun"))
        call(original, "SelectTakeByIndex", index, fix="select the take in the clip's menu")
        return Placed(0, src.record_start, src.duration, path, media, original)
    track = 0
    if mode == "replace":
        found = earlier_result(timeline, src)
        if found is not None:
            track, old = found
            call(timeline, "DeleteClips", [old], False, fix="unlock track V" + str(track))
    if not track:
        track = free_track(timeline, src.track, src.record_start, src.record_end)
    item = append(media_pool, timeline, media, track, src)
    tag(item, job_id)
    return Placed(track, src.record_start, src.duration, path, media, item)


def version_of(path: str) -> str:
    """``.../plate_void_v002/...`` -> ``v002`` (for messages)."""
    for part in reversed(os.path.normpath(path).split(os.sep)):
        if "_void_v" in part:
            return part.rsplit("_", 1)[-1].split(".")[0]
    return ""
