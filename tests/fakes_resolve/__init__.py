"""A small fake of DaVinci Resolve's scripting object model, for exactly the calls void-vfx uses.

It follows Blackmagic's scripting READMEs (19.0 beta, 20.3.2, 21.x) and their return conventions:
failures answer ``False``, ``None`` or an empty list, record ends are exclusive, track and take
indices are 1-based, ``AppendToTimeline`` on an occupied spot returns an item whose getters answer
``None``. It plays one version at a time (``versions.py``; ``make_resolve(version=...)``): a call
that version lacks, or any unknown call, answers ``None`` as Resolve does (calling it raises
TypeError), and is recorded in ``base.ASKED_ABSENT``; where sources disagree (``endFrame``, the
source end) each reading can be played. Wrongly typed arguments and unknown settings keys raise.
The render queue writes real EXRs through OpenImageIO.
"""

from fakes_resolve.model import (  # noqa: F401
    FakeMediaPoolItem,
    FakeProject,
    FakeResolve,
    FakeTimeline,
    FakeTimelineItem,
    make_resolve,
)
