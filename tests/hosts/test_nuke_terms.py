"""The VOID Remove node on real Nuke's terms, end to end through the fake against a real preview
server: proxy mode, the frames outside the sent range, Nuke 17.1's knobChanged, reopening a
script mid-job, paths as Nuke resolves them, stereo, and what a Send checks first."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import numpy as np
import pytest
from fakes_nuke import graph, harness

from void_vfx.client import connect

FRAMES = 9
MENU = Path(__file__).resolve().parents[2] / "hosts" / "nuke" / "menu.py"


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from void_vfx.demo.run import make_demo_shot

    folder = tmp_path_factory.mktemp("shot")
    return make_demo_shot(folder, frames=FRAMES, size=(64, 48), camera_pan=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = harness.preview_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.close()


@pytest.fixture
def nk(monkeypatch, tmp_path, server):
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(server.token_file))
    return harness.fresh(monkeypatch, tmp_path)


def _node(nk, shot, tmp_path, port, **kw):
    nuke, nuke_node, _ = nk
    group, reads = harness.comp(nuke, nuke_node, shot, **kw)
    for knob, value in (
        ("engine", "preview"),
        ("min_window", 5),
        ("server", f"127.0.0.1:{port}"),
        ("output_dir", str(tmp_path / "out")),
    ):
        group[knob].setValue(value)
    return group, reads


def _send(nk, group, timeout=60.0):
    nuke, _, nuke_send = nk
    group["send"].execute()
    sender = nuke_send.ACTIVE.get(group.fullName())
    assert sender is not None, group["status"].value()
    assert nuke._process_events(until=sender.finished.is_set, timeout=timeout)
    return sender


def _rgb(img: dict) -> np.ndarray:
    return np.stack([img["planes"][f"rgba.{c}"] for c in ("red", "green", "blue")], -1)


def _pixels(path: str) -> np.ndarray:
    import OpenImageIO as oiio

    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)


def test_proxy_range_and_17_1_knob_changed(nk, shot, tmp_path, server):
    nuke, _, _ = nk
    nuke._knob_changed_on_set = True  # Nuke 17.1: knobChanged runs on programmatic changes too
    nuke.root()["proxy"].setValue(True)
    group, reads = _node(nk, shot, tmp_path, server.port, object_through="Multiply")
    # The fake renders a Write at the proxy scale (Foundry's Write reference): a matte rendered
    # in proxy mode would be half the plate's size.
    probe = nuke.nodes.Write(file=str(tmp_path / "probe.####.exr"), file_type="exr")
    probe.setInput(0, reads["plate"])
    nuke.execute(probe, 1001, 1001)
    assert _pixels(str(tmp_path / "probe.1001.exr")).shape == (24, 32, 3)
    nuke._executed.clear()
    for knob, value in (("range_mode", "custom"), ("first", 1003), ("last", 1007)):
        group[knob].setValue(value)
    sender = _send(nk, group)
    v1 = tmp_path / "out" / "demo_plate_void_v001"
    assert sender.state == "done", group["status"].value()
    assert group["status"].value() == f"done: v001, 5 frames in {v1}"
    assert nuke.root()["proxy"].value() is True  # the artist's setting is back
    assert nuke._executed == [("VOIDRemove.write_object", f) for f in range(1003, 1008)]
    result = _pixels(str(v1 / "demo_plate_void_v001.1005.exr"))
    assert result.shape == (48, 64, 3)  # full size though proxy is on
    # Inside the sent frames the node shows the result; outside, the plate passes through.
    assert np.array_equal(_rgb(graph.evaluate(group, 1005)), result)
    for frame in (1001, 1002, 1008, 1009):
        plate = _pixels(shot.plate.replace("####", str(frame)))
        assert np.array_equal(_rgb(graph.evaluate(group, frame)), plate), frame
    # 17.1: the version knob's own changes do not re-enter show_version.
    nuke._user_sets(group, "version", "none")
    assert group.node("switch")["which"].value() == 0
    nuke._user_sets(group, "version", "v001")
    assert group["version"].value() == "v001" and group.node("switch")["which"].value() == 1


def _reopen(monkeypatch, tmp_path, shot, saved: dict, old: bool = False):
    """Nuke quits and opens the saved script: fresh modules, menu.py, the nodes with the knob
    values the script saved, then the onScriptLoad callbacks. ``old``: the node was saved by
    a void-vfx without ``in_range`` and the ``void_node`` version knob."""
    nuke, nuke_node, nuke_send = harness.fresh(monkeypatch, tmp_path)
    runpy.run_path(str(MENU))
    group, _ = harness.comp(nuke, nuke_node, shot)
    if old:
        nuke.delete(group.node("in_range"))
        group.node("switch").setInput(1, group.node("result"))
        group.removeKnob(group["void_node"])
    group["version"].setValues(saved.pop("version_items"))
    for knob, value in saved.items():
        group[knob].setValue(value)
    nuke._script_loaded()
    return nuke, group, nuke_send


def test_reopening_a_script_reattaches_to_its_job_once(nk, shot, tmp_path, server, monkeypatch):
    nuke, _, nuke_send = nk
    group, _ = _node(nk, shot, tmp_path, server.port)
    plan = nuke_send.prepare(group)  # what Send submits; here submitted as Nuke quits
    with connect("127.0.0.1", server.port) as c:
        job = c.submit(plan.spec, files_mode="auto")
    knobs = ("server", "engine", "output_dir", "void_state", "status", "version")
    saved = {k: group[k].value() for k in knobs}
    saved.update(job_id=job, status="running: window 1/2", version_items=["none"])

    nuke, group, nuke_send = _reopen(monkeypatch, tmp_path, shot, saved)
    sender = nuke_send.ACTIVE.get(group.fullName())
    assert sender is not None and sender.job_id == job
    assert nuke._process_events(until=sender.finished.is_set, timeout=60)
    v1 = tmp_path / "out" / "demo_plate_void_v001"
    assert group["status"].value() == f"done: v001, {FRAMES} frames in {v1}"
    assert group["version"].values() == ["none", "v001"] and group["version"].value() == "v001"
    assert group.node("switch")["which"].value() == 1

    saved = {k: group[k].value() for k in knobs}
    saved.update(job_id=job, version_items=group["version"].values())
    nuke, group, nuke_send = _reopen(monkeypatch, tmp_path, shot, saved)
    assert nuke_send.ACTIVE == {}  # read back already: nothing fetched twice
    assert group["version"].value() == "v001" and group.node("switch")["which"].value() == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["demo_plate_void_v001"]


def test_reopening_with_the_server_gone_shows_what_is_on_disk(nk, shot, tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "out" / "demo_plate_void_v001"
    folder.mkdir(parents=True)
    import shutil

    for f in shot.frames:
        shutil.copy(shot.plate.replace("####", str(f)), folder / f"demo_plate_void_v001.{f}.exr")
    state = '{"out_dir": "%s", "name": "demo_plate", "colorspace": "", "raw": false}' % (
        tmp_path / "out"
    )
    saved = {
        "server": f"127.0.0.1:{port}",
        "void_state": state,
        "job_id": "j0",
        "version_items": ["none"],
    }
    nuke, group, nuke_send = _reopen(monkeypatch, tmp_path, shot, saved, old=True)
    sender = nuke_send.ACTIVE[group.fullName()]
    assert nuke._process_events(until=sender.finished.is_set, timeout=30)
    assert group["version"].values() == ["none", "v001"]
    assert group["status"].value().startswith(f"server 127.0.0.1:{port} is not reachable")
    # The old node was brought up to date: the result goes through in_range, which shows
    # v001 on its frames and the plate elsewhere.
    in_range = group.node("in_range")
    assert group["void_node"].value() == 2 and group.node("switch").input(1) is in_range
    assert (in_range.input(0), in_range.input(1)) == (group.node("plate"), group.node("result"))
    nuke._user_sets(group, "version", "v001")
    assert [in_range["which"].valueAt(f) for f in (1000, 1001, 1009, 1010)] == [0, 1, 1, 0]


def test_relative_and_tcl_paths_are_sent_as_nuke_reads_them(nk, shot, tmp_path, server):
    nuke, _, nuke_send = nk
    group, reads = _node(nk, shot, tmp_path, server.port)
    folder = os.path.dirname(os.path.dirname(shot.plate))
    nuke._set_script_name(os.path.join(folder, "comp", "shot.nk"))
    nuke.root()["project_directory"].setValue("[file dirname [value root.name]]/..")
    reads["plate"]["file"].setValue(os.path.relpath(shot.plate, folder))
    reads["object"]["file"].setValue(
        "[file dirname [value root.name]]/../" + os.path.relpath(shot.primary, folder)
    )
    nuke.root()["proxy"].setValue(True)
    reads["plate"]["proxy"].setValue("/proxies/plate.####.exr")  # full size is what is sent
    plan = nuke_send.prepare(group)
    assert plan.spec.plate == shot.plate and plan.spec.primary.path == shot.primary
    assert plan.writes == [] and nuke.root()["proxy"].value() is True
    nuke._filename_printf = True  # the other reading: #### comes back as %04d
    plan = nuke_send.prepare(group)
    assert plan.spec.plate == shot.plate.replace("####", "%04d")
    sender = _send(nk, group)
    assert sender.state == "done", group["status"].value()
    assert len(list((tmp_path / "out" / "demo_plate_void_v001").iterdir())) == FRAMES


def test_stereo_sends_the_chosen_view(nk, shot, tmp_path, server):
    import shutil

    nuke, _, nuke_send = nk
    group, reads = _node(nk, shot, tmp_path, server.port, object_through="Multiply")
    nuke.root()["views"].setValue("left\nright")
    group["send"].execute()  # the node was made in a one-view script: its view is "main"
    assert group["status"].value() == (
        "error: view: 'main' is not a view of this script (left, right): pick one in the node's "
        "view knob; each Send sends one view"
    )
    assert nuke_send.ACTIVE == {} and nuke._executed == [] and nuke._queue.empty()
    runpy.run_path(str(MENU))  # Nuke started with void-vfx's menu.py
    nuke._idle()  # the view knob follows the script's views
    assert group["view"].values() == ["left", "right"]
    plate = Path(shot.plate)
    for view in ("left", "right"):
        shutil.copytree(plate.parent, tmp_path / "stereo" / view)
    reads["plate"]["file"].setValue(str(tmp_path / "stereo" / "%V" / plate.name))
    nuke._user_sets(group, "view", "right")
    sender = _send(nk, group)
    v1 = tmp_path / "out" / "demo_plate_right_void_v001"
    assert group["status"].value() == f"done: v001, {FRAMES} frames in {v1}", sender.state
    assert sender.plan.spec.plate == str(tmp_path / "stereo" / "right" / plate.name)
    # The rendered matte: one view, not one pass per view of the script.
    assert nuke._executed == [("VOIDRemove.write_object", f) for f in shot.frames]


def test_main_thread_rules(nk):
    nuke, _, nuke_send = nk
    # NDG threading: executeInMainThread* from the main thread hangs Nuke; the fake refuses it,
    # and on_main calls directly there.
    with pytest.raises(RuntimeError, match="from the main thread"):
        nuke.executeInMainThreadWithResult(lambda: 1)
    assert nuke_send.on_main(lambda a: a + 1, 1) == 2


def test_a_refused_token_is_said_before_rendering(nk, shot, tmp_path, server, monkeypatch):
    nuke, _, _ = nk
    bad = tmp_path / "bad_token"
    bad.write_text("0" * len(server.token_file.read_text().strip()))
    bad.chmod(0o600)  # private, as the client asks of a token file: only its value is wrong
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(bad))
    group, _ = _node(nk, shot, tmp_path, server.port, object_through="Multiply")
    sender = _send(nk, group)
    line = group["status"].value()
    # The handshake proves the token both ways (issue 21): a wrong token reads as a server that
    # cannot prove it holds ours, a token problem, never "not reachable".
    assert sender.state == "error" and "could not prove it holds your token" in line
    assert "not reachable" not in line
    assert nuke._executed == []  # nothing rendered for a job that could not be sent
