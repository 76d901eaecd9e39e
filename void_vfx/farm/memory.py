"""How much GPU memory a farm task needs, per memory mode, so a TD picks the right fleet.

The figures are the VOID engine's own budget (:data:`void_vfx.model_facts.VOID_GPU_GIB`, which
its automatic mode choice also reads), so the core needs nothing from the server to write them.
The GPU list is Deadline Cloud's service-managed selections (sizes per GPU, as AWS lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

from void_vfx.model_facts import VOID_GPU_GIB, void_gpu_mib

#: Memory modes, from the most to the least GPU memory (the engine's names).
MODES = ("gpu", "offload", "gpu-fp8", "offload-fp8", "sequential", "cpu")
#: What each mode trades, in a few words.
MODE_NOTES = {
    "gpu": "bf16, all resident: fastest, reference numerics",
    "offload": "bf16, one model on the GPU at a time",
    "gpu-fp8": "float8 weights, bf16 compute, all resident",
    "offload-fp8": "float8 weights, one model on the GPU at a time",
    "sequential": "per-module offload: slowest GPU mode",
    "cpu": "no GPU (tests, emergencies): very slow",
}
#: Deadline Cloud GPU selections and their memory per GPU (GiB as AWS lists it).
DEADLINE_GPUS = (("t4", 16), ("a10g", 24), ("l4", 24), ("l40s", 48), ("rtx-pro-server-6000", 96))
#: Selections below compute capability 8.0 (T4: 7.5): no bf16 arithmetic and no flash attention,
#: so the engine refuses them (SDPA's math path would need 11-23 GiB of attention scores).
NO_BF16_GPUS = ("t4",)
DEFAULT_MODE = "gpu"


@dataclass(frozen=True)
class Requirement:
    """A task's GPU needs: how many GPUs (0: none) and the memory of each in MiB."""

    engine: str
    mode: str
    frames: int
    gpus: int
    gpu_mib: int


def requirement(engine: str, mode: str, frames: int) -> Requirement:
    """The GPU requirement of one Infer task. The preview engine and ``cpu`` need no GPU."""
    if mode not in VOID_GPU_GIB:
        raise ValueError(f"unknown memory mode {mode!r}; choose one of {', '.join(MODES)}")
    if engine == "preview" or mode == "cpu":
        return Requirement(engine, mode, frames, 0, 0)
    return Requirement(engine, mode, frames, 1, void_gpu_mib(mode, frames))


def fitting_gpus(mib: int) -> list[str]:
    """Deadline Cloud GPU selections whose memory holds ``mib`` (with 5% left to the driver)
    and that compute in bf16 (compute capability 8.0 or newer)."""
    return [
        name for name, gib in DEADLINE_GPUS if mib <= gib * 1024 * 0.95 and name not in NO_BF16_GPUS
    ]


def estimate_rows(frames: int) -> list[tuple[str, int, str, str]]:
    """(mode, GPU MiB, smallest fitting Deadline GPUs, note) for every mode."""
    rows = []
    for mode in MODES:
        mib = void_gpu_mib(mode, frames)
        fits = "none needed" if mib == 0 else (", ".join(fitting_gpus(mib)) or "none listed")
        rows.append((mode, mib, fits, MODE_NOTES[mode]))
    return rows


def estimate_table(frames: int, chosen: str | None = None) -> str:
    """The memory estimate per mode as plain text lines, the chosen mode marked with ``*``."""
    lines = [f"GPU memory per memory mode (VOID, windows of {frames} frames at 384x672):"]
    for mode, mib, fits, note in estimate_rows(frames):
        mark = "*" if mode == chosen else " "
        lines.append(
            f" {mark} {mode:<12} {mib:>6} MiB ({mib / 1024:4.1f} GiB)  fits: {fits}; {note}"
        )
    return "\n".join(lines)
