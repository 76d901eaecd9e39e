"""Quadmasks: the model's four-valued mask (0 remove, 63 overlap, 127 affected, 255 keep).

Built from artists' soft mattes, or read from a delivered quadmask and snapped back onto the four
values (8-bit, 16-bit, float, or a lossy video full of compression noise). Also the model's own
working-size resize (area filter on the raw 0-255 values, then snap) because that, not the
full-resolution mask, is what the engine sees. Arrays are (H, W) or (F, H, W); numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from void_vfx.errors import MaskError
from void_vfx.model_facts import (
    QUAD_AFFECTED,
    QUAD_KEEP,
    QUAD_OVERLAP,
    QUAD_REMOVE,
    QUAD_VALUES,
    SOFT_EDGE_FLOOR,
)

#: Upper bounds (inclusive, 0-255 scale) of the snap bins for 0, 63 and 127; above the last -> 255.
SNAP_BOUNDS = (31.0, 95.0, 191.0)

#: Review colours (linear-ish display RGB 0-1) for remove, overlap and affected; keep is untouched.
OVERLAY_COLOURS = {
    QUAD_REMOVE: (1.0, 0.1, 0.1),
    QUAD_OVERLAP: (1.0, 0.85, 0.0),
    QUAD_AFFECTED: (0.1, 0.55, 1.0),
}


# --- building from mattes -------------------------------------------------------------------


def _window_any(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """True where any pixel within ``radius`` along ``axis`` is True (a 1D max filter via cumsum:
    O(N) whatever the radius)."""
    n = mask.shape[axis]
    c = np.cumsum(mask, axis=axis, dtype=np.int32)
    zero = np.zeros_like(np.take(c, [0], axis=axis))
    c = np.concatenate([zero, c], axis=axis)
    hi = np.minimum(np.arange(n) + radius + 1, n)
    lo = np.maximum(np.arange(n) - radius, 0)
    return (np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) > 0


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean (…, H, W) mask by ``radius`` pixels (square structuring element)."""
    m = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return m.copy()
    return _window_any(_window_any(m, radius, m.ndim - 1), radius, m.ndim - 2)


def build_quadmask(
    primary: np.ndarray,
    affected: np.ndarray | None = None,
    *,
    primary_threshold: float = 0.5,
    affected_threshold: float = 0.5,
    dilate_px: int = 0,
    soft_edge_px: int = 0,
) -> np.ndarray:
    """Quadmask from soft mattes in 0-1: primary only -> 0, primary and affected -> 63,
    affected only -> 127, neither -> 255. A matte pixel counts when it is > its threshold (NaN
    counts as 0). ``soft_edge_px``: the primary's soft edge, any coverage above
    :data:`SOFT_EDGE_FLOOR` within that many pixels of its solid part, counts too, so an
    anti-aliased or blurred roto edge is removed with the object rather than left as a faint
    ring. The primary may then be grown by ``dilate_px`` pixels to cover motion blur and matte
    edges the artist did not roto."""
    values = np.nan_to_num(np.asarray(primary, dtype=np.float32), nan=0.0)
    p = values > primary_threshold
    if soft_edge_px and primary_threshold > SOFT_EDGE_FLOOR:
        p |= (values > SOFT_EDGE_FLOOR) & dilate(p, int(soft_edge_px))
    if dilate_px:
        p = dilate(p, int(dilate_px))
    q = np.full(p.shape, QUAD_KEEP, dtype=np.uint8)
    if affected is not None:
        a_in = np.asarray(affected, dtype=np.float32)
        if a_in.shape != p.shape:
            raise MaskError(
                f"affected matte is {a_in.shape[-1]}x{a_in.shape[-2]} but the primary matte is "
                f"{p.shape[-1]}x{p.shape[-2]}: give both mattes at the plate's resolution"
            )
        a = np.nan_to_num(a_in, nan=0.0) > affected_threshold
        q[a] = QUAD_AFFECTED
        q[p & a] = QUAD_OVERLAP
        q[p & ~a] = QUAD_REMOVE
    else:
        q[p] = QUAD_REMOVE
    return q


# --- snapping delivered quadmasks -----------------------------------------------------------


@dataclass
class SnapReport:
    """What snapping changed: ``moved`` pixels differed from their snapped value by more than
    ``tolerance`` (0-255 scale); ``max_error`` is the largest difference seen."""

    pixels: int
    moved: int
    max_error: float
    tolerance: float
    counts: dict[int, int]

    @property
    def moved_fraction(self) -> float:
        return self.moved / self.pixels if self.pixels else 0.0

    def describe(self) -> str:
        c = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        return (
            f"{self.moved} of {self.pixels} pixels ({100 * self.moved_fraction:.3f}%) "
            f"moved by more than {self.tolerance:g} when snapped (max {self.max_error:.1f}); "
            f"counts {c}"
        )


def to_255(values: np.ndarray, *, float_scale: float | None = None) -> np.ndarray:
    """Mask values as float32 on the 0-255 scale: uint8 as is, uint16 / 257, float x 255 (or x
    ``float_scale`` when given, e.g. 1.0 for floats already on 0-255)."""
    v = np.asarray(values)
    if v.dtype == np.uint8:
        return v.astype(np.float32)
    if v.dtype == np.uint16:
        return v.astype(np.float32) / 257.0
    if np.issubdtype(v.dtype, np.integer):
        raise MaskError(f"quadmask of type {v.dtype} is not supported: give 8-bit, 16-bit or float")
    f = np.nan_to_num(v.astype(np.float32), nan=255.0, posinf=255.0, neginf=0.0)
    return f * (255.0 if float_scale is None else float_scale)


def snap(values_255: np.ndarray) -> np.ndarray:
    """Snap 0-255 values onto 0/63/127/255: <=31 -> 0, (31,95] -> 63, (95,191] -> 127, else 255."""
    v = np.asarray(values_255)
    idx = np.searchsorted(np.asarray(SNAP_BOUNDS, dtype=np.float32), v, side="left")
    return np.asarray(QUAD_VALUES, dtype=np.uint8)[idx]


def snap_quadmask(
    values: np.ndarray, *, tolerance: float = 8.0, float_scale: float | None = None
) -> tuple[np.ndarray, SnapReport]:
    """Validate and snap an existing quadmask of any supported type; report what moved."""
    raw = np.asarray(values)
    if raw.dtype in (np.uint8, np.uint16):
        return _snap_integers(raw, tolerance)
    v = to_255(values, float_scale=float_scale)
    q = snap(v)
    err = np.abs(v - q.astype(np.float32))
    counts = {int(k): int(np.count_nonzero(q == k)) for k in QUAD_VALUES}
    rep = SnapReport(
        pixels=int(q.size),
        moved=int(np.count_nonzero(err > tolerance)),
        max_error=float(err.max()) if err.size else 0.0,
        tolerance=float(tolerance),
        counts=counts,
    )
    return q, rep


def _snap_integers(raw: np.ndarray, tolerance: float) -> tuple[np.ndarray, SnapReport]:
    """:func:`snap_quadmask` of 8- or 16-bit values through a lookup table, the report from a
    histogram of the codes. Most of a frame is the top code (keep, exactly): only the box of
    the other codes is looked up and counted, the rest is filled."""
    levels = 256 if raw.dtype == np.uint8 else 65536
    codes = np.arange(levels, dtype=np.float32)
    v = codes if levels == 256 else codes / np.float32(257.0)
    lut = snap(v)
    err = np.abs(v - lut.astype(np.float32))
    if raw.ndim == 2 and raw.size:
        other = raw != levels - 1
        rows = np.flatnonzero(other.any(axis=1))
        cols = np.flatnonzero(other.any(axis=0))
        box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if rows.size else np.s_[:0, :0]
        sub = raw[box]
        q = np.full(raw.shape, QUAD_KEEP, dtype=np.uint8)
        q[box] = lut[sub]
    else:
        sub, q = raw, lut[raw]
    hist = np.bincount(sub.ravel(), minlength=levels)
    hist[levels - 1] += raw.size - sub.size  # the top code outside the box: keep, error 0
    seen = hist > 0
    rep = SnapReport(
        pixels=int(raw.size),
        moved=int(hist[err > tolerance].sum()),
        max_error=float(err[seen].max()) if raw.size else 0.0,
        tolerance=float(tolerance),
        counts={int(k): int(hist[lut == k].sum()) for k in QUAD_VALUES},
    )
    return q, rep


def is_quadmask(q: np.ndarray) -> bool:
    """True when ``q`` is uint8 holding only the four quadmask values."""
    return q.dtype == np.uint8 and bool(np.isin(q, QUAD_VALUES).all())


def has_object(q: np.ndarray) -> bool:
    """True when any pixel asks for removal (0 or 63); affected alone is nothing to remove."""
    return bool(np.any(q <= QUAD_OVERLAP))


# --- first frame, overlays, model resize ----------------------------------------------------


def clear_first_frame_affected(q: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """Set affected (127) to keep (255) on frame 0 of an (F, H, W) quadmask, as the reference's
    mask tooling does (the first frame shows the scene before the object interacts with it)."""
    out = q if inplace else q.copy()
    first = out[0] if out.ndim == 3 else out
    first[first == QUAD_AFFECTED] = QUAD_KEEP
    return out


def overlay(rgb: np.ndarray, q: np.ndarray, *, opacity: float = 0.5) -> np.ndarray:
    """Review image: tint remove red, overlap yellow, affected blue over ``rgb`` (H, W, C);
    keep pixels and channels beyond RGB are returned unchanged."""
    out = np.array(rgb, dtype=np.float32, copy=True)
    if out.shape[:2] != q.shape[-2:] or q.ndim != 2:
        raise MaskError(f"overlay needs an (H, W) quadmask matching the image {out.shape[:2]}")
    for value, colour in OVERLAY_COLOURS.items():
        sel = q == value
        if np.any(sel):
            tint = np.asarray(colour, dtype=np.float32)
            out[sel, :3] = (1.0 - opacity) * out[sel, :3] + opacity * tint
    return out
