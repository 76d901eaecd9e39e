"""I/O benchmark: prints read/write throughput, crop/resize/paste-back cost and peak memory.

Run: ``python bench/io_bench.py`` (a few minutes on 2 cores). Sections:

1. Read and write of a synthetic 4K (4096x2160) half RGBA EXR, DWAA and ZIP, through void-vfx
   (``read_image`` / ``write_exr``) and through plain OpenImageIO calls; the ratio is
   void-vfx time / OIIO time (target <= 1.10).
2. Crop, resize to 384x672, colour conversion and paste-back, milliseconds per 4K frame.
3. Peak resident memory while processing synthetic 4K shots window by window (each length in its
   own subprocess, ``ru_maxrss``). A handful of distinct frames are written once and symlinked
   into a shot of N frames. Each window holds its working-size frames (the model's input) while
   4K frames pass one at a time through read -> crop -> colour -> (identity model) -> paste-back
   -> write. With ``--io-stride K`` only every K-th frame does that 4K work; the others copy the
   previous working frame into their slot. The held memory (one window) is the same as in full
   processing and the per-frame transients occur on the sampled frames, so the peak is the same
   while the run stays short.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 4096, 2160
FRAME_MB = WIDTH * HEIGHT * 4 * 2 / 1e6  # half RGBA, uncompressed


def synthetic_frame(seed: int) -> np.ndarray:
    """Smooth gradients plus grain: compresses like a plate, not like noise or flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    px = np.empty((HEIGHT, WIDTH, 4), np.float32)
    px[..., 0] = xx / WIDTH * (1 + seed % 3)
    px[..., 1] = yy / HEIGHT
    px[..., 2] = 0.5 + 0.5 * np.sin(xx / (40 + seed)) * np.cos(yy / 70)
    px[..., 3] = 1.0
    px[..., :3] += rng.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32) * 0.02
    return px


def synthetic_quadmask(frame_offset: int = 0) -> np.ndarray:
    """A 4K quadmask with a moving object (0), an overlap rim (63) and a shadow (127)."""
    q = np.full((HEIGHT, WIDTH), 255, np.uint8)
    x = 1500 + 4 * frame_offset
    q[900:1500, x : x + 500] = 127
    q[800:1400, x : x + 400] = 63
    q[820:1380, x + 20 : x + 380] = 0
    return q


def oiio_write(path: str, px: np.ndarray, compression: str) -> None:
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], oiio.HALF)
    spec.attribute("compression", compression)
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(px)
    out.close()


def oiio_read(path: str) -> np.ndarray:
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(path)
    px = inp.read_image(format="float")
    inp.close()
    return px


def _alternating(pairs, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (least disturbed) wall and CPU seconds of each named call, run in ABBA order so that
    drift and other load on the machine hit both alike. CPU time counts OIIO's worker threads
    too, and is what to compare when other jobs share the cores."""
    times: dict[str, list[tuple[float, float]]] = {}
    for r in range(repeats):
        for k, calls in enumerate(pairs):
            order = calls if (r + k) % 2 == 0 else calls[::-1]
            for name, fn in order:
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                spent = (time.perf_counter() - wall, time.process_time() - cpu)
                times.setdefault(name, []).append(spent)
    return {name: (min(t[0] for t in ts), min(t[1] for t in ts)) for name, ts in times.items()}


def bench_throughput(folder: Path, frames: int, repeats: int) -> None:
    from void_vfx.media.image_io import read_header, read_image
    from void_vfx.media.image_write import write_exr

    print(f"\n== 1. 4K half RGBA EXR throughput ({frames} distinct frames x {repeats} passes)")
    print(
        f"   {WIDTH}x{HEIGHT}, {FRAME_MB:.1f} MB uncompressed per frame; MB/s of uncompressed data;"
    )
    print(f"   files in {folder} (tmpfs when available: disk jitter left out); best of the passes")
    plates = [synthetic_frame(i) for i in range(frames)]
    for comp in ("dwaa:45", "zip"):
        tag = comp.split(":")[0]
        srcs = []
        for i, px in enumerate(plates):
            path = str(folder / f"src_{tag}.{i}.exr")
            oiio_write(path, px, comp)
            srcs.append(path)
        header = read_header(srcs[0])
        reads = [
            [("oiio", lambda p=p: oiio_read(p)), ("void", lambda p=p: read_image(p))] for p in srcs
        ]
        writes = [
            [
                (
                    "oiio",
                    lambda i=i, t=tag, c=comp: oiio_write(
                        str(folder / f"o_{t}.{i}.exr"), plates[i], c
                    ),
                ),
                (
                    "void",
                    lambda i=i, t=tag, c=comp, h=header: write_exr(
                        str(folder / f"v_{t}.{i}.exr"), plates[i], header=h, compression=c
                    ),
                ),
            ]
            for i in range(frames)
        ]
        size = sum(os.path.getsize(p) for p in srcs) / frames / 1e6
        print(f"   {comp:8s} (file {size:.1f} MB)")
        for op, pairs in (("read", reads), ("write", writes)):
            t = _alternating(pairs, repeats)
            (raw, raw_cpu), (ours, ours_cpu) = t["oiio"], t["void"]
            print(
                f"     {op:5s}  OIIO {raw * 1e3:7.1f} ms ({FRAME_MB / raw:6.1f} MB/s)   "
                f"void-vfx {ours * 1e3:7.1f} ms ({FRAME_MB / ours:6.1f} MB/s)   "
                f"ratio wall {ours / raw:.3f}, CPU {ours_cpu / raw_cpu:.3f} "
                f"({ours_cpu * 1e3:.0f} vs {raw_cpu * 1e3:.0f} ms)"
            )


def roi_available() -> bool:
    try:
        from void_vfx.render import roi

        return all(hasattr(roi, n) for n in ("plan_crop", "crop_to_work", "paste_back"))
    except Exception as exc:  # any import failure means: not available yet
        print(f"   void_vfx.render.roi not importable: {exc}")
        return False


def bench_roi(repeats: int) -> None:
    print("\n== 2. Crop, resize and paste-back per 4K frame (object 400x600 px, feather 16)")
    if not roi_available():
        print("   not available (void_vfx.render.roi missing)")
        return
    from void_vfx.media.colour import ColourTransform
    from void_vfx.render.roi import crop_to_work, paste_alpha, paste_back, plan_crop

    plate = synthetic_frame(0)
    q = synthetic_quadmask()
    colour = ColourTransform("ACEScg")
    timings: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kwargs):
        s = time.perf_counter()
        out = fn(*args, **kwargs)
        timings.setdefault(name, []).append(time.perf_counter() - s)
        return out

    for _ in range(repeats):
        box = timed("plan crop", plan_crop, q[None], margin=0.15, feather=16)
        work = timed("crop + resize to 384x672", crop_to_work, plate[..., :3], box)
        work = timed("colour to working (crop)", colour.to_working, work)
        alpha = timed("paste alpha (feather)", paste_alpha, q, 16)
        timed(
            "paste-back (resize up + colour + blend)",
            paste_back,
            plate,
            work,
            box,
            alpha,
            to_plate=colour.from_working,
        )
    print(f"   crop box {box.width}x{box.height} at ({box.x0}, {box.y0})")
    for name, ts in timings.items():
        print(f"   {name:40s} {1e3 * min(ts):8.1f} ms (min of {len(ts)})")
    print(f"   {'total':40s} {1e3 * sum(min(ts) for ts in timings.values()):8.1f} ms")


def memory_child(shot_dir: str, frames: int, stride: int) -> None:
    """Process a shot of ``frames`` frames window by window; print peak RSS as JSON."""
    from void_vfx.media.colour import ColourTransform
    from void_vfx.media.image_io import read_image
    from void_vfx.media.image_write import write_exr
    from void_vfx.media.sequences import Sequence
    from void_vfx.model_facts import WORK_HEIGHT, WORK_WIDTH
    from void_vfx.render.roi import crop_to_work, paste_alpha, paste_back, plan_crop
    from void_vfx.render.windows import plan_windows

    seq = Sequence.parse(os.path.join(shot_dir, "plate.####.exr"))
    out_dir = Path(shot_dir) / f"out_{frames}"
    out_dir.mkdir(exist_ok=True)
    first = 1001
    plan = plan_windows(first, first + frames - 1)
    colour = ColourTransform("ACEScg")
    start = time.perf_counter()
    decoded = written = 0

    def sampled(frame: int) -> bool:
        return (frame - first) % stride == 0

    for window in plan.windows:
        # 1. the crop: union of the window's non-keep pixels, one 4K bool at a time
        union = np.zeros((HEIGHT, WIDTH), bool)
        for f in range(window.first, window.last + 1):
            union |= synthetic_quadmask(f - first) != 255
        box = plan_crop(np.where(union, 0, 255).astype(np.uint8)[None], feather=16)
        # 2. the model's input: only working-size frames are held for the window
        work = np.zeros((window.length, WORK_HEIGHT, WORK_WIDTH, 3), np.float32)
        for i, f in enumerate(window.source_frames()):
            if sampled(f) or i == 0:
                img = read_image(seq.path(f), "rgba")
                decoded += 1
                work[i] = colour.to_working(crop_to_work(img.pixels[..., :3], box))
                del img
            else:  # stands in for the same work on another frame: same memory, less time
                work[i] = work[i - 1]
        result = work  # 3. the model (identity here)
        # 4. paste back and write the real frames of this window, one 4K frame at a time
        for i, f in enumerate(range(window.first, window.last + 1)):
            if not sampled(f):
                continue
            img = read_image(seq.path(f), "rgba")
            decoded += 1
            alpha = paste_alpha(synthetic_quadmask(f - first), 16)
            out = paste_back(img.raw, result[i], box, alpha, to_plate=colour.from_working)
            write_exr(str(out_dir / f"res.{f:04d}.exr"), out, header=img.header)
            written += 1
            del img, alpha, out
        del work, result
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "frames": frames,
                "windows": len(plan.windows),
                "longest_window": max(w.length for w in plan.windows),
                "peak_mb": peak_kb / 1024,
                "seconds": time.perf_counter() - start,
                "decoded": decoded,
                "written": written,
            }
        )
    )


def bench_memory(folder: Path, lengths: list[int], distinct: int, stride: int) -> None:
    print(f"\n== 3. Peak memory, synthetic 4K shot processed window by window (io-stride {stride})")
    if not roi_available():
        print("   not available (void_vfx.render.roi missing)")
        return
    shot = folder / "shot"
    shot.mkdir(exist_ok=True)
    sources = []
    for i in range(distinct):
        path = shot / f"distinct.{i}.exr"
        oiio_write(str(path), synthetic_frame(i), "dwaa:45")
        sources.append(path)
    for f in range(1001, 1001 + max(lengths)):
        (shot / f"plate.{f:04d}.exr").symlink_to(sources[f % distinct].name)
    print(f"   {distinct} distinct DWAA frames symlinked to {max(lengths)} frames")
    for n in lengths:
        cmd = [sys.executable, __file__, "--memory-child", str(shot), str(n), str(stride)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"   {n} frames: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"   {n:4d} frames: {r['windows']} window(s) (longest {r['longest_window']}), "
            f"peak RSS {r['peak_mb']:7.0f} MB, {r['seconds']:5.0f} s, "
            f"{r['decoded']} frames decoded, {r['written']} written"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3, help="distinct frames for section 1")
    parser.add_argument("--repeats", type=int, default=4, help="passes over them in section 1")
    parser.add_argument("--lengths", default="100,200,400", help="shot lengths for section 3")
    parser.add_argument("--io-stride", type=int, default=10, help="decode/encode every K-th frame")
    parser.add_argument("--skip", default="", help="sections to skip, e.g. 1,3")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        shot_dir, n, stride = args.memory_child
        memory_child(shot_dir, int(n), int(stride))
        return
    import OpenImageIO as oiio

    print(
        f"void-vfx io bench: OIIO {oiio.VERSION_STRING}, {os.cpu_count()} CPUs, "
        f"OIIO threads {oiio.get_int_attribute('threads')}"
    )
    skip = set(args.skip.split(","))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if "1" not in skip:
        with tempfile.TemporaryDirectory(prefix="void_io_bench_", dir=shm) as tmp:
            bench_throughput(Path(tmp), args.frames, args.repeats)
    with tempfile.TemporaryDirectory(prefix="void_io_bench_") as tmp:
        folder = Path(tmp)
        if "2" not in skip:
            bench_roi(3)
        if "3" not in skip:
            lengths = [int(x) for x in args.lengths.split(",")]
            bench_memory(folder, lengths, 4, args.io_stride)


if __name__ == "__main__":
    main()
