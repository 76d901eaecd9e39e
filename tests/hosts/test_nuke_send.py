"""The VOID Remove node end to end: fake Nuke, real EXRs, the real core and a real preview server.

The comp is the demo shot (13 frames, 96x64, frames 1001-1013) read by Reads; the object matte goes
through a Multiply, so Send must render it, while the plate is sent as the files it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes_nuke import graph, harness

from void_vfx.client import connect
from void_vfx.ui.job_records import load_spec

FRAMES = 13


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from void_vfx.demo.run import make_demo_shot

    folder = tmp_path_factory.mktemp("shot")
    return make_demo_shot(folder, frames=FRAMES, size=(96, 64), camera_pan=False)


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
    group, reads = harness.comp(nuke, nuke_node, shot, object_through="Multiply", **kw)
    for knob, value in (
        ("engine", "preview"),
        ("min_window", 13),
        ("server", f"127.0.0.1:{port}"),
        ("output_dir", str(tmp_path / "out")),
    ):
        group[knob].setValue(value)
    return group, reads


def _press_send(nk, group, until=None, timeout=60.0):
    nuke, _, nuke_send = nk
    group["send"].execute()
    sender = nuke_send.ACTIVE.get(group.fullName())
    assert sender is not None, group["status"].value()
    assert nuke._process_events(until=until or sender.finished.is_set, timeout=timeout)
    return sender


def _pixels(path: str) -> np.ndarray:
    import OpenImageIO as oiio

    return oiio.ImageBuf(path).get_pixels(oiio.FLOAT)


def test_send_reads_back_the_result_and_a_second_send_keeps_v001(nk, shot, tmp_path, server):
    nuke, nuke_node, _ = nk
    group, _ = _node(nk, shot, tmp_path, server.port)
    assert group.input(0).name() == "Read_plate"  # the selected Read became the plate
    sender = _press_send(nk, group)
    out = tmp_path / "out"
    v1 = out / "demo_plate_void_v001"
    assert group["status"].value() == f"done: v001, {FRAMES} frames in {v1}"
    assert group["version"].values() == ["none", "v001"] and group["version"].value() == "v001"
    assert group["progress"].value() == 100.0
    read = group.node("result")
    assert read["file"].value() == str(v1 / "demo_plate_void_v001.####.exr")
    assert [read[k].value() for k in ("first", "last", "origfirst", "origlast")] == [1001, 1013] * 2
    assert read["colorspace"].value() == shot.colourspace and read["on_error"].value() == "error"
    assert sorted(p.name for p in v1.iterdir()) == [
        f"demo_plate_void_v001.{f}.exr" for f in shot.frames
    ]
    # Only the matte behind the Multiply was rendered, in one execute (one progress meter) on
    # the main thread; Send's knob changes are one undo step.
    assert nuke._executed == [("VOIDRemove.write_object", f) for f in shot.frames]
    assert nuke._meters == 1 and nuke._undo_groups == ["VOID Remove Send"]
    spec = json.loads(load_spec(sender.job_id))
    assert spec["plate"] == shot.plate and spec["affected"]["path"] == shot.affected
    assert "/void_send_inputs/" in spec["primary"]["path"] and spec["frame_range"] == [1001, 1013]
    assert not (out / "void_send_inputs").exists()  # the rendered matte went with the job
    # The node's output is the cleaned plate: the result frame, equal to the plate away from
    # the mattes (dilated by more than the feather) and different on the object.
    frame = 1007
    result = _pixels(str(v1 / f"demo_plate_void_v001.{frame}.exr"))
    plate = _pixels(shot.plate.replace("####", str(frame)))
    shown = graph.evaluate(group, frame)["planes"]
    assert np.array_equal(
        np.stack([shown[f"rgba.{c}"] for c in ("red", "green", "blue")], -1), result
    )
    assert result.shape == plate.shape
    mattes = (
        np.maximum(
            _pixels(shot.primary.replace("####", str(frame)))[..., 0],
            _pixels(shot.affected.replace("####", str(frame)))[..., 0],
        )
        > 0
    )
    ys, xs = np.nonzero(mattes)
    far = np.ones_like(mattes)
    far[max(ys.min() - 12, 0) : ys.max() + 13, max(xs.min() - 12, 0) : xs.max() + 13] = False
    assert far.sum() > 500 and np.array_equal(result[far], plate[far])
    assert not np.array_equal(result[mattes], plate[mattes])

    _press_send(nk, group)
    assert group["version"].values() == ["none", "v001", "v002"]
    assert group["version"].value() == "v002"
    assert len(list(v1.iterdir())) == FRAMES  # v001 kept, untouched
    nuke._user_sets(group, "version", "v001")
    assert read["file"].value() == str(v1 / "demo_plate_void_v001.####.exr")
    assert group.node("switch")["which"].value() == 1
    nuke._user_sets(group, "version", "none")
    assert group.node("switch")["which"].value() == 0
    shown = graph.evaluate(group, frame)["planes"]["rgba.red"]
    assert np.array_equal(shown, plate[..., 0])  # "none" shows the plate again


def test_cancel_on_the_render_meter_leaves_nothing(nk, shot, tmp_path, server):
    nuke, _, nuke_send = nk
    group, _ = _node(nk, shot, tmp_path, server.port)
    with connect("127.0.0.1", server.port, token=server.token) as c:
        before = len(c.jobs())
    nuke._cancel_render_after = 3  # the artist presses Cancel on nuke.execute's meter
    sender = _press_send(nk, group)
    assert sender.state == "cancelled"
    assert group["status"].value() == "cancelled while rendering; nothing was sent"
    assert len(nuke._executed) == 3
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []  # no version, no rendered frames
    with connect("127.0.0.1", server.port, token=server.token) as c:
        assert len(c.jobs()) == before  # nothing reached the server
    assert group.node("write_object")["disable"].value() is True


def test_cancel_a_sent_job_leaves_no_version(nk, shot, tmp_path, server):
    nuke, _, _ = nk
    group, _ = _node(nk, shot, tmp_path, server.port)
    sender = _press_send(nk, group, until=lambda: bool(group["job_id"].value()))
    group["cancel"].execute()
    assert nuke._process_events(until=sender.finished.is_set)
    assert sender.state == "cancelled"
    assert group["status"].value().startswith("cancelled: ")
    assert group["version"].value() == "none" and group.node("switch")["which"].value() == 0
    versions = list((tmp_path / "out").glob("demo_plate_void_v*"))
    assert versions == []  # a cancelled path-mode job drops its reserved folder
    assert not (tmp_path / "out" / "void_send_inputs").exists()


def test_server_down_is_a_status_line(nk, shot, tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(tmp_path / "no_token"))  # not the token's fault

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    group, _ = _node(nk, shot, tmp_path, port)
    sender = _press_send(nk, group)
    assert group["status"].value() == (
        f"server 127.0.0.1:{port} is not reachable: start it with 'void-vfx serve' or fix the "
        "server knob"
    )
    assert nk[0]._executed == []  # checked before anything was rendered
    assert sender.state == "error" and not list((tmp_path / "out").glob("demo_plate_void_v*"))
    assert not (tmp_path / "out" / "void_send_inputs").exists()


def test_missing_matte_is_a_status_line_and_starts_nothing(nk, shot, tmp_path, server):
    nuke, nuke_node, nuke_send = nk
    group, _ = _node(nk, shot, tmp_path, server.port)
    group.setInput(1, None)
    group["send"].execute()
    assert group["status"].value() == (
        "error: object: connect the object matte (a Roto of what to remove)"
    )
    assert nuke_send.ACTIVE == {} and nuke._queue.empty() and nuke._tasks == []


def test_command_line_nuke_sends_inline_and_exits_with_the_state(
    monkeypatch, tmp_path, shot, server
):
    monkeypatch.setenv("VOID_VFX_TOKEN_FILE", str(server.token_file))
    nuke, nuke_node, _ = harness.fresh(monkeypatch, tmp_path, gui=False)
    import importlib

    batch = importlib.import_module("void_vfx.hosts.nuke_batch")
    group, _ = _node((nuke, nuke_node, None), shot, tmp_path, server.port)
    assert batch.main(["--node", "VOIDRemove", "--save"]) == 0
    assert group["version"].value() == "v001" and nuke._saved == ["Root"]
    assert len(list(Path(tmp_path / "out" / "demo_plate_void_v001").iterdir())) == FRAMES
    assert batch.main(["--node", "NoSuchNode"]) == batch.NOT_RUN
