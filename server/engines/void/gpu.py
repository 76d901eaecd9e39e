"""What the engine asks of a GPU: bf16 (compute capability 8.0+), pinned attention backends, the
allocator's expandable segments, and the memory mode to fall back to after an out-of-memory."""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch

from void_vfx.errors import EngineError
from void_vfx.model_facts import void_gpu_gib

#: Fastest first; after an out-of-memory the engine moves down this list (offload, bf16, needs
#: more than offload-fp8 and is never a fallback).
FALLBACK_ORDER = ("gpu", "gpu-fp8", "offload-fp8", "sequential")
ALLOC_CONF = "expandable_segments:True"


def configure_allocator() -> None:
    """Expandable segments for the CUDA caching allocator: large tensors of changing sizes
    (the decode's chunks, the windows of a long shot) then reuse one mapping instead of
    fragmenting. Set before CUDA initialises (the environment variable), or through the
    allocator's own setting when it already has."""
    if "expandable_segments" in os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""):
        return
    if not torch.cuda.is_initialized():
        conf = os.environ.get("PYTORCH_CUDA_ALLOC_CONF")
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = f"{conf},{ALLOC_CONF}" if conf else ALLOC_CONF
    else:  # pragma: no cover - needs a GPU
        torch.cuda.memory._set_allocator_settings(ALLOC_CONF)


def check_gpu(device: torch.device, dtype: torch.dtype) -> None:
    """Refuse a GPU without bf16 for a bf16 engine: below compute capability 8.0 (T4, V100)
    SDPA has no flash kernel and falls back to the math path, whose attention scores need
    11-23 GiB a window, and bf16 matmuls are emulated."""
    if device.type != "cuda" or dtype != torch.bfloat16:
        return
    major, minor = torch.cuda.get_device_capability(device)
    if major < 8:
        name = torch.cuda.get_device_name(device)
        raise EngineError(
            f"GPU {device} ({name}) has compute capability {major}.{minor}: VOID runs in bf16 "
            "and needs 8.0 or newer (A10G, L4, A100, L40S, H100); use a newer GPU, or "
            "--device cpu for a test"
        )


def attention_backends(device: torch.device):
    """Flash, then memory-efficient attention, on CUDA; never the math path (which would hold
    every attention score): a shape those kernels refuse fails loudly instead of using 11+ GiB."""
    if device.type != "cuda":
        return nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])


def fallback_mode(mode: str, usable_bytes: int | None, frames: int = 197) -> str | None:
    """The next mode below ``mode`` whose traced budget fits ``usable_bytes`` (the last one,
    sequential, when none does; the next one when there is no GPU to ask), or None when
    ``mode`` is the last."""
    start = FALLBACK_ORDER.index(mode) + 1 if mode in FALLBACK_ORDER else 2
    lower = FALLBACK_ORDER[start:]
    if not lower:
        return None
    if usable_bytes is not None:
        for name in lower:
            if usable_bytes >= void_gpu_gib(name, frames) * 1024**3:
                return name
        return lower[-1]
    return lower[0]
