"""Shadow lift: divide a smooth illumination change out of the affected region, keep its texture.

A shadow or a reflection does not hide what is under it: the plate there is the clean background
times a gain, smooth in space, one per channel, in linear light. The gain is measured as the
difference of two smoothed log images: the plate's (the object's own pixels filled smoothly from
around them) and the clean background's, known outside the region and wherever another frame
showed it clean, filled smoothly elsewhere. Dividing it out puts back the background's light and
keeps the plate's own texture and grain at scales finer than the smoothing.

The lift is judged once per window (:func:`judge`), so a window is lifted whole or not at all
and the notes say which. It is refused where the change is not a gain it can undo: the gain
leaves a shadow's or a sheen's range (light added to dark ground, black crushed); the region's
fine texture, whose relative contrast a gain leaves alone, is gone or foreign (content painted
over or replaced); or the plate's own texture, measured the same way on clean plate beside the
region (:func:`rehearse`), varies as much as the change, so that dividing it out would guess as
much as it restores.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .membrane import membrane_fill
from .spatial import points_box

#: Gaussian sigma (pixels) of the smoothing the gain is measured at: finer texture is kept from
#: the plate; a penumbra much narrower than this is blurred into a halo.
SIGMA = 5.0
#: Pixels read around the region (the clean plate that anchors the gain).
MARGIN = 16
#: Clean ring (pixels outside the tracked region) whose fine contrast the region is held to.
RING_PX = 10
#: Darkest value in linear light the log is taken of (8-bit black is 1/255 sRGB, 3e-4 linear).
FLOOR = 1e-3
#: A lift is kept when the region's fine relative contrast is within this range of the clean
#: ring's, in every channel (see :func:`judge`). Measured on the bench's real plates, a real
#: soft shadow on other material than its ring reads 0.27-1.2; a region painted over reads 0.
CONTRAST_RANGE = (0.15, 4.0)
#: Gaussian sigma (pixels) of the fine texture whose contrast :func:`judge` compares.
CONTRAST_SIGMA = 1.5
#: Gains beyond this range are not a shadow or a sheen that the plate kept enough texture under.
GAIN_RANGE = (0.1, 4.0)
#: A lift is kept when the change it undoes (mean |log gain|) is at least this many times what
#: the same measure finds on clean plate beside it (see :func:`rehearse`).
RELIABLE = 1.5
#: A lift is refused when, where other frames show the region clean, it leaves more than this
#: share of the change (summed |log| differences): the gain is not smooth there.
SHARP = 0.5
#: Least share of the region's shape that must land on uncovered plate for a rehearsal.
REHEARSE_SHARE = 0.4
#: The contrast :func:`judge` pools is measured on every this many frames (a window's lift is
#: judged as a whole; the sums of a few frames are enough and cost a fraction).
JUDGE_EVERY = 3
#: Fewest clean pixels (known background) around a frame's region for its gain to be measured.
MIN_ANCHOR = 64
#: Farthest (pixels, at the working size) a lifted pixel may be from background known clean,
#: and the share of a window's lifted pixels that may lie farther: the clean light under a
#: region is a smooth guess from its edge, and across a wide one the ground may change.
REACH = 40
WIDE_SHARE = 0.1
#: Jacobi sweeps per level of the smooth fills (see :mod:`.membrane`).
SWEEPS = 12


def to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB display values (the engine's encoding) to linear light, where a shadow is a gain."""
    x = np.clip(srgb, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def to_srgb(linear: np.ndarray) -> np.ndarray:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def _zeros() -> np.ndarray:
    return np.zeros(3)


@dataclass
class Lift:
    """One frame's lift: ``values`` (M, 3) sRGB for the lifted points, how many of them have a
    gain out of :data:`GAIN_RANGE`, and the sums that :func:`judge` pools over a window (zero
    on a frame it does not measure), per channel where an array."""

    values: np.ndarray
    out_of_range: int  # of the n_gain points measured (lifted or judged)
    n_gain: int
    dev_in: np.ndarray = field(default_factory=_zeros)  # fine contrast inside the region
    n_in: int = 0
    dev_ring: np.ndarray = field(default_factory=_zeros)  # ... and on the clean ring
    n_ring: int = 0
    depth: np.ndarray = field(default_factory=_zeros)  # |log gain| over n_depth measured points
    n_depth: int = 0
    miss: np.ndarray = field(default_factory=_zeros)  # |log gain| found by :func:`rehearse`
    n_miss: int = 0
    change: np.ndarray = field(default_factory=_zeros)  # |log plate - log clean| where shown
    left: np.ndarray = field(default_factory=_zeros)  # |log lifted - log clean| there
    n_shown: int = 0
    unanchored: int = 0  # lifted points of a frame with no clean plate around them
    beyond: int = 0  # of the n_gain points, those farther than REACH from clean plate


def _blur(img: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def _fine_contrast(lin: np.ndarray, where: np.ndarray) -> np.ndarray:
    """|x - local mean| / local mean per channel at the fine scale :data:`CONTRAST_SIGMA`, the
    mean taken over ``where`` alone (a region's texture, not its step to the surroundings).

    A gain leaves it unchanged, so it is measured on the plate itself.
    """
    r = where.astype(np.float32)
    weight = np.maximum(_blur(r, CONTRAST_SIGMA), 1e-3)
    mean = _blur(lin * r[..., None], CONTRAST_SIGMA) / weight[..., None]
    return np.abs(lin - mean) / np.maximum(mean, FLOOR)


def log_gain(log_plate: np.ndarray, bad: np.ndarray, log_clean: np.ndarray, unknown: np.ndarray):
    """The gain's log (H, W, 3): the smoothed plate minus the smoothed clean background.

    Where both are known it is a blur of their per-pixel log ratio; the object's pixels
    (``bad``) and the background nobody showed (``unknown``) are filled smoothly from around
    them first.
    """
    fill_p = membrane_fill(log_plate, bad, SWEEPS)
    fill_c = membrane_fill(log_clean, unknown, SWEEPS)
    return _blur(fill_p - fill_c)


def lift_points(
    frame: np.ndarray,
    pts: tuple[np.ndarray, np.ndarray],
    lift: np.ndarray,
    unreadable: np.ndarray,
    known: np.ndarray,
    clean: np.ndarray,
    measure: bool = True,
) -> Lift:
    """Lift the points ``lift`` of the tracked pixels ``pts`` (ys, xs) of ``frame`` (H, W, 3 sRGB).

    Every pixel outside ``pts`` is clean plate. Among ``pts`` (each an (N,) flag): ``unreadable``
    marks the object's grown pixels, whose plate says nothing about the background; ``known``
    those whose clean colour is known, ``clean`` (N, 3) sRGB (another frame showed them, or
    they are plate that nothing covers). ``measure``: also sum what :func:`judge` needs.
    """
    ys, xs = pts
    h, w = frame.shape[:2]
    box = points_box((ys[lift], xs[lift]), (h, w), MARGIN)
    inb = (ys >= box[0].start) & (ys < box[0].stop) & (xs >= box[1].start) & (xs < box[1].stop)
    ly, lx = ys - box[0].start, xs - box[1].start
    lin = to_linear(frame[box])
    shape = lin.shape[:2]
    bad = np.zeros(shape, bool)
    sel = inb & unreadable
    bad[ly[sel], lx[sel]] = True
    log_plate = np.log(np.maximum(lin, FLOOR))
    log_clean = log_plate.copy()
    sel = inb & known
    log_clean[ly[sel], lx[sel]] = np.log(np.maximum(to_linear(clean[sel]), FLOOR))
    unknown = np.zeros(shape, bool)
    sel = inb & ~known
    unknown[ly[sel], lx[sel]] = True
    if int((~unknown).sum()) < MIN_ANCHOR:  # no clean plate to measure the light against
        return Lift(frame[ys[lift], xs[lift]].copy(), 0, 0, unanchored=int(lift.sum()))
    gain = np.exp(log_gain(log_plate, bad, log_clean, unknown))
    lifted = lin / gain
    sel_y, sel_x = ly[lift], lx[lift]
    # How far each lifted pixel is from background known clean: the smooth guess of the light
    # under a wide region is a guess across materials the plate may change between.
    reach = cv2.distanceTransform((~unknown).view(np.uint8) ^ 1, cv2.DIST_L2, 3)
    beyond = int((reach[sel_y, sel_x] > REACH).sum())
    values = to_srgb(lifted[sel_y, sel_x])
    g = gain[sel_y, sel_x]
    out_of_range = int(((g < GAIN_RANGE[0]) | (g > GAIN_RANGE[1])).any(axis=1).sum())
    if not measure:
        return Lift(values, out_of_range, len(g), beyond=beyond)
    # Fine contrast inside (the region away from the object's pixels) and on the clean ring.
    far = cv2.dilate(bad.view(np.uint8), _disc(int(2 * CONTRAST_SIGMA) + 1)).view(bool)
    inside = np.zeros(shape, bool)
    inside[sel_y, sel_x] = True
    inside &= ~far
    tracked = np.zeros(shape, bool)
    tracked[ly[inb], lx[inb]] = True
    ring = cv2.dilate(tracked.view(np.uint8), _disc(RING_PX)).view(bool) & ~tracked
    dev_in = _fine_contrast(lin, inside)[inside].sum(axis=0)
    dev_ring = _fine_contrast(lin, ring)[ring].sum(axis=0)
    depth = np.abs(np.log(g)).sum(axis=0)
    miss, n_miss = rehearse(frame, pts, lift)
    # Where another frame showed the region clean the change is known pixel by pixel: what the
    # smooth gain leaves of it there is its sharpness (a hard edge, a pattern), not light.
    shown = np.zeros(shape, bool)
    sel = inb & known & lift
    shown[ly[sel], lx[sel]] = True
    change = np.abs(log_plate - log_clean)[shown].sum(axis=0)
    left = np.abs(np.log(np.maximum(lifted, FLOOR)) - log_clean)[shown].sum(axis=0)
    return Lift(
        values,
        out_of_range,
        len(g),
        dev_in,
        int(inside.sum()),
        dev_ring,
        int(ring.sum()),
        depth,
        len(g),
        miss,
        n_miss,
        change,
        left,
        int(shown.sum()),
        beyond=beyond,
    )


def rehearse(
    frame: np.ndarray, pts: tuple[np.ndarray, np.ndarray], lift: np.ndarray
) -> tuple[np.ndarray, int]:
    """The gain the lift would find on clean plate: (sum of |log gain| per channel, pixels).

    The region's own shape is moved beside it, onto plate that nothing covers, and measured as
    if nobody had shown it clean. What it finds there is the background's texture mistaken for
    light: the error the lift itself makes, to be weighed against the change it would undo.
    (0, 0) where no such place is near.
    """
    ys, xs = pts
    h, w = frame.shape[:2]
    ry, rx = ys[lift], xs[lift]
    bh, bw = int(ry.max() - ry.min()) + 1, int(rx.max() - rx.min()) + 1
    tracked = np.zeros((h, w), bool)
    tracked[ys, xs] = True
    for dy, dx in ((0, bw + 4), (0, -bw - 4), (bh + 4, 0), (-bh - 4, 0)):
        qy, qx = ry + dy, rx + dx
        inside = (qy >= 0) & (qx >= 0) & (qy < h) & (qx < w)
        inside[inside] = ~tracked[qy[inside], qx[inside]]
        if inside.mean() < REHEARSE_SHARE:
            continue
        qy, qx = qy[inside], qx[inside]
        box = points_box((qy, qx), (h, w), MARGIN)
        bad = tracked[box]
        unknown = bad.copy()
        unknown[qy - box[0].start, qx - box[1].start] = True
        log_plate = np.log(np.maximum(to_linear(frame[box]), FLOOR))
        u = log_gain(log_plate, bad, log_plate, unknown)
        return np.abs(u[qy - box[0].start, qx - box[1].start]).sum(axis=0), int(qy.size)
    return np.zeros(3), 0


def _disc(px: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))


def judge(lifts: list[Lift]) -> tuple[bool, str]:
    """Whether a window's lifts hold (the change is a gain they can undo), and why (not).

    Pooled over the window: the share of pixels whose gain is beyond :data:`GAIN_RANGE`; where
    other frames show most of the region clean, the share of the change the smooth gain leaves
    (:data:`SHARP`); the mean depth of the change against what :func:`rehearse` finds on clean
    plate (:data:`RELIABLE`); the region's fine relative contrast, per channel, against the
    clean ring's (:data:`CONTRAST_RANGE`: a gain leaves it unchanged, flat paint removes it).
    The reasons carry no figures, so a job's windows give one note each.
    """
    n_in = sum(lf.n_in for lf in lifts)
    n_ring = sum(lf.n_ring for lf in lifts)
    lifted = sum(lf.values.shape[0] for lf in lifts)
    if lifted == 0:
        return False, "every frame's affected region is shown clean by another frame"
    if sum(lf.unanchored for lf in lifts) > 0.05 * lifted:
        return False, "no clean plate is near it to measure the light against"
    wide = sum(lf.beyond for lf in lifts) / max(sum(lf.n_gain for lf in lifts), 1)
    if wide > WIDE_SHARE:
        return False, ("the region is too wide for the light under it to be measured from its edge")
    far = sum(lf.out_of_range for lf in lifts) / max(sum(lf.n_gain for lf in lifts), 1)
    if far > 0.05:
        return False, (
            f"the change there is beyond a gain of {GAIN_RANGE[0]:g}-{GAIN_RANGE[1]:g} (not a "
            "shadow or a sheen)"
        )
    change = float(sum(lf.change for lf in lifts).sum())
    left = float(sum(lf.left for lf in lifts).sum())
    shown = sum(lf.n_shown for lf in lifts) / max(sum(lf.n_depth for lf in lifts), 1)
    # Judged where most of the region is shown (a moving object): a few pixels carried into a
    # standing object's shadow by wandering flow say little about its gain.
    if shown >= 0.5 and change > 0 and left > SHARP * change:
        return False, (
            "where other frames show it clean, a smooth gain undoes under half of the change "
            "(its edges are sharper than a soft shadow's)"
        )
    n_depth = sum(lf.n_depth for lf in lifts)
    n_miss = sum(lf.n_miss for lf in lifts)
    if n_miss and n_depth:
        depth = float(sum(lf.depth for lf in lifts).mean()) / n_depth
        miss = float(sum(lf.miss for lf in lifts).mean()) / n_miss
        if depth < RELIABLE * miss:
            return False, (
                "the plate's texture around it varies as much as the change there: a lift "
                "would guess as much as it restores"
            )
    if n_in < 16 or n_ring < 16:
        return True, "too small to judge"
    dev_in = sum(lf.dev_in for lf in lifts) / n_in
    dev_ring = sum(lf.dev_ring for lf in lifts) / n_ring
    ratio = dev_in / np.maximum(dev_ring, 1e-6)
    lo, hi = CONTRAST_RANGE
    if (ratio < lo).any() or (ratio > hi).any():
        return False, (
            "its fine texture is gone or foreign to the plate around it, a change of colour or "
            "content beyond a smooth gain"
        )
    return True, f"contrast {', '.join(f'{r:.2f}' for r in ratio)}x the plate around it"


def lift_window(
    frames: np.ndarray,
    pts: list[tuple[np.ndarray, np.ndarray]],
    affected: list[np.ndarray],
    removal_grown: np.ndarray,
    seen: list[np.ndarray],
    colours: list[np.ndarray],
    todo: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray | None] | None, str]:
    """Lifted sRGB colours of each frame's affected points that no frame showed clean (None for
    a frame with none), or None when :func:`judge` says the change is not a gain; and why.

    Per frame t: ``pts[t]`` the tracked pixels, ``affected[t]`` (N,) the affected ones,
    ``removal_grown[t]`` (H, W) the object's grown pixels, ``seen[t]`` (N,) the points another
    frame showed clean and ``colours[t]`` (N, 3) their colours (these anchor the gain);
    ``todo[t]`` (N,) the points to lift (default: the affected ones not seen).
    """
    lifts: list[Lift | None] = []
    for t, (ys, xs) in enumerate(pts):
        lift = affected[t] & ~seen[t] if todo is None else todo[t]
        judged = t % JUDGE_EVERY == 0 and affected[t].any()
        if not lift.any() and not judged:
            lifts.append(None)
            continue
        unreadable = removal_grown[t][ys, xs]
        known = (~unreadable & ~affected[t]) | seen[t]  # plate nothing covers, or shown clean
        clean = np.where(seen[t][:, None], colours[t], frames[t][ys, xs])
        # A judged frame is measured over its whole affected region, lifted where asked.
        measured = affected[t] if judged else lift
        lf = lift_points(frames[t], (ys, xs), measured, unreadable, known, clean, judged)
        lifts.append(replace(lf, values=lf.values[lift[measured]]))
    ok, why = judge([lf for lf in lifts if lf is not None])
    if not ok:
        return None, why
    return [lf.values if lf is not None and len(lf.values) else None for lf in lifts], why
