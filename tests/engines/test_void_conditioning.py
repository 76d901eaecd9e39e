"""Exact VOID conditioning: mask values, VAE inputs, noise augmentation, channel order, frame
counts."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from void_vfx_server.engines.void import conditioning as cond  # noqa: E402
from void_vfx_server.engines.void.vae_decode import (  # noqa: E402
    decode_chunks,
    decode_video,
    decoded_frame_count,
)

QUAD = torch.tensor([0, 63, 127, 255], dtype=torch.uint8)


@pytest.fixture(scope="module")
def vae(void_weights: Path):
    from diffusers import AutoencoderKLCogVideoX

    return AutoencoderKLCogVideoX.from_pretrained(str(void_weights / "base" / "vae")).eval()


def test_pass1_trimask_values():
    m = cond.trimask(QUAD)
    assert m.tolist()[:2] == [1.0, 1.0]  # remove and overlap both remove
    assert m[2].item() == pytest.approx(127 / 255) and abs(m[2].item() - 0.5) < 0.01
    assert m[3].item() == 0.0


def test_pass2_binary_mask_values():
    assert cond.binary_mask(QUAD).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert cond.model_mask(QUAD, 2).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert cond.model_mask(QUAD, 1)[2].item() == pytest.approx(127 / 255)


def test_trimask_thresholds_on_every_value():
    q = torch.arange(256, dtype=torch.uint8)
    m = (255 - q.float()) / 255
    t = cond.trimask(q)
    assert torch.all(t[m > 0.75] == 1) and torch.all(t[m < 0.25] == 0)
    mid = (m >= 0.25) & (m <= 0.75)
    assert torch.allclose(t[mid], torch.tensor(127 / 255))


def _capture_encoder_input(vae):
    seen = []
    handle = vae.encoder.register_forward_pre_hook(lambda mod, args, kw=None: seen.append(args[0]))
    return seen, handle


def test_mask_enters_vae_as_inverted_three_channels_in_unit_range(vae):
    q = torch.full((13, 16, 16), 255, dtype=torch.uint8)
    q[:, 4:12, 4:12] = 0
    q[:, :4, :] = 127
    m = cond.trimask(q)
    seen, handle = _capture_encoder_input(vae)
    try:
        latents = cond.encode_mask(vae, m)
    finally:
        handle.remove()
    x = torch.cat(seen, dim=2)  # encoder chunks along time
    assert x.shape == (1, 3, 13, 16, 16)
    assert torch.equal(x[0, 0], 1 - m) and torch.equal(x[0, 1], x[0, 2])
    assert x.min() >= 0 and x.max() <= 1 and (x == 0).any()  # not rescaled to [-1, 1]
    with torch.no_grad():
        h = vae._encode(x.clone())
    assert torch.allclose(latents, (h[:, :16] * 0.7).permute(0, 2, 1, 3, 4), atol=1e-6)
    assert latents.shape == (1, 4, 16, 2, 2)


def test_noise_augmentation_is_seeded_and_spares_minus_one():
    video = torch.rand(5, 3, 32, 32) * 2 - 1
    video[:, :, :8] = -1.0
    a = cond.augment_video(video, torch.Generator().manual_seed(3))
    b = cond.augment_video(video, torch.Generator().manual_seed(3))
    c = cond.augment_video(video, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :, :8], video[:, :, :8])
    diff = (a - video)[:, :, 8:]
    assert diff.std().item() == pytest.approx(0.0563, rel=0.05)
    assert abs(diff.mean().item()) < 0.005


def test_video_latent_is_mode_times_scaling(vae):
    video = torch.rand(13, 3, 16, 16) * 2 - 1
    lat = cond.encode_video(vae, video)
    with torch.no_grad():
        h = vae._encode(video.permute(1, 0, 2, 3)[None])
    assert torch.allclose(lat, (h[:, :16] * 0.7).permute(0, 2, 1, 3, 4), atol=1e-6)
    assert torch.equal(cond.encode_video(vae, video), lat)  # the mode, not a sample


def test_frames_to_video_range():
    frames = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)  # one RGB pixel
    v = cond.frames_to_video(frames)
    assert v.shape == (1, 3, 1, 1) and v[0, :, 0, 0].tolist() == [-1.0, 0.0, 1.0]


def test_channel_order_noisy_mask_video(void_weights: Path):
    """Hook the patch embedding: its input is [noisy | mask latents | video latents]."""
    from void_vfx_server.engines.void.loading import VoidModels, memory_plan
    from void_vfx_server.engines.void.pipeline import VoidPipeline
    from void_vfx_server.engines.void.weights import locate_weights

    paths = locate_weights(void_weights / "base", void_weights / "void")
    models = VoidModels(paths, torch.device("cpu"), torch.float32, memory_plan("cpu"))
    models.load()
    pipe = VoidPipeline(models)
    noisy, mask_l, video_l = (torch.randn(1, 4, 16, 4, 6) for _ in range(3))
    seen = []
    tf = models.transformers[1]
    handle = tf.patch_embed.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    try:
        embeds = torch.zeros(1, 226, 32)
        pipe.predict(tf, noisy, (mask_l, video_l), embeds, torch.tensor(999), guidance=1.0)
    finally:
        handle.remove()
    x = seen[0]
    assert x.shape == (1, 4, 48, 4, 6)
    assert torch.equal(x[:, :, :16], noisy)
    assert torch.equal(x[:, :, 16:32], mask_l)
    assert torch.equal(x[:, :, 32:], video_l)


def test_decode_chunks():
    assert decode_chunks(1) == [(0, 1)]
    assert decode_chunks(4) == [(0, 1), (1, 3), (3, 4)]
    assert decode_chunks(22)[-1] == (21, 22) and len(decode_chunks(22)) == 12
    assert [decoded_frame_count(t) for t in (4, 22, 50)] == [13, 85, 197]


@pytest.mark.parametrize("frames", [13, 85, 197])
def test_encode_decode_frame_counts(vae, frames: int):
    video = torch.rand(1, 3, frames, 8, 8) * 2 - 1
    with torch.no_grad():
        z = vae.encode(video).latent_dist.mode()
    assert z.shape[2] == (frames - 1) // 4 + 1
    out = decode_video(vae, z)
    assert out.shape == (1, 3, frames, 8, 8)
    if frames == 13:
        assert vae.decode(z).sample.shape[2] == 16  # stock gives 4T
    # Frame 0 decodes alone (space-only upsampling), exactly as stock decodes one frame.
    with torch.no_grad():
        first = vae.decode(z[:, :, :1]).sample
    assert torch.allclose(out[:, :, :1], first, atol=1e-5)


def test_decode_pairs_carry_the_causal_cache_like_the_stock_decoder(vae):
    """Latent frame 0 alone, then a pair with the cache: for pairs (even chunks) the stock
    decoder already doubles time in every upsampler, so our walk must agree with it exactly."""
    z = torch.randn(1, 16, 3, 2, 3, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        first, cache = vae.decoder(z[:, :, :1])
        pair, _ = vae.decoder(z[:, :, 1:3], conv_cache=cache)
        ours = decode_video(vae, z)
    assert first.shape[2] == 1 and pair.shape[2] == 8
    assert torch.allclose(ours, torch.cat([first, pair], dim=2), atol=1e-5)
