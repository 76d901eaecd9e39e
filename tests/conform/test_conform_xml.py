"""Conform of the real Premiere FCP7 XML (movie sources, a clip rate of 15 on 30 fps media,
transitions, nested stacks, audio) with synthetic movies, against a real preview server."""

from __future__ import annotations

import json

import pytest
from conform_helpers import Server, write_movie
from conftest import shared_file

from void_vfx.cli.main import main

otio = pytest.importorskip("opentimelineio")

MARKER = (
    "<marker><comment>the empty stage</comment><name>VOID</name><in>10</in><out>-1</out></marker>"
)


def test_premiere_xml_movie_clip_is_decoded_processed_and_added_above(tmp_path):
    media = tmp_path / "media"
    write_movie(media / "sc01_sh010_anim.mov", 100, 30, matte_dir=media)
    text = shared_file("otio/premiere_example.xml").read_text()
    head, sep, tail = text.partition("<masterclipid>masterclip-1</masterclipid>")
    edit = tmp_path / "edit.xml"
    edit.write_text(head + sep + MARKER + tail)
    server = Server(tmp_path)
    try:
        code = main(
            [
                "conform",
                str(edit),
                "--map",
                f"D:/media={media}",
                "--min-window",
                "13",
                "-o",
                str(tmp_path / "out.xml"),
                "--server",
                f"127.0.0.1:{server.srv.port}",
                "--token-file",
                str(tmp_path / "token"),
            ]
        )
    finally:
        server.close()
    assert code == 0
    report = json.loads((tmp_path / "out_report.json").read_text())
    (shot,) = report["shots"]
    # 50 frames at the clip's 15 fps are the movie's 100 frames at 30, decoded as frames 1-100.
    assert (shot["frames"], shot["fps"], shot["prompt"]) == ([1, 100], "30", "the empty stage")
    assert shot["colourspace"] == "Gamma 2.4 Encoded Rec.709"
    assert shot["movie"].endswith("sc01_sh010_anim.mov")
    original = otio.adapters.read_from_file(str(edit))
    out = otio.adapters.read_from_file(report["output"])
    void = [t for t in out.tracks if t.name == "VOID"]
    assert len(void) == 1 and len(out.tracks) == len(original.tracks) + 1
    for a, b in zip(original.tracks, [t for t in out.tracks if t.name != "VOID"], strict=True):
        # every other item keeps its kind, name and place (the XML writer may rename ids)
        assert [(type(x).__name__, x.name, str(x.range_in_parent())) for x in a] == [
            (type(y).__name__, y.name, str(y.range_in_parent())) for y in b
        ]
    (clip,) = void[0].find_clips()
    rec = clip.transformed_time_range(clip.trimmed_range(), out.tracks)
    assert rec.start_time.rescaled_to(30).value == 536
    assert rec.duration.rescaled_to(30).value == 100
