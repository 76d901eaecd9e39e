"""Image I/O through the real OpenImageIO: OpenEXR edge cases, other formats, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.errors import ImageIOError
from void_vfx.media.image_io import (
    HALF_MAX,
    check_channel,
    read_header,
    read_image,
)
from void_vfx.media.image_write import write_exr


def make_exr(path, pixels, *, names=None, fmt="half", tile=0, display=None, origin=(0, 0), **attrs):
    """Write a test EXR with plain OIIO calls (not through void_vfx)."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    if names:
        spec.channelnames = names
    spec.x, spec.y = origin
    if display:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    if tile:
        spec.tile_width = spec.tile_height = tile
    for key, (typ, value) in attrs.items():
        spec.attribute(key.replace("__", ":"), oiio.TypeDesc(typ), value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32))
    out.close()
    return path


def ramp(h, w, c, seed=0):
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


REC709 = (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)


def test_header_metadata_survives_a_round_trip(tmp_path):
    src = make_exr(
        tmp_path / "src.exr",
        ramp(40, 60, 4),
        display=(-10, -5, 80, 50),
        origin=(3, 2),
        PixelAspectRatio=("float", 2.0),
        smpte__TimeCode=("timecode", (0x01020304, 0)),
        chromaticities=("float[8]", REC709),
        FramesPerSecond=("rational2i", (24000, 1001)),
        studio__shot=("string", "sh010"),
        studio__matrix=("matrix", tuple(float(i) for i in range(16))),
    )
    img = read_image(str(src))
    assert img.pixels.shape == (50, 80, 4) and img.origin == (-10, -5)
    out = write_exr(str(tmp_path / "out.exr"), img.pixels, header=img.header, sources=[str(src)])
    back = read_header(out)
    assert back.display_window == (-10, -5, 80, 50)
    assert back.data_window == (-10, -5, 80, 50)
    assert back.pixel_aspect == 2.0
    assert back.attributes["smpte:TimeCode"] == (0x01020304, 0)
    assert np.allclose(back.attributes["chromaticities"], REC709)
    assert back.attributes["FramesPerSecond"] == (24000, 1001)
    assert back.attributes["studio:shot"] == "sh010"
    assert back.attributes["studio:matrix"][5] == 5.0
    assert back.compression == "zip" and back.pixel_type == "half"
    assert np.array_equal(read_image(out).pixels, img.pixels)

    # Keep the data window: write the stored pixels at their origin.
    data = read_image(str(src), window="data")
    assert data.origin == (3, 2) and data.pixels.shape == (40, 60, 4)
    out2 = write_exr(
        str(tmp_path / "dw.exr"),
        data.pixels,
        header=data.header,
        origin=data.origin,
        compression="dwaa:45",
        pixel_type="float",
    )
    back2 = read_header(out2)
    assert back2.data_window == (3, 2, 60, 40) and back2.display_window == (-10, -5, 80, 50)
    assert back2.compression == "dwaa" and back2.pixel_type == "float"
    assert back2.attributes["openexr:dwaCompressionLevel"] == 45.0


@pytest.mark.parametrize(
    "name, data, display",
    [
        ("t03.exr", (0, 0, 400, 300), (30, 20, 370, 280)),  # data window larger than display
        ("t06.exr", (0, 0, 400, 300), (-1, -1, 402, 302)),  # negative display origin
        ("t08.exr", (30, 40, 400, 300), (0, 0, 501, 401)),  # data inside display
        ("t09.exr", (0, 0, 400, 300), (400, 0, 200, 300)),  # disjoint
        ("t14.exr", (0, 0, 400, 300), (-100, -100, 101, 101)),  # overlapping one corner
    ],
)
def test_data_windows_are_placed_in_the_display_window(shared_data, name, data, display):
    path = shared_data / "exr" / "displaywindow" / name
    img = read_image(str(path), "rgb")
    assert img.header.data_window == data and img.header.display_window == display
    fx, fy, fw, fh = display
    assert img.pixels.shape == (fh, fw, 3) and img.pixels.dtype == np.float32
    stored = read_image(str(path), "rgb", window="data").pixels
    dx, dy, dw, dh = data
    for y in range(fh):
        for x in (0, fw // 2, fw - 1):
            sy, sx = fy + y - dy, fx + x - dx
            inside = 0 <= sy < dh and 0 <= sx < dw
            expected = stored[sy, sx] if inside else np.zeros(3, np.float32)
            assert np.array_equal(img.pixels[y, x], expected), (name, x, y)


def test_nan_and_inf_are_counted_reported_and_replaced(shared_data):
    path = str(shared_data / "exr" / "misc" / "BrightRingsNanInf.exr")
    seen = []
    img = read_image(path, "rgb", frame=None, on_nonfinite=lambda p, f, n: seen.append((p, f, n)))
    raw = img.raw
    expected = int(raw.size - np.isfinite(raw).sum())
    assert img.nonfinite == expected > 0
    assert seen == [(path, None, expected)]
    assert np.isfinite(img.pixels).all() and img.pixels.max() <= HALF_MAX
    assert np.isnan(raw).any() and np.isinf(raw).any()
    finite = np.isfinite(raw)
    assert np.array_equal(img.pixels[finite], raw[finite])
    assert (img.pixels[np.isnan(raw)] == 0).all()
    assert (img.pixels[np.isposinf(raw)] == HALF_MAX).all()
    unreplaced = read_image(path, "rgb", raw=True)
    assert unreplaced.nonfinite == expected and np.isnan(unreplaced.pixels).any()
    # a clean file has none and shares one array
    clean = read_image(str(shared_data / "exr" / "misc" / "stripes.exr"))
    assert clean.nonfinite == 0 and clean.raw is clean.pixels


def test_channel_picking(tmp_path, shared_data):
    px = ramp(8, 10, 6)
    path = make_exr(tmp_path / "layers.exr", px, names=["R", "G", "B", "A", "mask.a", "depth.Z"])
    # OpenEXR stores layer channels sorted by name; picking is by name, never by position
    assert read_image(str(path)).channel_names == ("R", "G", "B", "A", "depth.Z", "mask.a")
    rgb = read_image(str(path), "rgb")
    assert rgb.channel_names == ("R", "G", "B")
    half = px.astype(np.float16).astype(np.float32)
    assert np.array_equal(rgb.pixels, half[..., :3])
    assert np.array_equal(read_image(str(path), "a").pixels[..., 0], half[..., 3])
    assert np.array_equal(read_image(str(path), "mask.a").pixels[..., 0], half[..., 4])
    assert np.array_equal(read_image(str(path), ["depth.Z", "R"]).pixels, half[..., [5, 0]])
    with pytest.raises(
        ImageIOError, match=r"no channel 'mask\.b'; the file has R, G, B, A, depth\.Z, mask\.a: "
    ):
        read_image(str(path), "mask.b")
    # Y-only image replicated to RGB
    grey = read_image(str(shared_data / "exr" / "misc" / "GrayRampsHorizontal.exr"), "rgb")
    assert grey.pixels.shape[2] == 3
    assert np.array_equal(grey.pixels[..., 0], grey.pixels[..., 2])
    # RGBA from an RGB file gets alpha 1
    rgba = read_image(str(shared_data / "exr" / "misc" / "test.exr"), "rgba")
    assert rgba.pixels.shape[2] == 4 and (rgba.pixels[..., 3] == 1).all()


def test_mixed_half_float_and_offset_data_window(shared_data):
    img = read_image(str(shared_data / "exr" / "misc" / "v1.7.test.1.exr"))
    assert img.header.channel_types == ("half", "half", "half", "float")
    assert img.pixels.shape == (197, 217, 4)
    assert (img.pixels[:20] == 0).all() and img.pixels[20:175, 20:198].any()


def test_tiled_and_compressions(tmp_path, shared_data):
    px = ramp(70, 90, 4, seed=3)
    tiled = make_exr(tmp_path / "tiled.exr", px, tile=32, fmt="float")
    img = read_image(str(tiled))
    assert img.header.tiled and np.array_equal(img.pixels, px)
    for comp in ("none", "rle", "zips", "piz", "pxr24", "b44", "dwab"):
        out = write_exr(str(tmp_path / f"{comp}.exr"), px, compression=comp)
        back = read_image(out)
        assert back.header.compression == comp
        err = np.abs(back.pixels - px.astype(np.float16))
        if comp in ("none", "rle", "zips", "piz"):
            assert err.max() == 0, comp
        else:  # lossy: noise is their worst case, still close on average
            assert err.mean() < 0.02 and err.max() < 0.3, comp
    # the lossy DWAA test picture is close to its lossless PIZ twin
    dwaa = read_image(str(shared_data / "exr" / "lossy" / "comp_dwaa_v2.exr"), "rgba")
    piz = read_image(str(shared_data / "exr" / "lossy" / "comp_dwaa_piz.exr"), "rgba")
    assert dwaa.header.compression == "dwaa" and piz.header.compression == "piz"
    diff = np.abs(dwaa.pixels - piz.pixels) / (np.abs(piz.pixels) + 1.0)
    assert 0 < float(diff.mean()) < 0.01


def test_partial_tiles_file_is_an_error_naming_the_file(shared_data):
    path = str(shared_data / "exr" / "misc" / "tiled.exr")
    assert read_header(path).tiled  # the header is fine; its tiles are missing
    with pytest.raises(ImageIOError, match="tiled.exr.*truncated or damaged"):
        read_image(path)


def test_truncated_exr_and_missing_file(tmp_path):
    good = make_exr(tmp_path / "plate.1001.exr", ramp(64, 64, 3))
    data = good.read_bytes()
    (tmp_path / "plate.1002.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageIOError, match=r"plate\.1002\.exr \(frame 1002\).*truncated"):
        read_image(str(tmp_path / "plate.####.exr"), frame=1002)
    (tmp_path / "plate.1003.exr").write_bytes(data[:100])
    with pytest.raises(ImageIOError, match=r"plate\.1003\.exr \(frame 1003\)"):
        read_image(str(tmp_path / "plate.####.exr"), frame=1003)
    with pytest.raises(ImageIOError, match=r"plate\.1004\.exr \(frame 1004\): file not found"):
        read_image(str(tmp_path / "plate.####.exr"), frame=1004)


def test_other_formats(tmp_path):
    yy, xx = np.mgrid[0:16, 0:24].astype(np.float32)
    px = np.stack([xx / 23, yy / 15, (xx + yy) / 38], axis=2)  # smooth: fair to JPEG
    for ext, fmt in (("png", "uint8"), ("tif", "uint16"), ("dpx", "uint16"), ("jpg", "uint8")):
        path = str(tmp_path / f"img.{ext}")
        spec = oiio.ImageSpec(24, 16, 3, fmt)
        if ext == "dpx":
            spec.attribute("oiio:BitsPerSample", 10)
        buf = oiio.ImageBuf(spec)
        buf.set_pixels(oiio.ROI(), px)
        assert buf.write(path), buf.geterror()
        img = read_image(path, "rgb")
        assert img.pixels.shape == (16, 24, 3) and img.pixels.dtype == np.float32
        tol = 0.1 if ext == "jpg" else 1 / 255
        assert np.abs(img.pixels - px).max() <= tol, ext
        assert img.header.file_format == {"tif": "tiff", "jpg": "jpeg"}.get(ext, ext)
    # a grey PNG matte gives its one channel as alpha
    grey = str(tmp_path / "matte.png")
    buf = oiio.ImageBuf(oiio.ImageSpec(8, 8, 1, "uint8"))
    buf.set_pixels(oiio.ROI(), np.full((8, 8, 1), 1.0, np.float32))
    assert buf.write(grey)
    assert (read_image(grey, "a").pixels == 1.0).all()


def test_atomic_write_leaves_no_temp_file_and_never_touches_the_source(tmp_path):
    src = make_exr(tmp_path / "plate.1001.exr", ramp(32, 32, 4))
    before = (src.read_bytes(), os.stat(src).st_mtime_ns)
    img = read_image(str(src))
    with pytest.raises(ImageIOError, match="refusing to write over a source"):
        write_exr(str(src), img.pixels, header=img.header, sources=[str(src)])
    link = tmp_path / "link.exr"
    link.symlink_to(src)
    with pytest.raises(ImageIOError, match="refusing"):
        write_exr(str(link), img.pixels, header=img.header, sources=[str(src)])
    out_dir = tmp_path / "out"
    out = write_exr(str(out_dir / "res.1001.exr"), img.pixels, header=img.header, sources=[src])
    assert sorted(os.listdir(out_dir)) == ["res.1001.exr"]
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before
    with pytest.raises(ImageIOError, match="exists already"):
        write_exr(out, img.pixels, overwrite=False)
    # a failed write (bad shape) leaves nothing behind either
    with pytest.raises(ImageIOError, match="display window is 32x32"):
        write_exr(str(out_dir / "bad.exr"), img.pixels[:10], header=img.header)
    with pytest.raises(ImageIOError, match="unknown compression"):
        write_exr(str(out_dir / "bad.exr"), img.pixels, compression="lzw")
    assert sorted(os.listdir(out_dir)) == ["res.1001.exr"]


def test_pattern_reads_name_the_frame_of_a_bad_file(tmp_path):
    make_exr(tmp_path / "p.0001.exr", ramp(20, 30, 3))
    (tmp_path / "p.0002.exr").write_bytes(b"not an exr")
    pattern = str(tmp_path / "p.####.exr")
    assert read_header(pattern, frame=1).width == 30
    with pytest.raises(ImageIOError, match=r"p\.0002\.exr \(frame 2\): cannot open"):
        read_header(pattern, frame=2)
    with pytest.raises(ImageIOError, match=r"p\.0003\.exr \(frame 3\): file not found"):
        read_image(pattern, "rgb", frame=3)


def _grey_file(path, fmt="uint8", value=0.5):
    """A one-channel image as a paint package writes it (OIIO names the channel Y)."""
    buf = oiio.ImageBuf(oiio.ImageSpec(6, 4, 1, fmt))
    buf.set_pixels(oiio.ROI(), np.full((4, 6, 1), value, np.float32))
    assert buf.write(str(path)), buf.geterror()
    return str(path)


def test_a_single_channel_image_is_the_mask_whatever_channel_is_asked(tmp_path):
    for ext, fmt in (("png", "uint8"), ("tif", "uint16")):
        path = _grey_file(tmp_path / f"qm.{ext}", fmt, 127 / 255)
        assert read_header(path).channel_names == ("Y",)
        # the quadmask default 'r', the matte default 'a' and the real name all read the one channel
        for asked in ("r", "a", "Y", "mask.a"):
            px = read_image(path, asked).pixels
            assert px.shape == (4, 6, 1)
            assert np.allclose(px * 255, 127, atol=0.01), (ext, asked)
        assert check_channel(read_header(path), "r") == "Y"


def test_a_missing_channel_lists_the_files_channels_and_the_option_to_pick_one(tmp_path):
    path = make_exr(tmp_path / "matte.exr", ramp(4, 6, 3), names=["R", "G", "B"])
    expected = (
        f"{path}: no channel 'a'; the file has R, G, B: pick one with --primary-channel, "
        '--affected-channel or --quadmask-channel (or the matte\'s "channel" in a --spec file), '
        "e.g. 'R'"
    )
    with pytest.raises(ImageIOError) as err:
        read_image(str(path), "a")
    assert str(err.value) == expected
    with pytest.raises(ImageIOError) as err:
        check_channel(read_header(str(path)), "a", hint="pick one with --quadmask-channel")
    assert str(err.value) == f"{path}: no channel 'a'; the file has R, G, B: pick one with " + (
        "--quadmask-channel, e.g. 'R'"
    )


def test_every_exr_case_of_the_issue_reads(shared_data):
    """The OpenEXR test files the issue names, plus line order and every half value."""
    names = [f"displaywindow/{n}" for n in ("t03", "t06", "t08", "t09", "t14")] + [
        "misc/v1.7.test.1",
        "misc/lineOrder_decreasing",
        "misc/AllHalfValues",
        "lossy/comp_dwaa_v2",
        "lossy/comp_dwaa_piz",
    ]
    for name in names:
        path = str(shared_data / "exr" / f"{name}.exr")
        img = read_image(path, "rgb")
        x, y, w, h = img.header.display_window
        assert img.pixels.shape == (h, w, 3) and img.pixels.dtype == np.float32, name
        assert np.isfinite(img.pixels).all(), name
        assert img.raw.shape == img.pixels.shape
    every = read_image(str(shared_data / "exr" / "misc" / "AllHalfValues.exr"), raw=True)
    assert every.nonfinite > 0  # the file holds every half bit pattern, NaN and Inf included


def test_a_concrete_file_with_token_characters_is_read_as_it_is(tmp_path):
    px = ramp(4, 6, 3)
    path = make_exr(tmp_path / "sh010_comp_@2x.1001.exr", px)
    img = read_image(str(path), "rgb", frame=1001)
    assert img.path == str(path) and img.pixels.shape == (4, 6, 3)
    assert read_header(str(path), frame=1001).path == str(path)
