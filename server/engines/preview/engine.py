"""The preview engine: flow-guided propagation, then a steady spatial fill, on the CPU.

For each window: optical flow between neighbouring frames (:mod:`.flow`), completed inside the
grown hole from its border (:mod:`.flow_fill`); every hole pixel linked along the flow to the
nearest earlier and later frames that show its background (:mod:`.propagate`) and coloured from
them. What no frame shows is filled spatially on one keyframe (:mod:`.spatial`) and carried to
the others along the same flow, a few rounds, then frame by frame for any rest; where it lands,
the guess is nudged to meet each frame's own plate at the hole's edge (:mod:`.seam`), so it follows
light and water that change around a standing object.

The options (a spec's ``params``) are declared in :data:`void_vfx.job.engine_params.PREVIEW`.
The removal region (0 and 63) is grown by ``params["grow_px"]`` pixels (default
:data:`GROW_PX`) before anything is read, so a lossy matte's edge, still tinted by the object,
is never a source; only the quadmask's non-keep pixels are written. The affected region (127)
takes background where some frame really shows it; elsewhere its shadow is lifted: a smooth
per-channel gain divided out, the plate's texture kept (:mod:`.shadow`), unless the change there
is not such a gain, where the plate stays. The notes say which. Once lifted, the affected region
is a source for a moving object's pixels (it is often what the object covers next).
``params["static_camera"] = True`` skips the flow (a locked-off shot);
``params["seam_blend"] = False`` leaves the spatial guess as it was made;
``params["shadow_lift"] = False`` keeps the plate wherever no frame shows the affected region
clean (as before the lift); ``params["relink"] = False`` leaves the object's links as the
plate alone gave them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import cv2
import numpy as np

from void_vfx.errors import Cancelled
from void_vfx.job.engine_params import PREVIEW, PREVIEW_GROW_PX, with_defaults
from void_vfx.model_facts import QUAD_AFFECTED, QUAD_KEEP
from void_vfx.render.engine import Engine, Progress, ShouldCancel, WindowInput, WindowOutput

from .flow import PairFlow, flow_step, grey_small, mask_small, near, pair_flows
from .flow_fill import complete_flow
from .motion import estimate_motion
from .propagate import IndexMaps, blend, steps, sweep
from .seam import edge_ring, seam_offsets
from .shadow import lift_window
from .spatial import fill_points

#: Pixels the removal region grows by before anything is read from around it.
GROW_PX = PREVIEW_GROW_PX
#: Keyframe rounds for what no frame shows before the rest is filled frame by frame.
KEY_ROUNDS = 3
#: Fewest unseen pixels in a frame worth a keyframe round (a sweep of the whole window); fewer
#: are filled frame by frame.
KEY_MIN = 64
#: Farthest source (in frames) a pixel is read from: long chains drift, and water or foliage
#: changes shape; past it a spatial guess scores better (measured on the bench's real clips).
MAX_GAP = 12
#: Largest share of the object's pixels seen by no frame for which it is relinked to the lifted
#: region (see :func:`_relink`): above it the object stands still.
RELINK_UNSEEN = 0.5
#: An affected pixel whose nearest clean source is more than MIX_FROM frames away mixes its
#: carried colour with its lifted one, the lifted weighing half MIX_HALF frames further (see
#: :func:`_lift`): water and light change over a few frames, the plate's own texture does not.
#: Measured on the bench: BigBen's moving disc 36.9 -> 37.3 dB, worst frame 33.5 -> 33.3.
MIX_FROM = 7
MIX_HALF = 4
#: CPU threads for the flow (a shared workstation has few to spare).
THREADS = max(1, min(4, os.cpu_count() or 1))

NOTE_AFFECTED = (
    "preview keeps the affected region: shadows and reflections there need the VOID engine "
    "(the preview only puts back background that another frame shows clean)"
)
NOTE_LIFTED = (
    "preview lifted the affected region as a shadow: a smooth per-channel gain, measured against "
    "the clean plate around it and in frames that show it clean, was divided out, keeping the "
    "plate's own texture and grain (reflections, physics and hard-edged shadows need the VOID "
    "engine)"
)


def note_kept(why: str | None) -> str:
    """The affected region stayed as the plate (where no frame shows it clean), and why."""
    if not why or why == "off":
        return NOTE_AFFECTED
    return (
        f"preview kept the affected region where no frame shows it clean, not lifted as a shadow: "
        f"{why}; changing it needs the VOID engine"
    )


NOTE_PASS2 = (
    "Pass 2 needs the VOID engine: the preview engine ran its single fill and ignored Pass 2; "
    "send the job to a server started with --engine void (and VOID weights), or drop --passes 2"
)


def note_unseen(share: float) -> str:
    return (
        f"preview: {share:.0%} of the hole was seen by no frame of the window; it is a spatial "
        "guess (held steady over time), and the VOID engine can do better there"
    )


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """(F, H, W) masks grown by ``px`` pixels (a disc), each on its set pixels' box alone."""
    if px <= 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    out = np.zeros_like(mask)
    h, w = mask.shape[1:]
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    for t in range(mask.shape[0]):
        ys, xs = np.flatnonzero(rows[t]), np.flatnonzero(cols[t])
        if ys.size == 0:
            continue
        box = (
            slice(max(0, ys[0] - px), min(h, ys[-1] + 1 + px)),
            slice(max(0, xs[0] - px), min(w, xs[-1] + 1 + px)),
        )
        crop = np.ascontiguousarray(mask[t][box]).view(np.uint8)
        out[t][box] = cv2.dilate(crop, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def _points(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.nonzero(mask) of one (H, W) mask, scanning only the rows and columns that hold any."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    xs = np.flatnonzero(mask[ys[0] : ys[-1] + 1].any(axis=0))
    py, px = np.nonzero(mask[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1])
    return py + ys[0], px + xs[0]


def completed_flows(frames, tracked, keep, step, threads, cancel) -> list[PairFlow]:
    """DIS flows of neighbouring frames with the grown hole of both frames rebuilt from its
    border."""
    small = mask_small(tracked, step)
    flows = pair_flows(grey_small(frames, step), small, threads, cancel)
    if cancel():
        raise Cancelled("preview engine: cancelled while measuring optical flow")
    pos = None
    for t, pf in enumerate(flows):
        if not pf.measured:
            continue  # no hole in either frame: nothing reads this pair's flow
        box = (slice(pf.y0, pf.y0 + pf.fwd.shape[0]), slice(pf.x0, pf.x0 + pf.fwd.shape[1]))
        hole = near(small[t][box] | small[t + 1][box])
        fallback = (0.0, 0.0)
        if hole.mean() > 0.95:
            if pos is None:
                pos = estimate_motion(frames, keep)
            dy, dx = (pos[t] - pos[t + 1]) / step
            fallback = (float(dx), float(dy))
        complete_flow(pf.fwd, hole, fallback)
        complete_flow(pf.bwd, hole, (-fallback[0], -fallback[1]))
    return flows


def _nearest(early, late, t: int) -> np.ndarray:
    """Frames (N,) from each tracked pixel of frame t to its nearest source (large: none)."""
    gap = np.full(early.src.shape, 10**6, np.int64)
    for links in (early, late):
        has = links.src >= 0
        gap[has] = np.minimum(gap[has], np.abs(links.src[has] - t))
    return gap


def _lift(frames, pts, affected, removal_grown, seen, colours, gaps, done, lifted) -> str:
    """Lift the affected points (see :mod:`.shadow`), in place: their colours, ``done`` and
    ``lifted`` flags, and the frames (later spatial fills read the lifted plate around the
    object). Where no frame showed a point clean its colour is the lifted one; where one did,
    ``gaps`` frames away, far (:data:`MIX_FROM`), the two are mixed, the lifted one weighing
    more the farther that frame: two estimates whose errors differ beat either. Returns why
    the lift was or was not made."""
    todo = [a & (~d | (g > MIX_FROM)) for a, d, g in zip(affected, done, gaps, strict=True)]
    values, why = lift_window(frames, pts, affected, removal_grown, seen, colours, todo)
    for t, vals in enumerate(values or ()):
        if vals is None:
            continue
        a = np.flatnonzero(todo[t])
        g = np.maximum(gaps[t][a].astype(np.float32) - MIX_FROM, 0.0)
        w = np.where(done[t][a], g / (g + MIX_HALF), 1.0)[:, None]
        colours[t][a] = w * vals + (1.0 - w) * colours[t][a]
        done[t][a] = True
        lifted[t][a] = True
        frames[t][pts[t][0][a], pts[t][1][a]] = colours[t][a]
    return why


def _relink(frames, pts, valid, flows, step, moves, affected, removal, done, colours, seen):
    """Once the affected region is lifted it is background too: the object's pixels are linked
    again with it as a source, so a pixel that the shadow covered before the object did has a
    source a frame or two away instead of many (or none)."""
    for t, (ys, xs) in enumerate(pts):
        a = affected[t] & done[t]
        valid[t][ys[a], xs[a]] = True
        frames[t][ys[a], xs[a]] = colours[t][a]
    early = sweep(pts, valid, flows, step, True, moves[0])
    late = sweep(pts, valid, flows, step, False, moves[1])
    for t in range(len(pts)):
        sel = np.flatnonzero(removal[t])
        if sel.size == 0:
            continue
        c, found = blend(frames, t, early[t], late[t], sel, MAX_GAP)
        colours[t][sel[found]] = c[found]
        done[t][sel[found]] = True
        seen[t][sel[found]] = True


class PreviewEngine(Engine):
    """Flow-guided video completion on the CPU: quick, honest about what it leaves."""

    name = "preview"

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device": "cpu",
            "weights": "none needed",
            "loaded": True,
            "motion": "optical flow (OpenCV DIS), completed in the hole",
            "spatial fill": "membrane fill on a keyframe, carried along the flow and seam-blended",
            "affected region": "carried where shown clean, else a shadow lift (smooth gain)",
        }

    def run(
        self, window: WindowInput, progress: Progress, should_cancel: ShouldCancel
    ) -> WindowOutput:
        window.check()
        cv2.setNumThreads(1)  # the flow runs pairs in parallel threads instead
        frames = np.clip(window.frames, 0.0, 1.0, dtype=np.float32)  # the output, from a copy
        n, h, w, _ = frames.shape
        quad = window.quadmask
        keep = quad == QUAD_KEEP
        affected = quad == QUAD_AFFECTED
        removal = ~keep & ~affected
        opts = with_defaults(PREVIEW, window.params)  # the job's options, else their defaults
        grow = max(0, int(opts["grow_px"]))
        tracked = _dilate(~keep, grow)
        valid = ~tracked
        step = flow_step(h, w)

        asked = threading.Event()
        lock = threading.Lock()

        def cancel() -> bool:
            """should_cancel(), polled until it first answers True (flow threads share it)."""
            with lock:
                if not asked.is_set() and should_cancel():
                    asked.set()
            return asked.is_set()

        if cancel():
            raise Cancelled("preview engine: cancelled before optical flow")
        progress(0, n + 1, "measuring optical flow")
        if opts["static_camera"] or n < 2:
            flows = [PairFlow.still() for _ in range(max(n - 1, 0))]
        else:
            flows = completed_flows(frames, tracked, keep, step, THREADS, cancel)
        progress(1, n + 1, "optical flow measured and completed")
        pts = [_points(tracked[t]) for t in range(n)]
        target = [removal[t][pts[t]] | affected[t][pts[t]] for t in range(n)]
        is_removal = [removal[t][pts[t]] for t in range(n)]
        is_affected = [target[t] & ~is_removal[t] for t in range(n)]
        lift_on = bool(opts["shadow_lift"])
        relink = bool(opts["relink"])
        lift_mask = [np.zeros(p[0].size, bool) for p in pts]
        lift_why: str | None = "off" if not lift_on else None
        # The frames are the sources: the plate, plus keyframe fills as they are made; the
        # tracked pixels' plate values are kept aside to be put back where nothing is written.
        plate = [frames[t][pts[t]] for t in range(n)]
        maps = IndexMaps(pts)
        moves = [steps(pts, (h, w), flows, step, forward, maps) for forward in (True, False)]
        done = [np.zeros(p[0].size, bool) for p in pts]
        colours = [np.zeros((p[0].size, 3), np.float32) for p in pts]
        unseen_share = 0.0
        for rnd in range(KEY_ROUNDS + 1):
            if cancel():
                raise Cancelled(f"preview engine: cancelled in propagation round {rnd + 1}")
            early = sweep(pts, valid, flows, step, True, moves[0])
            late = sweep(pts, valid, flows, step, False, moves[1])
            for t in range(n):
                # Round 0 fills everything it can; later rounds (keyframe fills as sources) only
                # what is still missing from the removal region, never the affected region.
                want = ~done[t] if rnd == 0 else ~done[t] & (is_removal[t] | ~target[t])
                sel = np.flatnonzero(want)
                if sel.size == 0:
                    continue
                c, found = blend(frames, t, early[t], late[t], sel, MAX_GAP)
                colours[t][sel[found]] = c[found]
                done[t][sel[found]] = True
            if rnd == 0:
                seen = [d.copy() for d in done]
                total = sum(int(m.sum()) for m in is_removal)
                missed = sum(int((m & ~d).sum()) for m, d in zip(is_removal, done, strict=True))
                unseen_share = missed / max(total, 1)
                if lift_on and any(a.any() for a in is_affected):
                    gaps = [_nearest(early[t], late[t], t) for t in range(n)]
                    lift_why = _lift(
                        frames,
                        pts,
                        is_affected,
                        _dilate(removal, grow),
                        seen,
                        colours,
                        gaps,
                        done,
                        lift_mask,
                    )
                    # Only for a moving object: a standing one's flow inside the hole wanders
                    # (water, grain), and would pull lifted pixels into its never-seen middle.
                    lifted = any(m.any() for m in lift_mask)
                    if lifted and relink and unseen_share < RELINK_UNSEEN:
                        _relink(
                            frames,
                            pts,
                            valid,
                            flows,
                            step,
                            moves,
                            is_affected,
                            is_removal,
                            done,
                            colours,
                            seen,
                        )
            missing = [int((m & ~d).sum()) for m, d in zip(is_removal, done, strict=True)]
            if max(missing, default=0) < KEY_MIN or rnd == KEY_ROUNDS:
                break
            k = int(np.argmax(missing))
            filled = fill_points(frames[k], pts[k], colours[k], done[k])
            frames[k][pts[k]] = filled
            gap = ~done[k] & (is_removal[k] | ~target[k])
            valid[k][pts[k][0][gap], pts[k][1][gap]] = True
            colours[k][gap] = filled[gap]
            done[k][gap] = True
            progress(2 + rnd, n + 1, f"filled keyframe {k + 1} spatially")
        seam = bool(opts["seam_blend"])
        for t in range(n):
            if t % 8 == 0 and cancel():
                raise Cancelled(f"preview engine: cancelled at window frame {t + 1} of {n}")
            if is_removal[t].size and (is_removal[t] & ~done[t]).any():
                frames[t][pts[t]] = np.where(lift_mask[t][:, None], colours[t], plate[t])
                filled = fill_points(frames[t], pts[t], colours[t], done[t])
                gap = ~done[t] & (is_removal[t] | ~target[t])
                colours[t][gap] = filled[gap]
                done[t][gap] = True
            put = target[t] & done[t]
            if seam and put.any():
                known = done[t] & keep[t][pts[t]] & edge_ring(tracked[t], pts[t])
                off = seam_offsets(pts[t], (h, w), colours[t], plate[t], known)
                # Carried from a real frame: measured on the bench, it is better left alone
                # (water and ripples make the ring's difference a poor guide); lifted: its own.
                off[seen[t] | lift_mask[t]] = 0.0
                colours[t] += off
                np.clip(colours[t], 0.0, 1.0, out=colours[t])
            frames[t][pts[t]] = np.where(put[:, None], colours[t], plate[t])
        progress(n + 1, n + 1, f"filled {n} frames")
        return WindowOutput(
            frames=frames,
            notes=self._notes(
                window,
                any((a & ~d).any() for a, d in zip(is_affected, done, strict=True)),
                unseen_share,
                lift_why,
                any(m.any() for m in lift_mask),
            ),
        )

    @staticmethod
    def _notes(
        window: WindowInput, kept: bool, unseen: float, why: str | None, lifted: bool
    ) -> tuple[str, ...]:
        """``kept``: some affected pixels stayed as the plate; ``lifted``: some were lifted."""
        notes = []
        if lifted:
            notes.append(NOTE_LIFTED)
        if kept:
            notes.append(note_kept(why))
        if unseen >= 0.005:
            notes.append(note_unseen(unseen))
        if window.params.get("passes") in (2, "pass2"):
            notes.append(NOTE_PASS2)
        return tuple(notes)
