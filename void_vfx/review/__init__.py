"""Something to look at after every job: a contact sheet and a labelled before/after movie.

Written beside the version folder (``<stem>_review/``), never among the plates or inside the
version folder (that holds the frames alone). Pictures are shown the way the model saw them:
the plate's colour space converted to display sRGB (:class:`void_vfx.media.colour.ColourTransform`).
"""

from __future__ import annotations

from void_vfx.review.job import review_folder, review_job

__all__ = ["review_folder", "review_job"]
