"""Where a clip's pixels are: its media reference made into a frame pattern or a movie, and the
clock from media time to file frames.

``ImageSequenceReference`` gives both (a rate of 1.0 or 0 is ignored, zero padding 0 means
unpadded). ``ExternalReference`` to one frame or a pattern is scanned on disk; with no available
range its first frame's timecode header places it, else frames numbered by timecode are used as
they are. A movie's frames are numbered from 1 once decoded. A clip whose reference names no file
(EDLs without ``FROM CLIP``) is looked up by clip name in the ``--search`` folders, or named by
metadata ``void_vfx.plate``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction

from void_vfx.conform.clock import MediaClock, frames_at, timecode_from_smpte, whole
from void_vfx.conform.locate import PathMap, find_existing_folder
from void_vfx.conform.rates import usable_rate
from void_vfx.errors import SequenceError
from void_vfx.media.sequences import find_sequence

#: Movie containers PyAV (FFmpeg) decodes; Avid and Premiere edits also link Windows Media,
#: MPEG program/transport streams, DV and Flash video.
MOVIE_EXTENSIONS = (
    ".mov",
    ".mp4",
    ".m4v",
    ".mxf",
    ".avi",
    ".mkv",
    ".webm",
    ".mts",
    ".m2ts",
    ".ts",
    ".wmv",
    ".asf",
    ".mpg",
    ".mpeg",
    ".m2v",
    ".vob",
    ".dv",
    ".flv",
    ".3gp",
    ".ogv",
)
IMAGE_EXTENSIONS = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".cin", ".sxr")


@dataclass
class Source:
    """A clip's media: a frame pattern (or a movie to decode) and its clock."""

    kind: str  # "sequence" or "movie"
    path: str
    clock: MediaClock
    notes: list[str] = field(default_factory=list)


def _range_frames(rng, rate: Fraction) -> tuple[int, int] | None:
    if rng is None:
        return None
    a, _ = whole(frames_at(rng.start_time.value, rng.start_time.rate, rate), up=False)
    n, _ = whole(frames_at(rng.duration.value, rng.duration.rate, rate), up=True)
    return (a, a + n - 1) if n > 0 else None


def _sequence_ref(ref, clip_rate: float, paths: PathMap) -> Source:
    notes = []
    if ref.frame_step not in (0, 1):
        raise SequenceError(
            f"image sequence {ref.name_prefix}#{ref.name_suffix} has frame_step {ref.frame_step}; "
            "only every-frame sequences are supported: render or link every frame"
        )
    avail = ref.available_range
    rate = usable_rate(ref.rate, avail.start_time.rate if avail else None, clip_rate)
    if rate is None:
        raise SequenceError(f"image sequence {ref.name_prefix}#: no usable frame rate")
    if ref.rate and ref.rate <= 1.0:
        notes.append(f"sequence rate {ref.rate} ignored; using {float(rate):g} fps")
    pad = "#" * ref.frame_zero_padding if ref.frame_zero_padding > 0 else "#"
    base = paths.apply(ref.target_url_base or ".")
    pattern = os.path.join(base, f"{ref.name_prefix}{pad}{ref.name_suffix}")
    pattern, note = find_existing_folder(pattern)
    notes += [note] if note else []
    available = _range_frames(avail, rate)
    if available is None:
        start = ref.start_frame
        notes.append("no available range: media time taken as the file frame numbers")
        clock = MediaClock(rate, start, start, None, "file frame numbers")
    else:
        clock = MediaClock(rate, available[0], ref.start_frame, available, "available range")
    return Source("sequence", pattern, clock, notes)


def _header_timecode(path: str, rate: Fraction) -> int | None:
    from void_vfx.media.image_io import read_header

    try:
        attrs = read_header(path).attributes
    except Exception:  # noqa: BLE001 - an unreadable header is the same as no timecode
        return None
    value = attrs.get("smpte:TimeCode")
    if isinstance(value, tuple | list) and value:
        return timecode_from_smpte(int(value[0]), rate)
    return None


def sequence_from_file(path: str, avail, rate: Fraction, want: tuple[int, ...] | None) -> Source:
    """A frame file or pattern on disk and how media time maps onto its numbers.

    ``want``: (first, last) media frames the clip shows, optionally followed by its cut's
    (first, last) without transition frames."""

    pattern, note = find_existing_folder(path)
    notes = [note] if note else []
    seq = find_sequence(pattern)
    scan = seq.scan()
    if not scan.frames:
        raise SequenceError(f"{seq.format()}: no frames on disk (from {path})")
    pattern = seq.format("hash") if not seq.is_still else pattern
    first = scan.frames[0]
    available = _range_frames(avail, rate)
    if available is not None:
        clock = MediaClock(rate, available[0], first, available, "available range")
        return Source("sequence", pattern, clock, notes)
    tc = _header_timecode(scan.files[first], rate)
    if tc is not None:
        span = (tc, tc + scan.frames[-1] - first)
        clock = MediaClock(rate, tc, first, span, f"timecode header of frame {first}")
        return Source("sequence", pattern, clock, notes)
    span = (scan.frames[0], scan.frames[-1])
    if want is None or (span[0] <= want[0] and want[1] <= span[1]):
        clock = MediaClock(rate, first, first, span, "files numbered by timecode")
        return Source("sequence", pattern, clock, notes)
    if len(want) == 4 and span[0] <= want[2] and want[3] <= span[1]:
        raise SequenceError(transition_message(*want, span, pattern))
    raise SequenceError(
        f"{pattern}: cannot place source frames {want[0]}-{want[1]} in files "
        f"{scan.frames[0]}-{scan.frames[-1]}: the files carry no timecode header and the edit "
        "gives no available range; write the timecode into the headers, number the files by "
        "timecode, or name the plate with metadata void_vfx.plate"
    )


def transition_message(a: int, b: int, ca: int, cb: int, avail, path: str) -> str:
    """A transition that needs media the file does not have, said as such."""
    parts = []
    if a < avail[0]:
        parts.append(
            f"the transition at its head needs source frames {a}-{ca - 1}, "
            f"{avail[0] - a} before the media's first frame {avail[0]}"
        )
    if b > avail[1]:
        parts.append(
            f"the transition at its tail needs source frames {cb + 1}-{b}, "
            f"{b - avail[1]} after the media's last frame {avail[1]}"
        )
    return (
        f"{' and '.join(parts)} ({path}; its cut {ca}-{cb} is there): shorten or move the "
        "transition in the edit, or relink the clip to longer media"
    )


def _search(name: str, dirs: list[str]) -> str | None:
    """A sequence or movie named like the clip in one of ``dirs`` (or a sub-folder of that name)."""

    stems = [name.strip()]
    first_word = name.strip().split(" ")[0]
    if first_word and first_word not in stems:
        stems.append(first_word)
    for folder in dirs:
        for stem in stems:
            for where in (folder, os.path.join(folder, stem)):
                direct = os.path.join(where, stem)
                named = find_sequence(direct)
                if not named.is_still and direct.lower().endswith(IMAGE_EXTENSIONS):
                    if named.scan().frames:  # a frame file's name: any frame of its sequence
                        return named.format("hash")
                if os.path.isfile(direct) and direct.lower().endswith(IMAGE_EXTENSIONS):
                    seq = find_sequence(direct)
                    return seq.format("hash") if not seq.is_still else direct
                if os.path.isfile(direct) and direct.lower().endswith(MOVIE_EXTENSIONS):
                    return direct
                try:
                    names = sorted(os.listdir(where))
                except OSError:
                    continue
                frame = re.compile(re.escape(stem) + r"([._-])(\d+)(\.[A-Za-z0-9]+)$")
                for entry in names:
                    m = frame.match(entry)
                    if m and m.group(3).lower() in IMAGE_EXTENSIONS:
                        pad = "#" * len(m.group(2))
                        return os.path.join(where, f"{stem}{m.group(1)}{pad}{m.group(3)}")
                for ext in MOVIE_EXTENSIONS:
                    for entry in names:
                        if entry.lower() == (stem + ext).lower():
                            return os.path.join(where, entry)
    return None


def source_for(clip, meta: dict, paths: PathMap, search: list[str], want_media) -> Source:
    """The clip's Source; SequenceError (or FileNotFoundError) saying what was looked for."""
    import opentimelineio as otio

    ref = clip.media_reference
    clip_rate = clip.trimmed_range().duration.rate
    plate = meta.get("plate")
    if isinstance(ref, otio.schema.ImageSequenceReference) and not plate:
        return _sequence_ref(ref, clip_rate, paths)
    avail = getattr(ref, "available_range", None)
    if isinstance(plate, str) and plate.strip():
        path = paths.apply(plate.strip())
    elif isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
        path = paths.apply(ref.target_url)
    else:
        kind = type(ref).__name__
        found = _search(clip.name or "", search) if search else None
        if found is None:
            where = f" in {', '.join(search)}" if search else ""
            raise SequenceError(
                f"the clip's media reference is a {kind} (no file named) and no media named "
                f"{clip.name!r} was found{where}; add --search FOLDER or metadata void_vfx.plate"
            )
        path, avail = found, None
    rate = usable_rate(avail.start_time.rate if avail else None, clip_rate)
    if path.lower().endswith(MOVIE_EXTENSIONS):
        if not os.path.isfile(path):
            raise SequenceError(f"movie {path} not found; check the path or add --map FROM=TO")
        media = _range_frames(avail, rate)
        start = media[0] if media else 0
        clock = MediaClock(rate, start, 1, media, "movie frames numbered from 1")
        return Source("movie", path, clock, [])
    want = None
    if want_media is not None:
        want = want_media(rate)
    return sequence_from_file(path, avail, rate, want)
