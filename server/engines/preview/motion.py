"""Global camera translation per frame (phase correlation on downsampled grey frames).

The flow-guided fill needs a motion where a frame holds almost nothing but hole (no border to
complete the flow from): there the whole frame's shift relative to its neighbours is the best
guess. Rotation, zoom and parallax are the optical flow's job (:mod:`.flow`).
"""

from __future__ import annotations

import numpy as np

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
