"""Pass 2 initial latents: Gaussian noise carried along the Pass 1 result's optical flow.

After Go-with-the-Flow (Burgert et al., CVPR 2025), as the VOID weights were trained with it. A
noise state of 16 channels plus a density weight per pixel lives at 32x the latent grid (4x the
video, 8x the flow). Each new frame moves it along the flow in two ways at once: every target pixel
pulls the value under it (nearest neighbour, backwards along its flow) and every source pixel pushes
its value to its rounded target. Where any source landed the pushed values win, combined as
sum(w * x) / sqrt(sum(w^2)); elsewhere the pulled value stays. A value copied n times would no
longer be independent noise, so each group of copies is re-gaussianised (x / sqrt(n) plus fresh
noise minus the group's mean of that fresh noise, weight / n); pixels with no source (outside the
frame) start as zeros in one big group, which turns them into fresh noise. Average pooling blocks
of 32 and multiplying by 32 brings the state to the latent grid with unit variance.

Unlike the reference (which resamples to 72 frames, crops 480x720 and resizes the result), the
state is sized to the latent grid of the actual crop and warped through every pixel frame; latent
frame k takes pixel frame 4k's noise. Every draw comes from the caller's seeded generator.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from void_vfx.errors import EngineError

#: Size of the noise state over the latent grid (4x video / (1/8) latent).
POOL = 32
#: Latent frame k takes pixel frame TEMPORAL * k (the VAE's temporal compression).
TEMPORAL = 4
NOISE_CHANNELS = 16
#: Added to renormalised weights so none reaches zero; the power pulls them slowly towards 1.
_WEIGHT_EPS = 1e-5
_WEIGHT_POWER = 0.9999


def _randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Draw on the generator's own device (a CPU generator gives the same noise on any device)."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


@contextmanager
def deterministic_algorithms():
    """``torch.use_deterministic_algorithms(True)`` for the block, restored after."""
    was, warn = (
        torch.are_deterministic_algorithms_enabled(),
        (torch.is_deterministic_algorithms_warn_only_enabled()),
    )
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


def _index_add(out: Tensor, index: Tensor, src: Tensor) -> Tensor:
    """``out[..., index] += src`` along the last dim, summing duplicates in a fixed order.

    On CUDA, ``index_add_`` sums duplicate indices with atomics in a varying order, so a float
    sum could differ by an ulp from run to run and the diffusion would amplify it. Under
    deterministic algorithms PyTorch's CUDA ``index_add_`` is ``index_put_(..., accumulate=True)``
    (aten/src/ATen/native/cuda/Indexing.cu, ``index_add_cuda_impl``), and an accumulating
    ``index_put_`` on CUDA always takes the sorting kernel (``_index_put_impl_``): the indices
    sorted stably, each one's entries summed in their order, the CPU's order, in one kernel.
    It is called directly rather than by switching deterministic algorithms on: that switch is
    process-wide, and on a GPU pool another engine's thread would see it (and its cuBLAS calls
    refuse to run without ``CUBLAS_WORKSPACE_CONFIG``).
    """
    if out.device.type == "cpu":
        return out.index_add_(out.dim() - 1, index, src)
    return _index_put_add(out, index, src)


def _index_put_add(out: Tensor, index: Tensor, src: Tensor) -> Tensor:
    """The accumulating ``index_put_`` along the last dim (the CUDA path; runs on any device)."""
    out.movedim(-1, 0).index_put_((index,), src.movedim(-1, 0), accumulate=True)
    return out


def init_noise_state(
    channels: int,
    height: int,
    width: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """A fresh state: noise (C, H, W) ~ N(0, 1) and weights (H, W) of ones, float32."""
    device = torch.device(device)
    noise = _randn((channels, height, width), generator, device)
    return noise, torch.ones(height, width, device=device)


def upsample_flow(flow: Tensor, height: int, width: int) -> Tensor:
    """Resize (2, h, w) flow to (2, height, width) bilinearly, scaling values to the new pixels."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow[None].float(), size=(height, width), mode="bilinear")[0]
    out[0] *= width / w
    out[1] *= height / h
    return out


def warp_noise_step(
    state: Tensor, weights: Tensor, flow: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Carry the noise state one frame along ``flow``.

    state: (C, H, W) float32; weights: (H, W) positive; flow: (2, H, W) in state pixels (x then y;
    a source pixel at p lands at p + flow(p)). Returns the new (state, weights). Draws from
    ``generator`` only when some value is copied or fresh: one (C, m) block for those m values,
    then one (C, 1) block.
    """
    channels, height, width = state.shape
    if flow.shape != (2, height, width) or weights.shape != (height, width):
        raise EngineError(
            f"warp_noise_step: state {tuple(state.shape)}, weights {tuple(weights.shape)} and "
            f"flow {tuple(flow.shape)} do not match (want (C,H,W), (H,W), (2,H,W))"
        )
    device = state.device
    n = height * width
    zero_group = n  # every zero-valued entry (fresh, from outside the frame) shares this group
    values = state.reshape(channels, n)
    w_flat = weights.reshape(n)
    ys = torch.arange(height, device=device).repeat_interleave(width)
    xs = torch.arange(width, device=device).repeat(height)
    fx = flow[0].reshape(n)
    fy = flow[1].reshape(n)

    # Push: every source goes to its rounded target; sources leaving the frame are dropped.
    # (The reference instead re-enters them at their own place as zero-noise entries of the zero
    # group; that only re-mixes already fresh noise at the trailing edge, so it is left out.)
    tx = torch.round(xs + fx).long()
    ty = torch.round(ys + fy).long()
    push_src = ((tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)).nonzero().squeeze(1)
    push_target = (ty * width + tx)[push_src]
    covered = torch.zeros(n, dtype=torch.bool, device=device)
    covered[push_target] = True

    # Pull: every target not covered by a push reads its source backwards along its own flow;
    # from outside the frame it reads zeros with weight 1.
    sx = torch.round(xs - fx).long()
    sy = torch.round(ys - fy).long()
    pull_ok = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
    pulled_at = (~covered).nonzero().squeeze(1)
    pull_ok = pull_ok[pulled_at]
    pull_src = torch.where(pull_ok, (sy * width + sx)[pulled_at], 0)
    placeholders = n - pulled_at.numel()  # covered targets: their pulled value is dropped

    # Entries carry a copied value and its group: the source pixel it was copied from.
    push_values = values[:, push_src]
    pull_values = values[:, pull_src] * pull_ok
    push_group = push_src
    pull_group = torch.where(pull_ok, pull_src, zero_group)
    push_w = w_flat[push_src]
    pull_w = torch.where(pull_ok, w_flat[pull_src], 1.0)

    # Re-gaussianise groups of copies: x / sqrt(n) + fresh - mean(fresh over the group), and
    # weight / n. The dropped pulls of covered targets are zeros of the zero group in the
    # reference: they count in its size, and the sum of their fresh noise (needed only for the
    # group mean) is drawn as one N(0, count) value per channel.
    counts = torch.bincount(torch.cat([push_group, pull_group]), minlength=n + 1).float()
    counts[zero_group] += placeholders
    push_counts = counts[push_group]
    pull_counts = counts[pull_group]
    push_dup = (push_counts > 1).nonzero().squeeze(1)
    pull_dup = (pull_counts > 1).nonzero().squeeze(1)
    dup_groups = torch.cat([push_group[push_dup], pull_group[pull_dup]])
    if dup_groups.numel():
        fresh = _randn((channels, dup_groups.numel()), generator, device)
        dropped = _randn((channels, 1), generator, device) * placeholders**0.5
        groups, inverse = torch.unique(dup_groups, return_inverse=True)
        sums = _index_add(torch.zeros(channels, groups.numel(), device=device), inverse, fresh)
        sums += dropped * (groups == zero_group)
        fresh -= (sums / counts[groups])[:, inverse]
        dup_values = torch.cat([push_values[:, push_dup], pull_values[:, pull_dup]], dim=1)
        fresh += dup_values * counts[dup_groups].rsqrt()
        push_values[:, push_dup] = fresh[:, : push_dup.numel()]
        pull_values[:, pull_dup] = fresh[:, push_dup.numel() :]
    push_w = push_w / push_counts
    pull_w = pull_w / pull_counts

    # Combine the pushes per target as sum(w x) / sqrt(sum(w^2)); the kept pulls fill the
    # targets nothing landed on.
    weight_sum = _index_add(torch.zeros(n, device=device), push_target, push_w)
    square_sum = _index_add(torch.zeros(n, device=device), push_target, push_w * push_w)
    combined = _index_add(
        torch.zeros(channels, n, device=device), push_target, push_values.mul_(push_w)
    )
    combined.mul_(torch.where(covered, square_sum.rsqrt(), 0.0))
    combined[:, pulled_at] = pull_values
    weight_sum[pulled_at] = pull_w

    # Renormalise the weights to mean 1 (+ a floor, and a slow pull towards 1) as the reference.
    new_weights = (weight_sum / weight_sum.mean() + _WEIGHT_EPS) ** _WEIGHT_POWER
    return combined.view(channels, height, width), new_weights.view(height, width)


def noise_to_latent(state: Tensor) -> Tensor:
    """(C, 32h, 32w) state -> (C, h, w) latent noise: mean of each 32x32 block times 32."""
    channels, height, width = state.shape
    if height % POOL or width % POOL:
        raise EngineError(f"noise state {height}x{width} is not a multiple of {POOL}")
    return F.avg_pool2d(state[None], POOL)[0] * POOL


def warp_noise_along_flows(
    flows: Tensor,
    latent_shape: tuple[int, int, int, int],
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> Tensor:
    """Warp noise through ``flows`` (F-1, 2, fh, fw) -> latents (1, T, C, h, w) float32.

    The flows may be at any resolution (values in its pixels); they are resized to the state at
    32x the latent grid. Needs F >= 4(T-1) + 1 pixel frames; later flows are not used.
    """
    frames_needed = TEMPORAL * (latent_shape[0] - 1) + 1
    t_lat, channels, h_lat, w_lat = latent_shape
    if flows.ndim != 4 or flows.shape[1] != 2:
        raise EngineError(f"flows must be shaped (frames - 1, 2, h, w); got {tuple(flows.shape)}")
    if flows.shape[0] + 1 < frames_needed:
        raise EngineError(
            f"{t_lat} latent frames need {frames_needed} pixel frames of flow, "
            f"got {flows.shape[0] + 1}; pass the whole window's video"
        )
    device = torch.device(device) if device is not None else flows.device
    height, width = h_lat * POOL, w_lat * POOL
    state, weights = init_noise_state(channels, height, width, generator, device)
    latents = [noise_to_latent(state)]
    for i in range(frames_needed - 1):
        flow = upsample_flow(flows[i].to(device), height, width)
        state, weights = warp_noise_step(state, weights, flow, generator)
        if (i + 1) % TEMPORAL == 0:
            latents.append(noise_to_latent(state))
    return torch.stack(latents)[None]


def warped_noise_latents(
    video: Tensor,
    latent_shape: tuple[int, int, int, int],
    generator: torch.Generator,
    flow_model: nn.Module | None = None,
    flows: Tensor | None = None,
) -> Tensor:
    """Pass 2's initial noise for ``video`` (F, 3, H, W) in [-1, 1] -> (1, T, C, H/8, W/8) float32.

    latent_shape: (T, C, H/8, W/8) of the window, T = (F - 1) / 4 + 1. Give either ``flow_model``
    (RAFT from :func:`.flow.load_raft`; flow is computed here) or precomputed ``flows``
    (F-1, 2, fh, fw) from :func:`.flow.compute_flow`. The noise is computed on the flow model's
    device (else the flows' device) and returned there.
    """
    t_lat, _, h_lat, w_lat = latent_shape
    if video.ndim != 4 or video.shape[1] != 3:
        raise EngineError(f"video must be shaped (F, 3, H, W); got {tuple(video.shape)}")
    if video.shape[-2] != h_lat * 8 or video.shape[-1] != w_lat * 8:
        raise EngineError(
            f"video {video.shape[-2]}x{video.shape[-1]} does not match the latent grid "
            f"{h_lat}x{w_lat} (x8)"
        )
    if flows is None:
        if flow_model is None:
            raise EngineError("warped_noise_latents needs flow_model or flows")
        from .flow import compute_flow

        frames_needed = TEMPORAL * (t_lat - 1) + 1
        flows = compute_flow(flow_model, video[:frames_needed])
    elif flows.shape[0] != video.shape[0] - 1:
        raise EngineError(
            f"{flows.shape[0]} flows given for a {video.shape[0]}-frame video (want frames - 1)"
        )
    return warp_noise_along_flows(flows, latent_shape, generator)
