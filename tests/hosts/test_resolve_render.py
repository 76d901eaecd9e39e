"""The render path: a movie clip goes through the fake render queue (real EXRs), then the job."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fakes_resolve import FakeTimelineItem
from resolve_setup import CLIP_FRAMES, LEFT, RECORD, edit, request

from void_vfx.hosts.resolve_app import RenderFailed, ResolveError
from void_vfx.hosts.resolve_remove import RemoveSession

pytest_plugins = ["resolve_fixtures"]


def _movie(shot, path) -> list[np.ndarray]:
    """The plate as an 8-bit lossless movie; returns its frames as float, decoded back."""
    import av
    import OpenImageIO as oiio

    with av.open(str(path), "w") as box:
        stream = box.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "rgb24"
        for frame in shot.paths("plate"):
            rgb = oiio.ImageBuf(frame).get_pixels(oiio.FLOAT)[..., :3]
            pixels = (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255).round().astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24") / 255.0 for f in box.decode(video=0)]


def _movie_edit(shot, tmp_path):
    resolve, project, timeline, clip = edit(shot)
    movie = tmp_path / "plate.mov"
    frames = _movie(shot, movie)
    (media,) = project.media_pool.ImportMedia([str(movie)])
    timeline.tracks[0].remove(clip)
    timeline.place(1, FakeTimelineItem(media, RECORD, CLIP_FRAMES, LEFT, name="plate.mov"))
    # A matte rendered out of Resolve for this clip: 13 frames, numbered from 1003.
    matte = tmp_path / "matte"
    matte.mkdir()
    for f in range(1003, 1016):
        shutil.copy(shot.primary.replace("####", str(f)), matte / f"clip_matte.{f}.exr")
    return resolve, project, timeline, frames, str(matte / "clip_matte.####.exr")


def test_movie_goes_through_the_render_queue(shot, server, tmp_path):
    import OpenImageIO as oiio

    resolve, project, timeline, frames, matte = _movie_edit(shot, tmp_path)
    queue = project.render
    settings_before, enabled_before = queue.state(), list(timeline.enabled)
    before = timeline.snapshot()
    placed = RemoveSession(resolve, request(shot, server, tmp_path / "out", matte=matte)).run(
        poll_s=0.02
    )
    # The rendered plate: 13 EXRs renumbered 1003-1015, holding the movie's frames 2-14.
    (render_dir,) = (tmp_path / "out" / "render").iterdir()
    names = sorted(p.name for p in render_dir.iterdir())
    assert names == [f"plate.{f}.exr" for f in range(1003, 1016)]
    first = oiio.ImageBuf(str(render_dir / "plate.1003.exr")).get_pixels(oiio.FLOAT)
    np.testing.assert_allclose(first[..., :3], frames[LEFT], atol=1e-3)
    # The queue is as it was: no job left, no preset left, settings, format, mode, tracks back.
    assert queue.GetRenderJobList() == [] and queue.GetRenderPresetList() == []
    assert queue.state() == settings_before and timeline.enabled[:2] == enabled_before
    # The result is on a new track above, 13 frames at the clip's record frame.
    assert placed.track == 3
    new = timeline.tracks[2][0]
    assert (new.GetStart(), new.GetDuration()) == (RECORD, CLIP_FRAMES)
    assert (new.media.first, new.media.last) == (1003, 1015)
    result = tmp_path / "out" / "plate_void_v001"
    assert sorted(p.name for p in result.glob("*.exr")) == [
        f"plate_void_v001.{f}.exr" for f in range(1003, 1016)
    ]
    assert {k: v for k, v in timeline.snapshot().items() if k != new.uid} == before


def test_failed_render_restores_the_project(shot, server, tmp_path):
    resolve, project, timeline, frames, matte = _movie_edit(shot, tmp_path)
    queue = project.render
    settings_before, enabled_before = queue.state(), list(timeline.enabled)
    queue.fail_next = "disk full on /renders"
    with pytest.raises(RenderFailed, match="render of clip 'plate.mov' failed: see the Deliver"):
        RemoveSession(resolve, request(shot, server, tmp_path / "out", matte=matte)).run(0.02)
    assert queue.GetRenderJobList() == [] and queue.GetRenderPresetList() == []
    assert queue.state() == settings_before and timeline.enabled == enabled_before
    assert timeline.GetTrackCount("video") == 2
    assert not (tmp_path / "out" / "render").exists()  # no empty or half-rendered folder left


def _deliver_left_elsewhere(queue) -> None:
    """A Deliver page a user left at other settings, with data burn-in on."""
    queue.SetRenderSettings(
        {
            "FormatWidth": 512,
            "FormatHeight": 288,
            "FrameRate": 30.0,
            "ColorSpaceTag": "Rec.709",
            "GammaTag": "Gamma 2.4",
        }
    )
    queue.burn_in = True


def test_render_pins_what_the_job_needs_and_puts_the_deliver_page_back(shot, server, tmp_path):
    import OpenImageIO as oiio

    resolve, project, timeline, clip = edit(shot, version="21.0")
    queue = project.render
    _deliver_left_elsewhere(queue)
    queue.subfolder = "plate"  # Resolve writes the sequence one folder down
    timeline.SetTrackEnable("video", 1, False)  # the clip's own track is off
    deliver, enabled, before = queue.state(), list(timeline.enabled), timeline.snapshot()
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out", render=True))
    session.run(poll_s=0.02)
    # What the render job was given: the timeline's 96x64 at 24 fps, tags and burn-in pinned.
    (settings,) = queue.jobs_seen.values()
    assert (settings["FormatWidth"], settings["FormatHeight"], settings["FrameRate"]) == (
        96,
        64,
        24.0,
    )
    assert (settings["ColorSpaceTag"], settings["GammaTag"]) == ("Same as Project",) * 2
    assert settings["DataBurnIn"] == "None" and settings["ExportAudio"] is False
    (render_dir,) = (tmp_path / "out" / "render").iterdir()
    assert sorted(p.name for p in render_dir.iterdir()) == [
        f"plate.{f}.exr" for f in range(1003, 1016)
    ]
    got = oiio.ImageBuf(str(render_dir / "plate.1003.exr")).get_pixels(oiio.FLOAT)[..., :3]
    want = oiio.ImageBuf(shot.plate.replace("####", "1003")).get_pixels(oiio.FLOAT)[..., :3]
    np.testing.assert_allclose(got, want, atol=2e-3)  # the plate, not black, no burnt window
    # The Deliver page, the queue and the tracks are as the user left them.
    assert queue.state() == deliver and queue.GetRenderPresetList() == []
    assert queue.GetRenderJobList() == [] and timeline.enabled[:2] == enabled
    assert getattr(queue, "stopped_by_call", 0) == 0
    new = timeline.tracks[2][0]
    assert (new.GetStart(), new.GetDuration()) == (RECORD, CLIP_FRAMES)
    assert {k: v for k, v in timeline.snapshot().items() if k != new.uid} == before


def test_render_on_the_19_0_beta_says_what_it_could_not_put_back(shot, server, tmp_path):
    resolve, project, timeline, clip = edit(shot, version="19.0b")
    queue = project.render
    mode_format = queue.state()[:2]
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out", render=True))
    placed = session.run(poll_s=0.02)
    assert placed.track == 3 and queue.GetRenderPresetList() == []
    assert queue.state()[:2] == mode_format  # format, codec and mode are put back explicitly
    assert "cannot delete a render preset" in session.message
    assert "cannot turn data burn-in off" in session.message


def test_a_failing_step_puts_back_every_other(shot, tmp_path, monkeypatch):
    from fakes_resolve import render as fake_render

    from void_vfx.hosts.resolve_render import ClipRender
    from void_vfx.hosts.resolve_source import read_source

    resolve, project, timeline, clip = edit(shot, version="21.0")
    queue = project.render
    deliver, enabled = queue.state(), list(timeline.enabled)
    src = read_source(clip, timeline, 1)
    # The free Resolve offers no EXR: the failure comes after tracks and presets were touched.
    monkeypatch.setattr(fake_render, "FORMATS", {"QuickTime": "mov"})
    render = ClipRender(project, timeline, src, str(tmp_path / "r1"), "plate", 1003)
    with pytest.raises(RenderFailed) as info:
        render.start()
    assert "offers no EXR render format" in str(info.value) and "\n" not in str(info.value)
    assert queue.state() == deliver and timeline.enabled == enabled
    assert queue.GetRenderPresetList() == [] and queue.GetRenderJobList() == []
    monkeypatch.undo()
    # A restore step that fails (the user deleted the preset meanwhile) leaves the others done.
    render = ClipRender(project, timeline, src, str(tmp_path / "r2"), "plate", 1003)
    render.start()
    queue.presets.clear()
    while not render.poll():
        pass
    left = render.close()
    assert [n.split(" (")[0] for n in left] == [
        "could not put back the Deliver page's settings",
        f"could not delete render preset {left[1].split('preset ')[1].split(' ')[0]}",
    ]
    assert queue.state()[:2] == deliver[:2] and timeline.enabled == enabled


def test_an_exception_from_resolve_ends_in_one_line_with_the_project_put_back(
    shot, server, tmp_path
):
    resolve, project, timeline, clip = edit(shot, version="21.0")
    queue = project.render
    deliver, enabled = queue.state(), list(timeline.enabled)

    def broken(job):
        raise RuntimeError("lost connection to Resolve")

    queue.GetRenderJobStatus = broken
    session = RemoveSession(resolve, request(shot, server, tmp_path / "out", render=True))
    with pytest.raises(Exception) as info:
        session.run(poll_s=0.02)
    text = str(info.value)
    assert isinstance(info.value, ResolveError) and "\n" not in text
    assert text.startswith("unexpected RuntimeError from Resolve: lost connection to Resolve")
    assert queue.state() == deliver and timeline.enabled == enabled
    assert queue.GetRenderPresetList() == [] and timeline.GetTrackCount("video") == 2
    assert not (tmp_path / "out" / "render").exists()
    assert not queue.IsRenderingInProgress()


def test_the_users_own_render_is_left_alone(shot, tmp_path):
    from void_vfx.hosts.resolve_render import ClipRender
    from void_vfx.hosts.resolve_source import read_source

    resolve, project, timeline, clip = edit(shot, version="21.0")
    queue = project.render
    (tmp_path / "user").mkdir()
    queue.SetCurrentRenderFormatAndCodec("exr", "RGBHalfZIP")
    queue.SetCurrentRenderMode(1)
    queue.SetRenderSettings(
        {
            "SelectAllFrames": False,
            "MarkIn": 86400,
            "MarkOut": 86422,
            "TargetDir": str(tmp_path / "user"),
            "CustomName": "user",
        }
    )
    user_job = queue.AddRenderJob()
    assert queue.StartRendering([user_job])
    render = ClipRender(
        project, timeline, read_source(clip, timeline, 1), str(tmp_path / "r"), "plate", 1003
    )
    with pytest.raises(RenderFailed, match="Resolve is rendering other jobs"):
        render.start()
    queue._thread.join()
    assert queue.GetRenderJobStatus(user_job)["JobStatus"] == "Complete"
    assert (
        getattr(queue, "stopped_by_call", 0) == 0 and len(list((tmp_path / "user").iterdir())) == 23
    )
    assert not (tmp_path / "r").exists()
