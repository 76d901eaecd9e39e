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

from void_vfx.atomic import atomic_target
from void_vfx.conform.clock import frames_at
from void_vfx.conform.reading import EXTENSIONS, installed_adapter
from void_vfx.conform.runner import ShotResult
from void_vfx.conform.shots import NAMESPACE, VOID_TRACK

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
    folder, name = os.path.split(res.pattern)
    prefix, _, suffix = name.partition("####")
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
        frame_zero_padding=4,
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

    placed = sorted((r for r in results if r.pattern), key=lambda r: r.job.resolved.shot.record
                    .start_time.to_seconds())  # fmt: skip
    if not placed:
        return []
    stack = timeline.tracks
    rate = placed[0].job.resolved.shot.record.start_time.rate
    offset = any(t.source_range is not None and t.source_range.start_time.value != 0 for t in stack)
    origin = placed[0].job.resolved.shot.record.start_time.rescaled_to(rate) if offset else \
        otio.opentime.RationalTime(0, rate)  # fmt: skip
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
            source_range=copy.deepcopy(orig.trimmed_range()),
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
        clip.metadata[NAMESPACE] = {**dict(clip.metadata.get(NAMESPACE, {}) or {}),
                                    "original_media_key": original}  # fmt: skip
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


def write_timeline(timeline, path: str, otio_version: str = "", adapter_args=None) -> Written:
    """Write in the format of ``path``'s extension, else as .otio beside it; atomic."""
    import opentimelineio as otio

    ext = os.path.splitext(path)[1].lower()
    adapter = EXTENSIONS.get(ext, "otio_json")
    message = ""
    if adapter not in ("otio_json",):
        try:
            installed_adapter(adapter)
            if adapter in NO_SEQUENCES and any(
                isinstance(c.media_reference, otio.schema.ImageSequenceReference)
                for c in timeline.find_clips()
            ):
                raise otio.exceptions.NotSupportedError(NO_SEQUENCES[adapter])
            with atomic_target(path, suffix=ext) as tmp:
                otio.adapters.write_to_file(timeline, tmp, adapter_name=adapter,
                                            **(adapter_args or {}))  # fmt: skip
            return Written(path, adapter)
        except Exception as exc:  # noqa: BLE001 - any adapter failure falls back to .otio
            fallback = os.path.splitext(path)[0] + ".otio"
            message = (f"the {adapter} adapter cannot write this timeline ({exc}); wrote "
                       f"{fallback} instead")  # fmt: skip
            path, adapter = fallback, "otio_json"
    kwargs = {}
    if otio_version:
        kwargs["target_schema_versions"] = otio.versioning.fetch_map("OTIO_CORE", otio_version)
    with atomic_target(path, suffix=".otio") as tmp:
        otio.adapters.write_to_file(timeline, tmp, adapter_name="otio_json", **kwargs)
    return Written(path, adapter, message)
