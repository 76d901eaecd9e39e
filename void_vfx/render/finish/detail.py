"""Detail from other frames: the plate's own fine detail, brought in by optical flow, as the high
band over the engine's result.

The engine works at a fraction of the plate's size, so its result, enlarged back, holds only the
low band. Where another frame of the shot sees the background behind the removed object (the
flow from this frame reaches a pixel that frame keeps, and the flow back returns to where it
started), that frame's pixels, warped into place, supply the high band; the low band stays the
engine's, so a shadow it removed or a scene it changed does not come back, and the detail is
scaled by the ratio of the two low bands (texture in a removed shadow is brightened with it).
Where no frame sees the background the engine's result is left as it is.

Flow is DIS (OpenCV) on both frames blurred to the engine's band, so that the engine's soft fill
in this frame matches the plate in the other one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from void_vfx.render.finish.flow import (
    dense_flow,
    fill_in,
    gray,
    lowpass,
    luma,
    padded_map,
    shrink,
    up_rows,
    warp,
)

#: Frame distances tried as sources, nearest first (both directions).
LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)
#: Other frames used at most per output frame.
MAX_SOURCES = 3
#: A frame that adds nothing new still joins (while places are free) if it sees this share.
MIN_AGAIN = 0.5
#: A source must reveal at least this share of the hole to be used.
MIN_GAIN = 0.01
#: Forward-backward flow disagreement allowed, in plate pixels (plus a share of the motion).
FB_PIXELS, FB_SHARE = 0.75, 0.05
#: Flow inside the hole may differ from the plate's around it by this much (plate pixels, share).
SMOOTH_PIXELS, SMOOTH_SHARE = 2.0, 0.25
#: Band split: the Gaussian low pass's sigma as a share of the engine's enlargement factor.
SIGMA_PER_SCALE = 0.65
#: The band-limited work is done at 1/step of the plate's size, step = enlargement // this.
WORK_PER_SCALE = 1.5
#: Below this enlargement the engine's result is as sharp as the plate: no transfer.
MIN_SCALE = 1.25
#: Detail gain limits (ratio of the engine's low band to the source's).
GAIN_RANGE = (0.25, 4.0)


@dataclass
class Source:
    """Another frame's plate over the region (H, W, 3) float32 and where it is not background
    (``covered``, (H, W) bool: its mask's non-keep pixels); ``flow`` False for this frame itself
    (no motion to find)."""

    rgb: np.ndarray
    covered: np.ndarray
    flow: bool = True


def band_sigma(scale: float) -> float:
    """The band split's low-pass sigma in plate pixels for an engine result enlarged ``scale``."""
    return SIGMA_PER_SCALE * scale


def choose_sources(
    frame: int,
    frames: Sequence[int],
    hole: np.ndarray,
    covered_in: Callable[[int], np.ndarray],
    max_sources: int = MAX_SOURCES,
) -> list[int]:
    """Up to ``max_sources`` frames of ``frames`` that together reveal most of ``hole`` (where
    their masks keep the pixels of this frame's hole, as if nothing moved: a cheap guess, the
    flow decides later), nearest first among equals; then, while places are free, frames that
    see most of it again."""
    present = set(frames)
    step = max(1, int(np.sqrt(hole.size / 65536)))  # score on at most ~256x256 samples
    h = hole[::step, ::step]
    total = int(h.sum())
    if total == 0:
        return []
    candidates = [frame + s * d for d in LADDER for s in (-1, 1) if frame + s * d in present]
    reveal = {k: h & ~covered_in(k)[::step, ::step] for k in candidates}
    chosen: list[int] = []
    seen = np.zeros_like(h)
    for _ in range(max_sources):
        best, gain = None, 0
        for k in candidates:
            if k in chosen:
                continue
            g = int((reveal[k] & ~seen).sum())
            if g > gain:
                best, gain = k, g
        if best is None or gain < MIN_GAIN * total:
            break
        chosen.append(best)
        seen |= reveal[best]
    # Spare places go to frames that see most of the hole again: their average carries less
    # grain, so less of the real detail goes with it when the grain is taken out.
    spare = sorted(
        (k for k in candidates if k not in chosen and reveal[k].sum() >= MIN_AGAIN * total),
        key=lambda k: (-int(reveal[k].sum()), abs(k - frame)),
    )
    return chosen + spare[: max(0, max_sources - len(chosen))]


def work_step(scale: float) -> int:
    """How much smaller than the plate the band-limited work (flow, checks, gains, weights) is
    done for an engine result enlarged ``scale``: its low band holds nothing finer, so only the
    plate's own high band needs every pixel (4K, 5.6x: a third of the size)."""
    return max(1, int(scale / WORK_PER_SCALE))


def _source_weight(
    src: Source,
    small: np.ndarray,
    g_this: np.ndarray,
    luma_engine: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    around: np.ndarray | None,
    sigma: float,
    reach: int,
    range_: tuple[float, float],
    step: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray] | None:
    """At the work size: where ``src`` sees the background (a smooth weight, 0 elsewhere), the
    flow onto it (None for this frame itself), the detail gain and the source's low band (in
    its own place); None where it sees none."""
    h, w = g_this.shape
    covered = shrink(src.covered.astype(np.float32), step) > 0  # any of its pixels covered
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    bad = cv2.dilate(covered.astype(np.uint8), kernel) > 0
    low_src = lowpass(small, sigma)
    fwd = None
    if src.flow:
        g_src = gray(low_src, *range_)
        fwd, back = dense_flow(g_this, g_src), dense_flow(g_src, g_this)
        if fwd is None or back is None:
            return None
        mx, my = grid[0] + fwd[..., 0], grid[1] + fwd[..., 1]
        ret = warp(back, mx, my, cv2.INTER_LINEAR)
        miss = np.hypot(fwd[..., 0] + ret[..., 0], fwd[..., 1] + ret[..., 1])
        motion = np.hypot(fwd[..., 0], fwd[..., 1])
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        occluded = warp(bad.astype(np.float32), mx, my, cv2.INTER_LINEAR) > 0
        # (the tolerances are in plate pixels: a work pixel is ``step`` of them)
        valid = inside & ~occluded & (miss <= FB_PIXELS / step + FB_SHARE * motion)
        if around is not None:  # the background moves as the plate around the hole does
            bg = fill_in(fwd, around & valid)
            off = np.hypot(fwd[..., 0] - bg[..., 0], fwd[..., 1] - bg[..., 1])
            valid &= off <= SMOOTH_PIXELS / step + SMOOTH_SHARE * np.hypot(bg[..., 0], bg[..., 1])
        low_seen = warp(low_src, mx, my, cv2.INTER_LINEAR)
    else:
        valid, low_seen = ~bad, low_src
    if not valid.any():
        return None
    gain = (luma_engine + 1e-4) / (luma(low_seen) + 1e-4)
    gain = np.clip(np.nan_to_num(gain, nan=1.0), *GAIN_RANGE)
    # 2 plate pixels (at least one work pixel) in from where it stops seeing, softened; at a
    # smaller work size held inside that too (bringing it back spreads it a work pixel).
    side = 2 * max(1, -(-2 // step)) + 1
    eroded = cv2.erode(valid.astype(np.float32), np.ones((side, side), np.uint8))
    weight = cv2.GaussianBlur(eroded, (0, 0), max(0.5, 1.5 / step))
    return weight * (valid if step == 1 else eroded), fwd, gain, low_src


@dataclass
class _Warped:
    """One source ready for the full-size pass: its plate-size pixels, its low band at the work
    size, its weight x gain at the work size and its flow as plate coordinates at the work
    size, padded by one pixel (None for this frame itself)."""

    rgb: np.ndarray
    low: np.ndarray
    coef: np.ndarray
    where: np.ndarray | None
    high: np.ndarray | None = None  # its high band at the plate's size, made on the first band


@dataclass
class Plan:
    """What :func:`plan` finds at the work size, for :func:`strip` to apply at the plate's size
    a band of rows at a time (each band's arrays stay in the processor's cache)."""

    shape: tuple[int, int]
    ratio: tuple[float, float]  # plate pixels per work pixel, x and y
    low_engine: np.ndarray  # (h, w, 3) the engine's low band
    sources: list[_Warped]
    total: np.ndarray  # (h, w) the sources' summed weight
    mixed: np.ndarray  # (h, w) the share of one frame's grain their average carries
    sigma: float = 0.0  # the band split's low pass at the plate's size
    engine_high: np.ndarray | None = None  # the engine's own high band at the plate's size

    def up(self, small: np.ndarray, a: int, b: int, padded: bool = False) -> np.ndarray:
        return up_rows(small, self.shape, self.ratio, a, b, padded)


def plan(
    engine: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    sources: Sequence[Source],
    scale: float,
) -> Plan:
    """Everything the band-limited part of the transfer needs, found at the work size
    (:func:`work_step`): flow, checks, gains, weights. Arguments as :func:`transfer`'s."""
    h, w = alpha.shape
    step = work_step(scale)
    s_sigma = band_sigma(scale) / step
    engine_s, plate_s, alpha_s = shrink(engine, step), shrink(plate, step), shrink(alpha, step)
    sh, sw = alpha_s.shape
    ratio = (w / sw, h / sh)
    low_engine = lowpass(engine_s, s_sigma)
    luma_engine = luma(low_engine)
    a = alpha_s[..., None]
    low_comp = lowpass(plate_s * (1.0 - a) + engine_s * a, s_sigma)
    lo, hi = np.percentile(luma(low_comp), (0.5, 99.5))
    range_ = (float(lo), float(hi))
    g_this = gray(low_comp, *range_)
    reach = int(np.ceil(3.0 * s_sigma)) + 1  # the low pass spreads a masked object this far
    grid = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
    around = alpha_s <= 0
    if around.sum() < 0.02 * around.size:
        around = None
    total = np.zeros((sh, sw), np.float32)
    squares = np.zeros((sh, sw), np.float32)
    warped: list[_Warped] = []
    for src in sources:
        small = plate_s if src.rgb is plate else shrink(src.rgb, step)
        got = _source_weight(
            src, small, g_this, luma_engine, grid, around, s_sigma, reach, range_, step
        )
        if got is None:
            continue
        weight, fwd, gain, low_src = got
        total += weight
        squares += weight * weight
        where = None if fwd is None else padded_map(fwd, ratio)
        warped.append(_Warped(src.rgb, low_src, (weight * gain).astype(np.float32), where))
    # Each source's grain is its own: averaging them leaves this share of one frame's.
    mixed = np.where(total > 0, np.sqrt(squares) / np.maximum(total, 1e-6), 1.0)
    return Plan(
        (h, w), ratio, low_engine, warped, total, mixed.astype(np.float32), band_sigma(scale)
    )


def strip(p: Plan, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``a:b`` of the transfer's high band, weight and grain share (see :func:`transfer`):
    each source's high band warped (cubic), weighted."""
    h, w = p.shape
    acc = np.zeros((b - a, w, 3), np.float32)
    for src in p.sources:
        if src.where is None:
            if src.high is None:
                src.high = high_band(src.rgb, p.sigma)
            high = src.high[a:b]
        else:
            if src.high is None:  # its high band, made once (the flow reaches any row)
                src.high = high_band(src.rgb, p.sigma)
            where = p.up(src.where, a, b, padded=True)
            high = cv2.remap(src.high, where, None, cv2.INTER_CUBIC, borderMode=_REFLECT)
        coef = p.up(src.coef, a, b)
        acc += cv2.multiply(high, cv2.merge([coef, coef, coef]))
    total = p.up(p.total, a, b)
    detail = cv2.divide(acc, cv2.merge([np.maximum(total, 1e-6)] * 3))
    return detail, np.minimum(total, 1.0), p.up(p.mixed, a, b)


_REFLECT = cv2.BORDER_REFLECT

#: Rows of the plate-size pass at a time (a 4K region's band of arrays fits the cache).
STRIP_ROWS = 48


def transfer(
    engine: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    sources: Sequence[Source],
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plate-resolution high band (H, W, 3) the sources give over the region, its weight
    (H, W) in 0-1 (0 where no source sees the background), and the share (H, W) of one frame's
    grain the average of the sources carries.

    ``engine``: the engine's result enlarged to the region, in the plate's values; ``plate``:
    this frame's plate there; ``alpha``: the paste alpha (the engine's fill is 1 there). Flow,
    checks, gains and weights are found at the work size (:func:`plan`); only each source's
    pixels are warped at full size (:func:`strip`).
    """
    p = plan(engine, plate, alpha, sources, scale)
    h = alpha.shape[0]
    parts = [strip(p, a, min(h, a + STRIP_ROWS)) for a in range(0, h, STRIP_ROWS)]
    if not parts:
        w = alpha.shape[1]
        return np.zeros((0, w, 3), np.float32), np.zeros((0, w), np.float32), np.ones((0, w))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def high_band(img: np.ndarray, sigma: float) -> np.ndarray:
    """``img`` less its Gaussian low pass: the band split is made at the plate's size (split at
    the work size, the plate's grain leaks into the band below and passes the degrain)."""
    img = np.ascontiguousarray(img, np.float32)
    return cv2.subtract(img, lowpass(img, sigma))


def apply_detail(engine: np.ndarray, detail: np.ndarray, weight: np.ndarray, scale: float):
    """The engine's low band with the sources' high band where they see the background, the
    engine's own high band elsewhere (a band split; weight blends the two)."""
    own_high = high_band(engine, band_sigma(scale))
    diff = cv2.subtract(np.ascontiguousarray(detail, np.float32), own_high)
    return cv2.add(engine, cv2.multiply(diff, cv2.merge([weight.astype(np.float32)] * 3)))
