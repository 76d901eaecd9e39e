"""What the engine asks of a GPU: bf16 (compute capability 8.0+), pinned attention backends, the
allocator's expandable segments, and the memory mode to fall back to after an out-of-memory."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from void_vfx.errors import EngineError
from void_vfx.model_facts import void_gpu_gib

#: Fastest first; after an out-of-memory the engine moves down this list (offload, bf16, needs
#: more than offload-fp8 and is never a fallback).
FALLBACK_ORDER = ("gpu", "gpu-fp8", "offload-fp8", "sequential")
ALLOC_CONF = "expandable_segments:True"
GiB = 1024**3


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


def current_gpu(device: torch.device) -> AbstractContextManager:
    """``device`` as the thread's current CUDA device for the block (nothing elsewhere): on a
    GPU pool an engine runs on whichever worker's thread asked, and what takes no device (the
    streams of diffusers' group offloading, ``empty_cache``) uses the current one."""
    if device.type != "cuda":
        return nullcontext()
    return torch.cuda.device(device)


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
            f"GPU {device} ({name}) has compute capability {major}.{minor}, and VOID runs in "
            "bf16, which needs 8.0 or newer (A10G, L4, A100, L40S, H100): serve on such a GPU "
            "(void-vfx serve --engine void --gpus N), or on the CPU for a test (--memory-mode cpu)"
        )


def too_little_memory(device: torch.device, usable_bytes: int | None, frames: int = 197) -> str:
    """The one-line refusal for a GPU whose usable memory is below the smallest mode's traced
    budget (``sequential``), or "" when it fits or there is no GPU: refused at load, rather
    than out of memory in the decode after every diffusion step of the first window."""
    need = void_gpu_gib("sequential", frames)
    if usable_bytes is None or usable_bytes >= need * GiB:
        return ""
    return (
        f"GPU {device} has {usable_bytes / GiB:.1f} GiB free and VOID needs {need} GiB even in "
        "its smallest memory mode (sequential): free it (nvidia-smi shows what holds it), "
        "serve on another GPU (void-vfx serve --engine void --gpus N), or on the CPU "
        "(--memory-mode cpu)"
    )


class SharedSetting:
    """A process-wide setting that engines turn on around a block, from several threads at
    once on a GPU pool: the first to enter sets it, the last to leave puts it back. A plain
    save-and-restore would let one engine, leaving, restore the old setting under another still
    inside (whose attention would then pick another kernel, and other bits)."""

    def __init__(self, make: Callable[[], AbstractContextManager]):
        self._make, self._lock, self._users, self._held = make, threading.Lock(), 0, None

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._users == 0:
                held = self._make()
                held.__enter__()
                self._held = held
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    held, self._held = self._held, None
                    held.__exit__(None, None, None)


def _fused_attention() -> AbstractContextManager:

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])


#: SDPA's backends are process-wide flags (``torch._C._set_sdp_use_*``), shared by every engine.
_FUSED_ATTENTION = SharedSetting(_fused_attention)


def attention_backends(device: torch.device):
    """Flash, then memory-efficient attention, on CUDA; never the math path (which would hold
    every attention score): a shape those kernels refuse fails loudly instead of using 11+ GiB."""
    if device.type != "cuda":
        return nullcontext()
    return _FUSED_ATTENTION()


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
