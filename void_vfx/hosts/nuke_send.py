"""Send and Cancel of the VOID Remove node: render what must be rendered, submit, follow, read back.

Send runs on the main thread only long enough to read the knobs and set up the Writes; then one
worker thread renders frame by frame under a ``nuke.ProgressTask`` (each frame executed on the main
thread through ``nuke.executeInMainThreadWithResult``, so the UI stays live between frames and the
task's Cancel is honoured), submits through :mod:`void_vfx.client`, follows the job and points the
node's Read at the result. Every touch of a node from the worker goes through :func:`on_main`,
which calls directly when already on the main thread (command-line Nuke, where everything runs
inline) and never calls ``executeInMainThread*`` from it (Nuke hangs). Failures become one line on
the node's status knob, never a traceback dialog.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import traceback
import uuid
from dataclasses import dataclass, field

import nuke

from void_vfx.client import cancel_message, connect
from void_vfx.errors import SpecError, VoidVfxError
from void_vfx.hosts import nuke_node, nuke_text, nuke_versions
from void_vfx.hosts.nuke_spec import (
    INPUTS,
    build_spec,
    files_as_they_are,
    frame_range,
    output_folder,
    output_name,
    parse_server,
    plate_colour,
    root_colour,
)
from void_vfx.jobspec import JobSpec
from void_vfx.ui.job_records import save_spec

#: Senders at work, by node full name.
ACTIVE: dict[str, Sender] = {}
SEND_FOLDER = "void_send_inputs"  # not hidden: a server refuses hidden folders


def on_main(fn, *args):
    """Run ``fn(*args)`` on Nuke's main thread and return its result (None if it raised)."""
    if threading.current_thread() is threading.main_thread():
        return fn(*args)
    return nuke.executeInMainThreadWithResult(fn, args)


@dataclass
class Plan:
    """What one Send does, read from the node on the main thread."""

    server: str
    host: str
    port: int
    spec: JobSpec
    frames: tuple[int, int]
    writes: list[str] = field(default_factory=list)
    render_dir: str = ""


def _configure_write(group, role: str, pattern: str, read: dict | None) -> None:
    """A Write for one input: EXR, fast zip, the plate's channels, colour space and metadata."""
    w = group.node(f"write_{role}")
    plate = role == "plate"
    w["file"].setValue(pattern)
    w["file_type"].setValue("exr")
    w["datatype"].setValue("32 bit float" if plate else "16 bit half")
    w["compression"].setValue("Zip (1 scanline)")
    w["channels"].setValue("all" if plate else "rgba")
    w["metadata"].setValue("all metadata except input/*" if plate else "no metadata")
    w["raw"].setValue(bool(read and read.get("raw")))
    if read and not read.get("raw") and read.get("colorspace"):
        w["colorspace"].setValue(str(read["colorspace"]))
    w["create_directories"].setValue(True)


def prepare(group) -> Plan:
    """Read the node into a Plan and set up its Writes (main thread)."""
    s = nuke_node.settings(group)
    host, port = parse_server(s.server)
    if group.input(0) is None:
        raise SpecError("plate", "connect the plate to the node's 'plate' input")
    rng = frame_range(s, nuke_node.input_range(group))
    _, plate_read = nuke_node.upstream(group, 0)
    config, space = plate_colour(plate_read, root_colour(nuke.root()))  # before any Write is set
    out_dir = output_folder(s.output_dir, nuke.root().name())
    name = output_name(s, plate_read, group.name())
    render_dir = os.path.join(out_dir, SEND_FOLDER, f"{name}_{uuid.uuid4().hex[:8]}")
    files, writes = {}, []
    for index, role in enumerate(INPUTS):
        if group.input(index) is None:
            continue
        chain, read = nuke_node.upstream(group, index)
        pattern, _why = files_as_they_are(chain, rng)
        if pattern is None:
            pattern = os.path.join(render_dir, role, f"{role}.####.exr")
            _configure_write(group, role, pattern, plate_read if role == "plate" else read)
            writes.append(f"write_{role}")
        files[role] = pattern
    spec = build_spec(s, files, rng, space, out_dir, name, ocio_config=config)
    colour = plate_read.get("colorspace", "") if plate_read else ""
    raw = bool(plate_read and plate_read.get("raw"))
    group["void_state"].setValue(
        json.dumps({"out_dir": out_dir, "name": name, "colorspace": colour, "raw": raw})
    )
    return Plan(s.server, host, port, spec, rng, writes, render_dir if writes else "")


def _render_frame(group, writes: list[str], frame: int, text: str):
    """Execute the Writes for one frame (main thread); True, or the error's text."""
    nuke_node.set_status(group, text)
    for name in writes:
        write = group.node(name)
        write["disable"].setValue(False)
        try:
            nuke.execute(write, frame, frame)
        except RuntimeError as ex:
            return f"{name} frame {frame}: {ex}"
        finally:
            write["disable"].setValue(True)
    return True


class Sender:
    """One Send of one node, run on a worker thread (or inline in command-line Nuke)."""

    def __init__(self, group, plan: Plan) -> None:
        self.group, self.plan = group, plan
        self.key = group.fullName()
        self.cancel_requested = threading.Event()
        self.finished = threading.Event()
        self.job_id = ""
        self.state = ""  # the job's last state, or "error" / "cancelled" before a job exists
        self._client = None
        self._cancel_sent = False

    def status(self, text: str, progress: float | None = None) -> None:
        try:
            on_main(nuke_node.set_status, self.group, text, progress)
        except ValueError:  # the node was deleted while its job ran
            pass

    def run(self) -> None:
        try:
            self._run()
        except VoidVfxError as ex:
            self.state = self.state if self.state in ("failed", "cancelled") else "error"
            self.status(nuke_text.error_line(ex, self.plan.server))
        except Exception as ex:  # noqa: BLE001 - a status line, never a traceback dialog
            traceback.print_exc()
            self.state = "error"
            self.status(nuke_text.error_line(ex, self.plan.server))
        finally:
            self._clean_up()
            ACTIVE.pop(self.key, None)
            self.finished.set()

    def _run(self) -> None:
        if self.plan.writes and not self._render():
            return
        self.status(f"connecting to {self.plan.server}", 0.0)
        with connect(self.plan.host, self.plan.port) as client:
            self._client = client
            job = client.submit(self.plan.spec, files_mode="auto")
            self.job_id = job
            save_spec(job, self.plan.spec.to_json())
            on_main(_set_job_id, self.group, job)
            final = client.follow(job, callback=self._progress, poll_s=0.25)
            self.state = final["state"]
            if self.state == "done":
                paths = client.download_results(job)
                on_main(read_back, self.group, paths)
            else:
                self.status(nuke_text.status_line(job, final), nuke_text.progress_percent(final))

    def _render(self) -> bool:
        first, last = self.plan.frames
        count = last - first + 1
        task = nuke.ProgressTask(f"{nuke_node.LABEL}: rendering {self.group.name()}")
        try:
            for i, frame in enumerate(range(first, last + 1)):
                if task.isCancelled() or self.cancel_requested.is_set():
                    self.state = "cancelled"
                    self.status("cancelled while rendering; nothing was sent", 0.0)
                    return False
                task.setMessage(f"frame {frame}")
                text = f"rendering frame {frame} ({i + 1}/{count})"
                done = on_main(_render_frame, self.group, self.plan.writes, frame, text)
                if done is not True:
                    raise VoidVfxError(f"render failed: {done or 'see the script editor'}")
                task.setProgress(int(100 * (i + 1) / count))
        finally:
            del task
        return True

    def _progress(self, status: dict, events: tuple) -> None:
        if self.cancel_requested.is_set() and not self._cancel_sent and self._client:
            self._cancel_sent = True
            self._client.cancel(self.job_id)
        self.status(nuke_text.status_line(self.job_id, status), nuke_text.progress_percent(status))

    def _clean_up(self) -> None:
        """The rendered inputs are only for this job: remove them (and an empty send folder)."""
        if self.plan.render_dir:
            shutil.rmtree(self.plan.render_dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.plan.render_dir))
            except OSError:
                pass  # other sends still use it


def _set_job_id(group, job_id: str) -> None:
    group["job_id"].setValue(job_id)


def read_back(group, paths: list[str]) -> None:
    """The job is done: list the versions and show the new one (main thread)."""
    state = nuke_node.state(group)
    version = nuke_versions.version_of_path(sorted(paths)[0], state.get("name", ""))
    nuke_node.refresh_versions(group)
    nuke_node.show_version(group, version)
    folder = os.path.dirname(sorted(paths)[0])
    nuke_node.set_status(group, nuke_text.done_line(version, len(paths), folder), 100.0)


def send(group) -> Sender | None:
    """The Send button: start a job for this node; returns its Sender (None when refused)."""
    key = group.fullName()
    if key in ACTIVE:
        nuke_node.set_status(group, f"already sending (job {ACTIVE[key].job_id or 'starting'}); "
                             "press Cancel first")  # fmt: skip
        return None
    try:
        plan = prepare(group)
    except VoidVfxError as ex:
        nuke_node.set_status(group, nuke_text.error_line(ex))
        return None
    sender = Sender(group, plan)
    ACTIVE[key] = sender
    nuke_node.set_status(group, "starting", 0.0)
    if nuke.GUI:
        threading.Thread(target=sender.run, name=f"void-vfx {key}", daemon=True).start()
    else:
        sender.run()
    return sender


def cancel(group) -> None:
    """The Cancel button: stop this node's render or job."""
    sender = ACTIVE.get(group.fullName())
    if sender is not None:
        sender.cancel_requested.set()
        nuke_node.set_status(group, "cancelling")
        return
    job_id = group["job_id"].value()
    if not job_id:
        nuke_node.set_status(group, "nothing to cancel")
        return
    settings = nuke_node.settings(group)
    try:
        host, port = parse_server(settings.server)
        with connect(host, port) as client:
            nuke_node.set_status(group, cancel_message(job_id, client.cancel(job_id)))
    except VoidVfxError as ex:
        nuke_node.set_status(group, nuke_text.error_line(ex, settings.server))
