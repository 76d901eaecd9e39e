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

from void_vfx.render.finish.grain import LUMA

#: Frame distances tried as sources, nearest first (both directions).
LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)
#: Other frames used at most per output frame.
MAX_SOURCES = 3
#: A frame that adds nothing new still joins (while places are free) if it sees this share.
MIN_AGAIN = 0.5
#: A source must reveal at least this share of the hole to be used.
MIN_GAIN = 0.01
#: Forward-backward flow disagreement allowed, in pixels (plus a share of the motion).
FB_PIXELS, FB_SHARE = 0.75, 0.05
#: Flow inside the hole may differ from the plate's around it by this much (pixels, share).
SMOOTH_PIXELS, SMOOTH_SHARE = 2.0, 0.25
#: The smallest side DIS is given (OpenCV refuses smaller images and crashes on some).
MIN_FLOW_SIDE = 32
#: Band split: the Gaussian low pass's sigma as a share of the engine's enlargement factor.
SIGMA_PER_SCALE = 0.65
#: The flow is found at 1/step of the plate's size, step = enlargement // this (4K: half size).
FLOW_STEP_PER_SCALE = 2.0
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


def lowpass(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


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


def _gray(rgb: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """8-bit grey for the flow: luma, its range mapped to 0-255 through a square root (an even
    spread of codes over dark and bright for scene-linear and log plates alike)."""
    y = (rgb @ LUMA - lo) / max(hi - lo, 1e-6)
    return (np.sqrt(np.clip(y, 0.0, 1.0)) * 255.0 + 0.5).astype(np.uint8)


def _flow(a: np.ndarray, b: np.ndarray, step: int = 1) -> np.ndarray | None:
    """DIS flow from ``a`` to ``b`` (8-bit grey), found at 1/``step`` of their size (they are
    blurred to the engine's band, so little is lost) and brought back to it; None for images
    too small for DIS (OpenCV refuses some and crashes on others)."""
    h, w = a.shape
    if min(h, w) < MIN_FLOW_SIDE:
        return None
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    step = max(1, min(step, min(h, w) // MIN_FLOW_SIDE))
    if step <= 1:
        return dis.calc(a, b, None)
    size = (w // step, h // step)
    small = dis.calc(
        cv2.resize(a, size, interpolation=cv2.INTER_AREA),
        cv2.resize(b, size, interpolation=cv2.INTER_AREA),
        None,
    )
    flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    flow[..., 0] *= w / size[0]
    flow[..., 1] *= h / size[1]
    return flow


def _warp(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interp: int) -> np.ndarray:
    return cv2.remap(img, map_x, map_y, interp, borderMode=cv2.BORDER_REFLECT)


def _fill_in(flow: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The flow of the plate around a hole carried smoothly into it (a normalised blur of the
    known flow at 1/8 size, its sigma a quarter of the region's smaller side)."""
    h, w = known.shape
    size = (max(4, w // 8), max(4, h // 8))
    weight = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    values = cv2.resize(flow * known[..., None], size, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, min(size) / 4)
    weight = cv2.GaussianBlur(weight, (0, 0), sigma) + 1e-6
    values = cv2.GaussianBlur(values, (0, 0), sigma) / weight[..., None]
    return cv2.resize(values, (w, h), interpolation=cv2.INTER_LINEAR)


def transfer(
    engine: np.ndarray,
    plate: np.ndarray,
    alpha: np.ndarray,
    sources: Sequence[Source],
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The plate-resolution high band (H, W, 3) the sources give over the region, its weight
    (H, W) in 0-1 (0 where no source sees the background), and the share (H, W) of one frame's
    grain the average of the sources carries.

    ``engine``: the engine's result enlarged to the region, in the plate's values; ``plate``:
    this frame's plate there; ``alpha``: the paste alpha (the engine's fill is 1 there).
    """
    h, w = alpha.shape
    sigma = band_sigma(scale)
    low_engine = lowpass(engine, sigma)
    a = alpha[..., None]
    comp = plate * (1.0 - a) + engine * a
    low_comp = lowpass(comp, sigma)
    lo, hi = np.percentile(low_comp @ LUMA, (0.5, 99.5))
    g_this = _gray(low_comp, float(lo), float(hi))
    reach = int(np.ceil(3.0 * sigma)) + 1  # the low pass spreads a masked object this far
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    acc = np.zeros((h, w, 3), np.float32)
    total = np.zeros((h, w), np.float32)
    squares = np.zeros((h, w), np.float32)
    luma_engine = low_engine @ LUMA
    around = alpha <= 0
    if around.sum() < 0.02 * around.size:
        around = None
    step = max(1, int(scale // FLOW_STEP_PER_SCALE))
    for src in sources:
        bad = cv2.dilate(src.covered.astype(np.uint8), kernel) > 0
        if src.flow:
            low_src = lowpass(src.rgb, sigma)
            g_src = _gray(low_src, float(lo), float(hi))
            fwd = _flow(g_this, g_src, step)
            back = _flow(g_src, g_this, step)
            if fwd is None or back is None:
                continue
            mx, my = gx + fwd[..., 0], gy + fwd[..., 1]
            ret = _warp(back, mx, my, cv2.INTER_LINEAR)
            miss = np.hypot(fwd[..., 0] + ret[..., 0], fwd[..., 1] + ret[..., 1])
            motion = np.hypot(fwd[..., 0], fwd[..., 1])
            inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            occluded = _warp(bad.astype(np.float32), mx, my, cv2.INTER_LINEAR) > 0
            valid = inside & ~occluded & (miss <= FB_PIXELS + FB_SHARE * motion)
            if around is not None:  # the background moves as the plate around the hole does
                bg = _fill_in(fwd, around & valid)
                off = np.hypot(fwd[..., 0] - bg[..., 0], fwd[..., 1] - bg[..., 1])
                valid &= off <= SMOOTH_PIXELS + SMOOTH_SHARE * np.hypot(bg[..., 0], bg[..., 1])
            warped = _warp(src.rgb, mx, my, cv2.INTER_CUBIC)
            low_warped = _warp(low_src, mx, my, cv2.INTER_LINEAR)
        else:
            valid = ~bad
            warped, low_warped = src.rgb, lowpass(src.rgb, sigma)
        if not valid.any():
            continue
        gain = (luma_engine + 1e-4) / (low_warped @ LUMA + 1e-4)
        gain = np.clip(np.nan_to_num(gain, nan=1.0), *GAIN_RANGE)
        high = (warped - lowpass(warped, sigma)) * gain[..., None]
        weight = cv2.erode(valid.astype(np.float32), np.ones((5, 5), np.uint8))
        weight = cv2.GaussianBlur(weight, (0, 0), 1.5) * valid
        acc += high * weight[..., None]
        total += weight
        squares += weight * weight
    detail = acc / np.maximum(total, 1e-6)[..., None]
    # Each source's grain is its own: averaging them leaves this share of one frame's.
    mixed = np.sqrt(squares) / np.maximum(total, 1e-6)
    return detail, np.minimum(total, 1.0), np.where(total > 0, mixed, 1.0)


def compensate(this: np.ndarray, other: np.ndarray, other_covered: np.ndarray):
    """``other`` (a neighbouring frame) warped onto ``this`` minus ``this``, (H, W, 3), and
    where that is not plate (H, W) bool: the other frame's mask, carried by the flow. The flow
    is found on both blurred (grain does not steer it), at half size on a large plate."""
    h, w = this.shape[:2]
    low_this, low_other = lowpass(this, 1.5), lowpass(other, 1.5)
    lo, hi = np.percentile(low_this @ LUMA, (0.5, 99.5))
    step = 2 if max(h, w) > 2000 else 1
    flow = _flow(
        _gray(low_this, float(lo), float(hi)), _gray(low_other, float(lo), float(hi)), step
    )
    if flow is None:  # too small to tell motion: nothing is compared
        return np.zeros_like(this), np.ones((h, w), bool)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    warped = _warp(other, mx, my, cv2.INTER_CUBIC)
    covered = _warp(other_covered.astype(np.uint8), mx, my, cv2.INTER_NEAREST) > 0
    outside = (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
    return warped - this, covered | outside


def apply_detail(engine: np.ndarray, detail: np.ndarray, weight: np.ndarray, scale: float):
    """The engine's low band with the sources' high band where they see the background, the
    engine's own high band elsewhere (a band split; weight blends the two)."""
    own_high = engine - lowpass(engine, band_sigma(scale))
    return engine + weight[..., None] * (detail - own_high)
