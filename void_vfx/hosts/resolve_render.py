"""The render path: Resolve renders the clip as it plays to an EXR sequence, through its queue.

For movie sources, titles, compound, multicam and nested clips, and clips whose retime,
transform or effects the files on disk do not carry. What the job depends on is pinned, as
ynput/ayon-resolve's ``api/rendering.py`` pins the range and frame rate: EXR, single-clip mode,
the clip's record range, the timeline's resolution and frame rate, colour space and gamma tags
"Same as Project", audio off, data burn-in off where the version has the key ("DataBurnIn", 21.x
README). The Deliver page is put back afterwards: its settings are saved in a temporary render
preset (the API has setters but no getter for them) and loaded back, then the preset deleted
(``DeleteRenderPreset``, absent from the 19.0 beta: there the settings cannot be put back and the
message says so); format, codec, render mode and every track's enabled state are read and put
back explicitly, each step on its own so that one failing step leaves none of the others undone.
Only the other video tracks are disabled; the clip's own track is enabled if it was not. Each
call is short: :class:`ClipRender` is polled, so a dialog's event loop keeps running. Standard
library only.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from void_vfx.hosts.resolve_app import RenderFailed, ResolveError, Undo, call, has_call
from void_vfx.hosts.resolve_source import SourceRange, parse_fps

FINISHED_OK = ("Complete",)
FINISHED_BAD = ("Failed", "Cancelled")
TAG_SAME = "Same as Project"  # ColorSpaceTag/GammaTag value (Blackmagic's README example)


def choose_exr(project: Any) -> tuple[str, str]:
    """(format, codec) for EXR, preferring half float with ZIP compression."""
    formats = call(project, "GetRenderFormats", fix="open the Deliver page once and retry")
    fmt = next((v for k, v in formats.items() if "exr" in f"{k} {v}".lower()), None)
    if fmt is None:
        raise RenderFailed(
            f"this Resolve offers no EXR render format (formats: {', '.join(formats)}); "
            "EXR rendering needs Resolve Studio or a newer Resolve"
        )
    codecs = call(project, "GetRenderCodecs", fmt, fix="choose EXR on the Deliver page once")

    def rank(item: tuple[str, str]) -> tuple[int, str]:
        text = " ".join(item).lower()
        return (-("half" in text) - ("zip" in text), item[1])

    return fmt, sorted(codecs.items(), key=rank)[0][1]


def pinned_settings(project: Any, timeline: Any, src: SourceRange) -> dict:
    """The settings the job depends on, from the timeline (not from the Deliver page)."""
    out = {
        "ExportVideo": True,
        "ExportAudio": False,
        "ColorSpaceTag": TAG_SAME,
        "GammaTag": TAG_SAME,
    }
    for key, setting in (
        ("FormatWidth", "timelineResolutionWidth"),
        ("FormatHeight", "timelineResolutionHeight"),
    ):
        value = timeline.GetSetting(setting) or project.GetSetting(setting)
        try:
            out[key] = int(str(value).strip())
        except ValueError:
            raise RenderFailed(
                f"the timeline's {setting} reads {value!r}; check Project Settings > Master "
                "Settings > Timeline resolution"
            ) from None
    rate = timeline.GetSetting("timelineFrameRate") or project.GetSetting("timelineFrameRate")
    out["FrameRate"] = round(float(parse_fps(rate)), 3)  # "FrameRate": float, e.g. 23.976
    return out


class ClipRender:
    """One clip rendered to ``target_dir`` as ``name.<frame>.exr``, frames from ``first``."""

    def __init__(
        self, project: Any, timeline: Any, src: SourceRange, target_dir: str, name: str, first: int
    ) -> None:
        self.project, self.timeline, self.src = project, timeline, src
        self.target_dir, self.name, self.first = target_dir, name, first
        self.job_id = ""
        self.percent = 0
        #: What could not be pinned or put back, for the final message.
        self.notes: list[str] = []
        self._undo = Undo()
        self._timeout = 0.0

    def start(self, timeout_s: float = 3600.0) -> None:
        """Pin the settings over the clip's record range and start the job; on any failure
        put back what was changed and raise :class:`RenderFailed`."""
        p = self.project
        if p.IsRenderingInProgress():
            raise RenderFailed(
                "Resolve is rendering other jobs; let the Deliver page's queue finish (or stop "
                "it) and run again"
            )
        os.makedirs(self.target_dir, exist_ok=False)  # a fresh folder: nothing else lands in it
        try:
            self._pin()
            self.job_id = call(p, "AddRenderJob", fix="check the Deliver page's render queue")
            job = self.job_id
            self._undo.add(f"delete render job {job}", lambda: p.DeleteRenderJob(job))
            call(p, "StartRendering", [job], False, fix="see the Deliver page's queue")
        except Exception as exc:  # noqa: BLE001 - every failure is put back and reported
            left = self.close()
            why = str(exc) if isinstance(exc, ResolveError) else f"{type(exc).__name__}: {exc}"
            raise RenderFailed(
                f"render of clip {self.src.name!r} could not start: {why}"
                + (f" ({'; '.join(left)})" if left else "")
            ) from None
        self._timeout = time.monotonic() + timeout_s

    def _pin(self) -> None:
        p, tl, undo = self.project, self.timeline, self._undo
        fmt = call(p, "GetCurrentRenderFormatAndCodec", fix="open the Deliver page once")
        mode = p.GetCurrentRenderMode()
        # Registered in this order, undone in the reverse: the preset's settings come back
        # first, then format, codec and mode explicitly.
        undo.add(
            "put back the render format and codec",
            lambda: p.SetCurrentRenderFormatAndCodec(fmt["format"], fmt["codec"]),
        )
        if mode is not None:
            undo.add("put back the render mode", lambda: p.SetCurrentRenderMode(mode))
        if has_call(p, "DeleteRenderPreset"):
            preset = "void-vfx-restore-" + secrets.token_hex(4)
            call(p, "SaveAsNewRenderPreset", preset, fix="check the project is not read-only")
            undo.add(
                f"delete render preset {preset} (delete it on the Deliver page)",
                lambda: p.DeleteRenderPreset(preset),
            )
            undo.add("put back the Deliver page's settings", lambda: p.LoadRenderPreset(preset))
        else:
            self.notes.append(
                "this Resolve cannot delete a render preset, so the Deliver page's range, "
                "folder, name, resolution and frame rate stay as the render set them"
            )
        count = int(call(tl, "GetTrackCount", "video", fix="open the timeline again"))
        for track in range(1, count + 1):
            want = track == self.src.track
            was = tl.GetIsTrackEnabled("video", track)
            if was is None or bool(was) == want:
                continue
            undo.add(
                f"put back track V{track} {'enabled' if was else 'disabled'}",
                lambda t=track, w=bool(was): tl.SetTrackEnable("video", t, w),
            )
            call(tl, "SetTrackEnable", "video", track, want, fix="unlock the video tracks")
        exr, codec = choose_exr(p)
        call(p, "SetCurrentRenderFormatAndCodec", exr, codec, fix="choose EXR on Deliver")
        call(p, "SetCurrentRenderMode", 1, fix="set the render mode to Single clip on Deliver")
        settings = {
            "SelectAllFrames": False,
            "MarkIn": self.src.record_start,
            "MarkOut": self.src.record_end - 1,  # GetEnd() is exclusive, MarkOut inclusive
            "TargetDir": self.target_dir,
            "CustomName": self.name,
            **pinned_settings(p, tl, self.src),
        }
        call(p, "SetRenderSettings", settings, fix="check the Deliver page's settings")
        # "DataBurnIn" arrived with the 21.x README; older versions answer False for the key.
        if not p.SetRenderSettings({"DataBurnIn": "None"}):
            self.notes.append(
                "this Resolve cannot turn data burn-in off from a script: check Workspace > "
                "Data Burn-In is off for this project"
            )

    def poll(self) -> bool:
        """True when the frames are rendered; raises RenderFailed on a failed job."""
        status = call(
            self.project, "GetRenderJobStatus", self.job_id, fix="see the Deliver page's queue"
        )
        state = str(status.get("JobStatus", ""))
        self.percent = int(status.get("CompletionPercentage", 0) or 0)
        if state in FINISHED_BAD:
            raise RenderFailed(
                f"render of clip {self.src.name!r} {state.lower()}: "
                f"{status.get('Error', 'see the Deliver page')}"
            )
        if state in FINISHED_OK:
            return True
        if time.monotonic() > self._timeout:
            self._stop_ours()
            raise RenderFailed(f"render of clip {self.src.name!r} timed out at {self.percent}%")
        return False

    def _stop_ours(self) -> None:
        """StopRendering stops every render (README): call it only while ours is the one.

        When our job's status cannot be read, a render in progress is taken to be ours (none
        was running when ours started)."""
        if not self.job_id:
            return
        try:
            status = self.project.GetRenderJobStatus(self.job_id) or {}
            ours = str(status.get("JobStatus", "")) == "Rendering"
        except Exception:  # noqa: BLE001 - unknown: decide by the queue
            ours = bool(self.project.IsRenderingInProgress())
        if ours:
            self.project.StopRendering()

    def frames(self) -> str:
        """Rename the rendered files ``name.<frame>.exr`` from ``first``; return the pattern.

        Resolve may write a sequence into a sub-folder of the target (ayon-resolve's rendering
        collects "Nested: target_render_directory/**/*.<ext>"): every EXR under it is taken.
        """
        found = []
        for folder, _dirs, files in os.walk(self.target_dir):
            found += [os.path.join(folder, f) for f in files if f.lower().endswith(".exr")]
        found.sort(key=lambda path: (os.path.basename(path), path))
        if len(found) != self.src.duration:
            raise RenderFailed(
                f"render of clip {self.src.name!r} wrote {len(found)} EXR files into "
                f"{self.target_dir}, expected {self.src.duration}; check the Deliver page"
            )
        for offset, path in enumerate(found):
            os.replace(
                path, os.path.join(self.target_dir, f"{self.name}.{self.first + offset:04d}.exr")
            )
        for folder, _dirs, _files in sorted(os.walk(self.target_dir), reverse=True):
            if folder != self.target_dir:
                try:
                    os.rmdir(folder)
                except OSError:
                    pass  # not ours to empty
        return os.path.join(self.target_dir, f"{self.name}.####.exr")

    def close(self) -> list[str]:
        """Stop our job if it runs, delete it, put everything back. Never raises; returns what
        could not be put back (also kept in ``notes``). Safe to call twice."""
        try:
            self._stop_ours()
        except Exception:  # noqa: BLE001 - the rest must still be put back
            pass
        self.job_id = ""
        left = [f"could not {what}" for what in self._undo.run()]
        self.notes += left
        return left

    def discard(self) -> list[str]:
        """After a failure: put back, remove the render folder (ours alone), its parent if empty."""
        import shutil

        left = self.close()
        shutil.rmtree(self.target_dir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(self.target_dir))
        except OSError:
            pass  # other renders are kept there
        return left
