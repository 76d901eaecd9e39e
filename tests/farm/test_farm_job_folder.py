"""The farm job folder a dry run names is the one the real write then uses (OpenJD bundle and
OpenCue job XML), through the command line."""

from __future__ import annotations

import re

import pytest
from farm_helpers import demo_spec

from void_vfx.cli.main import main


def _job_folder(text: str) -> str:
    found = re.search(r"job folder (\S+);", text)
    assert found, text
    return found.group(1)


@pytest.mark.parametrize("farm", ["openjd", "opencue"])
def test_dry_run_names_the_job_folder_the_write_uses(farm, tmp_path, capsys, monkeypatch):
    if farm == "opencue":
        pytest.importorskip("outline")
        monkeypatch.delenv("CUEBOT_HOSTS", raising=False)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _, spec = demo_spec(tmp_path / "shot", frames=5, engine="preview")
    (tmp_path / "job.json").write_text(spec.to_json())
    where = (
        ["-o", str(tmp_path / "bundle")] if farm == "openjd" else ["--xml", str(tmp_path / "j.xml")]
    )
    args = ["farm", farm, str(tmp_path / "job.json"), *where]
    folders = []
    for extra in (["--dry-run"], [], ["--dry-run"]):
        assert main([*args, *extra]) == 0
        folders.append(_job_folder(capsys.readouterr().out))
    assert folders[0] == folders[1]
    assert "/.void-vfx-farm/" in folders[0]
    if farm == "opencue":  # the XML's job folder is made: the next dry run names a new one
        assert folders[2] != folders[1] and folders[1].endswith("-001")
