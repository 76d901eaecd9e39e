"""The finish switches (detail from other frames, grain) in the hosts: the Nuke node's two
knobs and the Resolve dialog's two boxes (and terminal flags) reach the job spec."""

from __future__ import annotations

from fakes_nuke import harness
from fakes_resolve.ui import FakeBmd, FakeFusion

from void_vfx.hosts import nuke_spec

FILES = {"plate": "/s/p.####.exr", "object": "/r/o.####.exr"}


def _finish(values: dict) -> tuple[bool, bool]:
    s = nuke_spec.NodeSettings.from_knobs(values)
    spec = nuke_spec.build_spec(s, FILES, (1001, 1010), "ACEScg", "/out", "p")
    return spec.finish.detail, spec.finish.grain


def test_nuke_knobs_reach_the_spec_and_an_older_node_keeps_both_on():
    assert _finish({}) == (True, True)  # a node saved before the knobs existed
    assert _finish({"finish_detail": False, "finish_grain": True}) == (False, True)
    assert _finish({"finish_detail": 1.0, "finish_grain": 0}) == (True, False)


def test_the_node_has_both_knobs_on_and_settings_read_them(monkeypatch, tmp_path):
    _, nuke_node, _ = harness.fresh(monkeypatch, tmp_path)
    group = nuke_node.create()
    assert group["finish_detail"].value() is True and group["finish_grain"].value() is True
    group["finish_grain"].setValue(False)
    got = nuke_node.settings(group)
    assert (got.finish_detail, got.finish_grain) == (True, False)


def test_resolve_dialog_boxes_and_terminal_flags():
    from void_vfx.hosts.resolve_cli import build_parser, request_from
    from void_vfx.hosts.resolve_ui import Dialog

    fu, bmd = FakeFusion(), FakeBmd()
    dialog = Dialog(None, fu.UIManager, bmd.UIDispatcher(fu.UIManager))
    dialog.items["Matte"].Text = "roto.####.exr"
    assert (dialog.request().detail, dialog.request().grain) == (True, True)
    dialog.items["Detail"].Checked = False
    assert (dialog.request().detail, dialog.request().grain) == (False, True)
    args = build_parser().parse_args(["--matte", "m.####.exr", "--no-grain"])
    assert (request_from(args).detail, request_from(args).grain) == (True, False)
