"""The render path: Resolve renders the clip as it plays to an EXR sequence, through its queue.

For movie sources and clips whose retime, transform or effects the files on disk do not carry.
The project's render settings are saved in a temporary render preset first and loaded back
afterwards (the API has setters but no getter for them), with the format, codec and render mode
read and put back explicitly; the render job is deleted; the other video tracks are disabled
while rendering, so that only the clip is in the picture, and enabled again. Each call is short:
:class:`ClipRender` is polled, so a dialog's event loop keeps running. Standard library only.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from void_vfx.hosts.resolve_app import RenderFailed, call
from void_vfx.hosts.resolve_source import SourceRange

FINISHED_OK = ("Complete",)
FINISHED_BAD = ("Failed", "Cancelled")


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


class ClipRender:
    """One clip rendered to ``target_dir`` as ``name.<frame>.exr``, frames from ``first``."""

    def __init__(
        self, project: Any, timeline: Any, src: SourceRange, target_dir: str, name: str, first: int
    ) -> None:
        self.project, self.timeline, self.src = project, timeline, src
        self.target_dir, self.name, self.first = target_dir, name, first
        self.job_id = ""
        self.percent = 0
        self._saved: dict[str, Any] = {}
        self._timeout = 0.0

    def start(self, timeout_s: float = 3600.0) -> None:
        """Save the settings, set up EXR over the clip's record range and start the job."""
        p, tl = self.project, self.timeline
        os.makedirs(self.target_dir, exist_ok=False)  # a fresh folder: nothing else lands in it
        preset = "void-vfx-restore-" + secrets.token_hex(4)
        self._saved = {
            "format": call(p, "GetCurrentRenderFormatAndCodec", fix="open the Deliver page once"),
            "mode": p.GetCurrentRenderMode(),
            "tracks": {},
        }
        call(p, "SaveAsNewRenderPreset", preset, fix="check the project is not read-only")
        self._saved["preset"] = preset
        try:
            count = int(call(tl, "GetTrackCount", "video", fix="open the timeline again"))
            for track in range(1, count + 1):
                if track == self.src.track:
                    continue
                self._saved["tracks"][track] = bool(tl.GetIsTrackEnabled("video", track))
                call(tl, "SetTrackEnable", "video", track, False, fix="unlock the video tracks")
            fmt, codec = choose_exr(p)
            call(p, "SetCurrentRenderFormatAndCodec", fmt, codec, fix="choose EXR on Deliver")
            call(p, "SetCurrentRenderMode", 1, fix="set the render mode to Single clip on Deliver")
            settings = {
                "SelectAllFrames": False,
                "MarkIn": self.src.record_start,
                "MarkOut": self.src.record_end - 1,  # GetEnd() is exclusive, MarkOut inclusive
                "TargetDir": self.target_dir,
                "CustomName": self.name,
                "ExportVideo": True,
                "ExportAudio": False,
            }
            call(p, "SetRenderSettings", settings, fix="check the Deliver page's settings")
            self.job_id = call(p, "AddRenderJob", fix="check the Deliver page's render queue")
            call(p, "StartRendering", [self.job_id], False, fix="see the Deliver page's queue")
        except BaseException:
            self.close()
            raise
        self._timeout = time.monotonic() + timeout_s

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
            self.project.StopRendering()
            raise RenderFailed(f"render of clip {self.src.name!r} timed out at {self.percent}%")
        return False

    def frames(self) -> str:
        """Rename the rendered files ``name.<frame>.exr`` from ``first``; return the pattern."""
        files = sorted(f for f in os.listdir(self.target_dir) if f.lower().endswith(".exr"))
        if len(files) != self.src.duration:
            raise RenderFailed(
                f"render of clip {self.src.name!r} wrote {len(files)} EXR files into "
                f"{self.target_dir}, expected {self.src.duration}; check the Deliver page"
            )
        for offset, name in enumerate(files):
            os.replace(
                os.path.join(self.target_dir, name),
                os.path.join(self.target_dir, f"{self.name}.{self.first + offset:04d}.exr"),
            )
        return os.path.join(self.target_dir, f"{self.name}.####.exr")

    def close(self) -> None:
        """Delete the job, put the settings and the tracks back. Safe to call twice."""
        p, saved = self.project, self._saved
        if self.job_id:
            if p.IsRenderingInProgress():
                p.StopRendering()
            p.DeleteRenderJob(self.job_id)
            self.job_id = ""
        if saved.get("preset"):
            p.LoadRenderPreset(saved["preset"])
            p.DeleteRenderPreset(saved["preset"])
        if saved.get("format"):
            p.SetCurrentRenderFormatAndCodec(saved["format"]["format"], saved["format"]["codec"])
        if saved.get("mode") is not None:
            p.SetCurrentRenderMode(saved["mode"])
        for track, enabled in saved.get("tracks", {}).items():
            self.timeline.SetTrackEnable("video", track, enabled)
        self._saved = {}

    def discard(self) -> None:
        """After a failure: remove the render folder (ours alone) and its parent if empty."""
        import shutil

        self.close()
        shutil.rmtree(self.target_dir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(self.target_dir))
        except OSError:
            pass  # other renders are kept there
