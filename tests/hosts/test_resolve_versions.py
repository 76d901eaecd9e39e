"""The lay-back and the Resolve calls under each version and each reading the sources give.

Expectations are hand-computed from the shared edit (tests/resolve_setup.py): the plate clip sits
on V1 at record 86410 for 13 frames, a title on V2 at 86415-86418, so a result goes on a new V3.
"""

from __future__ import annotations

import os
from fractions import Fraction

import pytest
from fakes_resolve import FakeTimeline, FakeTimelineItem, make_resolve
from fakes_resolve.base import ASKED_ABSENT
from fakes_resolve.model import FakeMediaPoolItem
from resolve_setup import CLIP_FRAMES, LEFT, RECORD, edit

from void_vfx.hosts import resolve_app as app
from void_vfx.hosts.resolve_layback import lay_back
from void_vfx.hosts.resolve_source import parse_fps, read_source, refusal

pytest_plugins = ["resolve_fixtures"]

#: (version, endFrame override) pairs: each version's own reading, and each reading forced
#: against the version's (so that the first try is wrong and must be undone).
READINGS = [
    ("19.0.0", None),
    ("19.1", None),
    ("20.3", None),
    ("21.0", None),
    ("20.3", "inclusive"),
    ("19.1", "exclusive"),
]


@pytest.fixture(scope="module")
def results(shot, tmp_path_factory) -> list[str]:
    """A downloaded result: 13 EXRs numbered 1003-1015 in a folder of their own."""
    folder = tmp_path_factory.mktemp("result") / "demo_plate_void_v001"
    folder.mkdir()
    out = []
    for f in range(1001 + LEFT, 1001 + LEFT + CLIP_FRAMES):
        path = folder / f"demo_plate_void_v001.{f}.exr"
        os.link(shot.plate.replace("####", str(f)), path)
        out.append(str(path))
    return out


@pytest.fixture(scope="module")
def results_with_handles(shot, tmp_path_factory) -> list[str]:
    """A result of the clip with 2 handles before and 1 after: 1001-1016."""
    folder = tmp_path_factory.mktemp("handles") / "demo_plate_void_v001"
    folder.mkdir()
    for f in range(1001, 1017):
        os.link(shot.plate.replace("####", str(f)), folder / f"demo_plate_void_v001.{f}.exr")
    return sorted(str(p) for p in folder.iterdir())


def _lay(shot, results, version, end_frame=None, mode="new-track", **kwargs):
    resolve, project, timeline, clip = edit(shot, version=version, end_frame=end_frame)
    before = timeline.snapshot()
    src = read_source(clip, timeline, 1)
    placed = lay_back(
        project, timeline, clip, src, results, "job1", mode, app.version_of(resolve), **kwargs
    )
    return project, timeline, clip, before, placed


@pytest.mark.parametrize(("version", "end_frame"), READINGS)
def test_lands_whole_on_v3_under_each_reading(shot, results, version, end_frame):
    project, timeline, clip, before, placed = _lay(shot, results, version, end_frame)
    assert timeline.GetTrackCount("video") == 3 and placed.track == 3
    (new,) = timeline.tracks[2]  # one clip: a wrong first try left nothing behind
    assert (new.GetStart(), new.GetDuration(), new.GetLeftOffset()) == (RECORD, 13, 0)
    assert new.media.path.endswith("demo_plate_void_v001.%04d.exr")
    assert (new.colour, new.markers[0]["note"]) == ("Teal", "void-vfx job job1")
    assert {k: v for k, v in timeline.snapshot().items() if k != new.uid} == before
    (bin_,) = project.media_pool.root.subfolders
    assert bin_.clips == [new.media]


@pytest.mark.parametrize(("version", "end_frame"), READINGS)
def test_take_plays_whole_under_each_reading(shot, results, version, end_frame):
    project, timeline, clip, before, placed = _lay(shot, results, version, end_frame, "take")
    inclusive = (end_frame or ("inclusive" if version == "19.1" else "exclusive")) == "inclusive"
    assert clip.GetTakesCount() == 2 and clip.GetSelectedTakeIndex() == 2
    assert clip.GetDuration() == 13
    take = clip.GetTakeByIndex(2)
    assert (take["startFrame"], take["endFrame"]) == (0, 13 - inclusive)
    assert timeline.GetTrackCount("video") == 2
    assert {k: v for k, v in timeline.snapshot().items() if k != clip.uid} == {
        k: v for k, v in before.items() if k != clip.uid
    }


def test_failed_lay_back_leaves_nothing_behind(shot, results):
    """The user drops a clip onto the new track while the lay-back runs: both readings fail."""
    resolve, project, timeline, clip = edit(shot, version="21.0")
    add_track = timeline.AddTrack

    def add_track_and_user_edit(kind, sub=None):
        done = add_track(kind, sub)
        user = FakeTimelineItem(clip.media, RECORD + 6, 3, 0, name="user")
        timeline.place(len(timeline.tracks), user)
        return done

    timeline.AddTrack = add_track_and_user_edit
    before = timeline.snapshot()
    src = read_source(clip, timeline, 1)
    with pytest.raises(app.ResolveCallFailed) as info:
        lay_back(project, timeline, clip, src, results, "job1", "new-track", (21, 0, 4))
    text = str(info.value)
    assert "\n" not in text and "13 frames asked at record frame 86410 on V3" in text
    assert "V3 was added for it and is removed again" in text
    # The user's clip and its track stay; nothing of the lay-back is left: no clip, no bin.
    assert [i.name for i in timeline.tracks[2]] == ["user"]
    assert {k: v for k, v in timeline.snapshot().items() if v[1] != "user"} == before
    assert project.media_pool.root.subfolders == []
    assert project.media_pool.all_items() == [clip.media]


def test_replace_puts_the_earlier_result_back_when_the_new_one_fails(shot, results):
    project, timeline, clip, _, first = _lay(shot, results, "20.3")
    old = timeline.tracks[2][0]
    src = read_source(clip, timeline, 1)
    append = project.media_pool.AppendToTimeline

    def refuse_the_new_clip(infos):  # Resolve answers [] for the new result (as on a locked
        return append(infos) if infos[0]["mediaPoolItem"] is old.media else []  # track)

    project.media_pool.AppendToTimeline = refuse_the_new_clip
    with pytest.raises(app.ResolveCallFailed, match="placed 0 clips then 0 clips"):
        lay_back(project, timeline, clip, src, results, "job2", "replace", (20, 3, 2))
    # The earlier result was deleted to make room, then put back where it was, tagged again.
    (back,) = timeline.tracks[2]
    assert (back.GetStart(), back.GetDuration(), back.media) == (RECORD, 13, old.media)
    assert back.markers[0]["note"] == "void-vfx job job1"


def test_lays_back_on_its_own_timeline(shot, results):
    resolve, project, timeline, clip = edit(shot)
    other = project.add_timeline(FakeTimeline("Other"))
    src = read_source(clip, timeline, 1)
    project.SetCurrentTimeline(other)  # the user opened another timeline meanwhile
    placed = lay_back(project, timeline, clip, src, results, "job1", "new-track", (20, 3, 2))
    assert placed.track == 3 and project.GetCurrentTimeline() is timeline
    assert other.snapshot() == {}


@pytest.mark.parametrize("version", ["19.0b", "19.0.0", "20.3"])
def test_calls_newer_than_19_0_are_feature_tested(shot, version):
    resolve, project, timeline, clip = edit(shot, version=version)
    del ASKED_ABSENT[:]
    assert app.track_of(clip, timeline) == 1
    src = read_source(clip, timeline, 1)
    assert refusal(clip, src, Fraction(24)) == ""
    absent = {
        "19.0b": {"TimelineItem.GetTrackTypeAndIndex", "TimelineItem.GetSourceStartFrame"},
        "19.0.0": {"TimelineItem.GetSourceStartFrame"},
        "20.3": set(),
    }[version]
    assert absent <= set(ASKED_ABSENT)  # looked up (answered None), never called


def test_resolve_18_is_refused_with_the_reason():
    resolve, project, timeline = make_resolve(version=(18, 6, 4, 6, ""))
    with pytest.raises(app.ResolveError, match=r"DaVinci Resolve 18.6.4 is too old: .*19.0"):
        app.check_version(resolve)
    assert app.check_version(make_resolve(version="19.0b")[0]) == (19, 0, 0)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("29.97 DF", Fraction(30000, 1001)),
        ("59.94DF", Fraction(60000, 1001)),
        ("29.97", Fraction(30000, 1001)),
    ],
)
def test_drop_frame_rates(text, rate):
    assert parse_fps(text) == rate


def test_drop_frame_timeline_sends(shot):
    resolve, project, timeline, clip = edit(shot)
    timeline.fps = clip.media.fps = "29.97"
    timeline.fps = "29.97 DF"  # Blackmagic's README: "29.97 DF" enables drop frame
    src = read_source(clip, timeline, 1)
    assert refusal(clip, src, parse_fps(timeline.GetSetting("timelineFrameRate"))) == ""


@pytest.mark.parametrize("source_end", ["exclusive", "inclusive"])
def test_95_percent_over_20_frames_is_refused(tmp_path, source_end):
    """95% over 20 frames plays 19 source frames (round(20 * 0.95)); 100% plays 20."""
    resolve, project, timeline = make_resolve(source_end=source_end)
    media = FakeMediaPoolItem(str(tmp_path / "a.%04d.exr"), 1001, 1100, "24")
    slow = timeline.place(1, FakeTimelineItem(media, 1000, 20, 10, speed=0.95))
    whole = timeline.place(1, FakeTimelineItem(media, 2000, 20, 10))
    why = refusal(slow, read_source(slow, timeline, 1), Fraction(24))
    count = 19 if source_end == "exclusive" else 18  # what the span reads under each reading
    assert f"a speed change or retime ({count} source frames play over 20)" in why
    assert refusal(whole, read_source(whole, timeline, 1), Fraction(24)) == ""


def test_clip_by_name_playhead_and_selection(shot):
    resolve, project, timeline, clip = edit(shot, version="21.0")
    twin = timeline.place(2, FakeTimelineItem(clip.media, RECORD + 20, 5, 0, name="plate"))
    with pytest.raises(app.ResolveError) as info:
        app.find_clip(timeline, "plate")
    assert (
        "2 video clips are named 'plate' (V1 at record frame 86410; V2 at record frame "
        "86430)" in str(info.value)
    )
    timeline.playhead = RECORD + 6  # under the title on V2: the plate below is meant
    assert app.find_clip(timeline) is clip
    timeline.selected = [twin]  # 21.0.4: the one selected clip wins over the playhead
    assert app.find_clip(timeline) is twin


def test_titles_and_nested_clips_have_no_files(shot):
    resolve, project, timeline, clip = edit(shot)
    title = timeline.tracks[1][0]
    nested = FakeMediaPoolItem(clip.media.path, 1001, 1016, "24", clip_type="Timeline")
    inner = timeline.place(1, FakeTimelineItem(nested, RECORD + 40, 8, 2, name="nest"))
    for item, track in ((title, 2), (inner, 1)):
        src = read_source(item, timeline, track)
        assert src.file_path == "" and not src.is_sequence and src.duration == item.duration


def test_a_refused_take_leaves_the_clip_as_it_was(shot, results):
    resolve, project, timeline, clip = edit(shot, version="21.0")
    before = timeline.snapshot()
    src = read_source(clip, timeline, 1)
    add_take = clip.AddTake
    clip.AddTake = lambda media, s, e: add_take(media, s, e - 2)  # a Resolve making it short
    with pytest.raises(app.ResolveCallFailed) as info:
        lay_back(project, timeline, clip, src, results, "job1", "take", (21, 0, 4))
    assert "clip 'plate' needs a 13-frame take; Resolve made 11 frames then 10 frames" in str(
        info.value
    )
    # No take selector left, no imported clip, no VOID bin: the edit is as it was.
    assert timeline.snapshot() == before and clip.GetTakesCount() == 0
    assert project.media_pool.all_items() == [clip.media] and not project.media_pool.root.subfolders


@pytest.mark.parametrize(("version", "take"), [("19.1", (2, 14)), ("21.0", (2, 15))])
def test_take_with_handles_shows_the_clip(shot, results_with_handles, version, take):
    project, timeline, clip, before, placed = _lay(
        shot, results_with_handles, version, None, "take", head=2, tail=1
    )
    got = clip.GetTakeByIndex(2)
    assert (got["startFrame"], got["endFrame"]) == take and clip.GetDuration() == 13


def test_an_unknown_source_span_falls_back_to_the_offsets(tmp_path):
    """GetSourceStart/EndFrame 0/0 (an XML-imported timeline) is unknown: offsets decide."""
    resolve, project, timeline = make_resolve()
    media = FakeMediaPoolItem(str(tmp_path / "a.%04d.exr"), 1001, 1100, "24")
    slow = timeline.place(1, FakeTimelineItem(media, 1000, 20, 10, speed=0.95))
    whole = timeline.place(1, FakeTimelineItem(media, 2000, 20, 10))
    for item in (slow, whole):
        item.GetSourceStartFrame = item.GetSourceEndFrame = lambda: 0
    why = refusal(slow, read_source(slow, timeline, 1), Fraction(24))
    # round(100 / 0.95) = 105 warped frames: 10 + 20 + 75 is not the media's 100.
    assert "left offset 10 + 20 frames + right offset 75 is not the media's 100 frames" in why
    assert refusal(whole, read_source(whole, timeline, 1), Fraction(24)) == ""
