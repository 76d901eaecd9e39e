"""Pass 1 and Pass 2 of the real VOID engine (tiny random weights) end to end through one real
server on 127.0.0.1: EXR plate in, EXR plate out, every pixel outside the feathered mask the
plate's own bits, the same bits again for the same seed.

One server (and one loaded engine) serves every job of the module; the shot is five small frames
(one 5-frame window, the model's shortest) and each pass takes one denoising step, which is all
these checks need (the sampling itself is pinned in test_void_pipeline.py).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from void_vfx.client import connect  # noqa: E402
from void_vfx.demo.run import make_demo_shot  # noqa: E402
from void_vfx.job.spec import JobSpec, MaskSettings, MatteSource, OutputSettings  # noqa: E402
from void_vfx.media.image_io import read_image  # noqa: E402
from void_vfx.media.sequences import Sequence, find_sequence  # noqa: E402
from void_vfx.server_entry import server_api  # noqa: E402

FRAMES = 5
DILATE = 2
FEATHER = 8


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory.mktemp("shot"), frames=FRAMES, size=(160, 96))


@pytest.fixture(scope="module")
def server(void_weights, tmp_path_factory):
    from void_vfx_server.engines.void.engine import VoidEngine

    torch.set_num_threads(2)
    eng = VoidEngine(void_weights, device="cpu", dtype=torch.float32, raft_random_init=True)
    eng.load()
    tmp = tmp_path_factory.mktemp("server")
    srv = server_api().start_local_server(tmp / "data", tmp / "token", eng)
    yield srv
    srv.close()


def _run(server, spec) -> list[str]:
    with connect("127.0.0.1", server.port, token=server.token) as client:
        client.remember_jobs = False
        job = client.submit(spec, files_mode="path")
        status = client.follow(job, callback=lambda s, e: None, poll_s=0.05)
        assert status["state"] == "done", status["message"]
        return sorted(client.download_results(job))


def _spec(shot, out_dir, passes: int = 1, seed: int = 3, pass1_result: str | None = None):
    spec = JobSpec(
        plate=shot.plate,
        primary=MatteSource(shot.primary, "A"),
        affected=MatteSource(shot.affected, "A"),
        pass1_result=MatteSource(pass1_result, "rgb") if pass1_result else None,
        frame_range=(shot.first, shot.last),
        fps=shot.fps,
        prompt="A quiet courtyard.",
        engine="void",
        mask=MaskSettings(dilate=DILATE),
        output=OutputSettings(dir=str(out_dir)),
    )
    spec.roi.feather = FEATHER
    spec.window.min_length = 5
    spec.sampling.passes = passes
    spec.sampling.pass1_steps = 1
    spec.sampling.pass2_steps = 1
    spec.sampling.seed = seed
    return spec.validate()


def _bits(paths) -> np.ndarray:
    """The files' RGB as stored (half read as float32, which is exact), as integers."""
    return np.stack([read_image(p, "rgb").raw for p in sorted(paths)]).view(np.uint32)


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Square dilation by shifting, written here so the expectation does not use the render."""
    h, w = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


@pytest.fixture(scope="module")
def pasted(shot) -> np.ndarray:
    """(F, H, W) True where paste-back may touch the plate: the quadmask's non-keep pixels (the
    primary matte > 0.5 with its soft edge (> 0.02 within 4 px of it, mask.soft_edge's default)
    grown by DILATE, the affected matte > 0.5 except on the first frame, where the reference
    clears it) grown by the feather."""
    zones = []
    for i, f in enumerate(shot.frames):
        matte = read_image(Sequence.parse(shot.primary).path(f), "a").pixels[..., 0]
        primary = (matte > 0.5) | ((matte > 0.02) & _grow(matte > 0.5, 4))
        nonkeep = _grow(primary, DILATE)
        if i > 0:
            nonkeep |= read_image(Sequence.parse(shot.affected).path(f), "a").pixels[..., 0] > 0.5
        zones.append(_grow(nonkeep, FEATHER))
    return np.stack(zones)


def _check_against_plate(shot, pasted, paths: list[str]) -> None:
    assert len(paths) == FRAMES
    plate = _bits(Sequence.parse(shot.plate).path(f) for f in shot.frames)
    out = _bits(paths)
    assert out.shape == plate.shape == (FRAMES, 96, 160, 3)
    assert np.isfinite(out.view(np.float32)).all()
    outside = ~pasted
    assert outside.mean() > 0.3  # the check covers most of the frame
    # every pixel outside the feathered mask is the plate's own bits, on every frame
    np.testing.assert_array_equal(out[outside], plate[outside])
    # the object is replaced
    ball = np.stack(
        [
            read_image(Sequence.parse(shot.primary).path(f), "a").pixels[..., 0] > 0.5
            for f in shot.frames
        ]
    )
    assert not (out[ball] == plate[ball]).all()


@pytest.fixture(scope="module")
def pass1(shot, server, tmp_path_factory) -> list[str]:
    return _run(server, _spec(shot, tmp_path_factory.mktemp("a")))


def test_pass1_through_server_keeps_the_plate_and_is_deterministic(
    shot, server, pasted, pass1, tmp_path
) -> None:
    _check_against_plate(shot, pasted, pass1)
    again = _run(server, _spec(shot, tmp_path / "b"))
    np.testing.assert_array_equal(_bits(pass1), _bits(again))
    other_seed = _run(server, _spec(shot, tmp_path / "c", seed=4))
    _check_against_plate(shot, pasted, other_seed)
    assert not np.array_equal(_bits(pass1), _bits(other_seed))


def test_pass2_through_server_and_alone_on_saved_pass1(
    shot, server, pasted, pass1, tmp_path
) -> None:
    two = _run(server, _spec(shot, tmp_path / "two", passes=2))
    _check_against_plate(shot, pasted, two)
    assert not np.array_equal(_bits(two), _bits(pass1))  # same seed: Pass 2 changed it
    pattern = find_sequence(pass1[0]).format()
    alone = _run(server, _spec(shot, tmp_path / "alone", passes=2, pass1_result=pattern))
    _check_against_plate(shot, pasted, alone)
    assert not np.array_equal(_bits(alone), _bits(pass1))
