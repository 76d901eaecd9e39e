"""Speed and quality of the preview engine on one model-sized window (85 x 384 x 672).

Prints seconds per window (best of ``--repeat`` runs, and the motion-estimation share), and the
PSNR inside the mask against the known clean background, for a static and a panning camera.
The window is the demo scene rendered straight at the working size and encoded to display
sRGB the way the server hands windows to an engine. Run: ``python bench/preview_bench.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from void_vfx.demo.scene import SceneParams, render_frame
from void_vfx.render.engine import WindowInput
from void_vfx.render.quadmask import build_quadmask
from void_vfx_server.engines.preview import PreviewEngine, estimate_motion


def _srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def make_window(frames: int, height: int, width: int, pan: bool):
    params = SceneParams(width, height, frames, pan)
    plate = np.empty((frames, height, width, 3), np.float32)
    clean = np.empty_like(plate)
    quad = np.empty((frames, height, width), np.uint8)
    for t in range(frames):
        layers = render_frame(params, t)
        plate[t], clean[t] = _srgb(layers["plate"]), _srgb(layers["clean"])
        quad[t] = build_quadmask(layers["primary"], layers["affected"], dilate_px=2)
    return plate, quad, clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=85)
    parser.add_argument("--size", default="672x384", help="WIDTHxHEIGHT")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    engine = PreviewEngine()
    for pan in (False, True):
        plate, quad, clean = make_window(args.frames, height, width, pan)
        hole = quad < 255
        times, motion = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            estimate_motion(plate, quad == 255)
            motion.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = engine.run(WindowInput(plate, quad), lambda *a: None, lambda: False).frames
            times.append(time.perf_counter() - t0)
        mse = float(((out - clean) ** 2)[hole].mean())
        base = float(((plate - clean) ** 2)[hole].mean())
        print(
            f"{'pan   ' if pan else 'static'} {args.frames}x{height}x{width}: "
            f"{min(times):.2f} s per window (motion {min(motion):.2f} s), "
            f"mask {hole.mean() * 100:.1f}% of pixels, PSNR in mask {10 * np.log10(1 / mse):.2f} dB "
            f"(plate {10 * np.log10(1 / base):.2f} dB)"
        )


if __name__ == "__main__":
    main()
