"""The modules a host imports load with the standard library and rpyc alone.

Nuke's and Resolve's Pythons have no numpy, OpenImageIO, OpenColorIO or torch: this runs a fresh
interpreter in which importing any of those fails, and imports the host-facing modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from host_python import run_like_a_host

REPO = Path(__file__).resolve().parents[1]
HOST_MODULES = [
    "void_vfx",
    "void_vfx.errors",
    "void_vfx.model_facts",
    "void_vfx.jobspec",
    "void_vfx.job.spec",
    "void_vfx.job.naming",
    "void_vfx.render.windows",
    "void_vfx.client",
    "void_vfx.client.session",
    "void_vfx.client.handshake",
    "void_vfx.protocol.wire",
]


@pytest.mark.parametrize("module", HOST_MODULES)
def test_host_module_imports_without_heavy_packages(module: str) -> None:
    proc, heavy = run_like_a_host(f"import importlib; importlib.import_module({module!r})")
    assert proc.returncode == 0, proc.stderr
    assert heavy == []


def test_qt_and_client_in_one_process_exit_cleanly() -> None:
    """A panel imports Qt and our client together; PySide6 6.12.0 aborted at exit with rpyc."""
    pytest.importorskip("PySide6.QtCore")
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import PySide6.QtCore, void_vfx.client"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_gpu_probe_asks_a_child_python_and_agrees_with_torch() -> None:
    torch = pytest.importorskip("torch")
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from void_vfx.cli.gpu_probe import probe_gpu; "
        "ok, why = probe_gpu(); print(ok, 'torch' in sys.modules); print(why)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    first, why = proc.stdout.splitlines()[:2]
    assert first == f"{torch.cuda.is_available()} False"  # the probe never imports torch itself
    assert ("GiB" in why) if torch.cuda.is_available() else ("sees no CUDA GPU" in why)
