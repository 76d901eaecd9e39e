"""``void-vfx install resolve`` (the module's run(args)) and the pieces that need no server."""

from __future__ import annotations

import argparse
import ast
from fractions import Fraction
from pathlib import Path

import pytest
from fakes_resolve import FakeTimelineItem, make_resolve
from fakes_resolve.model import FakeMediaPoolItem

from void_vfx.hosts import resolve_install
from void_vfx.hosts.resolve_app import ResolveCallFailed, call, get_resolve
from void_vfx.hosts.resolve_layback import place
from void_vfx.hosts.resolve_source import parse_fps, read_source

REPO = Path(__file__).resolve().parents[2]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    resolve_install.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"HOME": "/home/ed"}, "/home/ed/.local/share/DaVinciResolve/Fusion/Scripts"),
        (
            "darwin",
            {"HOME": "/Users/ed"},
            "/Users/ed/Library/Application Support/Blackmagic "
            "Design/DaVinci Resolve/Fusion/Scripts",
        ),
        (
            "win32",
            {"USERPROFILE": "C:/Users/ed", "APPDATA": "C:/Users/ed/AppData/Roaming"},
            "C:/Users/ed/AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts",
        ),
    ],
)
def test_per_user_scripts_folder(platform, env, expected):
    assert resolve_install.scripts_folder(platform, env).as_posix() == expected


def test_install_copies_the_script_with_the_repository_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_install.run(_args("--menu", "Edit")) == 0
    target = tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Edit/VOID Remove Object.py"
    assert f"installed {target}" in capsys.readouterr().out
    tree = ast.parse(target.read_text())
    values = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "VOID_VFX_PATH"
    ]
    assert values == [str(REPO)]
    assert resolve_install.run(_args("--print", "--scripts-dir", str(tmp_path / "s"))) == 0
    assert not (tmp_path / "s").exists()
    assert str(tmp_path / "s" / "Utility" / "VOID Remove Object.py") in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("23.976", Fraction(24000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("25", Fraction(25)),
        ("23.98", Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
    ],
)
def test_rates(text, rate):
    assert parse_fps(text) == rate


def test_source_range_of_a_2997_clip_with_left_offset(tmp_path):
    resolve, project, timeline = make_resolve(fps="29.97")
    media = FakeMediaPoolItem(str(tmp_path / "sh010.%06d.dpx"), 86400, 86499, "29.97")
    item = timeline.place(1, FakeTimelineItem(media, 108000, 30, 12))
    src = read_source(item, timeline, 1)
    assert src.file_path == str(tmp_path / "sh010.[086400-086499].dpx")
    assert src.pattern == str(tmp_path / "sh010.######.dpx")
    assert (src.source_first, src.source_last, src.duration) == (86412, 86441, 30)
    assert src.fps == Fraction(30000, 1001) and src.is_sequence


def test_get_resolve_order():
    class App:
        def GetResolve(self):
            return "from app"

    assert get_resolve({"resolve": "injected", "app": App()}) == "injected"
    assert get_resolve({"app": App()}) == "from app"


def test_false_and_dead_items_become_named_errors(tmp_path):
    resolve, project, timeline = make_resolve(tracks=2)
    with pytest.raises(ResolveCallFailed, match=r"SetCurrentTimeline failed: it answered False"):
        call(project, "SetCurrentTimeline", object(), fix="open it first")
    media = FakeMediaPoolItem(str(tmp_path / "a.%04d.exr"), 1, 20, "24")
    timeline.place(2, FakeTimelineItem(media, 100, 10))
    # V2 is occupied at 95-104: Resolve hands back an item whose getters answer None; both
    # readings of endFrame are tried, and nothing is left behind.
    with pytest.raises(
        ResolveCallFailed, match=r"placed 0 clips then 0 clips; free record frames 95-104 on V2"
    ):
        place(project.media_pool, timeline, media, 0, 10, 2, 95, ("exclusive", "inclusive"))
    assert len(timeline.tracks[1]) == 1


def test_absent_calls_answer_none_as_in_resolve():
    from fakes_resolve.base import ASKED_ABSENT

    from void_vfx.hosts.resolve_app import has_call

    resolve, project, timeline = make_resolve(version="20.3")
    assert timeline.GetSelectedClips is None and ASKED_ABSENT[-1] == "Timeline.GetSelectedClips"
    with pytest.raises(TypeError):  # calling the None, as a script on 19.0.0 saw
        timeline.GetSelectedClips()
    assert project.NoSuchCall is None and not has_call(project, "NoSuchCall")
    assert not has_call(timeline, "GetSelectedClips") and has_call(timeline, "GetTrackCount")
    make_resolve(version="21.0")
    assert has_call(timeline, "GetSelectedClips") and timeline.GetSelectedClips() == []
    make_resolve(version="19.0b")
    assert not has_call(project, "DeleteRenderPreset") and project.DeleteRenderPreset is None
    assert "DeleteRenderPreset" not in dir(project) and "LoadRenderPreset" in dir(project)
    with pytest.raises(TypeError, match="SetRenderSettings has no key 'Codec'"):
        project.SetRenderSettings({"Codec": "exr"})
