"""Peak GPU memory of each phase of a VOID window, traced on the ``meta`` device.

A ``LiveBytes`` dispatch mode sees every tensor an operator makes, records the bytes of its
storage (rounded as PyTorch's CUDA caching allocator rounds: 512 B blocks, 2 MiB pages above
1 MiB) and notices when the storage dies, so it keeps the bytes of the live tensors and their
peak. Meta tensors have shapes and dtypes but no data, so the real-size models run in seconds
with no weights and no GPU. What it does not see, the budget adds as a stated allowance
(:data:`void_vfx.model_facts.VOID_GPU_ALLOWANCE`): the CUDA context and cuBLAS/cuDNN
workspaces, and the allocator's fragmentation.

Each phase is traced with the engine's own code (``encode_mask`` / ``encode_video``,
``VoidPipeline.denoise`` with its multidiffusion windows and CFG batch, ``decode_video``) and
the weights resident on the GPU in that phase under each memory mode (:func:`resident`).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from void_vfx.model_facts import latent_frames

from . import _compat  # noqa: F401 - torchvision guard before diffusers
from .conditioning import encode_mask, encode_video
from .loading import FP8_SKIP_PATTERNS
from .pipeline import VoidPipeline, pass_params
from .real_size import (
    T5_CONFIG,
    TRANSFORMER_CONFIG,
    meta_t5,
    meta_transformer,
    meta_vae,
    parameter_bytes,
)
from .vae_decode import decode_video

GiB = 1024**3
_MiB = 1024**2
#: Resolution of the traced peak (see ``LiveBytes``).
SLACK = 32 * _MiB


def allocator_bytes(nbytes: int) -> int:
    """Bytes the CUDA caching allocator hands out for a request of ``nbytes``."""
    if nbytes <= _MiB:
        return -(-nbytes // 512) * 512
    return -(-nbytes // (2 * _MiB)) * (2 * _MiB)


class LiveBytes(TorchDispatchMode):
    """Bytes of live tensors made inside the mode, and their peak (``peak``, ``current``).

    ``base`` is added to both: resident bytes not held by any module given. ``resident``: modules
    whose weights are on the GPU (counted, and seen to die when a hook replaces them); ``other``:
    modules off the GPU (a view of their weights allocates nothing). The exact live total is only
    summed when the running upper bound passes the peak by ``SLACK``, so tracing stays fast and
    the peak is exact to within ``SLACK``.
    """

    def __init__(self, base: int = 0, resident=(), other=(), slack: int = SLACK):
        super().__init__()
        self.base, self.slack = base, slack
        self._live: dict[int, tuple[Any, int]] = {}
        self._upper = 0  # live bytes + bytes of storages that may have died since the last sweep
        self._outside: set[int] = set()
        self.peak = base
        for module in other:  # weights off the GPU: a view of them is no allocation
            self._outside.update(t.untyped_storage()._cdata for t in _tensors(module))
        for module in resident:  # weights on the GPU: counted, and seen when they are replaced
            for t in _tensors(module):
                self._track(t)
        self.peak = base + self._upper

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self._outside:
            return
        if key in self._live and not self._live[key][0].expired():
            return
        ref = torch.multiprocessing.reductions.StorageWeakRef(storage)
        nbytes = allocator_bytes(storage.nbytes())
        self._live[key] = (ref, nbytes)
        self._upper += nbytes
        if self.base + self._upper > self.peak + self.slack:
            self._sweep()
            self.peak = max(self.peak, self.base + self._upper)

    def _sweep(self) -> None:
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            del self._live[k]
        self._upper = sum(n for _, n in self._live.values())

    @property
    def current(self) -> int:
        self._sweep()
        return self.base + self._upper


def _tensors(module: torch.nn.Module) -> list[torch.Tensor]:
    return list(module.parameters()) + list(module.buffers())


#: Layers built of the transformer (of 42) and of T5 (of 24). A layer's activations are freed
#: before the next one runs, so two layers give the whole model's working peak; the weights of
#: the others are added as bytes ("trace layers once and multiply").
LAYERS = 2
#: Encode and decode are traced at these two window lengths and extrapolated along a line:
#: both walk the window in fixed chunks and only their inputs and outputs grow with its length,
#: so their peak is linear in the frames (checked against whole traces at 85 and 197 frames).
LINE_FRAMES = (21, 29)


@dataclass
class Models:
    """The real-size modules on ``meta`` (see :mod:`.real_size`), ``LAYERS`` deep, and the bytes
    of the layers that were not built."""

    transformer: Any
    transformer_fp8: Any
    vae: Any
    t5: Any
    missing: dict[str, int]  # "transformer", "transformer_fp8", "t5": bytes of unbuilt layers
    block: int  # bf16 bytes of one transformer block
    outside: int  # bf16 bytes of the transformer outside its blocks

    @classmethod
    def build(cls, layers: int = LAYERS) -> Models:

        config = {**TRANSFORMER_CONFIG, "num_layers": layers}
        bf16, fp8 = meta_transformer(config), meta_transformer(config)
        fp8.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn,
            compute_dtype=torch.bfloat16,
            skip_modules_pattern=FP8_SKIP_PATTERNS,
        )
        t5 = meta_t5({**T5_CONFIG, "num_layers": layers})
        rest = TRANSFORMER_CONFIG["num_layers"] - layers
        block = parameter_bytes(bf16.transformer_blocks[0])
        missing = {
            "transformer": rest * block,
            "transformer_fp8": rest * parameter_bytes(fp8.transformer_blocks[0]),
            "t5": (T5_CONFIG["num_layers"] - layers) * parameter_bytes(t5.encoder.block[1]),
        }
        outside = parameter_bytes(bf16) - layers * block
        return cls(bf16, fp8, meta_vae(), t5, missing, block, outside)

    def weights(self, name: str) -> int:
        """Bytes of the whole model ``name`` ("transformer", "transformer_fp8", "vae", "t5")."""

        return parameter_bytes(getattr(self, name)) + self.missing.get(name, 0)


def resident_bytes(models: Models, mode: str, phase: str, both_passes: bool = False) -> int:
    """Weights on the GPU during ``phase`` ("text", "encode", "denoise", "decode") in ``mode``.

    gpu / gpu-fp8: the transformer (both passes' with ``both_passes``) and the VAE stay, T5 joins
    them while it encodes a prompt; offload / offload-fp8: only the model that runs; sequential:
    the VAE while it runs, and while denoising two transformer blocks (one running, the next
    prefetched by group offloading) and the modules outside the blocks; T5 runs on the CPU.
    """
    transformer = models.weights("transformer_fp8" if mode.endswith("fp8") else "transformer")
    vae, t5 = models.weights("vae"), models.weights("t5")
    if mode in ("gpu", "gpu-fp8"):
        kept = transformer * (2 if both_passes else 1) + vae
        return kept + (t5 if phase == "text" else 0)
    if mode in ("offload", "offload-fp8"):
        return {"text": t5, "encode": vae, "denoise": transformer, "decode": vae}[phase]
    if mode == "sequential":
        return {
            "text": 0,
            "encode": vae,
            "denoise": 2 * models.block + models.outside,
            "decode": vae,
        }[phase]
    raise ValueError(f"no GPU phases in memory mode {mode!r}")


def _working(models: Models, running, fn) -> int:
    """Peak bytes ``fn`` allocates beyond the weights of ``running`` (the module it runs, whose
    weights a float8 cast hook may replace while it runs)."""
    others = [
        m
        for m in (models.transformer, models.transformer_fp8, models.vae, models.t5)
        if m is not running
    ]
    live = LiveBytes(0, [running], others)
    start = live.peak
    with torch.no_grad(), _fused_attention(), live:
        fn()
    return live.peak - start


@contextmanager
def _fused_attention():
    """SDPA as the GPU runs it. On ``meta`` PyTorch picks the math path, which would show the
    attention scores (48 heads x 11,314^2 tokens: 11.4 GiB a window); flash and memory-efficient
    attention (what the engine pins on the GPU) keep only the output and a float32 log-sum-exp
    per query."""
    sdpa = F.scaled_dot_product_attention

    def fused(q, k, v, *args, **kwargs):
        lse = q.new_empty(q.shape[:-1], dtype=torch.float32)
        out = q.new_empty((*q.shape[:-1], v.shape[-1]))
        del lse
        return out

    F.scaled_dot_product_attention = fused
    try:
        yield
    finally:
        F.scaled_dot_product_attention = sdpa


def working_text(models: Models) -> int:
    """T5 on 226 tokens."""

    def run():
        ids = torch.zeros(1, 226, dtype=torch.long, device="meta")
        return models.t5(input_ids=ids)[0]

    return _working(models, models.t5, run)


def working_encode(
    models: Models, frames: int, tiled: bool = False, height: int = 384, width: int = 672
) -> int:
    """The conditioning encode: mask latents kept while the video is encoded (``tiled``:
    diffusers' tiled encode, as ``sequential`` sets it)."""

    def run():
        models.vae.use_tiling = tiled
        mask = torch.empty(frames, height, width, device="meta")
        video = torch.empty(frames, 3, height, width, device="meta")
        kept = encode_mask(models.vae, mask)
        return kept, encode_video(models.vae, video)

    return _working(models, models.vae, run)


class _OneStep:
    """A scheduler stand-in with one meta timestep; DDIM's arithmetic is a few latent copies."""

    def __init__(self):
        self.timesteps = torch.full((1,), 999, device="meta", dtype=torch.long)

    def step(self, v, t, sample, **_):
        return (sample.float() - 0.1 * v,)


def working_denoise(
    models: Models, frames: int, guidance: float, fp8: bool, height: int = 384, width: int = 672
) -> int:
    """One step of the engine's denoising loop over every multidiffusion window (CFG doubles
    the batch), with the conditioning latents and the prompt embedding held."""

    transformer = models.transformer_fp8 if fp8 else models.transformer
    pipe = VoidPipeline(_MetaModels(transformer))  # type: ignore[arg-type]
    shape = (1, latent_frames(frames), 16, height // 8, width // 8)
    params = pass_params(2 if guidance > 1 else 1, {"guidance": guidance})
    batch = 2 if guidance > 1 else 1

    def run():
        latents = torch.empty(shape, device="meta", dtype=torch.bfloat16)
        cond = tuple(torch.empty(shape, device="meta", dtype=torch.bfloat16) for _ in range(2))
        embeds = torch.empty(batch, 226, 4096, device="meta", dtype=torch.bfloat16)
        return pipe.denoise(latents, cond, embeds, _OneStep(), params)

    return _working(models, transformer, run)


def working_decode(
    models: Models, frames: int, tiled: bool = False, height: int = 384, width: int = 672
) -> int:
    """The 1 + 4(T - 1) decode of one window (the decoded frames are kept)."""

    shape = (1, 16, latent_frames(frames), height // 8, width // 8)

    def run():
        z = torch.empty(shape, device="meta", dtype=torch.bfloat16)
        return decode_video(models.vae, z, tiled=tiled)

    return _working(models, models.vae, run)


def along_line(fn, frames: int, points: tuple[int, int] = LINE_FRAMES) -> int:
    """``fn(frames)`` traced at the two ``points`` and extrapolated (rounded up to ``SLACK``)."""
    if frames <= points[1]:
        return fn(frames)
    a, b = fn(points[0]), fn(points[1])
    value = a + (b - a) * (frames - points[0]) / (points[1] - points[0])
    return -(-int(value) // SLACK) * SLACK


class _MetaModels:
    """The few ``VoidModels`` attributes the denoising loop reads."""

    def __init__(self, transformer):
        self.transformers = {1: transformer}
        self.current_pass = 1
        self.device = torch.device("meta")
        self.dtype = torch.bfloat16

    def on_device(self, module):
        return nullcontext(module)


PHASES = ("text", "encode", "denoise", "decode")


class BudgetTrace:
    """Peak GiB per phase for every mode, window length and pass; phases traced once each."""

    def __init__(self, models: Models | None = None, height: int = 384, width: int = 672):
        self.models = models or Models.build()
        self.size = (height, width)
        self._cache: dict[tuple, int] = {}

    def _once(self, key: tuple, fn) -> int:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def working(self, phase: str, mode: str, frames: int, guidance: float) -> int:
        m, (h, w) = self.models, self.size
        tiled = mode == "sequential"
        if phase == "text":
            return 0 if tiled else self._once(("text",), lambda: working_text(m))
        if phase == "denoise":
            fp8, cfg = mode.endswith("fp8"), guidance > 1
            key = ("denoise", frames, cfg, fp8)
            return self._once(key, lambda: working_denoise(m, frames, guidance, fp8, h, w))
        trace = working_encode if phase == "encode" else working_decode

        def at(f: int) -> int:
            return self._once((phase, f, tiled), lambda: trace(m, f, tiled, h, w))

        return along_line(at, frames)

    def peaks(
        self, mode: str, frames: int, guidance: float = 1.0, both_passes: bool = False
    ) -> dict[str, float]:
        """Peak GiB of each phase of one pass of one window in ``mode``."""
        return {
            phase: (
                resident_bytes(self.models, mode, phase, both_passes)
                + self.working(phase, mode, frames, guidance)
            )
            / GiB
            for phase in PHASES
        }
