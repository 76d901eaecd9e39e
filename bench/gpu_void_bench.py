"""Seconds per denoising step and peak GPU memory of the full-size VOID transformer (and VAE).

Builds the 5B CogVideoX-Fun-V1.5 transformer at 48 input channels with RANDOM weights (no
download; speed and memory do not depend on the values): the module is created on the meta
device, given bf16 storage on the GPU with ``to_empty`` and filled with N(0, 0.02) there, so a
build takes seconds and never holds a float32 copy. It then runs the engine's own denoising loop
(``VoidPipeline.denoise``: conditioning concat, RoPE, DDIM step, bf16 rounding, multidiffusion)
at 384x672 for:
  * 85 frames (22 latent frames, one window), bf16 weights and float8 storage;
  * 197 frames (50 latent frames, three multidiffusion windows), bf16 and float8;
  * the full-size VAE (random weights): conditioning encode (mask + noise-augmented video) and
    the 1 + 4(T - 1) decode, untiled, at 85 and 197 frames.
Peak memory of a transformer case counts the transformer, latents, conditioning and activations
(not T5, which is off the GPU between prompts, nor the VAE, which runs before and after the
loop: its own cases measure it). ``torch.cuda.max_memory_allocated`` is reset after the build.

    python bench/gpu_void_bench.py                 # on the GPU machine (about 3-5 minutes)
    python bench/gpu_void_bench.py --tiny          # a tiny config on the CPU: checks the script
    python bench/gpu_void_bench.py --steps 2 --cases 85-fp8,197-fp8,vae-197
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tiny configs of the test fixture

from void_vfx_server.engines.void._compat import ensure_torchvision_importable  # noqa: E402

ensure_torchvision_importable()

from void_vfx_server.engines.void.loading import (  # noqa: E402
    FP8_SKIP_PATTERNS,
    VoidModels,
    memory_plan,
)
from void_vfx_server.engines.void.pipeline import VoidPipeline, pass_params  # noqa: E402

#: The released base transformer config, widened to 48 input channels.
FULL_CONFIG = {
    "activation_fn": "gelu-approximate",
    "attention_bias": True,
    "attention_head_dim": 64,
    "dropout": 0.0,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 48,
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
FULL_VAE_CONFIG = {
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


def build_transformer(config: dict, device: torch.device, dtype: torch.dtype, fp8: bool):
    """The transformer with random N(0, 0.02) weights, built in place on ``device``."""
    from accelerate import init_empty_weights
    from diffusers import CogVideoXTransformer3DModel

    with init_empty_weights():  # parameters on "meta": no memory, no init time
        model = CogVideoXTransformer3DModel.from_config(config)
    buffers = {name: b.clone() for name, b in model.named_buffers()}  # real (not meta) tensors
    model.to(dtype)  # on meta: only the recorded dtype changes
    model.to_empty(device=device)  # uninitialised storage in the final dtype, on the device
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
        for name, b in model.named_buffers():  # to_empty left them uninitialised: restore
            b.copy_(buffers[name])
    model.eval().requires_grad_(False)
    if fp8:
        model.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn,
            compute_dtype=dtype,
            skip_modules_pattern=FP8_SKIP_PATTERNS,
        )
    return model


def _free(device: torch.device) -> None:
    gc.collect()  # hook registries can form reference cycles
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bench_case(args, config, frames: int, fp8: bool, device, dtype) -> dict:
    from void_fixture import SCHEDULER_CONFIG

    _free(device)
    built = time.perf_counter()
    model = build_transformer(config, device, dtype, fp8)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()  # drop the bf16 blocks float8 casting released
    built = time.perf_counter() - built
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    fp8_params = sum(p.numel() for p in model.parameters() if p.dtype == torch.float8_e4m3fn)
    models = VoidModels(None, device, dtype, memory_plan("gpu-fp8" if fp8 else "gpu"))  # type: ignore[arg-type]
    models.transformers, models.current_pass = {1: model}, 1
    models.scheduler_config = dict(SCHEDULER_CONFIG)
    pipe = VoidPipeline(models)
    t_lat = (frames - 1) // 4 + 1
    shape = (1, t_lat, 16, args.height // 8, args.width // 8)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(shape, generator=g).to(device, dtype)
    cond = tuple(torch.randn(shape, generator=g).to(device, dtype) for _ in range(2))
    embeds = torch.randn(1, 226, config["text_embed_dim"], generator=g).to(dtype)
    params = pass_params(1, {"steps": args.steps + 1})
    scheduler = pipe.make_scheduler(params)
    marks: list[float] = []

    def progress(step: int, total: int, msg: str) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        marks.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    pipe.denoise(latents, cond, embeds, scheduler, params, progress=progress)
    steps = [b - a for a, b in zip([start] + marks[:-1], marks, strict=True)]
    timed = steps[1:] or steps  # the first step includes warm-up
    result = {
        "frames": frames,
        "latent_frames": t_lat,
        "size": f"{args.width}x{args.height}",
        "storage": "float8_e4m3fn" if fp8 else str(dtype).replace("torch.", ""),
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "fp8_params_M": round(fp8_params / 1e6, 2),
        "weights_GiB": round(weights / 2**30, 2),
        "build_s": round(built, 1),
        "first_step_s": round(steps[0], 3),
        "s_per_step": round(sum(timed) / len(timed), 3),
    }
    if device.type == "cuda":
        result["peak_GiB"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["peak_reserved_GiB"] = round(torch.cuda.max_memory_reserved(device) / 2**30, 2)
    del pipe, models, model, latents, cond, scheduler
    _free(device)
    return result


def bench_vae(args, vae_config: dict, frames: int, device, dtype) -> dict:
    """Conditioning encode (mask and video, as the pipeline does) and decode of one window."""
    from diffusers import AutoencoderKLCogVideoX

    from void_vfx_server.engines.void.conditioning import (
        augment_video,
        encode_mask,
        encode_video,
        trimask,
    )
    from void_vfx_server.engines.void.vae_decode import decode_video

    _free(device)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX.from_config(vae_config).to(device, dtype).eval()
    vae.requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    video = torch.rand(frames, 3, args.height, args.width, generator=g) * 2 - 1
    quad = torch.full((frames, args.height, args.width), 255, dtype=torch.uint8)
    quad[:, : args.height // 2, : args.width // 3] = 0
    quad[:, args.height // 2 :, args.width // 2 :] = 127
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    marks = [time.perf_counter()]

    def mark() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        marks.append(time.perf_counter())

    with torch.no_grad():
        mask_latents = encode_mask(vae, trimask(quad).to(device))
        video_latents = encode_video(vae, augment_video(video, g).to(device))
        mark()
        z = video_latents.permute(0, 2, 1, 3, 4) * (1 / vae.config.scaling_factor)
        out = decode_video(vae, z)
        mark()
    result = {
        "frames": frames,
        "latent_frames": int(video_latents.shape[1]),
        "decoded_frames": int(out.shape[2]),
        "size": f"{args.width}x{args.height}",
        "storage": str(dtype).replace("torch.", ""),
        "encode_s": round(marks[1] - marks[0], 2),
        "decode_s": round(marks[2] - marks[1], 2),
    }
    assert mask_latents.shape == video_latents.shape and out.shape[2] == frames
    if device.type == "cuda":
        result["peak_GiB"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["peak_reserved_GiB"] = round(torch.cuda.max_memory_reserved(device) / 2**30, 2)
    del vae, mask_latents, video_latents, z, out
    _free(device)
    return result


def main(argv: list[str] | None = None) -> int:
    from void_fixture import VAE_CONFIG

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (smoke test)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--cases", default="85-bf16,85-fp8,197-fp8,197-bf16,vae-85,vae-197")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=672)
    args = parser.parse_args(argv)
    if args.tiny:
        from void_fixture import TRANSFORMER_CONFIG

        config = {**TRANSFORMER_CONFIG, "in_channels": 48}
        config.pop("add_noise_in_inpaint_model", None)
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        vae_config = {k: v for k, v in VAE_CONFIG.items() if not k.startswith("_")}
        device, dtype = torch.device("cpu"), torch.float32
        args.height, args.width, args.steps = 32, 48, 1
        args.cases = ",".join(c.replace("197", "93").replace("85", "13") for c in args.cases.split(","))  # fmt: skip
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --tiny to check the script on the CPU")
            return 2
        config, device, dtype = FULL_CONFIG, torch.device("cuda"), torch.bfloat16
        vae_config = FULL_VAE_CONFIG
        print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    results = []
    for case in args.cases.split(","):
        kind, _, rest = case.partition("-")
        try:
            if kind == "vae":
                r = bench_vae(args, vae_config, int(rest), device, dtype)
            else:
                r = bench_case(args, config, int(kind), rest == "fp8", device, dtype)
        except torch.cuda.OutOfMemoryError as exc:
            r = {"error": f"out of memory: {str(exc).splitlines()[0]}"}
        _free(device)  # after an OOM the failed case's tensors are only now unreferenced
        r["case"] = case
        results.append(r)
        print(json.dumps(r), flush=True)
    print("\ncase       s/step   peak GiB   weights GiB   (vae: encode s / decode s)")
    for r in results:
        speed = r.get("s_per_step", f"{r.get('encode_s', '-')}/{r.get('decode_s', '-')}")
        print(f"{r['case']:10s} {speed:>7} {r.get('peak_GiB', '-'):>9} {r.get('weights_GiB', '-'):>12}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
