"""What Resolve's Python imports loads with the standard library and rpyc alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCKED = ["numpy", "OpenImageIO", "PyOpenColorIO", "opentimelineio", "torch", "PySide6",
           "PySide2", "tqdm", "av", "cv2"]  # fmt: skip


def test_resolve_modules_load_without_heavy_packages(tmp_path):
    (tmp_path / "p.1001.exr").write_bytes(b"")
    (tmp_path / "p.1002.exr").write_bytes(b"")
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {BLOCKED!r}:
                    raise ImportError('blocked in host test: ' + name)
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(REPO)!r})
        import void_vfx.hosts.resolve_ui, void_vfx.hosts.resolve_cli, void_vfx.hosts.resolve_install
        from void_vfx.hosts.resolve_layback import result_sequence
        print(result_sequence([{str(tmp_path / "p.1002.exr")!r}, {str(tmp_path / "p.1001.exr")!r}]))
        print(sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    first, heavy = proc.stdout.splitlines()
    assert first == repr((str(tmp_path / "p.%04d.exr"), 1001, 1002))
    assert heavy == "[]"
