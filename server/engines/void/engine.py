"""``VoidEngine``: the VOID model kept resident, running Pass 1 and optionally Pass 2 per window.

Params understood (``WindowInput.params``, all optional):
  passes: 1, 2 (Pass 1 then Pass 2) or "pass2" (Pass 2 alone on ``window.pass1``);
  steps / guidance: for every pass run; pass1 / pass2: dicts of per-pass overrides
  (steps, guidance, negative_prompt, eta, noise_aug, latent_window, latent_overlap);
  raft_path, raft_random_init: the flow model of Pass 2 (the server's, never a spec's).
A spec sets the options of :data:`void_vfx.job.engine_params.VOID` (its ``params``, for every
pass) and the steps and guidance of each pass (its ``sampling``).
The memory mode is fixed when the engine loads (``memory_mode`` argument, "auto" by default).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from void_vfx.errors import Cancelled, EngineError, WeightsError
from void_vfx.render.engine import Engine, Progress, ShouldCancel, WindowInput, WindowOutput

from .gpu import (
    check_gpu,
    configure_allocator,
    current_gpu,
    fallback_mode,
    too_little_memory,
)
from .loading import VoidModels, choose_memory_mode, memory_plan, usable_gpu_bytes
from .pipeline import VoidPipeline, pass_params
from .weights import WeightPaths, locate_weights

log = logging.getLogger("void_vfx_server.void")
_PASS_KEYS = {
    "steps",
    "guidance",
    "negative_prompt",
    "eta",
    "noise_aug",
    "latent_window",
    "latent_overlap",
}


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class VoidEngine(Engine):
    """Resident VOID model. ``weights``: a ``WeightPaths``, a folder holding ``base/`` and
    ``void/`` (the test fixture layout), or None for the Hugging Face cache."""

    name = "void"

    def __init__(
        self,
        weights: WeightPaths | str | Path | None = None,
        checkpoints: str | Path | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        memory_mode: str = "auto",
        raft_path: str | Path | None = None,
        raft_random_init: bool = False,
    ):
        if device is None and memory_mode == "cpu":
            device = "cpu"  # --memory-mode cpu: a test run on a box whose GPU cannot serve
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.memory_mode = memory_mode
        # Flow model for Pass 2, unless a job's params name another.
        self.raft_defaults = {"raft_path": str(raft_path) if raft_path else None}
        if raft_random_init:
            self.raft_defaults = {"raft_random_init": True}
        self._weights_arg = (weights, checkpoints)
        self.paths: WeightPaths | None = None
        self.weights_error: str | None = None
        self.models: VoidModels | None = None
        self.pipeline: VoidPipeline | None = None
        #: The mode the next load uses after an out-of-memory, and what happened (shown by info).
        self._next_mode: str | None = None
        self.fallback_note: str | None = None
        if self.device.type == "cuda":
            configure_allocator()

    def _locate(self) -> WeightPaths:
        weights, checkpoints = self._weights_arg
        if isinstance(weights, WeightPaths):
            return weights
        if weights is not None and checkpoints is None and (Path(weights) / "base").is_dir():
            return locate_weights(Path(weights) / "base", Path(weights) / "void")
        return locate_weights(weights, checkpoints)

    def load(self) -> None:
        """Load the models in the configured mode; after an out-of-memory while loading, in the
        next mode the traced budget says fits, until one loads (the note says which)."""
        with current_gpu(self.device):
            self._load()

    def _load(self) -> None:
        if self.pipeline is not None:
            return
        check_gpu(self.device, self.dtype)
        try:
            self.paths = self._locate()
        except WeightsError as exc:
            self.weights_error = str(exc)
            raise
        if self._next_mode is not None:
            plan = memory_plan(self._next_mode)
        else:
            usable = usable_gpu_bytes(self.device)
            if self.memory_mode in (None, "auto") and too_little_memory(self.device, usable):
                raise EngineError(too_little_memory(self.device, usable))
            plan = choose_memory_mode(usable, 197, self.memory_mode)
        if self.device.type == "cpu" and plan.placement != "cpu" and not plan.fp8:
            plan = choose_memory_mode(None)
        while True:
            failed = None
            try:
                self.models = VoidModels(self.paths, self.device, self.dtype, plan)
                self.models.load()
                self.pipeline = VoidPipeline(self.models)
                return
            except torch.cuda.OutOfMemoryError as exc:
                failed = str(exc).splitlines()[0] if str(exc) else "out of memory"
            # out of the except block: the traceback no longer holds the half-loaded tensors
            self.unload()
            lower = fallback_mode(plan.name, usable_gpu_bytes(self.device))
            if lower is None:
                raise EngineError(
                    f"out of GPU memory loading VOID even in memory mode {plan.name} "
                    f"({failed}); free the GPU (nvidia-smi shows what holds it) or use a "
                    "larger one"
                )
            self.fallback_note = (
                f"out of GPU memory loading in memory mode {plan.name}; loaded in {lower}"
            )
            log.warning(self.fallback_note)
            plan = memory_plan(lower)

    def unload(self) -> None:
        if self.models is not None:
            with current_gpu(self.device):
                self.models.unload()
        self.models = self.pipeline = None
        self._free_cache()

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "engine": self.name,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "loaded": self.pipeline is not None,
            "memory_mode": self.models.plan.name if self.models else self.memory_mode,
            "memory_fallback": self.fallback_note,
        }
        if self.device.type == "cuda" and torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(self.device)
            info.update(gpu=torch.cuda.get_device_name(self.device), gpu_free=free, gpu_total=total)
        if self.paths is None and self.weights_error is None:
            try:
                self.paths = self._locate()
            except WeightsError as exc:
                self.weights_error = str(exc)
        info["weights"] = self.paths.to_dict() if self.paths else None
        info["weights_error"] = self.weights_error
        info["current_pass"] = self.models.current_pass if self.models else 0
        return info

    def _pass_overrides(self, params: dict[str, Any], pass_index: int) -> dict[str, Any]:
        shared = {k: v for k, v in params.items() if k in _PASS_KEYS}
        per = params.get(f"pass{pass_index}") or {}
        raft = _raft(params) or {k: v for k, v in self.raft_defaults.items() if v is not None}
        return {**shared, **{k: v for k, v in per.items() if k in _PASS_KEYS}, **raft}

    def run(
        self, window: WindowInput, progress: Progress, should_cancel: ShouldCancel
    ) -> WindowOutput:
        with current_gpu(self.device):
            return self._run(window, progress, should_cancel)

    def _run(
        self, window: WindowInput, progress: Progress, should_cancel: ShouldCancel
    ) -> WindowOutput:
        window.check()
        self.load()
        assert self.pipeline is not None
        params = dict(window.params or {})
        passes = params.get("passes", 1)
        if passes not in (1, 2, "pass2"):
            raise EngineError(f"params.passes must be 1, 2 or 'pass2', got {passes!r}")
        run_passes = {1: [1], 2: [1, 2], "pass2": [2]}[passes]
        if passes == "pass2" and window.pass1 is None:
            raise EngineError("passes='pass2' needs the saved Pass 1 result (window.pass1)")
        overrides = {p: self._pass_overrides(params, p) for p in run_passes}
        total = sum(pass_params(p, overrides[p]).steps for p in run_passes)
        frames = torch.from_numpy(np.ascontiguousarray(window.frames))
        quadmask = torch.from_numpy(np.ascontiguousarray(window.quadmask))
        pass1 = torch.from_numpy(window.pass1) if window.pass1 is not None else None
        result = None
        done = 0
        try:
            for p in run_passes:
                result = self.pipeline(
                    frames,
                    quadmask,
                    prompt=window.prompt,
                    seed=window.seed,
                    pass_index=p,
                    params=overrides[p],
                    pass1_frames=pass1,
                    progress=progress,
                    should_cancel=should_cancel,
                    step_offset=done,
                    total_steps=total,
                )
                done += pass_params(p, overrides[p]).steps
                if p == 1:
                    pass1 = result
        except Cancelled:
            self._free_cache()
            raise
        except torch.cuda.OutOfMemoryError as exc:
            oom = str(exc).splitlines()[0] if str(exc) else "out of memory"
        else:
            oom = None
        if oom is not None:
            raise EngineError(self._fall_back(oom))
        out = result.numpy().astype(np.float32, copy=False)
        keep_pass1 = pass1.numpy().astype(np.float32) if passes == 2 and pass1 is not None else None
        return WindowOutput(frames=out, pass1=keep_pass1)

    def _fall_back(self, detail: str) -> str:
        """After an out-of-memory in a window: unload, so the next job loads in the next mode
        the traced budget says fits; the message for the failed job says so."""
        mode = self.models.plan.name if self.models else self.memory_mode
        self.unload()  # the traceback is gone: the window's tensors are free
        lower = fallback_mode(mode, usable_gpu_bytes(self.device))
        if lower is None:
            return (
                f"out of GPU memory in memory mode {mode} ({detail}); it is the lowest mode: "
                "free the GPU or use a shorter window"
            )
        self._next_mode = lower
        self.fallback_note = f"out of GPU memory in memory mode {mode}; next jobs run in {lower}"
        log.warning(self.fallback_note)
        return (
            f"out of GPU memory in memory mode {mode} ({detail}); the engine falls back to "
            f"{lower} for the next jobs: submit this job again"
        )

    def free_memory(self) -> None:
        """Called by the worker after a job or a cancel: drop cached GPU blocks, keep weights."""
        self._free_cache()

    def _free_cache(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            with current_gpu(self.device):  # empty_cache frees the current device's blocks
                torch.cuda.empty_cache()


def _raft(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("raft_path", "raft_random_init") if k in params}
