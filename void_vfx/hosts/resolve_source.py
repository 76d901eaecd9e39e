"""What part of which files a Resolve timeline item shows, and whether the files carry it as is.

Facts relied on (Blackmagic's scripting README for 20.x, and AYON's Resolve host): a timeline
item's ``GetStart()``/``GetEnd()`` are record frames with the end exclusive; ``GetLeftOffset()`` is
how many media frames precede the item's first frame; an image sequence's "File Path" clip
property reads ``name.[1001-1100].exr``, the first number being the first file frame. Standard
library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from void_vfx.framerate import NTSC_RATES, exact_rate, fps_text
from void_vfx.hosts.resolve_app import ResolveError, call, has_call
from void_vfx.media.colour_names import (
    RESOLVE_ACES,
    RESOLVE_CONFIG,
    RESOLVE_UNMANAGED,
    ColourNameError,
    resolve_space,
)
from void_vfx.media.sequences import Sequence

SEQUENCE_EXTENSIONS = (".exr", ".dpx")
_BRACKET = re.compile(r"\[(-?\d+)-(-?\d+)\]")
#: Transform properties (``TimelineItem.GetProperty``) and their identity values.
TRANSFORM_IDENTITY = {
    "Pan": 0.0,
    "Tilt": 0.0,
    "ZoomX": 1.0,
    "ZoomY": 1.0,
    "RotationAngle": 0.0,
    "Pitch": 0.0,
    "Yaw": 0.0,
    "FlipX": False,
    "FlipY": False,
    "CropLeft": 0.0,
    "CropRight": 0.0,
    "CropTop": 0.0,
    "CropBottom": 0.0,
}
RENDER_OFFER = (
    "send it through the render path instead (tick 'Render the clip to EXR' in the dialog, or "
    "add --render in the terminal): Resolve renders the clip as it plays to EXR and that is sent"
)


def parse_fps(text: Any) -> Fraction:
    """``"23.976"`` -> 24000/1001, ``"25"`` -> 25, ``29.97`` -> 30000/1001.

    A drop-frame rate reads ``"29.97 DF"`` (Blackmagic's scripting README, 18.0-21: "Drop Frame
    can be configured ... by appending the frame rate with "DF""): drop frame is a timecode
    labelling, the frames run at the same rate.
    """
    raw = str(text).strip()
    if raw.upper().endswith("DF"):
        raw = raw[:-2].strip()
    try:
        rate = exact_rate(raw)
    except (ValueError, ZeroDivisionError):
        raise ResolveError(
            f"frame rate {raw!r} is not a number; check the project's settings"
        ) from None
    for ntsc in NTSC_RATES:
        if abs(float(rate) - float(ntsc)) < 0.001:
            return ntsc
    if rate <= 0:
        raise ResolveError(f"frame rate {raw!r} must be positive")
    return rate


@dataclass(frozen=True)
class SourceRange:
    """One timeline item: where it sits (record frames) and which file frames it shows."""

    name: str
    track: int
    record_start: int
    record_end: int  # exclusive, as Resolve's GetEnd()
    left_offset: int
    file_path: str  # as Resolve prints it: name.[1001-1100].exr, or a movie path
    media_first: int  # first file frame of the media (0 for a movie)
    media_last: int
    fps: Fraction

    @property
    def duration(self) -> int:
        return self.record_end - self.record_start

    @property
    def source_first(self) -> int:
        return self.media_first + self.left_offset

    @property
    def source_last(self) -> int:
        return self.source_first + self.duration - 1

    @property
    def is_sequence(self) -> bool:
        return bool(_BRACKET.search(self.file_path)) and self.file_path.lower().endswith(
            SEQUENCE_EXTENSIONS
        )

    @property
    def pattern(self) -> str:
        """The sequence as a ``####`` pattern with the bracket's padding, for the job spec."""
        return Sequence.parse(self.file_path).format("hash") if self.is_sequence else self.file_path


def read_source(item: Any, timeline: Any, track: int) -> SourceRange:
    """Read the item's record range, offset, media path and rate."""
    name = item.GetName()
    start = call(item, "GetStart", fix="the clip is not on the timeline any more; reselect it")
    end = call(item, "GetEnd", fix="the clip is not on the timeline any more; reselect it")
    left = item.GetLeftOffset()
    if left is None:
        raise ResolveError(f"clip {name!r}: Resolve gave no left offset; reselect the clip")
    media = item.GetMediaPoolItem()
    # A title or generator (no media) or a compound, multicam or nested timeline (no file of its
    # own) has no files to send: file_path stays "" and the clip goes through the render path.
    props = {}
    if media is not None:
        props = call(media, "GetClipProperty", fix=f"clip {name!r}: its media pool item is offline")
    path = props.get("File Path") or ""
    m = _BRACKET.search(path)
    if m:
        first, last = int(m.group(1)), int(m.group(2))
    else:  # a movie (media frames count from 0), or no file: the record range from the offset
        frames = int(props.get("Frames") or 0) if path else int(left) + int(end) - int(start)
        first, last = 0, max(frames - 1, 0)
    fps = parse_fps(props.get("FPS") or timeline.GetSetting("timelineFrameRate"))
    src = SourceRange(name, track, int(start), int(end), int(left), path, first, last, fps)
    if src.duration <= 0:
        raise ResolveError(f"clip {name!r} is {src.duration} frames long; choose a longer clip")
    return src


def refusal(item: Any, src: SourceRange, timeline_fps: Fraction) -> str:
    """Why the files on disk do not show what the timeline shows ('' when they do).

    A speed change shows as a source span that differs from the record duration; a transform
    as a non-identity Inspector value; Fusion effects as a comp on the item.
    """
    problems = []
    retime = retimed(item, src)
    if retime:
        problems.append(retime)
    if src.fps != timeline_fps:
        problems.append(
            f"its media runs at {fps_text(src.fps)} fps on a {fps_text(timeline_fps)} fps timeline"
        )
    props = item.GetProperty() or {}
    moved = [
        f"{key} {props[key]}"
        for key, identity in TRANSFORM_IDENTITY.items()
        if key in props and _differs(props[key], identity)
    ]
    if moved:
        problems.append("a transform (" + ", ".join(moved) + ")")
    if int(item.GetFusionCompCount() or 0) > 0:
        problems.append("a Fusion composition")
    if src.source_first < src.media_first or src.source_last > src.media_last:
        problems.append(
            f"frames {src.source_first}-{src.source_last} outside the media's "
            f"{src.media_first}-{src.media_last}"
        )
    if not problems:
        return ""
    return (
        f"clip {src.name!r} (track V{src.track}, record {src.record_start}-"
        f"{src.record_end - 1}) has " + "; ".join(problems) + ", which the files on disk do not "
        "carry; " + RENDER_OFFER
    )


def retimed(item: Any, src: SourceRange) -> str:
    """'' when the item plays its media at 100%, else what it plays (for the refusal).

    Two readings, each exact. ``GetSourceEndFrame`` (19.0.2 on; feature-tested) minus
    ``GetSourceStartFrame`` is the source span: samuelgursky/davinci-resolve-mcp measured the end
    EXCLUSIVE on 19.1.3.7 at equal rates (span == duration), the README is silent. A span one
    short is a 100% clip only if the inclusive reading holds, which the offsets decide: they read
    the warped domain (same source), so left + duration + right is the media's length at 100%
    and differs from it under any retime.
    """
    media_frames = src.media_last - src.media_first + 1
    right = item.GetRightOffset() if has_call(item, "GetRightOffset") else None
    whole = right is not None and src.left_offset + src.duration + int(right) == media_frames
    span = None
    if has_call(item, "GetSourceStartFrame") and has_call(item, "GetSourceEndFrame"):
        s0, s1 = item.GetSourceStartFrame(), item.GetSourceEndFrame()
        # 0/0 (read on timelines imported from FCP7 XML) means unknown, not "no retime"
        # (davinci-resolve-mcp api-limitations.md, retime entry): the offsets decide then.
        if s0 is not None and s1 is not None and (int(s0), int(s1)) != (0, 0):
            span = int(s1) - int(s0)
    if span is None:
        if right is None or whole:
            return ""
        return (
            f"a speed change or retime (left offset {src.left_offset} + {src.duration} frames + "
            f"right offset {right} is not the media's {media_frames} frames)"
        )
    if span == src.duration or (span == src.duration - 1 and whole):
        return ""
    return f"a speed change or retime ({span} source frames play over {src.duration})"


def _differs(value: Any, identity: Any) -> bool:
    if isinstance(identity, bool):
        return bool(value) != identity
    try:
        return abs(float(value) - float(identity)) > 1e-6
    except (TypeError, ValueError):
        return False


def read_colour(
    project: Any, item: Any, rendered: bool, sequence: bool = True
) -> tuple[str, str, str]:
    """(OCIO config, colour space, what Resolve said) of the plate the job gets, before any
    render or upload; a space with no exact equivalent is refused (ResolveError) here.

    Files sent as they are hold what the clip's Input Color Space says ("Project": the
    project's); a render holds the project's output space under colour management. Unmanaged,
    Resolve changes no values: a render of an image sequence holds the files' own values (the
    render's header decides on the server), one of a movie holds video in the timeline's
    space. ACES projects: the files' own headers decide on the server (the clip's ACES input
    transform is not read); their renders are display-referred through the output transform:
    refused."""

    def setting(key: str) -> str:
        return str(project.GetSetting(key) or "").strip()

    science = setting("colorScienceMode") or RESOLVE_UNMANAGED
    separate = setting("separateColorSpaceAndGamma") == "1"
    said = f"colour science {science}"
    if science in RESOLVE_ACES:
        if rendered:
            raise ResolveError(
                f"an ACES project ({science}) renders through its output transform, which no "
                "colour space undoes exactly; send the clip's source files (without the render)"
            )
        return "", "", said + ": the files' own headers decide"
    if science == RESOLVE_UNMANAGED and (sequence or not rendered):
        return "", "", said + ": no colour transform, the files' own headers decide"
    if rendered:
        stage = "Timeline" if science == RESOLVE_UNMANAGED else "Output"
        space = setting(f"colorSpace{stage}")
        if space in ("", "Same as Timeline"):
            stage, space = "Timeline", setting("colorSpaceTimeline")
        gamma = setting(f"colorSpace{stage}Gamma") if separate else ""
        said += f", the render's {stage.lower()} colour space {space!r}"
    else:
        media = item.GetMediaPoolItem()
        space = str(media.GetClipProperty("Input Color Space") or "").strip()
        gamma = str(media.GetClipProperty("Input Gamma") or "").strip() if separate else ""
        if space in ("", "Project"):
            space = setting("colorSpaceInput")
            gamma = setting("colorSpaceInputGamma") if separate else ""
        said += f", the clip's Input Color Space {space!r}"
    if gamma:
        said += f" gamma {gamma!r}"
    try:
        return RESOLVE_CONFIG, resolve_space(space, gamma if separate else ""), said
    except ColourNameError as exc:
        raise ResolveError(f"clip {item.GetName()!r}: {exc}") from None
