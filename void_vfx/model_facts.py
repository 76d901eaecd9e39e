"""Numbers the VOID model fixes (see docs: void-model facts), and the few job facts that the
client and the server must agree on. Pure Python, no heavy imports: each has one home here."""

from __future__ import annotations

import math

#: Working size of the model, height x width (multiples of 16); aspect 7:4.
WORK_HEIGHT = 384
WORK_WIDTH = 672
WORK_ASPECT = WORK_WIDTH / WORK_HEIGHT  # 1.75

#: Pixel frames per window: valid counts are 8j + 5 (latent frames (F - 1) / 4 + 1 must be even).
MIN_FRAMES = 5
MAX_FRAMES = 197
#: The model was trained on 85-frame windows; the reference pads every clip up to at least this.
DEFAULT_MIN_WINDOW = 85
#: Frames by which neighbouring temporal windows overlap at least (they crossfade over it).
DEFAULT_WINDOW_OVERLAP = 16
#: Latent frames per multidiffusion window inside the transformer (85 pixel frames) and overlap.
LATENT_WINDOW = 22
LATENT_OVERLAP = 4

#: Quadmask values.
QUAD_REMOVE = 0
QUAD_OVERLAP = 63
QUAD_AFFECTED = 127
QUAD_KEEP = 255
QUAD_VALUES = (QUAD_REMOVE, QUAD_OVERLAP, QUAD_AFFECTED, QUAD_KEEP)
#: Matte coverage below this is noise (an 8-bit matte's 1/255 and lossy ringing), not a soft
#: edge of the object (``mask.soft_edge``; the core's quadmask and Nuke's quadmask view).
SOFT_EDGE_FLOOR = 0.02

#: Defaults of the released scripts.
PASS1_STEPS = 30
PASS1_GUIDANCE = 1.0
PASS2_STEPS = 50
PASS2_GUIDANCE = 6.0
TEXT_TOKENS = 226
NOISE_AUG_STRENGTH = 0.0563
VAE_SCALING = 0.7


def is_valid_length(frames: int) -> bool:
    """True when ``frames`` pixel frames make an even number of latent frames (8j + 5)."""
    return MIN_FRAMES <= frames <= MAX_FRAMES and (frames - 5) % 8 == 0


def length_problem(frames: int) -> str:
    """Why ``frames`` is no window length, with the nearest valid ones and the full list."""
    below = [n for n in range(MIN_FRAMES, MAX_FRAMES + 1, 8) if n < frames]
    above = [n for n in range(MIN_FRAMES, MAX_FRAMES + 1, 8) if n > frames]
    near = " or ".join(str(n) for n in (below[-1:] + above[:1]))
    return (
        f"{frames} is not a valid window length (8j + 5 frames): the nearest are {near}; "
        f"valid: {MIN_FRAMES}, 13, 21, 29, ..., 85, ..., {MAX_FRAMES - 8}, {MAX_FRAMES}"
    )


def window_settings_problem(
    min_length: int, max_length: int, overlap: int
) -> tuple[str, str] | None:
    """(setting, what is wrong) for window settings no plan can have, else None: the one home of
    the rules (the job spec and the window planner both check with it)."""
    for name, value in (("min_length", min_length), ("max_length", max_length)):
        if not is_valid_length(value):
            return name, length_problem(value)
    if min_length > max_length:
        return "min_length", f"{min_length} is larger than max_length {max_length}"
    if not 0 <= overlap <= (max_length - 1) // 2:
        return "overlap", (
            f"{overlap} must be between 0 and {(max_length - 1) // 2} "
            f"(half of max_length {max_length})"
        )
    return None


def next_valid_length(frames: int, minimum: int = MIN_FRAMES) -> int:
    """Smallest valid window length >= max(frames, minimum); raises past MAX_FRAMES."""
    n = max(frames, minimum, MIN_FRAMES)
    n = 5 + ((n - 5 + 7) // 8) * 8
    if n > MAX_FRAMES:
        raise ValueError(f"{frames} frames do not fit one window (at most {MAX_FRAMES})")
    return n


def latent_frames(frames: int) -> int:
    """Latent frames the VAE makes of ``frames`` pixel frames."""
    return (frames - 1) // 4 + 1


#: Job states, in order of a job's life, and those a job does not leave.
JOB_STATES = ("created", "queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = ("done", "failed", "cancelled")


#: GPU memory (GiB) the VOID engine needs in each memory mode for windows of up to 85 frames and
#: of 86-197 frames, at 384x672 with the 5.57B transformer: the largest peak of any phase (T5,
#: encode, denoise with or without guidance, decode) traced on the meta device
#: (``void_vfx_server.engines.void.memory_trace``; tests/engines/test_gpu_budget.py holds the table
#: to the trace), plus ``VOID_GPU_ALLOWANCE``, rounded up to 0.1 GiB. Where the peak is: gpu,
#: gpu-fp8: the VAE decode (10.6 GiB of working memory) beside the resident transformer; offload:
#: Pass 2's guided denoise; offload-fp8: the decode; sequential: the tiled decode. The engine's
#: automatic choice (``choose_memory_mode``) and the farm's host requirements both read this table.
#: ``bench/gpu_void_bench.py`` measures the same peaks on a GPU.
VOID_GPU_GIB = {
    "gpu": 22.6,  # traced 21.40 GiB
    "gpu-fp8": 18.0,  # 16.97
    "offload": 13.0,  # 12.10
    "offload-fp8": 11.9,  # 11.03
    "sequential": 5.4,  # 4.71
    "cpu": 0.0,
}
#: The same for windows of 86-197 frames (longer latents; multidiffusion keeps 22 latent frames).
VOID_GPU_GIB_LONG = {
    "gpu": 22.8,  # traced 21.56 GiB
    "gpu-fp8": 18.2,  # 17.13
    "offload": 13.1,  # 12.14
    "offload-fp8": 12.1,  # 11.18
    "sequential": 5.8,  # 5.09
    "cpu": 0.0,
}
#: What the trace does not see, as (fixed GiB, fraction of the traced peak): the CUDA context
#: with cuBLAS / cuDNN workspaces (about 0.5 GiB on Ampere and Hopper with lazy module loading),
#: and the caching allocator's fragmentation (small with ``expandable_segments``, which the
#: server sets).
VOID_GPU_ALLOWANCE = (0.5, 0.03)


def void_gpu_gib(mode: str, frames: int = 85) -> float:
    """GPU memory in GiB the VOID engine needs in ``mode`` for windows of ``frames`` frames."""
    if mode not in VOID_GPU_GIB:
        raise ValueError(f"unknown memory mode {mode!r}; choose one of {', '.join(VOID_GPU_GIB)}")
    return (VOID_GPU_GIB_LONG if frames > DEFAULT_MIN_WINDOW else VOID_GPU_GIB)[mode]


def void_gpu_mib(mode: str, frames: int = 85) -> int:
    """The same in whole MiB, rounded up (what farm host requirements take)."""
    return math.ceil(round(void_gpu_gib(mode, frames) * 1024, 3))
