"""The modules a host imports load with the standard library and rpyc alone.

Nuke's and Resolve's Pythons have no numpy, OpenImageIO, OpenColorIO or torch: this runs a fresh
interpreter in which importing any of those fails, and imports the host-facing modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from host_python import BLOCKED, eval_list, run_like_a_host

from void_vfx import HOST_MODULES

REPO = Path(__file__).resolve().parents[2]


def test_host_modules_import_without_heavy_packages() -> None:
    """Every module of :data:`void_vfx.HOST_MODULES`, in one host-like interpreter: each import
    that fails or pulls in a blocked package is named with the module that did it."""
    proc, heavy = run_like_a_host(
        f"""
        import importlib
        bad = []
        for name in {list(HOST_MODULES)!r}:
            before = set(sys.modules)
            try:
                importlib.import_module(name)
            except Exception as exc:
                bad.append(f"{{name}}: {{exc!r}}")
                continue
            pulled = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {BLOCKED!r})
            if pulled:
                bad.append(f"{{name}} loads {{pulled}}")
        print(bad)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert eval_list(lines[-2]) == []
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
        f"import sys; sys.path.insert(0, {str(REPO)!r}); "
        "from void_vfx.cli.gpu_probe import probe_gpu; "
        "ok, why = probe_gpu(); print(ok, 'torch' in sys.modules); print(why)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    first, why = proc.stdout.splitlines()[:2]
    assert first == f"{torch.cuda.is_available()} False"  # the probe never imports torch itself
    assert ("GiB" in why) if torch.cuda.is_available() else ("sees no CUDA GPU" in why)
