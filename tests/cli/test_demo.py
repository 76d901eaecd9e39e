"""The demo shot, the review images, and ``void-vfx demo`` end to end through a real server."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from void_vfx.cli.main import main as cli_main
from void_vfx.demo.review import contact_sheet, pick_frames, psnr_in_mask, review_movie
from void_vfx.demo.run import choose_engine, demo, make_demo_shot
from void_vfx.errors import ImageIOError, SpecError
from void_vfx.media.image_io import read_header, read_image


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(
        tmp_path_factory.mktemp("shot"), frames=6, size=(160, 96), fps="24000/1001"
    )


def test_demo_shot_writes_every_sequence_with_fps_and_half_floats(shot):
    for which, channels in (("plate", 3), ("clean", 3), ("primary", 1), ("affected", 1)):
        paths = shot.paths(which)
        assert [p.rsplit(".", 2)[-2] for p in paths] == [str(f) for f in range(1001, 1007)]
        header = read_header(paths[0])
        assert (header.width, header.height) == (160, 96)
        assert header.pixel_type == "half" and len(header.channel_names) == channels
        assert tuple(header.attributes["FramesPerSecond"]) == (24000, 1001)
    assert shot.fps == "24000/1001" and (shot.first, shot.last) == (1001, 1006)


def test_demo_plate_is_the_clean_plate_outside_the_mattes_and_has_highlights(shot):
    for i in (0, 5):
        plate = read_image(shot.paths("plate")[i], "rgb").pixels
        clean = read_image(shot.paths("clean")[i], "rgb").pixels
        primary = read_image(shot.paths("primary")[i]).pixels[..., 0]
        affected = read_image(shot.paths("affected")[i]).pixels[..., 0]
        outside = (primary == 0) & (affected == 0)
        np.testing.assert_array_equal(plate[outside], clean[outside])
        assert (np.abs(plate - clean).max(axis=2) > 0.01)[primary > 0.5].all()
        assert (affected > 0.5).sum() > 20  # the shadow is marked
        assert clean.max() > 2.0  # the bright window: values above 1.0 reach the colour path


def test_demo_shot_is_deterministic_and_pans(tmp_path, shot):
    again = make_demo_shot(tmp_path, frames=2, size=(160, 96), fps="24000/1001")
    first = read_image(shot.paths("clean")[0], "rgb").pixels
    np.testing.assert_array_equal(read_image(again.paths("clean")[0], "rgb").pixels, first)
    second = read_image(shot.paths("clean")[1], "rgb").pixels
    assert np.abs(second - first).mean() > 0.005  # the camera moved


def test_demo_shot_refuses_a_tiny_size(tmp_path):
    with pytest.raises(SpecError, match="16x16"):
        make_demo_shot(tmp_path, frames=2, size=(8, 8))


def test_contact_sheet_has_one_row_per_frame_and_four_columns(tmp_path, shot):
    import OpenImageIO as oiio

    out = contact_sheet(
        shot.paths("plate"),
        shot.paths("clean"),
        str(tmp_path / "sheet.png"),
        frames=3,
        truth_paths=shot.paths("clean"),
        primary_paths=shot.paths("primary"),
        affected_paths=shot.paths("affected"),
        cell_width=80,
    )
    spec = oiio.ImageInput.open(out).spec()
    row_h = round(96 * 80 / 160)
    # a strip naming the columns, then one row per frame
    assert (spec.width, spec.height, spec.nchannels) == (4 * 80 + 3 * 4, 24 + 3 * row_h + 3 * 4, 3)
    assert pick_frames(6, 3) == [0, 2, 5] and pick_frames(2, 4) == [0, 1]
    with pytest.raises(ImageIOError, match="one result per plate frame"):
        contact_sheet(shot.paths("plate"), shot.paths("clean")[:2], str(tmp_path / "x.png"))


def test_psnr_in_mask_is_infinite_for_the_truth_and_low_for_the_plate(shot):
    mattes = [shot.paths("primary"), shot.paths("affected")]
    assert psnr_in_mask(shot.paths("clean"), shot.paths("clean"), mattes) == float("inf")
    assert psnr_in_mask(shot.paths("plate"), shot.paths("clean"), mattes) < 20.0


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None, reason="no imageio-ffmpeg")
def test_review_movie_is_written(tmp_path, shot):
    av = pytest.importorskip("av")
    out = review_movie(shot.paths("plate"), shot.paths("clean"), str(tmp_path / "r.mp4"), 24.0)
    assert out == str(tmp_path / "r.mp4")
    with av.open(out) as movie:
        stream = movie.streams.video[0]
        frames = [f for f in movie.decode(stream)]
        rate = stream.average_rate
    # By hand: plate and result side by side, each 960 / 2 = 480 wide and 96 * 480 / 160 = 288
    # high; one movie frame per plate frame (6), at 24 fps.
    assert [(f.width, f.height) for f in frames] == [(960, 288)] * 6
    assert rate == 24


def test_choose_engine_says_which_and_why(tmp_path, monkeypatch):
    assert choose_engine("preview") == ("preview", "asked for")
    assert choose_engine("void") == ("void", "asked for")
    # No weights in the Hugging Face cache: the preview engine, because of the missing weights.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    assert choose_engine("auto") == (
        "preview",
        f"no VOID weights (base model weights not found in the Hugging Face cache "
        f"{tmp_path / 'empty_hub'} for alibaba-pai/CogVideoX-Fun-V1.5-5b-InP; run `void-vfx "
        "fetch-weights`, or give the folders: void-vfx serve --weights BASE_DIR --checkpoints "
        "VOID_DIR (a --local run and the demo look in the Hugging Face cache only))",
    )
    with pytest.raises(SpecError, match="engine"):
        choose_engine("gpu")


@pytest.mark.slow
def test_demo_end_to_end_through_a_real_server(tmp_path, monkeypatch):
    # "auto" with no weights in the cache: the preview engine, and the report says why
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hub"))
    report = demo(tmp_path, engine="auto", frames=16, size=(320, 180), movie=False, quiet=True)
    assert report["engine"] == "preview"
    assert report["engine_reason"].startswith("no VOID weights (base model weights not found")
    assert len(report["results"]) == 16
    header = read_header(report["results"][0])
    assert (header.width, header.height) == (320, 180)
    # Inside the mattes the ball and its shadow are gone: 30 dB against the clean background
    # (38.5 dB measured), where the plate itself scores about 13.5 dB.
    assert report["psnr_mask_db"] > 30.0
    assert report["psnr_plate_mask_db"] < 20.0
    assert (tmp_path / "contact_sheet.png").stat().st_size > 10_000
    # Sources are never written to: the plate folder holds only what the shot wrote.
    assert not [p for p in (tmp_path / "shot").iterdir() if "void" in p.name]


@pytest.mark.slow
def test_demo_command_line(tmp_path, capsys):
    code = cli_main(
        [
            "demo",
            "-o",
            str(tmp_path),
            "--frames",
            "5",
            "--size",
            "160x96",
            "--engine",
            "preview",
            "--no-movie",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "PSNR inside the mask" in printed and "contact sheet" in printed
    results = list((tmp_path / "result").rglob("*.exr"))
    assert len(results) == 5
