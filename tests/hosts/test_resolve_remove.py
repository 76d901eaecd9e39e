"""End to end: a fake Resolve timeline, the real core and a real preview server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from resolve_setup import CLIP_FRAMES, LEFT, RECORD, edit, request

from void_vfx.hosts.resolve_remove import RemoveSession

pytest_plugins = ["resolve_fixtures"]


def _exr_frames(folder: Path) -> list[int]:
    return sorted(int(p.name.split(".")[-2]) for p in folder.glob("*.exr"))


def _without(snapshot: dict, *uids: str) -> dict:
    return {k: v for k, v in snapshot.items() if k not in uids}


def test_sequence_clip_lands_above_then_v002(shot, server, tmp_path):
    import OpenImageIO as oiio

    resolve, project, timeline, clip = edit(shot)
    before = timeline.snapshot()
    seen = []
    session = RemoveSession(
        resolve, request(shot, server, tmp_path / "out"), lambda *a: seen.append(a[0])
    )
    placed = session.run(poll_s=0.05)
    # V2 is occupied by the title over the clip's range: a third track was added.
    assert timeline.GetTrackCount("video") == 3 and placed.track == 3
    new = timeline.tracks[2][0]
    assert (new.GetStart(), new.GetEnd(), new.GetDuration()) == (RECORD, RECORD + 13, 13)
    # The clip points at real EXRs of the clip's source frames, 1003-1015 (left offset 2).
    folder = tmp_path / "out" / "demo_plate_void_v001"
    assert new.media.path == str(folder / "demo_plate_void_v001.%04d.exr")
    assert (new.media.first, new.media.last) == (1001 + LEFT, 1001 + LEFT + CLIP_FRAMES - 1)
    assert _exr_frames(folder) == list(range(1003, 1016))
    assert oiio.ImageInput.open(str(folder / "demo_plate_void_v001.1003.exr")).spec().width == 96
    assert new.colour == "Teal"
    assert new.markers[0]["note"] == f"void-vfx job {session.job_id}"
    assert new.media in project.media_pool.root.subfolders[0].clips  # the VOID bin
    assert project.media_pool.root.subfolders[0].GetName() == "VOID"
    assert project.media_pool.GetCurrentFolder() is project.media_pool.root
    # Nothing else on the timeline changed.
    assert _without(timeline.snapshot(), new.uid) == before
    assert {"prepare", "job", "layback", "done"} <= set(seen)

    # A second run makes v002 on a new track above, keeping v001 where it was.
    before = timeline.snapshot()
    second = RemoveSession(resolve, request(shot, server, tmp_path / "out")).run(poll_s=0.05)
    assert second.track == 4 and timeline.GetTrackCount("video") == 4
    v2 = timeline.tracks[3][0]
    assert "demo_plate_void_v002" in v2.media.path and v2.GetStart() == RECORD
    assert _without(timeline.snapshot(), v2.uid) == before

    # Replace: the newest result (v002 on V4) gives way to v003 at the same place, from the
    # Fairlight page too (DeleteClips needs the Edit page: opened for it, then left again).
    resolve.OpenPage("fairlight")
    before = timeline.snapshot()
    third = RemoveSession(resolve, request(shot, server, tmp_path / "out", mode="replace")).run(
        poll_s=0.05
    )
    assert third.track == 4 and timeline.GetTrackCount("video") == 4
    (v3,) = timeline.tracks[3]
    assert "demo_plate_void_v003" in v3.media.path and v3.GetDuration() == 13
    assert resolve.GetCurrentPage() == "fairlight"
    assert v2.uid not in timeline.snapshot()
    assert _without(timeline.snapshot(), v3.uid) == _without(before, v2.uid)


def test_retimed_clip_is_refused_with_the_render_offer(shot, server, tmp_path):
    resolve, project, timeline, clip = edit(shot, speed=0.5)
    before = timeline.snapshot()
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out"))
    with pytest.raises(Exception) as info:
        session.run(poll_s=0.05)
    text = str(info.value)
    assert "speed change or retime (6 source frames play over 13)" in text
    assert "render path" in text and "--render" in text
    assert timeline.snapshot() == before and not (tmp_path / "out").exists()


def test_transform_is_refused(shot, server, tmp_path):
    resolve, project, timeline, clip = edit(shot, properties={"ZoomX": 1.2})
    with pytest.raises(Exception, match=r"a transform \(ZoomX 1.2\)"):
        RemoveSession(resolve, request(shot, server, tmp_path / "out")).run(poll_s=0.05)


def test_media_too_short_is_refused(shot, server, tmp_path):
    resolve, project, timeline, clip = edit(shot)
    clip.left = 4  # would show 1005-1017, and 1016 is the last frame on disk
    with pytest.raises(Exception, match="frames 1005-1017 outside the media's 1001-1016"):
        RemoveSession(resolve, request(shot, server, tmp_path / "out")).run(poll_s=0.05)


def test_matte_missing_frames_named_before_sending(shot, server, tmp_path):
    import shutil

    matte = tmp_path / "matte"
    matte.mkdir()
    for f in range(1003, 1011):  # the clip needs 1003-1015
        shutil.copy(shot.primary.replace("####", str(f)), matte / f"m.{f}.exr")
    resolve, project, timeline, clip = edit(shot)
    req = request(shot, server, tmp_path / "out", matte=str(matte / "m.####.exr"))
    with pytest.raises(Exception, match=r"object matte: .*missing frames 1011-1015") as info:
        RemoveSession(resolve, req).run(poll_s=0.05)
    # The EXR path sends the clip's files: the advice is to number the matte like them.
    assert "frames 1003-1015: number the matte like the clip's files" in str(info.value)
    assert timeline.GetTrackCount("video") == 2


def test_nested_timeline_goes_through_the_render_path(shot, server, tmp_path):
    """A nested timeline has no file of its own: rendered, numbered like the matte (1001-)."""
    from fakes_resolve import FakeTimelineItem
    from fakes_resolve.model import FakeMediaPoolItem

    resolve, project, timeline, clip = edit(shot, version="19.1")
    timeline.tracks[0].remove(clip)
    nested = FakeMediaPoolItem(clip.media.path, 1001, 1016, "24", clip_type="Timeline")
    timeline.place(1, FakeTimelineItem(nested, RECORD, CLIP_FRAMES, LEFT, name="nest"))
    before = timeline.snapshot()
    placed = RemoveSession(resolve, request(shot, server, tmp_path / "out")).run(poll_s=0.02)
    (render_dir,) = (tmp_path / "out" / "render").iterdir()
    assert sorted(p.name for p in render_dir.iterdir())[0] == "nest.1001.exr"
    new = timeline.tracks[2][0]
    assert placed.track == 3 and (new.GetStart(), new.GetDuration()) == (RECORD, CLIP_FRAMES)
    assert {k: v for k, v in timeline.snapshot().items() if k != new.uid} == before


def test_95_percent_speed_change_is_refused_counting_right(shot, server, tmp_path):
    resolve, project, timeline, clip = edit(shot, speed=0.95)  # 13 frames play round(12.35)
    with pytest.raises(Exception, match=r"retime \(12 source frames play over 13\)"):
        RemoveSession(resolve, request(shot, server, tmp_path / "out")).run(poll_s=0.05)
    assert not (tmp_path / "out").exists()


def test_handles_where_media_and_matte_have_them(shot, server, tmp_path):
    """The clip shows 1003-1015 of 1001-1016: 4 handles asked, 2 before and 1 after exist."""
    resolve, project, timeline, clip = edit(shot, version="19.1")  # inclusive endFrame
    req = request(shot, server, tmp_path / "out", handles=4)
    placed = RemoveSession(resolve, req).run(poll_s=0.05)
    folder = tmp_path / "out" / "demo_plate_void_v001"
    assert _exr_frames(folder) == list(range(1001, 1017))
    new = timeline.tracks[2][0]
    # Placed showing the clip's frames; the handles stay in the media for trimming.
    assert (new.GetStart(), new.GetDuration(), new.GetLeftOffset()) == (RECORD, 13, 2)
    assert (new.media.first, new.media.last, placed.track) == (1001, 1016, 3)


def test_no_handles_past_the_matte(shot, tmp_path):
    import shutil

    from void_vfx.hosts.resolve_remove import handles
    from void_vfx.hosts.resolve_source import read_source

    resolve, project, timeline, clip = edit(shot)
    src = read_source(clip, timeline, 1)
    assert handles(src, shot.primary, 8) == (2, 1)  # the media ends there
    matte = tmp_path / "m"
    matte.mkdir()
    for f in range(1002, 1016):  # one frame before the clip, none after
        shutil.copy(shot.primary.replace("####", str(f)), matte / f"m.{f}.exr")
    assert handles(src, str(matte / "m.####.exr"), 8) == (1, 0)
    assert handles(src, shot.primary, 0) == (0, 0)
