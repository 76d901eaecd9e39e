"""Preview engine: a quick CPU removal for slap comps, no weights (numpy and OpenCV).

Flow-guided propagation with a steady spatial fill; see :mod:`.engine`.
"""

from .engine import PreviewEngine
from .motion import estimate_motion
from .spatial import spatial_fill

__all__ = ["PreviewEngine", "estimate_motion", "spatial_fill"]
