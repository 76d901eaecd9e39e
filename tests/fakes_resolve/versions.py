"""Which Resolve the fake plays: the version's set of calls and the conventions sources disagree on.

Sources (each behaviour below names its own):
- BMD-18.0.4, BMD-19.0b, BMD-20.3.2: Blackmagic's scripting README of that version, verbatim in
  ynput/ayon-resolve's history (``client/ayon_resolve/RESOLVE_API_v18.0.4.txt``, dated 9 May 2022;
  ``RESOLVE_API_v19.0B-build20.txt``, 1 April 2024; ``RESOLVE_API_v20.3.2-build9.txt``, 7 Oct 2025).
- BMD-21: the 21.x README ("Last Updated: 24 Jul 2026") kept at samuelgursky/davinci-resolve-mcp
  ``docs/reference/resolve_scripting_api.txt``.
- MCP: samuelgursky/davinci-resolve-mcp ``docs/reference/api-limitations.md`` (measured on
  Studio 19.1.3.7 and 21.0.x) and its ``.claude/skills/resolve-edit/SKILL.md``.
- NAKANO: nakano000/Resolve_Script ``app/resolve/python/rs_resolve/core/__init__.py``
  (``append2timeline``: ``endFrame = duration - 1`` on 19.1, ``duration`` on every other version).
"""

from __future__ import annotations

from dataclasses import dataclass

#: (object, call) -> the first version that has it. Before it the call is absent: the attribute
#: answers None (MCP "hasattr() / getattr()": on 19.1.3.7, direct connection, getattr of a name
#: the object lacks returns None; calling it raises TypeError, as the issue saw on 19.0.0).
SINCE = {
    # Absent from BMD-18.0.4 and BMD-19.0b, listed in BMD-20.3.2; the issue reports it from the
    # 19.0 release on: absent from the 19.0 beta (build 20), present from the release.
    ("TimelineItem", "GetTrackTypeAndIndex"): (19, 0, 0, 21),
    # Absent from BMD-19.0b, listed in BMD-20.3.2; MCP measured both on 19.1.3.7; the issue dates
    # them "around 19.0.2".
    ("TimelineItem", "GetSourceStartFrame"): (19, 0, 2),
    ("TimelineItem", "GetSourceEndFrame"): (19, 0, 2),
    # Absent from BMD-18.0.4 and BMD-19.0b (SaveAsNewRenderPreset and LoadRenderPreset are
    # there), listed in BMD-20.3.2. The first version between is unknown: the fake takes 19.1.
    ("Project", "DeleteRenderPreset"): (19, 1, 0),
    # BMD-21 lists Timeline.GetSelectedClips ("Returns the currently selected timeline items");
    # MCP SKILL.md: "is 21.0.4+". MediaPool.GetSelectedClips is older (BMD-20.3.2).
    ("Timeline", "GetSelectedClips"): (21, 0, 4),
    # Absent from BMD-18.0.4, listed in BMD-19.0b.
    ("Timeline", "AddTrack"): (19, 0, 0),
    ("Timeline", "DeleteTrack"): (19, 0, 0),
    ("Timeline", "SetTrackEnable"): (19, 0, 0),
    ("Timeline", "GetIsTrackEnabled"): (19, 0, 0),
    ("Timeline", "DeleteClips"): (19, 0, 0),
}

#: SetRenderSettings keys added by a version (BMD-21 over BMD-20.3.2: "UseFullExtents",
#: "AddFrameHandles", "DataBurnIn"). An older version answers False for the whole call (the
#: README is silent; the strict reading).
SETTINGS_SINCE = {
    "UseFullExtents": (21, 0, 0),
    "AddFrameHandles": (21, 0, 0),
    "DataBurnIn": (21, 0, 0),
}
# Absent from BMD-19.0b's key list, listed in BMD-20.3.2: the fake takes 20.0.
SETTINGS_SINCE.update(
    dict.fromkeys(
        (
            "ClipStartFrame",
            "TimelineStartTimecode",
            "ReplaceExistingFilesInPlace",
            "ExportSubtitle",
            "SubtitleFormat",
        ),
        (20, 0, 0),
    )
)

#: Named versions the tests play, as GetVersion() answers them ([major, minor, patch, build,
#: suffix], BMD-19.0b "GetVersion()").
VERSIONS = {
    "19.0b": (19, 0, 0, 20, "b"),
    "19.0.0": (19, 0, 0, 21, ""),
    "19.1": (19, 1, 3, 7, ""),
    "20.3": (20, 3, 2, 9, ""),
    "21.0": (21, 0, 4, 5, ""),
}


def default_end_frame(version: tuple) -> str:
    """AppendToTimeline/AddTake ``endFrame``: "inclusive" or "exclusive" as sources say.

    NAKANO sends ``duration - 1`` (inclusive) on 19.1 only and ``duration`` (exclusive) on every
    other version; MCP measured exclusive on 21.0.4.5 ("duration = endFrame - startFrame, endFrame
    EXCLUSIVE (verified at 1, 119 and 120 frames)"). BMD READMEs say nothing.
    """
    return "inclusive" if tuple(version[:2]) == (19, 1) else "exclusive"


@dataclass
class Emulation:
    """What the fake plays. ``end_frame`` None follows the version (see default_end_frame)."""

    version: tuple = VERSIONS["20.3"]
    end_frame: str | None = None
    #: GetSourceEndFrame: MCP measured it EXCLUSIVE on 19.1.3.7 "when the source rate equals the
    #: timeline rate" and inclusive when they differ; the README is silent. Both can be played.
    source_end: str = "exclusive"
    #: The page the UI is on (Resolve.GetCurrentPage / OpenPage, BMD-19.0b).
    page: str = "edit"

    @property
    def end(self) -> str:
        return self.end_frame or default_end_frame(self.version)

    def has(self, kind: str, name: str) -> bool:
        since = SINCE.get((kind, name))
        return since is None or tuple(self.version[: len(since)]) >= since

    def has_setting(self, key: str) -> bool:
        since = SETTINGS_SINCE.get(key)
        return since is None or tuple(self.version[:3]) >= since

    def length(self, start: int, end: int) -> int:
        """Frames placed for startFrame..endFrame under this emulation's convention."""
        return end - start + (1 if self.end == "inclusive" else 0)


#: The emulation every fake object reads; ``make_resolve`` sets it afresh for each test.
EMU = Emulation()


def play(
    version: str | tuple = "20.3", end_frame: str | None = None, source_end: str = "exclusive"
) -> Emulation:
    """Make every fake object play ``version`` (a VERSIONS name or a tuple) from now on."""
    EMU.version = VERSIONS[version] if isinstance(version, str) else tuple(version)
    EMU.end_frame, EMU.source_end, EMU.page = end_frame, source_end, "edit"
    return EMU
