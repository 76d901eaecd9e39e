"""Optical flow between neighbouring frames (OpenCV's DIS), on small grey frames, near the holes.

DIS (dense inverse search) is the fast CPU flow: about a millisecond for a hole's box,
precise to a fraction of a pixel on textured plates. Flow is measured at ``1 / step`` of the frame
size, only on a box around the pair's holes (:data:`BOX_MARGIN` beyond them: the fill reads flow
only there), and sampled back at full resolution (in full-resolution pixels) where the fill needs
it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from .membrane import membrane_fill

#: Long side (pixels) of the grey frames the flow is measured on: the working size itself. Measured
#: on the bench's real clips, half size loses 1-3 dB on the worst frames (water moves in detail),
#: and on the holes' boxes alone full size costs little.
FLOW_SIZE = 672
#: Small pixels measured beyond a pair's holes: room for the motion, for DIS's coarse levels and
#: for the far pixels (past :data:`NEAR`) that give the bulk motion.
BOX_MARGIN = 32
#: Small pixels around the holes that count as near them: their flow is rebuilt (see
#: :mod:`.flow_fill`) and the bulk motion is measured beyond them. Wider throws away measured flow
#: for a guess (12 cost 1-3 dB on the bench's water).
NEAR = 6


@dataclass
class PairFlow:
    """Flows of one frame pair on a box of the small grid, origin (y0, x0) in small pixels.

    ``fwd`` (h, w, 2) as (dx, dy) carries a pixel of frame t to t+1; ``bwd`` one of t+1 to t.
    """

    fwd: np.ndarray
    bwd: np.ndarray
    y0: int = 0
    x0: int = 0
    measured: bool = False

    @classmethod
    def still(cls) -> PairFlow:
        """No motion anywhere (a box of one pixel: sampling replicates it)."""
        zero = np.zeros((1, 1, 2), np.float32)
        return cls(zero, zero.copy())


def flow_step(height: int, width: int) -> int:
    """Downsampling factor that brings the long side near :data:`FLOW_SIZE`."""
    return max(1, int(round(max(height, width) / FLOW_SIZE)))


def grey_small(frames: np.ndarray, step: int) -> np.ndarray:
    """uint8 (F, h, w) grey frames, area-downsampled by ``step``."""
    f, h, w, _ = frames.shape
    hs, ws = h // step, w // step
    out = np.empty((f, hs, ws), np.uint8)
    for t in range(f):
        grey = cv2.cvtColor(frames[t, : hs * step, : ws * step], cv2.COLOR_RGB2GRAY)
        if step > 1:
            grey = cv2.resize(grey, (ws, hs), interpolation=cv2.INTER_AREA)
        out[t] = np.clip(grey * 255.0 + 0.5, 0, 255)
    return out


def mask_small(mask: np.ndarray, step: int) -> np.ndarray:
    """bool (F, h, w): a small pixel is set when any full-resolution pixel under it is."""
    f, h, w = mask.shape
    hs, ws = h // step, w // step
    if step == 1:
        return mask[:, :hs, :ws].copy()
    out = np.empty((f, hs, ws), bool)
    for t in range(f):
        m = mask[t, : hs * step, : ws * step].view(np.uint8)
        out[t] = cv2.resize(m, (ws, hs), interpolation=cv2.INTER_AREA) > 0
    return out


def hole_boxes(holes: np.ndarray, margin: int = BOX_MARGIN) -> list[tuple[slice, slice] | None]:
    """Per frame pair: the box of both frames' holes grown by ``margin`` (None: no hole)."""
    f, h, w = holes.shape
    rows, cols = holes.any(axis=2), holes.any(axis=1)
    boxes: list[tuple[slice, slice] | None] = []
    for t in range(f - 1):
        ys = np.flatnonzero(rows[t] | rows[t + 1])
        xs = np.flatnonzero(cols[t] | cols[t + 1])
        if ys.size == 0:
            boxes.append(None)
            continue
        boxes.append(
            (
                slice(max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin)),
                slice(max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin)),
            )
        )
    return boxes


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


#: Jacobi sweeps per level of the rough fill that paints the holes out before the flow.
PAINT_SWEEPS = 4


def _paint(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A rough smooth fill of ``hole`` (a membrane): a fraction of Telea's time, as good a flow."""
    if not hole.any() or hole.all():
        return img
    filled = membrane_fill(img[..., None].astype(np.float32), hole, sweeps=PAINT_SWEEPS)
    return np.clip(filled[..., 0] + 0.5, 0, 255).astype(np.uint8)


def bulk_motion(a: np.ndarray, b: np.ndarray, far: np.ndarray, dis) -> np.ndarray:
    """(dx, dy) median flow from a to b over ``far`` pixels (well away from both holes)."""
    if far.mean() < 0.05:
        return np.zeros(2, np.float32)
    f = dis.calc(a, b, None)
    return np.median(f[far], axis=0).astype(np.float32)


def aligned_flow(a, b, hole_a, hole_b, m, dis) -> np.ndarray:
    """Flow a -> b measured with b first moved onto a by the bulk motion ``m``.

    Both frames get the same holes painted out (a rough smooth fill is enough): the object's own
    motion would otherwise leak into the background's flow for tens of pixels around it (DIS's
    coarse levels see it), and painting each frame's own hole leaves smooth patches that move
    with the object. Moving b onto a first makes the painted patch sit still on the background,
    so it does not drag the flow toward zero either.
    """
    bs = _shift(b, m, cv2.INTER_LINEAR)
    hs = _shift(hole_b.view(np.uint8), m, cv2.INTER_NEAREST).view(bool)
    hole = hole_a | hs
    return dis.calc(_paint(a, hole), _paint(bs, hole), None) + m


def aligned_flows(a, b, hole_a, hole_b, m, dis) -> tuple[np.ndarray, np.ndarray]:
    """(a -> b, b -> a) as :func:`aligned_flow` measures them, from one painted pair.

    The pair painted for a -> b, moved back by ``m``, is the pair for b -> a (the same holes on
    the same background): two paints instead of four.
    """
    bs = _shift(b, m, cv2.INTER_LINEAR)
    hs = _shift(hole_b.view(np.uint8), m, cv2.INTER_NEAREST).view(bool)
    hole = hole_a | hs
    pa, pb = _paint(a, hole), _paint(bs, hole)
    fwd = dis.calc(pa, pb, None) + m
    qa, qb = _shift(pa, -m, cv2.INTER_LINEAR), _shift(pb, -m, cv2.INTER_LINEAR)
    bwd = dis.calc(qb, qa, None) - m
    return fwd, bwd


def near(holes: np.ndarray, px: int = NEAR) -> np.ndarray:
    """``holes`` (h, w) grown by ``px`` pixels (a disc)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(holes.view(np.uint8), kernel).view(bool)


def pair_flows(
    grey: np.ndarray, holes: np.ndarray, threads: int = 2, should_stop=None
) -> list[PairFlow]:
    """The flows of each neighbouring pair (t, t+1) on its box (see :func:`hole_boxes`).

    ``holes[t]`` is frame t's hole (see :func:`aligned_flow`); the bulk motion is measured on the
    box's pixels farther than :data:`NEAR` from both frames' holes. ``should_stop()`` is polled
    once per pair; when it answers True the rest are left still.
    """
    n = grey.shape[0] - 1
    boxes = hole_boxes(holes)
    out = [PairFlow.still() for _ in range(max(n, 0))]

    def one(t: int, holder: dict) -> None:
        box = boxes[t]
        if box is None or (should_stop is not None and should_stop()):
            return
        dis = holder.setdefault("dis", _dis())
        a, b = np.ascontiguousarray(grey[t][box]), np.ascontiguousarray(grey[t + 1][box])
        ha, hb = np.ascontiguousarray(holes[t][box]), np.ascontiguousarray(holes[t + 1][box])
        m = bulk_motion(a, b, ~near(ha | hb), dis)
        fwd, bwd = aligned_flows(a, b, ha, hb, m, dis)
        out[t] = PairFlow(fwd, bwd, box[0].start, box[1].start, measured=True)

    if threads <= 1 or n < 4:
        holder: dict = {}
        for t in range(n):
            one(t, holder)
        return out
    # Each worker owns one DIS object (they keep state); OpenCV releases the GIL in calc().
    holders = [{} for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: [one(t, holders[i]) for t in range(i, n, threads)], range(threads)))
    return out


#: Longest row of points handed to cv2.remap (its maps must stay under 32767 a side).
_ROW = 4096


def sample_flow(
    flow: np.ndarray, ys: np.ndarray, xs: np.ndarray, step: int, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Bilinear flow (N, 2) as (dy, dx) in full-resolution pixels at full-resolution (ys, xs).

    ``flow`` covers the small grid from ``origin`` (small pixels); places outside it take the
    flow of its nearest edge.
    """
    n = ys.size
    if n == 0:
        return np.zeros((0, 2), np.float32)
    rows = -(-n // _ROW)
    fy = np.zeros(rows * _ROW, np.float32)
    fx = np.zeros(rows * _ROW, np.float32)
    fy[:n] = (ys + 0.5) / step - 0.5 - origin[0]
    fx[:n] = (xs + 0.5) / step - 0.5 - origin[1]
    shape = (rows, _ROW) if rows > 1 else (1, n)
    size = shape[0] * shape[1]
    v = cv2.remap(
        np.ascontiguousarray(flow, np.float32),
        fx[:size].reshape(shape),
        fy[:size].reshape(shape),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    v = v.reshape(-1, 2)[:n] * float(step)
    return v[:, ::-1]  # OpenCV's (dx, dy) -> (dy, dx)
