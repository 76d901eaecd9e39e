"""Separable resampling with per-axis weight matrices (numpy only).

Why matrices: a resize along one axis is a (n_out, n_in) matrix that is mostly zeros; applying it as
a dense product is exact, vectorised and fast at the sizes we meet (a 4K crop to 672 columns is a
672 x 4096 matrix). Reflection padding folds into the same matrix (out-of-frame taps are added onto
the mirrored in-frame column), so a crop box larger than the frame costs nothing extra and no padded
copy of the plate is ever made.

Filters: ``area`` (exact pixel-coverage averaging, the same as OpenCV's INTER_AREA both ways) for
downscaling and for the model's mask; ``lanczos3`` for upscaling (sharp, slight overshoot that the
caller clamps).
"""

from __future__ import annotations

import weakref

import numpy as np


def reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Map any integer index onto 0..n-1 by mirror reflection without repeating the edge
    (``abcd|cba``), like ``np.pad(mode="reflect")``, any distance away."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m < n, m, period - m)


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights averaging the input pixels each output pixel covers, by coverage."""
    scale = n_in / n_out
    lo = np.arange(n_out, dtype=np.float64) * scale
    hi = lo + scale
    edges = np.arange(n_in + 1, dtype=np.float64)
    overlap = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
    w = np.clip(overlap, 0.0, None)
    return w / w.sum(axis=1, keepdims=True)


def _lanczos(x: np.ndarray, a: int = 3) -> np.ndarray:
    out = np.sinc(x) * np.sinc(x / a)
    return np.where(np.abs(x) < a, out, 0.0)


def lanczos_weights(n_in: int, n_out: int, a: int = 3) -> np.ndarray:
    """(n_out, n_in) Lanczos-a weights, pixel centres aligned; taps past the ends reflect back.

    When shrinking, the kernel is stretched by the scale factor (antialiasing), so the function is
    also correct for the rare downscale, although ``area`` is preferred there.
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5
    radius = int(np.ceil(a * support)) + 1
    taps = np.floor(centres)[:, None] + np.arange(-radius + 1, radius + 1)[None, :]
    w = _lanczos((taps - centres[:, None]) / support, a)
    w /= w.sum(axis=1, keepdims=True)
    dense = np.zeros((n_out, n_in), dtype=np.float64)
    cols = reflect_index(taps.astype(np.int64), n_in)
    rows = np.broadcast_to(np.arange(n_out)[:, None], cols.shape)
    np.add.at(dense, (rows, cols), w)
    return dense


def axis_weights(n_in: int, n_out: int, filt: str = "auto") -> np.ndarray:
    """Weights for one axis: ``auto`` = area when shrinking (or equal), Lanczos-3 when enlarging."""
    if filt == "auto":
        filt = "area" if n_in >= n_out else "lanczos3"
    if filt == "area":
        return area_weights(n_in, n_out)
    if filt == "lanczos3":
        return lanczos_weights(n_in, n_out, 3)
    raise ValueError(f"unknown filter {filt!r}: use 'auto', 'area' or 'lanczos3'")


def fold_reflect(w: np.ndarray, start: int, n_frame: int) -> tuple[np.ndarray, int, int]:
    """Fold a matrix over box columns ``start .. start+n_box`` (which may leave 0..n_frame) onto
    frame columns by reflection. Returns (weights over frame columns lo..hi, lo, hi)."""
    n_box = w.shape[1]
    src = reflect_index(np.arange(start, start + n_box), n_frame)
    lo, hi = int(src.min()), int(src.max()) + 1
    if start >= 0 and start + n_box <= n_frame:
        return w, lo, hi
    folded = np.zeros((w.shape[0], hi - lo), dtype=w.dtype)
    np.add.at(folded.T, src - lo, w.T)
    return folded, lo, hi


def _band(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A dense (n_out, n_in) matrix as (start per row, (n_out, K) taps): resampling weights are
    banded, so applying K shifted rows costs K multiply-adds per output instead of n_in."""
    nz = w != 0
    first = np.where(nz.any(axis=1), nz.argmax(axis=1), 0)
    last = w.shape[1] - np.where(nz.any(axis=1), nz[:, ::-1].argmax(axis=1), w.shape[1])
    k = int(max(1, (last - first).max()))
    start = np.minimum(first, w.shape[1] - k)
    cols = start[:, None] + np.arange(k)[None, :]
    return start, np.take_along_axis(w, cols, axis=1).astype(np.float32)


#: Bands of read-only weight matrices (the shared, cached ones), by the matrix's id while it
#: lives: every frame of a window is resampled with the same matrices.
_BANDS: dict[int, tuple[weakref.ref, tuple[np.ndarray, np.ndarray]]] = {}


def _band_of(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_band`, made once for a read-only matrix that owns its values (nothing changes
    them under it); views and writable matrices are banded anew."""
    if w.flags.writeable or not w.flags.owndata:
        return _band(w)
    key = id(w)
    hit = _BANDS.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    band = _band(w)
    _BANDS[key] = (weakref.ref(w, lambda _, key=key: _BANDS.pop(key, None)), band)
    return band


def _apply_rows(a: np.ndarray, band: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample a C-contiguous float32 ``a`` along axis 0 by a :func:`_band`: whole rows are
    gathered (contiguous copies), scaled by one tap each and summed."""
    start, taps = band
    shape = (-1,) + (1,) * (a.ndim - 1)
    out = np.zeros((len(start),) + a.shape[1:], dtype=np.float32)
    for k in range(taps.shape[1]):
        out += a[start + k] * taps[:, k].reshape(shape)
    return out


def apply_separable(img: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """out = wy @ img @ wx.T on every channel of an (H, W) or (H, W, C) array, float32 out.

    The axis that shrinks the work most goes first: a crop shrunk to the working size is
    resampled down its rows first, a result enlarged back to a region along its columns first
    (the intermediate is then the small one). Either order gives the same values to float32
    rounding."""
    a = np.ascontiguousarray(img, dtype=np.float32)
    by, bx = _band_of(wy), _band_of(wx)
    (h, w), ho, wo = a.shape[:2], wy.shape[0], wx.shape[0]
    ky, kx = by[1].shape[1], bx[1].shape[1]
    # Work in pixel-taps: a pass costs its output times its taps; a transpose (a strided copy)
    # costs about three taps a pixel, as measured on 4K crops.
    rows_first = ho * w * ky + wo * ho * kx + 3 * (ho * w + wo * ho)
    cols_first = wo * h * kx + ho * wo * ky + 3 * (h * w + wo * h)
    if rows_first <= cols_first:
        t = _apply_rows(a, by)
        t = _apply_rows(np.ascontiguousarray(t.swapaxes(0, 1)), bx)
        return np.ascontiguousarray(t.swapaxes(0, 1))
    t = _apply_rows(np.ascontiguousarray(a.swapaxes(0, 1)), bx)
    return _apply_rows(np.ascontiguousarray(t.swapaxes(0, 1)), by)


def resize(img: np.ndarray, size: tuple[int, int], filt: str = "auto") -> np.ndarray:
    """Resize an (H, W[, C]) array to ``size`` = (height, width) with separable weights."""
    h, w = img.shape[:2]
    return apply_separable(img, axis_weights(h, size[0], filt), axis_weights(w, size[1], filt))
