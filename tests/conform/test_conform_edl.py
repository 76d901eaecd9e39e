"""Conform of the real EDLs in ../shared/data/otio (Avid, Nucoda, Premiere, 25 fps, speed
effects) with synthetic media laid out to match, against a real preview server."""

from __future__ import annotations

import json

import pytest
from conform_helpers import Server, add_locator, write_shot
from conftest import shared_file

from void_vfx.cli.main import main

otio = pytest.importorskip("opentimelineio")


def _items(track):
    return [otio.adapters.write_to_string(i, "otio_json") for i in track]


@pytest.fixture(scope="module")
def avid(tmp_path_factory):
    """The Avid EDL with a VOID locator on event 1, its plate on a 'Windows' share, and a server."""
    tmp = tmp_path_factory.mktemp("avid")
    media = tmp / "S_share" / "path" / "to"
    # take_1 is 01:00:04:05-01:00:05:12 (31 frames); files 0001-0039 start 4 frames earlier.
    write_shot(media, "ZZ100_501.take_1.", range(1, 40), tc_start=86497)
    text = shared_file("otio/avid_example.edl").read_text()
    edit = tmp / "edit.edl"
    edit.write_text(add_locator(text, 1, "* LOC: 01:00:04:10 WHITE VOID: remove the boom mic"))
    server = Server(tmp)
    yield tmp, edit, media, server
    server.close()


def _run(tmp, edit, media, server, *extra):
    args = [
        "conform",
        str(edit),
        "--rate",
        "24",
        "--map",
        f"S:\\path\\to={media}",
        "--handles",
        "4",
        "--min-window",
        "13",
        "-o",
        str(tmp / "out.edl"),
        "--server",
        f"127.0.0.1:{server.srv.port}",
        "--token-file",
        str(tmp / "token"),
        *extra,
    ]
    code = main(args)
    return code, json.loads((tmp / "out_report.json").read_text())


def test_avid_edl_new_clip_on_void_track_rerun_skips_and_new_prompt_versions(avid):
    tmp, edit, media, server = avid
    code, report = _run(tmp, edit, media, server)
    assert code == 0
    # Two video tracks cannot be an EDL: the adapter refuses and the timeline is written as .otio.
    assert (
        report["output"] == str(tmp / "out.otio")
        and "single video track" in report["output_message"]
    )
    shot = report["shots"][0]
    # Timecode header of file 0001 is 01:00:04:01, so source 01:00:04:05 is file 0005.
    assert (shot["cut"], shot["frames"], shot["handles"]) == ([5, 35], [1, 39], [4, 4])
    assert shot["prompt"] == "remove the boom mic"

    original = otio.adapters.read_from_file(str(edit), rate=24)
    out = otio.adapters.read_from_file(str(tmp / "out.otio"))
    assert [t.name for t in out.tracks] == ["V", "VOID"]
    assert _items(out.tracks[0]) == _items(original.tracks[0])  # every other item unchanged
    (clip,) = out.tracks[1].find_clips()
    rec = clip.transformed_time_range(clip.trimmed_range(), out.tracks)
    assert (rec.start_time.value, rec.duration.value) == (86243, 31)  # 00:59:53:11, 31 frames
    assert (clip.source_range.start_time.value, clip.source_range.duration.value) == (86501, 31)
    ref = clip.media_reference
    assert ref.start_frame == 1 and ref.available_range.start_time.value == 86497
    assert ref.frame_for_time(clip.source_range.start_time) == 5  # source in is result file 0005
    assert ref.target_url_base.endswith("ZZ100_501.take_1_void_v001")
    first_job = shot["job_id"]

    code, again = _run(tmp, edit, media, server)
    assert code == 0 and again["shots"][0]["state"] == "reused"
    assert again["shots"][0]["job_id"] == first_job

    edit.write_text(edit.read_text().replace("remove the boom mic", "remove the crew"))
    code, changed = _run(tmp, edit, media, server)
    assert changed["shots"][0]["state"] == "done" and changed["shots"][0]["key"] != shot["key"]
    assert "_void_v002" in changed["shots"][0]["result"]


def test_nucoda_edl_as_reference_is_written_back_as_an_edl(avid, tmp_path):
    tmp, _edit, media, server = avid
    text = shared_file("otio/nucoda_example.edl").read_text()
    edit = tmp_path / "nucoda.edl"
    edit.write_text(add_locator(text, 1, "* LOC: 01:00:04:10 WHITE VOID remove the boom mic"))
    code = main(
        [
            "conform",
            str(edit),
            "--rate",
            "24",
            "--map",
            f"S:/path/to={media}",
            "--min-window",
            "13",
            "--as-reference",
            "-o",
            str(tmp_path / "conf.edl"),
            "--media-out",
            str(tmp / "out_media"),
            "--server",
            f"127.0.0.1:{server.srv.port}",
            "--token-file",
            str(tmp / "token"),
        ]
    )
    assert code == 0
    written = (tmp_path / "conf.edl").read_text()
    assert "* FROM FILE:" in written  # nucoda dialect kept
    back = otio.adapters.read_from_file(str(tmp_path / "conf.edl"), rate=24)
    clips = back.tracks[0].find_clips()
    assert [c.source_range for c in clips] == [
        otio.opentime.TimeRange(
            otio.opentime.RationalTime(86501, 24), otio.opentime.RationalTime(31, 24)
        ),
        otio.opentime.TimeRange(
            otio.opentime.RationalTime(86557, 24), otio.opentime.RationalTime(50, 24)
        ),
    ]
    assert "_void_v" in clips[0].media_reference.target_url_base  # the result is what plays
    assert clips[1].media_reference.target_url.endswith("ZZ100_502A.take_2.0101.exr")
    # Each shot's review beside its version folder (--review is on by default)
    version = clips[0].media_reference.target_url_base.rstrip("/")
    review = tmp / "out_media" / "take_1" / (version.rsplit("/", 1)[-1] + "_review")
    assert (review / "contact_sheet.png").stat().st_size > 1000
    from void_vfx.media.image_io import read_header

    assert read_header(str(review / "contact_sheet.png")).width == 4 * 320 + 3 * 4


def test_edl_without_rate_is_refused(tmp_path, capsys):
    edit = shared_file("otio/premiere_example.edl")
    assert main(["conform", str(edit), "--dry-run", "-o", str(tmp_path / "x.edl")]) == 1
    assert "an EDL carries no frame rate" in capsys.readouterr().err


def test_premiere_and_25fps_edls_find_media_by_clip_name(tmp_path, capsys):
    media = tmp_path / "plates"
    # Premiere names the file in the clip name; 01:00:04:05 at 24 fps is frame 86501.
    write_shot(media, "ZZ100_501.take_1.", range(86501, 86532), padding=4)
    # 25 fps: sq001_s002 uses 01:00:00:00 + 200 frames; files numbered by timecode.
    write_shot(media / "sq001_s002", "sq001_s002.", range(90000, 90200), matte=True)
    text = shared_file("otio/premiere_example.edl").read_text()
    prem = tmp_path / "prem.edl"
    prem.write_text(text)
    code = main(
        [
            "conform",
            str(prem),
            "--rate",
            "24",
            "--search",
            str(media),
            "--dry-run",
            "--shot",
            "ZZ100_501*",
            "--prompt",
            "clean plate",
            "--report",
            str(tmp_path / "p.json"),
            "-o",
            str(tmp_path / "p.edl"),
        ]
    )
    assert code == 0
    shot = json.loads((tmp_path / "p.json").read_text())["shots"][0]
    assert (shot["cut"], shot["fps"], shot["prompt"]) == ([86501, 86531], "24", "clean plate")

    e25 = tmp_path / "e25.edl"
    e25.write_text(
        add_locator(shared_file("otio/25fps.edl").read_text(), 2, "* LOC: 01:00:01:00 RED VOID")
    )
    code = main(
        [
            "conform",
            str(e25),
            "--rate",
            "25",
            "--search",
            str(media),
            "--dry-run",
            "--prompt",
            "empty room",
            "--report",
            str(tmp_path / "r.json"),
            "-o",
            str(tmp_path / "o.edl"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    (shot,) = report["shots"]
    assert shot["name"] == "sq001_s002" and shot["fps"] == "25"
    assert shot["cut"] == [90000, 90199] and shot["record"]["start"] == 161
    # 200 frames > 197: two windows of the valid length 109 (>= (200 + 16) / 2), overlap 18.
    assert shot["windows"] == [[90000, 90108, 109], [90091, 90199, 109]]
    out = capsys.readouterr().out
    assert "sq001_s002" in out and "GPU" in out


def test_speed_effects_are_refused_per_clip_and_the_exit_status_counts_them(tmp_path):
    media = tmp_path / "m"
    # Z677_4C: 01:00:01:21 for 126 frames at 24 -> frames 86445-86570.
    write_shot(media, "Z677_4C.", range(86445, 86571))
    text = shared_file("otio/speed_effects_small.edl").read_text()
    # Each locator inside its event's source range (a locator elsewhere is reported, not used).
    for event, tc in ((1, "01:00:01:22"), (2, "01:00:10:21"), (5, "01:00:06:01")):
        text = add_locator(text, event, f"* LOC: {tc} WHITE VOID the empty road")
    edit = tmp_path / "speed.edl"
    edit.write_text(text)
    code = main(
        [
            "conform",
            str(edit),
            "--rate",
            "24",
            "--search",
            str(media),
            "--dry-run",
            "--report",
            str(tmp_path / "r.json"),
            "-o",
            str(tmp_path / "o.otio"),
        ]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 2 and report["failed"] == 2
    errors = {s["name"]: s.get("error", "") for s in report["shots"]}
    assert "freeze frame" in errors["Z682_156 (LAY3)"]
    assert "speed change (198.3%)" in errors["Z686_5A (LAY2) (47.56 FPS)"]
    planned = [s for s in report["shots"] if s["state"] == "planned"]
    assert [s["name"] for s in planned] == ["Z677_4C (ANIM10)"]
    assert planned[0]["cut"] == [86445, 86570]
