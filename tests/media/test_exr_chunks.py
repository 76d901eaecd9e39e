"""Chunk-level EXR writing: the changed rows encoded anew, every other chunk the plate's bytes.

Expectations come from OpenImageIO decoding files it wrote itself: the plate, and a band file
encoded over the changed rows. A render through the spliced path is checked against the same
job written whole through a lossless transcode.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.errors import ImageIOError, SpecError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.exr_chunks import read_scanline_file, splice
from void_vfx.media.image_io import read_header, read_image
from void_vfx.media.image_write import write_exr
from void_vfx.render.assemble import output_compression
from void_vfx.render.process import process_shot

W, H = 96, 160
FIRST, LAST = 1, 5


def _decode(path: str) -> np.ndarray:
    inp = oiio.ImageInput.open(path)
    px = inp.read_image(0, 0, 0, inp.spec().nchannels, "half")
    inp.close()
    return np.asarray(px).view(np.uint16)


def _noisy(seed: int, h: int = H, w: int = W, c: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0 * xx, 1 + 0 * xx][:c], axis=-1)
    return (base + rng.normal(0, 0.05, base.shape)).astype(np.float16)


@pytest.mark.parametrize(
    ("codec", "rows"),
    [
        ("none", 1),
        ("zips", 1),
        ("zip", 16),
        ("piz", 32),
        ("dwaa", 32),
        ("dwab", 256),
        ("b44", 32),
    ],
)
def test_splice_replaces_the_band_and_keeps_every_other_row(tmp_path, codec, rows):
    plate_path = write_exr(str(tmp_path / "p.exr"), _noisy(1, 300), compression=codec)
    plate = read_scanline_file(plate_path)
    assert (plate.codec, plate.rows_per_chunk) == (codec, rows)
    a, b = plate.chunk_rows(70, 101)
    assert (a, b) == ((70 // rows) * rows, min(300, -(-101 // rows) * rows))  # whole chunks
    band_px = _noisy(2, b - a)
    band_path = write_exr(
        str(tmp_path / "b.exr"),
        band_px,
        header=read_header(plate_path),
        origin=(0, a),
        compression=codec,
    )
    out = splice(plate, read_scanline_file(band_path), str(tmp_path / "o.exr"))

    expected = _decode(plate_path).copy()
    expected[a:b] = _decode(band_path)
    assert read_header(out).data_window == (0, 0, W, 300)
    assert np.array_equal(_decode(out), expected)


def test_untouched_chunks_are_the_plate_bytes(tmp_path):
    plate_path = write_exr(str(tmp_path / "p.exr"), _noisy(3), compression="zip")
    plate = read_scanline_file(plate_path)
    band_path = write_exr(
        str(tmp_path / "b.exr"), _noisy(4, 16), header=read_header(plate_path), origin=(0, 64)
    )
    out = splice(plate, read_scanline_file(band_path), str(tmp_path / "o.exr"))
    raw = open(plate_path, "rb").read()
    written = open(out, "rb").read()
    # The plate's table gives each chunk's place; chunk 0 (rows 0-15) and the last one (rows
    # 144-159) must appear in the output byte for byte, chunk 4 (rows 64-79) must not.
    ends = sorted(struct.unpack_from("<10Q", raw, plate.header_end)) + [len(raw)]
    chunks = [raw[ends[i] : ends[i + 1]] for i in range(10)]
    assert chunks[0] in written and chunks[9] in written
    assert chunks[4] not in written


def test_damaged_files_are_named(tmp_path):
    path = write_exr(str(tmp_path / "p.exr"), _noisy(5), compression="zip")
    data = open(path, "rb").read()
    short = tmp_path / "short.exr"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageIOError, match=r"short\.exr: .*re-copy it"):
        read_scanline_file(str(short))
    plate = read_scanline_file(path)
    zeroed = bytearray(data)
    zeroed[plate.header_end + 8 : plate.header_end + 16] = bytes(8)  # an unfinished write
    (tmp_path / "zeroed.exr").write_bytes(bytes(zeroed))
    with pytest.raises(ImageIOError, match=r"zeroed\.exr: the chunk table points outside"):
        read_scanline_file(str(tmp_path / "zeroed.exr"))


def test_other_files_are_left_to_a_whole_encode(tmp_path):
    tiled = tmp_path / "tiled.exr"
    spec = oiio.ImageSpec(W, H, 3, oiio.HALF)
    spec.tile_width = spec.tile_height = 32
    out = oiio.ImageOutput.create(str(tiled))
    assert out.open(str(tiled), spec) and out.write_image(_noisy(6, c=3))
    out.close()
    png = tmp_path / "p.png"
    buf = oiio.ImageBuf(oiio.ImageSpec(8, 8, 3, oiio.UINT8))
    assert buf.write(str(png))
    assert read_scanline_file(str(tiled)) is None
    assert read_scanline_file(str(png)) is None


def test_a_band_off_the_chunk_grid_is_refused(tmp_path):
    plate_path = write_exr(str(tmp_path / "p.exr"), _noisy(7), compression="zip")
    band_path = write_exr(
        str(tmp_path / "b.exr"), _noisy(8, 16), header=read_header(plate_path), origin=(0, 70)
    )
    with pytest.raises(ImageIOError, match="do not line up"):
        splice(read_scanline_file(plate_path), read_scanline_file(band_path), str(tmp_path / "o"))
    with pytest.raises(ImageIOError, match="refusing to write over a source"):
        plate = read_scanline_file(plate_path)
        splice(plate, plate, plate_path)


# -- through the render ------------------------------------------------------------------------


def _shot(root, compression: str) -> str:
    for f in range(FIRST, LAST + 1):
        spec = oiio.ImageSpec(W, H, 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        spec.attribute("compression", compression)
        spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (24, 1))
        out = oiio.ImageOutput.create(str(root / f"plate.{f}.exr"))
        assert out.open(str(root / f"plate.{f}.exr"), spec) and out.write_image(_noisy(10 + f))
        out.close()
        m = np.zeros((H, W), np.float32)
        m[72:84, 30 + f : 44 + f] = 1.0  # rows 72-84, feathered by 4: rows 68-88 change
        write_exr(str(root / f"matte.{f}.exr"), m)
    return str(root / "plate.#.exr")


def _spec(plate: str, root, compression: str = "plate") -> JobSpec:
    spec = JobSpec(
        plate=plate,
        primary=MatteSource(str(root / "matte.#.exr"), "Y"),
        colourspace="Linear Rec.709 (sRGB)",
        engine="preview",
    )
    spec.window.min_length = spec.window.max_length = 5
    spec.window.overlap = 0
    spec.roi.feather = 4
    spec.output.compression = compression
    return spec.validate()


def _engine(window_input):
    return np.full_like(window_input.frames, 0.25)


def test_a_lossy_plate_keeps_its_bits_outside_the_changed_chunks(tmp_path):
    plate = _shot(tmp_path, "dwaa:60")
    spliced = process_shot(
        _spec(plate, tmp_path), _engine, str(tmp_path / "j"), str(tmp_path / "a")
    )
    whole = process_shot(
        _spec(plate, tmp_path, "zip"), _engine, str(tmp_path / "j"), str(tmp_path / "b")
    )
    for f in range(FIRST, LAST + 1):
        path = spliced["paths"][f - FIRST]
        header = read_header(path)
        assert header.compression == "dwaa"
        assert header.attributes["openexr:dwaCompressionLevel"] == 60.0  # the plate's level
        got, plate_bits = _decode(path), _decode(str(tmp_path / f"plate.{f}.exr"))
        # DWAA chunks hold 32 rows: rows 68-88 change, so chunks 64-95 are encoded anew.
        assert np.array_equal(got[:64], plate_bits[:64])
        assert np.array_equal(got[96:], plate_bits[96:])
        # Inside, the DWAA encode of what the lossless (ZIP, whole-frame) run wrote.
        lossless = read_image(whole["paths"][f - FIRST]).raw[64:96]
        band = read_image(path).raw[64:96]
        assert np.abs(band.astype(np.float32) - lossless.astype(np.float32)).max() < 0.05
        assert not np.array_equal(band, lossless)  # really re-encoded by a lossy codec
    # Re-encoding the whole frame (as before) would not have kept the plate's bits.
    again = write_exr(
        str(tmp_path / "again.exr"),
        read_image(str(tmp_path / "plate.1.exr"), raw=True, pixel_format="native").raw,
        compression="dwaa:60",
    )
    assert not np.array_equal(_decode(again)[:64], _decode(str(tmp_path / "plate.1.exr"))[:64])


def test_a_spliced_frame_equals_the_whole_frame_write(tmp_path, monkeypatch):
    """ZIP plate, ZIP output (spliced) against the same pixels as a PIZ plate, ZIP output
    (decoded and encoded whole): the same bits everywhere. The band file is scratch in the job
    folder, never in the delivery folder."""
    from void_vfx.media import exr_chunks

    zip_dir, piz_dir = tmp_path / "z", tmp_path / "p"
    zip_dir.mkdir()
    piz_dir.mkdir()
    bands, real_splice = [], exr_chunks.splice

    def splice(plate, band, target):
        folder = os.path.dirname(target)
        bands.append((band.path, sorted(os.listdir(folder)) if os.path.isdir(folder) else []))
        return real_splice(plate, band, target)

    monkeypatch.setattr(exr_chunks, "splice", splice)
    a = process_shot(
        _spec(_shot(zip_dir, "zip"), zip_dir), _engine, str(tmp_path / "ja"), str(tmp_path / "a")
    )
    b = process_shot(
        _spec(_shot(piz_dir, "piz"), piz_dir, "zip"),
        _engine,
        str(tmp_path / "jb"),
        str(tmp_path / "b"),
    )
    for pa, pb in zip(a["paths"], b["paths"], strict=True):
        assert read_header(pa).compression == "zip" == read_header(pb).compression
        assert np.array_equal(_decode(pa), _decode(pb))
    assert len(os.listdir(tmp_path / "a")) == LAST - FIRST + 1
    assert all(not n.startswith(".") for n in os.listdir(tmp_path / "a"))  # no band left over
    assert len(bands) == LAST - FIRST + 1
    for band_path, delivery in bands:
        assert os.path.dirname(band_path) == str(tmp_path / "ja" / "bands")
        # outputs alone (or another writer's output under its temporary name)
        assert all(n.lstrip(".").startswith("plate_void.") for n in delivery), delivery
        assert not any("band" in n for n in delivery)
    # Each band is removed once spliced, and the scratch folder once the job's writers end.
    assert not os.path.exists(tmp_path / "ja" / "bands")
    assert os.path.isdir(tmp_path / "ja")


def test_auto_is_the_default_and_plate_and_auto_take_no_level(tmp_path):
    spec = JobSpec(plate="p.####.exr", quadmask=MatteSource("q.####.png"))
    assert spec.output.compression == "auto"
    for word in ("plate", "auto"):
        spec.output.compression = f"{word}:4"
        with pytest.raises(SpecError, match=f"{word} takes no level"):
            spec.validate()
    buf = oiio.ImageBuf(oiio.ImageSpec(8, 8, 3, oiio.UINT8))
    assert buf.write(str(tmp_path / "p.png"))
    piz = write_exr(str(tmp_path / "p.exr"), _noisy(9), compression="piz")
    dwaa = write_exr(str(tmp_path / "d.exr"), _noisy(9), compression="dwaa:60")
    b44 = write_exr(str(tmp_path / "b.exr"), _noisy(9), compression="b44")
    # (compression asked, plate) -> what is written: "plate" is the plate's own, lossy or not;
    # "auto" the plate's own where it is lossless (OpenEXR: DWAA/DWAB/B44/B44A are lossy).
    cases = {
        ("plate", "p.png"): "zip",
        ("plate", piz): "piz",
        ("plate", dwaa): "dwaa:60",
        ("auto", "p.png"): "zip",
        ("auto", piz): "piz",
        ("auto", dwaa): "zip",
        ("auto", b44): "zip",
        ("dwaa:45", piz): "dwaa:45",
    }
    for (asked, plate), expected in cases.items():
        spec.output.compression = asked
        assert output_compression(spec, read_header(str(tmp_path / plate))) == expected


def test_a_lossy_plate_is_bit_exact_outside_the_fix_by_default_and_says_why(tmp_path):
    """The default output of a DWAA plate: every pixel outside the changed region is the
    plate's decoded pixel, across the whole width of the changed rows too, and the job says
    why the output is ZIP."""
    plate = _shot(tmp_path, "dwaa:60")
    notes: list[str] = []
    out = process_shot(
        _spec(plate, tmp_path, "auto"),
        _engine,
        str(tmp_path / "j"),
        str(tmp_path / "o"),
        on_warning=notes.append,
    )
    assert [n for n in notes if "lossy" in n] == [
        "the plate is DWAA, a lossy compression: the output is written ZIP (lossless) so that "
        "every pixel outside the fix is the plate's own, bit for bit; --compression plate "
        "writes DWAA instead (smaller files, but each changed band of rows is re-encoded across "
        "the whole width)"
    ]
    for f in range(FIRST, LAST + 1):
        path = out["paths"][f - FIRST]
        assert read_header(path).compression == "zip"
        got, plate_bits = _decode(path), _decode(str(tmp_path / f"plate.{f}.exr"))
        # The matte covers rows 72-84, columns 30+f..44+f, feathered by 4 (see _shot).
        outside = np.ones((H, W), bool)
        outside[68:88, 26 + f : 48 + f] = False
        assert np.array_equal(got[outside], plate_bits[outside])
        assert not np.array_equal(got, plate_bits)  # the fix is there


def test_a_plate_whose_windows_start_off_zero_keeps_them(tmp_path):
    """Display window = data window at (16, 8): the full frame is spliced on the plate's chunk
    grid, and a patch's data window sits at the display origin plus the changed region."""
    for f in range(FIRST, LAST + 1):
        spec = oiio.ImageSpec(W, H, 3, oiio.HALF)
        spec.x, spec.y = spec.full_x, spec.full_y = 16, 8
        spec.full_width, spec.full_height = W, H
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(str(tmp_path / f"off.{f}.exr"))
        assert out.open(str(tmp_path / f"off.{f}.exr"), spec)
        assert out.write_image(_noisy(20 + f, c=3))
        out.close()
        m = np.zeros((H, W), np.float32)
        m[72:84, 30 + f : 44 + f] = 1.0
        write_exr(str(tmp_path / f"matte.{f}.exr"), m)
    plate = str(tmp_path / "off.#.exr")
    full = process_shot(_spec(plate, tmp_path), _engine, str(tmp_path / "j"), str(tmp_path / "f"))
    spec = _spec(plate, tmp_path)
    spec.output.mode = "patch"
    patch = process_shot(spec, _engine, str(tmp_path / "j"), str(tmp_path / "p"))
    for f in range(FIRST, LAST + 1):
        whole = read_header(full["paths"][f - FIRST])
        assert whole.data_window == whole.display_window == (16, 8, W, H)
        got = _decode(full["paths"][f - FIRST])
        plate_bits = _decode(str(tmp_path / f"off.{f}.exr"))
        assert np.array_equal(got[:64], plate_bits[:64]) and np.array_equal(
            got[96:], plate_bits[96:]
        )
        assert not np.array_equal(got[68:88], plate_bits[68:88])
        # feather 4: the matte's box grown by 4 on each side, then moved by the display origin
        x0, y0 = 30 + f - 4, 72 - 4
        p = read_header(patch["paths"][f - FIRST])
        assert p.data_window == (16 + x0, 8 + y0, 14 + 8, 12 + 8)
        assert p.display_window == (16, 8, W, H)
        assert np.array_equal(_decode(patch["paths"][f - FIRST]), got[y0 : y0 + 20, x0 : x0 + 22])


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_a_long_header_and_either_copy_path(tmp_path, monkeypatch, kernel_copy):
    """A header far past the first read (a 200 kB note), chunks copied in the kernel or through
    a buffer: the same file either way."""
    if not kernel_copy:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    note = "x" * 200_000
    spec = oiio.ImageSpec(W, H, 4, oiio.HALF)
    spec.attribute("compression", "zip")
    spec.attribute("void:note", note)
    out = oiio.ImageOutput.create(str(tmp_path / "p.exr"))
    assert out.open(str(tmp_path / "p.exr"), spec) and out.write_image(_noisy(30))
    out.close()
    plate = read_scanline_file(str(tmp_path / "p.exr"))
    assert plate.header_end > 200_000 and len(plate.spans) == H // 16
    header = read_header(str(tmp_path / "p.exr"))
    band_path = write_exr(str(tmp_path / "b.exr"), _noisy(31, 32), header=header, origin=(0, 32))
    target = splice(plate, read_scanline_file(band_path), str(tmp_path / "o.exr"))
    expected = _decode(str(tmp_path / "p.exr")).copy()
    expected[32:64] = _decode(band_path)
    assert np.array_equal(_decode(target), expected)
    assert read_header(target).attributes["void:note"] == note


def test_every_compression_is_read_as_oiio_names_it(tmp_path):
    """The header's compression value and rows per chunk, against what OpenImageIO reports."""
    from void_vfx.job.spec import COMPRESSIONS

    for codec in COMPRESSIONS:
        path = write_exr(str(tmp_path / f"{codec}.exr"), _noisy(40, 40, 8), compression=codec)
        parsed = read_scanline_file(path)
        inp = oiio.ImageInput.open(path)
        named = inp.spec().getattribute("compression")
        rows = inp.spec().getattribute("oiio:RowsPerChunk") or 1
        inp.close()
        assert (parsed.codec, parsed.rows_per_chunk) == (named, rows)


def test_preparation_keeps_rows_of_narrow_plates_only(tmp_path):
    """Up to 8 channels, preparation keeps every channel of its rows for assembly; a wider
    plate is read as R, G, B alone and nothing is kept (a 30-AOV plate would fill the cache)."""
    from void_vfx.render.shot import Shot

    for name, channels in (("narrow", 4), ("wide", 10)):
        px = _noisy(50, c=4)
        px = np.concatenate([px] + [px[..., :1]] * (channels - 4), axis=-1)
        names = ("R", "G", "B", "A", *(f"aov{i}" for i in range(channels - 4)))
        for f in range(FIRST, LAST + 1):
            write_exr(str(tmp_path / f"{name}.{f}.exr"), px, channel_names=names)
            m = np.zeros((H, W), np.float32)
            m[72:84, 30:44] = 1.0
            write_exr(str(tmp_path / f"matte.{f}.exr"), m)
        shot = Shot.open(_spec(str(tmp_path / f"{name}.#.exr"), tmp_path))
        rgb = shot.read_rows(shot.plate.path(FIRST), FIRST, 60, 100, 10, 50)
        assert np.array_equal(rgb, px[60:100, 10:50, :3].astype(np.float32))
        assert shot.rows.holds(FIRST, shot.plate.path(FIRST)) == (channels <= 8)
