"""Shared pieces of the farm tests: a small synthetic shot, its spec, and ``openjd`` run as a
real subprocess against this checkout (PYTHONPATH carries it to the worker commands)."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def demo_spec(
    folder: Path,
    *,
    frames: int,
    size=(64, 48),
    engine: str = "preview",
    window: int = 13,
    overlap: int = 4,
    out_dir: Path | None = None,
    steps: int = 1,
):
    from void_vfx.demo.run import make_demo_shot
    from void_vfx.job.spec import JobSpec, MaskSettings, MatteSource, OutputSettings

    shot = make_demo_shot(folder, frames=frames, size=size)
    spec = JobSpec(
        plate=shot.plate,
        primary=MatteSource(shot.primary, "A"),
        affected=MatteSource(shot.affected, "A"),
        frame_range=(shot.first, shot.last),
        fps=shot.fps,
        prompt="A quiet courtyard.",
        engine=engine,
        mask=MaskSettings(dilate=1),
        output=OutputSettings(dir=str(out_dir or folder / "out")),
    )
    spec.window.min_length = window
    spec.window.max_length = window
    spec.window.overlap = overlap
    spec.sampling.pass1_steps = steps
    spec.sampling.seed = 5
    return shot, spec.validate()


def _server_shim() -> Path:
    """A folder (outside the checkout) whose ``void_vfx_server`` links to this checkout's
    ``server/``: first on PYTHONPATH, it wins over an editable install of another checkout that
    the ``void-vfx`` on a session's PATH may come from (pyenv puts its own bin first)."""
    tag = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    shim = Path(tempfile.gettempdir()) / f"void-vfx-test-shim-{tag}"
    link = shim / "void_vfx_server"
    if not link.is_symlink():
        shim.mkdir(exist_ok=True)
        try:
            link.symlink_to(REPO / "server", target_is_directory=True)
        except FileExistsError:  # another test process made it first
            pass
    return shim


def worker_env(**extra: str) -> dict[str, str]:
    """This checkout first on the path of every process ``openjd`` starts."""
    env = dict(os.environ)
    paths = [str(_server_shim()), str(REPO), str(REPO / "tests")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def openjd() -> str:
    exe = shutil.which("openjd")
    if exe is None:
        pytest.skip("openjd-cli is not installed (pip install openjd-cli)")
    return exe


def run_openjd(args: list[str], env: dict[str, str] | None = None, timeout: float = 600):
    """Run ``openjd ARGS``; return the completed process (stdout and stderr together)."""
    if args and args[0] == "openjd":
        args = args[1:]
    return subprocess.run(
        [openjd(), *args],
        env=env or worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "void_vfx", *args],
        env=env or worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def command_from(message: str, prefix: str = "run it here:") -> list[str]:
    """The command a message prints after ``prefix``, split as a shell would."""
    for line in message.splitlines():
        if line.startswith(prefix):
            return shlex.split(line[len(prefix) :])
    raise AssertionError(f"no {prefix!r} line in:\n{message}")


def frames_of(paths) -> np.ndarray:
    from void_vfx.media.image_io import read_image

    return np.stack([read_image(str(p), "rgb").raw for p in sorted(map(str, paths))])
