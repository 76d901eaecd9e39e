"""Optical flow between neighbouring frames (OpenCV's DIS), on small grey frames.

DIS (dense inverse search) is the fast CPU flow: a few milliseconds a pair at a third of the
working size, precise to a fraction of a pixel on textured plates. Flow is measured at
``1 / step`` of the frame size and sampled back at full resolution (in full-resolution pixels)
only where the fill needs it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

#: Long side (pixels) of the grey frames the flow is measured on.
FLOW_SIZE = 336


def flow_step(height: int, width: int) -> int:
    """Downsampling factor that brings the long side near :data:`FLOW_SIZE`."""
    return max(1, int(round(max(height, width) / FLOW_SIZE)))


def grey_small(frames: np.ndarray, step: int) -> np.ndarray:
    """uint8 (F, h, w) grey frames, area-downsampled by ``step``."""
    f, h, w, _ = frames.shape
    hs, ws = h // step, w // step
    grey = frames[:, : hs * step, : ws * step] @ np.array([0.299, 0.587, 0.114], np.float32)
    if step > 1:
        grey = grey.reshape(f, hs, step, ws, step).mean(axis=(2, 4))
    return np.clip(grey * 255.0 + 0.5, 0, 255).astype(np.uint8)


def mask_small(mask: np.ndarray, step: int) -> np.ndarray:
    """bool (F, h, w): a small pixel is set when any full-resolution pixel under it is."""
    f, h, w = mask.shape
    hs, ws = h // step, w // step
    m = mask[:, : hs * step, : ws * step]
    if step > 1:
        m = m.reshape(f, hs, step, ws, step).any(axis=(2, 4))
    return m


def _dis() -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    dis.setUseSpatialPropagation(True)
    return dis


def _shift(img: np.ndarray, m: np.ndarray, interp: int) -> np.ndarray:
    """``img`` sampled at x + m: content that sat at x + m now sits at x (edges replicated)."""
    mat = np.array([[1.0, 0.0, m[0]], [0.0, 1.0, m[1]]], np.float32)
    flags = interp | cv2.WARP_INVERSE_MAP
    h, w = img.shape[:2]
    return cv2.warpAffine(img, mat, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def _paint(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    if not hole.any() or hole.all():
        return img
    return cv2.inpaint(img, hole.view(np.uint8), 3, cv2.INPAINT_TELEA)


def bulk_motion(a: np.ndarray, b: np.ndarray, far: np.ndarray, dis) -> np.ndarray:
    """(dx, dy) median flow from a to b over ``far`` pixels (well away from both holes)."""
    if far.mean() < 0.05:
        return np.zeros(2, np.float32)
    f = dis.calc(a, b, None)
    return np.median(f[far], axis=0).astype(np.float32)


def aligned_flow(a, b, hole_a, hole_b, m, dis) -> np.ndarray:
    """Flow a -> b measured with b first moved onto a by the bulk motion ``m``.

    Both frames get the same holes painted out (a rough Telea fill is enough): the object's own
    motion would otherwise leak into the background's flow for tens of pixels around it (DIS's
    coarse levels see it), and painting each frame's own hole leaves smooth patches that move
    with the object. Moving b onto a first makes the painted patch sit still on the background,
    so it does not drag the flow toward zero either.
    """
    bs = _shift(b, m, cv2.INTER_LINEAR)
    hs = _shift(hole_b.view(np.uint8), m, cv2.INTER_NEAREST).view(bool)
    hole = hole_a | hs
    return dis.calc(_paint(a, hole), _paint(bs, hole), None) + m


def pair_flows(
    grey: np.ndarray, holes: np.ndarray, far: np.ndarray, threads: int = 2, should_stop=None
) -> tuple[np.ndarray, np.ndarray]:
    """(forward, backward) float32 (F-1, h, w, 2) as (dx, dy) in small pixels.

    forward[t] carries a pixel of frame t to frame t+1; backward[t] a pixel of frame t+1 to t;
    ``holes[t]`` is frame t's hole (see :func:`aligned_flow`); ``far[t]`` the pixels of pair t
    far from both frames' holes, where the bulk motion is measured.
    ``should_stop()`` is polled once per pair; when it answers True the rest are left at zero.
    """
    n = grey.shape[0] - 1
    fwd = np.zeros((max(n, 0), *grey.shape[1:], 2), np.float32)
    bwd = np.zeros_like(fwd)

    def one(t: int, holder: dict) -> None:
        if should_stop is not None and should_stop():
            return
        dis = holder.setdefault("dis", _dis())
        a, b = grey[t], grey[t + 1]
        m = bulk_motion(a, b, far[t], dis)
        fwd[t] = aligned_flow(a, b, holes[t], holes[t + 1], m, dis)
        bwd[t] = aligned_flow(b, a, holes[t + 1], holes[t], -m, dis)

    if threads <= 1 or n < 4:
        holder: dict = {}
        for t in range(n):
            one(t, holder)
        return fwd, bwd
    # Each worker owns one DIS object (they keep state); OpenCV releases the GIL in calc().
    holders = [{} for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: [one(t, holders[i]) for t in range(i, n, threads)], range(threads)))
    return fwd, bwd


def sample_flow(flow: np.ndarray, ys: np.ndarray, xs: np.ndarray, step: int) -> np.ndarray:
    """Bilinear flow (N, 2) as (dy, dx) in full-resolution pixels at full-resolution (ys, xs)."""
    h, w = flow.shape[:2]
    fy = np.clip((ys + 0.5) / step - 0.5, 0, h - 1)
    fx = np.clip((xs + 0.5) / step - 0.5, 0, w - 1)
    y0 = np.minimum(fy.astype(np.int32), h - 2) if h > 1 else np.zeros(fy.shape, np.int32)
    x0 = np.minimum(fx.astype(np.int32), w - 2) if w > 1 else np.zeros(fx.shape, np.int32)
    ay = (fy - y0).astype(np.float32)[:, None]
    ax = (fx - x0).astype(np.float32)[:, None]
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    top = flow[y0, x0] * (1 - ax) + flow[y0, x1] * ax
    bot = flow[y1, x0] * (1 - ax) + flow[y1, x1] * ax
    v = (top * (1 - ay) + bot * ay) * float(step)
    return v[:, ::-1]  # OpenCV's (dx, dy) -> (dy, dx)
