"""Crop planning, resampling and paste-back (bit-identical outside the feathered mask)."""

from __future__ import annotations

import numpy as np
import pytest

from void_vfx.errors import PlanError
from void_vfx.media.resample import (
    area_weights,
    axis_weights,
    lanczos_weights,
    reflect_index,
    resize,
)
from void_vfx.render.roi import (
    CropBox,
    crop_to_work,
    full_frame_box,
    paste_alpha,
    paste_back,
    plan_crop,
    uncrop,
)

WORK = (384, 672)


def _mask(shape, boxes):
    q = np.full(shape, 255, dtype=np.uint8)
    for f, (x0, y0, x1, y1, v) in boxes:
        q[f, y0:y1, x0:x1] = v
    return q


def _check_box(box: CropBox):
    assert abs(box.width * 4 - box.height * 7) <= 3.5  # 7:4 within a pixel
    left, top, right, bottom = box.pads()
    if box.width <= box.frame_width:
        assert left == right == 0
    if box.height <= box.frame_height:
        assert top == bottom == 0


def test_plan_union_margin_and_inside_frame():
    q = _mask((3, 1080, 1920), [(0, (900, 500, 950, 560, 0)), (2, (1000, 520, 1100, 600, 127))])
    box = plan_crop(q, margin=0.1, feather=8, min_height=0)
    _check_box(box)
    x0, y0, x1, y1 = box.inside()
    assert (x0, y0, x1, y1) == (box.x0, box.y0, box.x1, box.y1)
    # By hand: the union of both frames is x 900-1100, y 500-600 (200 x 100); it grows by
    # ceil(0.1 * 200) = 20 margin + 8 feather + 1 = 29 to x 871-1129, y 471-629 (258 x 158).
    # 258 x 158 is taller than 7:4, so the width becomes round(158 * 7 / 4) = round(276.5) = 276,
    # centred on x 1000: floor(1000 - 138) = 862; the height stays 158 from y 471.
    assert (box.x0, box.y0, box.x1, box.y1) == (862, 471, 1138, 629)
    assert (box.frame_width, box.frame_height) == (1920, 1080)


def test_plan_shifts_inside_at_frame_edge_and_min_height():
    q = _mask((1, 1080, 1920), [(0, (0, 0, 20, 20, 0))])
    box = plan_crop(q, feather=4)
    _check_box(box)
    # By hand: x/y 0-20 grow by ceil(0.15 * 20) = 3 + 4 + 1 = 8 to 0-28 (clipped at 0); the
    # height is raised to min_height 384, the width to 384 * 7 / 4 = 672; both start at 0.
    assert (box.x0, box.y0, box.x1, box.y1) == (0, 0, 672, 384)


def test_plan_reflect_pad_small_frame():
    q = _mask((2, 360, 544), [(0, (10, 5, 500, 350, 0))])
    box = plan_crop(q)
    _check_box(box)
    assert box.height >= 360 and box.width > 544
    left, top, right, bottom = box.pads()
    assert left > 0 and right > 0 and abs(left - right) <= 1
    tall = plan_crop(_mask((1, 300, 100), [(0, (10, 10, 90, 290, 0))]))
    _check_box(tall)
    assert tall.pads()[1] == 0 and tall.pads()[0] > 0  # a tall frame pads its width


def test_plan_none_when_all_keep_and_full_mode():
    q = np.full((2, 100, 200), 255, dtype=np.uint8)
    assert plan_crop(q) is None
    q[1, 50, 50] = 0
    full = plan_crop(q, mode="full")
    _check_box(full)
    assert full == full_frame_box(200, 100)
    assert full.width >= 200 and full.height >= 100
    with pytest.raises(PlanError, match="unknown roi mode"):
        plan_crop(q, mode="stretch")


def test_full_frame_box_4k_and_bigben():
    b = full_frame_box(4096, 2160)
    _check_box(b)
    assert (b.width, b.height, b.pads()) == (4096, 2341, (0, 90, 0, 91))
    b2 = full_frame_box(544, 360)
    _check_box(b2)
    assert b2.height == 360 and b2.pads()[1] == 0


def test_cropbox_dict_round_trip():
    b = CropBox(-3, 0, 627, 360, 544, 360)
    assert CropBox.from_dict(b.to_dict()) == b


def test_weights_rows_sum_to_one_and_reflect():
    for n_in, n_out in [(4096, 672), (100, 672), (672, 672), (13, 5)]:
        for w in (area_weights(n_in, n_out), lanczos_weights(n_in, n_out)):
            assert w.shape == (n_out, n_in)
            np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert reflect_index(np.array([-2, -1, 0, 3, 4, 5]), 4).tolist() == [2, 1, 0, 3, 2, 1]


@pytest.mark.parametrize(
    "shape, size",
    [
        ((1072, 1876, 3), (384, 672)),  # a crop shrunk to the working size: rows go first
        ((384, 672, 3), (826, 567)),  # a result enlarged back to a region: columns go first
        ((384, 672), (900, 40)),  # one channel, a thin region
        ((7, 3000), (5, 20)),
    ],
)
def test_separable_resize_is_the_dense_product_in_either_pass_order(shape, size):
    """Whichever axis goes first, every channel must be wy @ img @ wx.T as a float64 matrix
    product gives it, to float32 rounding."""
    from void_vfx.media.resample import apply_separable

    rng = np.random.default_rng(7)
    img = rng.random(shape, dtype=np.float32)
    wy = axis_weights(shape[0], size[0])
    wx = axis_weights(shape[1], size[1])
    planes = img if img.ndim == 3 else img[..., None]
    expected = np.stack(
        [wy @ planes[..., c].astype(np.float64) @ wx.T for c in range(planes.shape[-1])], -1
    )
    out = apply_separable(img, wy, wx)
    assert out.shape == size + shape[2:] and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=0, atol=2e-6)


def test_crop_to_work_matches_reflect_pad_reference():
    rng = np.random.default_rng(1)
    img = rng.random((360, 544, 3), dtype=np.float32)
    box = full_frame_box(544, 360)
    out = crop_to_work(img, box, WORK)
    left, top, right, bottom = box.pads()
    padded = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    np.testing.assert_allclose(out, resize(padded, WORK), atol=1e-5)
    # area down: a 2x box of constant blocks averages exactly
    blocks = np.kron(rng.random((384, 672)), np.ones((2, 2))).astype(np.float32)
    box2 = CropBox(0, 0, 1344, 768, 1344, 768)
    np.testing.assert_allclose(crop_to_work(blocks, box2, WORK), blocks[::2, ::2], atol=1e-5)


def test_crop_then_uncrop_is_close_for_smooth_images():
    yy, xx = np.mgrid[0:720, 0:1280].astype(np.float32)
    img = np.stack([0.5 + 0.4 * np.sin(xx / 90.0), 0.5 + 0.4 * np.cos(yy / 70.0), xx / 1280], -1)
    box = plan_crop(_mask((1, 720, 1280), [(0, (500, 300, 700, 420, 0))]), margin=0.2)
    back = uncrop(crop_to_work(img, box, WORK), box)
    x0, y0, x1, y1 = box.inside()
    assert np.abs(back - img[y0:y1, x0:x1]).max() < 0.01


def test_paste_alpha_feather():
    q = _mask((1, 100, 100), [(0, (40, 40, 60, 60, 0))])[0]
    a = paste_alpha(q, 8)
    assert a.dtype == np.float32
    assert (a[40:60, 40:60] == 1.0).all()
    # By hand: feather 8 -> r = 4; the mask (x, y 40-59) is dilated by 4 to 36-63, then each
    # pixel is the share of its 9 x 9 window inside that: on row 50 (all 9 rows inside) the
    # columns x-4..x+4 inside 36-63 number 0 at x = 31, 1 at 32, ..., 8 at 39 and 9 at 40.
    expected_row = np.array([0, 9, 18, 27, 36, 45, 54, 63, 72, 81], np.float32) / 81
    np.testing.assert_array_equal(a[50, 31:41], expected_row)
    np.testing.assert_array_equal(a[50, 59:69], expected_row[::-1])
    assert a[35, 35] == np.float32(16 / 81)  # 4 rows x 4 columns at the corner
    support = np.zeros((100, 100), bool)
    support[32:68, 32:68] = True  # the mask grown by exactly the feather, 8 px
    assert np.array_equal(a > 0, support)
    assert np.array_equal(paste_alpha(q, 0), (q != 255).astype(np.float32))
    assert not paste_alpha(np.full((5, 5), 255, np.uint8), 4).any()


def test_paste_back_bit_identical_outside_with_nan_and_alpha_channel():
    rng = np.random.default_rng(2)
    plate = (rng.random((288, 512, 4), dtype=np.float32) * 4).astype(np.float16)
    plate[10, 10, 0] = np.nan
    plate[200, 400, 1] = np.inf
    plate[150, 250, 2] = np.nan  # inside the mask: replaced, not propagated
    plate[150, 217, 0] = np.inf  # under the feather ramp: the result stands in for it
    q = _mask((1, 288, 512), [(0, (220, 120, 300, 180, 0))])[0]
    box = plan_crop(q[None], feather=6)
    alpha = paste_alpha(q, 6)
    result = np.full((*WORK, 3), 0.25, dtype=np.float32)
    out = paste_back(plate, result, box, alpha, to_plate=lambda rgb: rgb * 2.0)
    assert out.dtype == plate.dtype and out.shape == plate.shape
    outside = alpha == 0
    assert np.array_equal(out[outside].view(np.uint16), plate[outside].view(np.uint16))
    assert np.array_equal(out[..., 3].view(np.uint16), plate[..., 3].view(np.uint16))
    inside = alpha == 1
    np.testing.assert_allclose(out[inside][:, :3].astype(np.float32), 0.5, atol=1e-3)
    assert 0 < alpha[150, 217] < 1
    assert np.isfinite(out[alpha > 0][:, :3].astype(np.float32)).all()
    ramp = (alpha > 0) & (alpha < 1)
    assert ramp.any() and not np.array_equal(out[ramp], plate[ramp])


def test_paste_back_reflected_box_and_size_errors():
    plate = np.zeros((360, 544, 3), dtype=np.float32)
    q = _mask((1, 360, 544), [(0, (0, 0, 540, 360, 0))])[0]
    box = plan_crop(q[None])
    assert box.pads()[0] > 0
    out = paste_back(plate, np.ones((*WORK, 3), np.float32), box, paste_alpha(q, 0))
    np.testing.assert_allclose(out[:, :540], 1.0, atol=1e-6)
    assert (out[:, 540:] == 0.0).all()
    with pytest.raises(PlanError):
        paste_back(plate, np.ones((*WORK, 3), np.float32), box, np.zeros((10, 10), np.float32))
    with pytest.raises(PlanError, match="planned for"):
        crop_to_work(np.zeros((100, 100, 3), np.float32), box)


def test_blend_into_gives_the_per_pixel_formula():
    """Each pixel is the documented mix in float32, stored as the plate's type; alpha 0 keeps
    the plate's bits, alpha 1 is the result, NaN under the ramp takes the result; channels in
    any order."""
    import void_vfx.render.roi as roi

    rng = np.random.default_rng(5)
    plate = (rng.random((60, 90, 4), dtype=np.float32) * 3).astype(np.float16)
    plate[20, 30, 2] = np.nan
    region = (7, 3, 77, 50)
    h, w = 47, 70
    alpha = rng.choice([0.0, 0.25, 0.5, 1.0], size=(h, w)).astype(np.float32)
    alpha[20 - 3, 30 - 7] = 0.5
    res = rng.random((h, w, 3), dtype=np.float32)
    channels = (2, 1, 0)
    out = plate.copy()
    roi.blend_into(out, res, region, alpha, channels)

    src = plate[3:50, 7:77][..., list(channels)].astype(np.float32)
    src = np.where(np.isfinite(src), src, res)
    a = alpha[..., None]
    mix = np.where(a >= 1, res, src + (res - src) * a).astype(np.float16)
    expected = plate.copy()
    sub = expected[3:50, 7:77]
    picked = np.where(a > 0, mix, sub[..., list(channels)])
    for i, c in enumerate(channels):
        sub[..., c] = picked[..., i]
    assert np.array_equal(out.view(np.uint16), expected.view(np.uint16))
    assert np.isfinite(out[20, 30, 2]) and out[0, 0].tobytes() == plate[0, 0].tobytes()


def test_resampling_with_shared_read_only_weights_uses_each_matrix_own_taps():
    """Read-only weight matrices (the cached, shared ones) have their taps remembered. A new
    matrix, even one given the memory and id of a freed one, must be resampled with its own
    taps: each result is held to its own dense product."""
    from void_vfx.media.resample import apply_separable

    rng = np.random.default_rng(11)
    img = rng.random((300, 200, 3), dtype=np.float32)
    for n_out in (90, 120, 90, 450, 90):
        wy = axis_weights(300, n_out)
        wx = axis_weights(200, 64)
        wy.setflags(write=False)
        wx.setflags(write=False)
        expected = np.stack([wy @ img[..., c].astype(np.float64) @ wx.T for c in range(3)], -1)
        for _ in range(2):  # the second call uses the remembered taps
            np.testing.assert_allclose(apply_separable(img, wy, wx), expected, rtol=0, atol=2e-6)
        del wy, wx
