"""Speed and statistics of Pass 2 warped noise (and RAFT) on this machine.

Prints seconds and per-latent-frame mean / variance for a window of --frames pixel frames at
--height x --width, with a synthetic flow (a pan plus a slow zoom, as a camera move would give).
Run: python bench/bench_warped_noise.py [--frames 85 --height 384 --width 672 --raft-pairs 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from void_vfx_server.engines.void.flow import compute_flow, flow_size, load_raft
from void_vfx_server.engines.void.warped_noise import warp_noise_along_flows


def synthetic_flows(frames: int, fh: int, fw: int) -> torch.Tensor:
    """A pan of (1.5, -0.5) flow pixels per frame plus a 0.5 % zoom about the centre."""
    ys, xs = torch.meshgrid(
        torch.arange(fh, dtype=torch.float32), torch.arange(fw, dtype=torch.float32), indexing="ij"
    )
    flow = torch.stack([1.5 + (xs - fw / 2) * 0.005, -0.5 + (ys - fh / 2) * 0.005])
    return flow.expand(frames - 1, 2, fh, fw).clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=85)
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=672)
    parser.add_argument("--raft-pairs", type=int, default=2, help="RAFT pairs to time (0: skip)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    latent_frames = (args.frames - 1) // 4 + 1
    latent_shape = (latent_frames, 16, args.height // 8, args.width // 8)
    fh, fw = flow_size(args.height, args.width)
    flows = synthetic_flows(args.frames, fh, fw).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    print(
        f"device {device}, threads {torch.get_num_threads()}, {args.frames} frames "
        f"{args.height}x{args.width}, flow {fh}x{fw}, latents {latent_shape}, "
        f"state {latent_shape[2] * 32}x{latent_shape[3] * 32}"
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    latents = warp_noise_along_flows(flows, latent_shape, generator)
    if device.type == "cuda":
        torch.cuda.synchronize()
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    seconds = time.perf_counter() - start
    print(f"warped noise: {seconds:.1f} s ({seconds / (args.frames - 1):.2f} s per frame step)")
    for k in range(latent_frames):
        frame = latents[0, k]
        print(
            f"  latent frame {k:2d}: mean {frame.mean().item():+.4f} var {frame.var().item():.4f}"
        )
    print(f"  all: mean {latents.mean().item():+.4f} var {latents.var().item():.4f}")
    if args.raft_pairs:
        raft = load_raft(random_init=True, device=device)
        video = torch.rand(args.raft_pairs + 1, 3, args.height, args.width, device=device) * 2 - 1
        compute_flow(raft, video[:2])  # warm-up
        start = time.perf_counter()
        compute_flow(raft, video)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per_pair = (time.perf_counter() - start) / args.raft_pairs
        print(f"RAFT-large (12 iterations) at {fh}x{fw}: {per_pair:.2f} s per frame pair")


if __name__ == "__main__":
    main()
