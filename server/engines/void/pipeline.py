"""The VOID pipeline: Pass 1 (removal) and Pass 2 (refinement from warped noise) in one file.

Usage::

    import torch
    from void_vfx_server.engines.void.weights import locate_weights
    from void_vfx_server.engines.void.loading import VoidModels, choose_memory_mode, free_gpu_bytes
    from void_vfx_server.engines.void.pipeline import VoidPipeline

    device = torch.device("cuda")
    plan = choose_memory_mode(free_gpu_bytes(device), frames=85)
    models = VoidModels(locate_weights(), device, torch.bfloat16, plan)
    models.load()
    pipe = VoidPipeline(models)
    # frames: float (F, H, W, 3) in [0, 1] at the working size; quadmask: uint8 (F, H, W)
    pass1 = pipe(frames, quadmask, prompt="A ball rolls off the table.", seed=7)
    pass2 = pipe(frames, quadmask, prompt="A ball rolls off the table.", seed=7,
                 pass_index=2, pass1_frames=pass1)

Numbers follow ../shared/docs/void-model.md (beside the repository, not in it): T5 tokens 226
without attention mask; conditioning [noisy | mask latents | video latents]; Pass 1
``DDIMScheduler`` 30 steps, no CFG; Pass 2 ``CogVideoXDDIMScheduler`` 50 steps, CFG 6 with an
empty negative prompt, initial latents = warped noise of the Pass 1 result; temporal
multidiffusion beyond 22 latent frames. Each pass draws from its own generator seeded from the
job seed, so Pass 2 alone on a saved Pass 1 result draws exactly what it draws after Pass 1.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from void_vfx.errors import Cancelled, EngineError
from void_vfx.job.engine_params import VOID as VOID_PARAMS
from void_vfx.model_facts import (
    LATENT_OVERLAP,
    LATENT_WINDOW,
    NOISE_AUG_STRENGTH,
    PASS1_GUIDANCE,
    PASS1_STEPS,
    PASS2_GUIDANCE,
    PASS2_STEPS,
    TEXT_TOKENS,
    is_valid_length,
)

from . import _compat  # noqa: F401 - torchvision guard before diffusers
from .conditioning import (
    augment_video,
    concat_conditioning,
    encode_mask,
    encode_video,
    frames_to_video,
    model_mask,
)
from .flow import load_raft
from .gpu import attention_backends
from .loading import VoidModels
from .vae_decode import decode_video
from .warped_noise import warped_noise_latents


@dataclass(frozen=True)
class PassParams:
    """Per-pass sampling settings; every field can be overridden per job."""

    steps: int
    guidance: float
    scheduler: str  # "ddim" | "cogvideox_ddim"
    negative_prompt: str = VOID_PARAMS["negative_prompt"].default
    eta: float = VOID_PARAMS["eta"].default
    noise_aug: float = VOID_PARAMS["noise_aug"].default
    latent_window: int = LATENT_WINDOW
    latent_overlap: int = LATENT_OVERLAP


PASS_DEFAULTS = {
    1: PassParams(steps=PASS1_STEPS, guidance=PASS1_GUIDANCE, scheduler="ddim"),
    2: PassParams(steps=PASS2_STEPS, guidance=PASS2_GUIDANCE, scheduler="cogvideox_ddim"),
}


def pass_params(pass_index: int, overrides: dict[str, Any] | None = None) -> PassParams:
    """Defaults of a pass with the job's overrides (unknown keys are ignored here)."""
    params = PASS_DEFAULTS[pass_index]
    fields = set(PassParams.__dataclass_fields__)
    return replace(params, **{k: v for k, v in (overrides or {}).items() if k in fields})


def pass_generator(seed: int, pass_index: int) -> torch.Generator:
    """The CPU generator of one pass: seed and pass fix every draw, whatever the device."""
    return torch.Generator("cpu").manual_seed(int(seed) + 1_000_003 * (pass_index - 1))


def multidiffusion_windows(
    num_frames: int, window: int = LATENT_WINDOW, overlap: int = LATENT_OVERLAP
) -> list[tuple[int, int]]:
    """Latent windows (start, stop): starts 0, window - overlap, ...; the last one cut short."""
    spans, start = [], 0
    while True:
        stop = min(start + window, num_frames)
        spans.append((start, stop))
        if stop >= num_frames:
            return spans
        start += window - overlap


def multidiffusion_weights(
    spans: list[tuple[int, int]],
    overlap: int = LATENT_OVERLAP,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Per-window frame weights: ramps 0.2, 0.4, 0.6, 0.8 over each overlap, reversed at a tail.

    The ramp is the inner points of linspace(0, 1, overlap + 2) rounded to ``dtype``: the
    reference keeps these weights in the model dtype (bf16: 0.2002, 0.4004, 0.6016, 0.8008).
    """
    ramp = torch.linspace(0.0, 1.0, overlap + 2)[1:-1].to(dtype)
    weights = []
    for i, (start, stop) in enumerate(spans):
        w = torch.ones(stop - start, dtype=dtype)
        if i > 0:
            n = min(overlap, spans[i - 1][1] - start)
            w[:n] = ramp[:n]
        if i + 1 < len(spans):
            n = min(overlap, stop - spans[i + 1][0])
            w[stop - start - n :] = ramp[:n].flip(0)
        weights.append(w)
    return weights


class VoidPipeline:
    """Runs one pass over one window with models kept resident in ``VoidModels``."""

    def __init__(self, models: VoidModels, prompt_cache_size: int = 16):
        self.models = models
        self._prompt_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._prompt_cache_size = prompt_cache_size
        self._rope_cache: dict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self._flow_model = None

    # 0. Inputs ------------------------------------------------------------------------------
    @staticmethod
    def check_inputs(
        frames: torch.Tensor,
        quadmask: torch.Tensor,
        prompt: str,
        pass_index: int,
        params: PassParams,
        pass1_frames: torch.Tensor | None,
    ) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise EngineError(f"frames must be (F, H, W, 3), got {tuple(frames.shape)}")
        f, h, w, _ = frames.shape
        if not is_valid_length(f):
            raise EngineError(f"{f} frames is not a valid window length (8j + 5: 13, 21, ..., 197)")
        if h % 16 or w % 16:
            raise EngineError(f"working size {w}x{h} must be a multiple of 16 in both directions")
        if tuple(quadmask.shape) != (f, h, w) or quadmask.dtype != torch.uint8:
            raise EngineError(
                f"quadmask must be uint8 {(f, h, w)}, got {quadmask.dtype} {tuple(quadmask.shape)}"
            )
        if not isinstance(prompt, str):
            raise EngineError(f"prompt must be a string, got {type(prompt).__name__}")
        if pass_index not in (1, 2):
            raise EngineError(f"pass must be 1 or 2, got {pass_index}")
        if params.steps < 1 or params.guidance < 0:
            raise EngineError(
                f"steps must be >= 1 and guidance >= 0, got {params.steps}, {params.guidance}"
            )
        if not 0.0 <= params.eta < 1.0:
            # eta = 1 makes DDIM's direction term the root of a rounding-level negative number at
            # the zero-SNR first step (NaN everywhere), so it is refused rather than run.
            raise EngineError(f"eta must be in [0, 1), got {params.eta}")
        if params.latent_window < 2 or params.latent_window % 2 or params.latent_overlap % 2:
            raise EngineError("latent_window must be even and >= 2 and latent_overlap even")
        if not 0 <= params.latent_overlap < params.latent_window:
            raise EngineError("latent_overlap must be in [0, latent_window)")
        if pass_index == 2 and (pass1_frames is None or pass1_frames.shape != frames.shape):
            raise EngineError("Pass 2 needs the Pass 1 result with the shape of the frames")

    # 1. Text --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """T5 embedding (1, 226, D) on the CPU, cached per prompt; T5 visits the GPU only here
        (in every memory mode but sequential: see ``VoidModels.text_device``)."""
        if prompt in self._prompt_cache:
            self._prompt_cache.move_to_end(prompt)
            return self._prompt_cache[prompt]
        models = self.models
        ids = models.tokenizer(prompt)
        assert ids.shape[1] == TEXT_TOKENS
        device = models.text_device()  # fixed per memory mode: the same bits every job
        with models.visit(models.text_encoder, device) as t5:  # and back to the CPU after
            embeds = t5(input_ids=ids.to(device))[0]  # no attention mask, as in training
        embeds = embeds.to("cpu", models.dtype)
        self._prompt_cache[prompt] = embeds
        while len(self._prompt_cache) > self._prompt_cache_size:
            self._prompt_cache.popitem(last=False)
        return embeds

    # 2. Conditioning ------------------------------------------------------------------------
    @torch.no_grad()
    def prepare_conditioning(
        self,
        frames: torch.Tensor,
        quadmask: torch.Tensor,
        pass_index: int,
        generator: torch.Generator,
        noise_aug: float = NOISE_AUG_STRENGTH,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mask latents, video latents), each (1, T, 16, h, w) in the model dtype."""
        models = self.models
        video = augment_video(frames_to_video(frames), generator, noise_aug)
        mask = model_mask(quadmask, pass_index)
        with models.on_device(models.vae) as vae:
            mask_latents = encode_mask(vae, mask)
            video_latents = encode_video(vae, video)
        to = {"device": models.device, "dtype": models.dtype}
        return mask_latents.to(**to), video_latents.to(**to)

    # 3. Initial latents ---------------------------------------------------------------------
    def prepare_latents(
        self,
        shape: tuple[int, int, int, int, int],
        generator: torch.Generator,
        init_sigma: float = 1.0,
    ) -> torch.Tensor:
        """Gaussian noise (1, T, 16, h, w) from the seeded generator, times the initial sigma."""
        noise = torch.randn(shape, generator=generator, dtype=torch.float32, device="cpu")
        return (noise * init_sigma).to(self.models.device, self.models.dtype)

    def warped_latents(
        self, pass1_frames: torch.Tensor, shape: tuple, generator: torch.Generator, raft: dict
    ) -> torch.Tensor:
        """Pass 2 initial noise: Go-with-the-Flow noise warped along the Pass 1 result."""

        key = (raft.get("raft_path"), bool(raft.get("raft_random_init", False)))
        if self._flow_model is None or self._flow_model[0] != key:
            model = load_raft(key[0], random_init=key[1], device=self.models.device)
            self._flow_model = (key, model)
        video = frames_to_video(pass1_frames).to(self.models.device)
        noise = warped_noise_latents(video, shape[1:], generator, self._flow_model[1])
        return noise.reshape(shape).to(self.models.device, self.models.dtype)

    def rotary_embeddings(self, frames: int, height: int, width: int):
        """3D RoPE for a latent window (positions from 0, "slice" grid, as CogVideoX 1.5)."""
        from diffusers.models.embeddings import get_3d_rotary_pos_embed

        key = (frames, height, width)
        if key not in self._rope_cache:
            cfg = self.models.transformers[self.models.current_pass].config
            p, pt = cfg.patch_size, cfg.patch_size_t
            grid = (height // p, width // p)
            max_size = (max(cfg.sample_height // p, grid[0]), max(cfg.sample_width // p, grid[1]))
            self._rope_cache[key] = get_3d_rotary_pos_embed(
                embed_dim=cfg.attention_head_dim,
                crops_coords=None,
                grid_size=grid,
                temporal_size=(frames + pt - 1) // pt,
                grid_type="slice",
                max_size=max_size,
                device=self.models.device,
            )
        return self._rope_cache[key]

    def make_scheduler(self, params: PassParams):
        from diffusers import CogVideoXDDIMScheduler, DDIMScheduler

        cls = DDIMScheduler if params.scheduler == "ddim" else CogVideoXDDIMScheduler
        scheduler = cls.from_config(self.models.scheduler_config)
        scheduler.set_timesteps(params.steps, device=self.models.device)
        return scheduler

    # 4. Denoising ---------------------------------------------------------------------------
    def predict(self, transformer, latents, cond, embeds, t, guidance) -> torch.Tensor:
        """v-prediction for one latent window, float32, with CFG when guidance > 1."""
        mask_latents, video_latents = cond
        x = concat_conditioning(latents, mask_latents, video_latents)
        if guidance > 1.0:
            x = torch.cat([x, x])  # embeds is [negative, prompt]: negative first
        _, frames, _, h, w = x.shape
        out = transformer(
            hidden_states=x,
            encoder_hidden_states=embeds,
            timestep=t.expand(x.shape[0]),
            image_rotary_emb=self.rotary_embeddings(frames, h, w),
            return_dict=False,
        )[0].float()
        if guidance > 1.0:
            uncond, text = out.chunk(2)
            out = uncond + guidance * (text - uncond)
        return out

    @torch.no_grad()
    def denoise(
        self,
        latents: torch.Tensor,
        cond: tuple[torch.Tensor, torch.Tensor],
        embeds: torch.Tensor,
        scheduler,
        params: PassParams,
        progress: Callable[[int, int, str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        step_offset: int = 0,
        total_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The loop. Over 22 latent frames, windows are denoised and stepped on their own from
        the same pre-step latents and blended; DDIM steps only read the timestep tables, so one
        scheduler serves every window. Rounding follows the reference bit for bit: each stepped
        window is rounded to the model dtype, multiplied by its weights in the model dtype, and
        summed in float32; the blend is rounded to the model dtype again. With ``eta`` > 0 the
        scheduler's variance noise is drawn from ``generator`` (the job's), never the global RNG."""
        models = self.models
        transformer = models.transformers[models.current_pass]
        spans = multidiffusion_windows(
            latents.shape[1], params.latent_window, params.latent_overlap
        )
        weights = [
            w.to(models.device).view(1, -1, 1, 1, 1)
            for w in multidiffusion_weights(spans, params.latent_overlap, models.dtype)
        ]
        embeds = embeds.to(models.device, models.dtype)
        timesteps = scheduler.timesteps
        total = total_steps or len(timesteps)
        with models.on_device(transformer), attention_backends(models.device):
            for i, t in enumerate(timesteps):
                if should_cancel is not None and should_cancel():
                    raise Cancelled("cancelled during denoising")
                acc = torch.zeros_like(latents, dtype=torch.float32)
                norm = torch.zeros_like(acc)
                for (start, stop), w in zip(spans, weights, strict=True):
                    window = latents[:, start:stop]
                    window_cond = (cond[0][:, start:stop], cond[1][:, start:stop])
                    v = self.predict(transformer, window, window_cond, embeds, t, params.guidance)
                    stepped = scheduler.step(
                        v, t, window, eta=params.eta, generator=generator, return_dict=False
                    )[0]
                    stepped = stepped.to(models.dtype)  # rounded to the model dtype every step
                    acc[:, start:stop] += stepped * w  # product in the model dtype
                    norm[:, start:stop] += w
                latents = (acc / norm).to(models.dtype)
                if progress is not None:
                    progress(
                        step_offset + i + 1,
                        total,
                        f"pass {models.current_pass} step {i + 1}/{len(timesteps)}",
                    )
        return latents

    # 5. Decoding ----------------------------------------------------------------------------
    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(1, T, 16, h, w) -> float32 (1 + 4(T - 1), H, W, 3) in [0, 1]."""
        models = self.models
        with models.on_device(models.vae) as vae:
            z = latents.permute(0, 2, 1, 3, 4).to(next(vae.parameters()).dtype)
            # sequential (VAE tiling) decodes in spatial tiles to fit 8 GB cards
            tiled = models.plan.vae_tiling
            video = decode_video(vae, z * (1 / vae.config.scaling_factor), tiled=tiled)
        return (video[0].float() / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).cpu()

    # 6. The whole pass ----------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        frames: torch.Tensor,
        quadmask: torch.Tensor,
        prompt: str = "",
        seed: int = 0,
        pass_index: int = 1,
        params: dict[str, Any] | None = None,
        pass1_frames: torch.Tensor | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        step_offset: int = 0,
        total_steps: int | None = None,
    ) -> torch.Tensor:
        """Run one pass; returns float32 (F, H, W, 3) in [0, 1]."""
        pp = pass_params(pass_index, params)
        self.check_inputs(frames, quadmask, prompt, pass_index, pp, pass1_frames)
        models = self.models
        models.use_pass(pass_index)
        generator = pass_generator(seed, pass_index)

        embeds = self.encode_prompt(prompt)
        if pp.guidance > 1.0:
            embeds = torch.cat([self.encode_prompt(pp.negative_prompt), embeds])
        # The reference augments only under the base config's add_noise_in_inpaint_model (set in
        # the released folder); a job's explicit noise_aug wins either way.
        augment = models.noise_augmentation or "noise_aug" in (params or {})
        noise_aug = pp.noise_aug if augment else 0.0
        cond = self.prepare_conditioning(frames, quadmask, pass_index, generator, noise_aug)
        scheduler = self.make_scheduler(pp)
        shape = tuple(cond[1].shape)
        if pass_index == 1:
            latents = self.prepare_latents(shape, generator, scheduler.init_noise_sigma)
        else:
            latents = self.warped_latents(pass1_frames, shape, generator, params or {})
            latents = latents * scheduler.init_noise_sigma
        latents = self.denoise(
            latents,
            cond,
            embeds,
            scheduler,
            pp,
            progress,
            should_cancel,
            step_offset,
            total_steps,
            generator=generator,  # only drawn from when eta > 0 (DDIM variance noise)
        )
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled before decoding")
        return self.decode_latents(latents)
