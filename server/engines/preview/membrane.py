"""Smooth fill of a hole from its border: a push-pull pyramid, then Jacobi sweeps per level.

It solves Laplace's equation in the hole (exact on linear ramps, such as the flow of a pan, a
zoom or a rotation), in time that grows with the hole's box, not with its detail.
"""

from __future__ import annotations

import numpy as np

#: Jacobi sweeps per pyramid level.
SWEEPS = 12


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


def membrane_fill(image: np.ndarray, hole: np.ndarray, sweeps: int = SWEEPS) -> np.ndarray:
    """``image`` (H, W, C) with ``hole`` pixels filled smoothly from their surroundings."""
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
