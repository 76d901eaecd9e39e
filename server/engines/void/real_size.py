"""The released architectures at their real size, built on the ``meta`` device (no weights).

Used by the memory trace (:mod:`.memory_trace`, the budget test) and by the GPU bench, which
gives the same modules real storage with random values. The configs are the released base
folder's (``alibaba-pai/CogVideoX-Fun-V1.5-5b-InP``), with the transformer widened to VOID's 48
input channels; T5 is T5 v1.1 XXL's encoder (4.76B parameters, 8.87 GiB in bf16).
"""

from __future__ import annotations

from typing import Any

import torch

from . import _compat  # noqa: F401 - torchvision guard before diffusers
from .weights import VOID_IN_CHANNELS

#: The released base transformer config, widened to 48 input channels (5.57B parameters).
TRANSFORMER_CONFIG: dict[str, Any] = {
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "dropout": 0.0,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": VOID_IN_CHANNELS,
    "max_text_seq_length": 226,
    "norm_elementwise_affine": True,
    "norm_eps": 1e-05,
    "num_attention_heads": 48,
    "num_layers": 42,
    "out_channels": 16,
    "patch_bias": False,
    "patch_size": 2,
    "patch_size_t": 2,
    "sample_frames": 85,
    "sample_height": 384,
    "sample_width": 680,
    "spatial_interpolation_scale": 1.875,
    "temporal_compression_ratio": 4,
    "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096,
    "time_embed_dim": 512,
    "timestep_activation_fn": "silu",
    "use_learned_positional_embeddings": False,
    "use_rotary_positional_embeddings": True,
}

#: The released base VAE (diffusers' AutoencoderKLCogVideoX defaults, scaling factor 0.7).
VAE_CONFIG: dict[str, Any] = {
    "block_out_channels": [128, 256, 256, 512],
    "latent_channels": 16,
    "layers_per_block": 3,
    "norm_num_groups": 32,
    "temporal_compression_ratio": 4,
    "sample_height": 480,
    "sample_width": 720,
    "scaling_factor": 0.7,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}

#: T5 v1.1 XXL, encoder only (google/t5-v1_1-xxl, as in the base folder's text_encoder/).
T5_CONFIG: dict[str, Any] = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "vocab_size": 32128,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "layer_norm_epsilon": 1e-6,
    "dropout_rate": 0.0,
    "is_encoder_decoder": False,
    "use_cache": False,
}


def meta_transformer(config: dict[str, Any] | None = None, dtype=torch.bfloat16):
    """The VOID transformer with parameters on ``meta`` in ``dtype``."""
    from diffusers import CogVideoXTransformer3DModel

    with torch.device("meta"):
        model = CogVideoXTransformer3DModel.from_config(dict(config or TRANSFORMER_CONFIG))
    return model.to(dtype).eval().requires_grad_(False)


def meta_vae(config: dict[str, Any] | None = None, dtype=torch.bfloat16):
    from diffusers import AutoencoderKLCogVideoX

    with torch.device("meta"):
        vae = AutoencoderKLCogVideoX.from_config(dict(config or VAE_CONFIG))
    return vae.to(dtype).eval().requires_grad_(False)


def meta_t5(config: dict[str, Any] | None = None, dtype=torch.bfloat16):
    from transformers import T5Config, T5EncoderModel

    with torch.device("meta"):
        model = T5EncoderModel(T5Config(**(config or T5_CONFIG)))
    return model.to(dtype).eval().requires_grad_(False)


def parameter_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers as stored (float8 counts 1 byte)."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
