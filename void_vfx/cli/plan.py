"""``void-vfx plan``: print how a shot is cut into temporal windows, or the plan as JSON."""

from __future__ import annotations

import argparse

from void_vfx.errors import PlanError, SpecError
from void_vfx.model_facts import DEFAULT_MIN_WINDOW, MAX_FRAMES
from void_vfx.render.windows import DEFAULT_OVERLAP, plan_windows


def parse_range(text: str) -> tuple[int, int]:
    """``1001-1100`` -> (1001, 1100); negative frames work: ``-5--1`` -> (-5, -1)."""
    body = text.strip()
    sep = body.find("-", 1)
    try:
        if sep < 0:
            a = b = int(body)
        else:
            a, b = int(body[:sep]), int(body[sep + 1 :])
    except ValueError as exc:
        raise SpecError("range", f"{text!r} is not a frame range like 1001-1100") from exc
    if b < a:
        raise SpecError("range", f"{text!r}: the last frame comes before the first")
    return a, b


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "plate", nargs="?", help="frame pattern (plate.####.exr); its frames on disk give the range"
    )
    parser.add_argument(
        "--range", help="frame range A-B: part of the plate, or alone a plan of those frames"
    )
    parser.add_argument(
        "--fps", default=None, help="frame rate to record in the plan (default: the plate's)"
    )
    parser.add_argument("--min-length", type=int, default=DEFAULT_MIN_WINDOW)
    parser.add_argument("--max-length", type=int, default=MAX_FRAMES)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def _plate_frames(plate: str, wanted: tuple[int, int] | None) -> tuple[int, int, str | None]:
    """(first, last, fps from the header or None) of the plate's frames, or of ``wanted``
    inside them; PlanError when ``wanted`` asks for frames the plate does not hold."""
    from void_vfx.media.image_io import read_header
    from void_vfx.media.sequences import find_sequence

    # find_sequence: a pattern, or one frame file of the sequence (plate.1001.exr).
    seq = find_sequence(plate)
    on_disk = seq.frames()
    first, last = on_disk[0], on_disk[-1]
    if wanted is not None:
        a, b = wanted
        if a < first or b > last:
            raise PlanError(
                f"{seq.format()}: --range {a}-{b} asks for {b - a + 1} frames but the plate holds "
                f"{len(on_disk)} ({first}-{last}); give a range inside {first}-{last}, or leave "
                "--range out to plan the whole plate"
            )
        first, last = a, b
    fps = read_header(seq.path(first), frame=first).attributes.get("FramesPerSecond")
    rate = None
    if isinstance(fps, list | tuple) and len(fps) == 2 and fps[0] > 0 and fps[1] > 0:
        num, den = int(fps[0]), int(fps[1])
        rate = str(num // den) if num % den == 0 else f"{num}/{den}"
    return first, last, rate


def run_plan(args: argparse.Namespace) -> int:
    wanted = parse_range(args.range) if args.range else None
    fps = args.fps
    if args.plate:
        # A plate given: plan on its frames (a --range must lie inside them), at its frame rate.
        first, last, header_fps = _plate_frames(args.plate, wanted)
        fps = fps or header_fps
    elif wanted is not None:
        first, last = wanted  # --range alone: a pure plan, nothing is read
    else:
        raise SpecError("plate", "give a plate pattern or --range A-B")
    plan = plan_windows(
        first,
        last,
        min_length=args.min_length,
        max_length=args.max_length,
        overlap=args.overlap,
        fps=fps,
    )
    print(plan.to_json() if args.json else plan.describe())
    return 0
