"""A plate's colour space from its own header, by the documented rules, in real OCIO configs.

Every file is written by OpenImageIO and read back by the project's header reader; the expected
spaces come from the standards that define each set of chromaticities (ITU-R BT.709, SMPTE
EG 432-1 for P3-D65, ACES S-2014-004 for AP1, SMPTE ST 2065-1 for AP0, ITU-R BT.2020) and from
OpenEXR's "Standard Attributes" (no chromaticities: Rec.709 primaries, D65 white).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.errors import ColourError, SpecError
from void_vfx.job.spec import JobSpec, MatteSource
from void_vfx.media.colour_rules import config_for, decide, resolve_spec_colour
from void_vfx.media.image_io import read_header

REC709 = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
P3D65 = (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290)
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
AP0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.0770, 0.32168, 0.33767)
REC2020 = (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290)
DCI_P3 = (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.314, 0.351)  # P3 with the DCI white

CONFIGS = ("", "ocio://cg-config-latest", "ocio://studio-config-v1.0.0_aces-v1.3_ocio-v2.1")


@pytest.fixture(autouse=True)
def no_ocio_env(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    monkeypatch.delenv("VOID_VFX_OCIO_CONFIGS", raising=False)


def write(path, pixel="half", **attrs):
    """A 4x4 RGB file written by OpenImageIO with ``attrs`` ({name: (type, value)})."""
    spec = oiio.ImageSpec(4, 4, 3, pixel)
    for key, (typ, value) in attrs.items():
        spec.attribute(key, oiio.TypeDesc(typ), value)
    buf = oiio.ImageBuf(spec)
    assert buf.write(str(path)), buf.geterror()
    return read_header(str(path))


def chroma(values):
    return {"chromaticities": ("float[8]", values)}


@pytest.mark.parametrize("ref", CONFIGS)
@pytest.mark.parametrize(
    "values, expected",
    [
        (REC709, "Linear Rec.709 (sRGB)"),
        (P3D65, "Linear P3-D65"),
        (AP1, "ACEScg"),
        (AP0, "ACES2065-1"),
        (REC2020, "Linear Rec.2020"),
    ],
    ids=["rec709", "p3d65", "ap1", "ap0", "rec2020"],
)
def test_chromaticities_pick_the_linear_space_with_those_primaries(tmp_path, ref, values, expected):
    header = write(tmp_path / "c.exr", **chroma(values))
    d = decide(header, config_for(ref), ref)
    assert (d.name, d.rule) == (expected, "chromaticities")
    assert not d.read  # deduced from primaries: said as a note with its rule


@pytest.mark.parametrize("ref", (*CONFIGS, "nuke-default"))
def test_an_exr_without_chromaticities_is_linear_rec709_never_the_scene_linear_role(tmp_path, ref):
    config = config_for(ref)
    header = write(tmp_path / "plain.exr")
    d = decide(header, config, ref)
    assert d.name == "Linear Rec.709 (sRGB)" and d.rule == "format default"
    assert "OpenEXR" in d.reason and "Rec.709" in d.reason
    if ref != "nuke-default":  # the ACES configs' role would have said ACEScg: the old fault
        assert config.getColorSpace("scene_linear").getName() == "ACEScg"
    # a float EXR the same
    assert decide(write(tmp_path / "f.exr", "float"), config, ref).name == d.name


def test_an_explicit_attribute_decides_before_the_chromaticities(tmp_path):
    config = config_for("")
    # The file says ACEScct (a log encoding of AP1): the attribute wins over the primaries.
    h = write(tmp_path / "a.exr", colorspace=("string", "acescct"), **chroma(AP1))
    d = decide(h, config)
    assert (d.name, d.rule, d.read) == ("ACEScct", "attribute", True)
    assert "colorspace attribute is 'acescct'" in d.reason
    # OpenImageIO's own names map to the config's space
    h = write(tmp_path / "o.exr", **{"oiio:ColorSpace": ("string", "lin_ap0_scene")})
    assert decide(h, config).name == "ACES2065-1"
    # OpenImageIO 3 stores its tag as OpenEXR's colorInteropID
    h = write(tmp_path / "i.exr", **{"oiio:ColorSpace": ("string", "Linear")})
    assert h.attributes["colorInteropID"] == "lin_rec709_scene"
    assert decide(h, config).name == "Linear Rec.709 (sRGB)"
    # a bare "linear" says nothing of the primaries: they decide, or OpenEXR's default
    h = write(tmp_path / "l.exr", colorspace=("string", "Linear"), **chroma(AP1))
    assert (decide(h, config).name, decide(h, config).rule) == ("ACEScg", "chromaticities")
    h = write(tmp_path / "l2.exr", colorspace=("string", "scene_linear"))
    assert decide(h, config).name == "Linear Rec.709 (sRGB)"
    # ... but never for a file whose format has no linear default (TIFF keeps no such tag:
    # the header read is given one)
    tif = write(tmp_path / "l.tif", "uint16")
    tif = replace(tif, attributes={**tif.attributes, "colorspace": "linear"})
    with pytest.raises(ColourError, match="says linear, but not in which primaries"):
        decide(tif, config)


def test_integer_formats_follow_their_own_specifications(tmp_path):
    config = config_for("")
    srgb = "sRGB Encoded Rec.709 (sRGB)"
    png = decide(write(tmp_path / "f.png", "uint8"), config)  # OIIO reads PNG's rule as a tag
    assert png.name == srgb and png.rule == "attribute"
    assert decide(write(tmp_path / "f.jpg", "uint8"), config).name == srgb
    tif = decide(write(tmp_path / "f.tif", "uint8"), config)
    assert (tif.name, tif.rule) == (srgb, "format default")
    # DPX: its transfer field (SMPTE 268M); printing density is Cineon, in nuke-default
    log = write(tmp_path / "f.dpx", "uint16", **{"dpx:Transfer": ("string", "Printing density")})
    assert log.attributes["dpx:Transfer"] == "Printing density"
    d = decide(log, config_for("nuke-default"), "nuke-default")
    assert (d.name, d.rule) == ("Cineon", "format default")
    with pytest.raises(ColourError, match=r"Printing density.*--ocio-config nuke-default"):
        decide(log, config)
    v709 = write(tmp_path / "v.dpx", "uint16", **{"dpx:Transfer": ("string", "ITU-R 709-4")})
    assert decide(v709, config).name == "Camera Rec.709"


@pytest.mark.parametrize(
    "name, pixel, attrs, says",
    [
        ("cam.exr", "half", {"colorspace": ("string", "LogC9 Wide")}, "'LogC9 Wide'.*does not"),
        ("role.exr", "half", {"colorspace": ("string", "compositing_log")}, "names the role"),
        ("dci.exr", "half", chroma(DCI_P3), r"0\.314, 0\.351\) match none"),
        ("t16.tif", "uint16", {}, "tiff of uint16 values names no space"),
        ("tf.tif", "float", {}, "tiff of float values"),
        ("u.dpx", "uint16", {}, "DPX transfer field is 'Undefined'"),
    ],
)
def test_a_plate_whose_space_cannot_be_told_is_refused_with_the_option(
    tmp_path, name, pixel, attrs, says
):
    header = write(tmp_path / name, pixel, **attrs)
    with pytest.raises(ColourError, match=says) as err:
        decide(header, config_for(""))
    assert "--colourspace NAME" in str(err.value)


def _spec(plate, **kw):
    return JobSpec(plate=plate, quadmask=MatteSource(plate, "r"), **kw).validate()


def test_the_spec_names_a_space_and_its_config(tmp_path):
    header = write(tmp_path / "p.exr", **chroma(AP1))
    plate = str(tmp_path / "p.exr")
    # given names are looked up where they were chosen
    d = resolve_spec_colour(_spec(plate, colourspace="linear", ocio_config="nuke-default"))
    assert (d.name, d.rule, d.config) == ("Linear Rec.709 (sRGB)", "given", "nuke-default")
    d = resolve_spec_colour(_spec(plate, colourspace="scene_linear", ocio_config="nuke-default"))
    assert d.name == "Linear Rec.709 (sRGB)"  # nuke-default's role: not the ACES one
    d = resolve_spec_colour(_spec(plate, colourspace="scene_linear"))
    assert d.name == "ACEScg"  # the ACES studio config's role, asked for by name
    # no name: the header decides, in the named config
    assert resolve_spec_colour(_spec(plate), header).name == "ACEScg"
    # an old spec (no ocio_config field) still loads and means the server's config
    old = JobSpec.from_dict({"plate": plate, "quadmask": {"path": plate}, "colourspace": "ACEScg"})
    assert old.ocio_config == "" and resolve_spec_colour(old).name == "ACEScg"


def test_unknown_names_and_configs_are_refused_before_anything_runs(tmp_path):
    plate = str(tmp_path / "p.####.exr")  # no file needed: the spec alone is refused
    with pytest.raises(SpecError, match=r"colourspace: colour space 'ACEScg' has no exact"):
        _spec(plate, colourspace="ACEScg", ocio_config="nuke-default")
    with pytest.raises(SpecError, match=r"ocio_config: OCIO config 'configs/show.ocio' is none"):
        _spec(plate, ocio_config="configs/show.ocio")
    with pytest.raises(ColourError, match=r"'ACES cg'.*did you mean 'ACEScg'"):
        resolve_spec_colour(_spec(plate, colourspace="ACES cg"))
    with pytest.raises(ColourError, match="cannot load OCIO config 'ocio://no-such-config'"):
        resolve_spec_colour(_spec(plate, colourspace="x", ocio_config="ocio://no-such-config"))


def test_a_config_file_is_read_by_a_server_only_when_it_is_allowed(tmp_path, monkeypatch):
    path = tmp_path / "show" / "config.ocio"
    path.parent.mkdir()
    path.write_text(config_for("ocio://cg-config-latest").serialize())
    spec = _spec(str(tmp_path / "p.exr"), colourspace="lin_ap1", ocio_config=str(path))
    with pytest.raises(ColourError, match=f"VOID_VFX_OCIO_CONFIGS={path}"):
        resolve_spec_colour(spec)  # a server: not its $OCIO, not listed
    assert resolve_spec_colour(spec, trusted=True).name == "ACEScg"  # the user's own machine
    monkeypatch.setenv("VOID_VFX_OCIO_CONFIGS", f"/elsewhere/config.ocio:{path}")
    assert resolve_spec_colour(spec).name == "ACEScg"


def test_chromaticities_written_with_rounded_white_still_match(tmp_path):
    rounded = (*REC709[:6], 0.31271, 0.32902)  # D65 as some writers round it
    d = decide(write(tmp_path / "r.exr", **chroma(rounded)), config_for(""))
    assert d.name == "Linear Rec.709 (sRGB)"
    assert np.allclose(read_header(str(tmp_path / "r.exr")).attributes["chromaticities"], rounded)


def test_a_submitted_name_is_checked_in_its_config_without_the_files(tmp_path):
    from void_vfx.media.colour_rules import check_named_colour

    plate = str(tmp_path / "nowhere.####.exr")  # not read: a streamed job has no files yet
    cg = "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1"
    assert check_named_colour(_spec(plate, colourspace="ACEScct", ocio_config=cg)).name == (
        "ACEScct"
    )
    assert check_named_colour(_spec(plate)) is None
    with pytest.raises(ColourError, match=r"unknown colour space 'ACES cct'.*did you mean"):
        check_named_colour(_spec(plate, colourspace="ACES cct", ocio_config=cg))
    with pytest.raises(ColourError, match="is not one this server reads"):
        check_named_colour(_spec(plate, colourspace="x", ocio_config=str(tmp_path / "c.ocio")))
