"""Load the VOID components once and keep them resident; memory modes; the T5 tokenizer.

- Transformer: ``CogVideoXTransformer3DModel`` from the base config widened to 48 input channels,
  loaded strictly from ``void_pass{1,2}.safetensors`` (missing / unexpected / misshapen keys are an
  error naming them). Switching passes loads the other state dict into the same module (or keeps
  both modules when free memory allows); the VAE and T5 are never reloaded.
- Memory modes (``MemoryPlan``): ``gpu`` (all resident), ``model_offload`` (each model moved to the
  GPU only while it runs), ``sequential`` (diffusers' group offloading, block by block), ``cpu``;
  float8 storage with bf16 compute via diffusers' layerwise casting; VAE tiling / slicing for
  encoding. Tiled encoding blends overlapping tiles, so its latents differ from the reference's
  whole-frame encoding: only ``sequential`` (the last resort) tiles. Under model offload the
  transformer is off the GPU while the VAE runs, which leaves room for the exact, untiled encode.
- FP8 choice: the layers that stay bf16 are ``patch_embed`` (the conditioning entry), every
  ``norm`` module *including the adaptive-norm linears* ``norm1.linear``, ``norm2.linear``,
  ``norm_out.linear`` (about 0.8B parameters: they make the per-block scale, shift and gate, which
  multiply every token, so 3-bit mantissas there cost more quality than the 0.8 GB they save),
  ``time_embedding`` and ``proj_out``. Attention and feed-forward weights (~4.8B) are float8.
- Tokenizer: sentencepiece on ``spiece.model``, reproducing the slow legacy T5 tokenizer: pieces
  to ids, EOS (1) appended, truncated to 226 including EOS, padded with 0.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from void_vfx.errors import WeightsError
from void_vfx.model_facts import TEXT_TOKENS, void_gpu_gib

from . import _compat  # noqa: F401 - torchvision guard before diffusers
from .weights import VOID_IN_CHANNELS, WeightPaths, read_json

GiB = 1024**3
#: Modules kept in bf16 under float8 storage (regex patterns, see module docstring).
FP8_SKIP_PATTERNS = ("patch_embed", "norm", "time_embedding", "^proj_out$")
MEMORY_MODES = ("gpu", "gpu-fp8", "offload", "offload-fp8", "sequential", "cpu")


@dataclass(frozen=True)
class MemoryPlan:
    """Where the models live. ``name`` is one of MEMORY_MODES."""

    placement: str  # "gpu" | "model_offload" | "sequential" | "cpu"
    fp8: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = True

    @property
    def name(self) -> str:
        base = {"gpu": "gpu", "model_offload": "offload", "sequential": "sequential"}.get(
            self.placement, "cpu"
        )
        return base + ("-fp8" if self.fp8 else "")


def memory_plan(name: str) -> MemoryPlan:
    """The plan for a mode name (an override from the job or the server config)."""
    plans = {
        "gpu": MemoryPlan("gpu"),
        "gpu-fp8": MemoryPlan("gpu", fp8=True),
        "offload": MemoryPlan("model_offload"),
        "offload-fp8": MemoryPlan("model_offload", fp8=True),
        "sequential": MemoryPlan("sequential", vae_tiling=True),
        "cpu": MemoryPlan("cpu"),
    }
    if name not in plans:
        raise ValueError(f"unknown memory mode {name!r}; choose one of {', '.join(MEMORY_MODES)}")
    return plans[name]


def choose_memory_mode(
    free_bytes: int | None, frames: int = 85, override: str | None = None
) -> MemoryPlan:
    """Pick a plan from free GPU memory (None = no GPU) for windows of ``frames`` pixel frames.

    The budgets are ``model_facts.VOID_GPU_GIB`` (traced per phase on the meta device, see
    ``memory_trace``): bf16 weights 10.38 GiB, float8 storage 5.95, VAE 0.40, T5 8.87 (on the GPU
    only while it encodes a new prompt, except in ``sequential``), the decode 10.6 of working
    memory.
    """
    if override and override != "auto":
        return memory_plan(override)
    if free_bytes is None:
        return memory_plan("cpu")
    free = free_bytes / GiB
    # The first mode, fastest first, whose budget (model_facts.VOID_GPU_GIB, the figures farm
    # jobs ask for) fits; offload (bf16) is never chosen over offload-fp8, which needs less.
    for mode in ("gpu", "gpu-fp8", "offload-fp8"):
        if free >= void_gpu_gib(mode, frames):
            return memory_plan(mode)
    return memory_plan("sequential")


def free_gpu_bytes(device: torch.device) -> int | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return int(torch.cuda.mem_get_info(device)[0])


def usable_gpu_bytes(device: torch.device) -> int | None:
    """Free memory as PyTorch can use it: the driver's free bytes plus the blocks its caching
    allocator holds but no tensor uses (reserved - allocated), which ``mem_get_info`` counts
    as used."""
    free = free_gpu_bytes(device)
    if free is None:
        return None
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return free + max(0, int(cached))


def pin_host_copies(device: torch.device, size: int, available: int | None = None) -> bool:
    """Whether an offloaded module's host copy of ``size`` bytes is pinned: on CUDA only (the
    upload from page-locked memory runs asynchronously at full bus speed), and only while RAM
    (``available``, MemAvailable by default) keeps twice that and 8 GiB: pinned pages cannot
    be swapped out, and a machine that pins too much stalls."""
    if device.type != "cuda":
        return False
    available = host_available_bytes() if available is None else available
    return available > 2 * size + 8 * GiB


def host_available_bytes() -> int:
    """Host memory available to new allocations (MemAvailable on Linux), 0 when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def room_beside_weights(plan: MemoryPlan, transformer_bytes: int, frames: int = 197) -> int:
    """Bytes the mode needs beyond its resident transformer and VAE at its peak phase: its
    budget less the weights already loaded (the decode's working memory in gpu modes)."""
    vae = int(0.41 * GiB)
    return max(0, int(void_gpu_gib(plan.name, frames) * GiB) - transformer_bytes - vae)


class T5SentencePieceTokenizer:
    """The slow legacy T5 tokenizer on ``spiece.model``: ids + EOS, truncated and padded to 226."""

    def __init__(
        self, spiece: Path, max_length: int = TEXT_TOKENS, eos_id: int = 1, pad_id: int = 0
    ):
        import sentencepiece as spm

        try:
            self.sp = spm.SentencePieceProcessor(model_file=str(spiece))
        except (OSError, RuntimeError) as exc:
            raise WeightsError(f"malformed tokenizer model {spiece}: {exc}") from exc
        self.max_length, self.eos_id, self.pad_id = max_length, eos_id, pad_id

    def ids(self, prompt: str) -> list[int]:
        ids = list(self.sp.encode(prompt))[: self.max_length - 1] + [self.eos_id]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def __call__(self, prompt: str) -> torch.Tensor:
        return torch.tensor([self.ids(prompt)], dtype=torch.long)


def _load_safetensors(path: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        sd = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"malformed safetensors file {path}: {exc}") from exc
    return {k: v.to(dtype) for k, v in sd.items()}


def void_state_dict(path: Path, module: torch.nn.Module, dtype: torch.dtype) -> dict:
    """Read a VOID dump and check it matches ``module`` key for key and shape for shape."""
    sd = _load_safetensors(path, dtype)
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(want) - set(sd))
    unexpected = sorted(set(sd) - set(want))
    shapes = [
        f"{k} {tuple(sd[k].shape)} != {want[k]}"
        for k in want
        if k in sd and tuple(sd[k].shape) != want[k]
    ]
    if missing or unexpected or shapes:
        raise WeightsError(
            f"VOID checkpoint {path} does not match the 48-channel transformer: "
            f"missing keys {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected keys {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}, "
            f"wrong shapes {shapes[:4]}"
        )
    return sd


def build_transformer(paths: WeightPaths, pass_index: int, dtype: torch.dtype):
    """The 48-channel transformer with the given pass's weights, on the CPU, strictly loaded."""
    from accelerate import init_empty_weights
    from diffusers import CogVideoXTransformer3DModel

    config = {**paths.transformer_config(), "in_channels": VOID_IN_CHANNELS}
    config.pop("add_noise_in_inpaint_model", None)  # a VideoX-Fun key diffusers does not know
    with init_empty_weights():
        model = CogVideoXTransformer3DModel.from_config(config)
    path = paths.pass1 if pass_index == 1 else paths.pass2
    if path is None:
        raise WeightsError("void_pass2.safetensors was not found; Pass 2 needs it")
    sd = void_state_dict(path, model, dtype)
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval().requires_grad_(False)


class VoidModels:
    """The resident components and their placement. One instance per engine."""

    def __init__(
        self, paths: WeightPaths, device: torch.device, dtype: torch.dtype, plan: MemoryPlan
    ):
        self.paths, self.device, self.dtype, self.plan = paths, device, dtype, plan
        self.vae = self.text_encoder = self.tokenizer = None
        self.transformers: dict[int, Any] = {}
        self.current_pass = 0
        self.scheduler_config: dict[str, Any] = {}
        #: The base config's ``add_noise_in_inpaint_model`` (true in the released folder): the
        #: reference noise-augments the video before encoding only when it is set.
        self.noise_augmentation = True
        #: Host copies of offloaded modules (``visit``), by module id.
        self._host: dict[int, list] = {}

    # -- loading -------------------------------------------------------------------------
    def load(self) -> None:
        from diffusers import AutoencoderKLCogVideoX
        from transformers import T5EncoderModel

        base = self.paths.base
        try:
            self.vae = AutoencoderKLCogVideoX.from_pretrained(
                str(base / "vae"), torch_dtype=self.dtype
            )
            self.text_encoder = T5EncoderModel.from_pretrained(
                str(base / "text_encoder"), dtype=self.dtype
            )
        except WeightsError:
            raise
        except Exception as exc:
            raise WeightsError(f"could not load the base model from {base}: {exc}") from exc
        self.vae.eval().requires_grad_(False)
        self.text_encoder.eval().requires_grad_(False)
        self.tokenizer = T5SentencePieceTokenizer(base / "tokenizer" / "spiece.model")
        self.scheduler_config = read_json(base / "scheduler" / "scheduler_config.json")
        config = self.paths.transformer_config()
        self.noise_augmentation = bool(config.get("add_noise_in_inpaint_model", False))
        if self.plan.vae_tiling:
            self.vae.enable_tiling()
        if self.plan.vae_slicing:
            self.vae.enable_slicing()
        if self.plan.placement == "gpu":
            self.vae.to(self.device)
        self.use_pass(1)

    def _place_transformer(self, model):
        if self.plan.fp8:
            model.enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn,
                compute_dtype=self.dtype,
                skip_modules_pattern=FP8_SKIP_PATTERNS,
            )
        if self.plan.placement == "gpu":
            model.to(self.device)
        elif self.plan.placement == "sequential":
            # diffusers' group offloading, one transformer block at a time; on CUDA the next
            # block is copied on a side stream from pinned host memory while one runs (the
            # memory trace counts two blocks resident).
            cuda = self.device.type == "cuda"
            model.enable_group_offload(
                onload_device=self.device,
                offload_device=torch.device("cpu"),
                offload_type="block_level",
                num_blocks_per_group=1,
                use_stream=cuda,
                non_blocking=cuda,
            )
        return model

    def use_pass(self, pass_index: int):
        """Make the given pass's transformer current; return it. VAE and T5 stay as they are."""
        if pass_index == self.current_pass:
            return self.transformers[pass_index]
        if pass_index in self.transformers:
            self.current_pass = pass_index
            return self.transformers[pass_index]
        keep_both = self._room_for_second()
        if self.transformers and not keep_both and self.plan.placement != "sequential":
            ((old_index, model),) = self.transformers.items()
            path = self.paths.pass1 if pass_index == 1 else self.paths.pass2
            if path is None:
                raise WeightsError("void_pass2.safetensors was not found; Pass 2 needs it")
            model.load_state_dict(void_state_dict(path, model, self.dtype), strict=True)
            self.transformers = {pass_index: model}
        else:
            if not keep_both:
                self.transformers.clear()
                gc.collect()
            model = self._place_transformer(build_transformer(self.paths, pass_index, self.dtype))
            self.transformers[pass_index] = model
        self.current_pass = pass_index
        return self.transformers[pass_index]

    def _room_for_second(self) -> bool:
        """Keep both passes' transformers resident only where the mode's whole budget (its
        traced peak, the decode) still fits beside the second copy. Free memory counts the
        blocks PyTorch caches as free (they are reused), so the answer does not depend on what
        the previous job left cached."""
        if not self.transformers:
            return False
        model = next(iter(self.transformers.values()))
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        if self.plan.placement == "gpu":
            free = usable_gpu_bytes(self.device)
            return free is not None and free >= size + room_beside_weights(self.plan, size)
        if self.plan.placement == "model_offload":
            # Both live in host memory between uses: a pass switch then copies, never re-reads
            # a 10.4 GiB checkpoint, when RAM holds the second copy with 8 GiB to spare.
            return host_available_bytes() > size + 8 * GiB
        return self.device.type == "cpu" and size < 2 * GiB  # tiny test models

    # -- placement while running -------------------------------------------------------------
    @contextmanager
    def on_device(self, module):
        """Move the VAE or transformer to the device for the block when offloading; back after."""
        # Group offloading hooks move the transformer's blocks themselves in sequential; the
        # VAE (0.4 GB) is simply moved whole while it runs.
        move = self.plan.placement == "model_offload" or (
            self.plan.placement == "sequential" and module is self.vae
        )
        with self.visit(module) if move else nullcontext(module):
            yield module

    @contextmanager
    def visit(self, module, device: torch.device | None = None):
        """``module`` on ``device`` (the engine's) for the block, from a host copy kept for it.

        The weights never change, so going back only points the parameters at their host copy
        again: no copy back, no pageable buffer per move. On CUDA the host copy is pinned (when
        RAM allows) and the upload is asynchronous. The freed GPU blocks stay cached for the
        next model: no ``empty_cache`` here.
        """
        device = device or self.device
        host = self._host_copy(module)  # on a CPU engine the "move" is the host copy itself
        try:
            for t, h in host:
                t.data = h.to(device, non_blocking=h.is_pinned())
            yield module
        finally:
            for t, h in host:
                t.data = h

    def _host_copy(self, module) -> list:
        key = id(module)
        if key not in self._host:
            tensors = list(module.parameters()) + list(module.buffers())
            size = sum(t.numel() * t.element_size() for t in tensors)
            pin = pin_host_copies(self.device, size)
            pairs = []
            for t in tensors:
                h = t.data.to("cpu")
                t.data = h.pin_memory() if pin else h
                pairs.append((t, t.data))
            self._host[key] = pairs
        return self._host[key]

    def text_device(self) -> torch.device:
        """Where T5 runs: fixed by the memory mode, never by the free memory of the moment, so a
        prompt gives the same embedding (the same bits) in every job of this engine, whichever
        pass runs. On the GPU in every mode but sequential (whose 8 GB card cannot take its
        8.9 GiB; the traced budgets count it there) and cpu."""
        if self.device.type != "cuda" or self.plan.placement in ("sequential", "cpu"):
            return torch.device("cpu")
        return self.device

    def unload(self) -> None:
        self._host.clear()
        self.transformers.clear()
        self.vae = self.text_encoder = None
        self.current_pass = 0
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
