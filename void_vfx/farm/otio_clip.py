"""An OTIO clip of a finished output, so an editor or a conform picks the version up as a shot.

One timeline, one video track, one clip whose media is the output's image sequence
(``ImageSequenceReference``: folder, ``<stem>.`` prefix, padding, the plate's first frame and
rate). Written beside the frames, inside the version folder.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from void_vfx.atomic import atomic_target


def write_clip(out: Any, shot: Any, paths: list[str]) -> str:
    """Write ``<version folder>/<stem>.otio`` for the frames ``paths``; return its path."""
    import opentimelineio as otio

    rate = float(Fraction(shot.fps))
    first, count = shot.frames[0], len(paths)
    padding = max(4, shot.plate.padding)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(count, rate)
    )
    ref = otio.schema.ImageSequenceReference(
        target_url_base=out.folder + os.sep,
        name_prefix=f"{out.stem}.",
        name_suffix=".exr",
        start_frame=first,
        frame_step=1,
        rate=rate,
        frame_zero_padding=padding,
        available_range=available,
    )
    clip = otio.schema.Clip(name=out.stem, media_reference=ref, source_range=available)
    clip.metadata["void_vfx"] = {"plate": shot.spec.plate, "version": out.version}
    track = otio.schema.Track(name="VOID", kind=otio.schema.TrackKind.Video)
    track.append(clip)
    timeline = otio.schema.Timeline(name=out.stem)
    timeline.tracks.append(track)
    path = os.path.join(out.folder, f"{out.stem}.otio")
    with atomic_target(path) as tmp:
        otio.adapters.write_to_file(timeline, tmp, adapter_name="otio_json")
    return path
