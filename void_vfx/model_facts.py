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


#: GPU memory (GiB) the VOID engine needs in each memory mode for windows of up to 85 frames, at
#: 384x672 with the 5B transformer: bf16 weights 10.5, float8 storage 6.4 (4.75B float8 + 0.83B
#: bf16 layers), VAE 0.4, activations and VAE decode 5-6, and 2 of headroom for the bf16 case.
#: T5 (9.5) runs on the GPU only when it fits beside the rest, else on the CPU, so it is not
#: counted. The engine's automatic choice (``choose_memory_mode``) and the farm's host
#: requirements both read this table. Refine with ``bench/gpu_void_bench.py``.
VOID_GPU_GIB = {
    "gpu": 10.5 + 0.4 + 6.0 + 2.0,
    "gpu-fp8": 6.4 + 0.4 + 6.0,
    "offload": 10.5 + 5.0,  # one model on the GPU at a time
    "offload-fp8": 6.4 + 5.0,
    "sequential": 0.4 + 5.0 + 0.6,  # per-module offload: activations, the VAE, one block
    "cpu": 0.0,
}
#: Extra GiB for windows longer than 85 frames (longer latents; multidiffusion keeps 22 frames).
VOID_LONG_WINDOW_GIB = 1.0


def void_gpu_gib(mode: str, frames: int = 85) -> float:
    """GPU memory in GiB the VOID engine needs in ``mode`` for windows of ``frames`` frames."""
    if mode not in VOID_GPU_GIB:
        raise ValueError(f"unknown memory mode {mode!r}; choose one of {', '.join(VOID_GPU_GIB)}")
    base = VOID_GPU_GIB[mode]
    return base + (VOID_LONG_WINDOW_GIB if base and frames > DEFAULT_MIN_WINDOW else 0.0)


def void_gpu_mib(mode: str, frames: int = 85) -> int:
    """The same in whole MiB, rounded up (what farm host requirements take)."""
    return math.ceil(round(void_gpu_gib(mode, frames) * 1024, 3))
