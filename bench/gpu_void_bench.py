"""Seconds per denoising step and peak GPU memory of the full-size VOID transformer.

Builds the 5B CogVideoX-Fun-V1.5 transformer at 48 input channels with RANDOM weights (no
download; speed and memory do not depend on the values) and runs the engine's own denoising loop
(``VoidPipeline.denoise``: conditioning concat, RoPE, DDIM step, bf16 rounding, multidiffusion)
at 384x672 for:
  * 85 frames (22 latent frames, one window), bf16 weights and float8 storage;
  * 197 frames (50 latent frames, three multidiffusion windows), bf16 and float8.
Peak memory counts the transformer, latents, conditioning and activations (not T5, which is
off the GPU between prompts, nor the VAE, which runs before and after the loop).

    python bench/gpu_void_bench.py                 # on the GPU machine (about 5-8 minutes)
    python bench/gpu_void_bench.py --tiny          # a tiny config on the CPU: checks the script
    python bench/gpu_void_bench.py --steps 2 --cases 85-fp8,197-fp8
"""

from __future__ import annotations

import argparse
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


def build_transformer(config: dict, device: torch.device, dtype: torch.dtype, fp8: bool):
    from accelerate import init_empty_weights
    from diffusers import CogVideoXTransformer3DModel

    with init_empty_weights():
        model = CogVideoXTransformer3DModel.from_config(config)
    model.to_empty(device=device)
    model.to(dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
        for b in model.buffers():
            if b.is_floating_point():
                b.zero_()
    model.eval().requires_grad_(False)
    if fp8:
        model.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn,
            compute_dtype=dtype,
            skip_modules_pattern=FP8_SKIP_PATTERNS,
        )
    return model


def bench_case(args, config, frames: int, fp8: bool, device, dtype) -> dict:
    from void_fixture import SCHEDULER_CONFIG

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build_transformer(config, device, dtype, fp8)
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
        "first_step_s": round(steps[0], 3),
        "s_per_step": round(sum(timed) / len(timed), 3),
    }
    if device.type == "cuda":
        result["peak_GiB"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["peak_reserved_GiB"] = round(torch.cuda.max_memory_reserved(device) / 2**30, 2)
    del pipe, models, model, latents, cond
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (smoke test)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--cases", default="85-bf16,85-fp8,197-fp8,197-bf16")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=672)
    args = parser.parse_args(argv)
    if args.tiny:
        from void_fixture import TRANSFORMER_CONFIG

        config = {**TRANSFORMER_CONFIG, "in_channels": 48}
        config.pop("add_noise_in_inpaint_model", None)
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        device, dtype = torch.device("cpu"), torch.float32
        args.height, args.width, args.steps = 32, 48, 1
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --tiny to check the script on the CPU")
            return 2
        config, device, dtype = FULL_CONFIG, torch.device("cuda"), torch.bfloat16
        print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    results = []
    for case in args.cases.split(","):
        frames, storage = case.split("-")
        try:
            r = bench_case(args, config, int(frames), storage == "fp8", device, dtype)
        except torch.cuda.OutOfMemoryError as exc:
            r = {"case": case, "error": f"out of memory: {exc}"}
        r["case"] = case
        results.append(r)
        print(json.dumps(r), flush=True)
    print("\ncase       s/step   peak GiB   weights GiB")
    for r in results:
        print(f"{r['case']:10s} {r.get('s_per_step', '-'):>7} {r.get('peak_GiB', '-'):>9} {r.get('weights_GiB', '-'):>12}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
