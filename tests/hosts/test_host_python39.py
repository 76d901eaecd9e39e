"""Nuke 14 runs Python 3.9: the host side of void-vfx must run there, not only parse.

A Python 3.9 interpreter (found on PATH or under pyenv; the test skips, naming where it looked,
when there is none) imports every host-side module with only rpyc and plumbum beside it, builds
a job spec, and sends a real job to a server running here, following and downloading it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from void_vfx import HOST_MODULES

REPO = Path(__file__).resolve().parents[2]
#: Every module a host may import (one list, void_vfx.HOST_MODULES), imported by Python 3.9.
HOST_SIDE = list(HOST_MODULES)
#: Modules that import ``nuke`` itself: compiled by Python 3.9, not imported.
NEEDS_NUKE = [
    "void_vfx/hosts/nuke_node.py",
    "void_vfx/hosts/nuke_send.py",
    "void_vfx/hosts/nuke_batch.py",
    "hosts/nuke/init.py",
    "hosts/nuke/menu.py",
]


def _python39() -> str:
    places = [os.environ.get("VOID_VFX_PYTHON39", ""), shutil.which("python3.9") or ""]
    places += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python")))
    for exe in places:
        if not exe:
            continue
        try:
            out = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == "(3, 9)":
            return exe
    pytest.skip("no Python 3.9 found ($VOID_VFX_PYTHON39, python3.9 on PATH, ~/.pyenv/versions)")


def _host_lib(tmp_path: Path) -> Path:
    """rpyc and plumbum alone in a folder, as a host gets them (void-vfx install nuke copies
    them)."""
    import plumbum
    import rpyc

    lib = tmp_path / "host_lib"
    lib.mkdir()
    for mod in (rpyc, plumbum):
        src = Path(mod.__file__).parent
        shutil.copytree(src, lib / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    return lib


def test_host_side_runs_on_python39_and_sends_a_job(tmp_path: Path) -> None:
    from void_vfx.media.image_write import write_exr
    from void_vfx.server_entry import server_api

    py39 = _python39()
    shot = tmp_path / "shot"
    shot.mkdir()
    h, w = 48, 64
    for f in range(1001, 1014):
        plate = np.full((h, w, 3), 0.25, np.float32)
        plate[10:30, 20 + f - 1001 : 30 + f - 1001] = 0.9  # a moving square
        write_exr(str(shot / f"plate.{f}.exr"), plate)
        matte = np.zeros((h, w, 1), np.float32)
        matte[8:32, 18 + f - 1001 : 32 + f - 1001] = 1.0
        write_exr(str(shot / f"matte.{f}.exr"), matte, channel_names=["A"])
    server = server_api().start_local_server(tmp_path / "data", tmp_path / "token", "preview")
    code = textwrap.dedent(
        f"""
        import importlib, json, sys
        sys.path[:0] = [{str(REPO)!r}, {str(_host_lib(tmp_path))!r}]
        for name in {HOST_SIDE!r}:
            importlib.import_module(name)
        for path in {NEEDS_NUKE!r}:
            compile(open({str(REPO)!r} + "/" + path).read(), path, "exec")
        from void_vfx.client import connect
        from void_vfx.job.spec import JobSpec, MatteSource
        spec = JobSpec(
            plate={str(shot / "plate.####.exr")!r},
            primary=MatteSource({str(shot / "matte.####.exr")!r}, "A"),
            engine="preview", colourspace="Linear Rec.709 (sRGB)",
        )
        spec.window.min_length = spec.window.max_length = 13
        spec.window.overlap = 4
        spec.output.dir = {str(tmp_path / "out")!r}
        spec = JobSpec.from_json(spec.to_json())
        with connect("127.0.0.1", {server.port}, token={server.token!r}) as client:
            job = client.submit(spec, files_mode="stream")
            status = client.follow(job, callback=lambda s, e: None, poll_s=0.1)
            paths = client.download_results(job)
        print(json.dumps({{"state": status["state"], "paths": sorted(paths),
                          "python": list(sys.version_info[:2])}}))
        """
    )
    try:
        proc = subprocess.run(
            [py39, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        )
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["python"] == [3, 9] and report["state"] == "done"
    names = [Path(p).name for p in report["paths"]]
    assert names == [f"plate_void_v001.{f}.exr" for f in range(1001, 1014)]
