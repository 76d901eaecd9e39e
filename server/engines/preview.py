"""Preview engine: a quick CPU fill for slap comps, no weights, numpy only.

Every pixel the quadmask does not keep (0, 63 and 127) is filled from the nearest frame in time
where the same piece of background is visible: the camera's motion between frames is estimated as
a global translation (phase correlation on downsampled grey frames, keep pixels only), the shifts
are chained so every frame can be sampled in the target frame's coordinates, and each hole pixel
takes the first candidate frame, nearest in time, that sees it as keep. Pixels that no frame ever
shows get a spatial fill: a push-pull pyramid with a few Jacobi sweeps per level, which solves
Laplace's equation in the hole (exact on smooth gradients, plausible elsewhere).

Not modelled: rotation, zoom, parallax, lighting changes; VOID is the engine for the final.
``params["static_camera"] = True`` skips the motion estimate (a locked-off shot).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from void_vfx.errors import Cancelled
from void_vfx.model_facts import QUAD_KEEP
from void_vfx.render.engine import Engine, Progress, ShouldCancel, WindowInput, WindowOutput

#: Long side of the grey frames used for motion estimation (pixels).
MOTION_SIZE = 336
#: Spread (cycles per pixel) of the Gaussian weighting of the phase-correlation spectrum.
LOWPASS = 0.06
#: Share of each side of the motion frames tapered to zero (Tukey window).
TAPER = 0.15
#: Whitening floor, as a fraction of the mean cross-spectrum magnitude: frequencies with almost
#: no energy carry window leakage and noise, not motion, and are damped instead of amplified.
WHITEN_FLOOR = 3.0
#: Measurements per frame pair when there are holes (each re-places the blanks).
MASK_PASSES = 2
#: Jacobi sweeps per pyramid level in the spatial fill.
SMOOTH_SWEEPS = 12


def _grey_small(frame: np.ndarray, keep: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-downsample a frame to grey, and its keep mask (all pixels of a box kept), by ``step``."""
    h, w = keep.shape
    hs, ws = h // step, w // step
    grey = frame[: hs * step, : ws * step] @ np.full(3, 1.0 / (3 * step * step), np.float32)
    g = np.zeros((hs, ws), np.float32)
    k = np.ones((hs, ws), bool)
    for i in range(step):
        for j in range(step):
            g += grey[i::step, j::step]
            k &= keep[i : hs * step : step, j : ws * step : step]
    return g, k.astype(np.float32)


def _prepare(grey: np.ndarray, keep: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Spectrum of a grey frame whose hole pixels are replaced by the keep mean, tapered."""
    wk = keep * window
    mean = float((grey * wk).sum() / max(wk.sum(), 1e-6))
    g = np.where(keep > 0, grey, mean) - mean
    return np.fft.rfft2(g * window)


def _taper(n: int, fraction: float = TAPER) -> np.ndarray:
    """Tukey window: flat in the middle, cosine edges over ``fraction`` of each side."""
    edge = max(1, int(n * fraction))
    w = np.ones(n, np.float32)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
    w[:edge], w[n - edge :] = ramp, ramp[::-1]
    return w


def _peak_offset(c_m: float, c_0: float, c_p: float) -> float:
    """Sub-pixel offset of a correlation peak from its two neighbours (parabola, clamped)."""
    den = c_m - 2.0 * c_0 + c_p
    if den >= 0:
        return 0.0
    return min(0.5, max(-0.5, float(0.5 * (c_m - c_p) / den)))


def _peak(corr: np.ndarray) -> np.ndarray:
    """Signed (dy, dx) of the highest value of a cyclic correlation, sub-pixel."""
    h, w = corr.shape
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
    dy = _peak_offset(corr[(iy - 1) % h, ix], corr[iy, ix], corr[(iy + 1) % h, ix])
    dx = _peak_offset(corr[iy, (ix - 1) % w], corr[iy, ix], corr[iy, (ix + 1) % w])
    py = iy - h if iy > h // 2 else iy
    px = ix - w if ix > w // 2 else ix
    return np.array([py + dy, px + dx], dtype=np.float64)


def phase_shift(
    spec_a: np.ndarray, spec_b: np.ndarray, shape: tuple[int, int], refine: int = 3
) -> np.ndarray:
    """(dy, dx) such that image b(y, x) ~ a(y - dy, x - dx): content moved by (dy, dx) from a to b.

    The parabola through a phase-correlation peak is biased toward whole pixels, except near a
    zero shift; so the found shift is removed from the cross spectrum (Fourier shift theorem) and
    the small remainder measured again, a few times.
    """
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    cross = spec_b * np.conj(spec_a)
    # Whitened (with a floor), then low-passed: fine detail carries resampling and noise.
    mag = np.abs(cross)
    cross *= np.exp(-(fy**2 + fx**2) / (2 * LOWPASS**2)) / (mag + WHITEN_FLOOR * mag.mean() + 1e-12)
    shift = _peak(np.fft.irfft2(cross, s=shape))
    for _ in range(refine):
        ramp = np.exp(2j * np.pi * (fy * shift[0] + fx * shift[1]))
        corr = np.fft.irfft2(cross * ramp, s=shape)
        rest = _peak(corr)
        if np.abs(rest).max() > 1.0:
            break  # a different peak won: keep the first estimate
        shift = shift + rest
        if np.abs(rest).max() < 0.01:
            break
    return shift


def _shift_mask(k: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Mask moved by the whole-pixel part of (dy, dx); uncovered border counts as keep."""
    dy, dx = (int(round(v)) for v in d)
    h, w = k.shape
    out = np.ones_like(k)
    ys, yd = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
    xs, xd = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
    out[yd, xd] = k[ys, xs]
    return out


def estimate_motion(frames: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Camera position per frame, (F, 2) as (y, x) in pixels, frame 0 at the origin.

    Content at world point P appears in frame t at P - pos[t]; consecutive shifts are chained.
    Each pair is measured with the union of both frames' holes blanked in both, the blanks of one
    frame moved into the other by the motion estimated so far (first the previous pair's), so
    that they sit on the same background and move with it. Blanking each frame's own hole
    instead would leave a patch that moves with the object and drags the estimate along. A pair
    in which either frame keeps under 5% of its pixels keeps the previous pair's motion.
    """
    f, h, w = keep.shape
    step = max(1, int(round(max(h, w) / MOTION_SIZE)))
    small = [_grey_small(frames[t], keep[t], step) for t in range(f)]
    shape = small[0][0].shape
    window = np.outer(_taper(shape[0]), _taper(shape[1]))
    pos = np.zeros((f, 2), dtype=np.float64)
    moved = np.zeros(2)
    for t in range(1, f):
        (ga, ka), (gb, kb) = small[t - 1], small[t]
        if min(ka.mean(), kb.mean()) < 0.05:
            pos[t] = pos[t - 1] - moved * step
            continue
        # The previous pair's motion places the blanks first: cameras move smoothly.
        for _ in range(MASK_PASSES if min(ka.min(), kb.min()) < 1.0 else 1):
            ka2 = ka * _shift_mask(kb, -moved)
            kb2 = kb * _shift_mask(ka, moved)
            moved = phase_shift(_prepare(ga, ka2, window), _prepare(gb, kb2, window), shape)
        pos[t] = pos[t - 1] - moved * step
    return pos


def _sample(
    frame: np.ndarray, keep: np.ndarray, ys: np.ndarray, xs: np.ndarray, dy: float, dx: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear colour at (ys + dy, xs + dx) for integer ys, xs, where all four taps are keep.

    Returns (indices into ys/xs that could be sampled, their colours). The shift is the same
    for every pixel, so the interpolation weights are four scalars.
    """
    h, w = keep.shape
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = np.float32(dy - iy), np.float32(dx - ix)
    y0, x0 = ys + iy, xs + ix
    idx = np.flatnonzero((y0 >= 0) & (x0 >= 0) & (y0 < h - 1) & (x0 < w - 1))
    y0, x0 = y0[idx], x0[idx]
    ok = keep[y0, x0] & keep[y0 + 1, x0] & keep[y0, x0 + 1] & keep[y0 + 1, x0 + 1]
    idx, y0, x0 = idx[ok], y0[ok], x0[ok]
    colour = (
        frame[y0, x0] * ((1 - fy) * (1 - fx))
        + frame[y0, x0 + 1] * ((1 - fy) * fx)
        + frame[y0 + 1, x0] * (fy * (1 - fx))
        + frame[y0 + 1, x0 + 1] * (fy * fx)
    )
    return idx, colour


def _order(t: int, f: int) -> list[int]:
    """Other frames, nearest in time first (later before earlier at equal distance)."""
    out = []
    for d in range(1, f):
        for s in (t + d, t - d):
            if 0 <= s < f:
                out.append(s)
    return out


def seen_anywhere(keep: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World map of places some frame keeps (shifts rounded), and the world coordinate of its
    pixel [0, 0]. Lets hole pixels that no frame shows skip the search through every frame."""
    f, h, w = keep.shape
    shifts = np.round(pos).astype(np.int64)
    origin = shifts.min(axis=0)
    span = shifts.max(axis=0) - origin
    seen = np.zeros((h + span[0], w + span[1]), bool)
    for s in range(f):
        y, x = shifts[s] - origin
        seen[y : y + h, x : x + w] |= keep[s]
    return seen, origin


def temporal_fill(
    frames: np.ndarray, keep: np.ndarray, pos: np.ndarray, t: int, seen=None
) -> np.ndarray:
    """Fill frame t's holes in place from the nearest frames that see the same background.

    Only keep pixels of other frames are read, so filling frames one after another in the same
    array is safe. ``seen`` is :func:`seen_anywhere`'s answer. Returns the mask of pixels no
    frame could fill.
    """
    missing = ~keep[t]
    ys, xs = np.nonzero(missing)
    if seen is not None and ys.size:
        world, origin = seen
        wy = ys + int(round(pos[t, 0])) - origin[0]
        wx = xs + int(round(pos[t, 1])) - origin[1]
        somewhere = world[wy, wx]
        ys, xs = ys[somewhere], xs[somewhere]
    for s in _order(t, len(frames)):
        if ys.size == 0:
            break
        dy, dx = pos[t] - pos[s]
        idx, colour = _sample(frames[s], keep[s], ys, xs, float(dy), float(dx))
        if idx.size:
            frames[t, ys[idx], xs[idx]] = colour
            missing[ys[idx], xs[idx]] = False
            rest = np.ones(ys.size, bool)
            rest[idx] = False
            ys, xs = ys[rest], xs[rest]
    return missing


def _down(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted 2x2 box reduction (odd sizes padded by edge)."""
    h, wd = w.shape
    if h % 2 or wd % 2:
        pad = ((0, h % 2), (0, wd % 2))
        v = np.pad(v, pad + ((0, 0),), mode="edge")
        w = np.pad(w, pad, mode="edge")
    h2, w2 = w.shape[0] // 2, w.shape[1] // 2
    vs = (v * w[..., None]).reshape(h2, 2, w2, 2, -1).sum(axis=(1, 3))
    ws = w.reshape(h2, 2, w2, 2).sum(axis=(1, 3))
    return vs / np.maximum(ws, 1e-6)[..., None], np.minimum(ws, 1.0)


def _up(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsample (pixel-centre aligned), cropped to ``shape``."""
    h, w = v.shape[:2]
    p = np.pad(v, ((1, 1), (1, 1), (0, 0)), mode="edge")
    # Each fine pixel sits a quarter of a coarse pixel from its nearest coarse centre.
    a, b = 0.75, 0.25
    rows = np.empty((2 * h, w + 2, v.shape[2]), v.dtype)
    rows[0::2] = a * p[1:-1] + b * p[:-2]
    rows[1::2] = a * p[1:-1] + b * p[2:]
    out = np.empty((2 * h, 2 * w, v.shape[2]), v.dtype)
    out[:, 0::2] = a * rows[:, 1:-1] + b * rows[:, :-2]
    out[:, 1::2] = a * rows[:, 1:-1] + b * rows[:, 2:]
    return out[: shape[0], : shape[1]]


def _smooth(v: np.ndarray, hole: np.ndarray, sweeps: int) -> np.ndarray:
    """Jacobi sweeps of Laplace's equation on hole pixels; others stay fixed."""
    if not hole.any():
        return v
    for _ in range(sweeps):
        p = np.pad(v, ((1, 1), (1, 1), (0, 0)), mode="edge")
        avg = 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
        v = np.where(hole[..., None], avg, v)
    return v


def spatial_fill(image: np.ndarray, hole: np.ndarray, sweeps: int = SMOOTH_SWEEPS) -> np.ndarray:
    """Fill ``hole`` pixels of ``image`` (H, W, 3) from their surroundings (push-pull + Laplace)."""
    if not hole.any():
        return image
    if hole.all():
        return np.full_like(image, 0.5)
    weight = (~hole).astype(np.float32)
    levels = [(image.astype(np.float32), weight)]
    while min(levels[-1][1].shape) > 2 and levels[-1][1].min() < 1.0:
        levels.append(_down(*levels[-1]))
    filled = levels[-1][0]
    for v, w in reversed(levels[:-1]):
        coarse = _up(filled, w.shape)
        filled = v * w[..., None] + coarse * (1.0 - w[..., None])
        filled = _smooth(filled, w < 1.0, sweeps)
    return filled.astype(image.dtype)


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Bounding box of a mask grown by ``margin``, clipped to the image."""
    ys = np.nonzero(mask.any(axis=1))[0]
    xs = np.nonzero(mask.any(axis=0))[0]
    h, w = mask.shape
    return (
        slice(max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin)),
        slice(max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin)),
    )


class PreviewEngine(Engine):
    """Temporal background propagation with global motion compensation, then spatial fill."""

    name = "preview"

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device": "cpu",
            "weights": "none needed",
            "loaded": True,
            "motion": "global translation (phase correlation)",
        }

    def run(
        self, window: WindowInput, progress: Progress, should_cancel: ShouldCancel
    ) -> WindowOutput:
        window.check()
        # Our own copy, filled in place: keep pixels are never written.
        frames = window.frames.copy()
        if frames.min() < 0.0 or frames.max() > 1.0:
            np.clip(frames, 0.0, 1.0, out=frames)
        keep = window.quadmask == QUAD_KEEP
        n = frames.shape[0]
        if should_cancel():
            raise Cancelled("preview engine: cancelled before motion estimation")
        progress(0, n + 1, "estimating camera motion")
        static = bool(window.params.get("static_camera", False))
        pos = np.zeros((n, 2)) if static else estimate_motion(frames, keep)
        progress(1, n + 1, "camera motion estimated")
        seen = seen_anywhere(keep, pos)
        for t in range(n):
            if should_cancel():
                raise Cancelled(f"preview engine: cancelled at window frame {t + 1} of {n}")
            missing = temporal_fill(frames, keep, pos, t, seen)
            if missing.any():
                ys, xs = _bbox(missing, 24)
                frames[t, ys, xs] = spatial_fill(frames[t, ys, xs], missing[ys, xs])
            if t + 1 < n:
                progress(t + 2, n + 1, f"filled frame {t + 1} of {n}")
        progress(n + 1, n + 1, f"filled {n} frames")
        return WindowOutput(frames=frames)
