"""Resolve, project manager, project, media pool, folders, media pool items, timeline, items."""

from __future__ import annotations

import os
import re
from typing import Any

from fakes_resolve import versions
from fakes_resolve.base import ResolveObject, need, new_id
from fakes_resolve.render import RenderQueue

CLIP_COLOURS = (
    "Orange",
    "Apricot",
    "Yellow",
    "Lime",
    "Olive",
    "Green",
    "Teal",
    "Navy",
    "Blue",
    "Purple",
    "Violet",
    "Pink",
    "Tan",
    "Beige",
    "Brown",
    "Chocolate",
)
MARKER_COLOURS = (
    "Blue",
    "Cyan",
    "Green",
    "Yellow",
    "Red",
    "Pink",
    "Purple",
    "Fuchsia",
    "Rose",
    "Lavender",
    "Sky",
    "Mint",
    "Lemon",
    "Sand",
    "Cocoa",
    "Cream",
)
CLIP_INFO_KEYS = {
    "mediaPoolItem",
    "startFrame",
    "endFrame",
    "mediaType",
    "trackIndex",
    "recordFrame",
}
IMPORT_KEYS = {"FilePath", "StartIndex", "EndIndex"}


class FakeMediaPoolItem(ResolveObject):
    """An EXR sequence (``pattern`` printf, first..last) or a movie file (frames from 0).

    ``clip_type`` "Compound", "Multicam" or "Timeline" plays an item with no file of its own:
    its "File Path" reads "" (MCP api-limitations.md: a nested timeline's item has clip property
    Type='Timeline', a compound 'Compound'); the fake still renders ``path``'s pixels for it.
    """

    KIND = "MediaPoolItem"

    def __init__(
        self, path: str, first: int, last: int, fps: str, movie: bool = False, clip_type: str = ""
    ) -> None:
        self.path, self.first, self.last, self.fps, self.movie = path, first, last, fps, movie
        self.clip_type = clip_type
        self.uid = new_id()
        self._frames: list | None = None
        # Colour clip properties (real scripts read them by these names: GetClipProperty(
        # "Input Color Space") and "Input Gamma"; "Project" means the project's input space).
        self.input_colour, self.input_gamma = "Project", ""

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    def GetName(self) -> str:
        return os.path.basename(self.GetClipProperty("File Path"))

    def GetUniqueId(self) -> str:
        return self.uid

    def GetClipProperty(self, key: str | None = None) -> Any:
        if self.movie:
            file_path = self.path
        else:  # Resolve prints sequences as name.[1001-1100].exr
            m = re.search(r"%0?(\d*)d", self.path)
            pad = int(m.group(1) or 1)
            file_path = (
                self.path[: m.start()]
                + f"[{self.first:0{pad}d}-{self.last:0{pad}d}]"
                + self.path[m.end() :]
            )
        props = {
            "File Path": file_path,
            "File Name": os.path.basename(file_path),
            "FPS": self.fps,
            "Frames": str(self.frames),
            "Start": str(0 if self.movie else self.first),
            "End": str(self.frames - 1 if self.movie else self.last),
            "Type": "Video" if self.movie else "Still",
            "Input Color Space": self.input_colour,
            "Input Gamma": self.input_gamma,
        }
        if self.clip_type:
            props.update({"File Path": "", "File Name": "", "Type": self.clip_type})
        return props if key is None else props.get(key, "")

    # -- for the fake's renderer --
    def pixels(self, media_index: int):
        """Float RGB pixels of the media frame ``media_index`` (0 = the media's first frame)."""
        import numpy as np

        if self.movie:
            if self._frames is None:
                import av

                with av.open(self.path) as box:
                    self._frames = [
                        f.to_ndarray(format="rgb24").astype(np.float32) / 255.0
                        for f in box.decode(video=0)
                    ]
            return self._frames[media_index]
        import OpenImageIO as oiio

        buf = oiio.ImageBuf(self.path % (self.first + media_index))
        return buf.get_pixels(oiio.FLOAT)[..., :3]


class FakeFolder(ResolveObject):
    KIND = "Folder"

    def __init__(self, name: str) -> None:
        self.name = name
        self.clips: list[FakeMediaPoolItem] = []
        self.subfolders: list[FakeFolder] = []

    def GetName(self) -> str:
        return self.name

    def GetClipList(self) -> list:
        return list(self.clips)

    def GetSubFolderList(self) -> list:
        return list(self.subfolders)


class FakeTimelineItem(ResolveObject):
    KIND = "TimelineItem"

    def __init__(
        self,
        media: FakeMediaPoolItem | None,
        start: int,
        duration: int,
        left_offset: int = 0,
        name: str = "",
        speed: float = 1.0,
        properties: dict | None = None,
        fusion_comps: int = 0,
    ) -> None:
        self.media, self.start, self.duration, self.left = media, start, duration, left_offset
        self.name = name or (media.GetName() if media else "Solid Color")
        self.speed, self.fusion_comps = speed, fusion_comps
        self.properties = {
            "Pan": 0.0,
            "Tilt": 0.0,
            "ZoomX": 1.0,
            "ZoomY": 1.0,
            "RotationAngle": 0.0,
            "Pitch": 0.0,
            "Yaw": 0.0,
            "FlipX": False,
            "FlipY": False,
            "CropLeft": 0.0,
            "CropRight": 0.0,
            "CropTop": 0.0,
            "CropBottom": 0.0,
            "Opacity": 100.0,
        }
        self.properties.update(properties or {})
        self.markers: dict[int, dict] = {}
        self.colour = ""
        self.takes: list[dict] = []
        self.selected_take = 0
        self.track = 0
        self.uid = new_id()

    def snapshot(self) -> tuple:
        """Everything a user can see of the item, for before/after comparisons."""
        return (
            self.track,
            self.name,
            self.start,
            self.duration,
            self.left,
            self.speed,
            self.media.path if self.media else None,
            self.colour,
            tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.markers.items())),
            tuple(t["mediaPoolItem"].path for t in self.takes),
            self.selected_take,
            tuple(sorted(self.properties.items())),
        )

    def GetName(self) -> str:
        return self.name

    def GetStart(self) -> int:
        return self.start

    def GetEnd(self) -> int:
        return self.start + self.duration  # exclusive

    def GetDuration(self) -> int:
        if self.selected_take > 1:  # the README is silent; the fake shows the take's own length
            take = self.takes[self.selected_take - 1]
            return versions.EMU.length(take["startFrame"], take["endFrame"])
        return self.duration

    def GetLeftOffset(self) -> int:
        return self.left

    def GetRightOffset(self) -> int:
        # MCP api-limitations.md (retime entry): the offsets read the warped domain, "position /
        # speed", so left + duration + right is the media's length only at 100%.
        return (
            (round(self.media.frames / self.speed) - self.left - self.duration) if self.media else 0
        )

    def GetSourceStartFrame(self) -> int:
        return (self.media.first if self.media else 0) + self.left

    def GetSourceEndFrame(self) -> int:
        # MCP (19.1.3.7): exclusive at equal rates, inclusive when they differ; README silent.
        used = round(self.duration * self.speed)
        return self.GetSourceStartFrame() + used - (versions.EMU.source_end == "inclusive")

    def GetMediaPoolItem(self):
        return self.media

    def GetProperty(self, key: str | None = None):
        return dict(self.properties) if key is None else self.properties.get(key)

    def GetFusionCompCount(self) -> int:
        return self.fusion_comps

    def GetTrackTypeAndIndex(self) -> list:
        return ["video", self.track]

    def GetUniqueId(self) -> str:
        return self.uid

    def SetClipColor(self, colour: str) -> bool:
        if colour not in CLIP_COLOURS:
            return False
        self.colour = colour
        return True

    def GetClipColor(self) -> str:
        return self.colour

    def GetMarkers(self) -> dict:
        return {k: dict(v) for k, v in self.markers.items()}

    def AddMarker(self, frame, colour, name, note, duration, custom_data="") -> bool:
        need(int, frame, "frameId")
        need(int, duration, "duration")
        if colour not in MARKER_COLOURS or frame in self.markers:
            return False
        if not 0 <= frame < self.duration or duration < 1:
            return False
        self.markers[frame] = {
            "color": colour,
            "duration": duration,
            "note": note,
            "name": name,
            "customData": custom_data,
        }
        return True

    def AddTake(self, media, start_frame=None, end_frame=None) -> bool:
        # BMD-20.3.2: "By default, the full clip extents is added"; the end follows the same
        # convention as AppendToTimeline's (versions.EMU.end). A take of another length is taken
        # as given (the README is silent): the fake shows its length when selected.
        if not isinstance(media, FakeMediaPoolItem):
            return False
        inclusive = versions.EMU.end == "inclusive"
        s = 0 if start_frame is None else need(int, start_frame, "startFrame")
        e = (media.frames - inclusive) if end_frame is None else need(int, end_frame, "endFrame")
        if not 0 <= s < e + inclusive <= media.frames:
            return False
        if not self.takes:  # the item's own media becomes take 1
            self.takes.append(
                {
                    "mediaPoolItem": self.media,
                    "startFrame": self.left,
                    "endFrame": self.left + self.duration - inclusive,
                }
            )
            self.selected_take = 1
        self.takes.append({"mediaPoolItem": media, "startFrame": s, "endFrame": e})
        return True

    def GetTakeByIndex(self, index: int):
        # BMD-19.0b: 'a dict (keys "startFrame", "endFrame" and "mediaPoolItem")', as sent.
        need(int, index, "idx")
        return dict(self.takes[index - 1]) if 1 <= index <= len(self.takes) else None

    def DeleteTakeByIndex(self, index: int) -> bool:
        need(int, index, "idx")
        if not 1 <= index <= len(self.takes) or index == self.selected_take:
            return False  # the fake, strictest reading: the selected take cannot go
        del self.takes[index - 1]
        if self.selected_take > index:
            self.selected_take -= 1
        return True

    def FinalizeTake(self) -> bool:
        """BMD-18.0.4: "Finalizes take selection": the selected take becomes the item."""
        if not self.takes:
            return False
        take = self.takes[self.selected_take - 1]
        self.media, self.left = take["mediaPoolItem"], take["startFrame"]
        self.takes, self.selected_take = [], 0
        return True

    def GetTakesCount(self) -> int:
        return len(self.takes)

    def GetSelectedTakeIndex(self) -> int:
        return self.selected_take

    def SelectTakeByIndex(self, index: int) -> bool:
        need(int, index, "takeIndex")
        if not 1 <= index <= len(self.takes):  # 1-based
            return False
        self.selected_take = index
        return True


class FakeDeadItem(ResolveObject):
    """What a failed AppendToTimeline can return (AYR ``api/lib.py`` create_timeline_item): an
    item whose calls all answer None."""

    KIND = "TimelineItem"

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: None


class FakeTimeline(ResolveObject):
    KIND = "Timeline"

    def __init__(
        self,
        name: str,
        fps: str = "24",
        start_frame: int = 86400,
        tracks: int = 1,
        size: tuple = (96, 64),
    ) -> None:
        self.name, self.fps, self.start_frame, self.size = name, fps, start_frame, size
        self.selected: list = []
        self.tracks: list[list[FakeTimelineItem]] = [[] for _ in range(tracks)]
        self.track_names = [f"Video {i + 1}" for i in range(tracks)]
        self.enabled = [True] * tracks
        self.playhead = start_frame
        self.uid = new_id()

    def place(self, track: int, item: FakeTimelineItem) -> FakeTimelineItem:
        """Test set-up: put an item on a 1-based track (no overlap allowed)."""
        if self._overlaps(track, item.start, item.start + item.duration):
            raise ValueError("fake set-up: items overlap")
        item.track = track
        self.tracks[track - 1].append(item)
        self.tracks[track - 1].sort(key=lambda i: i.start)
        return item

    def snapshot(self) -> dict:
        return {i.uid: i.snapshot() for t in self.tracks for i in t}

    def _overlaps(self, track: int, start: int, end: int) -> bool:
        return any(i.start < end and start < i.start + i.duration for i in self.tracks[track - 1])

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.uid

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetEndFrame(self) -> int:
        ends = [i.GetEnd() for t in self.tracks for i in t]
        return max(ends, default=self.start_frame)

    def GetSetting(self, name: str = "") -> Any:
        # BMD-20.3.2 settings notes: "timelineFrameRate" may read "29.97 DF" (drop frame);
        # AYR api/lib.py reads "timelineResolutionWidth"/"Height" as strings.
        settings = {
            "timelineFrameRate": self.fps,
            "timelineResolutionWidth": str(self.size[0]),
            "timelineResolutionHeight": str(self.size[1]),
        }
        return settings if not name else settings.get(name, "")

    def GetSelectedClips(self) -> list:
        return list(self.selected)  # BMD-21: "Returns the currently selected timeline items."

    def DeleteTrack(self, kind: str, index: int) -> bool:
        # BMD-19.0b: "Deletes track of trackType ... and given trackIndex"; its items go with it
        # and the tracks above move down one.
        if not self._valid(kind, index):
            return False
        for item in self.tracks[index - 1]:
            item.track = 0
        del self.tracks[index - 1], self.track_names[index - 1], self.enabled[index - 1]
        for track, items in enumerate(self.tracks, 1):
            for item in items:
                item.track = track
        return True

    def GetTrackCount(self, kind: str) -> int:
        return len(self.tracks) if kind == "video" else 0

    def AddTrack(self, kind: str, sub_type: Any = None) -> bool:
        if kind != "video" or sub_type is not None:
            return False
        self.tracks.append([])
        self.track_names.append(f"Video {len(self.tracks)}")
        self.enabled.append(True)
        return True

    def _valid(self, kind: str, index: int) -> bool:
        need(int, index, "trackIndex")
        return kind == "video" and 1 <= index <= len(self.tracks)

    def GetTrackName(self, kind: str, index: int):
        return self.track_names[index - 1] if self._valid(kind, index) else None

    def SetTrackName(self, kind: str, index: int, name: str) -> bool:
        if not self._valid(kind, index):
            return False
        self.track_names[index - 1] = need(str, name, "name")
        return True

    def GetIsTrackEnabled(self, kind: str, index: int):
        return self.enabled[index - 1] if self._valid(kind, index) else None

    def SetTrackEnable(self, kind: str, index: int, enabled: bool) -> bool:
        if not self._valid(kind, index):
            return False
        self.enabled[index - 1] = need(bool, enabled, "enabled")
        return True

    def GetItemListInTrack(self, kind: str, index: int):
        return list(self.tracks[index - 1]) if self._valid(kind, index) else None

    def GetCurrentVideoItem(self):
        for track in range(len(self.tracks), 0, -1):
            for item in self.tracks[track - 1]:
                if item.start <= self.playhead < item.GetEnd():
                    return item
        return None

    def DeleteClips(self, items: list, ripple: bool = False) -> bool:
        # MCP api-limitations.md "Timeline.DeleteClips (requires the Edit page)": False on the
        # Fairlight page, measured on 21.0; the fake refuses on every page but Edit.
        if ripple is not False or not items or versions.EMU.page != "edit":
            return False
        for item in items:
            track = self.tracks[item.track - 1] if isinstance(item, FakeTimelineItem) else []
            if item not in track:
                return False
            track.remove(item)
        return True


class FakeMediaPool(ResolveObject):
    KIND = "MediaPool"

    def __init__(self, project: FakeProject) -> None:
        self.project = project
        self.root = FakeFolder("Master")
        self.current = self.root

    def all_items(self) -> list[FakeMediaPoolItem]:
        out, todo = [], [self.root]
        while todo:
            folder = todo.pop()
            out += folder.clips
            todo += folder.subfolders
        return out

    def GetRootFolder(self) -> FakeFolder:
        return self.root

    def GetCurrentFolder(self) -> FakeFolder:
        return self.current

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        if not isinstance(folder, FakeFolder):
            return False
        self.current = folder
        return True

    def AddSubFolder(self, parent: FakeFolder, name: str):
        if not isinstance(parent, FakeFolder) or not name:
            return None
        folder = FakeFolder(need(str, name, "name"))
        parent.subfolders.append(folder)
        return folder

    def DeleteClips(self, clips: list) -> bool:
        """BMD-20.3.2: "Deletes specified clips or timeline mattes in the media pool"."""
        for clip in need(list, clips, "clips"):
            folder = next((f for f in self._folders() if clip in f.clips), None)
            if folder is None:
                return False
            folder.clips.remove(clip)
        return True

    def DeleteFolders(self, folders: list) -> bool:
        """BMD-19.0b: "Deletes specified subfolders in the media pool"."""
        for folder in need(list, folders, "subfolders"):
            parent = next((f for f in self._folders() if folder in f.subfolders), None)
            if parent is None:
                return False
            parent.subfolders.remove(folder)
            if self.current is folder:
                self.current = self.root
        return True

    def _folders(self) -> list:
        out, todo = [], [self.root]
        while todo:
            folder = todo.pop()
            out.append(folder)
            todo += folder.subfolders
        return out

    def ImportMedia(self, items: list) -> list:
        need(list, items, "items")
        made = []
        for info in items:
            if isinstance(info, str):
                made.append(self._import_movie(info))
                continue
            unknown = set(info) - IMPORT_KEYS
            if unknown:
                raise TypeError(f"fake Resolve: ImportMedia got unknown keys {sorted(unknown)}")
            path, first, last = info["FilePath"], info["StartIndex"], info["EndIndex"]
            if not all(os.path.isfile(path % f) for f in range(first, last + 1)):
                return []  # Resolve answers an empty list when it cannot import
            fps = self.project.timeline_fps()
            made.append(FakeMediaPoolItem(path, first, last, fps))
        self.current.clips += made
        return made

    def _import_movie(self, path: str) -> FakeMediaPoolItem:
        import av

        with av.open(path) as box:
            stream = box.streams.video[0]
            count = sum(1 for _ in box.decode(video=0))
            fps = str(stream.average_rate)
        return FakeMediaPoolItem(path, 0, count - 1, fps, movie=True)

    def AppendToTimeline(self, infos: list) -> list:
        timeline = self.project.current_timeline
        out = []
        for info in need(list, infos, "clipInfos"):
            unknown = set(info) - CLIP_INFO_KEYS
            if unknown:
                raise TypeError(f"fake Resolve: clipInfo has unknown keys {sorted(unknown)}")
            # The end: inclusive or exclusive as versions.EMU says (NAKANO, MCP; README silent).
            media = info["mediaPoolItem"]
            inclusive = versions.EMU.end == "inclusive"
            s = info.get("startFrame", 0)
            e = info.get("endFrame", media.frames - inclusive)
            length = versions.EMU.length(s, e)
            track = info.get("trackIndex", 1)
            # Past the media's end: an empty list (the README is silent; the strict reading).
            if info.get("mediaType", 1) != 1 or not (0 <= s and 0 < length <= media.frames - s):
                return []
            if not 1 <= track <= len(timeline.tracks):
                return []
            record = info.get("recordFrame", timeline.GetEndFrame())
            if timeline._overlaps(track, record, record + length):
                out.append(FakeDeadItem())  # the documented pitfall: a dead item, not an error
                continue
            out.append(timeline.place(track, FakeTimelineItem(media, record, length, s)))
        return out


class FakeProject(ResolveObject):
    KIND = "Project"

    def __init__(self, name: str = "Show") -> None:
        self.name = name
        self.timelines: list[FakeTimeline] = []
        self.current_timeline: FakeTimeline | None = None
        self.media_pool = FakeMediaPool(self)
        self.render = RenderQueue(self)
        # Colour settings (Project.GetSetting keys of Blackmagic's README; values as scripts set
        # them, e.g. colorScienceMode "davinciYRGBColorManagedv2", colorSpaceInput "Rec.709",
        # colorSpaceInputGamma "Gamma 2.4"). A new project: unmanaged DaVinci YRGB, Rec.709
        # Gamma 2.4 timeline, output the same as the timeline.
        self.colour_settings = {
            "colorScienceMode": "davinciYRGB",
            "separateColorSpaceAndGamma": "0",
            "colorSpaceInput": "Rec.709 Gamma 2.4",
            "colorSpaceTimeline": "Rec.709 Gamma 2.4",
            "colorSpaceOutput": "Same as Timeline",
        }

    def timeline_fps(self) -> str:
        return self.current_timeline.fps if self.current_timeline else "24"

    def add_timeline(self, timeline: FakeTimeline) -> FakeTimeline:
        self.timelines.append(timeline)
        self.current_timeline = self.current_timeline or timeline
        return timeline

    def GetName(self) -> str:
        return self.name

    def GetMediaPool(self) -> FakeMediaPool:
        return self.media_pool

    def GetTimelineCount(self) -> int:
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int):
        need(int, index, "idx")
        return self.timelines[index - 1] if 1 <= index <= len(self.timelines) else None

    def GetCurrentTimeline(self):
        return self.current_timeline

    def SetCurrentTimeline(self, timeline) -> bool:
        if timeline not in self.timelines:
            return False
        self.current_timeline = timeline
        return True

    def GetSetting(self, name: str = "") -> Any:
        # Project settings are the current timeline's (BMD-20.3.2: a project's settings hold
        # the timeline ones) plus the colour-management keys (see colour_settings).
        timeline = self.current_timeline or FakeTimeline("none")
        settings = {**timeline.GetSetting(), **self.colour_settings}
        return settings if not name else settings.get(name, "")

    def __getattr__(self, name: str):
        # The render-queue calls of Project live in RenderQueue; anything else answers None.
        if name in RenderQueue.CALLS:
            return getattr(self.render, name)
        return ResolveObject.__getattr__(self, name)

    def __dir__(self):
        return [
            *ResolveObject.__dir__(self),
            *(n for n in RenderQueue.CALLS if versions.EMU.has("Project", n)),
        ]


class FakeProjectManager(ResolveObject):
    KIND = "ProjectManager"

    def __init__(self, project: FakeProject | None) -> None:
        self.project = project

    def GetCurrentProject(self):
        return self.project


class FakeResolve(ResolveObject):
    KIND = "Resolve"

    def __init__(self, project: FakeProject | None) -> None:
        self.manager = FakeProjectManager(project)

    def GetProjectManager(self) -> FakeProjectManager:
        return self.manager

    def GetCurrentPage(self) -> str:
        return versions.EMU.page

    def OpenPage(self, page: str) -> bool:
        # BMD-19.0b: one of "media", "cut", "edit", "fusion", "color", "fairlight", "deliver".
        if page not in ("media", "cut", "edit", "fusion", "color", "fairlight", "deliver"):
            return False
        versions.EMU.page = page
        return True

    def GetVersion(self) -> list:
        return list(versions.EMU.version)  # [major, minor, patch, build, suffix] (BMD-19.0b)

    def GetVersionString(self) -> str:
        major, minor, patch, build, suffix = versions.EMU.version
        return f"{major}.{minor}.{patch}.{build}{suffix}"

    def GetProductName(self) -> str:
        return "DaVinci Resolve Studio"


def make_resolve(
    project_name: str = "Show",
    fps: str = "24",
    tracks: int = 1,
    version: str | tuple = "20.3",
    end_frame: str | None = None,
    source_end: str = "exclusive",
):
    """A Resolve with one project and one empty timeline: (resolve, project, timeline).

    ``version``, ``end_frame`` and ``source_end`` say what it plays (fakes_resolve.versions)."""
    versions.play(version, end_frame, source_end)
    project = FakeProject(project_name)
    timeline = project.add_timeline(FakeTimeline("Edit", fps, tracks=tracks))
    return FakeResolve(project), project, timeline
