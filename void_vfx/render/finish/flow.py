"""Flow and resampling for the finish: DIS optical flow on band-limited grey, warps, the work
size (a fraction of the plate's) and back, and motion compensation for the grain measure."""

from __future__ import annotations

import cv2
import numpy as np

from void_vfx.render.finish.grain import LUMA

#: The smallest side DIS is given (OpenCV refuses smaller images and crashes on some).
MIN_FLOW_SIDE = 32


#: The grain measure's motion compensation finds the flow at about this many pixels across.
COMPENSATE_SIDE = 1024


def lowpass(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def gray(rgb: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """8-bit grey for the flow: luma, its range mapped to 0-255 through a square root (an even
    spread of codes over dark and bright for scene-linear and log plates alike)."""
    y = (rgb @ LUMA - lo) / max(hi - lo, 1e-6)
    return (np.sqrt(np.clip(y, 0.0, 1.0)) * 255.0 + 0.5).astype(np.uint8)


def dense_flow(
    a: np.ndarray, b: np.ndarray, step: int = 1, fast: bool = False
) -> np.ndarray | None:
    """DIS flow from ``a`` to ``b`` (8-bit grey), found at 1/``step`` of their size (they are
    blurred to the engine's band, so little is lost) and brought back to it; None for images
    too small for DIS (OpenCV refuses some and crashes on others)."""
    h, w = a.shape
    if min(h, w) < MIN_FLOW_SIDE:
        return None
    dis = cv2.DISOpticalFlow_create(
        cv2.DISOPTICAL_FLOW_PRESET_FAST if fast else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    )
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


def warp(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interp: int) -> np.ndarray:
    return cv2.remap(img, map_x, map_y, interp, borderMode=cv2.BORDER_REFLECT)


def shrink(img: np.ndarray, step: int) -> np.ndarray:
    """``img`` at 1/``step`` of its size (area average: no aliasing into the low band)."""
    if step <= 1:
        return img
    h, w = img.shape[:2]
    size = (max(1, -(-w // step)), max(1, -(-h // step)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def grow(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A :func:`shrink` result brought back to ``shape`` (H, W, ...) (bilinear)."""
    h, w = shape[:2]
    if img.shape[:2] == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def fill_in(flow: np.ndarray, known: np.ndarray) -> np.ndarray:
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


def luma(rgb: np.ndarray) -> np.ndarray:
    y = cv2.transform(np.ascontiguousarray(rgb, np.float32), LUMA[None, :])
    return y if y.ndim == 2 else y[..., 0]


def full_map(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32 remap coordinates at the plate's size from a work-size ``flow`` (in work
    pixels): the work grid's absolute coordinates brought back bilinearly (exact inside, where
    the grid is linear; the outermost pixels, which resizing clamps, carried on with slope 1)."""
    h, w = shape
    sh, sw = flow.shape[:2]
    if (sh, sw) == (h, w):
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return np.dstack([gx + flow[..., 0], gy + flow[..., 1]])
    rx, ry = w / sw, h / sh
    small = flow * np.array([rx, ry], np.float32)
    small[..., 0] += ((np.arange(sw) + 0.5) * rx - 0.5).astype(np.float32)[None, :]
    small[..., 1] += ((np.arange(sh) + 0.5) * ry - 0.5).astype(np.float32)[:, None]
    full = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    for axis, r, n in ((1, rx, w), (0, ry, h)):  # the clamped edge strips
        k = min(n // 2, int(np.ceil(0.5 * r - 0.5)))
        if k <= 0:
            continue
        ramp = np.arange(k, dtype=np.float32)
        c = 1 - axis
        if axis == 1:
            full[:, :k, c] = full[:, k : k + 1, c] - (k - ramp)[None, :]
            full[:, n - k :, c] = full[:, n - k - 1 : n - k, c] + (ramp + 1)[None, :]
        else:
            full[:k, :, c] = full[k : k + 1, :, c] - (k - ramp)[:, None]
            full[n - k :, :, c] = full[n - k - 1 : n - k, :, c] + (ramp + 1)[:, None]
    return full


def up_rows(small, shape, ratio, a: int, b: int, padded: bool = False) -> np.ndarray:
    """Rows ``a:b`` of work-size ``small`` brought to the plate's ``shape`` (H, W), ``ratio``
    plate pixels per work pixel (x, y), bilinear as :func:`grow` brings the whole; ``padded``:
    ``small`` has one pixel more on every side."""
    h, w = shape
    if ratio == (1.0, 1.0):
        return small[a + 1 : b + 1, 1:-1] if padded else small[a:b]
    rx, ry = ratio
    grid = np.empty((b - a, w, 2), np.float32)
    grid[..., 0] = ((np.arange(w) + 0.5) / rx - 0.5 + padded).astype(np.float32)[None, :]
    grid[..., 1] = ((np.arange(a, b) + 0.5) / ry - 0.5 + padded).astype(np.float32)[:, None]
    return cv2.remap(small, grid, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def padded_map(flow: np.ndarray, ratio: tuple[float, float]) -> np.ndarray:
    """(h+2, w+2, 2) plate coordinates each work pixel's flow reaches, one pixel of linear
    extrapolation around (bilinear from it is exact to the plate's edge)."""
    sh, sw = flow.shape[:2]
    rx, ry = ratio
    out = np.empty((sh + 2, sw + 2, 2), np.float32)
    inner = out[1:-1, 1:-1]
    inner[...] = flow * np.array([rx, ry], np.float32)
    inner[..., 0] += ((np.arange(sw) + 0.5) * rx - 0.5).astype(np.float32)[None, :]
    inner[..., 1] += ((np.arange(sh) + 0.5) * ry - 0.5).astype(np.float32)[:, None]
    out[1:-1, 0] = 2 * out[1:-1, 1] - out[1:-1, 2]
    out[1:-1, -1] = 2 * out[1:-1, -2] - out[1:-1, -3]
    out[0] = 2 * out[1] - out[2]
    out[-1] = 2 * out[-2] - out[-3]
    return out


def compensate(this: np.ndarray, other: np.ndarray, other_covered: np.ndarray):
    """``other`` (a neighbouring frame) warped onto ``this`` minus ``this``, (H, W, 3), and
    where that is not plate (H, W) bool: the other frame's mask, carried by the flow. The flow
    is found on both blurred (grain does not steer it), at about 1000 pixels across (a 4K
    plate: a quarter of its size)."""
    h, w = this.shape[:2]
    step = max(1, max(h, w) // COMPENSATE_SIDE)
    low_this = lowpass(shrink(this, step), max(0.5, 1.5 / step))
    low_other = lowpass(shrink(other, step), max(0.5, 1.5 / step))
    lo, hi = np.percentile(luma(low_this), (0.5, 99.5))
    flow = dense_flow(gray(low_this, float(lo), float(hi)), gray(low_other, float(lo), float(hi)))
    if flow is None:  # too small to tell motion: nothing is compared
        return np.zeros_like(this), np.ones((h, w), bool)
    where = full_map(flow, (h, w))
    warped = cv2.remap(other, where, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    covered = cv2.remap(other_covered.astype(np.uint8), where, None, cv2.INTER_NEAREST) > 0
    mx, my = where[..., 0], where[..., 1]
    outside = (mx < 0) | (mx > w - 1) | (my < 0) | (my > h - 1)
    return cv2.subtract(warped, np.ascontiguousarray(this, np.float32)), covered | outside
