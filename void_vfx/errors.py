"""One exception hierarchy for void-vfx.

Every error a user can see derives from :class:`VoidVfxError`. Messages say what was wrong, with
which file or frame, and how to fix it, so that a host can show ``str(error)`` as it is.
"""

from __future__ import annotations


class VoidVfxError(Exception):
    """Base of every void-vfx error."""


class SequenceError(VoidVfxError):
    """A frame-sequence pattern is malformed, or frames are missing, duplicated or mismatched."""


class ImageIOError(VoidVfxError):
    """An image could not be read or written (unreadable, truncated, wrong channels, sizes)."""


class ColourError(VoidVfxError):
    """An OCIO config or colour space is unknown or unusable."""


class MaskError(VoidVfxError):
    """A matte or quadmask is unusable: wrong size, no object pixels, values that cannot be
    snapped."""


class SpecError(VoidVfxError):
    """A job spec is invalid. ``field`` names the field at fault (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class PlanError(VoidVfxError):
    """A temporal window or region-of-interest plan cannot be made."""


class ServerError(VoidVfxError):
    """The inference server refused a request or failed."""


class ConnectionLost(ServerError):
    """The connection to the server dropped mid-call; ``Client.reattach()`` reconnects."""


class AuthError(ServerError):
    """The token or certificate was missing or wrong."""


class TransferError(ServerError):
    """An upload or download failed its checks (offset, size, sha256, name, disk space)."""


class EngineError(VoidVfxError):
    """An engine failed to load or to run a window."""


class WeightsError(EngineError):
    """Model weights are missing or malformed; the message names the file."""


class Cancelled(VoidVfxError):
    """A job was cancelled by the user; raised inside the worker at the next safe point."""
