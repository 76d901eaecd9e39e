"""Nuke's default config names resolve to spaces that give nuke-default's own values.

The expected values are nuke-default's published formulas (imageworks/OpenColorIO-Configs,
nuke-default/make.py: the functions that write its LUTs), written out here in float64; Sony's
S-Log3 is checked against the first entry of nuke-default/luts/slog3.spi1d as well. The values
under test come from the real OCIO processors of the config the server builds.
"""

from __future__ import annotations

import re

import numpy as np
import PyOpenColorIO as ocio
import pytest

from void_vfx.errors import SpecError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.colour import ColourTransform
from void_vfx.media.colour_names import NUKE_DEFAULT_SPACES
from void_vfx.media.colour_rules import config_for

LOG_X = np.linspace(-0.125, 1.125, 4101)  # the range and sample count of nuke-default's LUTs
UNIT_X = np.linspace(0.0, 1.0, 2001)


def from_srgb(v):
    return np.where(v < 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def from_rec709(v):
    return np.where(v < 0.018 * 4.5, v / 4.5, (np.maximum(v + 0.099, 0) / 1.099) ** (1.0 / 0.45))


def black_offset_log(v, white, gamma, black_cv):
    black = 10.0 ** ((black_cv - white) / gamma)
    return (10.0 ** ((1023.0 * v - white) / gamma) - black) / (1.0 - black)


def from_alexa_v3_logc(v):
    a, b, c, d, e, f, cut = 5.555556, 0.052272, 0.247190, 0.385537, 5.367655, 0.092809, 0.010591
    return np.where(v > e * cut + f, (10.0 ** ((v - d) / c) - b) / a, (v - f) / e)


def from_slog3(v):
    code = v * 1023.0
    return np.where(
        code >= 171.2102946929,
        10.0 ** ((code - 420.0) / 261.5) * (0.18 + 0.01) - 0.01,
        (code - 95.0) * 0.01125 / (171.2102946929 - 95.0),
    )


def as_nuke_lut(formula):
    """nuke-default's own definition where it is a LUT: make.py samples the formula 4101 times
    over [-0.125, 1.125] into a .spi1d that OCIO interpolates linearly."""
    lut_x = np.linspace(-0.125, 1.125, 2**12 + 5)
    return lambda v: np.interp(v, lut_x, formula(lut_x))


EXPECTED = {
    "linear": (UNIT_X * 4.0, lambda v: v),
    "sRGB": (UNIT_X, from_srgb),
    "rec709": (UNIT_X, as_nuke_lut(from_rec709)),
    "Gamma1.8": (UNIT_X, lambda v: v**1.8),
    "Gamma2.2": (UNIT_X, lambda v: v**2.2),
    "Cineon": (LOG_X, lambda v: black_offset_log(v, 685.0, 300.0, 95.0)),
    "Panalog": (LOG_X, lambda v: black_offset_log(v, 681.0, 444.0, 64.0)),
    "REDLog": (LOG_X, lambda v: black_offset_log(v, 1023.0, 511.0, 0.0)),
    "ViperLog": (LOG_X, lambda v: 10.0 ** ((1023.0 * v - 1023.0) / 500.0)),
    "PLogLin": (LOG_X, lambda v: 10.0 ** ((v * 1023.0 - 445.0) * 0.002 / 0.6) * 0.18),
    "SLog": (LOG_X, lambda v: 10.0 ** ((v - 0.616596 - 0.03) / 0.432699) - 0.037584),
    "AlexaV3LogC": (LOG_X, from_alexa_v3_logc),
    "SLog3": (LOG_X, from_slog3),
}


@pytest.fixture(scope="module")
def nuke():
    return config_for("nuke-default")


def test_every_name_in_the_table_is_checked_here():
    assert set(EXPECTED) | {"raw"} == set(NUKE_DEFAULT_SPACES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_nuke_default_name_gives_nuke_defaults_values(nuke, name):
    x, formula = EXPECTED[name]
    want = formula(x.astype(np.float64))
    rgb = np.repeat(x.astype(np.float32)[:, None], 3, axis=1)
    # the processor a ColourTransform runs: the config's matrices folded together
    proc = nuke.getProcessor(name, "linear").getOptimizedCPUProcessor(ocio.OPTIMIZATION_LOSSLESS)
    got = np.array(proc.applyRGB(rgb.ravel().tolist()), np.float64).reshape(-1, 3)
    # float32 through the config's reference space and back: a few float32 steps
    np.testing.assert_allclose(got, np.repeat(want[:, None], 3, axis=1), rtol=2e-5, atol=2e-6)


def test_slog3_matches_the_first_entry_of_nuke_defaults_lut(nuke):
    proc = nuke.getProcessor("SLog3", "linear").getDefaultCPUProcessor()
    assert proc.applyRGB([-0.125, -0.125, -0.125])[0] == pytest.approx(-0.0329003287562, abs=1e-7)


def test_nuke_default_roles_are_nuke_defaults_not_the_aces_ones(nuke):
    # nuke-default/config.ocio roles: scene_linear linear, compositing_log Cineon, data raw
    assert nuke.getColorSpace("scene_linear").getName() == "Linear Rec.709 (sRGB)"
    assert nuke.getColorSpace("compositing_log").getName() == "Cineon"
    assert nuke.getColorSpace("raw").isData()


def test_a_linear_plate_named_in_nuke_default_converts_as_linear_rec709(nuke):
    rng = np.random.default_rng(5)
    plate = rng.random((500, 3), dtype=np.float32) * 3
    named = ColourTransform("linear", nuke).to_working(plate)
    aces = ColourTransform("Linear Rec.709 (sRGB)", config_for("")).to_working(plate)
    assert np.array_equal(named, aces)


def test_names_outside_nuke_default_are_refused_when_the_spec_is_made():
    for name in ("ACEScg", "REDSpace", "Linear Rec.709 (sRGB)", "linear "):
        with pytest.raises(SpecError, match=re.escape(f"colour space {name!r} has no exact")):
            JobSpec(
                plate="/p.####.exr",
                quadmask=MatteSource("/q.####.exr", "r"),
                colourspace=name,
                ocio_config="nuke-default",
            ).validate()
