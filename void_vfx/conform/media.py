"""A marked clip made into what a job needs: plate pattern, file frames with handles, rate,
mattes and colour space, or a :class:`ShotError` saying what is wrong with that clip.

The frames processed are the clip's visible source range (its trimmed range widened by any
transitions), plus ``handles`` each side where the media has them. Clips with speed effects are
refused: VOID processes source frames one to one, and a retimed result would not line up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

from void_vfx.conform.clock import MediaClock, frames_at, whole
from void_vfx.conform.locate import PathMap
from void_vfx.conform.mattes import find_mattes, safe_name
from void_vfx.conform.movies import movie_colourspace
from void_vfx.conform.problems import ShotError
from void_vfx.conform.shots import MarkedShot
from void_vfx.conform.sources import Source, source_for, transition_message
from void_vfx.errors import VoidVfxError
from void_vfx.media.colour_rules import check_plate_colour
from void_vfx.media.sequences import find_sequence

_RETIME_WORDS = ("retime", "speed", "timewarp", "time warp", "time remap", "freeze")


@dataclass
class ResolvedShot:
    """Everything a job needs for one shot, in file frame numbers of ``plate``."""

    shot: MarkedShot
    plate: str
    kind: str  # "sequence" or "movie" (decoded to ``plate`` before the job)
    movie: str
    first: int
    last: int
    cut_first: int
    cut_last: int
    handles: tuple[int, int]
    clock: MediaClock
    mattes: list = field(default_factory=list)
    colourspace: str = ""
    notes: list[str] = field(default_factory=list)
    #: Media frames added to the edit's source times (``--realign-source``), else 0.
    shift: int = 0

    @property
    def rate(self) -> Fraction:
        return self.clock.rate

    @property
    def frame_count(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Options:
    """How shots are resolved (from the command line)."""

    paths: PathMap = PathMap()
    search: tuple[str, ...] = ()
    handles: int = 0
    templates: dict | None = None
    decode_dir: str = ""
    realign: bool = False


def _retime_of(item) -> str:
    """What speed effect ``item`` carries ("" for none)."""
    import opentimelineio as otio

    for fx in item.effects:
        name = (fx.effect_name or fx.name or type(fx).__name__).strip()
        if isinstance(fx, otio.schema.FreezeFrame):
            return "a freeze frame"
        if isinstance(fx, otio.schema.LinearTimeWarp):
            if abs(fx.time_scalar - 1.0) < 1e-9:
                continue
            return f"a speed change ({fx.time_scalar * 100:.1f}%)"
        if isinstance(fx, otio.schema.TimeEffect) or any(w in name.lower() for w in _RETIME_WORDS):
            return f"a time effect ({name})"
    return ""


def check_retime(clip) -> None:
    """Refuse speed effects (LinearTimeWarp != 1, FreezeFrame, NLE retime effects) on the clip
    or on any composition that holds it (a nested stack retimed as a whole)."""
    node, holder = clip, ""
    while node is not None:
        what = _retime_of(node)
        if what:
            where = f" (on {holder})" if holder else ""
            raise ShotError(
                clip.name or "clip",
                f"has {what}{where}: VOID processes source frames one to one, so a "
                "retimed clip is refused; render the retime to new media and conform that, or "
                "remove the effect",
            )
        node = node.parent()
        if node is not None:
            holder = f"the {type(node).__name__.lower()} {node.name or '(unnamed)'!r} that holds it"


def _span(rng, rate: Fraction) -> tuple[float, float]:
    start = frames_at(rng.start_time.value, rng.start_time.rate, rate)
    end = frames_at(rng.end_time_exclusive().value, rng.start_time.rate, rate)
    return start, end


def visible_media_frames(clip, rate: Fraction, window=None) -> tuple[int, int, list[str], int, int]:
    """(first, last, notes, cut first, cut last) media frames at the media rate: first-last is
    what the clip shows, transitions included; the cut is its own range (``window``: the part
    its enclosing compositions show, default its trimmed range), without transition frames."""
    trimmed = clip.trimmed_range()
    window = window or trimmed
    try:
        rng = clip.visible_range() if clip.parent() is not None else trimmed
    except Exception:  # noqa: BLE001 - OTIO cannot widen by the transitions: use the cut
        rng = trimmed
    start, end = _span(rng, rate)
    cut_start, cut_end = _span(window, rate)
    if window.start_time > trimmed.start_time:  # cut by an enclosing trim: no head transition
        start = cut_start
    if window.end_time_exclusive() < trimmed.end_time_exclusive():
        end = cut_end
    a, exact_a = whole(start, up=False)
    b, exact_b = whole(end, up=True)
    ca, _ = whole(cut_start, up=False)
    cb, _ = whole(cut_end, up=True)
    notes = []
    if not (exact_a and exact_b):
        notes.append(
            f"source range {start:.3f}-{end:.3f} is not on whole frames at {float(rate):g} fps; "
            f"processing frames {a}-{b - 1}, which cover it"
        )
    if b <= a or cb <= ca:
        raise ShotError(clip.name or "clip", "has an empty source range")
    return a, b - 1, notes, ca, cb - 1


def _by_seconds(window, clip_rate: float, rate: Fraction) -> int | None:
    """The first media frame of ``window`` converted through seconds, where clip and media
    rates differ only by the NTSC factor (source timecode of 23.976 fps media counted at 24,
    as Hiero and Resolve exports hold it: ayon-core's editorial tests place source 883159 at
    23.976 on media 883750+ at 24 fps at media frame 884043)."""
    ratio = float(rate) / clip_rate if clip_rate > 0 else 1.0
    if abs(ratio - 1.0) < 1e-9 or abs(ratio - 1.0) > 0.002:
        return None
    return whole(window.start_time.value * ratio, up=False)[0]


def resolve(shot: MarkedShot, options: Options) -> ResolvedShot:
    """The ResolvedShot for ``shot``; ShotError naming the clip and the problem."""
    clip = shot.clip
    name = shot.name
    try:
        if shot.record is None:
            raise ShotError(
                name,
                f"OpenTimelineIO cannot place the clip in record time "
                f"({shot.where}); check its track's and parents' ranges",
            )
        check_retime(clip)
        clip_rate = clip.trimmed_range().duration.rate
        window = shot.window or clip.trimmed_range()

        def wanted(rate: Fraction) -> tuple[int, int, int, int]:
            a, b, _notes, ca, cb = visible_media_frames(clip, rate, window)
            return a, b, ca, cb

        src: Source = source_for(clip, shot.meta, options.paths, list(options.search), wanted)
        clock = src.clock
        a, b, notes, ca, cb = visible_media_frames(clip, clock.rate, window)
        notes = src.notes + notes
        if abs(frames_at(1.0, clip_rate, clock.rate) - 1.0) > 1e-9:
            notes.append(
                f"clip rate {clip_rate:g} differs from media rate "
                f"{float(clock.rate):g}: times converted through seconds"
            )
        avail = clock.available
        shift = 0
        if avail is not None and (cb < avail[0] or ca > avail[1]):
            by_time = _by_seconds(window, clip_rate, clock.rate)
            if by_time is not None and avail[0] <= by_time and by_time + cb - ca <= avail[1]:
                shift = by_time - ca
                notes.append(
                    f"source {ca}-{cb} at {clip_rate:g} fps placed by time on the "
                    f"{float(clock.rate):g} fps media: frames {ca + shift}-{cb + shift}"
                )
            elif not options.realign or (cb - ca) > (avail[1] - avail[0]):
                raise ShotError(
                    name,
                    f"source frames {ca}-{cb} lie outside the media's available frames "
                    f"{avail[0]}-{avail[1]} ({src.path}, {clock.how}); fix the edit's media "
                    "timecode, or pass --realign-source to read the clip from the media's "
                    "first frame",
                )
            else:
                shift = avail[0] - ca
                notes.append(
                    f"source frames {ca}-{cb} realigned to the media's {avail[0]}-{cb + shift}"
                )
            a, b, ca, cb = a + shift, b + shift, ca + shift, cb + shift
        if avail is not None and (ca < avail[0] or cb > avail[1]):
            raise ShotError(
                name,
                f"source frames {ca}-{cb} run past the media's available frames "
                f"{avail[0]}-{avail[1]} ({src.path}); trim the clip in the edit",
            )
        if avail is not None and (a < avail[0] or b > avail[1]):
            raise ShotError(name, transition_message(a, b, ca, cb, avail, src.path))
        lo, hi = avail if avail is not None else (a - options.handles, b + options.handles)
        head = min(options.handles, max(0, a - lo))
        tail = min(options.handles, max(0, hi - b))
        if head < options.handles or tail < options.handles:
            notes.append(f"handles {head}+{tail} of the {options.handles} asked (media ends)")
        first, last = clock.file_frame(a - head), clock.file_frame(b + tail)
        plate = src.path
        if src.kind == "movie":
            plate = os.path.join(
                options.decode_dir or ".",
                safe_name(name),
                f"{safe_name(os.path.splitext(os.path.basename(src.path))[0])}.####.exr",
            )
        else:
            _check_frames(plate, first, last)
            check_plate_colour(plate, first, str(shot.meta.get("colourspace") or ""))  # issue 20
        reel = str((clip.metadata.get("cmx_3600") or {}).get("reel", "")) if clip.metadata else ""
        matte_plate = src.path if src.kind == "sequence" else os.path.splitext(src.path)[0] + ".exr"
        mattes, looked = find_mattes(
            shot.meta, matte_plate, name, reel, options.paths, options.templates, first
        )
        if not mattes:
            raise ShotError(
                name,
                "no matte found: looked for " + ", ".join(looked) + "; add metadata "
                "void_vfx.matte, or render the matte there, or pass --matte-template",
            )
        for m in mattes:
            _check_frames(m.pattern, first, last)
    except ShotError:
        raise
    except (VoidVfxError, OSError) as exc:
        raise ShotError(name, str(exc)) from exc
    return ResolvedShot(
        shot=shot,
        plate=plate,
        kind=src.kind,
        movie=src.path if src.kind == "movie" else "",
        first=first,
        last=last,
        cut_first=clock.file_frame(ca),
        cut_last=clock.file_frame(cb),
        handles=(head, tail),
        clock=clock,
        mattes=mattes,
        notes=notes,
        shift=shift,
        colourspace=_movie_space(src.path, notes) if src.kind == "movie" else "",
    )


def _movie_space(movie: str, notes: list[str]) -> str:
    import av

    try:
        with av.open(movie) as container:
            space, why = movie_colourspace(container.streams.video[0])
    except Exception as exc:  # noqa: BLE001 - PyAV raises its own error types
        raise ShotError(os.path.basename(movie), f"{movie}: cannot read the movie: {exc}") from exc
    notes.append(f"movie decoded to EXR in colour space {space!r} ({why})")
    return space


def _check_frames(pattern: str, first: int, last: int) -> None:

    find_sequence(pattern).frames((first, last))
