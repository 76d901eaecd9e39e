"""One removal from Resolve: clip -> source range -> (render) -> job -> lay-back.

:class:`RemoveSession` is a small state machine driven by :meth:`RemoveSession.step`, each step
short: the dialog calls it from a timer so Resolve's UI never waits on it, the terminal mode calls
it in a loop. Resolve is touched only inside ``step`` (the caller's thread); the job's upload,
progress and download run on a worker thread, which touches nothing of Resolve. Standard library
and rpyc only.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from void_vfx.client import connect
from void_vfx.errors import SequenceError, VoidVfxError
from void_vfx.framerate import fps_text
from void_vfx.hosts import resolve_app as app
from void_vfx.hosts.resolve_layback import Placed, lay_back, original_of
from void_vfx.hosts.resolve_render import ClipRender
from void_vfx.hosts.resolve_source import (
    SourceRange,
    parse_fps,
    read_colour,
    read_source,
    refusal,
)
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.sequences import find_sequence

#: progress(stage, fraction 0..1, message)
STAGES = ("prepare", "render", "job", "layback", "done", "failed")


@dataclass
class RemoveRequest:
    """What the user asked for, from the dialog or the command line."""

    matte: str
    prompt: str = ""
    matte_channel: str = "a"
    affected: str = ""
    affected_channel: str = "a"
    clip: str = ""
    render: bool = False
    mode: str = "new-track"
    out_dir: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""
    engine: str = "void"
    files_mode: str = "auto"
    window_min: int = 0
    handles: int = 0
    detail: bool = True  # finish: detail from other frames
    grain: bool = True  # finish: the plate's grain on the fill


def default_out_dir(project_name: str) -> str:
    """``~/void-vfx/resolve/<project>``: results never go next to the source plates."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", project_name).strip("._") or "project"
    return os.path.join(os.path.expanduser("~"), "void-vfx", "resolve", safe)


def matte_first(pattern: str, duration: int, source_first: int, has_files: bool = True) -> int:
    """Frame numbers a rendered plate takes: the matte's own when it holds exactly the clip's
    frames (rendered out of Resolve for this clip) or the clip has no files of its own (a title,
    a compound, multicam or nested clip), else the clip's source frames."""
    scan = find_sequence(pattern).scan()
    if scan.frames and (len(scan.frames) == duration or not has_files):
        return scan.frames[0]
    return source_first


def check_matte(role: str, pattern: str, first: int, last: int, rendered: bool = False) -> None:
    """The matte must hold every frame of the job; say which are missing before sending.

    On the EXR path the plate's frames are the clip's source frames, so the matte must be
    numbered like the clip's files; on the render path a matte of exactly the clip's frames
    (rendered out of Resolve for this clip) is numbered as it is.
    """
    try:
        find_sequence(pattern).frames((first, last))
    except SequenceError as exc:
        how = (
            f"render it for this clip alone ({last - first + 1} frames) or number it like the "
            "clip's source frames"
            if rendered
            else "number the matte like the clip's files (its source frames)"
        )
        raise app.ResolveError(
            f"{role} matte: {exc}. The job needs frames {first}-{last}: {how}"
        ) from None


def handles(src: SourceRange, matte: str, wanted: int) -> tuple[int, int]:
    """(head, tail): up to ``wanted`` frames before and after the clip that both the media and
    the matte hold (a matte drawn over the clip alone gives none)."""
    if wanted <= 0:
        return 0, 0
    try:
        have = set(find_sequence(matte).scan().frames)
    except SequenceError:
        return 0, 0
    head = tail = 0
    while (
        head < wanted
        and src.source_first - head - 1 >= src.media_first
        and (src.source_first - head - 1 in have)
    ):
        head += 1
    while (
        tail < wanted
        and src.source_last + tail + 1 <= src.media_last
        and (src.source_last + tail + 1 in have)
    ):
        tail += 1
    return head, tail


class RemoveSession:
    """Drive one removal. ``progress(stage, fraction, message)`` is told of every change."""

    def __init__(self, resolve: Any, request: RemoveRequest, progress: Any = None) -> None:
        self.resolve, self.req = resolve, request
        self._progress = progress or (lambda stage, fraction, message: None)
        self.stage = "prepare"
        self.message = ""
        self.error: BaseException | None = None
        self.job_id = ""
        self.placed: Placed | None = None
        self.src: SourceRange | None = None
        #: (OCIO config, colour space, what Resolve said) of the plate sent
        self.colour: tuple[str, str, str] = ("", "", "")
        self._render: ClipRender | None = None
        self._worker: threading.Thread | None = None
        self._job_state: dict[str, Any] = {}
        self._cancel = threading.Event()
        #: Handle frames sent before and after the clip (EXR path, where the files have them).
        self.head = self.tail = 0
        #: Warnings for the user that did not stop the run (e.g. a setting Resolve cannot put
        #: back); shown with the final message.
        self.notes: list[str] = []

    @property
    def finished(self) -> bool:
        return self.stage in ("done", "failed")

    def _tell(self, stage: str, fraction: float, message: str) -> None:
        self.stage, self.message = stage, message
        self._progress(stage, max(0.0, min(1.0, fraction)), message)

    def cancel(self) -> None:
        """Stop waiting; a running server job is cancelled by the worker."""
        self._cancel.set()

    def step(self) -> str:
        """Advance by one short piece of work; returns the stage. Errors end in 'failed'."""
        try:
            if self._cancel.is_set() and not self.finished and self.stage != "job":
                raise app.ResolveError("cancelled")
            if self.stage == "prepare":
                self._prepare()
            elif self.stage == "render":
                self._poll_render()
            elif self.stage == "job":
                self._poll_job()
            elif self.stage == "layback":
                self._lay_back()
        except Exception as exc:  # noqa: BLE001 - every failure is shown, not raised into Resolve
            if not isinstance(exc, VoidVfxError):  # one line for the user, never a traceback
                exc = app.ResolveError(f"unexpected {type(exc).__name__} from Resolve: {exc}")
            self.error = exc
            if self._render is not None:
                left = self._render.discard()
                self._render = None
                if left and isinstance(exc, app.ResolveError):
                    exc = self.error = app.with_note(exc, "; " + "; ".join(left))
            self._tell("failed", 1.0, str(exc))
        return self.stage

    def run(self, poll_s: float = 0.25) -> Placed:
        """Step until finished (the terminal mode); raise the error of a failed run."""
        while not self.finished:
            if self.step() in ("render", "job"):
                time.sleep(poll_s)
        if self.error is not None:
            raise self.error
        assert self.placed is not None
        return self.placed

    # -- stages ---------------------------------------------------------------------------------
    def _prepare(self) -> None:
        self.version = app.check_version(self.resolve)
        self.project = app.current_project(self.resolve)
        self.timeline = app.current_timeline(self.project)
        self.item = original_of(self.timeline, app.find_clip(self.timeline, self.req.clip))
        track = app.track_of(self.item, self.timeline)
        src = read_source(self.item, self.timeline, track)
        self.src = src
        self.out_dir = self.req.out_dir or default_out_dir(str(self.project.GetName()))
        timeline_fps = parse_fps(self.timeline.GetSetting("timelineFrameRate"))
        direct = src.is_sequence and not self.req.render
        self.colour = read_colour(self.project, self.item, not direct, src.is_sequence)  # first
        if direct:
            why = refusal(self.item, src, timeline_fps)
            if why:
                raise app.ClipRefused(why)
            self.head, self.tail = handles(src, self.req.matte, self.req.handles)
            self.plate, self.first = src.pattern, src.source_first - self.head
            last = src.source_last + self.tail
            extra = f" (handles {self.head}+{self.tail})" if self.head or self.tail else ""
            self._tell("prepare", 1.0, f"sending {src.pattern} {self.first}-{last}{extra}")
            self._start_job()
            return
        if self.req.handles:
            self.notes.append("handles are sent on the EXR path only; the render has none")
        self.first = matte_first(
            self.req.matte, src.duration, src.source_first, bool(src.file_path)
        )
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", os.path.splitext(src.name)[0]) or "clip"
        target = os.path.join(self.out_dir, "render", f"{name}_{os.urandom(4).hex()}")
        self._render = ClipRender(self.project, self.timeline, src, target, name, self.first)
        self._render.start()
        self._tell("render", 0.0, f"rendering clip {src.name!r} to EXR")

    def _poll_render(self) -> None:
        render = self._render
        assert render is not None
        if not render.poll():
            self._tell("render", render.percent / 100.0, f"rendering to EXR {render.percent}%")
            return
        render.close()
        self.notes += render.notes
        self.plate = render.frames()
        self._render = None
        self._start_job()

    def _spec(self) -> Any:
        src = self.src
        assert src is not None
        first, last = self.first, self.first + self.head + src.duration + self.tail - 1
        rendered = self.plate != self.src.pattern
        check_matte("object", self.req.matte, first, last, rendered)
        spec = JobSpec(
            plate=self.plate,
            primary=MatteSource(self.req.matte, self.req.matte_channel),
            frame_range=(first, last),
            fps=fps_text(src.fps),
            prompt=self.req.prompt,
            engine=self.req.engine,
            ocio_config=self.colour[0],
            colourspace=self.colour[1],
        )
        if self.req.affected:
            check_matte("affected", self.req.affected, first, last, rendered)
            spec.affected = MatteSource(self.req.affected, self.req.affected_channel)
        if self.req.window_min:
            spec.window.min_length = self.req.window_min
        spec.finish.detail, spec.finish.grain = bool(self.req.detail), bool(self.req.grain)
        spec.output.dir = self.out_dir
        return spec.validate()

    def _start_job(self) -> None:
        spec = self._spec()
        self._job_state = {"status": None, "paths": None, "error": None}
        self._worker = threading.Thread(
            target=self._work, args=(spec,), name="void-vfx-resolve-job", daemon=True
        )
        colour = self.colour[1] or "from the files' headers"
        self._tell(
            "job", 0.0, f"sending {os.path.basename(self.plate)} to the server (colour: {colour})"
        )
        self._worker.start()

    def _work(self, spec: Any) -> None:
        """Worker thread: submit, follow, download. Touches nothing of Resolve."""
        state = self._job_state
        try:
            kwargs = {"token": self.req.token or None}
            if self.req.port:
                kwargs["port"] = self.req.port
            with connect(self.req.host, **kwargs) as client:
                self.job_id = client.submit(spec, files_mode=self.req.files_mode)

                def seen(status: dict, events: tuple) -> None:
                    state["status"] = status
                    if self._cancel.is_set() and status.get("state") not in ("cancelled",):
                        client.cancel(self.job_id)

                final = client.follow(self.job_id, callback=seen, poll_s=0.2)
                if final["state"] != "done":
                    raise app.ResolveError(
                        f"job {self.job_id} {final['state']}: {final.get('message', '')}"
                    )
                state["paths"] = client.download_results(self.job_id)
        except BaseException as exc:  # noqa: BLE001 - handed to the stepping thread
            state["error"] = exc

    def _poll_job(self) -> None:
        state = self._job_state
        worker = self._worker
        if worker is not None and worker.is_alive():
            status = state.get("status") or {}
            windows = max(int(status.get("windows") or 0), 1)
            done = int(status.get("window") or 0)
            self._tell(
                "job",
                done / windows,
                f"job {self.job_id or '...'}: {status.get('state', 'sending')} window "
                f"{done}/{windows} {status.get('message', '')}".strip(),
            )
            return
        if state.get("error") is not None:
            raise state["error"]
        self._tell("layback", 0.0, "placing the cleaned plate on the timeline")

    def _lay_back(self) -> None:
        src = self.src
        assert src is not None
        with app.on_page(self.resolve, "edit"):
            self.placed = lay_back(
                self.project,
                self.timeline,
                self.item,
                src,
                self._job_state["paths"],
                self.job_id,
                self.req.mode,
                self.version,
                self.head,
                self.tail,
            )
        where = "as a new take" if self.placed.track == 0 else f"on V{self.placed.track}"
        note = "".join(f"; note: {n}" for n in self.notes)
        self._tell("done", 1.0, f"job {self.job_id}: {self.placed.file_path} placed {where}{note}")
