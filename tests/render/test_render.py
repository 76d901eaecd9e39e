"""Shot processing on a small synthetic EXR shot through the real OIIO and OCIO."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from void_vfx.errors import MaskError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.image_io import read_image
from void_vfx.media.image_write import write_exr
from void_vfx.render.prepare import prepare_window, shot_plan
from void_vfx.render.process import process_shot
from void_vfx.render.roi import CropBox, paste_alpha
from void_vfx.render.shot import Shot
from void_vfx.render.store import window_paths

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
    spec.output.version = 1  # the output files are named plate_void_v001.<frame>.exr
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
    # found from the headers, before any window reaches the engine
    with pytest.raises(MaskError, match=r"small\.1001\.exr \(frame 1001\).*--mask-resize"):
        Shot.open(spec)
    calls = []
    with pytest.raises(MaskError, match=r"small\.1001\.exr \(frame 1001\)"):
        process_shot(spec, _constant_engine(calls), str(tmp_path / "j"), str(tmp_path / "o"))
    assert calls == []
    spec.mask.resize = True
    assert Shot.open(spec).quadmask(FIRST).shape == (H, W)


def test_process_shot_outputs_and_resume(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    job, out = str(tmp_path / "job"), str(tmp_path / "plate_void_v001")
    calls = []
    messages = []
    summary = process_shot(spec, _constant_engine(calls), job, out, on_warning=messages.append)
    assert summary["computed"] == [0, 1] and summary["skipped"] == [2]
    assert len(calls) == 2 and calls[0].prompt == "an empty street"
    assert summary["paths"][0] == os.path.join(out, "plate_void_v001.1001.exr")
    assert any("no object pixels" in m and "matte.####.exr" in m for m in messages)
    # NaN/Inf of frame 1004 (one NaN, one Inf): counted, reported once, in the summary
    assert summary["nonfinite"] == {FIRST + 3: 2}
    nan_msgs = [m for m in messages if "NaN/Inf" in m]
    assert len(nan_msgs) == 1 and f"plate.{FIRST + 3}.exr (frame {FIRST + 3}): 2 NaN" in nan_msgs[0]

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
    spec.output.version = 2
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
    """A delivered 8-bit quadmask with compression-like noise: snapped, first frame's affected
    area cleared, and one summary for the job (frames, worst frame, share moved)."""
    rng = np.random.default_rng(3)
    import OpenImageIO as oiio

    moved = {}
    for f in range(FIRST, LAST + 1):
        q = np.full((H, W), 255.0)
        q[40:110, 60:200] = 127
        q[60:90, 100:124] = 0
        noisy = np.clip(q + rng.integers(-20, 21, q.shape), 0, 255).astype(np.uint8)
        # noise of at most 20 never crosses a snap bound: a pixel moved when it is > 8 off
        moved[f] = int(np.count_nonzero(np.abs(noisy - q) > 8))
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
    assert messages == []  # nothing said per frame
    process_shot(
        spec,
        _constant_engine([]),
        str(tmp_path / "j"),
        str(tmp_path / "o"),
        on_warning=messages.append,
    )
    snapped = [m for m in messages if "snapped" in m]
    worst = max(moved, key=lambda f: moved[f])
    share = 100 * sum(moved.values()) / (W * H * len(moved))
    assert len(snapped) == 1, snapped
    assert "quad.####.png" in snapped[0] and "on 30 of 30 frames" in snapped[0]
    assert f"{share:.3f}% of all pixels" in snapped[0]
    assert f"worst frame {worst}: {100 * moved[worst] / (W * H):.3f}% moved" in snapped[0]


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
    from void_vfx.errors import SequenceError

    calls = []
    with pytest.raises(SequenceError, match=r"short\.1006\.exr \(frame 1006\).*1006-1030"):
        process_shot(spec, _constant_engine(calls), str(tmp_path / "j"), str(tmp_path / "o"))
    assert calls == [] and not (tmp_path / "o").exists()


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


def test_output_names_come_from_the_spec(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    spec.output.version = 0  # a server's stream-mode results: no version until download
    shot = Shot.open(spec)
    from void_vfx.render.assemble import output_path

    assert output_path(shot, str(tmp_path / "results"), 1001).endswith(
        "results/plate_void.1001.exr"
    )
    spec.output.name = "sh010"
    assert output_path(shot, str(tmp_path / "x"), -5).endswith("x/sh010_void.-0005.exr")
    spec.output.version = 12  # the folder's own name plays no part
    assert output_path(shot, str(tmp_path / "a_v003"), 7).endswith(
        "a_v003/sh010_void_v012.0007.exr"
    )


def test_overlapping_windows_crossfade_in_plate_space(tmp_path, shot_dir):
    spec = _spec(shot_dir)
    spec.finish.grain = False  # the fill is checked against the engine's own values here
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


def _copy_plate(shot_dir, folder):
    import shutil

    folder.mkdir()
    for f in range(FIRST, LAST + 1):
        shutil.copy(shot_dir / f"plate.{f}.exr", folder / f"plate.{f}.exr")
    return folder


def _refused(spec, tmp_path, error, message):
    """process_shot raises ``error`` matching ``message`` before the engine ever runs."""
    calls = []
    with pytest.raises(error, match=message):
        process_shot(spec, _constant_engine(calls), str(tmp_path / "j"), str(tmp_path / "o"))
    assert calls == []


def test_mixed_plate_resolutions_are_refused_up_front(tmp_path, shot_dir):
    from void_vfx.errors import ImageIOError

    plates = _copy_plate(shot_dir, tmp_path / "plates")
    write_exr(str(plates / "plate.1025.exr"), np.zeros((H, W + 2, 4), np.float32))
    spec = _spec(shot_dir)
    spec.plate = str(plates / "plate.####.exr")
    _refused(spec, tmp_path, ImageIOError, r"plate\.1025\.exr \(frame 1025\): size 258x144")


def test_truncated_plate_frames_name_file_and_frame(tmp_path, shot_dir):
    from void_vfx.errors import ImageIOError

    plates = _copy_plate(shot_dir, tmp_path / "plates")
    spec = _spec(shot_dir)
    spec.plate = str(plates / "plate.####.exr")
    data = (plates / "plate.1020.exr").read_bytes()
    (plates / "plate.1020.exr").write_bytes(data[:100])  # even the header is cut
    _refused(spec, tmp_path, ImageIOError, r"plate\.1020\.exr \(frame 1020\): cannot open")
    (plates / "plate.1020.exr").write_bytes(data)
    data = (plates / "plate.1005.exr").read_bytes()
    (plates / "plate.1005.exr").write_bytes(data[: len(data) // 2])  # pixels cut
    _refused(spec, tmp_path, ImageIOError, r"plate\.1005\.exr \(frame 1005\).*truncated")


def test_unknown_colour_space_names_the_plate_and_close_names(tmp_path, shot_dir):
    from void_vfx.errors import ColourError

    spec = _spec(shot_dir)
    spec.colourspace = "Linear Rec709"
    _refused(
        spec,
        tmp_path,
        ColourError,
        r"plate\.1001\.exr \(frames 1001-1030\).*'Linear Rec709'.*Linear Rec\.709 \(sRGB\)",
    )


@pytest.mark.parametrize(
    "data_window",
    [(-8, -6, 144, 84), (10, 8, 100, 50)],
    ids=["overscan", "data-inside-display"],
)
def test_plate_data_window_is_kept_bit_for_bit(tmp_path, data_window):
    """Overscan plates: the output keeps the plate's data window; pixels outside the display
    window, or outside the feathered mask, are the plate's own bits."""
    import OpenImageIO as oiio

    dx, dy, dw, dh = data_window
    rng = np.random.default_rng(5)
    for f in range(1, 14):
        spec = oiio.ImageSpec(dw, dh, 3, "half")
        spec.x, spec.y = dx, dy
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 128, 72
        out = oiio.ImageOutput.create(str(tmp_path / f"os.{f:04d}.exr"))
        assert out.open(str(tmp_path / f"os.{f:04d}.exr"), spec)
        px = rng.random((dh, dw, 3), dtype=np.float32)
        if f == 7:
            px[0, 0, 1] = np.nan  # the data window's corner: overscan in the first case
        assert out.write_image(px)
        out.close()
        m = np.zeros((72, 128), np.float32)
        m[30:45, 40 + f : 60 + f] = 1.0
        write_exr(str(tmp_path / f"m.{f:04d}.exr"), m)
    spec = JobSpec(
        plate=str(tmp_path / "os.####.exr"),
        primary=MatteSource(str(tmp_path / "m.####.exr"), "Y"),
        colourspace="Linear Rec.709 (sRGB)",
    )
    spec.window.min_length = spec.window.max_length = 13
    spec.window.overlap = 4
    spec.roi.feather = 4
    spec.finish.grain = False  # the paste is checked against the engine's own value here
    spec.validate()
    out_dir = str(tmp_path / "os_void_v001")
    summary = process_shot(
        spec, lambda w: np.full_like(w.frames, 0.5), str(tmp_path / "j"), out_dir
    )
    assert summary["frames_written"] == 13
    assert summary["nonfinite"] == {7: 1}  # counted over the whole data window
    shot = Shot.open(spec)
    for f in (1, 7, 13):
        src = read_image(str(tmp_path / f"os.{f:04d}.exr"), window="data")
        res = read_image(summary["paths"][f - 1], window="data")
        assert res.header.data_window == data_window
        assert res.header.display_window == (0, 0, 128, 72)
        alpha = np.zeros((dh, dw), np.float32)  # the paste alpha in data-window coordinates
        full = paste_alpha(shot.quadmask(f), spec.roi.feather)
        x0, y0, x1, y1 = max(dx, 0), max(dy, 0), min(dx + dw, 128), min(dy + dh, 72)
        alpha[y0 - dy : y1 - dy, x0 - dx : x1 - dx] = full[y0:y1, x0:x1]
        keep = alpha == 0
        assert np.array_equal(res.raw[keep].view(np.uint32), src.raw[keep].view(np.uint32))
        np.testing.assert_allclose(res.raw[alpha == 1], 0.214, atol=0.01)


def test_pass1_result_missing_frames_are_refused_up_front(tmp_path, shot_dir):
    from void_vfx.errors import SequenceError

    for f in range(FIRST, 1011):  # a Pass 1 result that stops at 1010
        write_exr(str(tmp_path / f"p1.{f}.exr"), np.zeros((H, W, 3), np.float32))
    spec = _spec(shot_dir)
    spec.sampling.passes = 2
    spec.pass1_result = MatteSource(str(tmp_path / "p1.####.exr"), "rgb")
    spec.validate()
    _refused(spec, tmp_path, SequenceError, r"p1\.1011\.exr \(frame 1011\): the Pass 1 result")


def test_a_guessed_colour_space_is_said(shot_dir):
    spec = _spec(shot_dir)
    spec.colourspace = ""
    messages = []
    shot = Shot.open(spec, on_warning=messages.append)
    # plain EXR: OpenEXR's default (Rec.709 primaries, linear), never the scene_linear role
    assert shot.colour.source_space == "Linear Rec.709 (sRGB)"
    assert len(messages) == 1
    assert (
        "plate.1001.exr (frame 1001): colour space Linear Rec.709 (sRGB) (rule: format "
        in (messages[0])
    )
    assert "--colourspace NAME" in messages[0]


def test_all_windows_empty_is_an_error_not_a_copy(tmp_path, shot_dir):
    for f in range(FIRST, LAST + 1):
        write_exr(str(tmp_path / f"empty.{f}.exr"), np.zeros((H, W), np.float32))
    spec = _spec(shot_dir)
    spec.primary = MatteSource(str(tmp_path / "empty.####.exr"), "Y")
    calls = []
    out = tmp_path / "out"
    with pytest.raises(MaskError, match=r"empty\.####\.exr.*Every window was skipped.*channel"):
        process_shot(spec, _constant_engine(calls), str(tmp_path / "j"), str(out))
    assert calls == []
    assert not out.exists() or not os.listdir(out)


def test_frame_rate_comes_from_the_plate_unless_the_spec_sets_it(tmp_path):
    from void_vfx.demo.run import make_demo_shot

    demo = make_demo_shot(tmp_path / "s", frames=2, size=(64, 32), fps="24000/1001")
    spec = JobSpec(plate=demo.plate, primary=MatteSource(demo.primary, "A")).validate()
    assert spec.fps == ""
    assert Shot.open(spec).fps == "24000/1001"
    assert shot_plan(Shot.open(spec)).fps == "24000/1001"
    spec.fps = "25"
    assert Shot.open(spec).fps == "25"


def test_output_carries_the_shot_rate_when_the_plate_has_none(tmp_path, shot_dir):
    from void_vfx.media.image_io import read_header

    plate_header = read_header(os.path.join(shot_dir, f"plate.{FIRST}.exr"))
    assert "FramesPerSecond" not in plate_header.attributes
    spec = _spec(shot_dir)
    spec.fps = "25"
    out = str(tmp_path / "o")
    summary = process_shot(spec, _constant_engine([]), str(tmp_path / "j"), out)
    header = read_header(summary["paths"][0])
    assert tuple(header.attributes["FramesPerSecond"]) == (25, 1)
    assert header.attributes.get("void:testShot") == "sh010"


def test_an_engine_note_is_said_once_per_job(tmp_path, shot_dir):
    from void_vfx.render.engine import WindowOutput

    spec = _spec(shot_dir)
    runs = []

    def engine(window_input):
        runs.append(1)
        return WindowOutput(window_input.frames.copy(), notes=("kept the affected region",))

    messages = []
    summary = process_shot(
        spec, engine, str(tmp_path / "job"), str(tmp_path / "out"), on_warning=messages.append
    )
    assert len(runs) == 2  # two windows with object pixels
    assert messages.count("kept the affected region") == 1
    assert summary["notes"] == ["kept the affected region"]


def test_render_job_stages_and_typed_records(tmp_path, shot_dir):
    """The stages one by one, as a farm drives them: the record committed is the record read
    back (one type), an empty window is a Skip, a frame is ready once all its windows are."""
    from void_vfx.render.job import Prepared, RenderJob, Skip
    from void_vfx.render.store import WindowRecord

    job = RenderJob.open(_spec(shot_dir), str(tmp_path / "job"))
    w0, w1, w2 = job.plan.windows
    assert job.todo() == [w0, w1, w2]
    skip = job.prepare(w2)
    assert isinstance(skip, Skip) and "1018-1030" in skip.reason  # no matte after 1015
    item = job.prepare(w0)
    assert isinstance(item, Prepared) and item.input.frames.shape == (13, 384, 672, 3)
    calls = []
    committed = job.commit(item, _constant_engine(calls), before_engine=calls.append)
    assert calls[0] is w0 and len(calls) == 2  # before_engine, then the engine
    read = job.record(w0.index)
    assert type(read) is WindowRecord and read == committed and not read.skipped
    assert (read.first, read.last) == (w0.first, w0.last) and read.box is not None
    assert job.todo() == [w1, w2]
    both = max(w0.first, w1.first)  # a frame that windows 0 and 1 both cover
    records = job.records()
    assert job.ready(FIRST, records) == [read] and job.ready(both, records) is None
    job.commit(skip, _constant_engine(calls))
    expected = WindowRecord(w2.index, w2.first, w2.last, skipped=True, reason=skip.reason)
    assert job.record(w2.index) == expected
    with pytest.raises(MaskError, match="Every window was skipped"):
        job.check_removes({i: WindowRecord.skip(w, "empty") for i, w in enumerate((w0, w1, w2))})
    job.check_removes(job.records())  # one window removes something: no error


def test_job_progress_counts_every_stage():
    """30 frames, 2 of 3 windows (26 frames) to run: read + run + write = 26 + 26 + 30 units."""
    from void_vfx.render.progress import JobProgress

    p = JobProgress(windows=3, frames=30, frames_to_read=26, windows_done=1)
    p.frames_read, p.frames_run, p.frames_written, p.frames_unchanged = 13, 13, 8, 2
    s = p.as_dict()
    assert (s["done"], s["total"]) == (36, 82)
    assert p.index() == 1  # 3 * 36 // 82
    assert p.percent() == pytest.approx(100 * 36 / 82)
    assert s["eta_s"] is not None and s["eta_s"] > 0
    assert p.message("frame 1010 written", s).startswith(
        "frame 1010 written; 13/26 frames read, 1/3 windows run, 8/30 frames written "
        "(2 unchanged, no file), "
    )
