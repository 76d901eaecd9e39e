"""Finish: the engine's fill made as sharp and as grainy as the plate around it.

The engine works at 384x672, so on a 2K-4K plate its fill comes back enlarged (soft) and clean
(the model was trained on clean renders). Assembly calls :func:`finish_fill` once per frame on
the changed region, before the fill is pasted: detail from other frames where they see the
background (:mod:`.detail`), then grain measured on this frame's plate outside the mask and
synthesised into the fill (:mod:`.grain`). The spec's ``finish`` block switches each off; with
both off the output is today's, bit for bit. numpy and OpenCV only.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from void_vfx.model_facts import QUAD_KEEP
from void_vfx.render.finish import detail as _detail
from void_vfx.render.finish import flow as _flow
from void_vfx.render.finish import grain as _grain

#: Guards each shot's grain model, measured once by whichever writer thread comes first.
_GRAIN_LOCK = threading.Lock()
#: Guards the creation of each shot's :class:`SourceCache`.
_SOURCES_LOCK = threading.Lock()


#: Engines whose fill is carried from the plate's own frames, grain included: matched grain
#: would come on top of it (the preview engine's flow-guided fill; VOID's fill is clean).
GRAINY_FILL_ENGINES = ("preview",)


def enabled(spec) -> tuple[bool, bool]:
    """(detail, grain) as the spec asks (a spec object without a ``finish`` block: both off);
    no grain for an engine whose fill already carries the plate's (:data:`GRAINY_FILL_ENGINES`)."""
    f = getattr(spec, "finish", None)
    if f is None:
        return False, False
    grainy = getattr(spec, "engine", "") in GRAINY_FILL_ENGINES
    return bool(getattr(f, "detail", False)), bool(getattr(f, "grain", False)) and not grainy


#: Source pixels warped per output frame at most (region pixels x other frames): a region of
#: the full height of a 4K plate (4-5 Mpx) takes 1 other frame, of 3 Mpx 2, of 2 Mpx or less
#: (a 2K plate's) 3 (:data:`.detail.MAX_SOURCES`).
SOURCE_PIXELS = 6_000_000
#: Decoded source regions kept per shot (neighbouring frames share their sources), in bytes.
SOURCE_CACHE_BYTES = 512 * 1024 * 1024


def read_plate_rgb(shot, frame: int, region) -> np.ndarray:
    """A plate frame's R, G, B over ``region`` (x0, y0, x1, y1, display pixels) as float32, NaN
    and Inf replaced; only those scanlines are decoded where the file allows (the row cache is
    left alone: its rows belong to frames still to be assembled)."""
    from void_vfx.media.colour import replace_nonfinite

    x0, y0, x1, y1 = region
    data = shot.decode_rows(shot.plate.path(frame), frame, y0, y1, x0, x1)
    return replace_nonfinite(np.ascontiguousarray(data, dtype=np.float32))


class SourceCache:
    """Plate rows (the whole width, R, G, B) of a shot's frames, decoded once for the frames
    around them that take them as sources (a frame's own are kept for its neighbours); bounded
    in bytes, the oldest dropped first. Thread-safe; rows are handed out read-only."""

    def __init__(self, budget: int = SOURCE_CACHE_BYTES) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._kept: dict[int, tuple[int, np.ndarray]] = {}

    def put(self, frame: int, y0: int, rows: np.ndarray) -> None:
        """Keep ``rows`` (display rows from ``y0``; the caller gives the array up)."""
        rows.flags.writeable = False
        with self._lock:
            self._kept.pop(frame, None)
            self._kept[frame] = (y0, rows)
            while sum(v.nbytes for _, v in self._kept.values()) > self.budget:
                self._kept.pop(next(iter(self._kept)))

    def get(self, frame: int, region) -> np.ndarray | None:
        x0, y0, x1, y1 = region
        with self._lock:
            hit = self._kept.get(frame)
        if hit is None or hit[0] > y0 or hit[0] + len(hit[1]) < y1:
            return None
        return hit[1][y0 - hit[0] : y1 - hit[0], x0:x1]

    def read(self, shot, frame: int, region) -> np.ndarray:
        """``frame``'s plate over ``region``: kept rows, or its rows decoded and kept."""
        got = self.get(frame, region)
        if got is None:
            x0, y0, x1, y1 = region
            self.put(frame, y0, read_plate_rgb(shot, frame, (0, y0, shot.width, y1)))
            got = self.get(frame, region)
        return got


def _sources_of(shot) -> SourceCache:
    with _SOURCES_LOCK:
        if not hasattr(shot, "_finish_sources"):
            shot._finish_sources = SourceCache()
        return shot._finish_sources


def finish_fill(
    shot,
    frame: int,
    rgb: np.ndarray,
    region,
    alpha: np.ndarray,
    rows: np.ndarray,
    row0: int,
    scale: float,
) -> np.ndarray:
    """The engine's fill ``rgb`` (region-sized, plate values) finished: detail from other
    frames, then the plate's grain. ``rows`` are plate rows (every channel, from display row
    ``row0``, the whole width) holding at least the region's; ``scale`` is how far the engine's
    result was enlarged. Returns ``rgb`` itself when the spec switches both off."""
    want_detail, want_grain = enabled(shot.spec)
    if not (want_detail or want_grain):
        return rgb
    from void_vfx.media.colour import replace_nonfinite

    x0, y0, x1, y1 = region
    mask = shot.compact_quadmask(frame)
    hole = mask.region(x0, y0, x1, y1) != QUAD_KEEP
    band = replace_nonfinite(
        np.asarray(rows[y0 - row0 : y1 - row0][..., list(shot.rgb_index)], np.float32)
    )
    plate = band[:, x0:x1]
    out = np.ascontiguousarray(rgb, np.float32)
    # The grain is measured for the detail too: it is taken out of what other frames bring.
    model = shot_grain(shot)
    want_grain = want_grain and model is not None
    plan = None
    if want_detail and scale >= _detail.MIN_SCALE and hole.any():
        cache = _sources_of(shot)
        cache.put(frame, y0, band)  # a source of the frames around it
        most = max(1, min(_detail.MAX_SOURCES, SOURCE_PIXELS // max(hole.size, 1)))
        ks = _detail.choose_sources(
            frame,
            shot.frames,
            hole,
            lambda k: shot.compact_quadmask(k).region(x0, y0, x1, y1) != QUAD_KEEP,
            most,
        )
        sources = [_detail.Source(plate, hole, flow=False)]
        for k in ks:
            covered = shot.compact_quadmask(k).region(x0, y0, x1, y1) != QUAD_KEEP
            sources.append(_detail.Source(cache.read(shot, k, region), covered))
        plan = _detail.plan(out, plate, alpha, sources, scale)
    if plan is None and not want_grain:
        return out
    return _finish_strips(shot, frame, out, plan, model if want_grain else None, model, scale)


def _finish_strips(shot, frame, engine, plan, grain_model, model, scale) -> np.ndarray:
    """The plate-size pass, :data:`.detail.STRIP_ROWS` rows at a time (each band's arrays stay
    in the processor's cache): detail (``plan``, or None) with the grain (``model``) taken out
    of it, then grain (``grain_model``, or None)."""
    h, w = engine.shape[:2]
    step = _detail.work_step(scale)
    if plan is not None:
        low = plan.low_engine
    else:
        low = _flow.lowpass(_flow.shrink(engine, step), _detail.band_sigma(scale) / step)
    ratio = (w / low.shape[1], h / low.shape[0])

    def up(small, a, b):  # work size -> rows a:b at the plate's
        return _flow.up_rows(small, (h, w), ratio, a, b)

    noise = None  # the grain the sources' detail carries, at the work size
    if plan is not None and model is not None:
        share = np.sqrt(model.high_share(_detail.band_sigma(scale)))
        noise = model.sigma_at(low) * share * plan.mixed[..., None]
    sigma = white = filt = None
    if grain_model is not None:
        # The fill's intensity (its low band is the engine's) gives the grain's amplitude.
        sigma = grain_model.sigma_at(_flow.lowpass(_flow.shrink(engine, step), 2.0 / step))
        white = _grain.white_noise(_grain.rng_for(_seed(shot.spec), frame), h, w)
        filt = _grain.filters(grain_model)
    out = np.empty_like(engine)
    reach = _grain.DEGRAIN_RADIUS  # the degrain's box reaches this far
    for a in range(0, h, _detail.STRIP_ROWS):
        b = min(h, a + _detail.STRIP_ROWS)
        present = None
        if plan is not None:
            da, db = max(0, a - reach), min(h, b + reach)
            high, weight, _ = _detail.strip(plan, da, db)
            if noise is not None:
                n = up(noise, da, db)
                high, gain = _grain.degrain(high, n)
                present = cv2.multiply(cv2.multiply(n, gain), cv2.merge([weight] * 3))
                present = present[a - da : b - da]
            if plan.engine_high is None:
                plan.engine_high = _detail.high_band(engine, plan.sigma)
            e = engine[da:db]
            own_high = plan.engine_high[da:db]
            res = cv2.add(e, cv2.multiply(cv2.subtract(high, own_high), cv2.merge([weight] * 3)))[
                a - da : b - da
            ]
        else:
            res = engine[a:b]
        if grain_model is not None:
            amp = _grain.amplitude(up(sigma, a, b), present)
            res = cv2.add(res, cv2.multiply(_grain.shaped(filt, white, a, b), amp))
        out[a:b] = res
    return out


def _seed(spec) -> int:
    sampling = getattr(spec, "sampling", None)
    return int(getattr(sampling, "seed", 0) or 0)


def shot_grain(shot):
    """The shot's grain, measured once per job on whole plate frames (its middle, first and
    last, as many as it takes: the same pixels whatever order frames are assembled in) outside
    their masks and away from the feather, each against the next frame warped onto it (texture
    stays, grain does not); None where too little plate is kept to tell, or where it has no
    grain."""
    with _GRAIN_LOCK:
        if hasattr(shot, "_finish_grain"):
            return shot._finish_grain
        frames = shot.frames
        # As many frames as MAX_BLOCKS needs (a 4K frame alone holds enough blocks), at most 3.
        blocks_per_frame = shot.width * shot.height / _grain.BLOCK**2
        count = min(3, max(1, int(np.ceil(_grain.MAX_BLOCKS / blocks_per_frame))))
        order = [len(frames) // 2, 0, len(frames) - 1]
        picks = sorted(set(order[:count]))
        blocks: list[np.ndarray] = []
        changes: list[np.ndarray] | None = [] if len(frames) > 1 else None
        whole = (0, 0, shot.width, shot.height)
        cache = _sources_of(shot)  # the frames read here are sources of their neighbours
        for i in picks:
            f = frames[i]
            rgb = cache.read(shot, f, whole)
            near = _near_mask(shot, f)
            change = None
            if changes is not None:
                g = frames[i + 1] if i + 1 < len(frames) else frames[i - 1]
                other = cache.read(shot, g, whole)
                change, moved_mask = _flow.compensate(rgb, other, _near_mask(shot, g))
                near |= moved_mask
                del other
            got, diff = _grain.sample_blocks(rgb, ~near, _grain.MAX_BLOCKS // len(picks), change)
            blocks += got
            if changes is not None:
                changes += diff
            del rgb, change
        model = _grain.measure_blocks(blocks, changes)
        shot._finish_grain = model
        return model


def _near_mask(shot, frame: int) -> np.ndarray:
    """A frame's non-keep pixels grown past the feather: not plate to measure grain on."""
    import cv2

    grow = 2 * int(getattr(shot.spec.roi, "feather", 0)) + 9
    near = shot.compact_quadmask(frame).full() != QUAD_KEEP
    return cv2.dilate(near.astype(np.uint8), np.ones((grow, grow), np.uint8)) > 0
