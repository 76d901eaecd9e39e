"""Lay the cleaned plate back on the timeline: import it into a "VOID" bin and place it.

Facts relied on (Blackmagic's scripting README, AYON's Resolve host): ``ImportMedia`` takes
``{"FilePath": printf pattern, "StartIndex", "EndIndex"}`` (both inclusive) and imports into the
media pool's current folder; ``AppendToTimeline`` takes ``mediaPoolItem``, ``startFrame`` and
``endFrame`` (media frames from 0), ``mediaType`` 1 (video), ``trackIndex`` (1-based) and
``recordFrame``; a record frame on an occupied spot fails, and a failed append may return an item
whose getters answer None. Whether ``endFrame`` (and ``AddTake``'s) is inclusive is not written
anywhere: nakano000/Resolve_Script sends ``duration - 1`` on 19.1 and ``duration`` on every other
version, samuelgursky/davinci-resolve-mcp measured it exclusive on 21.0. So the version's reading
is tried first, what Resolve placed is read back, the other reading is tried once, and whatever a
failed attempt left (clips, a take, a track, the imported clip) is removed. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from void_vfx.hosts.resolve_app import (
    ResolveCallFailed,
    ResolveError,
    Undo,
    call,
    has_call,
    track_of,
    with_note,
)
from void_vfx.hosts.resolve_source import SourceRange
from void_vfx.media.sequences import find_sequence

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


def end_readings(version: tuple) -> tuple[str, str]:
    """The two readings of ``endFrame``, the version's likely one first (see the module doc)."""
    if tuple(version[:2]) == (19, 1):
        return ("inclusive", "exclusive")
    return ("exclusive", "inclusive")


def end_frame(first: int, duration: int, reading: str) -> int:
    return first + duration - (1 if reading == "inclusive" else 0)


def void_bin(media_pool: Any, undo: Undo | None = None) -> Any:
    root = call(media_pool, "GetRootFolder", fix="open the Media page once and retry")
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    folder = call(media_pool, "AddSubFolder", root, BIN_NAME, fix="check the project is writable")
    if undo is not None and has_call(media_pool, "DeleteFolders"):
        undo.add(f"remove the {BIN_NAME} bin", lambda: media_pool.DeleteFolders([folder]))
    return folder


def import_result(media_pool: Any, pattern: str, first: int, last: int, undo: Undo) -> Any:
    """Import the sequence as one clip into the VOID bin, keeping the user's current bin."""
    folder = void_bin(media_pool, undo)
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
    undo.add(f"remove the imported clips of {pattern}", lambda: media_pool.DeleteClips(list(items)))
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
    track = track_of(item, timeline)
    span = (item.GetStart(), item.GetEnd())
    for lower in range(int(track) - 1, 0, -1):
        for other in timeline.GetItemListInTrack("video", lower) or []:
            if (other.GetStart(), other.GetEnd()) == span and not job_of(other):
                return other
    raise ResolveError(
        f"clip {item.GetName()!r} is a void-vfx result and no original clip lies below it at "
        f"record frames {span[0]}-{span[1] - 1}; park the playhead on the original clip"
    )


def free_track(timeline: Any, above: int, start: int, end: int, undo: Undo) -> tuple[int, bool]:
    """(track, made): the first video track above ``above`` free over [start, end), else a new
    one (``made`` True)."""
    count = int(call(timeline, "GetTrackCount", "video", fix="open the timeline again"))
    for track in range(above + 1, count + 1):
        if not occupied(timeline, track, start, end):
            return track, False
    call(timeline, "AddTrack", "video", fix="unlock the timeline to let a track be added")
    track = int(timeline.GetTrackCount("video"))
    if track != count + 1:
        raise ResolveCallFailed("AddTrack", f"video tracks went from {count} to {track}")
    if has_call(timeline, "DeleteTrack"):

        def drop() -> bool:  # only while empty: a clip the user put there meanwhile stays
            if timeline.GetItemListInTrack("video", track):
                return False
            return bool(timeline.DeleteTrack("video", track))

        undo.add(f"remove the new track V{track}", drop)
    timeline.SetTrackName("video", track, BIN_NAME)
    return track, True


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


def _video_ids(timeline: Any) -> set:
    count = int(timeline.GetTrackCount("video") or 0)
    return {
        item.GetUniqueId()
        for track in range(1, count + 1)
        for item in timeline.GetItemListInTrack("video", track) or []
    }


def _new_items(timeline: Any, before: set) -> list[tuple[int, Any]]:
    count = int(timeline.GetTrackCount("video") or 0)
    return [
        (track, item)
        for track in range(1, count + 1)
        for item in timeline.GetItemListInTrack("video", track) or []
        if item.GetUniqueId() not in before
    ]


def place(
    media_pool: Any,
    timeline: Any,
    media: Any,
    first: int,
    duration: int,
    track: int,
    record: int,
    readings: tuple[str, ...],
    fix: str = "",
) -> tuple[Any, str]:
    """Append media frames ``first``.. (``duration`` of them) at ``record`` on ``track``.

    Each reading of ``endFrame`` in turn: what Resolve placed is read back (start, duration,
    left offset, track); anything a wrong attempt placed is deleted before the next. Returns
    (item, the reading that worked); raises with what each attempt placed, and ``fix``.
    ``GetLeftOffset`` is the check of the source side: it reads back exactly the ``startFrame``
    sent, where ``GetSourceStartFrame`` may be one off (samuelgursky/davinci-resolve-mcp
    api-limitations.md, "TimelineItem.GetSourceStartFrame").
    """
    fix = fix or f"free record frames {record}-{record + duration - 1} on V{track} and run again"
    seen = []
    for reading in readings:
        before = _video_ids(timeline)
        info = {
            "mediaPoolItem": media,
            "startFrame": first,
            "endFrame": end_frame(first, duration, reading),
            "mediaType": 1,
            "trackIndex": track,
            "recordFrame": record,
        }
        media_pool.AppendToTimeline([info])
        new = _new_items(timeline, before)
        if len(new) == 1:
            got_track, item = new[0]
            got = (got_track, item.GetStart(), item.GetDuration(), item.GetLeftOffset())
            if got == (track, record, duration, first):
                return item, reading
            seen.append(f"V{got[0]} at {got[1]}, {got[2]} frames from media frame {got[3]}")
        else:
            seen.append(f"{len(new)} clips")
        if new and not delete_items(timeline, [item for _, item in new]):
            raise ResolveCallFailed(
                "DeleteClips",
                f"a wrong placement could not be removed from V{track} at record frame "
                f"{record}; delete it by hand (Edit > Undo)",
            )
    raise ResolveCallFailed(
        "AppendToTimeline",
        f"{duration} frames asked at record frame {record} on V{track}; Resolve placed "
        + " then ".join(seen)
        + f"; {fix}",
    )


def delete_items(timeline: Any, items: list) -> bool:
    """Delete timeline items and check they are gone: a False answer was once seen where a
    second identical call worked (davinci-resolve-mcp api-limitations.md, "Timeline.DeleteClips"),
    so the call is made at most twice, and the tracks are read back each time."""
    ids = {item.GetUniqueId() for item in items}
    for _ in range(2):
        timeline.DeleteClips(list(items), False)
        if not ids & _video_ids(timeline):
            return True
    return False


def add_take(
    original: Any, media: Any, duration: int, readings: tuple[str, ...], first: int = 0
) -> int:
    """Add the result as a take of ``original``, select it and check it plays whole.

    The take's length shows as the item's once selected; a wrong one is deleted and the user's
    take selected again before the other reading is tried. Returns the take's index.
    """
    name = original.GetName()
    count0 = int(original.GetTakesCount() or 0)
    chosen0 = int(original.GetSelectedTakeIndex() or 0) if count0 else 0
    seen = []
    for reading in readings:
        if not original.AddTake(media, first, end_frame(first, duration, reading)):
            seen.append("refused")
            continue
        index = int(original.GetTakesCount() or 0)
        if index <= count0:
            seen.append("no new take")
            continue
        call(original, "SelectTakeByIndex", index, fix="select the take in the clip's menu")
        got = original.GetDuration()
        if got == duration:
            return index
        seen.append(f"{got} frames")
        original.SelectTakeByIndex(chosen0 or 1)
        original.DeleteTakeByIndex(index)
    if (
        not count0
        and int(original.GetTakesCount() or 0) == 1
        and has_call(original, "FinalizeTake")
    ):
        original.FinalizeTake()  # the take selector was ours: fold it back into the clip
    raise ResolveCallFailed(
        "AddTake",
        f"clip {name!r} needs a {duration}-frame take; Resolve made "
        + " then ".join(seen)
        + "; use --mode new-track",
    )


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
    version: tuple = (),
    head: int = 0,
    tail: int = 0,
) -> Placed:
    """Import the result and put it on the timeline as ``mode`` says (see MODES).

    A result with ``head``/``tail`` handle frames is placed showing the clip's frames (its left
    offset is ``head``), the handles kept for trimming. On failure everything this call made is
    removed (and a replaced result put back) before the error is raised.
    """
    if mode not in MODES:
        raise ResolveError(f"lay-back mode {mode!r}: use one of {', '.join(MODES)}")
    pattern, first, last = result_sequence(result_paths)
    if last - first + 1 != head + src.duration + tail:
        raise ResolveError(
            f"{pattern}: {last - first + 1} frames for a {src.duration}-frame clip with "
            f"{head}+{tail} handles; run the job again over the clip's range"
        )
    media_pool = call(project, "GetMediaPool", fix="open the Media page once and retry")
    _make_current(project, timeline)
    readings = end_readings(version)
    undo = Undo()
    try:
        media = import_result(media_pool, pattern, first, last, undo)
        path = str(media.GetClipProperty("File Path") or pattern)
        if mode == "take":
            add_take(original, media, src.duration, readings, head)
            return Placed(0, src.record_start, src.duration, path, media, original)
        track = 0
        if mode == "replace":
            found = earlier_result(timeline, src)
            if found is not None:
                track, old = found
                _take_out(media_pool, timeline, track, old, readings, undo)
        fix = ""
        if not track:
            track, made = free_track(timeline, src.track, src.record_start, src.record_end, undo)
            if made:
                fix = (
                    f"V{track} was added for it and is removed again; check that no clip was "
                    "dropped there meanwhile and no track is locked, and run again"
                )
        item, _ = place(
            media_pool,
            timeline,
            media,
            head,
            src.duration,
            track,
            src.record_start,
            readings,
            fix,
        )
        undo.add("remove the new clip", lambda: delete_items(timeline, [item]))
        tag(item, job_id)
    except BaseException as exc:
        left = undo.run()
        if left and isinstance(exc, ResolveError):
            raise with_note(exc, "; could not " + ", ".join(left)) from None
        raise
    return Placed(track, src.record_start, src.duration, path, media, item)


def _make_current(project: Any, timeline: Any) -> None:
    """AppendToTimeline places on the *current* timeline: the user may have opened another one
    while the job ran, so the clip's timeline is made current again."""
    current = project.GetCurrentTimeline()
    if current is not None and current.GetUniqueId() == timeline.GetUniqueId():
        return
    call(
        project,
        "SetCurrentTimeline",
        timeline,
        fix=f"open timeline {timeline.GetName()!r} on the Edit page and run again",
    )


def _take_out(
    media_pool: Any, timeline: Any, track: int, old: Any, readings: tuple, undo: Undo
) -> None:
    """Delete an earlier result (replace mode); a failure later puts it back, tagged again."""
    media, left, duration, start = (
        old.GetMediaPoolItem(),
        old.GetLeftOffset(),
        old.GetDuration(),
        old.GetStart(),
    )
    old_job = job_of(old)
    call(timeline, "DeleteClips", [old], False, fix="unlock track V" + str(track))

    def put_back() -> bool:
        item, _ = place(media_pool, timeline, media, left, duration, track, start, readings)
        tag(item, old_job)
        return True

    undo.add(f"put back the earlier result on V{track}", put_back)
