"""Seam blending: the propagated fill nudged to meet each frame's own plate at the hole's edge.

Pixels carried from another frame (or a keyframe's spatial guess carried along the flow) can be a
little brighter or darker than the frame they land in: water ripples, light changes, exposure
drifts. The difference is measured on the outermost ring of the grown hole, where each frame's
plate is known and clean, and spread smoothly over the hole as a membrane (Laplace's equation),
then added: a gradient-domain paste, so no seam shows where the fill meets the plate and a
standing object's steady fill follows the frame's changing surroundings.
"""

from __future__ import annotations

import cv2
import numpy as np

from .membrane import membrane_fill
from .spatial import points_box

#: Width (pixels) of the ring at the grown hole's edge where the mismatch is measured.
SEAM_PX = 1
#: Pixels per cell the ring's difference is averaged over before it is spread.
SEAM_CELL = 4
#: Jacobi sweeps per pyramid level for the offset (it is smooth).
SEAM_SWEEPS = 6


def edge_ring(tracked: np.ndarray, pts: tuple[np.ndarray, np.ndarray], px: int = SEAM_PX):
    """bool (N,): which tracked pixels ``pts`` lie within ``px`` of the tracked region's edge."""
    ys, xs = pts
    if ys.size == 0:
        return np.zeros(0, bool)
    box = points_box(pts, tracked.shape, px + 1)
    crop = np.ascontiguousarray(tracked[box]).view(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    inner = cv2.erode(crop, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1).view(bool)
    return ~inner[ys - box[0].start, xs - box[1].start]


def seam_offsets(
    pts: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, int],
    colours: np.ndarray,
    plate: np.ndarray,
    known: np.ndarray,
) -> np.ndarray:
    """(N, 3) offsets for the tracked pixels ``pts`` that make ``colours`` meet ``plate``.

    ``known`` (N,) marks the ring pixels where both the fill and the clean plate are known; the
    offset there is ``plate - colours`` and in between it is their membrane.
    """
    ys, xs = pts
    if not known.any():
        return np.zeros((ys.size, 3), np.float32)
    box = points_box(pts, shape, 1)
    ly, lx = ys - box[0].start, xs - box[1].start
    size = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    diff = np.zeros((*size, 3), np.float32)
    weight = np.zeros(size, np.float32)
    diff[ly[known], lx[known]] = plate[known] - colours[known]
    weight[ly[known], lx[known]] = 1.0
    # Averaged over cells of SEAM_CELL pixels first: ripples and sub-pixel misplacements along
    # the ring cancel out, a change of light or exposure (smooth) is what is left.
    cell = SEAM_CELL
    small = (max(1, -(-size[1] // cell)), max(1, -(-size[0] // cell)))
    pad = ((0, small[1] * cell - size[0]), (0, small[0] * cell - size[1]))
    diff = cv2.resize(np.pad(diff, (*pad, (0, 0))), small, interpolation=cv2.INTER_AREA)
    weight = cv2.resize(np.pad(weight, pad), small, interpolation=cv2.INTER_AREA)
    diff = diff.reshape(small[1], small[0], 3) / np.maximum(weight, 1e-6)[..., None]
    coarse = membrane_fill(diff, weight <= 0, sweeps=SEAM_SWEEPS)
    full = cv2.resize(coarse, (small[0] * cell, small[1] * cell), interpolation=cv2.INTER_LINEAR)
    return full.reshape(small[1] * cell, small[0] * cell, 3)[ly, lx]
