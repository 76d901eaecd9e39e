"""Where a shot's frames come from, as real edits write it (dry runs, no server): FCP7's disabled
clip, Avid's ``file://C:/`` URL to a Windows Media movie, 24 fps media under a 23.976 sequence
(ayon-core's own editorial case), a transition that needs frames the media lacks; and the
write-back: every native file read back with its adapter, what it kept and lost said."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from conform_helpers import write_frame, write_movie, write_shot
from conftest import shared_file

from void_vfx.cli.main import main

otio = pytest.importorskip("opentimelineio")


def _dry(edit, tmp_path, *extra):
    report = tmp_path / "r.json"
    code = main(
        [
            "conform",
            str(edit),
            "--dry-run",
            "--engine",
            "preview",
            "--report",
            str(report),
            "-o",
            str(tmp_path / "o.otio"),
            *extra,
        ]
    )
    return code, json.loads(report.read_text())


def _tr(start, dur, rate):
    return otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(dur, rate)
    )


def _timeline(*items):
    track = otio.schema.Track(name="V1")
    for item in items:
        track.append(item)
    tl = otio.schema.Timeline(name="t")
    tl.tracks.append(track)
    return tl


def _void(clip, at, rate, prompt="clean"):
    clip.markers.append(
        otio.schema.Marker(name="VOID", marked_range=_tr(at, 0, rate), comment=prompt)
    )
    return clip


def test_fcp7_clip_disabled_in_its_xml_is_skipped(tmp_path):
    text = shared_file("otio/premiere_example.xml").read_text()
    head, sep, tail = text.partition("<masterclipid>masterclip-1</masterclipid>")
    # clipitem-1 as Premiere writes a disabled clip: <enabled>FALSE</enabled>
    tail = tail.replace("<enabled>TRUE</enabled>", "<enabled>FALSE</enabled>", 1)
    marker = "<marker><comment>x</comment><name>VOID</name><in>10</in><out>-1</out></marker>"
    edit = tmp_path / "edit.xml"
    edit.write_text(head + sep + marker + tail)
    assert otio.adapters.read_from_file(str(edit)).tracks[0][1].enabled  # the adapter's view
    code, report = _dry(edit, tmp_path, "--map", f"D:/media={tmp_path}")
    assert code == 0 and report["shots"] == []
    (skip,) = report["skipped"]
    assert skip["name"] == "sc01_sh010_anim.mov" and "disabled" in skip["reason"]


def test_avid_drive_url_to_a_wmv_maps_and_decodes_as_a_movie(tmp_path):
    media = tmp_path / "c" / "Users" / "ed" / "media"
    write_movie(media / "take.wmv", 10, 24, matte_dir=media)
    ref = otio.schema.ExternalReference(
        target_url="file://C:/Users/ed/media/take.wmv", available_range=_tr(0, 10, 24)
    )
    clip = _void(
        otio.schema.Clip(name="take", media_reference=ref, source_range=_tr(2, 5, 24)), 3, 24
    )
    edit = tmp_path / "avid.otio"
    otio.adapters.write_to_file(_timeline(clip), str(edit))
    code, report = _dry(edit, tmp_path, "--map", f"C:/={tmp_path / 'c'}")
    assert code == 0, report
    (shot,) = report["shots"]
    # Media frame 2 is the movie's third frame: decoded frames are numbered from 1.
    assert shot["movie"] == str(media / "take.wmv") and shot["frames"] == [3, 7]


def test_24fps_media_under_a_23976_sequence_is_placed_as_ayon_expects(tmp_path):
    # ayon-core tests/client/ayon_core/pipeline/editorial/test_media_range_with_retimes.py,
    # test_img_sequence_conform_from_24_to_23_976fps: available files 883750-884504 at 24 fps,
    # source range 883159 + 108 at 23.976 -> mediaIn 884043, mediaOut 884150.
    folder = tmp_path / "A001"
    write_frame(str(folder / "A001.884043.exr"), np.full((48, 64, 3), 0.2), ["R", "G", "B"])
    write_frame(str(folder / "A001_matte.884043.exr"), np.ones((48, 64, 1)), ["A"])
    for f in range(884044, 884151):
        for name in ("A001", "A001_matte"):
            os.link(folder / f"{name}.884043.exr", folder / f"{name}.{f}.exr")
    ref = otio.schema.ImageSequenceReference(
        target_url_base=str(folder),
        name_prefix="A001.",
        name_suffix=".exr",
        start_frame=883750,
        rate=1.0,
        frame_zero_padding=0,
        available_range=_tr(883750, 755, 24.0),
    )
    clip = otio.schema.Clip(name="A001", media_reference=ref, source_range=_tr(883159, 108, 23.976))
    clip.metadata["void_vfx"] = {"matte": str(folder / "A001_matte.#.exr"), "prompt": "x"}
    edit = tmp_path / "ayon.otio"
    otio.adapters.write_to_file(_timeline(clip), str(edit))
    code, report = _dry(edit, tmp_path)
    assert code == 0, report
    (shot,) = report["shots"]
    assert shot["frames"] == [884043, 884150] and shot["cut"] == [884043, 884150]
    assert any("placed by time" in n for n in shot["notes"])


def test_a_transition_needing_frames_before_the_media_says_so(tmp_path):
    write_shot(tmp_path / "a", "a.", range(1001, 1021))
    write_shot(tmp_path / "b", "b.", range(1001, 1021))

    def seq(name):
        return otio.schema.ImageSequenceReference(
            target_url_base=str(tmp_path / name),
            name_prefix=f"{name}.",
            name_suffix=".exr",
            start_frame=1001,
            rate=24,
            frame_zero_padding=4,
            available_range=_tr(1001, 20, 24),
        )

    a = otio.schema.Clip(name="a", media_reference=seq("a"), source_range=_tr(1001, 10, 24))
    b = _void(
        otio.schema.Clip(name="b", media_reference=seq("b"), source_range=_tr(1001, 10, 24)),
        1003,
        24,
    )
    dissolve = otio.schema.Transition(
        in_offset=otio.opentime.RationalTime(3, 24), out_offset=otio.opentime.RationalTime(3, 24)
    )
    edit = tmp_path / "t.otio"
    otio.adapters.write_to_file(_timeline(a, dissolve, b), str(edit))
    code, report = _dry(edit, tmp_path)
    assert code == 1
    (shot,) = report["shots"]
    assert (
        "the transition at its head needs source frames 998-1000, 3 before the media's "
        "first frame 1001" in shot["error"]
    )


def _aaf_with_result(tmp_path):
    timeline = otio.adapters.read_from_file(str(shared_file("otio/simple.aaf")))
    clip = next(iter(timeline.find_clips()))
    folder = tmp_path / "media" / "KOLL_void_v001"
    ref = otio.schema.ImageSequenceReference(
        target_url_base=str(folder),
        name_prefix="KOLL.",
        name_suffix=".exr",
        start_frame=1,
        rate=24,
        frame_zero_padding=4,
        available_range=_tr(86400, 10, 24),
    )
    refs = dict(clip.media_references())
    refs["VOID"] = ref
    clip.set_media_references(refs, "VOID")
    return timeline, [SimpleNamespace(pattern=str(folder / "KOLL.####.exr"))]


def test_native_files_are_read_back_and_a_file_missing_results_falls_back(tmp_path):
    from void_vfx.conform.writer import write_timeline

    timeline, results = _aaf_with_result(tmp_path)
    # The AAF adapter writes the file, but it holds no result: .otio instead, said so.
    written = write_timeline(timeline, str(tmp_path / "o.aaf"), results=results)
    assert written.path == str(tmp_path / "o.otio") and written.adapter == "otio_json"
    assert "lost 1 of 1 results" in written.message and not (tmp_path / "o.aaf").exists()
    back = otio.adapters.read_from_file(written.path)
    assert "_void_v001" in next(iter(back.find_clips())).media_reference.target_url_base
    # GES keeps it: the file stays, and the message says what it kept.
    pytest.importorskip("otio_xges_adapter")
    written = write_timeline(timeline, str(tmp_path / "o.xges"), results=results)
    assert written.path == str(tmp_path / "o.xges") and written.adapter == "xges"
    assert "read back with xges: kept 1 of 1 results" in written.message
    back = otio.adapters.read_from_file(written.path)
    assert len(list(back.find_clips())) == len(list(timeline.find_clips()))


def test_an_output_extension_no_adapter_writes_is_refused_before_any_job(tmp_path, capsys):
    edit = shared_file("otio/img_seq_media_reference.otio")
    code = main(
        ["conform", str(edit), "-o", str(tmp_path / "o.kdenlive"), "--server", "127.0.0.1:9"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "no installed OpenTimelineIO adapter writes .kdenlive" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_clip_markers_count_in_source_time_or_as_an_offset_else_are_reported():
    from void_vfx.conform.shots import find_shots

    def clip(name, at, **meta):
        c = otio.schema.Clip(
            name=name,
            media_reference=otio.schema.MissingReference(),
            source_range=_tr(86400, 50, 24),
        )
        c.markers.append(
            otio.schema.Marker(name="VOID", marked_range=_tr(at, 0, 24), metadata=meta)
        )
        return c

    # Source time (OTIO's reading), an offset from the clip's first frame (ayon's Resolve export:
    # GetMarkers() frame keys, the note in metadata["note"]), the contrib Hiero exporter's
    # tag.note, and a locator 70 frames away from a 50-frame clip.
    tl = _timeline(
        clip("src", 86410, Resolve_OTIO={"Note": "a"}),
        clip("off", 10, note="b"),
        clip("hiero", 3, Hiero={"tag.note": "c"}),
        clip("far", 86470),
    )
    shots, skipped = find_shots(tl)
    assert [(s.name, s.prompt) for s in shots] == [("src", "a"), ("off", "b"), ("hiero", "c")]
    ((name, reason),) = [(s.name, s.reason) for s in skipped]
    assert name == "far" and "lies outside the clip's source range" in reason
