"""Detail from other frames: the high band comes back where another frame sees the background,
the engine's low band stays where the scene changed, nothing changes where no frame sees."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from void_vfx.render.finish import detail, flow

H, W = 144, 256
SCALE = 2.0
SHIFT = 3  # the camera pans this many pixels a frame


@pytest.fixture(scope="module")
def scene():
    """A textured background wider than the frame (fine detail at every scale)."""
    rng = np.random.default_rng(0)
    base = rng.random((H, W + 40), dtype=np.float32)
    tex = 0.5 * cv2.GaussianBlur(base, (0, 0), 0.7) + 0.5 * cv2.GaussianBlur(base, (0, 0), 4)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return np.stack([0.1 + 0.6 * tex, 0.1 + 0.5 * tex, 0.1 + 0.4 * tex], axis=-1)


def _frame(scene, k: int) -> np.ndarray:
    return np.ascontiguousarray(scene[:, 20 + SHIFT * k : 20 + SHIFT * k + W])


def _hole(k: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    x = 60 + 30 * k
    m[30:120, x : x + 50] = True
    return m


def _soft(img: np.ndarray) -> np.ndarray:
    """What an engine working at 1/SCALE the size gives back: the low band only."""
    small = cv2.resize(img, (int(W / SCALE), int(H / SCALE)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_LANCZOS4)


def _high_energy(x, m):
    return float(((x - cv2.GaussianBlur(x, (0, 0), 1.0))[m] ** 2).sum())


def _finish(scene, covered_others=None, others=(-2, 2)):
    truth = _frame(scene, 0)
    hole = _hole(0)
    plate = truth.copy()
    plate[hole] = 0.02  # the object
    engine = _soft(truth)
    sources = [detail.Source(plate, hole, flow=False)]
    for k in others:
        p = _frame(scene, k).copy()
        cov = _hole(k) if covered_others is None else covered_others
        p[cov] = 0.02
        sources.append(detail.Source(p, cov))
    high, weight, _ = detail.transfer(engine, plate, hole.astype(np.float32), sources, SCALE)
    return truth, hole, engine, detail.apply_detail(engine, high, weight, SCALE), weight


def _psnr(a, b, m):
    return 10 * np.log10(1.0 / np.mean((a[m] - b[m]) ** 2))


def test_detail_comes_back_where_other_frames_see_the_background(scene):
    truth, hole, engine, out, weight = _finish(scene)
    core = cv2.erode(hole.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert weight[core].mean() > 0.9
    assert _psnr(out, truth, hole) > _psnr(engine, truth, hole) + 3.0
    ratio = _high_energy(out, core) / _high_energy(truth, core)
    assert ratio > 0.7, ratio
    assert _high_energy(engine, core) / _high_energy(truth, core) < 0.3


def test_where_no_frame_sees_the_background_the_engine_result_stays(scene):
    everywhere = np.ones((H, W), bool)
    _, hole, engine, out, weight = _finish(scene, covered_others=everywhere)
    assert weight[hole].max() == 0.0
    assert np.array_equal(out[hole], engine[hole])


def test_the_engine_s_low_band_wins_where_the_scene_changed(scene):
    """The engine removed a shadow the other frames still show (unmasked there): the fill keeps
    the engine's brightness; only fine detail is taken from them."""
    truth = _frame(scene, 0)
    hole = _hole(0)
    plate = truth.copy()
    plate[hole] = 0.02
    engine = _soft(truth)
    sources = [detail.Source(plate, hole, flow=False)]
    for k in (-2, 2):
        p = _frame(scene, k).copy() * 0.4  # a shadow over the whole frame, as the plate had it
        p[_hole(k)] = 0.02
        sources.append(detail.Source(p, _hole(k)))
    # The composite this frame's flow is found on carries the same shadow outside the hole.
    high, weight, _ = detail.transfer(engine, plate * 0.4, hole.astype(np.float32), sources, SCALE)
    out = detail.apply_detail(engine, high, weight, SCALE)
    core = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    sigma = detail.band_sigma(SCALE)
    low_out = cv2.GaussianBlur(out, (0, 0), 2 * sigma)
    low_engine = cv2.GaussianBlur(engine, (0, 0), 2 * sigma)
    assert np.abs(low_out[core] - low_engine[core]).mean() < 0.01
    # ... no darkening came back (a shadow at 0.4 would be ~0.15 down) and detail did come in
    assert abs(out[core].mean() - engine[core].mean()) < 0.01
    assert _psnr(out, truth, core) > _psnr(engine, truth, core) + 2.0


def test_sources_are_the_frames_that_reveal_the_hole():
    frames = list(range(1001, 1021))
    hole = _hole(0)

    def covered(k):
        return _hole((k - 1010) * 3)  # the object moves 90 pixels a frame here

    picked = detail.choose_sources(1010, frames, hole, covered)
    assert 1 <= len(picked) <= detail.MAX_SOURCES
    assert all(k != 1010 and k in frames for k in picked)
    revealed = np.zeros_like(hole)
    for k in picked:
        revealed |= hole & ~covered(k)
    assert revealed.sum() == hole.sum()
    # a frame whose object sits where it is now reveals nothing
    assert detail.choose_sources(1010, frames, hole, lambda k: hole) == []


@pytest.mark.parametrize("size", [(1, 1), (10, 60), (16, 16), (40, 33)])
def test_a_region_too_small_for_the_flow_keeps_the_engine_s_result(size):
    """OpenCV's DIS refuses small images and crashes on some (10x40): such a region takes no
    detail from other frames, and nothing fails."""
    h, w = size
    rng = np.random.default_rng(1)
    engine = rng.random((h, w, 3), dtype=np.float32)
    hole = np.ones((h, w), bool)
    nothing = np.zeros((h, w), bool)
    sources = [detail.Source(engine, hole, flow=False), detail.Source(engine.copy(), nothing)]
    high, weight, _ = detail.transfer(engine, engine, hole.astype(np.float32), sources, 4.0)
    if min(h, w) < flow.MIN_FLOW_SIDE:
        assert weight.max() == 0.0
    change, covered = flow.compensate(engine, engine.copy(), nothing)
    assert change.shape == engine.shape and covered.shape == (h, w)


def test_at_a_reduced_work_size_detail_still_comes_back(scene):
    """An enlargement of 4: flow, checks and weights at half size, brought back; the high band
    still arrives where the other frames see the background, nothing where none does."""
    scale = 4.0
    assert detail.work_step(scale) == 2
    truth = _frame(scene, 0)
    hole = _hole(0)
    plate = truth.copy()
    plate[hole] = 0.02
    small = cv2.resize(truth, (int(W / scale), int(H / scale)), interpolation=cv2.INTER_AREA)
    engine = cv2.resize(small, (W, H), interpolation=cv2.INTER_LANCZOS4)
    sources = [detail.Source(plate, hole, flow=False)]
    for k in (-2, 2):
        p = _frame(scene, k).copy()
        p[_hole(k)] = 0.02
        sources.append(detail.Source(p, _hole(k)))
    high, weight, _ = detail.transfer(engine, plate, hole.astype(np.float32), sources, scale)
    out = detail.apply_detail(engine, high, weight, scale)
    core = cv2.erode(hole.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert weight[core].mean() > 0.8
    assert _psnr(out, truth, hole) > _psnr(engine, truth, hole) + 3.0
    everywhere = [detail.Source(plate, hole, flow=False), detail.Source(p, np.ones((H, W), bool))]
    high, weight, _ = detail.transfer(engine, plate, hole.astype(np.float32), everywhere, scale)
    assert weight[hole].max() == 0.0
