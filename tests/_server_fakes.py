"""A slow engine and a small processing function for server tests.

The processing function follows the contract of ``void_vfx.render.process.process_shot`` (commit
each window into ``job_dir``, skip committed ones, write results into ``out_dir``) on real files but
without images, so the server's queue, cancel and crash-resume can be tested in seconds. It logs
``start i`` and ``commit i`` lines to ``job_dir/computed.log`` so a test can count work done.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest

from void_vfx.errors import Cancelled
from void_vfx.media.sequences import find_sequence
from void_vfx.render.engine import Engine, WindowInput, WindowOutput

STEP_S = float(os.environ.get("VOID_VFX_TEST_STEP_S", "0.05"))
STEPS = 4


class SlowEngine(Engine):
    """Inverts frames, taking STEPS steps of STEP_S seconds; honours should_cancel per step."""

    name = "slow-test"

    def __init__(self) -> None:
        self.freed = 0
        self.steps = 0  # denoising steps run, over all windows

    def info(self) -> dict:
        return {"device": "cpu", "weights_found": False}

    def free_memory(self) -> None:
        self.freed += 1

    def run(self, window, progress, should_cancel) -> WindowOutput:
        log = os.environ.get("VOID_VFX_TEST_ENGINE_LOG")
        if log:  # one line per window the engine is asked to compute
            with open(log, "a") as fh:
                fh.write(f"run {window.frames.shape[0]}\n")
        for step in range(STEPS):
            if should_cancel():
                raise Cancelled("cancelled between steps")
            time.sleep(STEP_S)
            self.steps += 1
            progress(step + 1, STEPS, f"step {step + 1}/{STEPS}")
        return WindowOutput(1.0 - window.frames)


def _log(job_dir: Path, line: str) -> None:
    with open(job_dir / "computed.log", "a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def fake_process(
    spec, engine_fn, job_dir, out_dir, progress, frames_per_window: int = 1, **_worker_kw
):
    """One window per plate frame: run the engine on a tiny array, commit, then write results."""
    job_dir, out_dir = Path(job_dir), Path(out_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    seq = find_sequence(spec.plate)
    frames = seq.frames(spec.frame_range)
    windows = [frames[i : i + frames_per_window] for i in range(0, len(frames), frames_per_window)]
    for index, chunk in enumerate(windows):
        done = job_dir / f"window_{index:03d}.bin"
        if done.exists():
            continue
        _log(job_dir, f"start {index}")
        digest = hashlib.sha256(b"".join(Path(seq.path(f)).read_bytes() for f in chunk)).digest()
        level = np.float32(digest[0] / 255.0)
        win = WindowInput(
            np.full((5, 16, 16, 3), level, np.float32), np.zeros((5, 16, 16), np.uint8)
        )
        out = engine_fn(win)
        tmp = done.with_suffix(".tmp")
        tmp.write_bytes(digest + np.float32(out.frames[0, 0, 0, 0]).tobytes())
        os.replace(tmp, done)
        _log(job_dir, f"commit {index}")
        progress(index + 1, len(windows), f"window {index + 1}/{len(windows)} done")
    written = []
    stem = (spec.output.name or "plate") + "_void"
    for index, chunk in enumerate(windows):
        payload = (job_dir / f"window_{index:03d}.bin").read_bytes()
        for f in chunk:
            path = out_dir / f"{stem}.{f:04d}.exr"
            path.write_bytes(payload + Path(seq.path(f)).read_bytes()[::-1])
            written.append(str(path))
    return written


def expected_result(plate_file: Path, digest_window: bytes) -> bytes:
    return digest_window + plate_file.read_bytes()[::-1]


def make_shot(folder: Path, frames: int = 4, size: int = 200_000, first: int = 1001):
    """Plate and matte files with random bytes, and a JobSpec naming them (output in folder/out)."""
    from void_vfx.job.spec import JobSpec, MatteSource

    src = Path(folder) / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in range(first, first + frames):
        (src / f"shot.{f}.exr").write_bytes(os.urandom(size))
        (src / f"matte.{f}.exr").write_bytes(os.urandom(256))
    spec = JobSpec(
        plate=str(src / "shot.####.exr"),
        primary=MatteSource(str(src / "matte.####.exr")),
        engine="preview",
    )
    spec.output.dir = str(Path(folder) / "out")
    return spec


def start_server(tmp: Path, **kwargs):
    """An in-process server on a free loopback port with the slow engine and fake processing."""
    from void_vfx_server.main import InferenceServer

    kwargs.setdefault("engine", SlowEngine())
    kwargs.setdefault("process_fn", fake_process)
    kwargs.setdefault("min_free_bytes", 0)
    # The system temporary folder is no default root (anyone can plant links there): the
    # test's own folder is allowed explicitly.
    kwargs.setdefault("allow_read", [str(tmp)])
    kwargs.setdefault("allow_write", [str(tmp)])
    port = kwargs.pop("port", 0)
    server = InferenceServer(
        "127.0.0.1", port, Path(tmp) / "data", token_file=Path(tmp) / "token", **kwargs
    )
    server.start_in_thread()
    return server


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    """Keep tokens and job notes of a test out of the user's real config folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VOID_VFX_TOKEN_FILE", raising=False)
