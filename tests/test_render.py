"""Shot processing on a small synthetic EXR shot through the real OIIO and OCIO."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from void_vfx.errors import MaskError
from void_vfx.image_io import read_image, write_exr
from void_vfx.jobspec import JobSpec, MatteSource
from void_vfx.render import prepare_window, process_shot, shot_plan
from void_vfx.render_io import Shot, window_paths
from void_vfx.roi import CropBox, paste_alpha

W, H = 256, 144
FIRST, LAST = 1001, 1030
OBJECT_LAST = 1015  # frames after this have an empty matte


def _plate_frame(f: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([xx / W * 2.0, yy / H, 0.3 + 0.01 * (f - FIRST) + 0 * xx], axis=-1)
    alpha = np.full((H, W, 1), 0.75, dtype=np.float32)
    px = np.concatenate([rgb, alpha], axis=-1)
    if f == FIRST + 3:
        px[5, 5, 0] = np.nan  # outside the mask: must survive bit for bit
        px[6, 6, 1] = np.inf
    return px


def _matte(f: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=np.float32)
    if f <= OBJECT_LAST:
        x = 100 + 2 * (f - FIRST)
        m[60:90, x : x + 24] = 1.0
    return m


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("shot")
    for f in range(FIRST, LAST + 1):
        write_exr(
            str(root / f"plate.{f}.exr"),
            _plate_frame(f),
            compression="zip",
            pixel_type="half",
            channel_names=("R", "G", "B", "A"),
        )
        write_exr(str(root / f"matte.{f}.exr"), _matte(f), compression="zip", pixel_type="half")
    # a custom attribute must survive onto the outputs
    import OpenImageIO as oiio

    for f in range(FIRST, LAST + 1):
        p = str(root / f"plate.{f}.exr")
        buf = oiio.ImageBuf(p)
        buf.specmod().attribute("void:testShot", "sh010")
        buf.specmod().attribute("compression", "zip")
        assert buf.write(p + ".tmp.exr")
        os.replace(p + ".tmp.exr", p)
    return root


def _spec(root, **kw) -> JobSpec:
    spec = JobSpec(
        plate=str(root / "plate.####.exr"),
        primary=MatteSource(str(root / "matte.####.exr"), "Y"),
        colourspace="Linear Rec.709 (sRGB)",
        prompt="an empty street",
        **kw,
    )
    spec.window.min_length = spec.window.max_length = 13
    spec.window.overlap = 4
    spec.roi.feather = 6
    spec.output.compression = "piz"
    return spec.validate()


def _constant_engine(calls):
    def run(window_input):
        calls.append(window_input)
        window_input.check()
        return np.full_like(window_input.frames, 0.5)

    return run


def test_prepare_window_shapes_and_skip(shot_dir):
    spec = _spec(shot_dir)
    shot = Shot.open(spec)
    plan = shot_plan(shot)
    assert len(plan.windows) == 3
    win, ctx = prepare_window(spec, plan, plan.windows[0], shot=shot)
    assert win.frames.shape == (13, 384, 672, 3) and win.frames.dtype == np.float32
    assert win.quadmask.shape == (13, 384, 672)
    assert set(np.unique(win.quadmask)) <= {0, 63, 127, 255} and (win.quadmask == 0).any()
    assert 0.0 <= win.frames.min() and win.frames.max() <= 1.0
    assert abs(ctx.box.width * 4 - ctx.box.height * 7) <= 3.5
    none, message = prepare_window(spec, plan, plan.windows[2], shot=shot)
    assert none is None and "no object pixels" in message and "1018-1030" in message


def test_mask_size_mismatch_names_file_and_frame(tmp_path, shot_dir):
    for f in range(FIRST, LAST + 1):
        write_exr(str(tmp_path / f"small.{f}.exr"), np.zeros((72, 128), np.float32))
    spec = _spec(shot_dir)
    spec.primary = MatteSource(str(tmp_path / "small.####.exr"), "Y")
    shot = Shot.open(spec)
    plan = shot_plan(shot)
    with pytest.raises(MaskError, match=r"small\.1001\.exr \(frame 1001\).*mask\.resize"):
        prepare_window(spec, plan, plan.windows[0], shot=shot)
    spec.mask.resize = True
    assert shot.quadmask(FIRST).shape == (H, W)


def test_process_shot_outputs_and_resume(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    job, out = str(tmp_path / "job"), str(tmp_path / "plate_void_v001")
    calls = []
    messages = []
    summary = process_shot(spec, _constant_engine(calls), job, out, on_warning=messages.append)
    assert summary["computed"] == [0, 1] and summary["skipped"] == [2]
    assert len(calls) == 2 and calls[0].prompt == "an empty street"
    assert summary["paths"][0] == os.path.join(out, "plate_void_v001.1001.exr")
    assert any("no object pixels" in m for m in messages)

    names = sorted(os.listdir(out))
    assert names == [f"plate_void_v001.{f}.exr" for f in range(FIRST, LAST + 1)]
    shot = Shot.open(spec)
    changed = 0
    for f in range(FIRST, LAST + 1):
        src = read_image(str(shot_dir / f"plate.{f}.exr"))
        res = read_image(os.path.join(out, f"plate_void_v001.{f}.exr"))
        assert res.header.attributes.get("void:testShot") == "sh010"
        assert res.header.compression == "piz" and res.header.pixel_type == "half"
        assert res.channel_names == ("R", "G", "B", "A")
        alpha = paste_alpha(shot.quadmask(f), spec.roi.feather)
        outside = alpha == 0
        assert np.array_equal(res.raw[outside].view(np.uint32), src.raw[outside].view(np.uint32))
        assert np.array_equal(res.raw[..., 3], src.raw[..., 3])
        inside = alpha == 1
        if f <= OBJECT_LAST:
            assert inside.any()
            # the engine painted 0.5 in the working encoding: sRGB 0.5 is linear ~0.214
            np.testing.assert_allclose(res.raw[inside][:, :3], 0.214, atol=0.01)
            changed += 1
        else:
            assert np.array_equal(res.raw.view(np.uint32), src.raw.view(np.uint32))
    assert changed == OBJECT_LAST - FIRST + 1

    # resume: only the window whose commit is gone runs again
    for p in window_paths(job, 1):
        os.remove(p)
    calls.clear()
    out2 = str(tmp_path / "plate_void_v002")
    again = process_shot(spec, _constant_engine(calls), job, out2)
    assert again["computed"] == [1] and again["reused"] == [0, 2] and len(calls) == 1
    for f in (FIRST, 1012, LAST):
        a = read_image(os.path.join(out, f"plate_void_v001.{f}.exr")).raw
        b = read_image(os.path.join(out2, f"plate_void_v002.{f}.exr")).raw
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("mode", ["crop", "full"])
def test_identity_engine_round_trips_inside_the_mask(tmp_path, shot_dir, mode):
    spec = _spec(shot_dir)
    spec.roi.mode = mode
    spec.window.min_length = spec.window.max_length = 37  # one window for the whole shot
    spec.window.overlap = 16
    out = str(tmp_path / "plate_void_v001")
    summary = process_shot(spec, lambda w: w.frames, str(tmp_path / "job"), out)
    assert summary["windows"] == 1 and summary["frames_written"] == 30
    f = FIRST + 5
    src = read_image(str(shot_dir / f"plate.{f}.exr")).pixels
    res = read_image(os.path.join(out, f"plate_void_v001.{f}.exr")).pixels
    # crop -> working -> back on a smooth plate: small error (half output, Lanczos, sRGB curve)
    assert np.abs(res[..., :3] - src[..., :3]).max() < 0.02
    meta = json.loads(open(window_paths(str(tmp_path / "job"), 0)[1]).read())
    box = CropBox.from_dict(meta["box"])
    if mode == "full":
        assert (box.width, box.height, box.pads()) == (256, 146, (0, 1, 0, 1))
    else:
        assert box.width < W


def test_noisy_8bit_quadmask_source_is_snapped(tmp_path, shot_dir):
    """A delivered 8-bit quadmask with compression-like noise: snapped, reported, first frame's
    affected area cleared."""
    rng = np.random.default_rng(3)
    import OpenImageIO as oiio

    for f in range(FIRST, LAST + 1):
        q = np.full((H, W), 255.0)
        q[40:110, 60:200] = 127
        q[60:90, 100:124] = 0
        noisy = np.clip(q + rng.integers(-20, 21, q.shape), 0, 255).astype(np.uint8)
        buf = oiio.ImageBuf(oiio.ImageSpec(W, H, 1, oiio.UINT8))
        buf.set_pixels(oiio.ROI(), noisy[..., None])
        assert buf.write(str(tmp_path / f"quad.{f}.png"))
    spec = _spec(shot_dir)
    spec.primary = None
    spec.quadmask = MatteSource(str(tmp_path / "quad.####.png"), "Y")
    spec.validate()
    messages = []
    shot = Shot.open(spec, on_warning=messages.append)
    first, later = shot.quadmask(FIRST), shot.quadmask(FIRST + 1)
    assert set(np.unique(first).tolist()) == {0, 255}  # 127 cleared on the shot's first frame
    assert set(np.unique(later).tolist()) == {0, 127, 255}
    assert (later[60:90, 100:124] == 0).all() and (later[40:60, 60:200] == 127).all()
    assert messages and "quad.1001.png (frame 1001)" in messages[0] and "moved" in messages[0]


def test_bigben_sample_window(tmp_path, shared_data):
    """VOID's BigBen sample (544x360, smaller than a 7:4 box of its height): the crop is
    reflect-padded sideways and the model sees the reference's four values."""
    imageio = pytest.importorskip("imageio")
    pytest.importorskip("imageio_ffmpeg")
    folder = shared_data / "void_samples" / "BigBen"
    n = 13
    for name, pattern in (("input_video.mp4", "plate"), ("trimask_quadmask.mp4", "quad")):
        reader = imageio.get_reader(str(folder / name), "ffmpeg")
        try:
            for i, frame in zip(range(n), reader, strict=False):
                px = frame.astype(np.float32) / 255.0
                if pattern == "quad":
                    px = px[..., :1]
                write_exr(str(tmp_path / f"{pattern}.{i + 1:04d}.exr"), px, pixel_type="float")
        finally:
            reader.close()
    spec = JobSpec(
        plate=str(tmp_path / "plate.####.exr"),
        quadmask=MatteSource(str(tmp_path / "quad.####.exr"), "Y"),
        colourspace="sRGB Encoded Rec.709 (sRGB)",
    )
    spec.window.min_length = spec.window.max_length = n
    spec.window.overlap = 4
    shot = Shot.open(spec.validate())
    plan = shot_plan(shot)
    win, ctx = prepare_window(spec, plan, plan.windows[0], shot=shot)
    box = ctx.box
    assert (box.frame_width, box.frame_height) == (544, 360)
    assert abs(box.width * 4 - box.height * 7) <= 3.5
    assert box.height == 360 and box.pads()[0] > 0 and box.pads()[2] > 0
    assert set(np.unique(win.quadmask[1:]).tolist()) <= {0, 63, 127, 255}
    # frame 0's affected area is cleared; only thin resize fringes of the object snap to 127
    affected = (win.quadmask[:2] == 127).reshape(2, -1).sum(axis=1)
    assert affected[1] > 20 * affected[0]
    assert win.frames.shape == (n, 384, 672, 3)


def test_missing_matte_frame_names_file_and_frame(tmp_path, shot_dir):
    for f in range(FIRST, FIRST + 5):
        write_exr(str(tmp_path / f"short.{f}.exr"), _matte(f))
    spec = _spec(shot_dir)
    spec.primary = MatteSource(str(tmp_path / "short.####.exr"), "Y")
    shot = Shot.open(spec)
    plan = shot_plan(shot)
    from void_vfx.errors import ImageIOError

    with pytest.raises(ImageIOError, match=r"short\.1006\.exr \(frame 1006\)"):
        prepare_window(spec, plan, plan.windows[0], shot=shot)


def test_short_shot_window_is_mirror_padded(shot_dir):
    spec = _spec(shot_dir)
    spec.window.min_length = spec.window.max_length = 37
    spec.window.overlap = 16
    shot = Shot.open(spec)
    plan = shot_plan(shot)
    (window,) = plan.windows
    win, _ = prepare_window(spec, plan, window, shot=shot)
    assert win.frames.shape[0] == 37 and win.quadmask.shape[0] == 37
    n = LAST - FIRST + 1
    assert np.array_equal(win.frames[n], win.frames[n - 1])  # the last frame repeats
    assert np.array_equal(win.frames[n + 1], win.frames[n - 2])
    assert np.array_equal(win.quadmask[n + 6], win.quadmask[n - 7])
    assert not np.array_equal(win.frames[0], win.frames[n - 1])


def test_output_names_in_a_plain_folder(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    shot = Shot.open(spec)
    from void_vfx.render import output_path

    assert output_path(shot, str(tmp_path / "results"), 1001).endswith(
        "results/plate_void.1001.exr"
    )
    spec.output.name = "sh010"
    assert output_path(shot, str(tmp_path / "x"), -5).endswith("x/sh010_void.-0005.exr")


def test_overlapping_windows_crossfade_in_plate_space(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    levels = iter([0.3, 0.6])
    out = str(tmp_path / "plate_void_v001")
    process_shot(spec, lambda w: np.full_like(w.frames, next(levels)), str(tmp_path / "j"), out)
    shot = Shot.open(spec)
    plan = shot_plan(shot)
    lin = {v: shot.colour.from_working(np.full((1, 3), v, np.float32))[0, 0] for v in (0.3, 0.6)}
    for f in (1008, 1010, 1012, 1014):
        weights = dict((w.index, wt) for w, wt in plan.windows_for_frame(f))
        expected = weights.get(0, 0.0) * lin[0.3] + weights.get(1, 0.0) * lin[0.6]
        alpha = paste_alpha(shot.quadmask(f), spec.roi.feather)
        res = read_image(os.path.join(out, f"plate_void_v001.{f}.exr")).raw
        np.testing.assert_allclose(res[alpha == 1][:, :3], expected, rtol=2e-3, atol=2e-4)
    assert 0 < dict((w.index, wt) for w, wt in plan.windows_for_frame(1012))[0] < 1


def test_engine_nan_is_an_error_and_nothing_is_committed(tmp_path, shot_dir):
    from void_vfx.errors import EngineError

    spec = _spec(shot_dir)
    job = str(tmp_path / "job")
    with pytest.raises(EngineError, match="window 0 .*NaN"):
        process_shot(spec, lambda w: np.full_like(w.frames, np.nan), job, str(tmp_path / "o"))
    assert not any(os.path.exists(p) for p in window_paths(job, 0))
