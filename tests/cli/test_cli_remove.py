"""``void-vfx remove`` builds the job spec from its options, or from --spec with overrides."""

from __future__ import annotations

import argparse

import pytest

from void_vfx.cli.remove import add_remove_arguments, build_remove_spec
from void_vfx.errors import SpecError
from void_vfx.job.spec import JobSpec, MatteSource


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_remove_arguments(p)
    return p.parse_args(list(argv))


def test_options_map_onto_the_spec() -> None:
    spec = build_remove_spec(
        _args(
            "/s/plate.####.exr",
            "--primary",
            "/s/roto.####.exr",
            "--affected",
            "/s/sh.####.exr",
            "--range",
            "1001-1100",
            "--fps",
            "23.976",
            "--steps",
            "12",
            "--seed",
            "9",
            "--roi",
            "full",
            "--feather",
            "4",
            "--min-window",
            "21",
            "--compression",
            "dwaa",
            "--highlight",
            "clip",
            "--dilate",
            "3",
            "-o",
            "/renders",
        ),
        "preview",
    )
    assert spec.frame_range == (1001, 1100) and spec.fps == "23.976"
    assert (spec.sampling.pass1_steps, spec.sampling.seed) == (12, 9)
    assert (spec.roi.mode, spec.roi.feather, spec.window.min_length) == ("full", 4, 21)
    assert (spec.output.compression, spec.highlight, spec.mask.dilate) == ("dwaa", "clip", 3)
    assert spec.output.dir == "/renders" and spec.engine == "preview"
    assert spec.affected == MatteSource("/s/sh.####.exr", "a")
    assert spec.mask.resize is False  # the spec's default unless --mask-resize is given
    spec = build_remove_spec(
        _args("/s/plate.####.exr", "--quadmask", "/s/qm.####.tif", "--mask-resize"), "void"
    )
    assert spec.mask.resize is True and spec.quadmask == MatteSource("/s/qm.####.tif", "r")


def test_spec_file_with_overrides(tmp_path) -> None:
    base = JobSpec(plate="/s/plate.####.exr", primary=MatteSource("/s/roto.####.exr"), prompt="x")
    base.roi.margin = 0.3
    path = tmp_path / "job.json"
    path.write_text(base.to_json())
    spec = build_remove_spec(_args("--spec", str(path), "--prompt", "an empty room"), "void")
    assert spec.prompt == "an empty room" and spec.roi.margin == 0.3
    spec = build_remove_spec(_args("--spec", str(path), "--pass1-result", "/r/p1.####.exr"), "void")
    assert spec.sampling.passes == 2 and spec.engine_params()["passes"] == "pass2"


def test_bad_options_name_the_field(tmp_path) -> None:
    with pytest.raises(SpecError, match="plate"):
        build_remove_spec(_args("--primary", "m.####.exr"), "preview")
    with pytest.raises(SpecError, match="primary"):
        build_remove_spec(_args("/s/plate.####.exr"), "preview")
    with pytest.raises(SpecError, match="window.min_length"):
        build_remove_spec(
            _args("/s/p.####.exr", "--primary", "m.####.exr", "--min-window", "20"), "void"
        )
    with pytest.raises(SpecError, match="cannot read"):
        build_remove_spec(_args("--spec", str(tmp_path / "none.json")), "void")


def test_engine_options_from_the_line() -> None:
    """``--param NAME=VALUE`` sets the engine's own options, typed as the README's table says
    (static_camera a boolean, grow_px a whole number); a name the engine lacks is refused with
    the names it has."""
    base = ("/s/plate.####.exr", "--primary", "/s/roto.####.exr")
    spec = build_remove_spec(
        _args(*base, "--param", "static_camera=true", "--param", "grow_px=9"), "preview"
    )
    assert spec.params == {"static_camera": True, "grow_px": 9}
    spec = build_remove_spec(_args(*base, "--param", "eta=0.5"), "void")
    assert spec.params == {"eta": 0.5}
    with pytest.raises(SpecError, match="grow_px.*no such option.*eta, negative_prompt"):
        build_remove_spec(_args(*base, "--param", "grow_px=9"), "void")
    with pytest.raises(SpecError, match="grow_px.*0..64"):
        build_remove_spec(_args(*base, "--param", "grow_px=100"), "preview")
    with pytest.raises(SystemExit):
        _args(*base, "--param", "static_camera")
