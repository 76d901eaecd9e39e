"""Pictures and retry for hosts that cannot read EXR, against a real server with the preview
engine: a result frame and its plate as small PNGs (decoded here by OpenImageIO, not by the
code that wrote them), the contact sheet, and a finished job sent again by the server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _server_fakes import private_config, start_server  # noqa: F401

from void_vfx.client import connect
from void_vfx.errors import VoidVfxError
from void_vfx.job.spec import JobSpec
from void_vfx.protocol.wire import MAX_PREVIEW_BYTES, MAX_SHEET_BYTES, PREVIEW_SIDE

SIZE = (48, 32)  # width, height
LAST = 1004


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """One server; a path-mode and a stream-mode job of the same 4-frame shot, both done."""
    from void_vfx.demo.run import build_spec, make_demo_shot

    tmp = tmp_path_factory.mktemp("pictures")
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")  # the client's job notes stay here
    srv = start_server(tmp, engine="preview", process_fn=None)
    shot = make_demo_shot(tmp / "shot", frames=4, size=SIZE, camera_pan=False)
    spec = build_spec(shot, "preview", str(tmp / "out"))
    spec.window.min_length = 5
    client = connect("127.0.0.1", srv.port, token=srv.token)
    ids = {}
    for mode in ("path", "stream"):
        ids[mode] = client.submit(spec, files_mode=mode)
        client.follow(ids[mode], callback=lambda s, e: None, poll_s=0.05)
        assert client.status(ids[mode])["state"] == "done"
    yield srv, client, ids, shot, tmp
    client.close()
    srv.close()
    if saved is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = saved


def _decode(png: bytes, tmp: Path) -> np.ndarray:
    import OpenImageIO as oiio

    path = tmp / "decoded.png"
    path.write_bytes(png)
    buf = oiio.ImageBuf(str(path))
    assert not buf.has_error, buf.geterror()
    return buf.get_pixels(oiio.UINT8).astype(np.int16)


def _matte(path_pattern: str, frame: int) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path_pattern.replace("####", f"{frame:04d}"))
    return buf.get_pixels(oiio.FLOAT)[..., -1] > 0


@pytest.mark.parametrize("mode", ["path", "stream"])
def test_latest_frame_before_and_after(jobs, mode, tmp_path):
    srv, client, ids, shot, _ = jobs
    pics = client.preview(ids[mode])
    assert (pics["frame"], pics["first"], pics["last"]) == (LAST, 1001, LAST)
    before, after = (_decode(pics[k], tmp_path) for k in ("before", "after"))
    assert before.shape == after.shape == (SIZE[1], SIZE[0], 3)  # under 512: not scaled
    assert max(len(pics["before"]), len(pics["after"])) <= MAX_PREVIEW_BYTES
    diff = np.abs(after - before).max(axis=2)
    inside = _matte(shot.primary, LAST) | _matte(shot.affected, LAST)
    assert inside.any() and diff[inside].mean() > 8  # the object is gone in "after"
    # far from the mask (8 px) the picture is the plate's, but for the fill's soft edge
    from scipy.ndimage import binary_dilation

    far = ~binary_dilation(inside, iterations=8)
    assert far.sum() > 200 and diff[far].mean() < 0.5 and np.median(diff[far]) == 0
    # While a job runs, its frames are found in the folder it holds (no record yet).
    srv.store.update(ids[mode], state="running")
    try:
        running = client.preview(ids[mode])
    finally:
        srv.store.update(ids[mode], state="done")
    assert running["frame"] == LAST and running["after"] == pics["after"]
    # A frame asked by number; one the job did not write is refused with the frames it did.
    assert client.preview(ids[mode], 1002)["frame"] == 1002
    with pytest.raises(VoidVfxError, match=r"frame 999 has no result file .*1001-1004"):
        client.preview(ids[mode], 999)


def test_preview_is_scaled_to_its_bound():
    from void_vfx.review.preview import fit_within, png_bytes

    big = np.random.default_rng(0).random((1080, 1920, 3), np.float32)
    small = fit_within(big, PREVIEW_SIDE)
    assert small.shape == (288, 512, 3)  # 1920x1080 to 512 wide, aspect kept
    assert png_bytes(small)[:8] == b"\x89PNG\r\n\x1a\n"


def test_contact_sheet_and_refusals(jobs, tmp_path):
    srv, client, ids, shot, _ = jobs
    sheet = client.review_sheet(ids["path"])
    assert sheet["name"] == "demo_plate.####.exr"
    assert len(sheet["contact_sheet"]) <= MAX_SHEET_BYTES
    img = _decode(sheet["contact_sheet"], tmp_path)
    assert img.shape[1] == 4 * 320 + 3 * 4  # plate | mask | result | difference, 320 px each
    # A job not started has nothing to show; a wrong type never reaches the server's code.
    waiting = client.submit(
        JobSpec.from_json(client._memo[ids["path"]]["spec"]),
        start=False,
    )
    with pytest.raises(VoidVfxError, match=f"job {waiting} is created: .* yet"):
        client.preview(waiting)
    with pytest.raises(VoidVfxError, match="not done"):
        client.review_sheet(waiting)
    with pytest.raises(TypeError):
        client.preview(ids["path"], "1004")
    with pytest.raises(TypeError, match="whole number"):  # the server checks it too
        client.call("preview", ids["path"], True)
    with pytest.raises(VoidVfxError, match="malformed"):
        client.call("preview", "../../etc", None)
    client.delete(waiting)


def test_retry_by_the_server(jobs):
    srv, client, ids, shot, tmp = jobs
    for mode in ("stream", "path"):
        new = client.retry(ids[mode])
        client.follow(new, callback=lambda s, e: None, poll_s=0.05)
        assert client.status(new)["state"] == "done" and client.status(new)["mode"] == mode
        events = [e["message"] for e in client.events(new)[0]]
        assert f"sent again from 127.0.0.1: a retry of job {ids[mode]}" in events
        # the same frames: the same uploads (linked) or plate files, the same settings
        assert len(client.list_results(new)) == len(client.list_results(ids[mode])) == 4
        assert _decode(client.preview(new)["after"], tmp).tolist() == (
            _decode(client.preview(ids[mode])["after"], tmp).tolist()
        )
        if mode == "path":  # the next free version
            assert client.status(new)["out_dir"].endswith("demo_plate_void_v003")
        client.delete(new)
    waiting = client.submit(
        JobSpec.from_json(client._memo[ids["stream"]]["spec"]),
        files_mode="stream",
        start=False,
    )
    with pytest.raises(VoidVfxError, match=f"job {waiting} is created: only a finished job"):
        client.retry(waiting)
    client.delete(waiting)


def test_a_swapped_output_folder_is_not_read(jobs, tmp_path):
    """The version folder replaced by a link to another folder after the job finished: the
    preview reads nothing through it."""
    srv, client, ids, shot, tmp = jobs
    folder = Path(client.status(ids["path"])["out_dir"])
    moved = folder.with_name(folder.name + "_moved")
    folder.rename(moved)
    folder.symlink_to(moved, target_is_directory=True)
    try:
        with pytest.raises(VoidVfxError, match="moved or replaced"):
            client.preview(ids["path"])
    finally:
        folder.unlink()
        moved.rename(folder)
