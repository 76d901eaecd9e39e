"""The VOID Remove node's quadmask view: one Nuke Expression from the same thresholds and values
as :func:`void_vfx.render.quadmask.build_quadmask`, so what the artist sees is what the server
builds. Standard library only (Nuke's Python has no numpy).

Inside the node a Copy puts the affected matte's alpha into the object matte's green, then an
Expression writes the quadmask (0, 63, 127, 255 as fractions of 255) into rgba:

- primary only -> 0, primary and affected -> 63, affected only -> 127, neither -> 255;
- a matte pixel counts when it is above its threshold (NaN compares false, so counts as 0);
- on the first frame of the range affected becomes keep (``mask.clear_first_frame``).
"""

from __future__ import annotations

from void_vfx.job.spec import MaskSettings
from void_vfx.model_facts import QUAD_AFFECTED, QUAD_KEEP, QUAD_OVERLAP, QUAD_REMOVE

#: The channel of the object matte the view reads (Roto writes its shape into alpha).
PRIMARY_CHANNEL = "rgba.alpha"
#: Where the Copy node puts the affected matte's alpha for the Expression to read.
AFFECTED_CHANNEL = "rgba.green"

_DEFAULTS = MaskSettings()


def _fraction(value: int) -> str:
    """A quadmask value as Nuke sees it in a float image (63 -> 0.247058823529...)."""
    return repr(value / 255.0)


def quadmask_expression(
    primary_threshold: float = _DEFAULTS.primary_threshold,
    affected_threshold: float = _DEFAULTS.affected_threshold,
    has_affected: bool = True,
    clear_first_frame: int | None = None,
) -> str:
    """The Expression for the quadmask view.

    ``primary`` is read from ``a``, the affected matte from ``g``; ``clear_first_frame`` is the
    first frame of the range when affected pixels of that frame are to be kept (the core's
    ``clear_first_frame``), else None.
    """
    p = f"a > {float(primary_threshold)!r}"
    remove, overlap = _fraction(QUAD_REMOVE), _fraction(QUAD_OVERLAP)
    affected, keep = _fraction(QUAD_AFFECTED), _fraction(QUAD_KEEP)
    if not has_affected:
        return f"{p} ? {remove} : {keep}"
    a = f"g > {float(affected_threshold)!r}"
    a_alone = a  # overlap stays overlap on the first frame: only affected-alone is cleared
    if clear_first_frame is not None:
        a_alone = f"({a} && frame != {int(clear_first_frame)})"
    return f"{p} ? ({a} ? {overlap} : {remove}) : ({a_alone} ? {affected} : {keep})"
