"""Fidelity benchmark: how sharp and how grainy the fill is at plate resolution, finish off and on.

Run: ``python bench/fidelity_bench.py`` (a 1280x720 shot, about ten minutes on 2 cores; ``--4k``
adds the CPU time per frame of a 4096x2160 shot). Real footage with a known clean plate: the
first frame of VOID's ``ducky-float`` sample (``../shared/data``, or ``--image``), degrained
(OpenCV's non-local means, light), decoded to scene-linear, panned one pixel a frame; over it a
synthetic object and its shadow move right 30 pixels a frame (other frames see the background
behind them), and a post stays put (no frame sees behind it). A second case adds synthetic film
grain (correlated across channels, its amplitude rising with intensity). The engine is an oracle: it
returns the clean truth (no object, no grain) cut and sized exactly as the pipeline cuts the plate,
so every loss is resolution and grain, not the model. Each case runs through the real render path
(:func:`void_vfx.render.process.process_shot`) three times: ``finish`` off (today), detail alone,
and both (detail and grain). Printed:

- ``sharp``: the fill's energy in the plate's top octave (0.25-0.5 cycles/pixel) over the truth's,
  inside the mask where other frames see the background (target >= 0.8);
- ``psnr seen`` / ``psnr unseen``: PSNR (peak 1) inside the mask against the truth, where other
  frames see the background (target: 3 dB over finish off) and where none does (never below);
- ``grain amp``: the range, over channels and four intensity bands (each channel banded by its
  own value in the fill, quartiles), of the fill's noise amplitude (fill minus the clean truth)
  over the plate's (plate minus the clean truth, outside the mask) at the same intensities
  (16 finer bins a band, the plate's weighted as the fill's pixels fall), as min-max (target
  within 0.9-1.1); ``grain spec``: the correlation of their
  spatial power spectra (target >= 0.9);
- ``cpu/frame``: process CPU seconds per frame of the whole job (the engine is instant).
Timings are noisy on a shared machine: run it a few times and quote the range.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FIRST = 1001
FRAMES = 13
IMAGE = "../shared/data/void_samples/ducky-float/first_frame.jpg"
BLOCK = 32


def footage(path: str, width: int, height: int, frames: int = FRAMES) -> np.ndarray:
    """The image, scene-linear (sRGB decoded), resized to cover ``width + frames`` x height."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"{path}: cannot read the footage; give --image PATH (a photo)")
    # The clean plate is the photo degrained (as a compositor degrains a clean plate): its own
    # noise would otherwise count against the fill in every comparison with the truth.
    img = cv2.fastNlMeansDenoisingColored(img, None, 3, 3, 7, 21)
    srgb = img[..., ::-1].astype(np.float32) / 255.0
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    need_w, need_h = width + frames + 2, height
    if lin.shape[1] < need_w or lin.shape[0] < need_h:
        s = max(need_w / lin.shape[1], need_h / lin.shape[0])
        size = (int(np.ceil(lin.shape[1] * s)), int(np.ceil(lin.shape[0] * s)))
        lin = cv2.resize(lin, size, interpolation=cv2.INTER_LANCZOS4)
    return np.ascontiguousarray(lin[:need_h])


def layout(width: int, height: int):
    """Pixel boxes scaled from the 1280x720 design: (object at frame 0, step, shadow, post)."""
    s = width / 1280
    return s, (int(300 * s), int(150 * s), int(560 * s), int(670 * s)), 30 * s


def frame_masks(width: int, height: int, k: int):
    """(object, shadow, post) bool masks of frame ``k``."""
    s, (ox0, oy0, ox1, oy1), step = layout(width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    dx = int(round(step * k))
    cx, cy = (ox0 + ox1) / 2 + dx, (oy0 + oy1) / 2
    obj = ((xx - cx) / ((ox1 - ox0) / 2)) ** 2 + ((yy - cy) / ((oy1 - oy0) / 2)) ** 2 <= 1
    sh = (
        (yy >= int(600 * s))
        & (yy < int(700 * s))
        & (xx - (yy - int(600 * s)) >= ox0 + dx + int(40 * s))
        & (xx - (yy - int(600 * s)) < ox1 + dx + int(120 * s))
    )
    post = (xx >= int(1000 * s)) & (xx < int(1060 * s)) & (yy >= int(250 * s)) & (yy < int(620 * s))
    return obj, sh & ~obj, post


def film_grain(shape, clean: np.ndarray, seed: int) -> np.ndarray:
    """Synthetic film grain: blurred noise (correlated 0.5 across channels), its amplitude
    rising with the square root of intensity."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shape
    base = rng.standard_normal((h, w), dtype=np.float32)
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        n = np.sqrt(0.5) * base + np.sqrt(0.5) * rng.standard_normal((h, w), dtype=np.float32)
        n = cv2.GaussianBlur(n, (0, 0), 0.7)
        out[..., c] = n / n.std()
    return out * (0.006 + 0.03 * np.sqrt(np.clip(clean, 0, None)))


def make_case(root: str, src: np.ndarray, width: int, height: int, grain: bool, frames=FRAMES):
    """Plate, clean truth and quadmask sequences; returns their patterns."""
    import cv2
    import OpenImageIO as oiio

    from void_vfx.media.image_write import write_exr

    os.makedirs(root, exist_ok=True)
    pats = {
        n: os.path.join(root, f"{n}.####.{e}")
        for n, e in (("plate", "exr"), ("truth", "exr"), ("qm", "png"))
    }
    rng_tex = np.random.default_rng(7)
    tex = cv2.GaussianBlur(rng_tex.random((height, width), dtype=np.float32), (0, 0), 3)
    for k in range(frames):
        f = FIRST + k
        clean = np.ascontiguousarray(src[:height, 1 + k : 1 + k + width])
        obj, sh, post = frame_masks(width, height, k)
        plate = clean.copy()
        plate[sh] *= 0.35
        plate[obj] = (0.08 + 0.25 * tex[obj])[:, None] * np.array([1.0, 0.5, 0.3], np.float32)
        plate[post] = 0.02
        if grain:
            plate += film_grain((height, width), plate, 100 + k)
        write_exr(pats["plate"].replace("####", str(f)), plate, compression="zip")
        write_exr(pats["truth"].replace("####", str(f)), clean, compression="zip")
        q = np.full((height, width), 255, np.uint8)
        grow = np.ones((9, 9), np.uint8)
        q[cv2.dilate(sh.astype(np.uint8), grow) > 0] = 127
        dil = cv2.dilate((obj | post).astype(np.uint8), grow) > 0
        q[dil] = np.where(q[dil] == 127, 63, 0)
        buf = oiio.ImageBuf(oiio.ImageSpec(width, height, 1, oiio.UINT8))
        buf.set_pixels(oiio.ROI(), q[..., None])
        if not buf.write(pats["qm"].replace("####", str(f))):
            raise RuntimeError(buf.geterror())
    return pats


class Oracle:
    """The clean truth cut to each window's crop at the working size, as the plate is cut."""

    def __init__(self, truth: str) -> None:
        self.truth = truth
        self.boxes: dict[int, tuple] = {}

    def hook(self):
        """Wrap the pipeline's window preparation to learn each window's crop box."""
        import void_vfx.render.job as job  # where the render stages look it up

        real = job.prepare_window

        def prepare(spec, plan, window, **kw):
            item = real(spec, plan, window, **kw)
            if item[0] is not None:
                self.boxes[id(item[0].frames)] = (kw["shot"], window, item[1].box)
            return item

        job.prepare_window = prepare

    def __call__(self, window_input):
        from void_vfx.render.prepare import _working_frame

        shot, window, box = self.boxes.pop(id(window_input.frames))
        out = np.empty_like(window_input.frames)
        for i, f in enumerate(window.source_frames()):
            out[i] = _working_frame(shot, self.truth.replace("####", str(f)), f, box, plate=False)
        return out


def run_case(pats, root: str, detail: bool, grain: bool, frames: int = FRAMES):
    from void_vfx.job.spec import JobSpec, MatteSource
    from void_vfx.render.process import process_shot

    spec = JobSpec(
        plate=pats["plate"],
        quadmask=MatteSource(pats["qm"], "Y"),
        frame_range=(FIRST, FIRST + frames - 1),
        colourspace="Linear Rec.709 (sRGB)",
        engine="preview",
    )
    spec.window.min_length = spec.window.max_length = 13 if frames >= 13 else 5
    spec.window.overlap = 0
    spec.output.pixel_type = "float"
    spec.output.compression = "zip"
    spec.finish.detail, spec.finish.grain = detail, grain
    spec.validate()
    # The oracle's fill is clean, as VOID's is: grain goes on it, which the finish leaves off
    # for the preview engine named above (its fill carries the plate's own grain).
    import void_vfx.render.finish as finish

    finish.GRAINY_FILL_ENGINES = ()
    oracle = Oracle(pats["truth"])
    oracle.hook()
    tag = f"d{int(detail)}g{int(grain)}"
    cpu = time.process_time()
    summary = process_shot(spec, oracle, os.path.join(root, f"job_{tag}"), os.path.join(root, tag))
    cpu = time.process_time() - cpu
    return summary["paths"], cpu / frames


def top_octave(x: np.ndarray, m: np.ndarray) -> float:
    f = np.fft.fft2(x, axes=(0, 1))
    fy = np.fft.fftfreq(x.shape[0])[:, None]
    fx = np.fft.fftfreq(x.shape[1])[None]
    r = np.hypot(fy, fx)
    band = (r >= 0.25) & (r <= 0.5)
    y = np.real(np.fft.ifft2(f * band[..., None], axes=(0, 1)))
    return float((y[m] ** 2).sum())


def psnr(a, b, m) -> float:
    err = float(np.mean((a[m] - b[m]) ** 2))
    return 10 * np.log10(1.0 / max(err, 1e-20))


def seen_mask(qms: list[np.ndarray], k: int) -> np.ndarray:
    """Pixels of frame ``k``'s hole that another frame keeps (the pan is one pixel a frame)."""
    hole = qms[k] != 255
    seen = np.zeros_like(hole)
    w = hole.shape[1]
    for j, q in enumerate(qms):
        if j == k:
            continue
        shift = k - j  # scene point at x in frame k is at x + k - j in frame j
        keep = np.zeros_like(hole)
        if shift >= 0:
            keep[:, : w - shift] = q[:, shift:] == 255
        else:
            keep[:, -shift:] = q[:, : w + shift] == 255
        seen |= keep
    return hole & seen


def grain_blocks(res: np.ndarray, m: np.ndarray):
    """Corners of BLOCKxBLOCK blocks wholly inside ``m``."""
    h, w = m.shape
    out = []
    for y in range(0, h - BLOCK + 1, BLOCK):
        for x in range(0, w - BLOCK + 1, BLOCK):
            if m[y : y + BLOCK, x : x + BLOCK].all():
                out.append((y, x))
    return out


def grain_stats(resid: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray], edges):
    """Mean squared noise and pixel count per (fine bin, channel), each channel binned by its
    own clean intensity (``edges`` (bins + 1, 3)), and the mean luma power spectrum."""
    bins = edges.shape[0] - 1
    sq = np.zeros((bins, 3))
    n = np.zeros((bins, 3))
    spec = np.zeros((BLOCK, BLOCK))
    blocks = 0
    luma_w = np.array([0.2126, 0.7152, 0.0722], np.float32)
    for r, c, m in zip(resid, clean, masks, strict=True):
        for ch in range(3):
            which = np.searchsorted(edges[:, ch], c[..., ch][m], side="right") - 1
            which = np.clip(which, 0, bins - 1)
            sq[:, ch] += np.bincount(which, r[..., ch][m] ** 2, minlength=bins)
            n[:, ch] += np.bincount(which, minlength=bins)
        for y, x in grain_blocks(r, m):
            blk = r[y : y + BLOCK, x : x + BLOCK] @ luma_w
            spec += np.abs(np.fft.fft2(blk - blk.mean())) ** 2
            blocks += 1
    return sq / np.maximum(n, 1), spec / max(blocks, 1), n


def amplitude_ratios(msq_fill, n_fill, msq_plate, n_plate, bands: int = 4) -> np.ndarray:
    """(bands, 3) fill noise amplitude over the plate's at the same intensities: the plate's
    fine bins weighted as the fill's pixels fall in them."""
    fine = msq_fill.shape[0] // bands
    out = np.full((bands, 3), np.nan)
    for b in range(bands):
        s = slice(b * fine, (b + 1) * fine)
        ok = (n_plate[s] > 50) & (n_fill[s] > 0)
        for c in range(3):
            k = ok[:, c]
            if n_fill[s][k, c].sum() < 1000:
                continue
            w = n_fill[s][k, c]
            fill = np.sqrt((msq_fill[s][k, c] * w).sum() / w.sum())
            plate = np.sqrt((msq_plate[s][k, c] * w).sum() / w.sum())
            out[b, c] = fill / plate
    return out


def measure(pats, paths, width, height, grain: bool):
    from void_vfx.media.image_io import read_image

    qms = [
        read_image(pats["qm"].replace("####", str(FIRST + k))).pixels[..., 0] for k in range(FRAMES)
    ]
    qms = [np.round(q * 255).astype(np.uint8) if q.dtype.kind == "f" else q for q in qms]
    rows = []
    res_fill, res_plate, cl_fill, cl_plate, m_fill, m_plate = [], [], [], [], [], []
    for k in range(1, FRAMES - 1):
        f = FIRST + k
        out = read_image(paths[k]).pixels[..., :3]
        truth = read_image(pats["truth"].replace("####", str(f))).pixels[..., :3]
        plate = read_image(pats["plate"].replace("####", str(f))).pixels[..., :3]
        hole = qms[k] != 255
        seen = seen_mask(qms, k)
        unseen = hole & ~seen
        core = _erode(hole, 12)
        rows.append(
            (
                top_octave(out, seen & core) / max(top_octave(truth, seen & core), 1e-20),
                psnr(out, truth, seen),
                psnr(out, truth, unseen) if unseen.any() else float("nan"),
            )
        )
        if grain:
            res_fill.append(out - truth)
            res_plate.append(plate - truth)
            cl_fill.append(truth)
            cl_plate.append(truth)
            m_fill.append(seen & core)
            m_plate.append(_erode(qms[k] == 255, 0) & ~_dilate(hole, 24))
    sharp, p_seen, p_unseen = (float(np.nanmean([r[i] for r in rows])) for i in range(3))
    amp = spec_corr = None
    if grain:
        values = np.concatenate([c[m] for c, m in zip(cl_fill, m_fill, strict=True)])
        edges = np.quantile(values, np.linspace(0, 1, 65), axis=0)  # (65, 3): 4 bands x 16
        sf, pf, nf = grain_stats(res_fill, cl_fill, m_fill, edges)
        sp, pp, np_ = grain_stats(res_plate, cl_plate, m_plate, edges)
        ratio = amplitude_ratios(sf, nf, sp, np_)
        amp = (float(np.nanmin(ratio)), float(np.nanmax(ratio)))
        a, b = pf.ravel()[1:], pp.ravel()[1:]
        spec_corr = float(np.corrcoef(a, b)[0, 1])
    return sharp, p_seen, p_unseen, amp, spec_corr


def _erode(m, r):
    import cv2

    if r <= 0:
        return m
    return cv2.erode(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0


def _dilate(m, r):
    import cv2

    return cv2.dilate(m.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default=IMAGE, help="a photo standing in for the clean plate")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--4k", dest="uhd", action="store_true", help="also time a 4096x2160 shot")
    ap.add_argument("--4k-only", dest="uhd_only", action="store_true", help="only the 4K timing")
    ap.add_argument(
        "--4k-frames",
        dest="uhd_frames",
        type=int,
        default=5,
        help="frames of the 4K shot (the grain measure, once per job, weighs 1/N on each)",
    )
    ap.add_argument("--keep", help="write the shots here (default: a temporary folder)")
    args = ap.parse_args()
    width = args.width
    height = int(round(width * 9 / 16))
    root = args.keep or tempfile.mkdtemp(prefix="fidelity_bench_")
    src = footage(args.image, width, height)
    print(f"shot {width}x{height}, {FRAMES} frames, oracle engine; folder {root}")
    print(
        f"{'case':<8} {'finish':<7} {'sharp':>6} {'psnr seen':>10} {'psnr unseen':>12} "
        f"{'grain amp':>12} {'grain spec':>11} {'cpu/frame':>10}"
    )
    for grain in () if args.uhd_only else (False, True):
        case = "grain" if grain else "clean"
        pats = make_case(os.path.join(root, case), src, width, height, grain)
        for detail_on, grain_on in ((False, False), (True, False), (True, True)):
            paths, cpu = run_case(pats, os.path.join(root, case), detail_on, grain_on)
            sharp, ps, pu, amp, corr = measure(pats, paths, width, height, grain)
            amp_s = f"{amp[0]:.2f}-{amp[1]:.2f}" if amp else "-"
            corr_s = f"{corr:.3f}" if corr is not None else "-"
            what = {(False, False): "off", (True, False): "detail", (True, True): "both"}
            print(
                f"{case:<8} {what[detail_on, grain_on]:<7} {sharp:>6.2f} {ps:>10.2f} "
                f"{pu:>12.2f} {amp_s:>12} {corr_s:>11} {cpu:>9.2f}s",
                flush=True,
            )
    if args.uhd or args.uhd_only:
        w4, h4 = 4096, 2160
        n = args.uhd_frames
        src4 = footage(args.image, w4, h4, frames=n)
        pats = make_case(os.path.join(root, "uhd"), src4, w4, h4, True, frames=n)
        for on in (False, True):
            _, cpu = run_case(pats, os.path.join(root, "uhd"), on, on, frames=n)
            print(
                f"4K (4096x2160, object {int(520 * w4 / 1280)} px tall, {n} frames) finish "
                f"{'on' if on else 'off'}: cpu/frame {cpu:.2f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
