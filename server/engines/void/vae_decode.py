"""VAE decode that gives 1 + 4(T - 1) frames, as the VOID reference decodes.

Stock ``AutoencoderKLCogVideoX.decode`` gives 4T frames. The reference decodes latent frame 0
alone, then the following latent frames two at a time, then the last one alone, carrying the
causal convolution cache between chunks; every time-compressing upsampler doubles time for every
chunk after the first (even a one-frame chunk), while the first chunk is upsampled in space only.
So frame 0 gives 1 frame and each later latent frame gives 4.

We walk the stock decoder's own blocks (conv_in, mid block, up blocks, norm_out, conv_out) and
only replace the upsampler's time rule; the weights and the cache format stay diffusers'.
Chunks of at most two latent frames also keep decode memory low, so no spatial tiling is needed
at the working size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import _compat  # noqa: F401 - torchvision guard before diffusers


def decode_chunks(num_latent_frames: int) -> list[tuple[int, int]]:
    """(start, stop) latent frame ranges: [0], then pairs, then a single last frame if left."""
    chunks = [(0, 1)] if num_latent_frames > 0 else []
    start = 1
    while start < num_latent_frames:
        stop = min(start + 2, num_latent_frames)
        chunks.append((start, stop))
        start = stop
    return chunks


def decoded_frame_count(num_latent_frames: int) -> int:
    return 1 + 4 * (num_latent_frames - 1)


def _upsample(upsampler, x: torch.Tensor, first_chunk: bool) -> torch.Tensor:
    """CogVideoXUpsample3D with the reference's time rule (see module docstring)."""
    b, c, t, h, w = x.shape
    if upsampler.compress_time and not first_chunk:
        x = F.interpolate(x, scale_factor=2.0)  # nearest in t, h and w
    else:
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = F.interpolate(x, scale_factor=2.0)
        x = x.reshape(b, t, c, *x.shape[2:]).permute(0, 2, 1, 3, 4)
    b, c, t, h, w = x.shape
    y = upsampler.conv(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
    return y.reshape(b, t, *y.shape[1:]).permute(0, 2, 1, 3, 4)


def _decode_chunk(decoder, z: torch.Tensor, cache: dict, first_chunk: bool):
    new: dict = {}
    h, new["conv_in"] = decoder.conv_in(z, conv_cache=cache.get("conv_in"))
    h, new["mid_block"] = decoder.mid_block(h, None, z, conv_cache=cache.get("mid_block"))
    for i, block in enumerate(decoder.up_blocks):
        key = f"up_block_{i}"
        old, sub = cache.get(key) or {}, {}
        for j, resnet in enumerate(block.resnets):
            h, sub[f"resnet_{j}"] = resnet(h, None, z, conv_cache=old.get(f"resnet_{j}"))
        for upsampler in block.upsamplers or []:
            h = _upsample(upsampler, h, first_chunk)
        new[key] = sub
    h, new["norm_out"] = decoder.norm_out(h, z, conv_cache=cache.get("norm_out"))
    h = decoder.conv_act(h)
    h, new["conv_out"] = decoder.conv_out(h, conv_cache=cache.get("conv_out"))
    return h, new


@torch.no_grad()
def decode_video(vae, latents: torch.Tensor) -> torch.Tensor:
    """Decode (B, 16, T, h, w) *unscaled* latents to (B, 3, 1 + 4(T - 1), 8h, 8w) in about [-1, 1]."""
    if vae.post_quant_conv is not None:
        latents = vae.post_quant_conv(latents)
    out = []
    for b in range(latents.shape[0]):  # slicing: one sample at a time
        cache: dict = {}
        for start, stop in decode_chunks(latents.shape[2]):
            z = latents[b : b + 1, :, start:stop]
            frames, cache = _decode_chunk(vae.decoder, z, cache, first_chunk=start == 0)
            out.append(frames)
    return torch.cat(out, dim=2) if latents.shape[0] == 1 else _stack(out, latents.shape[0])


def _stack(chunks: list[torch.Tensor], batch: int) -> torch.Tensor:
    per = len(chunks) // batch
    return torch.cat([torch.cat(chunks[i * per : (i + 1) * per], dim=2) for i in range(batch)])
