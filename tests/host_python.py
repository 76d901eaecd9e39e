"""A fresh interpreter that lacks what a host's Python lacks, for the host-import tests.

Nuke's and Resolve's Pythons have no numpy, OpenImageIO, OpenColorIO, OTIO, torch, Qt of ours,
tqdm, PyAV, OpenCV, and never the server package: importing any of them fails there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCKED = (
    "numpy",
    "OpenImageIO",
    "PyOpenColorIO",
    "opentimelineio",
    "torch",
    "PySide6",
    "PySide2",
    "tqdm",
    "av",
    "cv2",
    "void_vfx_server",
)


def run_like_a_host(body: str, prelude: str = "") -> tuple[subprocess.CompletedProcess, list]:
    """Run ``body`` (after ``prelude``) with the blocked packages failing to import and this
    repository first on ``sys.path``. Returns the process and the blocked modules that were
    loaded all the same (read from its last line; [] when the host rule holds)."""
    code = (
        textwrap.dedent(
            f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {BLOCKED!r}:
                    raise ImportError('blocked in host test: ' + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(REPO)!r})
        """
        )
        + textwrap.dedent(prelude)
        + textwrap.dedent(body)
        + textwrap.dedent(
            f"""
        print(sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}))
        """
        )
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = proc.stdout.strip().splitlines()
    heavy = eval_list(lines[-1]) if proc.returncode == 0 and lines else ["<did not finish>"]
    return proc, heavy


def eval_list(line: str) -> list:
    """The printed list of module names, read back without eval."""
    import ast

    return list(ast.literal_eval(line))
