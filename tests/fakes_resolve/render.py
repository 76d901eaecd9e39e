"""The project's render queue: settings, presets, jobs; a job writes real EXRs on a thread."""

from __future__ import annotations

import copy
import os
import threading
import time

from fakes_resolve import versions
from fakes_resolve.base import need, new_id

SETTINGS_KEYS = {
    "SelectAllFrames": bool,
    "MarkIn": int,
    "MarkOut": int,
    "TargetDir": str,
    "CustomName": str,
    "UniqueFilenameStyle": int,
    "ExportVideo": bool,
    "ExportAudio": bool,
    "FormatWidth": int,
    "FormatHeight": int,
    "FrameRate": float,
    "PixelAspectRatio": float,
    "VideoQuality": int,
    "AudioCodec": str,
    "AudioBitDepth": int,
    "AudioSampleRate": int,
    "ColorSpaceTag": str,
    "GammaTag": str,
    "ExportAlpha": bool,
    "EncodingProfile": str,
    "MultiPassEncode": bool,
    "AlphaMode": int,
    "NetworkOptimization": bool,
    "ClipStartFrame": int,
    "TimelineStartTimecode": str,
    "ReplaceExistingFilesInPlace": bool,
    "ExportSubtitle": bool,
    "SubtitleFormat": str,
    "UseFullExtents": bool,
    "AddFrameHandles": int,
    "DataBurnIn": str,
}
#: BMD-20.3.2 types "FrameRate" as float ("examples: 23.976, 24"); an int is taken too.
NUMBER_KEYS = {"FrameRate"}
FORMATS = {"QuickTime": "mov", "EXR": "exr", "TIFF": "tif"}
CODECS = {
    "mov": {"Apple ProRes 422 HQ": "ProRes422HQ", "H.264": "H264"},
    "exr": {
        "RGB float (no compression)": "RGBFloat",
        "RGB half (ZIP)": "RGBHalfZIP",
        "RGB half (no compression)": "RGBHalf",
    },
    "tif": {"RGB 16 bits": "RGB16"},
}
#: Seconds the fake takes per rendered frame, so that a caller really waits.
FRAME_S = 0.01


class RenderQueue:
    """Project's render calls (the fake project forwards exactly CALLS here)."""

    CALLS = (
        "GetRenderFormats",
        "GetRenderCodecs",
        "GetCurrentRenderFormatAndCodec",
        "SetCurrentRenderFormatAndCodec",
        "GetCurrentRenderMode",
        "SetCurrentRenderMode",
        "SetRenderSettings",
        "SaveAsNewRenderPreset",
        "LoadRenderPreset",
        "DeleteRenderPreset",
        "GetRenderPresetList",
        "AddRenderJob",
        "DeleteRenderJob",
        "GetRenderJobList",
        "StartRendering",
        "StopRendering",
        "IsRenderingInProgress",
        "GetRenderJobStatus",
    )

    def __init__(self, project) -> None:
        self.project = project
        self.fake_format = ("mov", "ProRes422HQ")
        self.fake_mode = 0
        # The Deliver page as a user may have left it: the tests change any of these.
        self.fake_settings = {
            "SelectAllFrames": True,
            "MarkIn": 0,
            "MarkOut": 0,
            "TargetDir": "/renders/show",
            "CustomName": "",
            "ExportVideo": True,
            "ExportAudio": True,
            "UniqueFilenameStyle": 0,
            "FormatWidth": 96,
            "FormatHeight": 64,
            "FrameRate": 24.0,
            "ColorSpaceTag": "Same as Project",
            "GammaTag": "Same as Project",
            "DataBurnIn": "Same as project",
        }
        #: The project's data burn-in (Workspace > Data Burn-In): stamped into renders unless a
        #: job's "DataBurnIn" is "None" (BMD-21 key; older versions cannot turn it off).
        self.burn_in = False
        #: Resolve may write a sequence into a sub-folder of TargetDir (AYR api/rendering.py
        #: collects "Nested: target_render_directory/**/*.<ext>"); "" writes flat.
        self.subfolder = ""
        self.presets: dict[str, dict] = {}
        self.jobs_seen: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.fail_next = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def state(self) -> tuple:
        """What the user would see on the Deliver page (for before/after comparisons)."""
        return self.fake_format, self.fake_mode, copy.deepcopy(self.fake_settings)

    def GetRenderFormats(self) -> dict:
        return dict(FORMATS)

    def GetRenderCodecs(self, fmt: str) -> dict:
        return dict(CODECS.get(fmt, {}))

    def GetCurrentRenderFormatAndCodec(self) -> dict:
        return {"format": self.fake_format[0], "codec": self.fake_format[1]}

    def SetCurrentRenderFormatAndCodec(self, fmt: str, codec: str) -> bool:
        if codec not in CODECS.get(fmt, {}).values():
            return False
        self.fake_format = (fmt, codec)
        return True

    def GetCurrentRenderMode(self) -> int:
        return self.fake_mode

    def SetCurrentRenderMode(self, mode: int) -> bool:
        if need(int, mode, "renderMode") not in (0, 1):
            return False
        self.fake_mode = mode
        return True

    def SetRenderSettings(self, settings: dict) -> bool:
        for key, value in need(dict, settings, "settings").items():
            if key not in SETTINGS_KEYS:
                raise TypeError(f"fake Resolve: SetRenderSettings has no key {key!r}")
            if not versions.EMU.has_setting(key):
                return False  # a key the version lacks: the whole call fails (strict reading)
            if key in NUMBER_KEYS and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            need(SETTINGS_KEYS[key], value, key)
        self.fake_settings.update(settings)
        return True

    def _preset(self) -> dict:
        return {"format": self.fake_format, "settings": copy.deepcopy(self.fake_settings)}

    def SaveAsNewRenderPreset(self, name: str) -> bool:
        if name in self.presets:
            return False
        self.presets[name] = self._preset()
        return True

    def LoadRenderPreset(self, name: str) -> bool:
        if name not in self.presets:
            return False
        self.fake_format = self.presets[name]["format"]
        self.fake_settings = copy.deepcopy(self.presets[name]["settings"])
        return True

    def DeleteRenderPreset(self, name: str) -> bool:
        return self.presets.pop(name, None) is not None

    def GetRenderPresetList(self) -> list:
        return sorted(self.presets)

    def AddRenderJob(self) -> str:
        s = self.fake_settings
        timeline = self.project.current_timeline
        if timeline is None or not os.path.isdir(s["TargetDir"]):
            return ""
        if not s["SelectAllFrames"] and not s["MarkIn"] <= s["MarkOut"]:
            return ""
        job = new_id()
        self.jobs_seen[job] = copy.deepcopy(s)  # for tests: the settings each job was given
        self.jobs[job] = {
            "settings": copy.deepcopy(s),
            "format": self.fake_format,
            "mode": self.fake_mode,
            "timeline": timeline,
            "status": "Ready",
            "percent": 0,
        }
        return job

    def DeleteRenderJob(self, job: str) -> bool:
        if job not in self.jobs or self.jobs[job]["status"] == "Rendering":
            return False
        del self.jobs[job]
        return True

    def GetRenderJobList(self) -> list:
        return [{"JobId": j, "TargetDir": v["settings"]["TargetDir"]} for j, v in self.jobs.items()]

    def StartRendering(self, *args) -> bool:
        ids = args[0] if args and isinstance(args[0], list) else list(args)
        if not ids or any(j not in self.jobs for j in ids) or self.IsRenderingInProgress():
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._render, args=(ids,), daemon=True)
        self._thread.start()
        return True

    def StopRendering(self) -> None:
        # BMD-20.3.2: "Stops any current render processes" (every job, not only one).
        self.stopped_by_call = getattr(self, "stopped_by_call", 0) + 1
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def IsRenderingInProgress(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def GetRenderJobStatus(self, job: str) -> dict:
        if job not in self.jobs:
            return {}
        j = self.jobs[job]
        return {"JobStatus": j["status"], "CompletionPercentage": j["percent"]}

    # -- the renderer ---------------------------------------------------------------------------
    def _render(self, ids: list) -> None:
        for job_id in ids:
            job = self.jobs[job_id]
            job["status"] = "Rendering"
            try:
                self._render_job(job)
                job["status"] = "Cancelled" if self._stop.is_set() else "Complete"
            except Exception as exc:  # noqa: BLE001 - reported through the job status
                job["status"], job["error"] = "Failed", str(exc)

    def _render_job(self, job: dict) -> None:
        import numpy as np
        import OpenImageIO as oiio

        s, timeline = job["settings"], job["timeline"]
        if job["format"][0] != "exr" or job["mode"] != 1:
            raise RuntimeError("the fake renders only EXR in single-clip mode")
        if self.fail_next:
            raise RuntimeError(self.fail_next)
        first, last = s["MarkIn"], s["MarkOut"]
        for n, frame in enumerate(range(first, last + 1)):
            if self._stop.is_set():
                return
            pixels = None
            for track in range(len(timeline.tracks), 0, -1):
                if not timeline.enabled[track - 1]:
                    continue
                for item in timeline.tracks[track - 1]:
                    if item.start <= frame < item.GetEnd():
                        index = item.left + int((frame - item.start) * item.speed)
                        if item.media is None:  # a title or generator: its own picture
                            pixels = np.full((timeline.size[1], timeline.size[0], 3), 0.5)
                        else:
                            pixels = item.media.pixels(index)
                        break
                if pixels is not None:
                    break
            if pixels is None:
                pixels = np.zeros((timeline.size[1], timeline.size[0], 3), np.float32)
            # The output format: FormatWidth x FormatHeight, nearest sample (a Deliver page left
            # at 512x288 renders 512x288, as the issue saw).
            h, w = s["FormatHeight"], s["FormatWidth"]
            rows = (np.arange(h) * pixels.shape[0] // h).clip(0, pixels.shape[0] - 1)
            cols = (np.arange(w) * pixels.shape[1] // w).clip(0, pixels.shape[1] - 1)
            pixels = np.array(pixels[rows][:, cols], np.float32)
            if self.burn_in and s.get("DataBurnIn") != "None":
                pixels[:4, :16] = 1.0  # a timecode window burnt into the corner
            arr = np.ascontiguousarray(pixels, np.float32)
            spec = oiio.ImageSpec(arr.shape[1], arr.shape[0], 3, oiio.HALF)
            spec.attribute("compression", "zip")
            if not os.path.isdir(s["TargetDir"]):
                raise RuntimeError(f"cannot write to {s['TargetDir']}")
            folder = os.path.join(s["TargetDir"], self.subfolder)  # AYR rendering.py: nested
            os.makedirs(folder, exist_ok=True)
            out = os.path.join(folder, f"{s['CustomName']}_{frame:08d}.exr")
            image = oiio.ImageOutput.create(out)
            image.open(out, spec)
            image.write_image(arr)
            image.close()
            time.sleep(FRAME_S)
            job["percent"] = int(100 * (n + 1) / (last - first + 1))
