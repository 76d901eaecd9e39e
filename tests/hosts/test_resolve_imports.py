"""What Resolve's Python imports loads with the standard library and rpyc alone."""

from __future__ import annotations

from host_python import run_like_a_host


def test_resolve_modules_load_without_heavy_packages(tmp_path):
    (tmp_path / "p.1001.exr").write_bytes(b"")
    (tmp_path / "p.1002.exr").write_bytes(b"")
    proc, heavy = run_like_a_host(
        f"""
        import void_vfx.hosts.resolve_ui, void_vfx.hosts.resolve_cli, void_vfx.hosts.resolve_install
        from void_vfx.hosts.resolve_layback import result_sequence
        print(result_sequence([{str(tmp_path / "p.1002.exr")!r}, {str(tmp_path / "p.1001.exr")!r}]))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == repr((str(tmp_path / "p.%04d.exr"), 1001, 1002))
    assert heavy == []
