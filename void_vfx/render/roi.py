"""Region of interest: one 7:4 crop per temporal window, resampling to the model's working size,
and paste-back at full resolution.

The model works at 384 x 672 (7:4). Rather than stretching a 2K-4K plate to that, each window gets
a box of exactly 7:4 around the union of its non-keep pixels, grown by a margin; a box larger than
the frame is filled by mirror reflection (never stretching). Paste-back touches only pixels where
the feathered alpha is > 0: every other plate value, NaN and Inf included, and every channel beyond
RGB, is the source's own bit pattern.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from void_vfx.errors import PlanError
from void_vfx.media.resample import apply_separable, axis_weights, fold_reflect
from void_vfx.model_facts import QUAD_KEEP, WORK_HEIGHT, WORK_WIDTH
from void_vfx.render.quadmask import dilate, snap

#: Working aspect as integers: width:height = 672:384 = 7:4.
ASPECT_W, ASPECT_H = 7, 4


@dataclass(frozen=True)
class CropBox:
    """A crop in display-window pixels, x1/y1 exclusive; may extend past the frame, in which case
    the outside is mirror-reflected. frame_width/frame_height are the plate's display size."""

    x0: int
    y0: int
    x1: int
    y1: int
    frame_width: int
    frame_height: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def pads(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) pixels that lie outside the frame (reflected)."""
        return (
            max(0, -self.x0),
            max(0, -self.y0),
            max(0, self.x1 - self.frame_width),
            max(0, self.y1 - self.frame_height),
        )

    def inside(self) -> tuple[int, int, int, int]:
        """The part of the box inside the frame as (x0, y0, x1, y1)."""
        return (
            max(self.x0, 0),
            max(self.y0, 0),
            min(self.x1, self.frame_width),
            min(self.y1, self.frame_height),
        )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CropBox:
        return cls(
            **{k: int(d[k]) for k in ("x0", "y0", "x1", "y1", "frame_width", "frame_height")}
        )


# --- planning -------------------------------------------------------------------------------


def nonkeep_union(quadmasks: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that are not keep (255) on any frame of an (F, H, W) or (H, W) mask."""
    q = np.asarray(quadmasks)
    return np.any(q != QUAD_KEEP, axis=0) if q.ndim == 3 else q != QUAD_KEEP


def _place(lo: float, hi: float, size: int, frame: int) -> int:
    """Start of a span of ``size`` centred on [lo, hi), shifted to stay in 0..frame, or centred
    on the frame (reflect-padded both sides) when it is larger than the frame."""
    if size >= frame:
        return -((size - frame) // 2)
    start = int(math.floor((lo + hi) / 2 - size / 2))
    return min(max(start, 0), frame - size)


def _aspect_box(x0, y0, x1, y1, width: int, height: int, min_height: int) -> CropBox:
    """Smallest 7:4 box (within a pixel: |4w - 7h| <= 3.5) holding [x0,x1) x [y0,y1)."""
    bw = max(int(math.ceil(x1 - x0)), 1)
    bh = max(int(math.ceil(y1 - y0)), min(min_height, height), 1)
    if bw * ASPECT_H >= bh * ASPECT_W:
        bh = max(round(bw * ASPECT_H / ASPECT_W), 1)
    else:
        bw = round(bh * ASPECT_W / ASPECT_H)
    bx = _place(x0, x1, bw, width)
    by = _place(y0, y1, bh, height)
    return CropBox(bx, by, bx + bw, by + bh, width, height)


def full_frame_box(width: int, height: int) -> CropBox:
    """The whole frame, padded (by reflection, centred) to exactly 7:4 rather than stretched."""
    return _aspect_box(0, 0, width, height, width, height, 0)


def plan_crop(
    quadmasks: np.ndarray,
    *,
    margin: float = 0.15,
    margin_px: int = 0,
    feather: int = 0,
    min_height: int = WORK_HEIGHT,
    mode: str = "crop",
) -> CropBox | None:
    """Plan one crop for a window's (F, H, W) quadmasks; None when no pixel is non-keep.

    margin: a fraction of the union's larger side, plus ``margin_px`` pixels; the feather is added
    on top so the feathered paste alpha always lies inside the box. min_height (capped by the frame)
    keeps small objects from being enlarged far past 1:1 and gives the model context.
    mode "full": the whole frame padded to 7:4.
    """
    q = np.asarray(quadmasks)
    height, width = q.shape[-2:]
    if mode not in ("crop", "full"):
        raise PlanError(f"unknown roi mode {mode!r}: use 'crop' or 'full'")
    union = nonkeep_union(q)
    rows = np.flatnonzero(union.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(union.any(axis=0))
    bounds = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return crop_for_bounds(
        bounds,
        width,
        height,
        margin=margin,
        margin_px=margin_px,
        feather=feather,
        min_height=min_height,
        mode=mode,
    )


def crop_for_bounds(
    bounds: tuple[int, int, int, int] | None,
    width: int,
    height: int,
    *,
    margin: float = 0.15,
    margin_px: int = 0,
    feather: int = 0,
    min_height: int = WORK_HEIGHT,
    mode: str = "crop",
) -> CropBox | None:
    """:func:`plan_crop` given the bounding box (x0, y0, x1, y1) of the window's non-keep pixels
    (None: there are none) on a ``width`` x ``height`` frame."""
    if bounds is None:
        return None
    if mode == "full":
        return full_frame_box(width, height)
    if mode != "crop":
        raise PlanError(f"unknown roi mode {mode!r}: use 'crop' or 'full'")
    x0, y0, x1, y1 = bounds
    grow = math.ceil(margin * max(x1 - x0, y1 - y0)) + max(0, margin_px) + max(0, feather) + 1
    # Margin beyond the frame buys nothing: clip first, then widen to 7:4 (reflecting if needed).
    x0, y0 = max(x0 - grow, 0), max(y0 - grow, 0)
    x1, y1 = min(x1 + grow, width), min(y1 + grow, height)
    return _aspect_box(x0, y0, x1, y1, width, height, min_height)


# --- resampling -----------------------------------------------------------------------------


def crop_to_work(
    image: np.ndarray, box: CropBox, size: tuple[int, int] = (WORK_HEIGHT, WORK_WIDTH)
) -> np.ndarray:
    """Cut ``box`` out of an (H, W[, C]) image and resize it to ``size`` (area down, Lanczos-3 up);
    parts of the box outside the frame are mirror-reflected. float32 out."""
    h, w = image.shape[:2]
    if (w, h) != (box.frame_width, box.frame_height):
        raise PlanError(
            f"crop box was planned for {box.frame_width}x{box.frame_height}, image is {w}x{h}"
        )
    x0, y0, x1, y1 = box.inside()
    return inside_to_work(image[y0:y1, x0:x1], box, size)


def _weights(n_in: int, n_out: int, filt: str) -> np.ndarray:
    """Axis weights, made once per size pair: every frame of a window shares its crop box, so
    the plate, the mask and each assembled frame would otherwise rebuild the same matrices.
    Read-only, as they are shared."""
    if filt == "auto":
        filt = "area" if n_in >= n_out else "lanczos3"
    return _cached_weights(n_in, n_out, filt)


@lru_cache(maxsize=8)  # four per window (plate and mask in, result out), two windows at once
def _cached_weights(n_in: int, n_out: int, filt: str) -> np.ndarray:
    w = axis_weights(n_in, n_out, filt)
    w.setflags(write=False)
    return w


def inside_to_work(
    region: np.ndarray, box: CropBox, size: tuple[int, int] = (WORK_HEIGHT, WORK_WIDTH)
) -> np.ndarray:
    """As :func:`crop_to_work`, given only the part of the frame inside the box (``box.inside()``),
    so that callers can colour-convert just that part. Reflected taps always fall inside it."""
    x0, y0, x1, y1 = box.inside()
    if region.shape[:2] != (y1 - y0, x1 - x0):
        raise PlanError(f"region {region.shape[:2]} is not the inside of the crop box {box}")
    wy, ylo, yhi = fold_reflect(_weights(box.height, size[0], "auto"), box.y0, box.frame_height)
    wx, xlo, xhi = fold_reflect(_weights(box.width, size[1], "auto"), box.x0, box.frame_width)
    return apply_separable(region[ylo - y0 : yhi - y0, xlo - x0 : xhi - x0], wy, wx)


def quadmask_to_work(
    quadmask_full: np.ndarray, box: CropBox, size: tuple[int, int] = (WORK_HEIGHT, WORK_WIDTH)
) -> np.ndarray:
    """The model's mask resize applied to the crop: area filter on the raw 0-255 values of the box
    (reflected like the plate), then the float average itself snapped to the four values, as the
    reference does (no rounding to 8 bits first: an average of 191.25 is keep). (H, W) -> size."""
    (xlo, ylo, xhi, yhi), wy, wx = mask_source_rows(box, size)
    return mask_part_to_work(quadmask_full[ylo:yhi, xlo:xhi], wy, wx)


def mask_source_rows(box: CropBox, size: tuple[int, int] = (WORK_HEIGHT, WORK_WIDTH)):
    """The frame pixels (x0, y0, x1, y1) and folded weights :func:`quadmask_to_work` uses, so a
    caller holding only part of the mask can supply just that part."""
    wy, ylo, yhi = fold_reflect(_weights(box.height, size[0], "area"), box.y0, box.frame_height)
    wx, xlo, xhi = fold_reflect(_weights(box.width, size[1], "area"), box.x0, box.frame_width)
    return (xlo, ylo, xhi, yhi), wy, wx


def mask_part_to_work(part: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """The rest of :func:`quadmask_to_work` on the part :func:`mask_source_rows` named."""
    return snap(apply_separable(part.astype(np.float32), wy, wx))


def uncrop(
    result_work: np.ndarray, box: CropBox, region: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Resize a working-size result back to the box at full resolution, returning only ``region``
    (x0, y0, x1, y1 in frame pixels, default: the part of the box inside the frame)."""
    rx0, ry0, rx1, ry1 = region if region is not None else box.inside()
    if rx0 < box.x0 or ry0 < box.y0 or rx1 > box.x1 or ry1 > box.y1:
        raise PlanError(f"region {(rx0, ry0, rx1, ry1)} is not inside the crop box {box}")
    hw, ww = result_work.shape[:2]
    wy = _weights(hw, box.height, "auto")[ry0 - box.y0 : ry1 - box.y0]
    wx = _weights(ww, box.width, "auto")[rx0 - box.x0 : rx1 - box.x0]
    return apply_separable(result_work, wy, wx)


# --- paste-back -----------------------------------------------------------------------------


def _box_mean(mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of a bool mask over a (2r+1)^2 window, by integer counts so 1 and 0 are exact."""
    c = mask.astype(np.int32)
    for axis in (0, 1):
        n = c.shape[axis]
        cs = np.concatenate(
            [np.zeros_like(np.take(c, [0], axis=axis)), np.cumsum(c, axis=axis)], axis
        )
        hi = np.minimum(np.arange(n) + radius + 1, n)
        lo = np.maximum(np.arange(n) - radius, 0)
        c = np.take(cs, hi, axis=axis) - np.take(cs, lo, axis=axis)
    # Outside the frame counts as empty, so divide by the full window size.
    return (c / float((2 * radius + 1) ** 2)).astype(np.float32)


def feathered_region(
    bounds: tuple[int, int, int, int] | None,
    width: int,
    height: int,
    feather_px: int,
    region: Callable[[int, int, int, int], np.ndarray],
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The feathered paste alpha over the box it can reach: ((x0, y0, x1, y1), alpha there), or
    None when nothing is pasted. ``bounds`` is the box of the non-keep pixels of a ``width`` x
    ``height`` quadmask, ``region(x0, y0, x1, y1)`` the quadmask over a box. The one home of the
    feather rule: dilate by r = ceil(feather / 2), then box-average over radius r, so the mask
    itself stays exactly 1 and the ramp is exactly 0 beyond 2r + 1 pixels."""
    if bounds is None:
        return None
    if feather_px <= 0:
        return bounds, (region(*bounds) != QUAD_KEEP).astype(np.float32)
    r = max(1, int(math.ceil(feather_px / 2)))
    pad = 2 * r + 1
    x0, y0 = max(bounds[0] - pad, 0), max(bounds[1] - pad, 0)
    x1, y1 = min(bounds[2] + pad, width), min(bounds[3] + pad, height)
    return (x0, y0, x1, y1), _box_mean(dilate(region(x0, y0, x1, y1) != QUAD_KEEP, r), r)


def paste_alpha(quadmask_full: np.ndarray, feather_px: int) -> np.ndarray:
    """float32 (H, W): 1 on non-keep pixels, a smooth ramp growing outward over about
    ``feather_px`` pixels, exactly 0 beyond (:func:`feathered_region` over the whole frame)."""
    q = np.asarray(quadmask_full)
    m = q != QUAD_KEEP
    if feather_px <= 0:
        return m.astype(np.float32)
    alpha = np.zeros(m.shape, dtype=np.float32)
    got = feathered_region(
        alpha_region(m), m.shape[1], m.shape[0], feather_px, lambda x0, y0, x1, y1: q[y0:y1, x0:x1]
    )
    if got is not None:
        (x0, y0, x1, y1), part = got
        alpha[y0:y1, x0:x1] = part
    return alpha


def alpha_region(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of alpha > 0, or None when nothing is pasted."""
    rows = np.flatnonzero((alpha > 0).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((alpha > 0).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def blend_region(
    plate_raw: np.ndarray,
    rgb: np.ndarray,
    region: tuple[int, int, int, int],
    alpha: np.ndarray,
    channels: tuple[int, int, int] = (0, 1, 2),
) -> np.ndarray:
    """Blend ``rgb`` (region-sized, plate space) into a copy of the plate's RGB ``channels``
    where alpha > 0; everything else is the plate's own bits."""
    out = plate_raw.copy()
    x0, y0, x1, y1 = region
    blend_into(out, rgb, region, alpha[y0:y1, x0:x1], channels)
    return out


def blend_into(
    out: np.ndarray,
    rgb: np.ndarray,
    region: tuple[int, int, int, int],
    alpha_region: np.ndarray,
    channels: tuple[int, int, int] = (0, 1, 2),
) -> None:
    """:func:`blend_region` in place on ``out`` (float32 or float16), given the alpha of the
    region alone."""
    x0, y0, x1, y1 = region
    c0 = channels[0]
    ch = slice(c0, c0 + 3) if tuple(channels) == (c0, c0 + 1, c0 + 2) else list(channels)
    a = alpha_region[..., None]
    src = out[y0:y1, x0:x1][..., ch]
    res = np.asarray(rgb, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        srcf = src.astype(np.float32)
        # NaN/Inf under the ramp would poison the mix: there the result stands in for the plate
        # (one sum proves most regions clean).
        if not np.isfinite(np.add.reduce(srcf, axis=None)):
            srcf = np.where(np.isfinite(srcf), srcf, res)
        mixed = srcf + (res - srcf) * a
    mixed = np.where(a >= 1.0, res, mixed)
    out[y0:y1, x0:x1, ch] = np.where(a > 0, mixed.astype(out.dtype), src)


def paste_back(
    plate_raw: np.ndarray,
    result_work: np.ndarray,
    box: CropBox,
    alpha: np.ndarray,
    *,
    to_plate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Paste a working-size result (display 0-1) into an (H, W, C) plate where alpha > 0.

    The result is resized back to the box, clamped to 0-1 (Lanczos overshoot), converted to the
    plate's space by ``to_plate`` (identity when None) and blended linearly in plate space.
    """
    if plate_raw.shape[:2] != alpha.shape:
        raise PlanError(f"alpha {alpha.shape} does not match the plate {plate_raw.shape[:2]}")
    region = alpha_region(alpha)
    if region is None:
        return plate_raw.copy()
    rgb = np.clip(uncrop(result_work, box, region), 0.0, 1.0)
    if to_plate is not None:
        rgb = to_plate(rgb)
    return blend_region(plate_raw, rgb, region, alpha)
