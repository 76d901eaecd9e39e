"""Shared set-up of the Resolve tests: the fake timeline every test starts from."""

from __future__ import annotations

from pathlib import Path

from fakes_resolve import FakeTimelineItem, make_resolve
from fakes_resolve.model import FakeMediaPoolItem

SIZE = (96, 64)
MEDIA_FRAMES = 16  # 1001-1016 on disk
CLIP_FRAMES = 13  # the clip shows 1003-1015 (left offset 2)
LEFT = 2
RECORD = 86410


def sequence_media(shot, fps: str = "24") -> FakeMediaPoolItem:
    pattern = shot.plate.replace("####", "%04d")
    return FakeMediaPoolItem(pattern, shot.first, shot.last, fps)


def edit(shot, version="20.3", end_frame=None, source_end="exclusive", **clip_kwargs):
    """A fake Resolve whose timeline holds: V1 an earlier clip and the plate clip (record 86410,
    13 frames from 1003), V2 a title over part of it. Returns (resolve, project, timeline, clip).
    ``version``, ``end_frame``, ``source_end``: what the fake plays (fakes_resolve.versions)."""
    resolve, project, timeline = make_resolve(
        "Show 01", tracks=2, version=version, end_frame=end_frame, source_end=source_end
    )
    media = sequence_media(shot)
    project.media_pool.root.clips.append(media)
    timeline.place(1, FakeTimelineItem(media, 86400, 10, 0, name="before"))
    clip = timeline.place(
        1, FakeTimelineItem(media, RECORD, CLIP_FRAMES, LEFT, name="plate", **clip_kwargs)
    )
    timeline.place(2, FakeTimelineItem(None, RECORD + 5, 4, 0, name="title"))
    timeline.playhead = RECORD + 1
    return resolve, project, timeline, clip


def request(shot, server, out: Path, **kwargs):
    from void_vfx.hosts.resolve_remove import RemoveRequest

    base = dict(
        matte=shot.primary,
        matte_channel="A",
        prompt="a tiled floor",
        port=server.port,
        token=server.token,
        engine="preview",
        window_min=CLIP_FRAMES,
        out_dir=str(out),
    )
    base.update(kwargs)
    return RemoveRequest(**base)
