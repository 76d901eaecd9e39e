"""Flow completion: the flow inside a hole is the object's own motion, not the background's.

It is thrown away and rebuilt from the hole's border as a membrane (Laplace's equation), which is
exact on an affine flow: a pan, a zoom or a rotation continues through the hole unchanged, and
parallax seen at the border is blended smoothly across it.
"""

from __future__ import annotations

import numpy as np

from .membrane import membrane_fill
from .spatial import hole_box

#: Jacobi sweeps per pyramid level: flow is smooth, the coarse levels carry it.
FLOW_SWEEPS = 4
#: ... and on the finest level, where the push-pull already leaves a smooth flow smooth.
FINE_SWEEPS = 1


def complete_flow(flow: np.ndarray, hole: np.ndarray, fallback: tuple[float, float]) -> None:
    """Replace ``flow`` (h, w, 2) inside ``hole`` (h, w) in place from its border.

    Where the hole leaves under 5% of the frame, every pixel takes ``fallback`` (dx, dy), the
    global camera motion: there is no border worth extending.
    """
    if not hole.any():
        return
    if hole.mean() > 0.95:
        flow[...] = np.asarray(fallback, np.float32)
        return
    box = hole_box(hole, 8)
    flow[box] = membrane_fill(flow[box], hole[box], FLOW_SWEEPS, FINE_SWEEPS)
