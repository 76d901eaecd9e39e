"""VAE decode that gives 1 + 4(T - 1) frames, as the VOID reference decodes.

Stock ``AutoencoderKLCogVideoX.decode`` gives 4T frames. The reference decodes latent frame 0
alone, then the following latent frames two at a time, then the last one alone, carrying the
causal convolution cache between chunks; every time-compressing upsampler doubles time for every
chunk after the first (even a one-frame chunk), while the first chunk is upsampled in space only.
So frame 0 gives 1 frame and each later latent frame gives 4.

We walk the stock decoder's own blocks (conv_in, mid block, up blocks, norm_out, conv_out) and
only replace the upsampler's time rule; the weights and the cache format stay diffusers'.
Chunks of two latent frames still need about 10.5 GiB of working memory at 384x672 (traced, see
:mod:`.memory_trace`). ``tiled=True`` (the ``sequential`` mode's decode) decodes overlapping
spatial tiles of the latents, each through every time chunk with its own causal cache, and blends
them with linear ramps over the overlaps: working memory falls with the tile area. The decoder's
group norms then see one tile's statistics, so tiled output differs slightly from the whole-frame
decode (as diffusers' own tiled decode does); only the last-resort mode uses it.
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


#: Latent tile (height, width) and least overlap of the tiled decode: 2 x 2 tiles at 48 x 84.
TILE = (32, 48)
TILE_OVERLAP = 4


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced tile starts covering ``length`` with at least ``overlap`` between tiles."""
    if length <= tile:
        return [0]
    n = -(-(length - overlap) // (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _ramp(size: int, lead: int, trail: int, device, scale: int) -> torch.Tensor:
    """Per-pixel weights of a tile along one axis: linear up over the overlap with the previous
    tile (``lead`` latent pixels), down over the next one's (``trail``), 1 between."""
    x = torch.arange(size * scale, device=device, dtype=torch.float32) + 0.5
    w = torch.ones_like(x)
    if lead:
        w = torch.minimum(w, x / (lead * scale))
    if trail:
        w = torch.minimum(w, (size * scale - x) / (trail * scale))
    return w


def _decode_one(vae, latents: torch.Tensor) -> torch.Tensor:
    out = []
    cache: dict = {}
    for start, stop in decode_chunks(latents.shape[2]):
        frames, cache = _decode_chunk(vae.decoder, latents[:, :, start:stop], cache, start == 0)
        out.append(frames)
    return torch.cat(out, dim=2)


def _decode_tiled(vae, latents: torch.Tensor, tile: tuple[int, int], overlap: int, tiles=None):
    _, _, t, h, w = latents.shape
    done = 0
    scale = 8
    rows, cols = tile_starts(h, tile[0], overlap), tile_starts(w, tile[1], overlap)
    th, tw = min(tile[0], h), min(tile[1], w)
    acc = weight = None
    for i, r in enumerate(rows):
        lead_r = rows[i - 1] + th - r if i else 0
        trail_r = r + th - rows[i + 1] if i + 1 < len(rows) else 0
        wy = _ramp(th, lead_r, trail_r, latents.device, scale)
        for j, c in enumerate(cols):
            lead_c = cols[j - 1] + tw - c if j else 0
            trail_c = c + tw - cols[j + 1] if j + 1 < len(cols) else 0
            wx = _ramp(tw, lead_c, trail_c, latents.device, scale)
            if tiles is not None and done == tiles:
                continue
            done += 1
            part = _decode_one(vae, latents[:, :, :, r : r + th, c : c + tw])
            if acc is None:
                acc = part.new_zeros((*part.shape[:3], h * scale, w * scale), dtype=torch.float32)
                weight = torch.zeros(h * scale, w * scale, device=part.device)
            wt = wy[:, None] * wx[None, :]
            ys, xs = slice(r * scale, (r + th) * scale), slice(c * scale, (c + tw) * scale)
            acc[..., ys, xs] += part.float() * wt
            weight[ys, xs] += wt
            del part
    assert acc is not None and weight is not None
    return (acc / weight).to(latents.dtype)


@torch.no_grad()
def decode_video(
    vae,
    latents: torch.Tensor,
    tiled: bool = False,
    tile: tuple[int, int] = TILE,
    overlap: int = TILE_OVERLAP,
    tiles: int | None = None,
) -> torch.Tensor:
    """Decode (B, 16, T, h, w) *unscaled* latents to (B, 3, 1 + 4(T - 1), 8h, 8w) in about [-1, 1].

    ``tiled``: overlapping spatial tiles of ``tile`` latent pixels (see the module docstring).
    ``tiles``: decode only that many tiles (the memory trace: the tiles share one shape and free
    their working memory before the next, so the first one shows the peak).
    """
    if vae.post_quant_conv is not None:
        latents = vae.post_quant_conv(latents)
    if tiled:
        return torch.cat(
            [
                _decode_tiled(vae, latents[b : b + 1], tile, overlap, tiles)
                for b in range(len(latents))
            ]
        )
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
