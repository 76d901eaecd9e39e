"""Smooth fill of a hole from its border: a push-pull pyramid, then Jacobi sweeps per level.

It solves Laplace's equation in the hole (exact on linear ramps, such as the flow of a pan, a
zoom or a rotation), in time that grows with the hole's box, not with its detail.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Jacobi sweeps per pyramid level.
SWEEPS = 12


def _down(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted 2x2 box reduction (odd sizes padded by edge)."""
    h, wd = w.shape
    if h % 2 or wd % 2:
        c = v.shape[2]
        v = cv2.copyMakeBorder(v, 0, h % 2, 0, wd % 2, cv2.BORDER_REPLICATE)
        v = v.reshape(h + h % 2, wd + wd % 2, c)
        w = cv2.copyMakeBorder(w, 0, h % 2, 0, wd % 2, cv2.BORDER_REPLICATE)
    size = (w.shape[1] // 2, w.shape[0] // 2)
    vs = cv2.resize(v * w[..., None], size, interpolation=cv2.INTER_AREA)
    ws = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
    vs = vs.reshape(size[1], size[0], -1)
    return vs / np.maximum(ws, 1e-6)[..., None], np.minimum(4.0 * ws, 1.0)


def _up(v: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear 2x upsample (pixel-centre aligned, edges replicated), cropped to ``shape``."""
    h, w = v.shape[:2]
    out = cv2.resize(v, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(2 * h, 2 * w, -1)[: shape[0], : shape[1]]


#: The four-neighbour average of a Jacobi sweep.
_AVERAGE = np.array([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]], np.float32)


def _smooth(v: np.ndarray, hole: np.ndarray, sweeps: int) -> np.ndarray:
    """Jacobi sweeps of Laplace's equation on hole pixels; others stay fixed."""
    if not hole.any() or sweeps <= 0:
        return v
    shape = v.shape
    v = np.ascontiguousarray(v, np.float32)
    mask = hole.view(np.uint8) if hole.dtype == bool else hole.astype(np.uint8)
    for _ in range(sweeps):
        avg = cv2.filter2D(v, -1, _AVERAGE, borderType=cv2.BORDER_REPLICATE)
        v = cv2.copyTo(avg, mask, v).reshape(shape)
    return v


def membrane_fill(
    image: np.ndarray, hole: np.ndarray, sweeps: int = SWEEPS, fine_sweeps: int | None = None
) -> np.ndarray:
    """``image`` (H, W, C) with ``hole`` pixels filled smoothly from their surroundings.

    ``fine_sweeps`` (default ``sweeps``) is the finest level's share: a smooth field (a flow) is
    carried by the coarse levels, and the finest level's sweeps are most of the time.
    """
    if not hole.any():
        return image
    if hole.all():
        return np.full_like(image, 0.5)
    weight = (~hole).astype(np.float32)
    levels = [(image.astype(np.float32), weight)]
    while min(levels[-1][1].shape) > 2 and levels[-1][1].min() < 1.0:
        levels.append(_down(*levels[-1]))
    filled = levels[-1][0]
    for i in range(len(levels) - 2, -1, -1):
        v, w = levels[i]
        coarse = _up(filled, w.shape)
        filled = v * w[..., None] + coarse * (1.0 - w[..., None])
        n = sweeps if i > 0 or fine_sweeps is None else fine_sweeps
        filled = _smooth(filled, w < 1.0, n)
    return filled.astype(image.dtype)
