"""The VOID Remove node's plain logic: quadmask view vs the core, knobs -> spec, texts, versions."""

from __future__ import annotations

import numpy as np
import pytest
from fakes_nuke import graph, harness

from void_vfx.errors import SpecError
from void_vfx.hosts import nuke_quadmask, nuke_spec, nuke_text, nuke_versions
from void_vfx.render.quadmask import build_quadmask, clear_first_frame_affected


def _view(
    expr: str, primary: np.ndarray, affected: np.ndarray, frame: int, solid=None
) -> np.ndarray:
    """Evaluate the Expression as Nuke would (the fake's own parser), back on the 0-255 scale;
    ``solid``: the grown solid primary the Dilate node puts in blue."""
    blue = primary * 0 if solid is None else solid.astype(np.float32)
    env = {"a": primary, "g": affected, "r": primary * 0, "b": blue, "frame": frame}
    out = np.broadcast_to(graph.Expr(expr).evaluate(env), primary.shape)
    return np.rint(np.asarray(out, np.float64) * 255.0).astype(np.uint8)


def test_quadmask_expression_agrees_with_the_core_on_the_same_mattes():
    rng = np.random.default_rng(3)
    primary = rng.random((3, 24, 32)).astype(np.float32)
    affected = rng.random((3, 24, 32)).astype(np.float32)
    primary[0, 0, :4] = [0.5, np.nan, 0.50001, 1.0]  # at, NaN, just above the threshold
    affected[0, 0, :4] = [0.9, 0.9, 0.5, 0.0]
    core = clear_first_frame_affected(build_quadmask(primary, affected))
    expr = nuke_quadmask.quadmask_expression(clear_first_frame=1001)
    view = np.stack([_view(expr, primary[i], affected[i], 1001 + i) for i in range(3)])
    assert np.array_equal(view, core)
    assert set(np.unique(core)) == {0, 63, 127, 255}
    alone = nuke_quadmask.quadmask_expression(has_affected=False, primary_threshold=0.25)
    view = _view(alone, primary[1], affected[1], 1002)
    assert np.array_equal(view, build_quadmask(primary[1], primary_threshold=0.25))
    # The soft edge: the Dilate node's grown solid primary (a square maximum, as Foundry's NDK
    # Dilate.cpp computes it, written out here by hand) in blue.
    soft = nuke_quadmask.quadmask_expression(soft_edge_px=2)
    solid = primary[2] > 0.5
    pad = np.pad(solid, 2)
    grown = np.zeros_like(solid)
    for dy in range(5):
        for dx in range(5):
            grown |= pad[dy : dy + 24, dx : dx + 32]
    view = _view(soft, primary[2], affected[2], 1003, grown)
    core = build_quadmask(primary[2], affected[2], soft_edge_px=2)
    assert np.array_equal(view, core)
    assert not np.array_equal(core, build_quadmask(primary[2], affected[2]))  # the rule counts


def test_quadmask_view_inside_the_node_matches_the_core(monkeypatch, tmp_path):
    from void_vfx.demo.run import make_demo_shot

    shot = make_demo_shot(tmp_path / "shot", frames=3, size=(48, 32), camera_pan=False)
    nuke, nuke_node, _ = harness.fresh(monkeypatch, tmp_path)
    group, _ = harness.comp(nuke, nuke_node, shot)
    nuke._user_sets(group, "show_quadmask", True)
    assert group.node("switch")["which"].value() == nuke_node.SHOW_QUADMASK
    import OpenImageIO as oiio

    def alpha(pattern, f):
        return oiio.ImageBuf(pattern.replace("####", str(f))).get_pixels(oiio.FLOAT)[..., 0]

    p = np.stack([alpha(shot.primary, f) for f in shot.frames])
    a = np.stack([alpha(shot.affected, f) for f in shot.frames])
    soft = nuke_quadmask.SOFT_EDGE_PX  # what the node's jobs get: the soft edge counts
    core = clear_first_frame_affected(build_quadmask(p, a, soft_edge_px=soft))
    assert soft and not np.array_equal(core, clear_first_frame_affected(build_quadmask(p, a)))
    for i, f in enumerate(shot.frames):
        shown = graph.evaluate(group, f)["planes"]["rgba.alpha"]
        assert np.array_equal(np.rint(shown * 255).astype(np.uint8), core[i])


def test_files_as_they_are_only_for_an_untouched_exr_read():
    read = {
        "class": "Read",
        "file": "/s/plate.####.exr",
        "first": 1001,
        "last": 1100,
        "frame": "",
        "premultiplied": False,
    }
    assert nuke_spec.files_as_they_are([{"class": "Dot"}, read], (1001, 1050)) == (
        "/s/plate.####.exr",
        "",
    )
    assert nuke_spec.files_as_they_are([{"class": "Multiply"}], (1, 2))[1] == (
        "a Multiply node makes the pixels"
    )
    assert nuke_spec.files_as_they_are([dict(read, file="/s/p.####.dpx")], (1001, 1002))[0] is None
    assert nuke_spec.files_as_they_are([dict(read, frame="frame+1")], (1001, 1002))[0] is None
    why = nuke_spec.files_as_they_are([read], (1000, 1010))[1]
    assert why == "the Read holds 1001-1100, not all of 1000-1010"


def test_knobs_to_spec():
    s = nuke_spec.NodeSettings.from_knobs(
        {
            "engine": "preview",
            "passes": "2",
            "steps": 12.0,
            "seed": 7,
            "roi_margin": 0.3,
            "prompt": " an empty room ",
            "min_window": 21,
            "unrelated": 1,
        }
    )
    files = {"plate": "/s/p.####.exr", "object": "/r/o.####.exr", "affected": "/r/a.####.exr"}
    spec = nuke_spec.build_spec(s, files, (1001, 1040), "ACEScg", "/out", "p")
    assert (spec.primary.path, spec.affected.path, spec.quadmask) == (
        "/r/o.####.exr",
        "/r/a.####.exr",
        None,
    )
    assert (spec.sampling.passes, spec.sampling.pass1_steps, spec.sampling.seed) == (2, 12, 7)
    assert (spec.engine, spec.prompt, spec.window.min_length) == ("preview", "an empty room", 21)
    assert (spec.roi.margin, spec.output.dir, spec.output.name) == (0.3, "/out", "p")
    quad = nuke_spec.NodeSettings(third_input="quadmask")
    spec = nuke_spec.build_spec(
        quad, {"plate": "/p.#.exr", "affected": "/q.#.exr"}, (1, 5), "", "/o", "p"
    )
    assert spec.primary is None and (spec.quadmask.path, spec.quadmask.channel) == ("/q.#.exr", "r")
    with pytest.raises(SpecError, match="window.min_length: 20 is not a valid window length"):
        nuke_spec.build_spec(nuke_spec.NodeSettings(min_window=20), files, (1, 9), "", "/o", "p")


def test_server_range_colour_and_output_folder():
    assert nuke_spec.parse_server(" farm-gpu:9000 ") == ("farm-gpu", 9000)
    assert nuke_spec.parse_server("localhost")[1] == 18870
    with pytest.raises(SpecError, match="'a:b' is not host:port"):
        nuke_spec.parse_server("a:b")
    custom = nuke_spec.NodeSettings(range_mode="custom", first=1010, last=1020)
    assert nuke_spec.frame_range(custom, (1001, 1100)) == (1010, 1020)
    assert nuke_spec.frame_range(nuke_spec.NodeSettings(), (1001, 1100)) == (1001, 1100)
    assert nuke_spec.colourspace_of({"colorspace": "default (ACEScg)", "raw": False}) == "ACEScg"
    assert nuke_spec.colourspace_of({"colorspace": "ACEScg", "raw": True}) == ""
    assert nuke_spec.output_folder("", "/shows/a/comp.nk") == "/shows/a/void"
    with pytest.raises(SpecError, match="output_dir: the script is not saved"):
        nuke_spec.output_folder("", "Root")


def test_status_texts_and_progress():
    status = {
        "state": "running",
        "window": 1,
        "windows": 4,
        "step": 15,
        "steps": 30,
        "eta_s": 61.6,
        "message": "pass 1",
    }
    assert nuke_text.progress_percent(status) == 37.5  # (1 + 15/30) / 4
    assert nuke_text.status_line("j1", status) == (
        "running: window 2/4, step 15/30, 62 s left - pass 1"
    )
    failed = {"state": "failed", "message": "plate.1004.exr is truncated"}
    assert nuke_text.status_line("j1", failed) == "failed: plate.1004.exr is truncated (job j1)"
    assert nuke_text.progress_percent({"state": "queued", "windows": 0}) == 0.0


def test_versions_on_disk(tmp_path):
    (tmp_path / "sh_void_v001").mkdir()
    for f in (998, 999, 1000):
        (tmp_path / "sh_void_v001" / f"sh_void_v001.{f:04d}.exr").write_bytes(b"")
    (tmp_path / "sh_void_v003").mkdir()
    assert nuke_versions.version_items(str(tmp_path), "sh") == ["none", "v001", "v003"]
    assert nuke_versions.version_sequence(str(tmp_path), "sh", "v001") == (
        str(tmp_path / "sh_void_v001" / "sh_void_v001.####.exr"),
        998,
        1000,
    )
    assert nuke_versions.version_sequence(str(tmp_path), "sh", "v003") is None
    assert nuke_versions.version_of_path("/o/sh_void_v012/sh_void_v012.1001.exr", "sh") == "v012"


def test_paths_and_views_as_nuke_reads_them():
    # deadline-cloud-for-nuke assets.py: normpath(join(project_directory, path)), else the cwd
    assert nuke_spec.absolute_path("plates/a.%04d.exr", "/show/sh010", "/home") == (
        "/show/sh010/plates/a.%04d.exr"
    )
    assert nuke_spec.absolute_path("../a.####.exr", "", "/home/x") == "/home/a.####.exr"
    assert nuke_spec.absolute_path("/abs/a.exr", "/show", "/home") == "/abs/a.exr"
    assert nuke_spec.absolute_path("a.exr", "proj", "/home") == "/home/proj/a.exr"
    assert nuke_spec.in_view("/s/%V/p_%v.####.exr", "left") == "/s/left/p_l.####.exr"
    assert nuke_spec.choose_view(["main"], "") == "main"
    assert nuke_spec.choose_view(["left", "right"], "right") == "right"
    with pytest.raises(SpecError, match="view: 'main' is not a view of this script"):
        nuke_spec.choose_view(["left", "right"], "main")
