"""The error of one shot: the run reports it for that clip and goes on with the others."""

from __future__ import annotations

from void_vfx.errors import VoidVfxError


class ShotError(VoidVfxError):
    """A clip that cannot be processed; the message names the clip, the file and the fix."""

    def __init__(self, clip: str, message: str) -> None:
        super().__init__(f"{clip}: {message}")
        self.clip = clip
        self.reason = message
