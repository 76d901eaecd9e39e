"""Exact VOID conditioning: quadmask to model mask, mask and video latents.

The released weights were trained with these numbers, so they are reproduced exactly (see
../shared/docs/void-model.md, beside the repository, not in it): the mask is inverted and
normalised, collapsed to a trimask (Pass 1) or a binary mask (Pass 2), encoded by the VAE as (1 - m)
on three channels in [0, 1]; the video is mapped to [-1, 1], noise-augmented (0.0563, except pixels
exactly -1) and encoded whole. Latents are the encoder distribution's mode times the scaling factor.
Frames arrive at the working size and the quadmask already snapped, so nothing is resized here.
"""

from __future__ import annotations

import torch

from void_vfx.model_facts import NOISE_AUG_STRENGTH

from . import _compat  # noqa: F401 - torchvision guard before diffusers

AFFECTED_VALUE = 127.0 / 255.0


def normalised_mask(quadmask: torch.Tensor) -> torch.Tensor:
    """m = (255 - q) / 255 as float32: 1 where the quadmask says remove (0), 0 where keep (255)."""
    return (255.0 - quadmask.to(torch.float32)) / 255.0


def trimask(quadmask: torch.Tensor) -> torch.Tensor:
    """Pass 1 mask: m > 0.75 -> 1, 0.25 <= m <= 0.75 -> 127/255, m < 0.25 -> 0 (0 and 63 -> 1)."""
    m = normalised_mask(quadmask)
    out = torch.zeros_like(m)
    out = torch.where((m >= 0.25) & (m <= 0.75), torch.full_like(m, AFFECTED_VALUE), out)
    return torch.where(m > 0.75, torch.ones_like(m), out)


def binary_mask(quadmask: torch.Tensor) -> torch.Tensor:
    """Pass 2 mask: m > 0.5 -> 1 (the affected area counts as remove)."""
    return (normalised_mask(quadmask) > 0.5).to(torch.float32)


def model_mask(quadmask: torch.Tensor, pass_index: int) -> torch.Tensor:
    """The (F, H, W) float mask the given pass is conditioned on."""
    return trimask(quadmask) if pass_index == 1 else binary_mask(quadmask)


def _latent_mode(vae, x: torch.Tensor) -> torch.Tensor:
    """VAE-encode (1, 3, F, H, W) and return (1, T, 16, h, w) = mode * scaling_factor."""
    dist = vae.encode(x).latent_dist
    latents = dist.mode() * vae.config.scaling_factor
    return latents.permute(0, 2, 1, 3, 4).contiguous()


def encode_mask(vae, mask: torch.Tensor) -> torch.Tensor:
    """Mask latents: (1 - m) repeated to 3 channels in [0, 1] (not rescaled), mode * scaling."""
    dtype = next(vae.parameters()).dtype if _has_params(vae) else torch.float32
    x = (1.0 - mask).to(dtype)[None, None].expand(1, 3, *mask.shape).contiguous()
    return _latent_mode(vae, x.to(_vae_device(vae)))


def augment_video(
    video: torch.Tensor, generator: torch.Generator, strength: float = NOISE_AUG_STRENGTH
) -> torch.Tensor:
    """x + strength * N(0, 1) from the seeded generator, except where x is exactly -1.

    ``video`` is (F, 3, H, W) in [-1, 1]; the noise is drawn on the generator's device (CPU) in
    float32 so that a seed gives the same noise whatever the model device.
    """
    noise = torch.randn(video.shape, generator=generator, dtype=torch.float32, device="cpu")
    noise = noise.to(video.device)
    video = video.to(torch.float32)
    return torch.where(video == -1.0, video, video + strength * noise)


def encode_video(vae, video: torch.Tensor) -> torch.Tensor:
    """Video latents of (F, 3, H, W) in [-1, 1] (already augmented): one call, mode * scaling."""
    dtype = next(vae.parameters()).dtype if _has_params(vae) else torch.float32
    x = video.permute(1, 0, 2, 3)[None].to(dtype)
    return _latent_mode(vae, x.to(_vae_device(vae)))


def frames_to_video(frames: torch.Tensor) -> torch.Tensor:
    """(F, H, W, 3) in [0, 1] -> (F, 3, H, W) in [-1, 1], float32."""
    return frames.to(torch.float32).permute(0, 3, 1, 2) * 2.0 - 1.0


def concat_conditioning(
    noisy: torch.Tensor, mask_latents: torch.Tensor, video_latents: torch.Tensor
) -> torch.Tensor:
    """Transformer input along channels (dim 2 of (B, T, C, h, w)): [noisy | mask | video]."""
    return torch.cat([noisy, mask_latents, video_latents], dim=2)


def _has_params(module) -> bool:
    return any(True for _ in module.parameters())


def _vae_device(vae) -> torch.device:
    # Under accelerate's offload hooks the parameters live on "meta" and the hooks move the
    # input themselves; a module built on "meta" without hooks is the memory trace's.
    dev = next(vae.parameters()).device
    return torch.device("cpu") if dev.type == "meta" and hasattr(vae, "_hf_hook") else dev
