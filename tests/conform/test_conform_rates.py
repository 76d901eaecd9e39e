"""Rates, drop-frame EDLs and path mapping: the small rules under the conform."""

from __future__ import annotations

from fractions import Fraction

import pytest

from void_vfx.conform.locate import PathMap, url_to_path
from void_vfx.conform.rates import parse_rate, snap_rate
from void_vfx.errors import SpecError
from void_vfx.framerate import fps_text

otio = pytest.importorskip("opentimelineio")


def test_messy_rates_snap_to_exact_fractions():
    assert snap_rate(23.976024627685547) == Fraction(24000, 1001)
    assert snap_rate(23.98) == Fraction(24000, 1001)
    assert snap_rate(29.97002997002997) == Fraction(30000, 1001)
    assert snap_rate(25.0000000001) == 25
    assert fps_text(snap_rate(23.976)) == "24000/1001" and fps_text(Fraction(25)) == "25"
    assert parse_rate("29.97df") == (Fraction(30000, 1001), True)
    with pytest.raises(SpecError, match="drop-frame timecode exists only at 29.97 and 59.94"):
        parse_rate("25df")
    with pytest.raises(SpecError, match="not a frame rate"):
        parse_rate("fast")


def test_drop_frame_edl_counts_drop_frame_timecode(tmp_path):
    from void_vfx.conform.reading import read_timeline

    edl = tmp_path / "df.edl"
    edl.write_text(
        "TITLE: DF\nFCM: DROP FRAME\n"
        "001  A001 V     C        01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00\n"
        "* FROM CLIP NAME:  a\n"
    )
    tl, adapter = read_timeline(str(edl), rate=parse_rate("29.97df")[0])
    clip = tl.tracks[0][0]
    # 01:00:00;00 drop-frame = 3600 s * 30 - 2 frames * (60 - 6) minutes = 107892 frames;
    # one drop-frame second later (no minute boundary) is 30 frames more.
    assert adapter == "cmx_3600"
    assert clip.source_range.start_time.value == 107892
    assert clip.source_range.duration.value == 30


def test_windows_paths_and_urls_map_to_posix():
    paths = PathMap.parse(["S:\\path\\to=/mnt/show", "D:/media=/Volumes/media"])
    assert paths.apply("S:\\path\\to\\ZZ100_501.take_1.0001.exr") == (
        "/mnt/show/ZZ100_501.take_1.0001.exr"
    )
    assert paths.apply("s:/PATH/to/x.exr") == "/mnt/show/x.exr"  # drive prefixes ignore case
    assert paths.apply("file://localhost/D%3a/media/sc01_sh010_anim.mov") == (
        "/Volumes/media/sc01_sh010_anim.mov"
    )
    assert url_to_path("file:///Users/j/Desktop/DemoClips/tech.fux%20(loop)-HD.mp4") == (
        "/Users/j/Desktop/DemoClips/tech.fux (loop)-HD.mp4"
    )
    with pytest.raises(SpecError, match="--map Q:/=/mnt/q"):
        PathMap.parse([]).apply("Q:\\shots\\a.exr")
