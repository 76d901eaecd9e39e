"""The VOID Remove node's quadmask view: one Nuke Expression from the same thresholds and values
as :func:`void_vfx.render.quadmask.build_quadmask`, so what the artist sees is what the server
builds. Standard library only (Nuke's Python has no numpy).

Inside the node a Copy puts the affected matte's alpha into the object matte's green, then an
Expression writes the quadmask (0, 63, 127, 255 as fractions of 255) into rgba:

- primary only -> 0, primary and affected -> 63, affected only -> 127, neither -> 255;
- a matte pixel counts when it is above its threshold (NaN compares false, so counts as 0);
- the object's soft edge (``mask.soft_edge``): an Expression puts the solid primary (above its
  threshold) into blue, a Dilate node (Nuke's Erode (fast): the maximum over a square of
  ``size`` pixels each way, as the core's ``dilate``) grows it, and a primary pixel above
  :data:`~void_vfx.model_facts.SOFT_EDGE_FLOOR` inside the grown blue counts as the object;
- on the first frame of the range affected becomes keep (``mask.clear_first_frame``).
"""

from __future__ import annotations

from void_vfx.job.spec import MaskSettings
from void_vfx.model_facts import (
    QUAD_AFFECTED,
    QUAD_KEEP,
    QUAD_OVERLAP,
    QUAD_REMOVE,
    SOFT_EDGE_FLOOR,
)

#: The channel of the object matte the view reads (Roto writes its shape into alpha).
PRIMARY_CHANNEL = "rgba.alpha"
#: Where the Copy node puts the affected matte's alpha for the Expression to read.
AFFECTED_CHANNEL = "rgba.green"
#: Where the solid primary goes to be grown by the soft edge's Dilate node.
SOLID_CHANNEL = "rgba.blue"

_DEFAULTS = MaskSettings()
#: The soft edge the node's jobs get (the spec's default; the node has no knob for it).
SOFT_EDGE_PX = _DEFAULTS.soft_edge


def _fraction(value: int) -> str:
    """A quadmask value as Nuke sees it in a float image (63 -> 0.247058823529...)."""
    return repr(value / 255.0)


def solid_expressions(primary_threshold: float = _DEFAULTS.primary_threshold) -> list[str]:
    """expr0..3 of the Expression before the Dilate: rgba kept, the solid primary in blue
    (each channel given, so nothing rests on what an empty expression does)."""
    return ["r", "g", f"a > {float(primary_threshold)!r} ? 1 : 0", "a"]


def quadmask_expression(
    primary_threshold: float = _DEFAULTS.primary_threshold,
    affected_threshold: float = _DEFAULTS.affected_threshold,
    has_affected: bool = True,
    clear_first_frame: int | None = None,
    soft_edge_px: int = 0,
) -> str:
    """The Expression for the quadmask view.

    ``primary`` is read from ``a``, the affected matte from ``g``, the grown solid primary from
    ``b`` when ``soft_edge_px`` (the soft edge's Dilate node is in front); ``clear_first_frame``
    is the first frame of the range when affected pixels of that frame are to be kept (the
    core's ``clear_first_frame``), else None.
    """
    p = f"a > {float(primary_threshold)!r}"
    if soft_edge_px and primary_threshold > SOFT_EDGE_FLOOR:
        p = f"({p} || (a > {SOFT_EDGE_FLOOR!r} && b > 0.5))"
    remove, overlap = _fraction(QUAD_REMOVE), _fraction(QUAD_OVERLAP)
    affected, keep = _fraction(QUAD_AFFECTED), _fraction(QUAD_KEEP)
    if not has_affected:
        return f"{p} ? {remove} : {keep}"
    a = f"g > {float(affected_threshold)!r}"
    a_alone = a  # overlap stays overlap on the first frame: only affected-alone is cleared
    if clear_first_frame is not None:
        a_alone = f"({a} && frame != {int(clear_first_frame)})"
    return f"{p} ? ({a} ? {overlap} : {remove}) : ({a_alone} ? {affected} : {keep})"
