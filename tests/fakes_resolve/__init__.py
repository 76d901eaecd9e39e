"""A small fake of DaVinci Resolve's scripting object model, for exactly the calls void-vfx uses.

It follows Blackmagic's scripting README (20.x) and its return conventions: failures answer
``False``, ``None`` or an empty list, record ends are exclusive, track and take indices are
1-based, ``AppendToTimeline`` on an occupied spot returns an item whose getters answer ``None``.
Anything else (an unknown method, an unknown settings key, a bad colour name) raises, so that a
call Resolve lacks fails the test. The render queue writes real EXRs through OpenImageIO.
"""

from fakes_resolve.model import (  # noqa: F401
    FakeMediaPoolItem,
    FakeProject,
    FakeResolve,
    FakeTimeline,
    FakeTimelineItem,
    make_resolve,
)
