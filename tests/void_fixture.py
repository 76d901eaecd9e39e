"""Tiny random VOID weights in the exact released on-disk layout.

The folder looks like a Hugging Face download of ``alibaba-pai/CogVideoX-Fun-V1.5-5b-InP`` plus
``void_pass1.safetensors`` / ``void_pass2.safetensors``: the same files, the same config keys and
the real scheduler config, only the sizes are tiny (2 layers, 2 heads of 16, a 4-block VAE with 4-8
channels, a 2-layer T5, a sentencepiece model trained here). The real loading code loads it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

#: Bump when the layout or the tiny configs change; the cache folder is keyed by it.
FIXTURE_VERSION = "void-tiny-4"

TRANSFORMER_CONFIG = {
    "_class_name": "CogVideoXTransformer3DModel",
    "_diffusers_version": "0.31.0",
    "activation_fn": "gelu-approximate",
    "add_noise_in_inpaint_model": True,
    "attention_bias": True,
    "attention_head_dim": 16,
    "dropout": 0.0,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 33,
    "max_text_seq_length": 226,
    "norm_elementwise_affine": True,
    "norm_eps": 1e-05,
    "num_attention_heads": 2,
    "num_layers": 2,
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
    "text_embed_dim": 32,
    "time_embed_dim": 32,
    "timestep_activation_fn": "silu",
    "use_learned_positional_embeddings": False,
    "use_rotary_positional_embeddings": True,
}

VAE_CONFIG = {
    "_class_name": "AutoencoderKLCogVideoX",
    "_diffusers_version": "0.31.0",
    "act_fn": "silu",
    # 4-8 channels: the VAE runs at the 384x672 working size in every end-to-end job, where its
    # conv3d is most of a job's time (9.0 -> 6.5 s a job against [8, 8, 16, 16]).
    "block_out_channels": [4, 4, 8, 8],
    "down_block_types": ["CogVideoXDownBlock3D"] * 4,
    "up_block_types": ["CogVideoXUpBlock3D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 16,
    "layers_per_block": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 4,
    "sample_height": 480,
    "sample_width": 720,
    "scaling_factor": 0.7,
    "temporal_compression_ratio": 4,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}

#: The VAE of the tiled-decode test (test_void_decode.py), built there from this config: twice the
#: channels of the fixture's, so that group norms over a tile stay near the whole frame's (with
#: 1-2 channels a group, the tiled error of a random VAE depends on its draw far more).
TILING_VAE_CONFIG = {**VAE_CONFIG, "block_out_channels": [8, 8, 16, 16]}

#: The real scheduler config of the base folder (values from the spec).
SCHEDULER_CONFIG = {
    "_class_name": "CogVideoXDDIMScheduler",
    "_diffusers_version": "0.31.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "sample_max_value": 1.0,
    "set_alpha_to_one": True,
    "snr_shift_scale": 1.0,
    "steps_offset": 0,
    "timestep_spacing": "trailing",
    "trained_betas": None,
}

CORPUS = [
    "A ball rolls off the table.",
    "A person walks across the empty street at night.",
    "The kitchen is quiet and the cup stands on the counter.",
    "Cars drive along a wet road under grey clouds.",
    "A dog runs through the tall green grass in the park.",
    "Water flows over smooth stones in a small river.",
    "An empty room with a wooden floor and white walls.",
    "Leaves fall slowly from the old tree in autumn.",
    "The camera pans across a sunny beach with gentle waves.",
    "A red door opens onto a narrow hallway.",
]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _train_tokenizer(folder: Path) -> int:
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "spiece"),
        vocab_size=120,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    corpus.unlink()
    (folder / "spiece.vocab").unlink(missing_ok=True)
    _write_json(
        folder / "tokenizer_config.json",
        {
            "additional_special_tokens": [],
            "eos_token": "</s>",
            "extra_ids": 0,
            "legacy": True,
            "model_max_length": 226,
            "pad_token": "<pad>",
            "sp_model_kwargs": {},
            "tokenizer_class": "T5Tokenizer",
            "unk_token": "<unk>",
        },
    )
    _write_json(
        folder / "special_tokens_map.json",
        {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
    )
    sp = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    return sp.get_piece_size()


def write_tiny_void_weights(root: Path) -> Path:
    """Write the tiny layout under ``root`` (``root/base`` and ``root/void``); return ``root``."""
    from void_vfx_server.engines.void._compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before diffusers / transformers
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from safetensors.torch import save_file
    from transformers import T5Config, T5EncoderModel

    base = root / "base"
    torch.manual_seed(1234)
    vocab = _train_tokenizer(base / "tokenizer")

    _write_json(base / "transformer" / "config.json", TRANSFORMER_CONFIG)
    base_tf = CogVideoXTransformer3DModel.from_config(TRANSFORMER_CONFIG)
    save_file(
        {k: v.contiguous() for k, v in base_tf.state_dict().items()},
        str(base / "transformer" / "diffusion_pytorch_model.safetensors"),
    )

    vae = AutoencoderKLCogVideoX.from_config(VAE_CONFIG)
    _write_json(base / "vae" / "config.json", VAE_CONFIG)
    save_file(
        {k: v.contiguous() for k, v in vae.state_dict().items()},
        str(base / "vae" / "diffusion_pytorch_model.safetensors"),
    )

    t5_config = T5Config(
        vocab_size=vocab,
        d_model=TRANSFORMER_CONFIG["text_embed_dim"],
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=True,
        use_cache=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=False,
    )
    t5 = T5EncoderModel(t5_config)
    t5.save_pretrained(str(base / "text_encoder"), safe_serialization=True)

    _write_json(base / "scheduler" / "scheduler_config.json", SCHEDULER_CONFIG)
    _write_json(
        base / "model_index.json",
        {
            "_class_name": "CogVideoXFunInpaintPipeline",
            "scheduler": ["diffusers", "CogVideoXDDIMScheduler"],
            "text_encoder": ["transformers", "T5EncoderModel"],
            "tokenizer": ["transformers", "T5Tokenizer"],
            "transformer": ["diffusers", "CogVideoXTransformer3DModel"],
            "vae": ["diffusers", "AutoencoderKLCogVideoX"],
        },
    )

    void = root / "void"
    void.mkdir(parents=True, exist_ok=True)
    for n, seed in ((1, 11), (2, 22)):
        torch.manual_seed(seed)
        tf = CogVideoXTransformer3DModel.from_config({**TRANSFORMER_CONFIG, "in_channels": 48})
        sd = {k: v.to(torch.bfloat16).contiguous() for k, v in tf.state_dict().items()}
        save_file(sd, str(void / f"void_pass{n}.safetensors"), metadata={"format": "pt"})
    return root


def tiny_void_weights(cache_root: Path | None = None) -> Path:
    """The tiny layout, written once per FIXTURE_VERSION and reused (atomic rename)."""
    cache_root = Path(
        cache_root
        or os.environ.get("VOID_VFX_TEST_WEIGHTS")
        or Path.home() / ".cache" / "void-vfx-test-weights"
    )
    target = cache_root / FIXTURE_VERSION
    if (target / "void" / "void_pass2.safetensors").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_root))
    try:
        write_tiny_void_weights(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
