"""Send and Cancel of the VOID Remove node: render what must be rendered, submit, follow, read back.

Send runs on the main thread only long enough to read the knobs and set up the Writes; then one
worker thread checks that the server answers and takes the token, renders the inputs with one
``nuke.executeMultiple`` on the main thread (one progress meter, whose Cancel ends the Send as
cancelled; full size whatever the proxy setting), submits through :mod:`void_vfx.client`, follows
the job and points the node's Read at the result. Opening a script re-attaches its nodes to the
jobs they sent (:func:`on_script_load`). Every touch of a node from the worker goes through
:func:`on_main`, which calls directly when already on the main thread (command-line Nuke, where
everything runs inline) and never calls ``executeInMainThread*`` from it (Nuke hangs). Failures
become one line on the node's status knob, never a traceback dialog.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import traceback
import uuid
from dataclasses import dataclass, field

import nuke

from void_vfx.client import cancel_message, connect
from void_vfx.errors import AuthError, ServerError, SpecError, VoidVfxError
from void_vfx.hosts import nuke_node, nuke_text, nuke_versions
from void_vfx.hosts.nuke_spec import (
    INPUTS,
    build_spec,
    choose_view,
    files_as_they_are,
    frame_range,
    in_view,
    output_folder,
    output_name,
    parse_server,
    plate_colour,
    root_colour,
)
from void_vfx.job.spec import JobSpec
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
    spec: JobSpec | None
    frames: tuple[int, int]
    writes: list[str] = field(default_factory=list)
    render_dir: str = ""
    node_name: str = ""
    view: str = ""


class full_size:  # noqa: N801 - used as a context manager, like open
    """Root ``proxy`` off while the block runs (main thread): a Write "executes all renders at the
    currently active scale" (Foundry's Write reference) and ``nuke.filename`` names the proxy file
    in proxy mode; VOID needs the full-size plate. The artist's setting comes back after."""

    def __enter__(self):
        self.knob = nuke.root()["proxy"]
        self.was = bool(self.knob.value())
        if self.was:
            self.knob.setValue(False)
        return self

    def __exit__(self, *exc) -> None:
        if self.was:
            self.knob.setValue(True)


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
    """Read the node into a Plan and set up its Writes (main thread), as one undo step."""
    undo = nuke.Undo()
    undo.begin(f"{nuke_node.LABEL} Send")
    try:
        with full_size():
            return _prepare(group)
    finally:
        undo.end()


def _prepare(group) -> Plan:
    s = nuke_node.settings(group)
    host, port = parse_server(s.server)
    if group.input(0) is None:
        raise SpecError("plate", "connect the plate to the node's 'plate' input")
    rng = frame_range(s, nuke_node.input_range(group))
    views = list(nuke.views())
    view = choose_view(views, group["view"].value() if group.knob("view") else "")
    chains = {}
    for index, role in enumerate(INPUTS):
        if group.input(index) is not None:
            chain, read = nuke_node.upstream(group, index)
            for d in [*chain, read or {}]:
                if d.get("file"):
                    d["file"] = in_view(d["file"], view)
            chains[role] = (chain, read)
    plate_read = chains["plate"][1]
    config, space = plate_colour(plate_read, root_colour(nuke.root()))  # before any Write is set
    out_dir = output_folder(s.output_dir, nuke.root().name())
    name = output_name(s, plate_read, group.name())
    if len(views) > 1 and view not in name:
        name = f"{name}_{view}"  # each view's versions apart
    render_dir = os.path.join(out_dir, SEND_FOLDER, f"{name}_{uuid.uuid4().hex[:8]}")
    files, writes = {}, []
    for role, (chain, read) in chains.items():
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
    nuke_node.update_view(group)  # the quadmask view follows inputs rewired with the panel shut
    return Plan(
        s.server, host, port, spec, rng, writes, render_dir if writes else "", group.name(), view
    )


#: What :func:`_render_all` answers when the artist pressed Cancel on Nuke's progress meter.
CANCELLED = "cancelled"


def _render_all(group, writes: list[str], frames: tuple[int, int], view: str):
    """Execute the Writes over the range in one call (main thread, one progress meter, full
    size, the one view): True, CANCELLED, or the error's text."""
    nuke_node.set_status(group, f"rendering frames {frames[0]}-{frames[1]}")
    nodes = [group.node(name) for name in writes]
    for write in nodes:
        write["disable"].setValue(False)
    try:
        with full_size():
            ranges = ((frames[0], frames[1], 1),)
            if view:
                nuke.executeMultiple(tuple(nodes), ranges, [view])
            else:
                nuke.executeMultiple(tuple(nodes), ranges)
    except RuntimeError as ex:
        # nuke.execute raises RuntimeError "Cancelled" when its meter's Cancel is pressed (NDG)
        return CANCELLED if str(ex).strip().lower() == "cancelled" else f"{ex}"
    finally:
        for write in nodes:
            write["disable"].setValue(True)
    return True


def check_server(host: str, port: int) -> None:
    """Before anything is rendered: a server answers at host:port and takes our token. A token
    problem where no server answers is reported as the missing server, the first thing to fix."""
    try:
        connect(host, port).close()
    except AuthError:
        try:
            socket.create_connection((host, port), timeout=5.0).close()
        except OSError as ex:
            raise ServerError(
                f"cannot reach a void-vfx server at {host}:{port} ({ex}); start one with "
                "'void-vfx serve' or fix the server knob"
            ) from None
        raise


class Sender:
    """One Send of one node, run on a worker thread (or inline in command-line Nuke)."""

    def __init__(self, group, plan: Plan, job_id: str = "") -> None:
        self.group, self.plan = group, plan
        self.key = group.fullName()
        self.cancel_requested = threading.Event()
        self.finished = threading.Event()
        self.job_id = job_id  # set: re-attach to this job instead of sending
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
        if self.job_id:  # re-attach: the job was sent before the script was reopened
            self.status(f"re-attaching to job {self.job_id} on {self.plan.server}")
            with connect(self.plan.host, self.plan.port) as client:
                self._client = client
                self._follow(client, self.job_id)
            return
        self.status(f"checking the server {self.plan.server}", 0.0)
        check_server(self.plan.host, self.plan.port)
        if self.plan.writes and not self._render():
            return
        self.status(f"connecting to {self.plan.server}", 0.0)
        with connect(self.plan.host, self.plan.port) as client:
            self._client = client
            job = client.submit(self.plan.spec, files_mode="auto")
            self.job_id = job
            save_spec(job, self.plan.spec.to_json())
            on_main(_set_job_id, self.group, job)
            self._follow(client, job)

    def _follow(self, client, job: str) -> None:
        final = client.follow(job, callback=self._progress, poll_s=0.25)
        self.state = final["state"]
        if self.state == "done":
            paths = client.download_results(job)
            on_main(read_back, self.group, paths, job)
        else:
            self.status(nuke_text.status_line(job, final), nuke_text.progress_percent(final))

    def _render(self) -> bool:
        if self.cancel_requested.is_set():
            done = CANCELLED
        else:
            done = on_main(
                _render_all, self.group, self.plan.writes, self.plan.frames, self.plan.view
            )
        if done == CANCELLED:
            self.state = "cancelled"
            self.status("cancelled while rendering; nothing was sent", 0.0)
            return False
        if done is not True:
            raise VoidVfxError(f"render failed: {done or 'see the script editor'}")
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


def read_back(group, paths: list[str], job_id: str = "") -> None:
    """The job is done: list the versions and show the new one (main thread). The job id is
    kept as read back, so reopening the script does not fetch it again."""
    state = nuke_node.state(group)
    if job_id:
        group["void_state"].setValue(json.dumps(dict(state, read_job=job_id)))
    version = nuke_versions.version_of_path(sorted(paths)[0], state.get("name", ""))
    nuke_node.refresh_versions(group)
    nuke_node.show_version(group, version)
    folder = os.path.dirname(sorted(paths)[0])
    nuke_node.set_status(group, nuke_text.done_line(version, len(paths), folder), 100.0)


def send(group) -> Sender | None:
    """The Send button: start a job for this node; returns its Sender (None when refused)."""
    key = group.fullName()
    if key in ACTIVE:
        nuke_node.set_status(
            group, f"already sending (job {ACTIVE[key].job_id or 'starting'}); press Cancel first"
        )
        return None
    try:
        plan = prepare(group)
    except VoidVfxError as ex:
        nuke_node.set_status(group, nuke_text.error_line(ex))
        return None
    sender = Sender(group, plan)
    nuke_node.set_status(group, "starting", 0.0)
    _start(sender)
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


def _start(sender: Sender) -> None:
    ACTIVE[sender.key] = sender
    if nuke.GUI:
        threading.Thread(target=sender.run, name=f"void-vfx {sender.key}", daemon=True).start()
    else:
        sender.run()


def reattach(group) -> Sender | None:
    """A reopened script: show the versions on disk, and follow the node's job if it was never
    read back (it may still run, or have finished while Nuke was closed)."""
    nuke_node.upgrade(group)
    nuke_node.refresh_versions(group)
    saved = group["version"].value()
    nuke_node.show_version(group, saved)
    job_id = group["job_id"].value()
    if not job_id or nuke_node.state(group).get("read_job") == job_id:
        return None
    if group.fullName() in ACTIVE:
        return ACTIVE[group.fullName()]
    server = nuke_node.settings(group).server
    try:
        host, port = parse_server(server)
    except VoidVfxError as ex:
        nuke_node.set_status(group, nuke_text.error_line(ex))
        return None
    sender = Sender(group, Plan(server, host, port, None, (0, 0), node_name=group.name()), job_id)
    _start(sender)
    return sender


def on_script_load() -> list[Sender]:
    """Nuke's onScriptLoad: re-attach every VOID Remove node of the script (main thread)."""
    started = []
    for node in nuke.allNodes("Group", recurseGroups=True):
        if node.knob("void_state") is not None and node.knob("job_id") is not None:
            sender = reattach(node)
            if sender is not None:
                started.append(sender)
    return started
