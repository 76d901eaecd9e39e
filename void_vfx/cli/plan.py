"""``void-vfx plan``: print how a shot is cut into temporal windows, or the plan as JSON."""

from __future__ import annotations

import argparse

from void_vfx.errors import SpecError
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
    parser.add_argument("--range", help="frame range A-B (instead of scanning the plate)")
    parser.add_argument("--fps", default=None, help="frame rate to record in the plan")
    parser.add_argument("--min-length", type=int, default=DEFAULT_MIN_WINDOW)
    parser.add_argument("--max-length", type=int, default=MAX_FRAMES)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def run_plan(args: argparse.Namespace) -> int:
    if args.range:
        first, last = parse_range(args.range)
    elif args.plate:
        from void_vfx.media.sequences import find_sequence

        # find_sequence: a pattern, or one frame file of the sequence (plate.1001.exr).
        frames = find_sequence(args.plate).frames()
        first, last = frames[0], frames[-1]
    else:
        raise SpecError("plate", "give a plate pattern or --range A-B")
    plan = plan_windows(
        first,
        last,
        min_length=args.min_length,
        max_length=args.max_length,
        overlap=args.overlap,
        fps=args.fps,
    )
    print(plan.to_json() if args.json else plan.describe())
    return 0
