"""Colour is checked before any job starts: the CLI's preflight, the conform's per-shot check.

A plate whose colour space no rule can tell (a 16-bit TIFF: TIFF states no default) or a name its
config lacks stops the command with one line that names the file, the frame and the option to
add, before a server is started or a folder is made.
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from void_vfx.cli.main import main
from void_vfx.errors import ColourError
from void_vfx.media.colour_rules import check_plate_colour
from void_vfx.media.image_write import write_exr


@pytest.fixture(autouse=True)
def no_ocio_env(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)


def _tiffs(folder, frames=range(1001, 1006)):
    for f in frames:
        buf = oiio.ImageBuf(oiio.ImageSpec(32, 24, 3, "uint16"))
        assert buf.write(str(folder / f"plate.{f}.tif"))
        write_exr(str(folder / f"matte.{f}.exr"), np.zeros((24, 32), np.float32))
    return str(folder / "plate.####.tif"), str(folder / "matte.####.exr")


def test_the_cli_refuses_a_plate_whose_space_cannot_be_told_before_anything(tmp_path, capsys):
    plate, matte = _tiffs(tmp_path)
    out = tmp_path / "out"
    rc = main(
        ["remove", plate, "--primary", matte, "--local", "--engine", "preview", "-o", str(out)]
    )
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    assert f"{tmp_path / 'plate.1001.tif'} (frame 1001): cannot tell the plate's colour" in err
    assert "--colourspace NAME" in err and "tiff of uint16" in err
    assert not out.exists()


def test_the_cli_refuses_a_name_its_config_lacks(tmp_path, capsys):
    plate, matte = _tiffs(tmp_path)
    rc = main(
        [
            "remove",
            plate,
            "--primary",
            matte,
            "--local",
            "--engine",
            "preview",
            "--ocio-config",
            "nuke-default",
            "--colourspace",
            "ACEScg",
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert rc != 0 and "colour space 'ACEScg' has no exact equivalent known for Nuke" in err
    assert not (tmp_path / "out").exists()


def test_a_given_name_in_its_config_passes_the_same_plate(tmp_path):
    plate, _ = _tiffs(tmp_path, [1001])
    d = check_plate_colour(plate, 1001, "Gamma2.2", "nuke-default")
    assert (d.name, d.rule) == ("Gamma 2.2 Encoded Rec.709", "given")


def test_the_conforms_check_names_the_frame_of_a_dpx_with_no_transfer(tmp_path):
    for f in (1, 2):
        assert oiio.ImageBuf(oiio.ImageSpec(8, 8, 3, "uint16")).write(str(tmp_path / f"s.{f}.dpx"))
    with pytest.raises(ColourError, match=r"s\.2\.dpx \(frame 2\): .*DPX transfer field"):
        check_plate_colour(str(tmp_path / "s.#.dpx"), 2)


def test_farm_prepare_refuses_it_before_a_job_is_described(tmp_path):
    from void_vfx.farm.job import describe_job
    from void_vfx.job.spec import JobSpec, MatteSource

    plate, matte = _tiffs(tmp_path)
    spec = JobSpec(plate=plate, primary=MatteSource(matte, "Y"), engine="preview")
    spec.output.dir = str(tmp_path / "out")
    with pytest.raises(ColourError, match=r"plate\.1001\.tif \(frames 1001-1005\).*--colourspace"):
        describe_job(spec)
    assert not (tmp_path / "out").exists()
