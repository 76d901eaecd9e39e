"""Frame-sequence patterns: parsing, printing, and what is found on disk (real files in
tmp_path)."""

from __future__ import annotations

import os

import pytest

from void_vfx.errors import SequenceError
from void_vfx.media.sequences import Sequence, compact_ranges, find_sequence


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"x")


@pytest.mark.parametrize(
    "pattern, style, padding",
    [
        ("plate.####.exr", "hash", 4),
        ("plate.%04d.exr", "printf", 4),
        ("plate.$F4.exr", "houdini", 4),
        ("plate.@@@@.exr", "at", 4),
        ("plate.[1001-1100].exr", "range", 4),
    ],
)
def test_every_style_names_the_same_files(pattern, style, padding):
    seq = Sequence.parse(os.path.join("shots", "sh010", pattern))
    assert (seq.style, seq.padding, seq.prefix, seq.suffix) == (style, padding, "plate.", ".exr")
    assert seq.directory == os.path.join("shots", "sh010")
    assert seq.path(1001) == os.path.join("shots", "sh010", "plate.1001.exr")
    assert seq.path(7) == os.path.join("shots", "sh010", "plate.0007.exr")
    assert seq.path(-5) == os.path.join("shots", "sh010", "plate.-0005.exr")
    assert seq.path(123456) == os.path.join("shots", "sh010", "plate.123456.exr")


def test_unpadded_tokens_and_printing_in_other_styles():
    for pattern in ("plate.#.exr", "plate.%d.exr", "plate.$F.exr", "plate.@.exr"):
        seq = Sequence.parse(pattern)
        assert seq.padding == 1
        assert seq.path(7) == "plate.7.exr"
        assert seq.path(1001) == "plate.1001.exr"
    seq = Sequence.parse("plate.$F4.exr")
    assert seq.format("hash") == "plate.####.exr"
    assert seq.format("printf") == "plate.%04d.exr"
    assert seq.format("houdini") == "plate.$F4.exr"
    assert seq.format("at") == "plate.@@@@.exr"
    assert Sequence.parse("plate.#.exr").format("printf") == "plate.%d.exr"
    with pytest.raises(SequenceError, match="unknown pattern style"):
        seq.format("nuke")


def test_explicit_ranges():
    seq = Sequence.parse("/a/plate.[0990-1100].exr")
    assert seq.frame_range == (990, 1100)
    assert seq.format() == "/a/plate.[0990-1100].exr"
    assert seq.format("hash") == "/a/plate.####.exr"
    nuke = Sequence.parse("/a/plate.####.exr 1001-1010")
    assert nuke.frame_range == (1001, 1010) and nuke.padding == 4
    with pytest.raises(SequenceError, match="backwards"):
        Sequence.parse("plate.[1100-1001].exr")
    with pytest.raises(SequenceError, match="2 frame tokens"):
        Sequence.parse("plate.####.%04d.exr")


def test_still(tmp_path):
    still = tmp_path / "matte.exr"
    seq = Sequence.parse(str(still))
    assert seq.is_still and seq.path(1001) == str(still)
    with pytest.raises(SequenceError, match="not found"):
        seq.frames()
    touch(tmp_path, "matte.exr")
    assert seq.frames() == [1]
    assert seq.frames((1001, 1003)) == [1001, 1002, 1003]


def test_scan_finds_gaps_duplicates_mixed_padding_negative_and_large(tmp_path):
    touch(
        tmp_path,
        "plate.-0002.exr",
        "plate.-0001.exr",
        "plate.0000.exr",
        "plate.0001.exr",
        "plate.0004.exr",
        "plate.00004.exr",  # the same frame 4 with other padding
        "plate.12345.exr",  # wider than the padding: correct, not mixed
        "plate.0001.exr.bak",
        "other.0002.exr",
    )
    scan = Sequence.parse(str(tmp_path / "plate.####.exr")).scan()
    assert scan.frames == [-2, -1, 0, 1, 4, 12345]
    assert scan.gaps == [(2, 3), (5, 12344)]
    assert list(scan.duplicates) == [4]
    assert scan.files[4] == str(tmp_path / "plate.0004.exr")
    assert scan.mixed_padding and scan.off_padding == [str(tmp_path / "plate.00004.exr")]
    assert scan.paddings == [4, 5]
    text = scan.describe()
    assert "missing 2-3, 5-12344" in text and "duplicated 4" in text and "plate.00004.exr" in text


def test_frames_names_missing_frames_compactly(tmp_path):
    for f in [1001, 1002, 1008, 1009, 1011]:
        touch(tmp_path, f"plate.{f}.exr")
    seq = Sequence.parse(str(tmp_path / "plate.####.exr"))
    with pytest.raises(SequenceError, match=r"missing frames 1003-1007, 1010 \(of 1001-1011\)"):
        seq.frames()
    assert seq.frames((1008, 1009)) == [1008, 1009]
    with pytest.raises(SequenceError, match="missing frames 1012"):
        seq.frames((1011, 1012))
    with pytest.raises(SequenceError, match="no frames found"):
        Sequence.parse(str(tmp_path / "nothing.####.exr")).frames()


def test_frames_refuses_ambiguous_duplicates(tmp_path):
    touch(tmp_path, "plate.1001.exr", "plate.01001.exr", "plate.1002.exr")
    seq = Sequence.parse(str(tmp_path / "plate.####.exr"))
    with pytest.raises(SequenceError, match="frames 1001 exist more than once"):
        seq.frames()
    assert seq.frames((1002, 1002)) == [1002]


def test_range_style_prints_scanned_range(tmp_path):
    touch(tmp_path, "plate.0998.exr", "plate.0999.exr", "plate.1000.exr")
    seq = Sequence.parse(str(tmp_path / "plate.%04d.exr"))
    assert seq.format("range") == str(tmp_path / "plate.[0998-1000].exr")
    assert Sequence.parse(seq.format("range")).frames() == [998, 999, 1000]


def test_find_sequence_from_a_frame_file(tmp_path):
    touch(tmp_path, "sh010_plate_v002.1001.exr", "sh010_plate_v002.1002.exr")
    seq = find_sequence(str(tmp_path / "sh010_plate_v002.1001.exr"))
    assert seq.prefix == "sh010_plate_v002." and seq.padding == 4 and seq.suffix == ".exr"
    assert seq.frames() == [1001, 1002]
    assert find_sequence("plate.-0005.exr").path(-5) == "plate.-0005.exr"
    assert find_sequence("shot-0100.dpx").path(101) == "shot-0101.dpx"
    assert find_sequence("plate.$F4.exr").style == "houdini"
    assert find_sequence("matte.exr").is_still


def test_compact_ranges():
    assert compact_ranges([5, 1, 2, 3, 9, 7, 8, -1]) == "-1, 1-3, 5, 7-9"
    assert compact_ranges([]) == ""


def test_frames_refuses_frames_stored_only_under_other_padding(tmp_path):
    """plate.999.exr under plate.####.exr: the frame exists but seq.path(999) does not."""
    touch(tmp_path, "plate.999.exr", "plate.1000.exr", "plate.1001.exr")
    seq = Sequence.parse(str(tmp_path / "plate.####.exr"))
    assert seq.scan().mixed_padding
    with pytest.raises(SequenceError, match=r"frames 999 are stored with other zero padding"):
        seq.frames()
    assert seq.frames((1000, 1001)) == [1000, 1001]
    assert Sequence.parse(str(tmp_path / "plate.#.exr")).frames() == [999, 1000, 1001]


def test_missing_frames_name_the_first_missing_file(tmp_path):
    touch(tmp_path, "plate.-0002.exr", "plate.0001.exr")
    seq = Sequence.parse(str(tmp_path / "plate.####.exr"))
    with pytest.raises(SequenceError, match=r"missing frames -1-0 .*plate\.-0001\.exr"):
        seq.frames()


@pytest.mark.parametrize("style", ["hash", "printf", "houdini", "at", "range"])
@pytest.mark.parametrize("padding", [1, 4])
def test_printing_back_parses_to_the_same_sequence(style, padding):
    """Every style prints a pattern that parses to the same files, negative frames included."""
    typed = "/a/plate." + "#" * padding + ".exr -12-3"
    seq = Sequence.parse(typed)
    printed = seq.format(style)
    back = Sequence.parse(printed)
    assert (back.directory, back.prefix, back.suffix, back.style) == ("/a", "plate.", ".exr", style)
    for f in (-12, -1, 0, 3, 1001, 123456):
        assert back.path(f) == seq.path(f), (printed, f)
    if style == "range":
        assert back.frame_range == (-12, 3)
        assert printed == ("/a/plate.[-12-3].exr" if padding == 1 else "/a/plate.[-0012-0003].exr")
