"""Pipeline benchmark: how much of a job's wall time the core adds around the engine.

Run: ``python bench/pipeline_bench.py`` (4K, several minutes on 2 cores) or ``--quick`` (a
1024x540 shot, a minute). A synthetic half EXR shot (DWAA unless ``--plate-compression``) with
a moving quadmask (8-bit PNG, long enough for 4 windows of 13 frames), or with ``--sample DIR``
a VOID sample folder (such as ``sample/moving_ball`` of Netflix/void-model: its movie and
quadmask movie become a half EXR plate and 8-bit PNG quadmasks of 40 frames at the movie's
size), is written with the spec's default output compression (the plate's own, unless
``--output-compression``) through the real render path
(:func:`void_vfx.render.process.process_shot`) with a simulated engine that sleeps a fixed time
per window, standing in for the GPU (``--engine-s``; by default twice the CPU work of a window,
measured first from a window's preparation and the assembly of a few frames, so that perfect
overlap is possible). It prints one figure per line:

- ``cpu per frame``: process CPU time (user + system, all threads) of the job, per frame (with
  ``--stages``, also split by stage: thread CPU time of each, exclusive of the stages it calls);
- ``engine total`` and ``wall`` of the job;
- ``overlap ratio`` = wall / (engine total + preparation of the first window + assembly of the
  last window), the last two timed on their own after the job, from its committed windows;
- ``patch vs full write``: time of assembling every frame in patch mode over full mode, and the
  bytes each writes (``n/a`` where the code has no patch mode);
- ``finish``: what the spec's finish block does (``--finish off|detail|both`` to compare);
- ``peak rss at N frames``: ``ru_maxrss`` of a subprocess running a job of N frames with
  85-frame windows (the default) and an engine that returns at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

FIRST = 1001
DISTINCT = 6  # distinct plate frames, linked into longer shots


def synthetic_plate(width: int, height: int, seed: int, grain: float = 0.02) -> np.ndarray:
    """Smooth gradients plus grain: compresses like a plate, not like noise or flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    px = np.empty((height, width, 3), np.float32)
    px[..., 0] = xx / width * (1 + seed % 3)
    px[..., 1] = yy / height
    px[..., 2] = 0.5 + 0.5 * np.sin(xx / (40 + seed)) * np.cos(yy / 70)
    px += rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(grain)
    return px


def synthetic_quadmask(width: int, height: int, offset: int) -> np.ndarray:
    """A ball-sized object (0) with an overlap rim (63) and a shadow (127), moving right."""
    q = np.full((height, width), 255, np.uint8)
    s = width / 4096
    x = int((1200 + 24 * offset) * s) % max(1, width - int(700 * s))
    y0, y1 = int(800 * s), int(1400 * s)
    q[int(900 * s) : int(1500 * s), x : x + int(600 * s)] = 127
    q[y0:y1, x : x + int(420 * s)] = 63
    q[y0 + int(20 * s) : y1 - int(20 * s), x + int(20 * s) : x + int(400 * s)] = 0
    return q


def make_shot(
    root: str, width: int, height: int, frames: int, compression: str = "dwaa", grain=0.02
) -> tuple[str, str]:
    """Plate (DISTINCT frames, linked) and one quadmask per frame; returns both patterns."""
    import OpenImageIO as oiio

    from void_vfx.media.image_write import write_exr

    os.makedirs(root, exist_ok=True)
    tag = f"{compression.replace(':', '_')}_{grain:g}"
    distinct = os.path.join(root, f"distinct_{tag}")
    os.makedirs(distinct, exist_ok=True)
    for i in range(DISTINCT):
        p = os.path.join(distinct, f"d{i}.exr")
        if not os.path.exists(p):
            write_exr(p, synthetic_plate(width, height, i, grain), compression=compression)
    for k in range(frames):
        f = FIRST + k
        link = os.path.join(root, f"plate_{tag}.{f}.exr")
        if not os.path.exists(link):
            os.symlink(os.path.join(distinct, f"d{k % DISTINCT}.exr"), link)
        mpath = os.path.join(root, f"qm.{f}.png")
        if not os.path.exists(mpath):
            buf = oiio.ImageBuf(oiio.ImageSpec(width, height, 1, oiio.UINT8))
            buf.set_pixels(oiio.ROI(), synthetic_quadmask(width, height, k)[..., None])
            if not buf.write(mpath):
                raise RuntimeError(f"{mpath}: {buf.geterror()}")
    return os.path.join(root, f"plate_{tag}.####.exr"), os.path.join(root, "qm.####.png")


def _sample_mask_file(sample: str) -> str:
    for name in ("quadmask_0.mp4", "trimask_quadmask.mp4"):
        if os.path.exists(os.path.join(sample, name)):
            return os.path.join(sample, name)
    raise SystemExit(f"{sample}: no quadmask_0.mp4 or trimask_quadmask.mp4 (a VOID sample folder)")


def make_sample_shot(
    root: str, sample: str, frames: int, compression: str
) -> tuple[str, str, int, int]:
    """A VOID sample folder (``input_video.mp4`` and its quadmask movie) as a half EXR plate in
    scene-linear Rec.709 (the video's sRGB decoded) and 8-bit PNG quadmasks, ``frames`` long.
    Returns both patterns and the size."""
    import av
    import OpenImageIO as oiio

    from void_vfx.media.image_write import write_exr

    os.makedirs(root, exist_ok=True)
    k, size = -1, (0, 0)
    tag = compression.replace(":", "_")
    plate = os.path.join(root, f"sample_{tag}.####.exr")
    qm = os.path.join(root, "sample_qm.####.png")
    with (
        av.open(os.path.join(sample, "input_video.mp4")) as video,
        av.open(_sample_mask_file(sample)) as masks,
    ):
        pairs = zip(video.decode(video=0), masks.decode(video=0), strict=False)
        for k, (pic, matte) in enumerate(pairs):
            if k == frames:
                break
            srgb = pic.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
            write_exr(plate.replace("####", str(FIRST + k)), lin, compression=compression)
            size = (lin.shape[1], lin.shape[0])
            m = np.ascontiguousarray(matte.to_ndarray(format="gray"))
            buf = oiio.ImageBuf(oiio.ImageSpec(m.shape[1], m.shape[0], 1, oiio.UINT8))
            buf.set_pixels(oiio.ROI(), m[..., None])
            if not buf.write(qm.replace("####", str(FIRST + k))):
                raise RuntimeError(f"{qm}: {buf.geterror()}")
    if k + 1 < frames:
        raise SystemExit(f"{sample}: the movie has {k + 1} frames, fewer than {frames}")
    return plate, qm, *size


def make_spec(
    plate: str,
    qm: str,
    frames: int,
    window: int,
    overlap: int,
    mode: str = "full",
    output=None,
    colourspace: str = "ACEScg",
):
    from void_vfx.job.spec import JobSpec, MatteSource

    spec = JobSpec(
        plate=plate,
        quadmask=MatteSource(qm, "Y"),
        frame_range=(FIRST, FIRST + frames - 1),
        colourspace=colourspace,
        prompt="an empty room",
        engine="preview",
    )
    spec.window.min_length = spec.window.max_length = window
    spec.window.overlap = overlap
    if output:
        spec.output.compression = output
    spec.output.pixel_type = "half"
    set_mode(spec, mode)
    return spec.validate()


def set_finish(spec, finish: str) -> None:
    """The spec's finish block as ``--finish`` asks (``spec``: left as it is)."""
    if finish == "spec" or not hasattr(spec, "finish"):
        return
    spec.finish.detail = finish in ("detail", "both")
    spec.finish.grain = finish == "both"
    if finish == "both":  # the sleeping engine stands in for VOID, whose fill is clean
        import void_vfx.render.finish as finish_module

        finish_module.GRAINY_FILL_ENGINES = ()


def has_patch_mode(spec) -> bool:
    return "mode" in {f.name for f in dataclasses.fields(spec.output)}


def set_mode(spec, mode: str) -> None:
    if has_patch_mode(spec):
        spec.output.mode = mode


class SleepEngine:
    """Stands in for the GPU: sleeps ``seconds`` per window, returns the frames darkened."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.total = 0.0
        self.first_start: float | None = None

    def __call__(self, window_input):
        t = time.perf_counter()
        if self.first_start is None:
            self.first_start = t
        time.sleep(self.seconds)
        out = window_input.frames * np.float32(0.9)
        self.total += time.perf_counter() - t
        return out


class StageClock:
    """Thread CPU time of each stage of the render, exclusive of the stages it calls, summed over
    threads: where ``cpu per frame`` goes. Wraps the stages' functions for one run."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.local = threading.local()
        self.totals: dict[str, float] = {}
        self.undo: list = []

    def wrap(self, owner, attr: str, name: str) -> None:
        import functools

        fn = getattr(owner, attr)
        clock = self

        @functools.wraps(fn)
        def timed(*a, **kw):
            stack = clock.local.__dict__.setdefault("stack", [])
            stack.append(0.0)
            t = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                spent = time.thread_time() - t
                child = stack.pop()
                if stack:
                    stack[-1] += spent
                with clock.lock:
                    clock.totals[name] = clock.totals.get(name, 0.0) + spent - child

        setattr(owner, attr, timed)
        self.undo.append((owner, attr, fn))

    def install(self) -> None:
        import OpenImageIO as oiio

        from void_vfx.media import colour, image_io, image_write
        from void_vfx.render import assemble, job, prepare, shot

        # EXR (de)compression on the calling thread, not OpenEXR's pool, so that thread CPU time
        # finds it (the same work: total CPU per frame barely moves).
        oiio.attribute("exr_threads", -1)
        oiio.attribute("threads", 1)
        self.wrap(assemble, "whole_frame", "assemble: plate rows decode (rest of the frame)")
        if hasattr(assemble, "plate_rows"):
            from void_vfx.media import exr_chunks

            self.wrap(assemble, "plate_rows", "assemble: plate rows decode (changed chunks)")
            self.wrap(exr_chunks, "read_scanline_file", "assemble: plate + band file read")
            self.wrap(exr_chunks, "splice", "assemble: chunks copied + written")

        self.wrap(job, "prepare_window", "prepare: window plan, padding")
        self.wrap(prepare, "_working_frame", "prepare: crop resize to working size")
        self.wrap(shot.Shot, "read_rows", "prepare: plate crop rows decode")
        self.wrap(colour.ColourTransform, "to_working", "prepare: colour to working")
        self.wrap(shot.Shot, "_make_mask", "quadmask read + snap (once a frame)")
        self.wrap(job, "commit_window", "commit window")
        self.wrap(job, "assemble_frame", "assemble: alpha, uncrop, blend")
        self.wrap(colour.ColourTransform, "from_working", "assemble: colour from working")
        self.wrap(image_io, "read_image", "plate frame decode, whole (+ mask file read)")
        self.wrap(image_write, "write_exr", "assemble: EXR encode + write")

    def remove(self) -> None:
        for owner, attr, fn in reversed(self.undo):
            setattr(owner, attr, fn)
        self.undo.clear()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def folder_bytes(folder: str) -> int:
    return sum(
        os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder) if n.endswith(".exr")
    )


def timed_assembly(job: str, spec, plan, out: str, frames) -> float:
    from void_vfx.render.assemble import assemble_frames
    from void_vfx.render.shot import Shot

    shot = Shot.open(spec)
    t = time.perf_counter()
    assemble_frames(job, spec, plan, out, frames=frames, shot=shot)
    return time.perf_counter() - t


def _commit_probe(job: str, spec) -> None:
    """Window 0 committed (as the engine would) in a job folder of its own, for the probe."""
    from void_vfx.render.prepare import prepare_window
    from void_vfx.render.process import open_job
    from void_vfx.render.store import commit_window

    shot, plan = open_job(spec, job)
    window_input, ctx = prepare_window(spec, plan, plan.windows[0], shot=shot)
    commit_window(job, plan.windows[0], window_input.frames * np.float32(0.9), ctx)


def main_run(args, root: str) -> None:
    from void_vfx.render.prepare import prepare_window
    from void_vfx.render.process import open_job, process_shot

    frames, window, overlap = 40, 13, 4
    if args.sample:
        plate, qm, width, height = make_sample_shot(
            os.path.join(root, "main"), args.sample, frames, args.plate_compression
        )
        space = "Linear Rec.709 (sRGB)"
    else:
        width, height = (1024, 540) if args.quick else (4096, 2160)
        plate, qm = make_shot(
            os.path.join(root, "main"), width, height, frames, args.plate_compression, args.grain
        )
        space = "ACEScg"
    spec = make_spec(
        plate, qm, frames, window, overlap, output=args.output_compression, colourspace=space
    )
    set_finish(spec, args.finish)
    from void_vfx.media.image_io import read_header
    from void_vfx.render.assemble import output_compression

    written = output_compression(spec, read_header(plate.replace("####", str(FIRST))))
    source = f"sample {args.sample}" if args.sample else f"synthetic, grain {args.grain:g}"
    print(f"plate compression: {args.plate_compression}, output compression: {written}, {source}")
    if hasattr(spec, "finish"):
        print(f"finish: detail {spec.finish.detail}, grain {spec.finish.grain} ({args.finish})")

    # The part no pipeline can hide, each timed alone (and, from their CPU time, the engine's
    # sleep: twice the CPU work of a window, so that perfect overlap is possible).
    cpu0, t = cpu_seconds(), time.perf_counter()
    shot, plan = open_job(spec, os.path.join(root, "job_head"))
    prepare_window(spec, plan, plan.windows[0], shot=shot)
    head = time.perf_counter() - t
    cpu_prep = cpu_seconds() - cpu0
    print(f"size: {width}x{height}, {frames} frames, windows of {window} (overlap {overlap})")
    print(f"first window preparation: {head:.2f} s")
    if args.engine_s is not None:
        per_window = args.engine_s
    else:
        probe = list(plan.windows[0].frames())[:4]
        first_job = os.path.join(root, "job_probe")
        _commit_probe(first_job, spec)
        cpu0 = cpu_seconds()
        timed_assembly(first_job, spec, plan, os.path.join(root, "probe"), probe)
        cpu_frame = (cpu_seconds() - cpu0) / len(probe) + cpu_prep / window
        per_window = 2 * cpu_frame * window
    print(f"simulated engine: {per_window:.2f} s per window")
    engine = SleepEngine(per_window)
    job, out = os.path.join(root, "job"), os.path.join(root, "out_full")
    clock = StageClock()
    if args.stages:
        clock.install()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    process_shot(spec, engine, job, out)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    clock.remove()
    print(f"cpu per frame: {cpu / frames:.3f} s")
    if args.stages:
        staged = sum(clock.totals.values())
        for name, spent in sorted(clock.totals.items(), key=lambda kv: -kv[1]):
            print(f"  {name}: {spent / frames:.3f} s per frame")
        print(f"  everything else (pools, queues, engine's copy): {(cpu - staged) / frames:.3f}")
    print(f"engine total: {engine.total:.2f} s")
    print(f"wall: {wall:.2f} s")
    last = plan.windows[-1]
    tail = timed_assembly(job, spec, plan, os.path.join(root, "tail"), list(last.frames()))
    print(f"last window assembly: {tail:.2f} s")
    print(f"overlap ratio: {wall / (engine.total + head + tail):.3f}")

    every = list(range(plan.first, plan.last + 1))
    t_full = timed_assembly(job, spec, plan, os.path.join(root, "a_full"), every)
    full_bytes = folder_bytes(os.path.join(root, "a_full"))
    if has_patch_mode(spec):
        set_mode(spec, "patch")
        t_patch = timed_assembly(job, spec, plan, os.path.join(root, "a_patch"), every)
        patch_bytes = folder_bytes(os.path.join(root, "a_patch"))
        print(f"patch vs full write: {t_patch / t_full:.3f} ({t_patch:.2f} s / {t_full:.2f} s)")
        print(f"patch output: {patch_bytes} bytes")
    else:
        print(f"patch vs full write: n/a (no patch mode; full {t_full:.2f} s)")
    print(f"full output: {full_bytes} bytes")


def rss_child(args, root: str) -> None:
    """One job of ``--rss-child`` frames with default 85-frame windows; prints its peak RSS."""
    from void_vfx.render.process import process_shot

    width, height = (1024, 540) if args.quick else (4096, 2160)
    n = args.rss_child
    plate, qm = make_shot(
        os.path.join(root, "rss"), width, height, n, args.plate_compression, args.grain
    )
    spec = make_spec(plate, qm, n, 85, 16, output=args.output_compression)
    process_shot(spec, SleepEngine(0.0), os.path.join(root, f"job{n}"), os.path.join(root, f"o{n}"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"{peak:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1024x540 instead of 4K, short RSS runs")
    ap.add_argument("--engine-s", type=float, default=None, help="simulated engine s per window")
    ap.add_argument("--rss-frames", default=None, help="shot lengths for peak RSS (100,400)")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak RSS runs")
    ap.add_argument("--grain", type=float, default=0.02, help="grain of the plate (0.02)")
    ap.add_argument("--plate-compression", default="dwaa", help="the plate's EXR compression")
    ap.add_argument(
        "--output-compression",
        default=None,
        help="the output's (default: the spec's default, the plate's own)",
    )
    ap.add_argument(
        "--sample",
        default=None,
        help="a VOID sample folder (input_video.mp4 + quadmask movie, e.g. "
        "moving_ball) as the plate instead of the synthetic one; "
        "no peak RSS runs then",
    )
    ap.add_argument(
        "--finish",
        choices=("spec", "off", "detail", "both"),
        default="spec",
        help="the finish (detail from other frames, grain): the spec's defaults (detail; no "
        "grain on the preview engine's fill), off, detail alone, or both (grain as on VOID's "
        "clean fill)",
    )
    ap.add_argument("--stages", action="store_true", help="also print cpu per frame by stage")
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory(prefix="void_pipe_", dir=args.dir) as root:
        if args.rss_child:
            rss_child(args, root if args.dir is None else args.dir)
            return
        main_run(args, root)
        if args.no_rss or args.sample:
            return
        lengths = args.rss_frames or ("30,120" if args.quick else "100,400")
        for n in (int(x) for x in lengths.split(",")):
            cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", str(n), "--dir", root]
            cmd += ["--plate-compression", args.plate_compression, "--grain", str(args.grain)]
            if args.output_compression:
                cmd += ["--output-compression", args.output_compression]
            if args.quick:
                cmd.append("--quick")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            print(f"peak rss at {n} frames: {float(out.split()[-1]):.2f} GB")


if __name__ == "__main__":
    main()
