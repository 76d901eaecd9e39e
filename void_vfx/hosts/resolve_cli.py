"""The terminal mode of the Resolve script: ``python "VOID Remove Object.py" --clip NAME ...``.

No UI: it reaches Resolve from outside (Studio, "External scripting using: Local"), runs one
removal and prints progress lines; the exit status is 0 when the plate is on the timeline.
Standard library and rpyc only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from void_vfx.errors import VoidVfxError
from void_vfx.hosts.resolve_app import get_resolve
from void_vfx.hosts.resolve_layback import MODES
from void_vfx.hosts.resolve_remove import RemoveRequest, RemoveSession


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="VOID Remove Object.py",
        description="Remove an object from a Resolve timeline clip with VOID and lay the "
        "cleaned plate back above it.",
    )
    p.add_argument("--clip", default="", help="timeline clip name (default: under the playhead)")
    p.add_argument("--matte", required=True, help="object matte sequence (plate.####.exr)")
    p.add_argument("--matte-channel", default="a", help="matte channel (default a)")
    p.add_argument("--affected", default="", help="optional affected-region matte sequence")
    p.add_argument("--affected-channel", default="a")
    p.add_argument("--prompt", default="", help="what the shot shows after the removal")
    p.add_argument("--render", action="store_true", help="render the clip to EXR and send that")
    p.add_argument("--mode", choices=MODES, default="new-track", help="where the result goes")
    p.add_argument("--out", default="", help="results folder (default ~/void-vfx/resolve/<proj>)")
    p.add_argument("--host", default="127.0.0.1", help="server address")
    p.add_argument("--port", type=int, default=0, help="server port (default: the standard one)")
    p.add_argument("--token", default="", help="server token (default: the token file)")
    p.add_argument("--engine", choices=("void", "preview"), default="void")
    p.add_argument("--files", choices=("auto", "path", "stream"), default="auto")
    p.add_argument(
        "--handles",
        type=int,
        default=0,
        help="frames before and after the clip to send too, where the files and matte have them",
    )
    p.add_argument("--window-min", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument(
        "--no-detail", action="store_true", help="no fine detail from other frames on the fill"
    )
    p.add_argument("--no-grain", action="store_true", help="no plate grain on the fill")
    return p


def request_from(args: argparse.Namespace) -> RemoveRequest:
    return RemoveRequest(
        matte=args.matte,
        prompt=args.prompt,
        matte_channel=args.matte_channel,
        affected=args.affected,
        affected_channel=args.affected_channel,
        clip=args.clip,
        render=args.render,
        mode=args.mode,
        out_dir=args.out,
        host=args.host,
        port=args.port,
        token=args.token,
        engine=args.engine,
        files_mode=args.files,
        window_min=args.window_min,
        handles=max(args.handles, 0),
        detail=not args.no_detail,
        grain=not args.no_grain,
    )


def main(argv: list[str] | None = None, namespace: dict | None = None) -> int:
    """Run one removal; ``namespace`` is the calling script's globals (it may hold ``resolve``)."""
    args = build_parser().parse_args(argv)
    last = {"line": ""}

    def show(stage: str, fraction: float, message: str) -> None:
        line = f"[{stage} {fraction * 100:3.0f}%] {message}"
        if line != last["line"]:
            print(line, file=sys.stderr, flush=True)
            last["line"] = line

    try:
        resolve: Any = get_resolve(namespace)
        placed = RemoveSession(resolve, request_from(args), show).run()
    except VoidVfxError as exc:
        print(f"VOID Remove Object: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("VOID Remove Object: interrupted", file=sys.stderr)
        return 130
    where = "new take" if placed.track == 0 else f"V{placed.track}"
    print(f"{placed.file_path} -> {where} at record frame {placed.record_frame}")
    return 0
