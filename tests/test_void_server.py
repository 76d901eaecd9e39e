"""Pass 1 and Pass 2 of the real VOID engine (tiny random weights) end to end through a real
server on 127.0.0.1: EXR plate in, EXR plate out, the plate kept outside the mask."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from void_vfx.client.local import run_local_job  # noqa: E402
from void_vfx.demo.run import make_demo_shot  # noqa: E402
from void_vfx.job.spec import JobSpec, MaskSettings, MatteSource, OutputSettings  # noqa: E402
from void_vfx.media.image_io import read_image  # noqa: E402
from void_vfx.media.sequences import Sequence  # noqa: E402

FRAMES = 13


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    return make_demo_shot(tmp_path_factory.mktemp("shot"), frames=FRAMES, size=(224, 128))


@pytest.fixture(scope="module")
def engine(void_weights):
    from void_vfx_server.engines.void.engine import VoidEngine

    torch.set_num_threads(2)
    eng = VoidEngine(void_weights, device="cpu", dtype=torch.float32, raft_random_init=True)
    eng.load()
    return eng


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
        mask=MaskSettings(dilate=2),
        output=OutputSettings(dir=str(out_dir)),
    )
    spec.window.min_length = 13
    spec.sampling.passes = passes
    spec.sampling.pass1_steps = 2
    spec.sampling.pass2_steps = 2
    spec.sampling.seed = seed
    return spec.validate()


def _frames(paths: list[str]) -> np.ndarray:
    return np.stack([read_image(p, "rgb").raw for p in sorted(paths)])


def _check_against_plate(shot, paths: list[str]) -> None:
    assert len(paths) == FRAMES
    plate = np.stack(
        [read_image(Sequence.parse(shot.plate).path(f), "rgb").raw for f in shot.frames]
    )
    out = _frames(paths)
    assert out.shape == plate.shape and np.isfinite(out).all()
    same = (out == plate).all(axis=-1)
    # far from the object the plate is kept bit for bit, the object area is replaced
    primary = np.stack(
        [read_image(Sequence.parse(shot.primary).path(f), "a").pixels[..., 0] for f in shot.frames]
    )
    assert same[primary < 1e-6].mean() > 0.5
    assert not same[primary > 0.5].all()


def test_pass1_through_server_is_deterministic(shot, engine, tmp_path) -> None:
    a = run_local_job(_spec(shot, tmp_path / "a"), engine=engine, data_dir=tmp_path / "data")
    _check_against_plate(shot, a)
    b = run_local_job(_spec(shot, tmp_path / "b"), engine=engine, data_dir=tmp_path / "data")
    np.testing.assert_array_equal(_frames(a), _frames(b))
    c = run_local_job(
        _spec(shot, tmp_path / "c", seed=4), engine=engine, data_dir=tmp_path / "data"
    )
    assert not np.array_equal(_frames(a), _frames(c))


def test_pass2_through_server_and_alone_on_saved_pass1(shot, engine, tmp_path) -> None:
    two = run_local_job(
        _spec(shot, tmp_path / "two", passes=2), engine=engine, data_dir=tmp_path / "d"
    )
    _check_against_plate(shot, two)
    one = run_local_job(
        _spec(shot, tmp_path / "one", passes=1), engine=engine, data_dir=tmp_path / "d"
    )
    assert not np.array_equal(_frames(two), _frames(one))
    pattern = _pattern_of(one)
    alone = run_local_job(
        _spec(shot, tmp_path / "alone", passes=2, pass1_result=pattern),
        engine=engine,
        data_dir=tmp_path / "d",
    )
    _check_against_plate(shot, alone)
    assert not np.array_equal(_frames(alone), _frames(one))


def _pattern_of(paths: list[str]) -> str:
    from void_vfx.media.sequences import find_sequence

    return find_sequence(sorted(paths)[0]).format()
