"""Quadmask building, snapping (including masks decoded from lossy video), resize and overlays."""

from __future__ import annotations

import numpy as np
import pytest

from void_vfx.errors import MaskError
from void_vfx.render.quadmask import (
    build_quadmask,
    clear_first_frame_affected,
    dilate,
    has_object,
    is_quadmask,
    overlay,
    snap,
    snap_quadmask,
)

QUADS = {0, 63, 127, 255}


def _decode(path) -> np.ndarray:
    imageio = pytest.importorskip("imageio")
    pytest.importorskip("imageio_ffmpeg")
    reader = imageio.get_reader(str(path), "ffmpeg")
    try:
        return np.stack([frame[..., 0] for frame in reader])
    finally:
        reader.close()


def test_build_truth_table_and_thresholds():
    primary = np.array([[0.9, 0.9, 0.1, 0.1, 0.5]], dtype=np.float32)
    affected = np.array([[0.0, 0.8, 0.8, 0.0, 0.0]], dtype=np.float32)
    q = build_quadmask(primary, affected)
    assert q.dtype == np.uint8
    assert q.tolist() == [[0, 63, 127, 255, 255]]  # 0.5 is not > 0.5
    q2 = build_quadmask(primary, affected, primary_threshold=0.05, affected_threshold=0.9)
    assert q2.tolist() == [[0, 0, 0, 0, 0]]
    assert build_quadmask(primary).tolist() == [[0, 0, 255, 255, 255]]


def test_build_nan_matte_is_keep_and_size_mismatch_errors():
    primary = np.array([[np.nan, 1.0]], dtype=np.float32)
    assert build_quadmask(primary).tolist() == [[255, 0]]
    with pytest.raises(MaskError, match="affected matte"):
        build_quadmask(np.zeros((4, 4)), np.zeros((4, 5)))


def test_dilation_grows_by_radius_square():
    m = np.zeros((3, 21, 21), dtype=bool)
    m[1, 10, 10] = True
    d = dilate(m, 3)
    assert not d[0].any() and not d[2].any()
    ys, xs = np.nonzero(d[1])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (7, 13, 7, 13)
    assert d[1].sum() == 49
    q = build_quadmask(m.astype(np.float32), dilate_px=2)
    assert np.count_nonzero(q[1] == 0) == 25


def test_dilation_at_frame_edge():
    m = np.zeros((5, 5), dtype=bool)
    m[0, 0] = True
    assert dilate(m, 2).sum() == 9


def test_snap_thresholds_exact():
    v = np.array([0, 31, 31.5, 95, 96, 191, 191.2, 255, np.nan], dtype=np.float32)
    assert snap(v).tolist() == [0, 0, 63, 63, 127, 127, 255, 255, 255]


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 63, 127, 255, 30, 70], dtype=np.uint8),
        np.array([0, 63, 127, 255, 30, 70], dtype=np.uint16) * 257,
        np.array([0, 63, 127, 255, 30, 70], dtype=np.float32) / 255,
    ],
    ids=["8bit", "16bit", "float"],
)
def test_snap_dtypes(values):
    q, rep = snap_quadmask(values, tolerance=5)
    assert q.tolist() == [0, 63, 127, 255, 0, 63]
    assert rep.moved == 2
    assert rep.counts == {0: 2, 63: 2, 127: 1, 255: 1}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("where", ["inside", "edges", "none"])
def test_integer_frame_snaps_as_the_float_path_does(dtype, where):
    """A whole 8/16-bit frame (worked only over the box of its non-top codes) gives the mask
    and report that the float path gives over every pixel."""
    rng = np.random.default_rng(11)
    codes = np.full((90, 160), 255, np.uint8)
    if where == "inside":
        codes[20:50, 30:90] = rng.choice([0, 20, 63, 100, 127, 200, 250, 254], size=(30, 60))
    elif where == "edges":
        codes[0, 5], codes[89, 159], codes[40, 0] = 127, 70, 254
    raw = codes.astype(dtype) * (257 if dtype == np.uint16 else 1)
    q, rep = snap_quadmask(raw, tolerance=8)
    fq, frep = snap_quadmask(codes.astype(np.float32), tolerance=8, float_scale=1.0)
    assert np.array_equal(q, fq) and q.dtype == np.uint8
    assert (rep.moved, rep.max_error, rep.counts, rep.pixels) == (
        frep.moved,
        frep.max_error,
        frep.counts,
        frep.pixels,
    )
    assert rep.counts[255] == int(np.count_nonzero(fq == 255))


def test_snap_rejects_int32():
    with pytest.raises(MaskError, match="8-bit, 16-bit or float"):
        snap_quadmask(np.zeros(3, dtype=np.int32))


def test_clear_first_frame_affected():
    q = np.full((3, 2, 2), 127, dtype=np.uint8)
    q[:, 0, 0] = 0
    out = clear_first_frame_affected(q)
    assert out[0].tolist() == [[0, 255], [255, 255]]
    assert (out[1:] == q[1:]).all()
    assert (q[0] == 127).sum() == 3  # the input is not modified


def test_overlay_colours_and_passthrough():
    rgb = np.full((1, 4, 4), 0.2, dtype=np.float32)
    rgb[..., 3] = 0.7  # alpha
    q = np.array([[0, 63, 127, 255]], dtype=np.uint8)
    out = overlay(rgb, q, opacity=1.0)
    assert out[0, 0, :3].tolist() == pytest.approx([1.0, 0.1, 0.1])
    assert len({tuple(out[0, i, :3]) for i in range(3)}) == 3
    assert out[0, 3].tolist() == rgb[0, 3].tolist()
    assert (out[..., 3] == 0.7).all()


def resize_for_model(q: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The render's mask resize (roi.quadmask_to_work) over whole frames: a box of the frame."""
    from void_vfx.render.roi import CropBox, quadmask_to_work

    frames = q[None] if q.ndim == 2 else q
    h, w = frames.shape[-2:]
    out = np.stack([quadmask_to_work(f, CropBox(0, 0, w, h, w, h), size) for f in frames])
    return out[0] if q.ndim == 2 else out


def test_resize_for_model_area_and_fringes():
    q = np.full((8, 8), 255, dtype=np.uint8)
    q[:, :4] = 0
    out = resize_for_model(q, (4, 4))
    assert out[:, :2].max() == 0 and out[:, 2:].min() == 255
    # a hard edge not on the output grid averages into an in-between fringe value
    q2 = np.full((6, 6), 255, dtype=np.uint8)
    q2[:, :2] = 0
    out2 = resize_for_model(q2[None], (4, 4))[0]
    assert out2.shape == (4, 4) and is_quadmask(out2)
    assert set(np.unique(out2[:, 1])) == {127}  # (0 + 255) / 2 = 127.5 -> affected, 127
    up = resize_for_model(q, (16, 16))
    assert is_quadmask(up) and (up[:, :8] == 0).all() and (up[:, 8:] == 255).all()


def test_resize_for_model_thresholds_the_float_average_like_the_reference():
    # The reference's own case: at a 2:1 downscale a 2x2 block of three keeps and one remove
    # averages to exactly (3 * 255 + 0) / 4 = 191.25, which is > 191, so keep (255); rounding to
    # 8 bits first would give 191 and snap it to affected (127).
    q = np.full((4, 4), 255, dtype=np.uint8)
    q[0, 0] = 0  # block (0, 0): 191.25
    q[2, 2] = 63  # block (1, 1): (3 * 255 + 63) / 4 = 207 -> 255
    q[0, 2:4] = 127  # block (0, 1): (2 * 127 + 2 * 255) / 4 = 191.0 -> 127 (the bound is inclusive)
    assert resize_for_model(q, (2, 2)).tolist() == [[255, 127], [255, 255]]
    # (0 + 127 * 3) / 4 = 95.25 -> 127, just above the (31, 95] bin
    q2 = np.array([[0, 127], [127, 127]], dtype=np.uint8)
    assert resize_for_model(q2, (1, 1)).tolist() == [[127]]


def test_has_object():
    assert not has_object(np.array([127, 255], dtype=np.uint8))
    assert has_object(np.array([63, 255], dtype=np.uint8))


def test_snap_lossy_video_mask(shared_data):
    raw = _decode(shared_data / "masks" / "diffueraser_example1" / "mask.mp4")
    assert len(np.unique(raw)) > 20  # compression noise is really there
    q, rep = snap_quadmask(raw, tolerance=8)
    assert set(np.unique(q).tolist()) <= QUADS
    assert set(np.unique(q).tolist()) == {0, 255}  # a binary mask stays binary
    assert rep.moved > 0 and rep.max_error <= 31
    again, rep2 = snap_quadmask(q)
    assert np.array_equal(again, q) and rep2.moved == 0
    # as a primary matte (white = object) it builds a remove-only quadmask
    built = build_quadmask(raw / 255.0)
    assert set(np.unique(built).tolist()) == {0, 255}
    assert np.array_equal(built == 0, q == 255)


def test_snap_void_sample_quadmask(shared_data):
    raw = _decode(shared_data / "void_samples" / "BigBen" / "trimask_quadmask.mp4")
    q, rep = snap_quadmask(raw)
    assert np.array_equal(q, raw)
    assert rep.moved == 0 and set(np.unique(q).tolist()) <= QUADS
    small = resize_for_model(q[:3], (384, 672))
    assert small.shape == (3, 384, 672) and is_quadmask(small)
    assert has_object(small)
    cleared = clear_first_frame_affected(q[:2])
    assert 127 not in cleared[0] and 127 in cleared[1]
