"""The plate's grain, measured where the plate is kept and made again for the filled region.

Measurement works on square blocks of the plate outside the mask: each block's mean plane is
removed and the flattest blocks of each intensity band (texture only adds variance) give, per
channel, the grain's variance as a function of intensity; their periodograms give its spatial
power spectrum, and their residuals the correlation between channels. Film grain (a broad,
intensity-dependent blob) and digital noise (near white, often correlated across channels after
demosaicing) are both described this way.

Synthesis draws white noise from a generator seeded by the job's seed and the frame (the same
job gives the same bits), mixes it across channels by the measured correlation, shapes it with
a kernel made from the measured spectrum and scales it per pixel by the amplitude the plate
has at that pixel's intensity.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import cv2
import numpy as np

#: Side of a measurement block (a 32-point periodogram resolves grain a few pixels wide).
BLOCK = 32
#: Intensity bands the amplitude is measured in (fewer where the plate has few flat blocks).
BANDS = 8
#: The share of each band's blocks, the flattest, taken as grain alone.
FLAT_SHARE = 0.3
#: Fewest blocks a band needs to be measured, and the fewest for a model at all.
MIN_BAND_BLOCKS = 4
#: A block is grain where its change to the next frame holds at least this share of its own
#: variance (pure grain: 1.4-2, the warp's interpolation smoothing the next frame's grain).
TEMPORAL_SHARE = 1.2
#: Blocks looked at in all (evenly spread), which bounds the cost on a 4K plate.
MAX_BLOCKS = 4000
#: Blocks whose periodograms are averaged into the spectrum at most (evenly spread).
SPECTRUM_BLOCKS = 768
#: Luma weights (Rec. 709), for the grey the flow is found on.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
#: Largest kernel side the spectrum is shaped with (grain is rarely correlated further).
MAX_KERNEL = 15


@dataclass(frozen=True)
class GrainModel:
    """A plate's grain: per channel, ``levels[c]`` (B_c,) band intensities of that channel and
    ``sigma[c]`` (B_c,) the grain's standard deviation there; ``spectrum`` (3, BLOCK, BLOCK)
    each channel's power spectrum (unshifted FFT layout, summing to 1), ``corr`` (3, 3) the
    correlation of the channels, ``blocks`` how many blocks it was measured on."""

    levels: tuple[np.ndarray, np.ndarray, np.ndarray]
    sigma: tuple[np.ndarray, np.ndarray, np.ndarray]
    spectrum: np.ndarray
    corr: np.ndarray
    blocks: int

    def sigma_at(self, values: np.ndarray) -> np.ndarray:
        """(..., 3) grain standard deviation at each pixel's (..., 3) values (each channel by
        its own intensity: a clipped or empty channel has no grain; held flat past the ends)."""
        out = np.empty(values.shape, np.float32)
        for c in range(3):
            out[..., c] = np.interp(values[..., c], self.levels[c], self.sigma[c])
        return out

    def high_share(self, sigma_px: float) -> np.ndarray:
        """(3,) share of each channel's grain power above a Gaussian low pass of ``sigma_px``
        (the part a band split hands on with the detail)."""
        f = np.fft.fftfreq(BLOCK)
        f2 = f[:, None] ** 2 + f[None, :] ** 2
        keep = (1.0 - np.exp(-2.0 * np.pi**2 * sigma_px**2 * f2)) ** 2
        return (self.spectrum * keep).sum(axis=(1, 2)).astype(np.float32)


def _plane_basis(n: int) -> np.ndarray:
    """(n*n, 3) orthonormal basis of a block's planes a + b x + c y."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    design = np.stack([np.ones(n * n), xx.ravel() - n / 2, yy.ravel() - n / 2], axis=1)
    q, _ = np.linalg.qr(design)
    return q.astype(np.float32)


_PLANES = _plane_basis(BLOCK)


def _candidate_blocks(keep: np.ndarray, most: int = 0) -> np.ndarray:
    """(N, 2) top-left corners (y, x) of the blocks lying wholly in ``keep``, at most ``most``
    (MAX_BLOCKS) of them, evenly spread."""
    most = most or MAX_BLOCKS
    h, w = keep.shape
    by, bx = h // BLOCK, w // BLOCK
    if by == 0 or bx == 0:
        return np.zeros((0, 2), int)
    grid = keep[: by * BLOCK, : bx * BLOCK].reshape(by, BLOCK, bx, BLOCK).all(axis=(1, 3))
    ys, xs = np.nonzero(grid)
    corners = np.stack([ys * BLOCK, xs * BLOCK], axis=1)
    if len(corners) > most:
        corners = corners[np.linspace(0, len(corners) - 1, most).round().astype(int)]
    return corners


def measure(rgb: np.ndarray, keep: np.ndarray, change: np.ndarray | None = None):
    """The grain of ``rgb`` (H, W, 3; float or half, the plate's values) over the pixels where
    ``keep`` (H, W) is True; None when too few whole blocks lie there to tell. ``change``: the
    next frame warped onto this one minus this one (see :func:`measure_blocks`)."""
    return measure_blocks(*sample_blocks(rgb, keep, change=change))


def sample_blocks(rgb, keep, most: int = 0, change=None):
    """Copies of up to ``most`` (MAX_BLOCKS) blocks of ``rgb`` lying wholly where ``keep``, and
    of ``change`` there (or None); several frames' samples may be pooled for
    :func:`measure_blocks`."""
    corners = _candidate_blocks(keep, most)
    take = [np.array(rgb[y : y + BLOCK, x : x + BLOCK], np.float32) for y, x in corners]
    if change is None:
        return take, None
    return take, [np.array(change[y : y + BLOCK, x : x + BLOCK], np.float32) for y, x in corners]


def measure_blocks(parts: list[np.ndarray], changes: list[np.ndarray] | None = None):
    """The grain model of sampled blocks (:func:`sample_blocks`); None with too few.

    ``changes``: each block's change to the next frame, motion compensated. Grain is new in
    every frame and texture is not, so the change holds about twice a block's grain variance
    but little of its texture: blocks where it holds less than TEMPORAL_SHARE of their own
    variance are texture, not grain, and are left out (a textured plate without grain then
    measures none). Without it, the flattest blocks are taken as grain.
    """
    if len(parts) < MIN_BAND_BLOCKS:
        return None
    blocks = np.stack(parts)
    n = len(blocks)
    means = blocks.mean(axis=(1, 2))  # (n, 3)
    flat = blocks.reshape(n, BLOCK * BLOCK, 3)
    resid = flat - np.matmul(_PLANES, np.matmul(_PLANES.T, flat))  # batched: BLAS
    var = (resid**2).sum(axis=1) / (BLOCK * BLOCK - 3)  # (n, 3)
    grainy = np.ones((n, 3), bool)
    estimate = var
    ch = None
    if changes is not None:
        ch = np.stack(changes).reshape(n, BLOCK, BLOCK, 3)
        tvar = ch.reshape(n, -1, 3).var(axis=1)
        grainy = tvar >= TEMPORAL_SHARE * var
        # Where texture hides the grain, half the change is the grain (a little less where the
        # warp's interpolation smooths the next frame's).
        estimate = np.where(grainy, var, np.minimum(var, tvar / 2))
    bands = max(1, min(BANDS, n // (2 * MIN_BAND_BLOCKS)))
    picked_sets, from_change, levels, variances, flats = [], [], [], [], []
    for c in range(3):  # each channel banded by its own intensity
        edges = np.quantile(means[:, c], np.linspace(0.0, 1.0, bands + 1))
        which = np.clip(np.searchsorted(edges, means[:, c], side="right") - 1, 0, bands - 1)
        lv, vv, ff = [], [], []
        for b in range(bands):
            band = which == b
            idx = np.flatnonzero(band & grainy[:, c])
            if len(idx) < MIN_BAND_BLOCKS:  # texture everywhere: the changes tell
                idx = np.flatnonzero(band)
                if len(idx) < MIN_BAND_BLOCKS or ch is None:
                    continue
                from_change.append(idx)
            else:
                take = max(MIN_BAND_BLOCKS // 2, int(round(len(idx) * FLAT_SHARE)))
                idx = idx[np.argsort(var[idx, c])[:take]]
                picked_sets.append(idx)
            lv.append(float(np.median(means[idx, c])))
            vv.append(float(np.median(estimate[idx, c])))
            ff.append(len(from_change) == 0 or from_change[-1] is not idx)
        if not lv:
            return None
        order = np.argsort(lv)
        levels.append(np.asarray(lv, np.float64)[order])
        variances.append(np.asarray(vv, np.float64)[order])
        flats.append(np.asarray(ff, bool)[order])
    if picked_sets:
        picked = np.unique(np.concatenate(picked_sets))
        res = resid[picked].reshape(len(picked), BLOCK, BLOCK, 3)
    else:  # the spectrum of the changes: the grain of two frames, one warped
        picked = np.unique(np.concatenate(from_change))
        res = ch[picked] - ch[picked].mean(axis=(1, 2), keepdims=True)
    if len(picked) > SPECTRUM_BLOCKS:  # an average of this many periodograms is smooth enough
        res = res[np.linspace(0, len(res) - 1, SPECTRUM_BLOCKS).round().astype(int)]
    # A Hann window keeps the blocks' edges from leaking power into the high frequencies (a
    # film grain's spectrum falls steeply).
    hann = np.hanning(BLOCK + 2)[1:-1].astype(np.float32)
    win = (hann[:, None] * hann[None, :])[None, :, :, None]
    power = (np.abs(np.fft.fft2(res * win, axes=(1, 2))) ** 2).mean(axis=0)  # (B, B, 3)
    power = np.moveaxis(power, -1, 0).astype(np.float64)
    power[:, 0, 0] = 0.0
    total = power.sum(axis=(1, 2), keepdims=True)
    spectrum = np.where(total > 0, power / np.maximum(total, 1e-30), 1.0 / (BLOCK * BLOCK - 1))
    spectrum[:, 0, 0] = 0.0
    # The median of the flattest share of a band (not of a band the changes tell) is a low quantile
    # of the variance estimates of pure grain: undo that bias from the estimates' spread, which the
    # spectrum gives.
    rel_spread = np.sqrt((spectrum**2).sum(axis=(1, 2)))  # relative std of a block's variance
    z = NormalDist().inv_cdf(FLAT_SHARE / 2)
    scale = 1.0 / np.maximum(1.0 + z * rel_spread, 0.5)
    sigma = tuple(
        np.sqrt(np.maximum(variances[c] * np.where(flats[c], scale[c], 1.0), 0.0)) for c in range(3)
    )
    flat_res = res.reshape(-1, 3).astype(np.float64)
    cov = flat_res.T @ flat_res / max(len(flat_res) - 1, 1)
    d = np.sqrt(np.maximum(np.diag(cov), 1e-30))
    corr = np.clip(cov / np.outer(d, d), -1.0, 1.0)
    return GrainModel(
        tuple(levels), sigma, spectrum.astype(np.float32), corr.astype(np.float32), len(picked)
    )


def shaping_kernel(spectrum: np.ndarray) -> np.ndarray:
    """A zero-phase kernel (odd side, at most MAX_KERNEL) whose response is the square root of
    ``spectrum`` (one channel's), scaled so that white noise of unit variance comes out with
    unit variance."""
    k = np.real(np.fft.ifft2(np.sqrt(np.maximum(spectrum, 0.0))))
    k = np.fft.fftshift(k)
    c = BLOCK // 2
    r = MAX_KERNEL // 2
    k = k[c - r : c + r + 1, c - r : c + r + 1]
    k = k / np.sqrt(max(float((k**2).sum()), 1e-30))
    return k.astype(np.float32)


def rng_for(seed: int, frame: int) -> np.random.Generator:
    """The generator of one frame's grain: the job's seed and the frame number fix it."""
    return np.random.default_rng([int(seed) & (2**64 - 1), int(frame) & (2**64 - 1), 0x67726E])


def separable_terms(kernel: np.ndarray, keep: float = 0.995, most: int = 3):
    """``kernel`` as a sum of at most ``most`` separable terms (column, row) pairs holding
    ``keep`` of its energy (a film grain's round blob needs 2-3), rescaled so that their sum
    keeps the kernel's unit noise gain: 2-3 pairs of 1-D passes instead of a 2-D one."""
    u, s, vt = np.linalg.svd(kernel.astype(np.float64))
    energy = np.cumsum(s * s) / max(float((s * s).sum()), 1e-30)
    n = min(most, int(np.searchsorted(energy, keep)) + 1)
    norm = 1.0 / np.sqrt(max(float((s[:n] ** 2).sum()), 1e-30))
    return [
        ((u[:, i] * s[i] * norm).astype(np.float32), vt[i].astype(np.float32)) for i in range(n)
    ]


def filters(model: GrainModel):
    """The channel mix (3, 3) lower triangular, and each channel's separable shaping terms."""
    try:
        chol = np.linalg.cholesky(model.corr.astype(np.float64) + 1e-6 * np.eye(3))
    except np.linalg.LinAlgError:
        chol = np.eye(3)
    terms = [separable_terms(shaping_kernel(model.spectrum[c])) for c in range(3)]
    return chol.astype(np.float32), terms


def white_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(3, H, W) float32 unit white noise: OpenCV's generator (4x numpy's speed on a 4K region)
    seeded from ``rng``; it is the calling thread's own, so the same job seed and frame give
    the same bits on any thread."""
    white = np.empty((3 * h, w), np.float32)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(white, 0.0, 1.0)
    return white.reshape(3, h, w)


#: The degrain's window is 2 x this + 1 pixels wide (9: under heavy grain 0.2 dB better than 5).
DEGRAIN_RADIUS = 4
#: Rows of white noise beyond a band that its shaping reaches.
HALO = MAX_KERNEL // 2


def shaped(filt, white: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows ``a:b`` (b-a, W, 3) of unit grain made from ``white`` (3, H, W) by ``filt``
    (:func:`filters`): the same pixels whichever bands the rows are made in."""
    chol, terms = filt
    h = white.shape[1]
    ga, gb = max(0, a - HALO), min(h, b + HALO)
    planes = []
    for c in range(3):
        mixed = cv2.multiply(white[0, ga:gb], float(chol[c, 0]))
        for j in range(1, c + 1):  # lower triangular
            mixed = cv2.scaleAdd(white[j, ga:gb], float(chol[c, j]), mixed)
        out = None
        for col, row in terms[c]:
            part = cv2.sepFilter2D(mixed, cv2.CV_32F, row, col, borderType=cv2.BORDER_REFLECT)
            out = part if out is None else cv2.add(out, part)
        planes.append(out[a - ga : b - ga])
    return cv2.merge(planes)


def amplitude(sigma: np.ndarray, present: np.ndarray | None) -> np.ndarray:
    """The grain amplitude to add where ``present`` (or None) of ``sigma`` is there already."""
    sigma = np.ascontiguousarray(sigma, np.float32)
    if present is None:
        return sigma
    left = cv2.subtract(cv2.multiply(sigma, sigma), cv2.multiply(present, present))
    return cv2.sqrt(np.maximum(left, 0.0, out=left))


def synthesize(
    model: GrainModel,
    values: np.ndarray,
    rng: np.random.Generator,
    present=None,
    sigma: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W, 3) float32 grain matching ``model`` for pixels of intensities ``values``
    (H, W, 3); ``present`` (H, W, 3): grain standard deviation already there, made up to the
    plate's rather than added on top. ``sigma`` (H, W, 3): the amplitude wanted, where the
    caller has it already (``model.sigma_at(values)`` otherwise)."""
    h, w = values.shape[:2]
    grain = shaped(filters(model), white_noise(rng, h, w), 0, h)
    return cv2.multiply(
        grain, amplitude(model.sigma_at(values) if sigma is None else sigma, present)
    )


def degrain(detail: np.ndarray, noise_sigma: np.ndarray, radius: int = DEGRAIN_RADIUS):
    """``detail`` (H, W, 3) with the grain taken out by a local Wiener gain, and that gain:
    where its local power is no more than the grain's (``noise_sigma`` (H, W, 3) or (3,)), it
    goes; where real texture or an edge stands above the grain, it stays (and so does the
    grain there, in the gain's share)."""
    size = (2 * radius + 1, 2 * radius + 1)
    detail = np.ascontiguousarray(detail, np.float32)
    power = cv2.boxFilter(cv2.multiply(detail, detail), -1, size, borderType=cv2.BORDER_REFLECT)
    noise = np.asarray(noise_sigma, np.float32)
    noise = np.broadcast_to(noise * noise, detail.shape).astype(np.float32)
    np.maximum(power, 1e-12, out=power)
    gain = np.divide(noise, power, out=noise)
    np.subtract(1.0, gain, out=gain)
    np.maximum(gain, 0.0, out=gain)  # (at most 1: the power is not negative)
    return cv2.multiply(detail, gain), gain
