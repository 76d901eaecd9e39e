"""The small interface every engine implements.

An engine sees only windows that the core has already cut out of the shot: cropped to the region
of interest, converted to the model's display-referred encoding, resized to the working size and
padded to a valid frame count. It returns frames of the same shape. Everything around that
(windows, paste-back, colour, EXR writing, job state) belongs to the server and the core, so an
engine is easy to swap and to test.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: progress(step, total, message): called from the worker thread, must be cheap.
Progress = Callable[[int, int, str], None]
#: should_cancel(): polled between steps; when it answers True the engine raises ``Cancelled``.
ShouldCancel = Callable[[], bool]


@dataclass
class WindowInput:
    """One window, ready for a model.

    frames: float32 (F, H, W, 3), display-referred sRGB in [0, 1]; F is a valid length (8j + 5),
        H and W multiples of 16 (384 x 672 by default).
    quadmask: uint8 (F, H, W), values in {0, 63, 127, 255}.
    prompt: the scene after the removal.
    seed: fixes every random draw of the window.
    params: per-job overrides (passes, steps, guidance, ...), see ``JobSpec.engine_params()``.
    pass1: float32 (F, H, W, 3) in [0, 1], a saved Pass 1 result when only Pass 2 is asked for.
    """

    frames: np.ndarray
    quadmask: np.ndarray
    prompt: str = ""
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    pass1: np.ndarray | None = None

    def check(self) -> None:
        """Raise ValueError when shapes or dtypes break the contract above."""
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.float32:
            raise ValueError(f"frames must be float32 (F, H, W, 3), got {f.dtype} {f.shape}")
        if self.quadmask.shape != f.shape[:3] or self.quadmask.dtype != np.uint8:
            raise ValueError(
                f"quadmask must be uint8 {f.shape[:3]}, got {self.quadmask.dtype} "
                f"{self.quadmask.shape}"
            )
        if self.pass1 is not None and self.pass1.shape != f.shape:
            raise ValueError(
                f"pass1 must have the shape of frames {f.shape}, got {self.pass1.shape}"
            )


@dataclass
class WindowOutput:
    """frames: float32 (F, H, W, 3) in [0, 1]. pass1: the Pass 1 result when two passes ran.
    notes: plain sentences for the user (what the engine could not do), said once per job."""

    frames: np.ndarray
    pass1: np.ndarray | None = None
    notes: tuple[str, ...] = ()


class Engine(ABC):
    """A model kept resident between jobs."""

    name: str = "engine"

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """Plain values for ``server info``: device, memory, weights found, what is loaded."""

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights once; later jobs reuse them. Engines without weights do nothing."""

    def unload(self) -> None:  # noqa: B027 - optional hook
        """Free memory (GPU first)."""

    @abstractmethod
    def run(
        self, window: WindowInput, progress: Progress, should_cancel: ShouldCancel
    ) -> WindowOutput:
        """Clean one window. Raise ``void_vfx.errors.Cancelled`` when should_cancel() is True."""
