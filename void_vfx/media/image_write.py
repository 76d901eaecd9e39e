"""Writing EXRs through OpenImageIO: chosen compression and pixel type, the source's header
carried onto the output, and atomic replacement.

Writing goes to a hidden temporary file in the target folder that is renamed into place, so a
reader never sees half a frame and a crash never leaves a broken output behind. A path that is
one of the job's sources is refused, so a source is never opened for writing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from void_vfx.atomic import atomic_target
from void_vfx.errors import ImageIOError
from void_vfx.media.exr_codecs import COMPRESSIONS  # one list: a spec that validates always writes

if TYPE_CHECKING:
    from void_vfx.media.image_io import ImageHeader

log = logging.getLogger(__name__)

# Attributes that describe how a file was stored, not what it shows: never carried to an output.
_STORAGE_ATTRIBUTES = {"compression", "DateTime", "planarconfig", "ICCProfile", "Orientation"}
_STORAGE_PREFIXES = ("oiio:", "openexr:", "tiff:", "png:", "jpeg:", "dpx:", "exr:")


def _default_names(count: int) -> tuple[str, ...]:
    return {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}.get(
        count, tuple(f"channel{i}" for i in range(count))
    )


def write_exr(
    path: str,
    pixels: np.ndarray,
    *,
    header: ImageHeader | None = None,
    compression: str = "zip",
    pixel_type: str = "half",
    channel_names: Iterable[str] | None = None,
    origin: tuple[int, int] | None = None,
    sources: Iterable[str] = (),
    overwrite: bool = True,
) -> str:
    """Write an EXR atomically, carrying ``header``'s display window and metadata.

    ``pixels`` (H, W[, C]) covers the display window unless ``origin`` says where its top-left
    pixel sits (then it is the data window). ``sources`` are the inputs of the job: writing onto
    one of them is refused.
    """
    import OpenImageIO as oiio

    path = os.fspath(path)
    target = os.path.realpath(path)
    for src in sources:
        if os.path.realpath(os.fspath(src)) == target:
            raise ImageIOError(
                f"{path}: refusing to write over a source image; choose another output"
            )
    if not overwrite and os.path.exists(path):
        raise ImageIOError(f"{path}: exists already; pick a new version instead of overwriting")
    if compression.split(":")[0].lower() not in COMPRESSIONS:
        raise ImageIOError(
            f"{path}: unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}"
        )
    formats = {"half": oiio.HALF, "float": oiio.FLOAT}
    if pixel_type not in formats:
        raise ImageIOError(f"{path}: pixel_type must be 'half' or 'float', not {pixel_type!r}")
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ImageIOError(f"{path}: pixels must be (H, W) or (H, W, C), got shape {arr.shape}")
    # Half pixels going to a half file pass through untouched (no float round trip, same bits).
    keep = arr.dtype == np.float16 and pixel_type == "half"
    arr = np.ascontiguousarray(arr, dtype=np.float16 if keep else np.float32)
    h, w, c = arr.shape
    names = tuple(channel_names) if channel_names is not None else None
    if names is None:
        names = (
            header.channel_names if header and len(header.channel_names) == c else _default_names(c)
        )
    if len(names) != c:
        raise ImageIOError(f"{path}: {len(names)} channel names for {c} channels")

    spec = oiio.ImageSpec(w, h, c, formats[pixel_type])
    spec.channelnames = names
    if "A" in names:
        spec.alpha_channel = names.index("A")
    if header is not None:
        fx, fy, fw, fh = header.display_window
        if origin is None and (w, h) != (fw, fh):
            raise ImageIOError(
                f"{path}: pixels are {w}x{h} but the display window is {fw}x{fh}; resize them or "
                "pass origin= to write them as a data window"
            )
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = fx, fy, fw, fh
        spec.x, spec.y = origin if origin is not None else (fx, fy)
        for name, value in header.attributes.items():
            if name in _STORAGE_ATTRIBUTES or name.startswith(_STORAGE_PREFIXES):
                continue
            try:
                spec.attribute(
                    name, oiio.TypeDesc(header.attribute_types.get(name, "string")), value
                )
            except (TypeError, ValueError, RuntimeError) as exc:  # a value OIIO cannot store
                log.warning("%s: attribute %s not carried over: %s", path, name, exc)
    elif origin is not None:
        spec.x, spec.y = origin
        spec.full_x, spec.full_y = origin
    spec.attribute("compression", compression)

    with atomic_target(path, ".tmp.exr") as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec):
            raise ImageIOError(f"{path}: cannot open for writing: {oiio.geterror()}")
        ok = out.write_image(arr)
        err = out.geterror()
        closed = out.close()
        if not ok or not closed:
            raise ImageIOError(f"{path}: write failed: {err or out.geterror()}; check disk space")
    return path
