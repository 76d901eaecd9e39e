"""GPU pool benchmark: one long shot's windows spread over N engines (``serve --gpus``).

Run: ``python bench/gpu_pool_bench.py`` (about a minute on 2 cores). A demo shot of 76 frames
(8 windows of 13 frames, overlap 4) goes through the real render path
(:func:`void_vfx.render.process.process_shot`, ``engine_slots=N``) and the server's pool
(:class:`void_vfx_server.gpu_pool.EnginePool`) of N simulated GPUs, each sleeping a fixed time
per window (``--engine-s``) and refusing a second window at once. It prints one line per N: the
wall time, the speed-up over one engine (ideal: N, or the windows / ceil(windows / N) rounds),
the windows each engine ran, and whether the frames are the bits of the one-engine run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


class SleepGpu:
    """Stands in for one GPU: sleeps per window, one window at a time, output from the window
    alone (so any engine gives the same bits)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.ran, self._busy = seconds, 0, threading.Lock()

    def run(self, window, progress, should_cancel):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("two windows at once on one GPU")
        try:
            time.sleep(self.seconds)
            self.ran += 1
            return window.frames * np.float32(0.9)
        finally:
            self._busy.release()


def _bits(paths: list[str]) -> list[bytes]:
    from void_vfx.media.image_io import read_image

    return [read_image(p).raw.tobytes() for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="1,2,4", help="pool sizes to time (1,2,4)")
    ap.add_argument("--engine-s", type=float, default=3.0, help="simulated seconds per window")
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from void_vfx.demo.run import build_spec, make_demo_shot
    from void_vfx.render.process import process_shot
    from void_vfx_server.gpu_pool import EnginePool

    root = args.dir or tempfile.mkdtemp(prefix="void-pool-bench-")
    shot = make_demo_shot(os.path.join(root, "shot"), frames=76, size=(256, 144))
    spec = build_spec(shot, "preview", os.path.join(root, "out"))
    spec.window.min_length = spec.window.max_length = 13
    spec.window.overlap = 4
    print(f"cores: {os.cpu_count()}, engine: {args.engine_s} s per window")
    base, reference = None, None
    for n in [int(x) for x in args.engines.split(",")]:
        gpus = [SleepGpu(args.engine_s) for _ in range(n)]
        pool = EnginePool(gpus)
        t = time.perf_counter()
        summary = process_shot(
            spec,
            lambda w, p=pool: p.run(w, lambda *a: None, lambda: False),
            os.path.join(root, f"job{n}"),
            os.path.join(root, f"out{n}"),
            engine_slots=n,
        )
        wall = time.perf_counter() - t
        windows = summary["windows"]
        bits = _bits(summary["paths"])
        reference = reference or bits
        base = base or wall  # the first size given (1 by default) is the reference
        ideal = windows / math.ceil(windows / n)
        print(
            f"engines {n}: wall {wall:.2f} s, speed-up {base / wall:.2f} "
            f"(ideal {ideal:.2f}), windows per engine {[g.ran for g in gpus]}, "
            f"same bits as the first: {'yes' if bits == reference else 'NO'}"
        )


if __name__ == "__main__":
    main()
