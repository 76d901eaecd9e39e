"""Conform of an edit as NLEs nest and mark it: plates padded 5 and 6 and numbered by timecode,
a clip trimmed by its enclosing stack, a stack retimed as a whole, a clip disabled the FCP7 way,
a result of an earlier conform, a marker outside its clip, and the marker notes of Resolve
(``Resolve_OTIO.Note``) and Hiero (``metadata["note"]``); one real run on a preview server,
then the written timeline read back and conformed again."""

from __future__ import annotations

import json
import os

import pytest
from conform_helpers import Server, write_shot

from void_vfx.cli.main import main

otio = pytest.importorskip("opentimelineio")
RATE = 24


def _t(value):
    return otio.opentime.RationalTime(value, RATE)


def _r(start, dur):
    return otio.opentime.TimeRange(_t(start), _t(dur))


def _seq(folder, prefix, start, count, padding):
    return otio.schema.ImageSequenceReference(
        target_url_base=str(folder),
        name_prefix=prefix,
        name_suffix=".exr",
        start_frame=start,
        rate=RATE,
        frame_zero_padding=padding,
        available_range=_r(start, count),
    )


def _marked(name, ref, start, dur, matte, *, at=None, **marker):
    clip = otio.schema.Clip(name=name, media_reference=ref, source_range=_r(start, dur))
    if matte:
        clip.metadata["void_vfx"] = {"matte": matte}
    m = otio.schema.Marker(
        name=marker.pop("name", "VOID"),
        marked_range=_r(at or start + 2, 0),
        comment=marker.pop("comment", ""),
    )
    m.metadata.update(marker.pop("metadata", {}))
    clip.markers.append(m)
    return clip


def _nest(clip, source_range=None, effects=()):
    inner = otio.schema.Track(name="inner")
    inner.append(clip)
    stack = otio.schema.Stack(name=f"{clip.name} nest", source_range=source_range)
    stack.append(inner)
    for fx in effects:
        stack.effects.append(fx)
    return stack


@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nested")
    m = tmp / "media"
    write_shot(m / "sh5", "sh5.", range(1001, 1014), padding=5)
    write_shot(m / "sh6", "sh6.", range(1001, 1014), padding=6)
    write_shot(m / "shn", "shn.", range(1001, 1020))
    write_shot(m / "shtc", "shtc.", range(86400, 86413))  # numbered by timecode, no header
    v1 = otio.schema.Track(name="V1")
    # Resolve's note: the marker's comment is empty, the note is Resolve_OTIO.Note.
    v1.append(
        _marked(
            "sh5",
            _seq(m / "sh5", "sh5.", 1001, 13, 5),
            1001,
            13,
            str(m / "sh5" / "sh5_matte.#####.exr"),
            metadata={"Resolve_OTIO": {"Note": "no lamp post", "Color": "Blue"}},
        )
    )
    # Hiero's tag note: marker.metadata["note"]; a plate padded 6 named by one frame's file.
    sh6 = otio.schema.ExternalReference(
        target_url=f"file://{m}/sh6/sh6.001001.exr", available_range=_r(1001, 13)
    )
    v1.append(
        _marked(
            "sh6",
            sh6,
            1001,
            13,
            str(m / "sh6" / "sh6_matte.######.exr"),
            metadata={"note": "no bin", "tag": {"name": "VOID"}},
        )
    )
    # 19 source frames, of which the enclosing stack shows 13 (from its own frame 3).
    inner = _marked(
        "shn",
        _seq(m / "shn", "shn.", 1001, 19, 4),
        1001,
        19,
        str(m / "shn" / "shn_matte.####.exr"),
        at=1008,
        comment="no cone",
    )
    v1.append(_nest(inner, _r(3, 13)))
    v1.append(
        _marked(
            "shtc",
            otio.schema.ExternalReference(target_url=f"file://{m}/shtc/shtc.86400.exr"),
            86400,
            13,
            str(m / "shtc" / "shtc_matte.####.exr"),
            comment="no wire",
        )
    )
    warped = _marked(
        "shw",
        _seq(m / "shn", "shn.", 1001, 19, 4),
        1001,
        10,
        str(m / "shn" / "shn_matte.####.exr"),
        comment="x",
    )
    v1.append(_nest(warped, effects=[otio.schema.LinearTimeWarp(time_scalar=2.0)]))
    off = _marked(
        "shoff",
        _seq(m / "shn", "shn.", 1001, 19, 4),
        1001,
        5,
        str(m / "shn" / "shn_matte.####.exr"),
        comment="x",
    )
    off.metadata["fcp_xml"] = {"enabled": "FALSE"}  # how the fcp_xml adapter leaves it
    v1.append(off)
    res = _marked(
        "shn VOID",
        _seq(m / "shn", "shn.", 1001, 19, 4),
        1001,
        5,
        str(m / "shn" / "shn_matte.####.exr"),
        comment="x",
    )
    res.metadata["void_vfx"] = {"source_clip": "shn", "job_id": "j1", "key": "k"}
    v1.append(res)
    v1.append(
        _marked(
            "stray", _seq(m / "shn", "shn.", 1001, 19, 4), 1001, 5, "", at=1015, comment="elsewhere"
        )
    )
    tl = otio.schema.Timeline(name="nested", global_start_time=_t(86400))
    tl.tracks.append(v1)
    path = tmp / "edit.otio"
    otio.adapters.write_to_file(tl, str(path))
    server = Server(tmp)
    try:
        code = main(
            [
                "conform",
                str(path),
                "--min-window",
                "13",
                "-o",
                str(tmp / "out.otio"),
                "--server",
                f"127.0.0.1:{server.srv.port}",
                "--token-file",
                str(tmp / "token"),
            ]
        )
    finally:
        server.close()
    report = json.loads((tmp / "out_report.json").read_text())
    return tmp, path, code, report


def test_shots_found_with_prompts_and_skips(edit):
    _tmp, _path, code, report = edit
    by = {s["name"]: s for s in report["shots"]}
    assert code == 1 and set(by) == {"sh5", "sh6", "shn", "shtc", "shw"}
    assert (by["sh5"]["prompt"], by["sh6"]["prompt"]) == ("no lamp post", "no bin")
    assert "speed change (200.0%) (on the stack 'shw nest'" in by["shw"]["error"]
    # The stack shows source frames 1004-1016 of shn's 1001-1019.
    assert by["shn"]["frames"] == [1004, 1016]
    assert by["shn"]["record"]["start"] == 26 and by["shn"]["record"]["duration"] == 13
    assert by["shn"]["record"]["timecode"] == "01:00:01:02"  # 86400 + 26 at 24 fps
    assert by["shtc"]["frames"] == [86400, 86412]
    skipped = {s["name"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"shoff", "stray"}  # the earlier result is not even listed
    assert "disabled" in skipped["shoff"]
    assert "lies outside the clip's source range" in skipped["stray"]


def test_results_point_at_real_frames_and_nested_shot_is_laid_back_trimmed(edit):
    tmp, path, _code, report = edit
    original = otio.adapters.read_from_file(str(path))
    out = otio.adapters.read_from_file(report["output"])
    assert [t.name for t in out.tracks] == ["V1", "VOID"]
    assert otio.adapters.write_to_string(out.tracks[0], "otio_json") == (
        otio.adapters.write_to_string(original.tracks[0], "otio_json")
    )  # nothing else changed
    clips = {c.name: c for c in out.tracks[1].find_clips()}
    assert set(clips) == {"sh5 VOID", "sh6 VOID", "shn VOID", "shtc VOID"}
    pads = {}
    for name, clip in clips.items():
        ref = clip.media_reference
        pads[name] = ref.frame_zero_padding
        t = clip.source_range.start_time
        for i in range(int(clip.source_range.duration.value)):
            frame = ref.frame_for_time(t + _t(i))
            url = ref.target_url_for_image_number(frame - ref.start_frame)
            assert os.path.isfile(url), (name, url)
    assert pads == {"sh5 VOID": 5, "sh6 VOID": 6, "shn VOID": 4, "shtc VOID": 5}
    shn = clips["shn VOID"]
    assert shn.source_range == _r(1004, 13)
    assert shn.transformed_time_range(shn.trimmed_range(), out.tracks) == _r(26, 13)


def test_a_conformed_timeline_conformed_again_skips_its_results(edit):
    tmp, _path, _code, report = edit
    again = tmp / "again.json"
    main(
        [
            "conform",
            report["output"],
            "--dry-run",
            "--engine",
            "preview",
            "--report",
            str(again),
            "-o",
            str(tmp / "again.otio"),
        ]
    )
    names = {s["name"] for s in json.loads(again.read_text())["shots"]}
    assert names == {"sh5", "sh6", "shn", "shtc", "shw"}
