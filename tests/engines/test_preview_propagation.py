"""The preview engine's flow-guided fill on synthetic shots with known answers: a pan, a zoom, a
standing object, a lossy matte edge, the affected region and the notes the engine gives.

Backgrounds are procedural functions evaluated at each frame's exact camera transform, so the
truth behind every hole is known to sub-pixel precision.
"""

from __future__ import annotations

import numpy as np
from test_preview_engine import _texture

from void_vfx.render.engine import WindowInput
from void_vfx_server.engines.preview import PreviewEngine
from void_vfx_server.engines.preview.engine import (
    NOTE_AFFECTED,
    NOTE_PASS2,
    _dilate,
    completed_flows,
)
from void_vfx_server.engines.preview.propagate import sweep

F, H, W = 21, 96, 160


def _camera(t: int, pan=(0.0, 0.0), zoom=0.0):
    """Background coordinates seen by pixel (y, x) of frame t: a pan and a zoom about the centre."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    s = 1.0 + zoom * t
    return (ys - H / 2) / s + H / 2 + pan[0] * t, (xs - W / 2) / s + W / 2 + pan[1] * t


def _shot(pan=(0.0, 0.0), zoom=0.0, moving=True, radius=12.0):
    frames = np.empty((F, H, W, 3), np.float32)
    clean = np.empty_like(frames)
    quad = np.full((F, H, W), 255, np.uint8)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    for t in range(F):
        clean[t] = _texture(*_camera(t, pan, zoom))
        cx = 25.0 + (W - 50.0) * t / (F - 1) if moving else W / 2
        disc = np.hypot(ys - H / 2, xs - cx) < radius
        frames[t] = clean[t]
        frames[t][disc] = (0.9, 0.2, 0.1)
        quad[t][np.hypot(ys - H / 2, xs - cx) < radius + 2] = 0
    return frames, quad, clean


def _run(frames, quad, **params):
    return PreviewEngine().run(WindowInput(frames, quad, params=params), lambda *a: None, bool)


def _psnr(a, b, mask):
    return 10 * np.log10(1.0 / float(((a - b) ** 2)[mask].mean()))


def _links(frames, quad):
    keep = quad == 255
    tracked = _dilate(~keep, 4)
    flows = completed_flows(frames, tracked, keep, 1, 1, lambda: False)
    pts = [np.nonzero(tracked[t]) for t in range(F)]
    return pts, flows, tracked


def test_links_follow_a_pan_and_a_zoom_to_the_true_place_inside_the_hole():
    for pan, zoom in (((0.4, -1.3), 0.0), ((0.0, 0.0), 0.012)):
        frames, quad, _ = _shot(pan, zoom)
        pts, flows, tracked = _links(frames, quad)
        both = [sweep(pts, ~tracked, flows, 1, forward) for forward in (True, False)]
        for t in (5, 10, 15):
            ys, xs = pts[t]
            # The moving disc shows every place in some earlier or later frame.
            assert ((both[0][t].src >= 0) | (both[1][t].src >= 0)).mean() > 0.97
            for links in both:
                ok = links[t].src >= 0
                s = links[t].src[ok]
                # Where the background seen at (ys, xs) of frame t sits in frame s, by hand.
                by, bx = _camera(t, pan, zoom)
                gy, gx = by[ys[ok], xs[ok]], bx[ys[ok], xs[ok]]
                sc = 1.0 + zoom * s
                ty = (gy - pan[0] * s - H / 2) * sc + H / 2
                tx = (gx - pan[1] * s - W / 2) * sc + W / 2
                err = np.hypot(links[t].y[ok] - ty, links[t].x[ok] - tx)
                assert np.median(err) < 0.2 and err.mean() < 0.35, (pan, zoom, t, err.mean())


def test_zoom_fill_beats_no_motion_compensation_and_reaches_30db():
    frames, quad, clean = _shot(zoom=0.012)
    hole = quad < 255
    out = _run(frames, quad).frames
    still = _run(frames, quad, static_camera=True).frames
    assert _psnr(out, clean, hole) > 30.0
    assert _psnr(out, clean, hole) > _psnr(still, clean, hole) + 5.0


def test_standing_object_gets_a_fill_that_holds_still_and_a_note_saying_how_much():
    frames, quad, clean = _shot(moving=False)
    out = _run(frames, quad)
    hole = quad[0] < 255
    # A locked-off camera and a standing object: no frame sees behind it, so one spatial guess is
    # carried to every frame (no flicker), and the note gives the share of the hole it covers.
    assert np.abs(np.diff(out.frames[:, hole], axis=0)).max() < 1e-3
    assert any("100% of the hole was seen by no frame" in n for n in out.notes)
    # A smooth guess from the border: inside the range of the ring around the hole, per channel.
    ring = _dilate(hole[None], 6)[0] & ~_dilate(hole[None], 4)[0]
    lo, hi = frames[0][ring].min(axis=0), frames[0][ring].max(axis=0)
    assert (out.frames[0][hole] >= lo - 1e-4).all() and (out.frames[0][hole] <= hi + 1e-4).all()


def test_lossy_matte_edge_does_not_bleed_into_the_fill():
    frames, quad, clean = _shot()
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    for t in range(F):
        cx = 25.0 + (W - 50.0) * t / (F - 1)
        r = np.hypot(ys - H / 2, xs - cx)
        halo = (r >= 14) & (r < 16.5)  # the object's tinted edge the matte missed
        frames[t][halo] = 0.5 * frames[t][halo] + 0.5 * np.float32([0.9, 0.2, 0.1])
    hole = quad < 255
    grown = _psnr(_run(frames, quad).frames, clean, hole)
    bare = _psnr(_run(frames, quad, grow_px=0).frames, clean, hole)
    assert grown > 35.0 and grown > bare + 3.0, (grown, bare)


def test_without_the_lift_the_affected_region_changes_only_where_another_frame_shows_it_clean():
    frames, quad, clean = _shot()
    standing = np.zeros((H, W), bool)
    standing[70:80, 20:60] = True  # a shadow that never moves: no frame shows it clean
    frames[:, standing] *= 0.5
    quad[:, standing] = 127
    out = _run(frames, quad, passes=2, shadow_lift=False)  # the lift: test_preview_shadow.py
    np.testing.assert_array_equal(out.frames[:, standing], frames[:, standing])
    moving = quad == 0
    assert _psnr(out.frames, clean, moving) > 35.0
    assert NOTE_AFFECTED in out.notes and NOTE_PASS2 in out.notes
    assert not any("seen by no frame" in n for n in out.notes)  # the moving disc hides nothing
    plain = _run(*_shot()[:2])
    assert plain.notes == ()


def test_a_standing_objects_fill_follows_light_that_changes_around_it():
    # A locked-off shot whose light rises 2% a frame: no frame sees behind the standing disc, so
    # the fill is one spatial guess; the seam blend lifts it with the plate around the hole.
    frames, quad, clean = _shot(moving=False)
    gain = (1.0 + 0.02 * np.arange(F, dtype=np.float32))[:, None, None, None]
    frames, clean = frames * gain * 0.8, clean * gain * 0.8
    hole = quad < 255
    blended = _run(frames, quad).frames
    plain = _run(frames, quad, seam_blend=False).frames
    # The light's change inside the hole from one frame to the next is 2% of 0.8 times the mean
    # of the background there; the blended fill follows it frame by frame, within a fifth.
    base = 0.8 * float(_shot(moving=False)[2][0][hole[0]].mean())
    got = np.diff([float(blended[t][hole[t]].mean()) for t in range(F)])
    assert np.abs(got - 0.02 * base).max() < 0.2 * 0.02 * base, got

    # Without it the guess keeps the light of the frame it was made on (or steps between keyframes).
    def level_error(out):
        return max(abs(float(out[t][hole[t]].mean() - clean[t][hole[t]].mean())) for t in range(F))

    lit, unlit = level_error(blended), level_error(plain)
    assert lit < 0.25 * unlit and lit < 0.03, (lit, unlit)


def test_flow_is_measured_only_on_a_box_around_each_pairs_holes():
    from void_vfx_server.engines.preview.flow import BOX_MARGIN, hole_boxes, sample_flow

    holes = np.zeros((3, 200, 300), bool)
    holes[0, 50:60, 100:120] = True
    holes[1, 70:80, 140:150] = True
    boxes = hole_boxes(holes)
    # Pair 0 spans rows 50-79 and columns 100-149 of its two frames, grown by the margin; pair 1
    # has frame 1's hole alone; the frame's edge clips nothing here.
    m = BOX_MARGIN
    assert boxes[0] == (slice(50 - m, 80 + m), slice(100 - m, 150 + m))
    assert boxes[1] == (slice(70 - m, 80 + m), slice(140 - m, 150 + m))
    assert hole_boxes(np.zeros((2, 8, 8), bool)) == [None]
    # A flow box placed at small-pixel origin (10, 20) at step 2: a linear field dx = x, dy = 2y
    # over the box reads back, at full resolution, as the bilinear value by hand (times the step).
    ys, xs = np.mgrid[0:30, 0:40].astype(np.float32)
    flow = np.stack([xs, 2 * ys], axis=-1)
    fy, fx = np.array([25.0, 41.0]), np.array([47.0, 71.0])
    got = sample_flow(flow, fy, fx, 2, (10, 20))
    ly, lx = (fy + 0.5) / 2 - 0.5 - 10, (fx + 0.5) / 2 - 0.5 - 20
    np.testing.assert_allclose(got, np.stack([2 * 2 * ly, 2 * lx], axis=-1), atol=1e-4)
