"""The finish in a job: on by default, switchable in the spec and on the command line; off gives
the engine's fill exactly; on puts the plate's grain into the fill, the same bits every run."""

from __future__ import annotations

import numpy as np
import pytest

from void_vfx.errors import SpecError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.image_io import read_image
from void_vfx.media.image_write import write_exr
from void_vfx.render.process import process_shot
from void_vfx.render.roi import paste_alpha
from void_vfx.render.shot import Shot

W, H = 256, 144
FIRST, LAST = 1, 5
GRAIN = 0.02


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory):
    """A grey plate with white grain of GRAIN, an object moving right."""
    root = tmp_path_factory.mktemp("finish_shot")
    rng = np.random.default_rng(9)
    for f in range(FIRST, LAST + 1):
        px = 0.4 + GRAIN * rng.standard_normal((H, W, 3), dtype=np.float32)
        write_exr(str(root / f"plate.{f}.exr"), px, compression="zip", pixel_type="float")
        m = np.zeros((H, W), np.float32)
        m[40:110, 80 + 6 * f : 150 + 6 * f] = 1.0
        write_exr(str(root / f"matte.{f}.exr"), m, compression="zip")
    return root


def _spec(root, seed=0, **finish) -> JobSpec:
    spec = JobSpec(
        plate=str(root / "plate.#.exr"),
        primary=MatteSource(str(root / "matte.#.exr"), "Y"),
        colourspace="Linear Rec.709 (sRGB)",
    )
    spec.window.min_length = spec.window.max_length = 5
    spec.window.overlap = 0
    spec.roi.feather = 4
    spec.sampling.seed = seed
    spec.output.pixel_type = "float"
    for k, v in finish.items():
        setattr(spec.finish, k, v)
    return spec.validate()


def _engine(w):
    return np.full_like(w.frames, 0.5)


def _run(root, tmp_path, name, spec):
    out = process_shot(spec, _engine, str(tmp_path / f"j_{name}"), str(tmp_path / name))
    return [read_image(p).pixels[..., :3] for p in out["paths"]]


def test_spec_finish_block_defaults_on_and_is_validated():
    old = {"plate": "p.####.exr", "primary": {"path": "m.####.exr"}}
    spec = JobSpec.from_dict(old)  # a spec written before the finish block
    assert (spec.finish.detail, spec.finish.grain) == (True, True)
    off = JobSpec.from_dict({**old, "finish": {"grain": False}})
    assert (off.finish.detail, off.finish.grain) == (True, False)
    assert JobSpec.from_json(off.to_json()).finish.grain is False
    for bad, where in (
        ({"detail": "yes"}, "finish.detail"),
        ({"sharpen": True}, "finish.sharpen"),
        (None, "finish"),
        ([True], "finish"),
    ):
        with pytest.raises(SpecError) as err:
            JobSpec.from_dict({**old, "finish": bad})
        assert where in str(err.value)


def test_off_gives_the_engine_s_fill_exactly(shot_dir, tmp_path, monkeypatch):
    import void_vfx.render.assemble as assemble

    def boom(*a, **k):
        raise AssertionError("the finish ran although the spec switches it off")

    monkeypatch.setattr(assemble, "finish_fill", boom)
    spec = _spec(shot_dir, detail=False, grain=False)
    outs = _run(shot_dir, tmp_path, "off", spec)
    shot = Shot.open(spec)
    for f, out in zip(range(FIRST, LAST + 1), outs, strict=True):
        alpha = paste_alpha(shot.quadmask(f), spec.roi.feather)
        plate = read_image(str(shot_dir / f"plate.{f}.exr")).pixels
        assert np.array_equal(out[alpha == 0], plate[alpha == 0])
        # the engine's 0.5 (display sRGB) as linear, exactly as the plate's space gives it
        fill = out[alpha == 1]
        assert np.all(fill == fill[0]) and abs(float(fill[0, 0]) - 0.214) < 0.001


def test_on_puts_the_plate_s_grain_into_the_fill_repeatably(shot_dir, tmp_path):
    spec = _spec(shot_dir, seed=7)
    first = _run(shot_dir, tmp_path, "on1", spec)
    again = _run(shot_dir, tmp_path, "on2", spec)
    other = _run(shot_dir, tmp_path, "on3", _spec(shot_dir, seed=8))
    shot = Shot.open(spec)
    for f, a, b, c in zip(range(FIRST, LAST + 1), first, again, other, strict=True):
        assert a.tobytes() == b.tobytes()  # the same seed and frame: the same bits
        inside = paste_alpha(shot.quadmask(f), spec.roi.feather) == 1
        assert not np.array_equal(a[inside], c[inside])  # another seed: other grain
        fill = a[inside]
        assert abs(float(fill.mean()) - 0.214) < 0.005  # the engine's level is kept
        std = fill.std(axis=0)
        assert np.all(np.abs(std / GRAIN - 1) < 0.1), std


def test_cli_switches_reach_the_spec(shot_dir):
    import argparse

    from void_vfx.cli.remove import add_remove_arguments, build_remove_spec

    p = argparse.ArgumentParser()
    add_remove_arguments(p)
    base = [str(shot_dir / "plate.#.exr"), "--primary", str(shot_dir / "matte.#.exr")]
    spec = build_remove_spec(p.parse_args(base), "preview")
    assert (spec.finish.detail, spec.finish.grain) == (True, True)
    spec = build_remove_spec(p.parse_args([*base, "--no-grain"]), "preview")
    assert (spec.finish.detail, spec.finish.grain) == (True, False)
    spec = build_remove_spec(p.parse_args([*base, "--no-detail", "--no-grain"]), "preview")
    assert (spec.finish.detail, spec.finish.grain) == (False, False)


def test_grain_off_adds_none(shot_dir, tmp_path):
    """Detail on, grain off: the grain is measured (to take it out of transferred detail) but
    none is added; here the crop is not enlarged, so the fill is the engine's exactly."""
    spec = _spec(shot_dir, detail=True, grain=False)
    shot = Shot.open(spec)
    for f, out in zip(range(FIRST, LAST + 1), _run(shot_dir, tmp_path, "d", spec), strict=True):
        fill = out[paste_alpha(shot.quadmask(f), spec.roi.feather) == 1]
        assert np.all(fill == fill[0])


def test_no_grain_on_top_of_a_preview_fill_that_carries_the_plate_s_own(shot_dir, tmp_path):
    """The preview engine fills from the plate's own frames, grain and all: matched grain would
    double it, so a preview job adds none though the spec leaves grain on."""
    spec = _spec(shot_dir, seed=7)
    spec.engine = "preview"
    assert spec.finish.grain
    shot = Shot.open(spec)
    for f, out in zip(range(FIRST, LAST + 1), _run(shot_dir, tmp_path, "p", spec), strict=True):
        fill = out[paste_alpha(shot.quadmask(f), spec.roi.feather) == 1]
        assert np.all(fill == fill[0])


def test_source_rows_are_decoded_once_and_kept_within_the_budget():
    """Frames around a frame share its plate rows as a source: decoded once, kept (whole width)
    for the regions inside them, the oldest dropped past the byte budget."""
    from types import SimpleNamespace

    from void_vfx.render.finish import SourceCache

    decoded = []

    def decode_rows(path, frame, y0, y1, x0, x1):
        decoded.append(frame)
        return np.full((y1 - y0, x1 - x0, 3), float(frame), np.float32)

    shot = SimpleNamespace(
        width=40, height=30, decode_rows=decode_rows, plate=SimpleNamespace(path=str)
    )
    cache = SourceCache(budget=2 * 40 * 20 * 3 * 4)  # two frames of 20 whole rows
    a = cache.read(shot, 1001, (5, 0, 15, 20))
    assert a.shape == (20, 10, 3) and a[0, 0, 0] == 1001.0
    assert cache.read(shot, 1001, (30, 5, 40, 15))[0, 0, 0] == 1001.0  # inside the kept rows
    assert decoded == [1001]
    cache.read(shot, 1001, (0, 10, 40, 25))  # rows below the kept ones: decoded again
    cache.read(shot, 1002, (0, 0, 40, 15))
    cache.read(shot, 1003, (0, 0, 40, 15))
    assert cache.get(1001, (0, 10, 40, 25)) is None  # the oldest went
    assert decoded == [1001, 1001, 1002, 1003]
