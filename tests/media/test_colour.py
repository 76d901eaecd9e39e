"""Colour through the real OpenColorIO and its built-in ACES configs."""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.errors import ColourError
from void_vfx.media.colour import (
    ColourTransform,
    find_working_space,
    load_config,
    shoulder,
    unshoulder,
)
from void_vfx.media.colour_rules import guess_colourspace
from void_vfx.media.image_io import read_header


def srgb_encode(x):
    x = np.asarray(x, np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


@pytest.fixture(autouse=True)
def no_ocio_env(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)


def test_config_comes_from_ocio_env_else_the_builtin(monkeypatch):
    assert "studio-config" in load_config().getName()
    monkeypatch.setenv("OCIO", "ocio://cg-config-latest")
    assert "cg-config" in load_config().getName()
    assert ColourTransform("ACEScg").working_space == "sRGB Encoded Rec.709 (sRGB)"
    monkeypatch.setenv("OCIO", "/nowhere/config.ocio")
    with pytest.raises(ColourError, match="/nowhere/config.ocio"):
        load_config()


def test_working_space_is_srgb_encoded_rec709():
    assert find_working_space(load_config()) == "sRGB Encoded Rec.709 (sRGB)"
    t = ColourTransform("lin_rec709")  # an alias resolves to its colour space
    assert t.source_space == "Linear Rec.709 (sRGB)"
    x = np.linspace(0, 0.6, 4001, dtype=np.float32)  # encoded below the knee: plain sRGB
    rgb = np.stack([x, x[::-1], x * 0.5], axis=1)
    assert np.abs(t.to_working(rgb) - srgb_encode(rgb)).max() < 2e-5


@pytest.mark.parametrize("highlight", ["shoulder", "clip"])
def test_round_trip_is_exact_for_what_the_encoding_holds(highlight):
    rng = np.random.default_rng(7)
    lin = rng.random((200_000, 3), dtype=np.float32)  # linear Rec.709 0-1: fully held
    t = ColourTransform("Linear Rec.709 (sRGB)", highlight=highlight)
    work = t.to_working(lin)
    assert work.dtype == np.float32 and 0 <= work.min() and work.max() < 1.0 + 1e-6
    # float precision: under 1e-6 is a few float32 steps (1.2e-7 at 1.0)
    assert np.abs(t.from_working(work) - lin).max() < 1e-6

    # ACEScg and ACES2065-1 plates: every in-gamut Rec.709 colour comes back exactly (up to
    # 0.95: at the very top of the shoulder, extreme values lose float32 precision in the matrix).
    work_in = rng.random((200_000, 3), dtype=np.float32) * np.float32(0.95)
    for space in ("ACEScg", "ACES2065-1"):
        t = ColourTransform(space, highlight=highlight)
        plate = t.from_working(work_in)
        assert np.abs(t.to_working(plate) - work_in).max() < 1e-5
        assert np.abs(t.from_working(t.to_working(plate)) - plate).max() < 1e-5


def test_shoulder_keeps_highlights_distinct_and_invertible():
    t = ColourTransform("Linear Rec.709 (sRGB)")
    lin = np.geomspace(1.0, 60000.0, 20_000, dtype=np.float32)
    rgb = np.repeat(lin[:, None], 3, axis=1)
    work = t.to_working(rgb)[:, 0]
    assert work.max() < 1.0 and work.min() >= 0.8
    assert (np.diff(work) > 0).all()  # strictly increasing: no flat clip, no banding
    back = t.from_working(np.repeat(work[:, None], 3, axis=1))[:, 0]
    # Undone exactly up to float precision (README): each value comes back within two float32
    # steps of its working value, whatever the steepness of the curve up there...
    step_up = np.nextafter(work, np.float32(2.0))
    one_step = np.abs(t.from_working(np.repeat(step_up[:, None], 3, axis=1))[:, 0] - back)
    assert (np.abs(back - lin) <= 2.0 * one_step).all()
    # ...which is, relative to the value: 2e-6 up to 2, 2e-5 up to 100, 4e-4 up to 60000
    rel = np.abs(back - lin) / lin
    assert rel[lin < 2].max() < 2e-6 and rel[lin < 100].max() < 2e-5 and rel.max() < 4e-4
    clip = ColourTransform("Linear Rec.709 (sRGB)", highlight="clip")
    assert (clip.to_working(rgb) >= 1.0 - 1e-6).all() and clip.to_working(rgb).max() == 1.0
    # pure white from the model comes back finite, or capped at the window's ceiling
    white = np.ones((1, 3), np.float32)
    assert np.isfinite(t.from_working(white)).all() and t.from_working(white).max() <= 65504
    ceiling = float(t.to_working(np.full((1, 3), 4.0, np.float32))[0, 0])
    assert abs(float(t.from_working(white, ceiling=ceiling)[0, 0]) - 4.0) < 1e-3


def test_shoulder_functions_are_inverse_and_continuous():
    e = np.linspace(-0.5, 50, 100_001, dtype=np.float32)
    y = shoulder(e.copy())
    assert y.min() == 0 and y.max() < 1.0
    assert np.abs(np.diff(y)).max() < 1e-3  # continuous at the knee (slope 1 there)
    held = e >= 0
    back = unshoulder(y.copy())
    rel = np.abs(back[held] - e[held]) / np.maximum(e[held], 1.0)
    below = held & (e < 1.5)
    assert (rel[below[held]] < 1e-5).all()


def test_nan_and_inf_never_come_out():
    t = ColourTransform("ACEScg")
    bad = np.array([[np.nan, 1, 1], [np.inf, -np.inf, 0], [1e30, -1e30, 3e38]], np.float32)
    work = t.to_working(bad)
    assert np.isfinite(work).all() and 0 <= work.min() and work.max() < 1
    nasty = np.array([[np.nan, np.inf, -np.inf], [2.0, -1.0, 1.0]], np.float32)
    assert np.isfinite(t.from_working(nasty)).all()


def test_unknown_colour_space_suggests_close_names():
    with pytest.raises(ColourError, match=r"'ACES cg'.*did you mean 'ACEScg'"):
        ColourTransform("ACES cg")
    with pytest.raises(ColourError, match=r"Linear Rec\.709 \(sRGB\)"):
        ColourTransform("Linear rec709")
    with pytest.raises(ColourError, match="highlight must be"):
        ColourTransform("ACEScg", highlight="soft")


def test_guess_colourspace_follows_the_file_not_a_config_role():
    """The rules themselves are tested in test_colour_rules.py; this is the old entry point."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/plain.exr"
        buf = oiio.ImageBuf(oiio.ImageSpec(4, 4, 3, "half"))
        assert buf.write(path)
        g = guess_colourspace(read_header(path))
    assert g.name == "Linear Rec.709 (sRGB)" and g.rule == "format default"  # not ACEScg


def test_conversion_in_blocks_gives_the_bits_of_one_whole_array_pass():
    """A crop is converted in cache-sized blocks: every value must be what OCIO's own
    ``applyRGB`` over the whole array, then the shoulder, gives (blocks, a ragged last block,
    a NaN in one block only)."""
    from void_vfx.media import colour

    rng = np.random.default_rng(3)
    rows = 3 * colour.BLOCK_PIXELS // 97 + 2  # three blocks and a ragged part of a fourth
    lin = rng.random((rows, 97, 3), dtype=np.float32) * np.float32(6.0)
    assert lin.shape[0] * lin.shape[1] % colour.BLOCK_PIXELS != 0
    lin[5, 7, 1] = np.nan
    t = ColourTransform("ACEScg")
    clean = np.nan_to_num(lin, nan=0.0, posinf=65504.0, neginf=0.0)
    t._forward.applyRGB(clean)  # in place, over the whole array at once
    expected = shoulder(clean)
    work = t.to_working(lin)
    assert np.array_equal(work, expected) and expected.max() > 0.9  # the shoulder was reached
    back = unshoulder(work.copy(), ceiling=0.97)
    t._inverse.applyRGB(back)
    assert np.array_equal(t.from_working(work, ceiling=0.97), back)


def _every_half_value(seed: int) -> np.ndarray:
    """All 65536 half bit patterns (NaN, Inf, subnormals, negatives) in each channel, each
    channel in its own order, as a (256, 256, 3) half image."""
    rng = np.random.default_rng(seed)
    bits = np.stack([rng.permutation(65536).astype(np.uint16) for _ in range(3)], axis=-1)
    return bits.reshape(256, 256, 3).view(np.float16)


def _ocio_then_highlight(config, source: str, half: np.ndarray, highlight: str) -> np.ndarray:
    """What the module docstring says a conversion is: NaN/Inf replaced, the config's own
    transform to the working space, NaN/Inf replaced, then the shoulder (by its formula) or a
    clip; float32 throughout."""
    import PyOpenColorIO as OCIO

    values = np.nan_to_num(half.astype(np.float32), nan=0.0, posinf=65504.0, neginf=0.0)
    proc = config.getProcessor(source, find_working_space(config))
    proc.getOptimizedCPUProcessor(OCIO.OPTIMIZATION_LOSSLESS).applyRGB(values)
    values = np.nan_to_num(values, nan=0.0, posinf=65504.0, neginf=0.0)
    if highlight == "clip":
        return np.clip(values, 0.0, 1.0)
    k, s = np.float32(0.8), np.float32(0.2)
    e = np.maximum(values, np.float32(0.0))
    return np.where(e > k, k + ((e - k) * s) / ((e - k) + s), e)


@pytest.mark.parametrize("highlight", ["shoulder", "clip"])
@pytest.mark.parametrize(
    "source",
    ["Linear Rec.709 (sRGB)", "ACEScg", "Gamma 2.2 Rec.709 - Texture", "ARRI LogC3 (EI800)"],
)
def test_every_half_value_converts_to_the_bits_of_the_ocio_transform(source, highlight):
    """Half plates are converted through a table when the transform has no crosstalk between
    channels (Linear Rec.709, a gamma) and value by value when it has (ACEScg, LogC3: a
    matrix). Either way, every half value in every channel must come out as the config's own
    transform and the highlight curve give it."""
    t = ColourTransform(source, highlight=highlight)
    for seed in (1, 2):  # the second call uses the table made by the first
        half = _every_half_value(seed)
        expected = _ocio_then_highlight(t.config, t.source_space, half, highlight)
        assert np.array_equal(t.to_working(half), expected)
        assert np.array_equal(t.to_working(half[40:90, 7:200]), expected[40:90, 7:200])


def _gain_config(matrix: list[float]):
    """A config with a working sRGB space and a 'plate' space that is ``matrix`` (3x3) away."""
    import PyOpenColorIO as OCIO

    cfg = OCIO.Config.CreateRaw()
    working = OCIO.ColorSpace(name="sRGB Encoded Rec.709 (sRGB)")
    plate = OCIO.ColorSpace(name="plate")
    m = matrix
    m44 = [m[0], m[1], m[2], 0, m[3], m[4], m[5], 0, m[6], m[7], m[8], 0, 0, 0, 0, 1]
    plate.setTransform(OCIO.MatrixTransform(m44), OCIO.COLORSPACE_DIR_TO_REFERENCE)
    cfg.addColorSpace(working)
    cfg.addColorSpace(plate)
    return cfg


@pytest.mark.parametrize(
    "matrix",
    [
        [2.0, 0, 0, 0, 0.5, 0, 0, 0, 1.5],  # a gain per channel: three different tables
        [0.6, 0.3, 0.1, 0.2, 0.7, 0.1, 0.0, 0.1, 0.9],  # crosstalk: no table can hold it
    ],
)
def test_a_matrix_is_looked_up_only_when_it_has_no_crosstalk(matrix):
    cfg = _gain_config(matrix)
    t = ColourTransform("plate", cfg)
    half = _every_half_value(5)
    expected = _ocio_then_highlight(cfg, "plate", half, "shoulder")
    assert np.array_equal(t.to_working(half), expected)
