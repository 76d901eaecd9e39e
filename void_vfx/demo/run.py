"""``void-vfx demo``: remove an object from a generated shot, end to end, on any machine.

The shot is made on the spot (see :mod:`void_vfx.demo.scene`): half-float, scene-linear EXR plates
of a ball bouncing across a tiled floor under a panning camera, its matte, its shadow's matte and
the clean background. The job goes through a real in-process server (token, RPyC, job queue,
windows, colour, paste-back, EXR writing) with VOID when a GPU and the weights are there and the
preview engine otherwise, then a contact sheet and a PSNR against the clean background show how
well it went. Use::

    from void_vfx.demo.run import demo
    report = demo("/tmp/void_demo", engine="auto", frames=48)
    print(report["psnr_mask_db"], report["contact_sheet"])
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.cli.gpu_probe import choose_engine
from void_vfx.demo.review import LINEAR_709, contact_sheet, psnr_in_mask, review_movie
from void_vfx.demo.scene import SceneParams, render_frame
from void_vfx.errors import ImageIOError, SpecError
from void_vfx.job.spec import JobSpec, MaskSettings, MatteSource, OutputSettings

__all__ = ["DemoShot", "make_demo_shot", "contact_sheet", "demo", "choose_engine", "main"]

FIRST_FRAME = 1001
PROMPT = "a tiled floor in front of a wall with windows, nobody there"
#: Rec.709 primaries and D65 white, so readers that look at chromaticities see linear Rec.709.
REC709_CHROMATICITIES = (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)


@dataclass
class DemoShot:
    """Where the generated sequences are (``####`` patterns) and what they hold."""

    folder: str
    plate: str
    primary: str
    affected: str
    clean: str
    first: int
    last: int
    fps: str
    width: int
    height: int
    colourspace: str = LINEAR_709

    @property
    def frames(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    def paths(self, which: str) -> list[str]:
        """Every frame's file of ``plate``, ``primary``, ``affected`` or ``clean``."""
        pattern = getattr(self, which)
        return [pattern.replace("####", f"{f:04d}") for f in self.frames]


def _write_exr(path: str, pixels: np.ndarray, channels: tuple[str, ...], fps: Fraction) -> None:
    """Half-float ZIP EXR with fps and chromaticities, via a temporary name in the folder."""
    import OpenImageIO as oiio

    arr = np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1], -1), np.float32)
    spec = oiio.ImageSpec(arr.shape[1], arr.shape[0], arr.shape[2], oiio.HALF)
    spec.channelnames = channels
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    spec.attribute("compression", "zip")
    spec.attribute("FramesPerSecond", oiio.TypeRational, (fps.numerator, fps.denominator))
    spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), REC709_CHROMATICITIES)
    spec.attribute("oiio:ColorSpace", LINEAR_709)
    out = oiio.ImageOutput.create("exr")
    with atomic_target(path, ".tmp.exr") as tmp:
        if out is None or not out.open(tmp, spec):
            raise ImageIOError(f"{path}: cannot open for writing: {oiio.geterror()}")
        if not out.write_image(arr) or not out.close():
            raise ImageIOError(f"{path}: write failed: {out.geterror()}; check disk space")


def make_demo_shot(
    folder: str | os.PathLike,
    frames: int = 48,
    size: tuple[int, int] = (960, 540),
    fps: str | int | float = 24,
    camera_pan: bool = True,
    seed: int = 7,
) -> DemoShot:
    """Write the demo sequences into ``folder`` (plate, primary, affected, clean), frames 1001+.

    ``size`` is (width, height). Deterministic for a given seed; takes about 0.4 s a frame at
    960x540 on one core.
    """

    width, height = int(size[0]), int(size[1])
    if frames < 1 or width < 16 or height < 16:
        raise SpecError("demo", f"need at least 1 frame of 16x16 pixels, got {frames} {size}")
    rate = Fraction(str(fps)).limit_denominator(1001)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shot = DemoShot(
        folder=str(folder),
        plate=str(folder / "demo_plate.####.exr"),
        primary=str(folder / "demo_primary.####.exr"),
        affected=str(folder / "demo_affected.####.exr"),
        clean=str(folder / "demo_clean.####.exr"),
        first=FIRST_FRAME,
        last=FIRST_FRAME + frames - 1,
        fps=str(rate),
        width=width,
        height=height,
    )
    params = SceneParams(width, height, frames, camera_pan, seed)
    for t, frame in enumerate(shot.frames):
        layers = render_frame(params, t)
        name = f"{frame:04d}"
        _write_exr(shot.plate.replace("####", name), layers["plate"], ("R", "G", "B"), rate)
        _write_exr(shot.clean.replace("####", name), layers["clean"], ("R", "G", "B"), rate)
        _write_exr(shot.primary.replace("####", name), layers["primary"], ("A",), rate)
        _write_exr(shot.affected.replace("####", name), layers["affected"], ("A",), rate)
    return shot


# -- the run ---------------------------------------------------------------------------------------


def build_spec(shot: DemoShot, engine: str, out_dir: str):
    """The job spec for the demo shot: mattes as the mask, output into ``out_dir``."""

    spec = JobSpec(
        plate=shot.plate,
        primary=MatteSource(shot.primary, "A"),
        affected=MatteSource(shot.affected, "A"),
        frame_range=(shot.first, shot.last),
        fps=shot.fps,
        colourspace=shot.colourspace,
        prompt=PROMPT,
        engine=engine,
        # The matte's soft edge (alpha < 0.5) must go too; the preview engine needs the shadow
        # marked on the first frame as well (VOID follows the reference and clears it).
        mask=MaskSettings(dilate=max(2, round(3 * shot.width / 960)), clear_first_frame=False),
        output=OutputSettings(dir=out_dir),
    )
    if engine == "void":
        spec.mask.clear_first_frame = True
    return spec.validate()


def _printer(quiet: bool, stream=None):
    """A progress callback for ``follow``: a line when a window starts and at each quarter of its
    denoising steps. A step count is shown only while steps are known (never ``step 0/0``) and
    each one once (the last step of a window is not repeated when the next one begins)."""
    last: dict[str, Any] = {"key": None, "live": None}

    def progress(status: dict, events: tuple) -> None:
        if quiet:
            return
        done, total = status.get("window") or 0, status.get("windows") or 0
        if not total:
            return  # the plan is not made yet
        state = status.get("state", "?")
        step, steps = status.get("step") or 0, status.get("steps") or 0
        # "window" counts finished windows: while running, the one in flight is done + 1.
        current = min(done + 1, total) if state == "running" else done
        if steps and 0 < step < steps:
            last["live"] = current  # a step of this window, not the last one's final count
        show = state == "running" and steps > 0 and step > 0 and last["live"] == current
        key = (state, current, total, (4 * step) // steps if show else -1)
        if key == last["key"]:
            return
        last["key"] = key
        text = f"  {state}: window {current}/{total}" + (f", step {step}/{steps}" if show else "")
        print(text, file=stream or sys.stderr)

    return progress


def demo(
    out_dir: str | os.PathLike,
    engine: str = "auto",
    frames: int = 48,
    *,
    size: tuple[int, int] = (960, 540),
    camera_pan: bool = True,
    movie: bool = True,
    data_dir: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Make the demo shot, remove the ball through an in-process server, measure, review.

    Returns plain values: engine and why, shot folder, result paths, contact sheet, movie (or
    None), PSNR in display sRGB inside the mattes for the result and for the untouched plate,
    and the seconds each stage took.
    """
    from void_vfx.client.local import run_local_job

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen, why = choose_engine(engine)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    say(f"void-vfx demo: engine {chosen} ({why})")
    t0 = time.time()
    shot = make_demo_shot(out / "shot", frames, size, camera_pan=camera_pan)
    t1 = time.time()
    say(f"  made {frames} frames {shot.width}x{shot.height} in {shot.folder} ({t1 - t0:.1f} s)")
    spec = build_spec(shot, chosen, str(out / "result"))
    # data_dir None: the in-process server keeps its job database in a throw-away folder.
    results = sorted(
        run_local_job(spec, data_dir=data_dir, engine=chosen, progress=_printer(quiet))
    )
    t2 = time.time()
    exrs = [p for p in results if p.lower().endswith(".exr")]
    if len(exrs) != frames:
        raise ImageIOError(
            f"demo: expected {frames} result frames, the server returned {len(exrs)}"
        )
    mattes = [shot.paths("primary"), shot.paths("affected")]
    psnr = psnr_in_mask(exrs, shot.paths("clean"), mattes)
    psnr_plate = psnr_in_mask(shot.paths("plate"), shot.paths("clean"), mattes)
    sheet = contact_sheet(
        shot.paths("plate"),
        exrs,
        str(out / "contact_sheet.png"),
        4,
        shot.paths("clean"),
        primary_paths=shot.paths("primary"),
        affected_paths=shot.paths("affected"),
    )
    mp4 = None
    if movie:
        try:
            mp4 = review_movie(
                shot.paths("plate"), exrs, str(out / "review.mp4"), float(Fraction(shot.fps))
            )
        except Exception as ex:  # noqa: BLE001 - the movie is a nicety; the sheet is the record
            say(f"  review movie skipped: {ex}")
    t3 = time.time()
    report = {
        "engine": chosen,
        "engine_reason": why,
        "frames": frames,
        "size": [shot.width, shot.height],
        "shot_dir": shot.folder,
        "result_dir": str(Path(exrs[0]).parent),
        "results": exrs,
        "contact_sheet": sheet,
        "movie": mp4,
        "psnr_mask_db": round(psnr, 2),
        "psnr_plate_mask_db": round(psnr_plate, 2),
        "seconds": {
            "shot": round(t1 - t0, 2),
            "job": round(t2 - t1, 2),
            "review": round(t3 - t2, 2),
        },
    }
    say(
        f"  {len(exrs)} EXRs in {report['result_dir']} ({t2 - t1:.1f} s); PSNR inside the mask "
        f"{psnr:.2f} dB vs clean background (plate itself: {psnr_plate:.2f} dB)"
    )
    say(f"  contact sheet: {sheet}" + (f"; movie: {mp4}" if mp4 else ""))
    return report


# -- command line --------------------------------------------------------------------------------


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", default="void_vfx_demo", help="folder for everything")
    parser.add_argument("--frames", type=int, default=48, help="shot length (default 48)")
    parser.add_argument(
        "--engine",
        choices=("auto", "preview", "void"),
        default="auto",
        help="auto: VOID when a GPU and the weights are found, else the CPU preview",
    )
    parser.add_argument("--size", default="960x540", help="WIDTHxHEIGHT (default 960x540)")
    parser.add_argument("--static", action="store_true", help="no camera pan")
    parser.add_argument("--no-movie", action="store_true", help="skip the review movie")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpecError("--size", f"{text!r} is not WIDTHxHEIGHT, e.g. 960x540") from None
    return w, h


def run_demo(args: argparse.Namespace) -> int:
    """The ``void-vfx demo`` command: prints the report's key figures, returns 0."""
    report = demo(
        args.out,
        args.engine,
        args.frames,
        size=_size(args.size),
        camera_pan=not args.static,
        movie=not args.no_movie,
    )
    print(
        f"engine {report['engine']}: {report['frames']} frames -> {report['result_dir']}\n"
        f"PSNR inside the mask: {report['psnr_mask_db']} dB "
        f"(plate with the object: {report['psnr_plate_mask_db']} dB)\n"
        f"contact sheet: {report['contact_sheet']}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m void_vfx.demo.run``: the same as ``void-vfx demo``."""
    parser = argparse.ArgumentParser(prog="void-vfx demo", description=__doc__.splitlines()[0])
    add_demo_arguments(parser)
    return run_demo(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
