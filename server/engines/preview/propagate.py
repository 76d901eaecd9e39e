"""Carry background pixels along the completed flow, from the nearest frames that show them.

Two sweeps, one forward in time and one backward. In each, every tracked pixel of a frame (the
grown hole) follows the flow one frame toward the sweep's origin; if it lands on a source pixel
there it takes that place as its source, otherwise it inherits the source already found for the
pixel it landed on. So each pixel ends up with a link to the nearest earlier and the nearest later
frame that sees it, and colour is read once from that frame: chains never resample colour, and
do not blur however long they are. A link holds only where the flow there and the flow back
agree (forward-backward consistency): occlusions and bad flow break the chain instead of pulling
in the wrong background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .flow import PairFlow, sample_flow

#: Forward-backward disagreement allowed on one link: pixels, plus a share of the motion.
FB_TOL_PX = 1.0
FB_TOL_SHARE = 0.1


@dataclass
class Links:
    """Sources found for a frame's tracked pixels: frame index (-1: none) and sub-pixel place."""

    src: np.ndarray  # int32 (N,)
    y: np.ndarray  # float32 (N,)
    x: np.ndarray  # float32 (N,)

    @classmethod
    def empty(cls, n: int) -> Links:
        return cls(np.full(n, -1, np.int32), np.zeros(n, np.float32), np.zeros(n, np.float32))


class IndexMaps:
    """Per frame: the position of each tracked pixel in its frame's list, on the pixels' box."""

    def __init__(self, tracked: list[tuple[np.ndarray, np.ndarray]]):
        self.tracked = tracked
        self.maps: dict[int, tuple[int, int, np.ndarray]] = {}

    def lookup(self, t: int, ry: np.ndarray, rx: np.ndarray) -> np.ndarray:
        """Positions in frame t's list of the pixels (ry, rx); -1 where not tracked."""
        ys, xs = self.tracked[t]
        if t not in self.maps:
            y0, x0 = int(ys.min()), int(xs.min())
            idx = np.full((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), -1, np.int32)
            idx[ys - y0, xs - x0] = np.arange(ys.size, dtype=np.int32)
            self.maps[t] = (y0, x0, idx)
        y0, x0, idx = self.maps[t]
        ly, lx = ry - y0, rx - x0
        inside = (ly >= 0) & (lx >= 0) & (ly < idx.shape[0]) & (lx < idx.shape[1])
        out = np.full(ry.size, -1, np.int32)
        out[inside] = idx[ly[inside], lx[inside]]
        return out


@dataclass
class Step:
    """Where one frame's tracked pixels land in the neighbouring frame (toward a sweep's origin).

    ``ok``: the link holds (inside the frame, forward-backward consistent); (``y``, ``x``) the
    sub-pixel place, (``ry``, ``rx``) the nearest pixel and ``j`` its position in that frame's
    tracked list (-1: not tracked there, so a source). It depends on the flow alone, so it is
    measured once and reused by every propagation round.
    """

    ok: np.ndarray
    y: np.ndarray
    x: np.ndarray
    ry: np.ndarray
    rx: np.ndarray
    j: np.ndarray


def steps(
    tracked: list[tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, int],
    flows: list[PairFlow],
    step: int,
    forward: bool,
    maps: IndexMaps | None = None,
) -> list[Step | None]:
    """Each frame's :class:`Step` toward the previous (``forward``) or next frame."""
    h, w = shape
    maps = maps or IndexMaps(tracked)
    f = len(tracked)
    out: list[Step | None] = [None] * f
    order = range(1, f) if forward else range(f - 2, -1, -1)
    for t in order:
        prev = t - 1 if forward else t + 1
        pf = flows[t - 1 if forward else t]
        go, come = (pf.bwd, pf.fwd) if forward else (pf.fwd, pf.bwd)
        ys, xs = tracked[t]
        if ys.size == 0:
            continue
        origin = (pf.y0, pf.x0)
        d = sample_flow(go, ys, xs, step, origin)
        qy, qx = ys + d[:, 0], xs + d[:, 1]
        inside = (qy > -0.5) & (qy < h - 0.5) & (qx > -0.5) & (qx < w - 0.5)
        qyc, qxc = np.clip(qy, 0, h - 1), np.clip(qx, 0, w - 1)
        back = sample_flow(come, qyc, qxc, step, origin)
        err = np.hypot(back[:, 0] + d[:, 0], back[:, 1] + d[:, 1])
        ok = inside & (err < FB_TOL_PX + FB_TOL_SHARE * np.hypot(d[:, 0], d[:, 1]))
        ry = np.rint(qyc).astype(np.int32)
        rx = np.rint(qxc).astype(np.int32)
        j = np.full(ys.size, -1, np.int32)
        if tracked[prev][0].size:
            j[ok] = maps.lookup(prev, ry[ok], rx[ok])
        out[t] = Step(ok, qyc.astype(np.float32), qxc.astype(np.float32), ry, rx, j)
    return out


def sweep(
    tracked: list[tuple[np.ndarray, np.ndarray]],
    valid: np.ndarray,
    flows: list[PairFlow],
    step: int,
    forward: bool,
    moves: list[Step | None] | None = None,
) -> list[Links]:
    """Links to the nearest earlier (``forward``) or later source frame for every tracked pixel.

    ``tracked[t]`` are frame t's tracked pixels (ys, xs); ``valid`` (F, H, W) the source pixels;
    ``flows`` the completed pair flows of :func:`.flow.pair_flows`; ``moves`` their
    :func:`steps` in this direction, when already measured.
    """
    f, h, w = valid.shape
    if moves is None:
        moves = steps(tracked, (h, w), flows, step, forward)
    out = [Links.empty(tracked[t][0].size) for t in range(f)]
    order = range(1, f) if forward else range(f - 2, -1, -1)
    for t in order:
        mv = moves[t]
        if mv is None:
            continue
        prev = t - 1 if forward else t + 1
        links = out[t]
        direct = mv.ok & valid[prev, mv.ry, mv.rx]
        links.src[direct] = prev
        links.y[direct], links.x[direct] = mv.y[direct], mv.x[direct]
        rest = np.flatnonzero(mv.ok & ~direct & (mv.j >= 0))
        if rest.size:
            j = mv.j[rest]
            before = out[prev]
            s = before.src[j]
            has = s >= 0
            rest, j = rest[has], j[has]
            links.src[rest] = s[has]
            # The inherited place is that of the pixel landed on, moved by the sub-pixel offset.
            links.y[rest] = before.y[j] + (mv.y[rest] - mv.ry[rest])
            links.x[rest] = before.x[j] + (mv.x[rest] - mv.rx[rest])
    return out


def sample_colour(images: np.ndarray, src: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bilinear colour (N, 3) of ``images[src]`` at (y, x), each pixel from its own frame."""
    _, h, w, _ = images.shape
    y = np.clip(y, 0, h - 1)
    x = np.clip(x, 0, w - 1)
    y0 = np.minimum(y.astype(np.int32), h - 2) if h > 1 else np.zeros(y.shape, np.int32)
    x0 = np.minimum(x.astype(np.int32), w - 2) if w > 1 else np.zeros(x.shape, np.int32)
    ay = (y - y0)[:, None]
    ax = (x - x0)[:, None]
    # One flat index per pixel and its three neighbours: a quarter of the 4-D gathers' work.
    flat = images.reshape(-1, 3)
    i00 = (src.astype(np.int64) * h + y0) * w + x0
    dy = w if h > 1 else 0
    dx = 1 if w > 1 else 0
    top = flat[i00] * (1 - ax) + flat[i00 + dx] * ax
    bot = flat[i00 + dy] * (1 - ax) + flat[i00 + dy + dx] * ax
    return top * (1 - ay) + bot * ay


def blend(
    images: np.ndarray, t: int, early: Links, late: Links, sel: np.ndarray, max_gap: int = 10**6
) -> tuple[np.ndarray, np.ndarray]:
    """Colours for the tracked pixels ``sel`` (indices) of frame t and which of them had a source.

    Where both sweeps found one the two are mixed by inverse distance in time, so the nearer
    frame dominates and a pixel's source does not switch abruptly between neighbours.
    """
    colour = np.zeros((sel.size, 3), np.float32)
    weight = np.zeros(sel.size, np.float32)
    for links in (early, late):
        s = links.src[sel]
        has = np.flatnonzero((s >= 0) & (np.abs(s - t) <= max_gap))
        if has.size == 0:
            continue
        wgt = 1.0 / np.abs(s[has] - t).astype(np.float32)
        c = sample_colour(images, s[has], links.y[sel][has], links.x[sel][has])
        colour[has] += c * wgt[:, None]
        weight[has] += wgt
    found = weight > 0
    colour[found] /= weight[found][:, None]
    return colour, found
