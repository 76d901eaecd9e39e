"""The preview engine on synthetic shots whose clean background is known exactly.

Backgrounds are smooth procedural functions evaluated at each frame's sub-pixel camera offset, so
a pan is true sub-pixel motion, not an interpolated copy.
"""

from __future__ import annotations

import numpy as np
import pytest

from void_vfx.errors import Cancelled
from void_vfx.render.engine import WindowInput
from void_vfx_server.engines.preview import PreviewEngine, estimate_motion, spatial_fill

F, H, W = 21, 96, 160


_LATTICE = np.random.default_rng(3).random((64, 64, 3)).astype(np.float32)


def _noise(y: np.ndarray, x: np.ndarray, cell: float) -> np.ndarray:
    """Value noise: a seeded lattice, bilinear between points, defined at any sub-pixel place."""
    gy, gx = y / cell, x / cell
    y0, x0 = np.floor(gy), np.floor(gx)
    fy, fx = (gy - y0)[..., None], (gx - x0)[..., None]
    y0, x0 = y0.astype(int) % 64, x0.astype(int) % 64
    y1, x1 = (y0 + 1) % 64, (x0 + 1) % 64
    top = _LATTICE[y0, x0] * (1 - fx) + _LATTICE[y0, x1] * fx
    bot = _LATTICE[y1, x0] * (1 - fx) + _LATTICE[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def _texture(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Background with detail at several scales, like a real plate, in [0.1, 0.9]."""
    waves = np.stack(
        [
            0.15 * np.sin(x / 7.0 + 0.3 * np.sin(y / 11.0)),
            0.2 * np.sin((x + y) / 9.0),
            0.15 * np.cos(x / 4.3 - y / 6.7),
        ],
        axis=-1,
    )
    img = 0.35 + waves + 0.25 * _noise(y, x, 3.0) + 0.15 * _noise(y + 17, x + 5, 11.0)
    return np.clip(img, 0.1, 0.9).astype(np.float32)


def _shot(pan=(0.0, 0.0), radius=14.0, static_hole=None):
    """(frames, quadmask, clean) with a disc crossing the frame and a shadow beside it."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    frames = np.empty((F, H, W, 3), np.float32)
    clean = np.empty_like(frames)
    quad = np.full((F, H, W), 255, np.uint8)
    for t in range(F):
        img = _texture(ys + pan[0] * t, xs + pan[1] * t)
        clean[t] = img
        cy, cx = H * 0.45, 20.0 + (W - 40.0) * t / (F - 1)
        disc = np.hypot(ys - cy, xs - cx) < radius
        shadow = (np.hypot((ys - cy - radius) / 0.4, xs - cx - 6) < radius) & ~disc
        f = img.copy()
        f[shadow] *= 0.5
        f[disc] = (0.9, 0.1, 0.1)
        quad[t][shadow] = 127
        quad[t][np.hypot(ys - cy, xs - cx) < radius + 2] = 0
        if static_hole is not None:
            f[static_hole] = (0.0, 1.0, 0.0)
            quad[t][static_hole] = 0
        frames[t] = f
    return frames, quad, clean


def _run(frames, quad, cancel=lambda: False, progress=None):
    calls = []
    out = PreviewEngine().run(
        WindowInput(frames, quad), progress or (lambda *a: calls.append(a)), cancel
    )
    return out.frames, calls


def _psnr(a, b, mask):
    mse = float(((a - b) ** 2)[mask].mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def test_static_camera_fill_reaches_40db_inside_mask():
    frames, quad, clean = _shot()
    out, calls = _run(frames, quad)
    assert out.shape == frames.shape and out.dtype == np.float32
    hole = quad < 255
    assert hole.sum() > 0.04 * hole.size
    # Every background pixel is visible in some frame, so the fill copies the true background.
    assert _psnr(out, clean, hole) > 40.0
    assert _psnr(frames, clean, hole) < 15.0  # the test would fail on the untouched plate
    assert calls[-1][0] == calls[-1][1] == F + 1


def test_panning_camera_fill_reaches_32db_inside_mask():
    frames, quad, clean = _shot(pan=(0.37, -1.23))
    out, _ = _run(frames, quad)
    assert _psnr(out, clean, quad < 255) > 32.0
    # Without motion compensation the same fill is far worse: the compensation is what works.
    engine = PreviewEngine()
    still = engine.run(
        WindowInput(frames, quad, params={"static_camera": True}), lambda *a: None, lambda: False
    ).frames
    assert _psnr(still, clean, quad < 255) < _psnr(out, clean, quad < 255) - 5.0


def test_motion_estimate_follows_a_sub_pixel_pan():
    frames, quad, clean = _shot(pan=(0.37, -1.23))
    step_error = np.diff(estimate_motion(clean, np.ones(quad.shape, bool)), axis=0) - (0.37, -1.23)
    assert np.abs(step_error).max() < 0.05
    # A disc and a shadow blanked out of every frame (a tenth of this small frame) cost a little.
    step_error = np.diff(estimate_motion(frames, quad == 255), axis=0) - (0.37, -1.23)
    assert np.abs(step_error).max() < 0.15 and np.abs(step_error).mean() < 0.1


def test_keep_pixels_are_left_exactly_as_they_were():
    frames, quad, _ = _shot(pan=(0.2, 0.9))
    out, _ = _run(frames, quad)
    keep = quad == 255
    np.testing.assert_array_equal(out[keep], frames[keep])


def test_never_visible_pixels_get_a_smooth_spatial_fill():
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    ramp = np.stack([xs / W, ys / H, 0.2 + 0.5 * (xs + ys) / (W + H)], axis=-1)
    hole = np.hypot(ys - 50, xs - 120) < 16  # never moves: no frame ever shows what is under it
    frames = np.repeat(ramp[None], F, axis=0).astype(np.float32)
    frames[:, hole] = (1.0, 0.0, 1.0)
    quad = np.full((F, H, W), 255, np.uint8)
    quad[:, hole] = 0
    out, _ = _run(frames, quad)
    err = np.abs(out[:, hole] - ramp[hole]).max()
    assert err < 0.02, f"fill of a linear gradient is off by {err:.3f}"


def test_spatial_fill_of_a_large_hole_stays_in_range_and_matches_the_border():
    img = np.full((64, 64, 3), 0.25, np.float32)
    img[:, 32:] = 0.75
    hole = np.zeros((64, 64), bool)
    hole[16:48, 16:48] = True
    filled = spatial_fill(img, hole)
    assert filled[~hole].tolist() == img[~hole].tolist()
    assert 0.25 <= filled[hole].min() and filled[hole].max() <= 0.75
    assert filled[32, 17, 0] < 0.4 and filled[32, 46, 0] > 0.6


def test_cancel_raises_cancelled_between_frames():
    frames, quad, _ = _shot()
    polls = {"n": 0}

    def cancel_after_three() -> bool:
        polls["n"] += 1
        return polls["n"] > 3

    with pytest.raises(Cancelled, match="cancelled"):
        _run(frames, quad, cancel=cancel_after_three)
    assert polls["n"] == 4


def test_info_is_plain_values():
    info = PreviewEngine().info()
    assert info["name"] == "preview" and info["device"] == "cpu"
    assert all(isinstance(v, str | int | float | bool) for v in info.values())


def test_bad_window_shapes_are_refused():
    frames, quad, _ = _shot()
    with pytest.raises(ValueError, match="quadmask"):
        _run(frames, quad[:, :-1])


def test_a_frame_with_no_keep_pixels_is_filled_from_its_neighbours():
    frames, quad, clean = _shot()
    frames[5] = 0.0
    quad[5] = 0
    out, _ = _run(frames, quad)
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert _psnr(out[5], clean[5], np.ones(clean.shape[1:3], bool)) > 30.0
