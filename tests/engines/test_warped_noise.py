"""Pass 2 warped noise and RAFT flow: statistics, motion, determinism, weight loading.

Flows for the motion tests are given directly (a randomly initialised RAFT estimates nothing
useful); RAFT itself is checked for shapes, loading and an end-to-end run on a tiny video.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from void_vfx.errors import EngineError, WeightsError
from void_vfx_server.engines.void import flow as flow_mod
from void_vfx_server.engines.void.flow import compute_flow, flow_size, load_raft
from void_vfx_server.engines.void.warped_noise import (
    _index_add,
    _index_put_add,
    deterministic_algorithms,
    init_noise_state,
    noise_to_latent,
    warp_noise_along_flows,
    warp_noise_step,
    warped_noise_latents,
)

# Each latent frame holds 16 x 16 x 16 = 4096 values: the sample mean has a standard deviation of
# 1/64 and the sample variance about 0.022, so these bounds sit at 3-4.5 sigma.
MEAN_TOL = 0.05
VAR_TOL = 0.1
LATENT = (4, 16, 16, 16)  # T, C, h, w: a 128 x 128 video of 13 frames
FRAMES = 13
FLOW_HW = (64, 64)  # half of 128 x 128, as compute_flow gives


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are small: one intra-op thread avoids stalls when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _constant_flows(dx: float, dy: float, frames: int = FRAMES) -> torch.Tensor:
    """Uniform flow at the flow resolution (half the video): (frames - 1, 2, 64, 64)."""
    return torch.tensor([dx, dy]).view(1, 2, 1, 1).expand(frames - 1, 2, *FLOW_HW).clone()


def _shifting_video(dx_video: int, dy_video: int, frames: int = FRAMES) -> torch.Tensor:
    """A textured image translated by an integer (dx, dy) video pixels per frame, in [-1, 1]."""
    base = torch.rand(3, 256, 256, generator=_gen(7)) * 2 - 1
    out = [
        torch.roll(base, (i * dy_video, i * dx_video), dims=(1, 2))[:, :128, :128]
        for i in range(frames)
    ]
    return torch.stack(out)


def _check_stats(latents: torch.Tensor) -> None:
    for k in range(latents.shape[1]):
        frame = latents[0, k]
        assert abs(frame.mean().item()) < MEAN_TOL, f"latent frame {k} mean {frame.mean():.4f}"
        assert abs(frame.var().item() - 1) < VAR_TOL, f"latent frame {k} var {frame.var():.4f}"


def _shift(a: torch.Tensor, b: torch.Tensor, dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap of b with a moved by (dx, dy): returns (b part, matching a part)."""
    h, w = a.shape[-2:]
    b_part = b[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
    a_part = a[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return b_part, a_part


def _best_offset(a: torch.Tensor, b: torch.Tensor, radius: int = 6) -> tuple[int, int, float]:
    best = (0, 0, -2.0)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            bp, ap = _shift(a, b, dx, dy)
            corr = torch.corrcoef(torch.stack([bp.flatten(), ap.flatten()]))[0, 1].item()
            if corr > best[2]:
                best = (dx, dy, corr)
    return best


def test_zero_flow_keeps_unit_noise_still():
    video = _shifting_video(0, 0)
    lat = warped_noise_latents(video, LATENT, _gen(), flows=_constant_flows(0, 0))
    assert lat.shape == (1, *LATENT) and lat.dtype == torch.float32
    _check_stats(lat)
    for k in range(1, LATENT[0]):
        torch.testing.assert_close(lat[0, k], lat[0, 0], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("dx_video", "dy_video"), [(8, 0), (8, -8), (-4, 8)])
def test_translation_moves_noise_by_the_same_amount(dx_video, dy_video):
    video = _shifting_video(dx_video, dy_video)
    flows = _constant_flows(dx_video / 2, dy_video / 2)  # flow is at half the video resolution
    lat = warped_noise_latents(video, LATENT, _gen(), flows=flows)[0]
    _check_stats(lat[None])
    # One latent frame = 4 pixel frames; one latent pixel = 8 video pixels.
    ex, ey = 4 * dx_video // 8, 4 * dy_video // 8
    for k in range(LATENT[0] - 1):
        dx, dy, corr = _best_offset(lat[k], lat[k + 1])
        assert (dx, dy) == (ex, ey), f"frame {k}: peak at {(dx, dy)}, expected {(ex, ey)}"
        assert corr > 0.99
        moved, original = _shift(lat[k], lat[k + 1], ex, ey)
        torch.testing.assert_close(moved, original, atol=1e-4, rtol=0)
    # The uncovered border is fresh noise, not a copy of what was there.
    if ex > 0:
        fresh = lat[1][..., :ex].flatten()
        old = lat[0][..., :ex].flatten()
        assert torch.corrcoef(torch.stack([fresh, old]))[0, 1].abs() < 0.2


def test_subpixel_translation_keeps_statistics_and_direction():
    # 3 video px per frame: 1.5 latent px per latent frame, not aligned to the pooling blocks.
    lat = warped_noise_latents(_shifting_video(3, 0), LATENT, _gen(), flows=_constant_flows(1.5, 0))
    _check_stats(lat)
    dx, dy, corr = _best_offset(lat[0, 0], lat[0, 1])
    assert dy == 0 and dx in (1, 2) and corr > 0.4


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_zoom_keeps_unit_variance(direction):
    # Divergent flow (zoom in: values are copied, re-gaussianised) and convergent (zoom out:
    # sources merge) are where duplicates and combinations happen.
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    zoom = torch.stack([(xs - 32) * 0.02, (ys - 32) * 0.02]) * direction
    flows = zoom.expand(FRAMES - 1, 2, 64, 64).clone()
    lat = warped_noise_latents(_shifting_video(0, 0), LATENT, _gen(), flows=flows)
    _check_stats(lat)


def test_same_seed_same_noise_other_seed_other_noise():
    flows = _constant_flows(1.25, -0.75)
    video = _shifting_video(0, 0)
    a = warped_noise_latents(video, LATENT, _gen(3), flows=flows)
    b = warped_noise_latents(video, LATENT, _gen(3), flows=flows)
    c = warped_noise_latents(video, LATENT, _gen(4), flows=flows)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_step_with_zero_flow_is_identity_and_weights_stay_one():
    state, weights = init_noise_state(4, 64, 96, _gen())
    new_state, new_weights = warp_noise_step(state, weights, torch.zeros(2, 64, 96), _gen(1))
    torch.testing.assert_close(new_state, state, atol=1e-6, rtol=0)
    torch.testing.assert_close(new_weights, torch.ones(64, 96), atol=1e-4, rtol=0)


def test_expansion_regaussianises_copies():
    # The right half moves 8 px right: a gap opens; its pixels pull copies of the same sources.
    state, weights = init_noise_state(16, 64, 64, _gen())
    flow = torch.zeros(2, 64, 64)
    flow[0, :, 32:] = 8.0
    new_state, new_weights = warp_noise_step(state, weights, flow, _gen(1))
    moved = new_state[:, :, 40:]
    torch.testing.assert_close(moved, state[:, :, 32:-8], atol=1e-5, rtol=0)
    gap = new_state[:, :, 32:40]
    assert len(torch.unique(gap[0])) == gap[0].numel()  # no value repeated
    assert abs(gap.var().item() - 1) < 0.15
    assert (new_weights > 0).all()


def _index_add_in_rounds(out, index, src):
    """The former CUDA path: entries sorted by index, added in rounds (the r-th entry of every
    index in round r), so no index repeats within a round: one host sync per round."""
    order = torch.argsort(index, stable=True)
    ordered = index[order]
    position = torch.arange(ordered.numel())
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    rank = position - torch.cummax(torch.where(starts, position, 0), 0).values
    for r in range(int(rank.max()) + 1):
        chosen = order[rank == r]
        out[..., index[chosen]] += src[..., chosen]
    return out


@pytest.mark.parametrize("channels", [None, 3])
def test_index_add_is_bit_identical_to_the_rounds(channels):
    """One deterministic index_add_ gives the same bits as summing duplicates round by round
    (float32, as the noise state: a different order would change the last bit)."""
    index = torch.randint(0, 50, (4000,), generator=_gen())
    shape = (4000,) if channels is None else (channels, 4000)
    src = torch.randn(shape, generator=_gen(1))
    out_shape = (50,) if channels is None else (channels, 50)
    expected = _index_add_in_rounds(torch.zeros(out_shape), index, src)
    got = _index_add(torch.zeros(out_shape), index, src)
    assert torch.equal(got, expected)
    with deterministic_algorithms():  # the setting the CUDA path once used, restored after
        assert torch.equal(_index_add(torch.zeros(out_shape), index, src), expected)
    assert not torch.are_deterministic_algorithms_enabled()
    # the CUDA path's call (an accumulating index_put_, no process-wide switch), run here
    assert torch.equal(_index_put_add(torch.zeros(out_shape), index, src), expected)


def test_noise_to_latent_pools_blocks_of_32_with_unit_variance():
    state = torch.randn(16, 32 * 24, 32 * 24, generator=_gen())
    lat = noise_to_latent(state)
    assert lat.shape == (16, 24, 24)
    torch.testing.assert_close(lat[:, 0, 0], state[:, :32, :32].mean(dim=(1, 2)) * 32)
    assert abs(lat.var().item() - 1) < VAR_TOL


def test_bad_shapes_are_reported():
    with pytest.raises(EngineError, match="pixel frames"):
        warp_noise_along_flows(_constant_flows(0, 0, frames=9), LATENT, _gen())
    with pytest.raises(EngineError, match="latent grid"):
        warped_noise_latents(
            torch.zeros(13, 3, 120, 128), LATENT, _gen(), flows=_constant_flows(0, 0)
        )
    with pytest.raises(EngineError, match="flow_model or flows"):
        warped_noise_latents(_shifting_video(0, 0), LATENT, _gen())


# --- RAFT -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raft():
    return load_raft(random_init=True)


def test_import_torchvision_works_in_a_fresh_interpreter():
    code = (
        "from void_vfx_server.engines.void.flow import import_torchvision\n"
        "tv = import_torchvision()\n"
        "from torchvision.models.optical_flow import raft_large\n"
        "print(tv.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torchvision"


def test_random_raft_is_seeded_and_flow_has_documented_shape(raft):
    again = load_raft(random_init=True)
    for (name, p), q in zip(raft.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    video = torch.rand(3, 3, 264, 280, generator=_gen()) * 2 - 1
    assert flow_size(264, 280) == (128, 136)
    flows = compute_flow(raft, video, pairs_per_batch=1)
    assert flows.shape == (2, 2, 128, 136) and flows.dtype == torch.float32
    assert torch.isfinite(flows).all()


def test_small_video_is_upsized_for_raft(raft):
    video = torch.rand(2, 3, 64, 96, generator=_gen()) * 2 - 1
    assert compute_flow(raft, video).shape == (1, 2, 32, 48)


def test_local_state_dict_loads_back(raft, tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in raft.state_dict().items()}
    pth = tmp_path / "raft.pth"
    torch.save(state, pth)
    sft = tmp_path / "raft.safetensors"
    save_file(state, str(sft))
    for path in (pth, sft):
        loaded = load_raft(path=str(path))
        for name, value in loaded.state_dict().items():
            assert torch.equal(value, state[name]), (path, name)


def test_missing_truncated_or_foreign_weights_name_the_file(raft, tmp_path):
    missing = tmp_path / "nowhere" / "raft.pth"
    with pytest.raises(WeightsError, match="nowhere"):
        load_raft(path=missing)
    truncated = tmp_path / "cut.pth"
    torch.save(raft.state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="cut.pth"):
        load_raft(path=truncated)
    foreign = tmp_path / "foreign.pth"
    torch.save({"conv.weight": torch.zeros(1)}, foreign)
    with pytest.raises(WeightsError, match="foreign.pth.*missing"):
        load_raft(path=foreign)


def test_default_weights_come_from_the_hub_cache_only(raft, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = flow_mod.default_weights_path()
    assert expected.parent == tmp_path / "checkpoints"
    assert "C_T_SKHT_V2" in expected.name
    with pytest.raises(WeightsError, match="fetch-weights"):
        load_raft()
    expected.parent.mkdir(parents=True)
    torch.save(raft.state_dict(), expected)
    loaded = load_raft()
    name, value = next(iter(loaded.state_dict().items()))
    assert torch.equal(value, raft.state_dict()[name])


def test_end_to_end_with_random_raft(raft):
    video = torch.rand(9, 3, 256, 256, generator=_gen()) * 2 - 1
    lat = warped_noise_latents(video, (3, 16, 32, 32), _gen(), flow_model=raft)
    assert lat.shape == (1, 3, 16, 32, 32)
    assert torch.isfinite(lat).all()
    assert abs(lat.var().item() - 1) < 0.15
