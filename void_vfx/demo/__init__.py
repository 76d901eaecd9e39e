"""``void-vfx demo``: a generated shot with a known clean plate, removed end to end, with a
contact sheet and a review movie to judge it."""
