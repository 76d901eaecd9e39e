"""Job spec: JSON round trip, validation naming the field, versioned output names."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import pytest

from void_vfx.errors import SpecError
from void_vfx.job.naming import existing_versions, plate_stem, reserve_output
from void_vfx.job.spec import SCHEMA, JobSpec, MatteSource


def _spec(**kw) -> JobSpec:
    base = dict(
        plate="/shots/sh010/plate.####.exr", primary=MatteSource("/shots/sh010/roto.####.exr")
    )
    base.update(kw)
    return JobSpec(**base)


def test_round_trip_keeps_every_field() -> None:
    spec = _spec(
        affected=MatteSource("/shots/sh010/shadow.####.exr", channel="mask.a", invert=True),
        frame_range=(1001, 1100),
        fps="23.976",
        colourspace="ACEScg",
        prompt="An empty street.",
    )
    spec.sampling.passes = 2
    spec.sampling.seed = 1234
    spec.roi.feather = 12
    spec.output.compression = "dwaa:45"
    text = spec.validate().to_json()
    data = json.loads(text)
    assert data["schema"] == SCHEMA
    back = JobSpec.from_json(text)
    assert back == spec
    assert back.frame_range == (1001, 1100)
    assert back.fps_fraction() == Fraction(24000, 1001)
    params = back.engine_params()
    assert params["passes"] == 2
    assert params["pass1"] == {"steps": 30, "guidance": 1.0}
    assert params["pass2"] == {"steps": 50, "guidance": 6.0}


def test_pass2_alone_on_a_saved_pass1_result() -> None:
    spec = _spec(pass1_result=MatteSource("/renders/plate_void_v001/plate_void_v001.####.exr"))
    with pytest.raises(SpecError) as info:
        spec.validate()
    assert info.value.field == "pass1_result"
    spec.sampling.passes = 2
    assert JobSpec.from_json(spec.validate().to_json()).engine_params()["passes"] == "pass2"


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"plate": ""}, "plate"),
        ({"primary": None}, "primary"),
        ({"quadmask": MatteSource("q.####.png")}, "quadmask"),
        ({"frame_range": (10, 1)}, "frame_range"),
        ({"fps": "fast"}, "fps"),
        ({"engine": "sdxl"}, "engine"),
        ({"highlight": "tonemap"}, "highlight"),
    ],
)
def test_validation_names_the_field(patch: dict, field: str) -> None:
    with pytest.raises(SpecError) as info:
        _spec(**patch).validate()
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("window", "min_length"), 20, "window.min_length"),
        (("window", "overlap"), 150, "window.overlap"),
        (("roi", "mode"), "stretch", "roi.mode"),
        (("roi", "feather"), -1, "roi.feather"),
        (("sampling", "passes"), 3, "sampling.passes"),
        (("sampling", "pass1_steps"), 0, "sampling.pass1_steps"),
        (("mask", "primary_threshold"), 1.5, "mask.primary_threshold"),
        (("output", "compression"), "jpeg", "output.compression"),
        (("output", "pixel_type"), "uint8", "output.pixel_type"),
    ],
)
def test_nested_validation(path: tuple[str, str], value, field: str) -> None:
    spec = _spec()
    setattr(getattr(spec, path[0]), path[1], value)
    with pytest.raises(SpecError) as info:
        spec.validate()
    assert info.value.field == field


def test_from_dict_rejects_unknown_and_mistyped_fields() -> None:
    data = _spec().to_dict()
    data["sampling"]["stepz"] = 3
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict(data)
    assert info.value.field == "sampling.stepz"
    data = _spec().to_dict()
    data["sampling"]["seed"] = "42"
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict(data)
    assert info.value.field == "sampling.seed"
    data = _spec().to_dict()
    data["schema"] = "void-vfx/job/99"
    with pytest.raises(SpecError, match="unsupported"):
        JobSpec.from_dict(data)
    with pytest.raises(SpecError, match="not valid JSON"):
        JobSpec.from_json("{nope")


@pytest.mark.parametrize(
    "pattern, stem",
    [
        ("/shots/sh010/plate.####.exr", "plate"),
        ("sh010_bg_v003.%04d.exr", "sh010_bg_v003"),
        ("plate_$F4.exr", "plate"),
        ("plate.[1001-1100].exr", "plate"),
        ("/x/plate.1001.exr", "plate"),
        ("still.exr", "still"),
    ],
)
def test_plate_stem(pattern: str, stem: str) -> None:
    assert plate_stem(pattern) == stem


def test_versions_never_overwrite(tmp_path, monkeypatch) -> None:
    (tmp_path / "plates").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # no output folder given: the current one
    plate = str(tmp_path / "plates" / "plate.####.exr")
    a = reserve_output(plate)
    b = reserve_output(plate)
    assert (a.version, b.version) == (1, 2)
    assert os.path.isdir(a.folder) and a.folder != b.folder
    assert a.path(1001).endswith("work/plate_void_v001/plate_void_v001.1001.exr")
    assert a.pattern.endswith("plate_void_v001.####.exr")
    assert existing_versions(str(tmp_path / "work"), "plate_void") == [1, 2]
    assert os.listdir(tmp_path / "plates") == []  # nothing beside the plates
    with pytest.raises(SpecError, match="already exists"):
        reserve_output(plate, version=2)
    c = reserve_output(plate, str(tmp_path / "out"), name="sh010", version=7)
    assert c.folder.endswith("sh010_void_v007")
    # a stray v009 file bumps the next version past it
    (tmp_path / "work" / "plate_void_v009.note").write_text("x")
    assert reserve_output(plate).version == 10


def test_every_compression_the_spec_accepts_is_one_the_writer_accepts(tmp_path) -> None:
    """A spec that validates must never fail at the last step, writing the output."""
    np = pytest.importorskip("numpy")
    from void_vfx.job.spec import COMPRESSIONS
    from void_vfx.media.image_io import read_header
    from void_vfx.media.image_write import write_exr

    for codec in COMPRESSIONS:
        spec = _spec()
        spec.output.compression = codec
        spec.validate()
        out = write_exr(str(tmp_path / f"{codec}.exr"), np.zeros((8, 8, 3)), compression=codec)
        assert read_header(out).compression == codec  # OIIO would silently fall back to zip
    for bad in ("htj2k", "dwaa:high", "zip:"):
        spec = _spec()
        spec.output.compression = bad
        with pytest.raises(SpecError) as info:
            spec.validate()
        assert info.value.field == "output.compression"


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict({"primary": {"path": "m.####.exr"}})
    assert info.value.field == "plate"
    with pytest.raises(SpecError) as info:
        JobSpec.from_dict({"plate": "p.####.exr", "primary": {"channel": "a"}})
    assert info.value.field == "primary.path"


def test_engine_options_are_typed_per_engine_and_reach_the_engine() -> None:
    """The preview's documented options (its module docstring) can be set from a spec; an
    unknown name, a wrong type or an out-of-range value is refused, naming the key, the engine
    and the valid names."""
    data = json.loads(_spec(engine="preview").to_json())
    data["params"] = {"static_camera": True, "grow_px": 6, "seam_blend": False}
    spec = JobSpec.from_json(json.dumps(data))
    params = spec.engine_params()
    assert (params["static_camera"], params["grow_px"], params["seam_blend"]) == (True, 6, False)
    assert params["passes"] == 1  # the sampling's, beside them
    assert JobSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SpecError) as err:
        JobSpec.from_dict({**data, "params": {"static_camer": True}})
    assert err.value.field == "params.static_camer"
    for name in ("preview", "grow_px", "relink", "seam_blend", "shadow_lift", "static_camera"):
        assert name in str(err.value)
    for bad in ({"grow_px": True}, {"grow_px": 65}, {"grow_px": 2.5}, {"relink": 1}):
        with pytest.raises(SpecError, match=f"params.{next(iter(bad))}"):
            JobSpec.from_dict({**data, "params": bad})
    with pytest.raises(SpecError, match="void engine has no such option; its options: eta"):
        JobSpec.from_dict({**data, "engine": "void"})  # a preview option, for VOID
    void = JobSpec.from_dict({**data, "engine": "void", "params": {"eta": 0, "noise_aug": 0.1}})
    assert void.engine_params()["eta"] == 0.0 and type(void.engine_params()["eta"]) is float
    with pytest.raises(SpecError, match="params.eta"):
        JobSpec.from_dict({**data, "engine": "void", "params": {"eta": 1.0}})
    with pytest.raises(SpecError, match="expected an object"):
        JobSpec.from_dict({**data, "params": ["grow_px"]})
