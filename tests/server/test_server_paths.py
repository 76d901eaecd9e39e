"""Paths checked once, then used by name: symlink swaps before start, mid-run and on cancel,
against a real server on 127.0.0.1. Every folder and file of a job is reached through a
descriptor the server holds, so a swap changes nothing it reads, writes, serves or deletes."""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _server_fakes import make_shot, private_config, start_server  # noqa: F401

from void_vfx.client import connect
from void_vfx.errors import ImageIOError, TransferError
from void_vfx.media.sequences import find_sequence

#: Set by a test: the stepwise process below waits on it after writing its first frame.
_gate = threading.Event()
_wrote_first = threading.Event()


def _stepwise(spec, engine_fn, job_dir, out_dir, progress, **_worker_kw):
    """Write one result per plate frame, asking the engine (and so cancel) after each; after
    the first frame wait until the test has done its swap."""
    from void_vfx.render.engine import WindowInput

    seq = find_sequence(spec.plate)
    frames = seq.frames(spec.frame_range)
    for i, f in enumerate(frames):
        Path(out_dir, f"shot_void.{f}.exr").write_bytes(b"RESULT %d" % f)
        if i == 0:
            _wrote_first.set()
            _gate.wait(10)
        engine_fn(WindowInput(np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 8, 8), np.uint8)))
        progress(i + 1, len(frames), "")
    return []


def _reading(spec, engine_fn, job_dir, out_dir, progress, **_worker_kw):
    """Once the test has swapped files (after the start's checks), read every plate frame
    through image_io (the server's guarded open); write one result."""
    from void_vfx.media.image_io import read_image

    _wrote_first.set()
    _gate.wait(10)
    seq = find_sequence(spec.plate)
    for f in seq.frames(spec.frame_range):
        read_image(seq.path(f), "rgb")
    Path(out_dir, "shot_void.exr").write_bytes(b"ok")
    return []


def _exr_shot(folder: Path, frames: int = 2):
    import OpenImageIO as oiio

    spec = make_shot(folder, frames=frames, size=16)
    src = Path(spec.plate).parent
    for f in range(1001, 1001 + frames):
        buf = oiio.ImageBuf(oiio.ImageSpec(16, 8, 3, "half"))
        assert buf.write(str(src / f"shot.{f}.exr"))
    return spec


def _secret(folder: Path, names: list[str]) -> dict[Path, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for n in names:
        (folder / n).write_bytes(b"SECRET " + n.encode())
        files[folder / n] = (folder / n).read_bytes()
    return files


def _wait(c, job: str, seconds: float = 20.0) -> dict:
    return c.follow(job, callback=lambda s, e: None, poll_s=0.05) if seconds else {}


def test_version_folder_swapped_before_start_writes_and_serves_nothing_outside(tmp_path):
    root = tmp_path / "root"
    srv = start_server(tmp_path, allow_read=[str(root)], allow_write=[str(root)])
    try:
        spec = make_shot(root, frames=2)
        secret = _secret(tmp_path / "private", ["shot_void.1001.exr", "token"])
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path", start=False)
            folder = Path(c.status(job)["out_dir"])
            folder.rename(folder.with_name("moved"))
            folder.symlink_to(tmp_path / "private", target_is_directory=True)
            c.start(job)
            status = _wait(c, job)
            assert status["state"] == "failed" and "moved or replaced" in status["message"]
            with pytest.raises(TransferError):
                c.call("download", job, "token", 0, 100)
        assert {p: p.read_bytes() for p in secret} == secret
        assert sorted(os.listdir(tmp_path / "private")) == ["shot_void.1001.exr", "token"]
    finally:
        srv.close()


def test_version_folder_swapped_mid_run_then_cancel_deletes_only_what_the_job_wrote(tmp_path):
    _gate.clear()
    _wrote_first.clear()
    srv = start_server(tmp_path, process_fn=_stepwise)
    try:
        spec = make_shot(tmp_path, frames=3)
        names = ["shot_void.1001.exr", "shot_void.1002.exr", "notes.txt"]
        secret = _secret(tmp_path / "private", names)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path")
            assert _wrote_first.wait(20)
            folder = Path(c.status(job)["out_dir"])
            moved = folder.with_name("moved")
            folder.rename(moved)  # another user in a shared folder swaps it for a link
            folder.symlink_to(tmp_path / "private", target_is_directory=True)
            c.cancel(job)
            _gate.set()
            assert _wait(c, job)["state"] == "cancelled"
        # The linked folder is untouched; the job's own folder (found by its descriptor, not
        # its name) lost what the job wrote. Moved away, it is no longer the folder its name
        # leads to, so it is left in place, empty.
        assert {p: p.read_bytes() for p in secret} == secret
        assert os.listdir(moved) == []
        assert folder.is_symlink()
    finally:
        _gate.set()
        srv.close()


def test_version_folder_swapped_mid_run_results_stay_in_the_held_folder(tmp_path):
    _gate.clear()
    _wrote_first.clear()
    srv = start_server(tmp_path, process_fn=_stepwise)
    try:
        spec = make_shot(tmp_path, frames=2)
        secret = _secret(tmp_path / "private", ["shot_void.1002.exr"])
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode="path")
            assert _wrote_first.wait(20)
            folder = Path(c.status(job)["out_dir"])
            moved = folder.with_name("moved")
            folder.rename(moved)
            folder.symlink_to(tmp_path / "private", target_is_directory=True)
            _gate.set()
            assert _wait(c, job)["state"] == "done"
            # Written through the held descriptor: into the real folder, not through the link.
            assert sorted(os.listdir(moved)) == ["shot_void.1001.exr", "shot_void.1002.exr"]
            assert {p: p.read_bytes() for p in secret} == secret
            # A download by the folder's name now meets the link: refused, nothing served.
            with pytest.raises(TransferError, match="moved or replaced"):
                c.call("download", job, "shot_void.1002.exr", 0, 100)
            folder.unlink()
            moved.rename(folder)
            assert c.call("download", job, "shot_void.1002.exr", 0, 100) == b"RESULT 1002"
    finally:
        _gate.set()
        srv.close()


def _run_after_swap(c, spec, swap) -> dict:
    _gate.clear()
    _wrote_first.clear()
    job = c.submit(spec, files_mode="path")
    assert _wrote_first.wait(20)
    swap()
    _gate.set()
    return _wait(c, job)


def test_plate_frames_swapped_for_links_mid_run_are_not_read(tmp_path):
    root = tmp_path / "root"
    srv = start_server(
        tmp_path, process_fn=_reading, allow_read=[str(root)], allow_write=[str(root)]
    )
    try:
        spec = _exr_shot(root)
        src = Path(spec.plate).parent
        outside = tmp_path / "outside"
        outside.mkdir()
        for name in ("secret.exr", "shot.1001.exr", "shot.1002.exr"):
            (outside / name).write_bytes((src / "shot.1002.exr").read_bytes())
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            assert _run_after_swap(c, spec, lambda: None)["state"] == "done"

            def frame_to_link() -> None:  # a frame replaced by a link out of the roots
                (src / "shot.1002.exr").unlink()
                (src / "shot.1002.exr").symlink_to(outside / "secret.exr")

            status = _run_after_swap(c, spec, frame_to_link)
            assert status["state"] == "failed" and "symbolic link" in status["message"]
            (src / "shot.1002.exr").unlink()
            (src / "shot.1002.exr").write_bytes((outside / "secret.exr").read_bytes())

            def folder_to_link() -> None:  # the plate folder replaced by a link out of the roots
                src.rename(root / "src_moved")
                src.symlink_to(outside, target_is_directory=True)

            status = _run_after_swap(c, spec, folder_to_link)
            assert status["state"] == "failed" and "outside the folders" in status["message"]
    finally:
        _gate.set()
        srv.close()


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    from void_vfx.media.image_io import read_header

    fifo = tmp_path / "plate.exr"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(ImageIOError, match="not a regular file"):
        read_header(str(fifo))
    assert time.monotonic() - t0 < 2.0


def test_data_folder_database_job_folders_and_files_are_private(tmp_path):
    data = tmp_path / "data"
    (data / "jobs" / "0123456789abcdef").mkdir(parents=True)
    os.chmod(data, 0o755)  # an older server's folder, readable by everyone
    (data / "jobs" / "0123456789abcdef" / "old.exr").write_bytes(b"x")
    os.chmod(data / "jobs" / "0123456789abcdef" / "old.exr", 0o644)
    srv = start_server(tmp_path)
    try:
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(make_shot(tmp_path, frames=2), files_mode="stream")
            assert _wait(c, job)["state"] == "done"
            assert c.list_results(job)  # the manifest is written too

        def mode(p: Path) -> int:
            return stat.S_IMODE(p.lstat().st_mode)

        assert mode(data) == 0o700 and mode(data / "jobs") == 0o700
        assert mode(data / "jobs.sqlite3") == 0o600
        inside = list((data / "jobs").rglob("*"))
        assert len([p for p in inside if p.is_file()]) >= 8  # uploads, windows, results...
        for p in inside:
            assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    finally:
        srv.close()


def test_default_roots_leave_out_the_system_temporary_folder():
    from void_vfx_server.roots import default_roots

    tmp = Path(os.path.realpath(tempfile.gettempdir()))
    assert tmp not in default_roots() and Path.home() in default_roots()


_AS_NOBODY = r"""
import os, sys
os.setgid(65534)
os.setuid(65534)
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        print("READ", path)
    except OSError:
        pass
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to act as a second user"
)
def test_a_second_local_user_reads_nothing_and_loses_nothing(tmp_path):
    import subprocess
    import sys

    base = Path(tempfile.mkdtemp(prefix="void-vfx-shared-"))
    try:
        base.chmod(0o755)  # a home others may traverse
        srv = start_server(base, allow_read=[str(tmp_path)], allow_write=[str(tmp_path)])
        try:
            with connect("127.0.0.1", srv.port, token=srv.token) as c:
                job = c.submit(make_shot(tmp_path, frames=1), files_mode="stream", start=False)
            data = base / "data"
            paths = [data, data / "jobs.sqlite3", data / "jobs" / job, base / "token"]
            out = subprocess.run(
                [sys.executable, "-c", _AS_NOBODY, *map(str, paths)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            assert "READ" not in out.stdout
        finally:
            srv.close()
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    # A cancelled job leaves another user's file in the shared folder alone.
    from void_vfx_server.safe_fs import DIR_FLAGS, remove_created

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "theirs.exr").write_bytes(b"x")
    os.chown(shared / "theirs.exr", 65534, 65534)
    (shared / "ours.exr").write_bytes(b"y")
    fd = os.open(shared, DIR_FLAGS)
    try:
        assert remove_created(fd, set()) == ["ours.exr"]
    finally:
        os.close(fd)
    assert sorted(os.listdir(shared)) == ["theirs.exr"]
