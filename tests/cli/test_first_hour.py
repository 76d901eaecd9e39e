"""What a newcomer meets in the first hour, through the real command line: one line (never a
traceback) for a missing extra, hints that can be typed, and nothing created among the plates."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.cli.main import main

SIZE = (96, 64)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shot(tmp_path):
    from void_vfx.demo.run import make_demo_shot

    return make_demo_shot(tmp_path / "shot", frames=3, size=SIZE, camera_pan=False)


def _cli_without(modules: tuple[str, ...], argv: list[str], env: dict | None = None, cwd=None):
    """``void-vfx ARGV`` in a fresh Python where ``modules`` cannot be imported, as in an install
    without their extra: the import system answers ModuleNotFoundError for them, as it does
    when they are not installed."""
    code = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {modules!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None
        sys.meta_path.insert(0, Absent())
        from void_vfx.cli.main import main
        sys.exit(main({argv!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


# -- a missing extra is one line that says what to install ----------------------------------------
@pytest.mark.parametrize(
    ("absent", "argv", "module", "extra"),
    [
        (("torch",), ["fetch-weights", "--dest", "/nonexistent/w"], "torch", "server"),
        (("torch",), ["serve", "--engine", "void", "--port", "1"], "torch", "server"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_install(absent, argv, module, extra, tmp_path):
    private = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = _cli_without(absent, argv, env=private)
    assert done.returncode == 1
    line = _one_line(done)
    # This checkout is a clone (an editable install): the line installs the extra from it.
    assert line == (
        f"void-vfx {argv[0]}: this needs {module}, which is not installed here (the '{extra}' "
        f"extra): {sys.executable} -m pip install -e '{REPO}[{extra}]'"
    )


def test_the_panel_says_why_it_cannot_open_instead_of_aborting(tmp_path):
    no_display = {"DISPLAY": "", "WAYLAND_DISPLAY": "", "QT_QPA_PLATFORM": ""}
    done = _cli_without((), ["panel"], env=no_display)
    assert done.returncode == 1
    assert _one_line(done).startswith(
        "void-vfx panel: no display to open a window on ($DISPLAY is not set)"
    )
    done = _cli_without(("PySide6", "PySide2"), ["panel"], env={**no_display, "DISPLAY": ":7"})
    assert done.returncode == 1
    line = _one_line(done)
    assert line.startswith("void-vfx panel: no Qt binding: install PySide6")
    assert line.endswith(f"install it with: {sys.executable} -m pip install -e '{REPO}[ui]'")


def test_the_panel_names_a_missing_x11_library_where_qt_would_abort():
    """Where the xcb plugin's libraries are missing (this machine has no X11 libraries), Qt
    aborts the process; the panel says which library and the packages that bring it."""
    import ctypes

    from void_vfx.ui.display import _xcb_plugin

    plugin = _xcb_plugin()
    if plugin is None:
        pytest.skip("this Qt binding ships no xcb platform plugin")
    try:
        ctypes.CDLL(plugin)
    except OSError as ex:
        missing = str(ex).split(":")[0]
    else:
        pytest.skip("the X11 libraries Qt needs are installed here")
    done = _cli_without((), ["panel"], env={"DISPLAY": ":7", "QT_QPA_PLATFORM": ""})
    assert done.returncode == 1
    line = _one_line(done)
    assert f"{missing} is missing" in line and "sudo apt-get install libxcb-cursor0" in line


# -- hints that can be typed -------------------------------------------------------------------
def test_a_misspelt_option_gets_the_nearest_one(capsys):
    assert main(["remove", "p.####.exr", "--primery", "roto.####.exr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: void-vfx remove")
    assert (
        "void-vfx remove: error: unrecognized arguments: --primery (did you mean --primary?) "
        "roto.####.exr; 'void-vfx remove --help' lists them"
    ) in err


def test_a_bad_window_length_lists_the_valid_ones(shot, tmp_path, capsys):
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.primary,
            "--primary-channel",
            "A",
            "--min-window",
            "20",
            "--local",
            "--engine",
            "preview",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 1
    assert (
        "window.min_length: 20 is not a valid window length (8j + 5 frames): the nearest are 13 "
        "or 21; valid: 5, 13, 21, 29, ..., 85, ..., 189, 197"
    ) in capsys.readouterr().err


def test_no_server_running_names_local(shot, tmp_path, capsys, monkeypatch):
    import socket

    token = tmp_path / "token"
    token.write_text("0" * 64)
    token.chmod(0o600)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.primary,
            "--primary-channel",
            "A",
            "--server",
            f"127.0.0.1:{port}",
            "--token-file",
            str(token),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "cannot reach a void-vfx server at 127.0.0.1" in err
    assert err.rstrip().endswith("or run the job here without a server: add --local")


def test_a_png_quadmask_that_needed_snapping_is_not_told_to_be_a_png(shot, tmp_path, capsys):
    from void_vfx.media.image_io import read_image

    for f in shot.frames:
        ball = read_image(shot.primary, "A", frame=f).pixels[..., 0] > 0.1
        q = np.where(ball, 0, 255).astype(np.uint8)
        edge = np.roll(ball, 1, axis=1) & ~ball
        q[edge] = 100  # an anti-aliased edge: values far from the four
        buf = oiio.ImageBuf(oiio.ImageSpec(SIZE[0], SIZE[1], 1, "uint8"))
        buf.set_pixels(oiio.ROI(), q[..., None])
        assert buf.write(str(tmp_path / f"qm.{f}.png"))
    rc = main(
        [
            "remove",
            shot.plate,
            "--quadmask",
            str(tmp_path / "qm.####.png"),
            "--local",
            "--engine",
            "preview",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert "quadmask snapped to 0/63/127/255 on 3 of 3 frames" in err
    assert "deliver it as PNG" not in err
    assert "Its values are not exactly 0/63/127/255" in err


# -- nothing among the plates ----------------------------------------------------------------------
def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_nothing_is_created_under_the_plate_folder_whatever_the_working_folder(
    shot, tmp_path, capsys, monkeypatch
):
    plates = Path(shot.plate).parent
    (plates / "work").mkdir()
    before = _tree(plates)
    args = [
        "remove",
        shot.plate,
        "--primary",
        shot.primary,
        "--primary-channel",
        "A",
        "--local",
        "--engine",
        "preview",
    ]
    for cwd, extra in ((plates, []), (plates / "work", []), (tmp_path, ["-o", str(plates)])):
        monkeypatch.chdir(cwd)
        assert main(args + extra) == 1
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "nothing is written among the plates; give an output folder elsewhere, e.g. -o" in (
            line
        )
        assert _tree(plates) == before
    # Run from elsewhere without -o: the current folder, as promised.
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "demo_plate_void_v001")) == [
        f"demo_plate_void_v001.{f}.exr" for f in shot.frames
    ]
    assert _tree(plates) == before


def test_an_output_pattern_is_taken_as_the_output_name(shot, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.primary,
            "--primary-channel",
            "A",
            "--local",
            "--engine",
            "preview",
            "-o",
            str(out / "sh010_clean.####.exr"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["sh010_clean_void_v001", "sh010_clean_void_v001_review"]
    assert sorted(os.listdir(out / "sh010_clean_void_v001")) == [
        f"sh010_clean_void_v001.{f}.exr" for f in shot.frames
    ]
    assert "names files: they go to a new version folder in" in capsys.readouterr().err


# -- progress, whole -----------------------------------------------------------------------------
#: A running job's status as a server sends it: the render's counts under "progress".
RUNNING = {
    "state": "running",
    "window": 1,
    "windows": 3,
    "step": 3,
    "steps": 14,
    "message": "measuring optical flow",
    "progress": {
        "frames_read": 26,
        "frames_to_read": 39,
        "windows_done": 1,
        "windows": 3,
        "frames_written": 8,
        "frames_unchanged": 0,
        "frames": 30,
        "rate_fps": 2.44,
        "eta_s": 83.0,
        "done": 60,
        "total": 108,
    },
}


def test_a_log_gets_the_whole_progress_and_a_terminal_keeps_rate_and_estimate():
    import io

    from void_vfx.client.progress import fit_line, make_bar, progress_parts

    log = io.StringIO()
    make_bar("job1", stream=log)(RUNNING)
    assert log.getvalue() == (
        "job1: running: 8/30 frames written, 2.44 frames/s, about 1 min 23 s left, "
        "1/3 windows run, 26/39 frames read, step 3/14 (measuring optical flow)\n"
    )
    parts = progress_parts(RUNNING)
    wide = fit_line("job1 running", 60 / 108, parts, 200)
    assert wide == (
        "job1 running [###########.........]  55% | 8/30 frames written | 2.44 frames/s | "
        "about 1 min 23 s left | 1/3 windows run | 26/39 frames read | step 3/14"
    )
    # 80 columns: the bar goes before frames, rate or estimate would.
    assert fit_line("job1 running", 60 / 108, parts, 80) == (
        "job1 running  55% | 8/30 frames written | 2.44 frames/s | about 1 min 23 s left"
    )


def test_progress_under_a_pseudo_terminal_fits_and_in_a_pipe_is_whole(shot, tmp_path, capsys):
    import fcntl
    import pty
    import struct
    import termios

    args = [
        sys.executable,
        "-m",
        "void_vfx",
        "remove",
        shot.plate,
        "--primary",
        shot.primary,
        "--primary-channel",
        "A",
        "--local",
        "--engine",
        "preview",
        "-o",
        str(tmp_path / "o"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 72, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0, out.decode()
    os.close(master)
    redraws = [r for r in out.decode().replace("\r\n", "\n").split("\r") if "frames written" in r]
    assert redraws, out.decode()
    for line in redraws:
        shown = line.split("\n")[0].rstrip()
        assert len(shown) <= 71 and "frames written" in shown
    # In a pipe (not a terminal): plain whole lines, none cut, the rate in them.
    from void_vfx.cli.main import main

    pipe_args = args[3:-1] + [str(tmp_path / "p")]
    assert main(pipe_args) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    last = [line for line in err.splitlines() if "frames written" in line][-1]
    assert last == (
        f"demo_plate: done: 3/3 frames written, {last.split(', ')[1]}, 1/1 windows run, "
        "3/3 frames read (finished in " + last.split("(finished in ")[1]
    )
    assert last.split(", ")[1].endswith(" frames/s")


# -- soft roto edges -----------------------------------------------------------------------------
def test_a_soft_roto_edge_is_removed_with_the_object_but_not_far_noise():
    from void_vfx.render.quadmask import build_quadmask

    matte = np.zeros((5, 16), np.float32)
    matte[2, 2:5] = 1.0  # the solid part
    matte[2, 5] = 0.4  # its anti-aliased edge, beside it
    matte[2, 6] = 0.1  # the edge's faint outside, two pixels out
    matte[2, 1] = 0.01  # below the noise floor (0.02): not an edge
    matte[0, 15] = 0.3  # alone, 11 pixels from the solid part: noise, not an edge
    q = build_quadmask(matte, soft_edge_px=4)
    assert q[2].tolist() == [255, 255, 0, 0, 0, 0, 0] + [255] * 9
    assert q[0, 15] == 255
    # The old rule (the threshold alone) leaves the edge: the faint ring users saw.
    assert build_quadmask(matte)[2].tolist() == [255, 255, 0, 0, 0] + [255] * 11


def test_the_soft_edge_is_on_by_default_and_an_option(tmp_path):
    from void_vfx.cli.main import build_parser
    from void_vfx.cli.remove import build_remove_spec
    from void_vfx.job.spec import JobSpec

    assert (
        JobSpec.from_json('{"plate": "p.####.exr", "quadmask": {"path": "q.png"}}').mask.soft_edge
        == 4
    )
    args = build_parser().parse_args(
        ["remove", "p.####.exr", "--primary", "m.####.exr", "--soft-edge", "0", "-o", str(tmp_path)]
    )
    assert build_remove_spec(args, "preview").mask.soft_edge == 0


# -- a review of every job -----------------------------------------------------------------------
def test_every_job_gets_a_contact_sheet_and_a_labelled_movie_beside_its_version(shot, tmp_path):
    from void_vfx.review.draw import GAP, TEXT_HEIGHT

    out = tmp_path / "out"
    rc = main(
        [
            "remove",
            shot.plate,
            "--primary",
            shot.primary,
            "--primary-channel",
            "A",
            "--local",
            "--engine",
            "preview",
            "--output-mode",
            "patch",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    review = out / "demo_plate_void_v001_review"
    assert sorted(os.listdir(out)) == ["demo_plate_void_v001", "demo_plate_void_v001_review"]
    assert sorted(os.listdir(review)) == ["before_after.mp4", "contact_sheet.png"]
    sheet = oiio.ImageBuf(str(review / "contact_sheet.png"))
    spec = sheet.spec()
    # Four cells of 320 (plate, mask, result, difference) with 3 gaps; a title, the column
    # names and the legend, then one row per frame (3 frames: all shown), cells 320x213.
    cell_h = round(SIZE[1] * 320 / SIZE[0])
    assert spec.width == 4 * 320 + 3 * GAP
    assert spec.height == 3 * TEXT_HEIGHT + 3 * (cell_h) + 5 * GAP
    pixels = sheet.get_pixels(oiio.FLOAT)
    first_row = 3 * TEXT_HEIGHT + 3 * GAP
    label_box = pixels[first_row : first_row + TEXT_HEIGHT, :80]
    assert (label_box > 0.8).any()  # "frame 1001" written on the first plate cell
    # The difference column is black where the result is the plate (patch: over the plate)...
    diff = pixels[first_row + TEXT_HEIGHT :, 3 * (320 + GAP) :]
    assert np.median(diff) < 0.01
    # ...and not where the ball was removed.
    assert diff.max() > 0.2
    import imageio.v3 as iio

    movie = iio.imread(str(review / "before_after.mp4"))
    assert movie.shape[0] == len(shot.frames)
    assert movie.shape[2] == 2 * 480 and movie.shape[1] == round(SIZE[1] * 480 / SIZE[0]) // 2 * 2
    # --no-review: nothing beside the version.
    assert (
        main(
            [
                "remove",
                shot.plate,
                "--primary",
                shot.primary,
                "--primary-channel",
                "A",
                "--local",
                "--engine",
                "preview",
                "--no-review",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert sorted(os.listdir(out))[-1] == "demo_plate_void_v002"


def test_conform_progress_shows_each_shot_counts_and_the_batch_estimate():
    import io

    from void_vfx.conform.runner import Progress

    out = io.StringIO()
    progress = Progress(2, out, every_s=3600.0)
    progress.t0 -= 30.0  # the batch began 30 s ago
    shot = progress.shot(1, "sh010")
    shot(RUNNING, ())
    shot(RUNNING, ())  # nothing new to say: no second line
    # 60 of 108 units of the first of two shots: 27.8% of the batch in 30 s -> 78 s left
    assert out.getvalue().splitlines() == [
        "[1/2] sh010: running: 8/30 frames written, 2.44 frames/s, about 1 min 23 s left, "
        "1/3 windows run, 26/39 frames read, step 3/14 | batch 28%, about 1 min 18 s left"
    ]
