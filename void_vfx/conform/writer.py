"""The conformed timeline: the input with each cleaned shot added, everything else untouched.

By default each result is a new clip on a ``VOID`` video track above the others, at the original
clip's record time, with the original's source range (the result's frames carry the plate's
numbers and handles). Shots that overlap in record time go on further tracks ``VOID 2``...
``--as-reference`` instead adds the result to the original clip as the alternate media reference
``VOID`` and makes it the active one (the original stays under its own key). The file is written
in the input's format where its adapter can write that timeline, else as .otio (the message says
why); ``otio_version`` writes older schemas for older readers.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from urllib.parse import unquote

from void_vfx.atomic import atomic_target
from void_vfx.conform.clock import frames_at
from void_vfx.conform.reading import EXTENSIONS, first_timeline, installed_adapter
from void_vfx.conform.runner import ShotResult
from void_vfx.conform.shots import NAMESPACE, VOID_TRACK
from void_vfx.errors import SpecError
from void_vfx.media.sequences import Sequence

REFERENCE_KEY = "VOID"
#: Adapters known to hold no image-sequence media: the timeline goes to .otio, said plainly.
NO_SEQUENCES = {"fcp_xml": "FCP7 XML holds no image-sequence media"}


@dataclass
class Written:
    path: str
    adapter: str
    message: str = ""


def _item_at(timeline, path: tuple[int, ...]):
    node = timeline.tracks
    for i in path:
        node = node[i]
    return node


def result_reference(res: ShotResult, clip):
    """An ImageSequenceReference to the result frames, in the original clip's source time."""
    import opentimelineio as otio

    r = res.job.resolved

    seq = Sequence.parse(res.pattern)  # the result's own padding: 4, 5, 6 or timecode numbers
    folder, prefix, suffix = seq.directory, seq.prefix, seq.suffix
    first, last = res.frames
    clip_rate = clip.trimmed_range().duration.rate
    same_frames = abs(frames_at(1.0, clip_rate, r.rate) - 1.0) < 1e-9
    rate = clip_rate if same_frames else float(r.rate)
    start = r.clock.media_frame(first) - r.shift
    ref = otio.schema.ImageSequenceReference(
        target_url_base=folder,
        name_prefix=prefix,
        name_suffix=suffix,
        start_frame=first,
        frame_step=1,
        rate=rate,
        frame_zero_padding=seq.padding,
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, rate),
            otio.opentime.RationalTime(last - first + 1, rate),
        ),
    )
    ref.name = os.path.basename(folder)
    ref.metadata[NAMESPACE] = _result_meta(res)
    return ref


def _result_meta(res: ShotResult) -> dict:
    r = res.job.resolved
    return {
        "source_clip": r.shot.name,
        "job_id": res.job_id,
        "key": res.job.key,
        "prompt": r.shot.prompt,
        "frames": [res.frames[0], res.frames[1]],
        "handles": list(r.handles),
        "plate": r.movie or r.plate,
    }


def add_void_tracks(timeline, results: list[ShotResult]) -> list:
    """VOID tracks (appended above every other track) holding one clip per result."""
    import opentimelineio as otio

    placed = sorted(
        (r for r in results if r.pattern),
        key=lambda r: r.job.resolved.shot.record.start_time.to_seconds(),
    )
    if not placed:
        return []
    stack = timeline.tracks
    rate = placed[0].job.resolved.shot.record.start_time.rate
    offset = any(t.source_range is not None and t.source_range.start_time.value != 0 for t in stack)
    origin = (
        placed[0].job.resolved.shot.record.start_time.rescaled_to(rate)
        if offset
        else otio.opentime.RationalTime(0, rate)
    )
    tracks: list = []  # (track, cursor)
    for res in placed:
        orig = _item_at(timeline, res.job.resolved.shot.path)
        rec = res.job.resolved.shot.record
        start = rec.start_time.rescaled_to(rate) - origin
        slot = next((i for i, (_t, cur) in enumerate(tracks) if cur <= start), None)
        if slot is None:
            name = VOID_TRACK if not tracks else f"{VOID_TRACK} {len(tracks) + 1}"
            track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Video)
            track.metadata[NAMESPACE] = {"role": "results", "written_by": "void-vfx conform"}
            tracks.append((track, otio.opentime.RationalTime(0, rate)))
            slot = len(tracks) - 1
        track, cursor = tracks[slot]
        if start > cursor:
            track.append(otio.schema.Gap(duration=start - cursor))
        clip = otio.schema.Clip(
            name=f"{orig.name} VOID",
            media_reference=result_reference(res, orig),
            source_range=copy.deepcopy(res.job.resolved.shot.window or orig.trimmed_range()),
        )
        clip.metadata[NAMESPACE] = _result_meta(res)
        track.append(clip)
        tracks[slot] = (track, start + rec.duration.rescaled_to(rate))
    out = []
    for track, cursor in tracks:
        if offset:
            track.source_range = otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate) - origin, cursor
            )
        stack.append(track)
        out.append(track)
    return out


def add_references(timeline, results: list[ShotResult]) -> int:
    """The result as the active alternate media reference of each original clip."""
    count = 0
    for res in results:
        if not res.pattern:
            continue
        clip = _item_at(timeline, res.job.resolved.shot.path)
        refs = dict(clip.media_references())
        original = clip.active_media_reference_key
        refs[REFERENCE_KEY] = result_reference(res, clip)
        clip.set_media_references(refs, REFERENCE_KEY)
        clip.metadata[NAMESPACE] = {
            **dict(clip.metadata.get(NAMESPACE, {}) or {}),
            "original_media_key": original,
        }
        count += 1
    return count


def conformed(timeline, results: list[ShotResult], as_reference: bool):
    """A copy of ``timeline`` with the results added; the input object is left as it was."""
    out = timeline.deepcopy() if hasattr(timeline, "deepcopy") else copy.deepcopy(timeline)
    if as_reference:
        add_references(out, results)
    else:
        add_void_tracks(out, results)
    return out


def output_adapter(path: str) -> str:
    """The adapter that writes ``path``'s extension; SpecError for one no installed adapter
    claims (never OTIO JSON under another format's name)."""
    import opentimelineio as otio

    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    try:
        return otio.adapters.from_filepath(path).name
    except Exception:  # noqa: BLE001 - OTIO's NoKnownAdapterForExtensionError and kin
        pass
    known = ", ".join(sorted(EXTENSIONS))
    raise SpecError(
        "--output",
        f"{path}: no installed OpenTimelineIO adapter writes {ext or 'a file with no extension'}"
        f"; give -o with one of {known} (.otio keeps everything)",
    )


def _tally(timeline, folders: list[str]) -> dict:
    """What a timeline holds, to say what a native format kept and lost."""
    import opentimelineio as otio

    clips = list(timeline.find_clips())

    def url(clip) -> str:
        ref = clip.media_reference
        text = getattr(ref, "target_url", "") or getattr(ref, "target_url_base", "") or ""
        return unquote(str(text)).replace("\\", "/")

    # A result is found by its shot folder and version folder (adapters may rewrite the rest of
    # the path into a URL); two shots of one plate share the version folder's name.
    names = ["/".join(f.replace("\\", "/").rstrip("/").split("/")[-2:]) for f in folders]
    urls = [url(c) for c in clips]
    return {
        "results": sum(1 for n in names if n and any(n in u for u in urls)),
        "tracks": len(timeline.tracks),
        "clips": len(clips),
        "markers": sum(len(i.markers) for i in timeline.find_children() if hasattr(i, "markers"))
        + len(timeline.tracks.markers),
        "transitions": sum(
            1 for i in timeline.find_children() if isinstance(i, otio.schema.Transition)
        ),
        "void_vfx metadata": sum(1 for c in clips if c.metadata and NAMESPACE in c.metadata),
    }


def _compare(before: dict, after: dict) -> tuple[str, bool]:
    """("kept ...; lost ...", every result kept)."""
    kept = [f"{after[k]} of {v} {k}" for k, v in before.items() if v and after.get(k, 0) >= v]
    lost = [f"{v - after.get(k, 0)} of {v} {k}" for k, v in before.items() if after.get(k, 0) < v]
    text = "kept " + (", ".join(kept) or "nothing counted")
    if lost:
        text += "; lost " + ", ".join(lost)
    return text, after["results"] >= before["results"]


def _read_back(path: str, adapter: str, timeline):
    import opentimelineio as otio

    kwargs = {}
    if adapter == "cmx_3600":
        clip = next(iter(timeline.find_clips()), None)
        kwargs["rate"] = clip.trimmed_range().duration.rate if clip is not None else 24.0
    return first_timeline(otio.adapters.read_from_file(path, adapter_name=adapter, **kwargs), path)


def write_timeline(
    timeline,
    path: str,
    otio_version: str = "",
    adapter_args=None,
    results: list[ShotResult] | None = None,
) -> Written:
    """Write in the format of ``path``'s extension, else as .otio beside it; atomic.

    A native file is read back with its adapter before it is moved into place: it is kept only
    where every result is still in it, and the message says what it kept and lost; otherwise
    the timeline goes to .otio and the message says why."""
    import opentimelineio as otio

    adapter = output_adapter(path)
    folders = [os.path.dirname(r.pattern) for r in results or () if r.pattern]
    message = ""
    if adapter not in ("otio_json",):
        ext = os.path.splitext(path)[1].lower()
        try:
            installed_adapter(adapter)
            if adapter in NO_SEQUENCES and any(
                isinstance(c.media_reference, otio.schema.ImageSequenceReference)
                for c in timeline.find_clips()
            ):
                raise otio.exceptions.NotSupportedError(NO_SEQUENCES[adapter])
            before = _tally(timeline, folders)
            with atomic_target(path, suffix=ext) as tmp:
                otio.adapters.write_to_file(
                    timeline, tmp, adapter_name=adapter, **(adapter_args or {})
                )
                if adapter not in ("otioz", "otiod"):
                    try:
                        back = _read_back(tmp, adapter, timeline)
                    except Exception as exc:  # noqa: BLE001 - the adapter's own error
                        raise otio.exceptions.OTIOError(
                            f"its own reader cannot read what it wrote: {exc}"
                        ) from exc
                    said, complete = _compare(before, _tally(back, folders))
                    if not complete:
                        raise otio.exceptions.OTIOError(f"read back, it {said}")
                    message = f"{os.path.basename(path)} read back with {adapter}: {said}"
            return Written(path, adapter, message)
        except Exception as exc:  # noqa: BLE001 - any adapter failure falls back to .otio
            fallback = os.path.splitext(path)[0] + ".otio"
            message = (
                f"the {adapter} adapter cannot write this timeline ({exc}); wrote "
                f"{fallback} instead, which keeps everything"
            )
            path, adapter = fallback, "otio_json"
    kwargs = {}
    if otio_version:
        kwargs["target_schema_versions"] = otio.versioning.fetch_map("OTIO_CORE", otio_version)
    with atomic_target(path, suffix=".otio") as tmp:
        otio.adapters.write_to_file(timeline, tmp, adapter_name="otio_json", **kwargs)
    return Written(path, adapter, message)
