"""A spec's mask sources against its plate, from the first frame's headers only.

A channel that is not there or a matte of another size is named before a job is sent (by
``void-vfx remove`` and by the conform for each shot); the server checks again when it reads.
"""

from __future__ import annotations

from collections.abc import Callable

from void_vfx.errors import MaskError
from void_vfx.media.image_io import check_channel, read_header
from void_vfx.media.sequences import find_sequence

#: The spec's mask sources, in the order they are checked.
MASK_ROLES = ("primary", "affected", "quadmask")


def check_masks(spec, *, channel_hint: Callable[[str], str], resize_hint: str) -> None:
    """Every mask source's first plate frame has the channel the spec asks for, and the plate's
    size unless ``mask.resize``; ImageIOError or MaskError naming the file, the frame, what it
    has and (``channel_hint(role)``, ``resize_hint``) what to type otherwise."""
    first = size = None
    for role in MASK_ROLES:
        src = getattr(spec, role)
        if src is None:
            continue
        if first is None:
            plate = find_sequence(spec.plate)
            first = plate.frames(tuple(spec.frame_range) if spec.frame_range else None)[0]
            plate_header = read_header(plate.path(first), frame=first)
            size = (plate_header.width, plate_header.height)
        seq = find_sequence(src.path)
        frame = None if seq.is_still else first
        header = read_header(seq.path(first) if frame is not None else seq.path(), frame=frame)
        check_channel(header, src.channel, hint=channel_hint(role), frame=frame)
        if (header.width, header.height) != size and not spec.mask.resize:
            at = f" (frame {frame})" if frame is not None else ""
            raise MaskError(
                f"{header.path}{at}: the {role} mask is {header.width}x{header.height} but the "
                f"plate is {size[0]}x{size[1]}; render it at the plate's size or {resize_hint}"
            )
