"""What a user reads: hints they can type, said once, information versus warnings, progress in
logs, Ctrl-C outcomes, and ``void-vfx plan`` on a real plate. Real files, a real local server."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from _server_fakes import private_config, start_server  # noqa: F401

from void_vfx.cli.main import main

SIZE = (96, 64)


@pytest.fixture
def shot(tmp_path):
    from void_vfx.demo.run import make_demo_shot

    return make_demo_shot(tmp_path / "shot", frames=3, size=SIZE, camera_pan=False)


def _write_grey(path: Path, values: np.ndarray, fmt: str = "uint8") -> None:
    """A one-channel image as a paint package saves it (OIIO calls the channel Y)."""
    buf = oiio.ImageBuf(oiio.ImageSpec(values.shape[1], values.shape[0], 1, fmt))
    buf.set_pixels(oiio.ROI(), values[..., None].astype(np.float32))
    assert buf.write(str(path)), buf.geterror()


def _matte(shot, frame: int) -> np.ndarray:
    from void_vfx.media.image_io import read_image

    return read_image(shot.primary, "A", frame=frame).pixels[..., 0]


# -- inputs --------------------------------------------------------------------------------------
def test_a_grey_tiff_quadmask_is_the_mask_with_the_default_channel(shot, tmp_path, capsys):
    for f in shot.frames:
        q = np.where(_matte(shot, f) > 0.1, 0.0, 1.0)  # remove (0) on the ball, keep elsewhere
        _write_grey(tmp_path / f"qm.{f}.tif", q)
    out = tmp_path / "out"
    rc = main(
        [
            "remove",
            shot.plate,
            "--quadmask",
            str(tmp_path / "qm.####.tif"),
            "--local",
            "--engine",
            "preview",
            "-o",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    written = sorted((out / "demo_plate_void_v001").iterdir())
    assert [p.name for p in written] == [f"demo_plate_void_v001.{f}.exr" for f in shot.frames]
    plate = oiio.ImageBuf(shot.paths("plate")[1]).get_pixels(oiio.FLOAT)
    result = oiio.ImageBuf(str(written[1])).get_pixels(oiio.FLOAT)
    ball = _matte(shot, shot.frames[1]) > 0.5
    assert not np.array_equal(result[ball], plate[ball])  # the quadmask was used


def test_a_missing_channel_names_the_option_that_picks_one(shot, tmp_path, capsys):
    # The plate has R, G, B: as the primary matte its default channel 'a' is not there.
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.plate,
            "--local",
            "--engine",
            "preview",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    first = shot.paths("plate")[0]
    assert (
        f"{first} (frame 1001): no channel 'a'; the file has R, G, B: pick one with "
        '--primary-channel (or "primary": {"channel": ...} in a --spec file), e.g. \'R\''
    ) in err
    assert not (tmp_path / "out").exists()  # checked before anything was submitted


def test_mask_resize_is_an_option_and_the_hint_names_it(shot, tmp_path, capsys):
    for f in shot.frames:
        small = _matte(shot, f)[::2, ::2]
        _write_grey(tmp_path / f"half.{f}.png", small)
    args = [
        "remove",
        shot.plate,
        "--primary",
        str(tmp_path / "half.####.png"),
        "--local",
        "--engine",
        "preview",
        "--dilate",
        "2",
        "-o",
        str(tmp_path / "out"),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "the primary mask is 48x32 but the plate is 96x64" in err
    assert 'add --mask-resize ("mask": {"resize": true} in a --spec file)' in err
    assert not (tmp_path / "out").exists()  # said from the headers, before any job
    assert main([*args, "--mask-resize"]) == 0, capsys.readouterr().err
    assert len(list((tmp_path / "out" / "demo_plate_void_v001").iterdir())) == 3


def test_plan_on_a_plate_uses_its_frames_and_its_frame_rate(shot, capsys):
    from void_vfx.render.windows import WindowPlan

    assert main(["plan", shot.plate, "--json"]) == 0
    plan = WindowPlan.from_json(capsys.readouterr().out)
    assert (plan.first, plan.last, plan.fps) == (1001, 1003, "24")  # the header's 24/1
    assert main(["plan", shot.plate, "--range", "1001-1500"]) == 1
    assert (
        f"{shot.plate}: --range 1001-1500 asks for 500 frames but the plate holds 3 "
        "(1001-1003); give a range inside 1001-1003, or leave --range out to plan the whole plate"
    ) in capsys.readouterr().err
    assert main(["plan", shot.plate, "--range", "1002-1003", "--json"]) == 0
    plan = WindowPlan.from_json(capsys.readouterr().out)
    assert (plan.first, plan.last, plan.fps) == (1002, 1003, "24")
    # --range alone stays a pure plan: no plate, no frame rate unless given
    assert main(["plan", "--range", "1001-1500", "--json"]) == 0
    plan = WindowPlan.from_json(capsys.readouterr().out)
    assert (plan.first, plan.last, plan.fps) == (1001, 1500, None)


# -- what is said ----------------------------------------------------------------------------
def test_settings_that_would_do_nothing_are_said_once(shot, tmp_path, capsys):
    from void_vfx.cli.preflight import setting_warnings
    from void_vfx.demo.run import build_spec

    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.sampling.passes = 2
    (text,) = setting_warnings(spec)
    assert text.startswith("--passes 2 does nothing on the preview engine")
    spec = build_spec(shot, "void", str(tmp_path / "out"))
    assert setting_warnings(spec) == []  # the demo's prompt
    spec.prompt = "  "
    (text,) = setting_warnings(spec)
    assert text.startswith("no --prompt: VOID is steered by a prompt that describes the scene")
    # through the command: said once, before the job runs, with what to type
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.primary,
            "--primary-channel",
            "A",
            "--dilate",
            "2",
            "--passes",
            "2",
            "--local",
            "--engine",
            "preview",
            "-o",
            str(tmp_path / "cli"),
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert err.count("--passes 2 does nothing on the preview engine") == 1
    assert "Pass 2 needs the VOID engine" not in err  # one pass was sent: no second note
    assert err.index("--passes 2 does nothing") < err.index("state: running")
    assert "--engine void" in err and "drop --passes 2" in err


def test_a_failure_is_said_once_and_leaves_no_new_folder(shot, tmp_path, capsys):
    for f in shot.frames:
        _write_grey(tmp_path / f"empty.{f}.png", np.zeros((SIZE[1], SIZE[0])))
    out = tmp_path / "new_out"
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            str(tmp_path / "empty.####.png"),
            "--local",
            "--engine",
            "preview",
            "-o",
            str(out),
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("Every window was skipped") == 1, err
    assert not out.exists()


def test_a_header_colour_space_is_information_a_guess_is_a_warning(shot, tmp_path):
    from void_vfx.cli.preflight import colour_note
    from void_vfx.demo.run import build_spec
    from void_vfx.render.shot import Shot

    spec = build_spec(shot, "preview", str(tmp_path / "out"))
    spec.colourspace = ""
    assert colour_note(spec) == (
        "plate colour space Linear Rec.709 (sRGB) (rule: attribute; its colorInteropID "
        "attribute is 'lin_rec709_scene'); --colourspace NAME overrides it"
    )
    warnings: list[str] = []
    Shot.open(spec, on_warning=warnings.append)
    assert warnings == []
    # an EXR that names nothing: the guess is a warning that says from what and what to type
    from void_vfx.media.image_write import write_exr

    for f in shot.frames:
        write_exr(str(tmp_path / f"bare.{f}.exr"), np.full((SIZE[1], SIZE[0], 3), 0.5, np.float32))
    spec.plate = str(tmp_path / "bare.####.exr")
    rule = (
        "Linear Rec.709 (sRGB) (rule: format default; an OpenEXR file without chromaticities: "
        "Rec.709 primaries and D65 white (OpenEXR Standard Attributes), scene-linear values)"
    )
    assert colour_note(spec) == f"plate colour space {rule}; --colourspace NAME overrides it"
    Shot.open(spec, on_warning=warnings.append)
    (text,) = warnings
    assert text == (
        f"{tmp_path / 'bare.1001.exr'} (frame 1001): colour space {rule}; if that is wrong, give "
        '--colourspace NAME ("colourspace" in a --spec file)'
    )


def test_progress_in_a_log_has_no_carriage_returns_and_no_repeats():
    from void_vfx.client.progress import make_bar
    from void_vfx.demo.run import _printer

    log = io.StringIO()  # not a terminal
    bar = make_bar("job1", stream=log)
    statuses = [
        ("queued", 0, 0, 0, 0, ""),
        ("running", 0, 2, 0, 0, "window 0: preparing"),
        ("running", 0, 2, 40, 86, "step"),
        ("running", 0, 2, 86, 86, "step"),
        ("running", 1, 2, 86, 86, "window 0: committed"),
        ("running", 1, 2, 30, 86, "step"),
        ("done", 2, 2, 86, 86, "finished in 3.0 s"),
    ]
    for state, w, ws, s, ss, msg in statuses:
        bar(dict(state=state, window=w, windows=ws, step=s, steps=ss, message=msg))
    bar(None)
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines() == [
        "job1: running: window 0/2 (window 0: preparing)",
        "job1: running: window 1/2, step 86/86 (window 0: committed)",
        "job1: done: window 2/2 (finished in 3.0 s)",
    ]
    demo_log = io.StringIO()
    show = _printer(False, demo_log)
    for state, w, ws, s, ss, msg in statuses:
        show(dict(state=state, window=w, windows=ws, step=s, steps=ss, message=msg), ())
    assert demo_log.getvalue().splitlines() == [
        "  running: window 1/2",  # no "step 0/0" before the steps are known
        "  running: window 1/2, step 40/86",
        "  running: window 1/2, step 86/86",
        "  running: window 2/2",  # the last window's 86/86 is not said again
        "  running: window 2/2, step 30/86",
        "  done: window 2/2",
    ]


# -- Ctrl-C ------------------------------------------------------------------------------------
def test_after_ctrl_c_the_message_says_what_was_left(shot, tmp_path):
    from void_vfx.client import connect
    from void_vfx.client.progress import after_interrupt
    from void_vfx.demo.run import build_spec

    srv = start_server(tmp_path, engine="preview", process_fn=None)
    try:
        spec = build_spec(shot, "preview", str(tmp_path / "out"))
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path")
            assert c.follow(job, callback=lambda s, e: None, poll_s=0.05)["state"] == "done"
            folder = tmp_path / "out" / "demo_plate_void_v001"
            # Ctrl-C after the last window: the version is complete and the message says where
            assert after_interrupt(c, job) == (
                f"job {job} had finished before the cancel reached it: the complete version "
                f"is in {folder}"
            )
            assert len(list(folder.glob("*.exr"))) == 3
            queued = c.submit(spec, files_mode="path", start=False)
            c.cancel(queued)
            assert (
                after_interrupt(c, queued) == f"job {queued} cancelled: no new version was written"
            )
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["demo_plate_void_v001"]
    finally:
        srv.close()


@pytest.mark.parametrize("late", [False, True])
def test_ctrl_c_leaves_a_complete_version_and_says_so_or_nothing(shot, tmp_path, capsys, late):
    from void_vfx.client.local import run_local_job
    from void_vfx.demo.run import build_spec

    spec = build_spec(shot, "preview", str(tmp_path / "out"))

    def interrupt(status, events):
        if not late or status["state"] == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_local_job(spec, progress=interrupt, files_mode="path")
    err = capsys.readouterr().err
    versions = [p for p in (tmp_path / "out").glob("demo_plate_void_v*") if p.is_dir()]
    if "the complete version is in" in err:
        (folder,) = versions
        assert str(folder) in err and len(list(folder.glob("*.exr"))) == 3
    else:
        assert "cancelled: no new version was written" in err and versions == []
    if late:
        assert "the complete version is in" in err


def test_ctrl_c_during_a_streamed_download_leaves_no_half_version(
    shot, tmp_path, capsys, monkeypatch
):
    from void_vfx.client.session import Client

    srv = start_server(tmp_path, engine="preview", process_fn=None)
    real = Client._download_one
    fetched = []

    def one_then_ctrl_c(self, job_id, result, local):
        if fetched:
            raise KeyboardInterrupt  # the user presses Ctrl-C with one frame downloaded
        real(self, job_id, result, local)
        fetched.append(local)

    monkeypatch.setattr(Client, "_download_one", one_then_ctrl_c)
    try:
        conn = ["--server", f"127.0.0.1:{srv.port}", "--token-file", str(srv.token_path)]
        out = tmp_path / "cli_out"
        out.mkdir()
        rc = main(
            [
                "remove",
                shot.plate,
                "--primary",
                shot.primary,
                "--primary-channel",
                "A",
                "--dilate",
                "2",
                "--engine",
                "preview",
                "-o",
                str(out),
                "--files",
                "stream",
                *conn,
            ]
        )
    finally:
        srv.close()
    assert rc == 130 and len(fetched) == 1
    err = capsys.readouterr().err
    assert f"interrupted: no new version was left in {out};" in err
    assert list(out.iterdir()) == []  # the half-downloaded v001 went again
