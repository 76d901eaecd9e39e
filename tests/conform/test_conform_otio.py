"""Conform of .otio edits: the real image-sequence OTIO, a messy one built the way other NLEs
write them (rate 23.976024627685547, a sequence rate of 1.0 and zero padding 0, a fractional
source start, a folder with a trailing space, gaps, a transition, a nested stack, a disabled
clip, metadata mattes), a file from a newer OTIO, and the real AAF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conform_helpers import Server, write_frame, write_movie, write_shot
from conftest import shared_file

from void_vfx.cli.main import main

otio = pytest.importorskip("opentimelineio")
RATE = 23.976024627685547


def test_image_sequence_otio_outside_its_media_fails_clearly_then_realigns(tmp_path, capsys):
    shots = tmp_path / "shots"
    write_shot(shots, "PREGRADE MIXDOWN.", range(125, 284), padding=0, matte=False)
    write_frame(str(shots / "hold_matte.exr"), np.ones((48, 64, 1)), ["A"])
    edit = tmp_path / "edit.otio"
    edit.write_text(shared_file("otio/img_seq_media_reference.otio").read_text())
    args = [
        "conform",
        str(edit),
        "--map",
        f"/tmp={shots}",
        "--shot",
        "PREGRADE*",
        "--matte-template",
        "{dir}/hold_matte.exr",
        "--dry-run",
        "--report",
        str(tmp_path / "r.json"),
        "-o",
        str(tmp_path / "o.otio"),
    ]
    assert main(args) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert (
        "source frames 900000-900158 lie outside the media's available frames 125-283"
        in (report["shots"][0]["error"])
    )
    assert main(args + ["--realign-source"]) == 0
    shot = json.loads((tmp_path / "r.json").read_text())["shots"][0]
    assert shot["cut"] == [125, 283] and shot["plate"].endswith("PREGRADE MIXDOWN.#.exr")
    assert "realigned to the media's 125-283" in capsys.readouterr().out


def test_a_matte_of_another_size_fails_its_shot_before_any_job(tmp_path, capsys):
    """The matte's size is read from its header when the shot is planned (a dry run sends
    nothing), named with both sizes and the option; ``--mask-resize`` takes it."""
    shots = tmp_path / "shots"
    write_shot(shots, "PREGRADE MIXDOWN.", range(125, 284), padding=0, matte=False)
    write_frame(str(shots / "hold_matte.exr"), np.ones((24, 32, 1)), ["A"])  # plate is 64x48
    edit = tmp_path / "edit.otio"
    edit.write_text(shared_file("otio/img_seq_media_reference.otio").read_text())
    report = tmp_path / "r.json"
    args = ["conform", str(edit), "--map", f"/tmp={shots}", "--shot", "PREGRADE*"]
    args += ["--matte-template", "{dir}/hold_matte.exr", "--realign-source", "--dry-run"]
    args += ["--report", str(report), "-o", str(tmp_path / "o.otio")]
    assert main(args) == 1
    error = json.loads(report.read_text())["shots"][0]["error"]
    assert "hold_matte.exr: the primary mask is 32x24 but the plate is 64x48" in error
    assert "--mask-resize" in error
    assert main(args + ["--mask-resize"]) == 0
    assert "error" not in json.loads(report.read_text())["shots"][0]


def _ref(folder: str, prefix: str, start: int, count: int, *, rate=1.0, padding=0):
    return otio.schema.ImageSequenceReference(
        target_url_base=folder,
        name_prefix=prefix,
        name_suffix=".exr",
        start_frame=start,
        rate=rate,
        frame_zero_padding=padding,
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, RATE), otio.opentime.RationalTime(count, RATE)
        ),
    )


def _clip(name, ref, start, dur, **kw):
    rng = otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, RATE), otio.opentime.RationalTime(dur, RATE)
    )
    return otio.schema.Clip(name=name, media_reference=ref, source_range=rng, **kw)


def _void_marker(prompt: str, at: float):
    rng = otio.opentime.TimeRange(otio.opentime.RationalTime(at, RATE))
    return otio.schema.Marker(name="VOID", marked_range=rng, comment=prompt)


def _messy_edit(tmp_path):
    media = tmp_path / "media"
    write_shot(media / "sh010 ", "sh010.", range(1000, 1014), padding=0)  # folder ends in a space
    write_shot(media / "sh020", "sh020_", range(2001, 2025), padding=4)
    write_shot(media / "sh030", "sh030.", range(1001, 1014))
    for f in range(1001, 1014):  # a roto render elsewhere, named in the clip's metadata
        write_frame(str(media / "roto" / f"sh030_roto.{f}.exr"), np.ones((48, 64, 1)), ["A"])
    tl = otio.schema.Timeline(
        name="messy", global_start_time=otio.opentime.RationalTime(86400, RATE)
    )
    tl.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
    v1 = otio.schema.Track(name="V1")
    v1.append(otio.schema.Gap(duration=otio.opentime.RationalTime(5, RATE)))
    a = _clip("sh010", _ref(str(media / "sh010"), "sh010.", 1000, 14), 1000.5, 13)
    a.markers.append(_void_marker("an empty street", 1003))
    v1.append(a)
    b = _clip(
        "sh020", _ref(str(media / "sh020"), "sh020_", 2001, 24, rate=RATE, padding=4), 2001, 16
    )
    b.markers.append(
        otio.schema.Marker(
            name="VOID: the wall without the poster",
            marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(2002, RATE)),
        )
    )
    v1.append(b)
    v1.append(
        otio.schema.Transition(
            in_offset=otio.opentime.RationalTime(4, RATE),
            out_offset=otio.opentime.RationalTime(4, RATE),
        )
    )
    c = _clip(
        "sh030",
        otio.schema.ExternalReference(target_url=f"file://{media}/sh030/sh030.1001.exr"),
        1005,
        4,
    )
    c.metadata["void_vfx"] = {"matte": "media/roto/sh030_roto.####.exr", "prompt": "no van"}
    v1.append(c)
    nested = otio.schema.Stack(name="nest")
    inner = otio.schema.Track(name="inner")
    d = _clip(
        "sh040", _ref(str(media / "sh030"), "sh030.", 1001, 13, rate=RATE, padding=4), 1001, 13
    )
    d.markers.append(_void_marker("no sign", 1002))
    inner.append(d)
    nested.append(inner)
    v1.append(nested)
    e = _clip("sh060", otio.schema.MissingReference(), 1, 5)
    e.enabled = False
    e.markers.append(_void_marker("never run", 2))
    v1.append(e)
    tl.tracks.append(v1)
    # V2 over sh010 (record 5-17): sh050 at record 8-20, marked by a timeline marker at 10,
    # which marks the topmost clip under it (sh050, not sh010).
    v2 = otio.schema.Track(name="V2")
    v2.append(otio.schema.Gap(duration=otio.opentime.RationalTime(8, RATE)))
    v2.append(
        _clip(
            "sh050", _ref(str(media / "sh030"), "sh030.", 1001, 13, rate=RATE, padding=4), 1001, 13
        )
    )
    tl.tracks.append(v2)
    tl.tracks.markers.append(_void_marker("no cable", 10))
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Gap(duration=otio.opentime.RationalTime(40, RATE)))
    tl.tracks.append(audio)
    edit = tmp_path / "edit.otio"
    otio.adapters.write_to_file(tl, str(edit))
    return edit


def test_messy_otio_conforms_every_marked_shot_at_its_record_time(tmp_path):
    edit = _messy_edit(tmp_path)
    server = Server(tmp_path)
    try:
        code = main(
            [
                "conform",
                str(edit),
                "--min-window",
                "13",
                "--handles",
                "2",
                "--otio-version",
                "0.14.0",
                "-o",
                str(tmp_path / "out.otio"),
                "--server",
                f"127.0.0.1:{server.srv.port}",
                "--token-file",
                str(tmp_path / "token"),
            ]
        )
    finally:
        server.close()
    report = json.loads((tmp_path / "out_report.json").read_text())
    assert code == 0, report
    by_name = {s["name"]: s for s in report["shots"]}
    assert set(by_name) == {"sh010", "sh020", "sh030", "sh040", "sh050"}
    assert [s["name"] for s in report["skipped"]] == ["sh060"]  # disabled
    assert by_name["sh050"]["prompt"] == "no cable" and by_name["sh010"]["prompt"] == (
        "an empty street"
    )
    # sh010: source 1000.5 for 13 frames covers frames 1000-1013; handles stop at the media.
    assert (by_name["sh010"]["frames"], by_name["sh010"]["handles"]) == ([1000, 1013], [0, 0])
    assert by_name["sh010"]["fps"] == "24000/1001"
    # sh020 ends in a 4-frame transition: its cut 2001-2016, 4 frames more under the
    # transition (2020) plus 2 handles -> 2022; the cut excludes the transition's frames.
    assert by_name["sh020"]["prompt"] == "the wall without the poster"
    assert by_name["sh020"]["cut"] == [2001, 2016] and by_name["sh020"]["frames"] == [2001, 2022]
    assert by_name["sh030"]["mattes"][0]["how"] == "metadata matte"
    # sh030 (source 1005 + 4) starts in the transition: 4 more frames before it, handles after.
    assert by_name["sh030"]["cut"] == [1005, 1008] and by_name["sh030"]["frames"] == [1001, 1010]
    # Record timecode counts from the timeline's global start (01:00:00:00): sh010 at record 5.
    assert by_name["sh010"]["record"]["timecode"] == "01:00:00:05"

    text = (tmp_path / "out.otio").read_text()
    assert '"Clip.1"' in text and '"Clip.2"' not in text  # written for OTIO 0.14 readers
    original = otio.adapters.read_from_file(str(edit))
    out = otio.adapters.read_from_file(str(tmp_path / "out.otio"))
    assert out.metadata["Resolve_OTIO"] == {"Resolve OTIO Meta Version": "1.0"}
    assert [t.name for t in out.tracks] == ["V1", "V2", "A1", "VOID", "VOID 2"]
    for before, after in zip(original.tracks, out.tracks, strict=False):
        assert otio.adapters.write_to_string(before, "otio_json") == (
            otio.adapters.write_to_string(after, "otio_json")
        )
    new = {c.name: c for t in out.tracks[3:] for c in t.find_clips()}
    assert [c.name for c in out.tracks[4].find_clips()] == ["sh050 VOID"]  # overlaps sh010
    for name in ("sh010", "sh020", "sh030", "sh040", "sh050"):
        src = next(c for c in original.find_clips() if c.name == name)
        clip = new[f"{name} VOID"]
        assert clip.source_range == src.source_range
        want = src.transformed_time_range(src.trimmed_range(), original.tracks)
        got = clip.transformed_time_range(clip.trimmed_range(), out.tracks)
        assert got == want
    ref = new["sh020 VOID"].media_reference
    assert (ref.start_frame, ref.available_range.duration.value) == (2001, 22)


def test_a_file_from_a_newer_otio_names_the_schema(tmp_path, capsys):
    text = shared_file("otio/img_seq_media_reference.otio").read_text()
    edit = tmp_path / "new.otio"
    edit.write_text(text.replace('"Clip.2"', '"Clip.7"'))
    assert main(["conform", str(edit), "--dry-run", "-o", str(tmp_path / "o.otio")]) == 1
    err = capsys.readouterr().err
    assert "Clip.7 (installed reads Clip.2)" in err and "otiotool --downgrade" in err


def test_aaf_movie_clip_is_placed_by_its_media_timecode(tmp_path):
    demo = tmp_path / "DemoClips"
    write_movie(demo / "KOLL-HD.mp4", 640, 24)
    write_frame(str(demo / "KOLL-HD_hold.exr"), np.ones((48, 64, 1)), ["A"])
    code = main(
        [
            "conform",
            str(shared_file("otio/simple.aaf")),
            "--map",
            f"/Users/joshm/Desktop/DemoClips={demo}",
            "--shot",
            "KOLL-HD.mp4",
            "--matte-template",
            "{dir}/{stem}_hold.exr",
            "--dry-run",
            "--report",
            str(tmp_path / "r.json"),
            "-o",
            str(tmp_path / "o.aaf"),
        ]
    )
    assert code == 0
    (shot,) = json.loads((tmp_path / "r.json").read_text())["shots"]
    # Source 01:00:00:00 (86400) on media whose first frame is 86400: decoded frames 1-640.
    assert shot["cut"] == [1, 640] and shot["record"]["start"] == 1922
    assert shot["colourspace"] == "Gamma 2.4 Encoded Rec.709"
