"""Reading and writing plates, mattes and outputs through OpenImageIO.

Pixels come back as float32 (H, W, C) covering the display window: the data window is placed
inside it and everything outside the data window is 0. NaN and Inf are counted per frame, logged,
and replaced in ``Image.pixels`` (NaN -> 0, +Inf -> 65504, the largest half, -Inf -> 0) so that
colour and model code never sees them; ``Image.raw`` keeps the file's values for bit-identical
paste-back. Writing (:func:`void_vfx.media.image_write.write_exr`) goes to a
hidden temporary file in the target folder that is renamed into place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from void_vfx.errors import ImageIOError
from void_vfx.media.sequences import Sequence
from void_vfx.media.source_files import fd_name, open_fd, read_check_installed

log = logging.getLogger(__name__)

HALF_MAX = 65504.0

NonfiniteCallback = Callable[[str, "int | None", int], None]


@dataclass
class ImageHeader:
    """What a file says about itself, as plain values.

    Windows are (x, y, width, height) in pixel coordinates; ``width``/``height`` are the display
    window's. ``attributes`` holds every metadata attribute (tuples for arrays) and
    ``attribute_types`` their OIIO type names so that they can be written back unchanged.
    """

    path: str
    file_format: str
    width: int
    height: int
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    channel_names: tuple[str, ...]
    pixel_type: str
    channel_types: tuple[str, ...]
    compression: str
    tiled: bool
    attributes: dict[str, object] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)

    @property
    def pixel_aspect(self) -> float:
        return float(self.attributes.get("PixelAspectRatio", 1.0))


@dataclass
class Image:
    """Pixels of one frame plus where they came from.

    ``pixels`` is float32 (H, W, C) with NaN/Inf replaced; ``raw`` is the same array when the file
    had none, else the untouched values. ``origin`` is the image coordinate of ``pixels[0, 0]``.
    """

    pixels: np.ndarray
    header: ImageHeader
    channel_names: tuple[str, ...]
    nonfinite: int = 0
    raw: np.ndarray | None = None
    frame: int | None = None
    origin: tuple[int, int] = (0, 0)

    @property
    def path(self) -> str:
        return self.header.path


def _where(path: str, frame: int | None) -> str:
    return f"{path} (frame {frame})" if frame is not None else path


def _utf8(text: str) -> str:
    """``text`` if it is valid UTF-8 text (no lone surrogates standing for raw bytes)."""
    text.encode("utf-8")
    return text


def _header_from_spec(path: str, file_format: str, spec) -> ImageHeader:
    attrs: dict[str, object] = {}
    types: dict[str, str] = {}
    for a in spec.extra_attribs:
        try:
            name, value = a.name, a.value
            _utf8(name)
            if isinstance(value, str):
                _utf8(value)
        except UnicodeError:  # a header string that is not UTF-8: skipped, not fatal
            log.warning("%s: a header attribute is not UTF-8 text; it is not kept", path)
            continue
        attrs[name] = tuple(value) if isinstance(value, list) else value
        types[name] = str(a.type)
    try:
        channel_names = tuple(_utf8(n) for n in spec.channelnames)
    except UnicodeError:
        raise ImageIOError(
            f"{path}: its channel names are not UTF-8 text; re-save the file from your "
            "compositing application"
        ) from None
    return ImageHeader(
        path=path,
        file_format=file_format,
        width=spec.full_width,
        height=spec.full_height,
        data_window=(spec.x, spec.y, spec.width, spec.height),
        display_window=(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
        channel_names=channel_names,
        pixel_type=str(spec.format),
        channel_types=tuple(str(t) for t in spec.channelformats)
        or (str(spec.format),) * spec.nchannels,
        compression=str(attrs.get("compression", "")),
        tiled=spec.tile_width > 0,
        attributes=attrs,
        attribute_types=types,
    )


#: The most pixels a frame may declare (data or display window) before anything is allocated:
#: 8192 x 4320, an 8K DCI full frame. A few KB of header can declare 12000 x 12000 (over 1.5 GB
#: as float RGB); raise it with $VOID_VFX_MAX_IMAGE_PIXELS or ``serve --max-image-pixels``.
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 4320
#: The most channels one read may return (a multi-layer EXR may hold more; it is read in part).
MAX_READ_CHANNELS = 64


def max_image_pixels() -> int:
    """The pixel bound in force: $VOID_VFX_MAX_IMAGE_PIXELS, else the default."""
    raw = os.environ.get("VOID_VFX_MAX_IMAGE_PIXELS", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_MAX_IMAGE_PIXELS
    except ValueError:
        return DEFAULT_MAX_IMAGE_PIXELS


def set_max_image_pixels(pixels: int) -> None:
    """Raise or lower the bound for this process (a server's ``--max-image-pixels``)."""
    os.environ["VOID_VFX_MAX_IMAGE_PIXELS"] = str(int(pixels))


def check_size(spec, where: str) -> None:
    """Refuse a header whose windows would need more than the pixel bound, before allocating."""
    limit = max_image_pixels()
    for w, h, what in (
        (spec.width, spec.height, "data window"),
        (spec.full_width, spec.full_height, "display window"),
    ):
        if w < 0 or h < 0 or w * h > limit:
            raise ImageIOError(
                f"{where}: its {what} is {w} x {h} pixels, over the limit of {limit} "
                f"(8192 x 4320 by default); if the plate really is that large, set "
                f"VOID_VFX_MAX_IMAGE_PIXELS={max(w * h, 1)} (or start the server with "
                f"--max-image-pixels {max(w * h, 1)})"
            )


class _CheckedInput:
    """An OpenImageIO input and the checked descriptor it reads through; ``close()`` (or the
    ``with`` block) closes both. Anything else is the input's own."""

    def __init__(self, inp, fd: int) -> None:
        self._inp, self._fd = inp, fd

    def __getattr__(self, name: str):
        return getattr(self._inp, name)

    def close(self) -> None:
        try:
            self._inp.close()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open(path: str, frame: int | None) -> _CheckedInput:
    """An OpenImageIO input for ``path``, opened through a checked descriptor (see
    :mod:`void_vfx.media.source_files`: under a server no link is followed and the real path is
    checked against its roots); the header's size is bounded before any pixel is read."""
    import OpenImageIO as oiio

    where = _where(path, frame)
    fd = open_fd(path, where)
    try:
        name = (fd_name(fd) if read_check_installed() else None) or path
        inp = oiio.ImageInput.open(name)
        if inp is None:
            raise ImageIOError(
                f"{where}: cannot open: {oiio.geterror()}; the file may be damaged "
                "or of a type OpenImageIO cannot read"
            )
    except BaseException:
        os.close(fd)
        raise
    checked = _CheckedInput(inp, fd)
    try:
        check_size(inp.spec(), where)
    except BaseException:
        checked.close()
        raise
    return checked


def _resolve_path(path: str, frame: int | None) -> str:
    """``path`` as a pattern for ``frame``; a concrete file is used as it is (its name may hold
    characters such as ``@`` or ``#`` that would read as a frame token)."""
    if frame is None or os.path.isfile(path):
        return str(path)

    return Sequence.parse(str(path)).path(frame)


def read_header(path: str, *, frame: int | None = None) -> ImageHeader:
    """Read only the header (cheap: no pixels are decoded)."""
    path = _resolve_path(path, frame)
    with _open(path, frame) as inp:
        return _header_from_spec(path, inp.format_name(), inp.spec())


def _find(names: list[str], wanted: str) -> int | None:
    if wanted in names:
        return names.index(wanted)
    lowered = [n.lower() for n in names]
    return lowered.index(wanted.lower()) if wanted.lower() in lowered else None


#: What a message about a missing channel tells the user to type, by who asked for it.
CHANNEL_HINT = (
    "pick one with --primary-channel, --affected-channel or --quadmask-channel (or the matte's "
    '"channel" in a --spec file)'
)


def _pick_channels(
    names: list[str], channels: str | list[str] | None, where: str, hint: str = CHANNEL_HINT
) -> tuple[list[int], tuple[str, ...]]:
    """Indices into the file's channels (-1 = fill with 1.0) and the names they come back as.

    A file with one channel (a grey PNG or TIFF, ``Y``) answers any single channel asked for:
    that channel is the mask, whatever it is called.
    """
    if channels is None:
        return list(range(len(names))), tuple(names)
    available = ", ".join(names)
    if isinstance(channels, str) and channels.lower() in ("rgb", "rgba"):
        idx = [_find(names, c) for c in "RGB"]
        if None in idx:
            grey = _find(names, "Y")
            if grey is None and len(names) in (1, 2):
                grey = 0  # a grey image (with or without alpha)
            if grey is None:
                raise ImageIOError(
                    f"{where}: no R, G, B channels (the file has {available}); give a colour "
                    "image (an RGB plate or Pass 1 result)"
                )
            idx = [grey] * 3
        out = ["R", "G", "B"]
        if channels.lower() == "rgba":
            a = _find(names, "A")
            if a is None and len(names) == 2:
                a = 1
            idx.append(-1 if a is None else a)
            out.append("A")
        return [int(i) for i in idx], tuple(out)
    wanted = [channels] if isinstance(channels, str) else list(channels)
    idx = []
    for w in wanted:
        i = _find(names, w)
        if i is None and len(names) == 1 and len(wanted) == 1:
            i = 0  # a single-channel image: its one channel is the mask
        if i is None:
            raise ImageIOError(
                f"{where}: no channel {w!r}; the file has {available}: {hint}, e.g. {names[0]!r}"
            )
        idx.append(i)
    return idx, tuple(names[i] for i in idx)


def check_channel(
    header: ImageHeader, channel: str, hint: str = CHANNEL_HINT, *, frame: int | None = None
) -> str:
    """The file's name of ``channel`` (what :func:`read_image` would read), from the header alone;
    ImageIOError saying which channels the file has and ``hint`` (what to type) when absent."""
    where = _where(header.path, frame)
    idx, names = _pick_channels(list(header.channel_names), channel, where, hint)
    return names[0] if names else channel


def count_nonfinite(pixels: np.ndarray) -> int:
    """Number of NaN/Inf values; a sum first, since a finite sum proves there are none."""
    if pixels.dtype.kind != "f":
        return 0  # integer pixels are always finite
    if pixels.dtype == np.float16 and pixels.flags.c_contiguous:
        # Half NaN/Inf have every exponent bit set: one AND and one max over the raw bits cost
        # a quarter of a float32 sum of the frame.
        bits = pixels.reshape(-1).view(np.uint16)
        if int(np.bitwise_and(bits, 0x7C00).max(initial=0)) != 0x7C00:
            return 0
        return int(pixels.size - np.count_nonzero(np.isfinite(pixels)))
    wide = np.float32 if pixels.dtype == np.float16 else None  # a half sum overflows at 65504
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(pixels, axis=None, dtype=wide)):
            return 0
    return int(pixels.size - np.count_nonzero(np.isfinite(pixels)))


def read_image(
    path: str,
    channels: str | list[str] | None = None,
    *,
    frame: int | None = None,
    raw: bool = False,
    window: str = "display",
    on_nonfinite: NonfiniteCallback | None = None,
    pixel_format: str = "float",
) -> Image:
    """Read one image as float32 (H, W, C).

    ``channels``: None (all), "rgb" (grey images replicated), "rgba" (alpha 1 when absent), a name
    ("a", "r", "mask.a") or a list of names. ``path`` may be a pattern when ``frame`` is given.
    ``window="display"`` returns the display window; ``"data"`` the data window as stored.
    ``raw=True`` skips the NaN/Inf replacement (they are still counted).
    ``pixel_format="native"`` keeps the file's own type where all channels share one of half,
    uint8 and uint16 (float16 / uint8 / uint16 arrays: exact, and half or a quarter the memory).
    """
    path = _resolve_path(path, frame)
    where = _where(path, frame)
    with _open(path, frame) as inp:
        spec = inp.spec()
        header = _header_from_spec(path, inp.format_name(), spec)
        idx, names = _pick_channels(list(header.channel_names), channels, where)
        real = [i for i in idx if i >= 0] or [0]
        chbegin, chend = min(real), max(real) + 1
        if chend - chbegin > MAX_READ_CHANNELS:
            raise ImageIOError(
                f"{where}: {chend - chbegin} channels to read at once, over {MAX_READ_CHANNELS}; "
                "name the channels wanted (e.g. --primary-channel A)"
            )
        fmt = "float"
        if pixel_format == "native" and len(set(header.channel_types)) == 1:
            fmt = {"half": "half", "uint8": "uint8", "uint16": "uint16"}.get(header.pixel_type, fmt)
        if (chbegin, chend) == (0, spec.nchannels):
            data = inp.read_image(format=fmt)  # the plain call: OIIO's fastest path
        else:
            data = inp.read_image(0, 0, chbegin, chend, fmt)
        if data is None or inp.has_error:
            raise ImageIOError(
                f"{where}: cannot read pixels: {inp.geterror() or 'no data'}; the file is "
                "truncated or damaged: re-render or re-copy it"
            )
    data = data.reshape(spec.height, spec.width, chend - chbegin)
    if idx != list(range(chbegin, chend)):
        ones = np.ones(data.shape[:2] + (1,), np.float32)
        data = np.concatenate([data, ones], axis=2) if -1 in idx else data
        data = data[..., [i - chbegin if i >= 0 else -1 for i in idx]]
    origin = (spec.x, spec.y)
    if window == "display":
        data = _place_in_display(data, header)
        origin = header.display_window[:2]
    elif window != "data":
        raise ImageIOError(f"{where}: window must be 'display' or 'data', not {window!r}")
    bad = count_nonfinite(data)
    pixels = data
    if bad:
        message = (
            f"{where}: {bad} NaN/Inf values; replaced for processing "
            f"(NaN->0, +Inf->{HALF_MAX:g}, -Inf->0)"
        )
        log.warning(message)
        if on_nonfinite is not None:
            on_nonfinite(path, frame, bad)
        if not raw:
            pixels = np.nan_to_num(data, nan=0.0, posinf=HALF_MAX, neginf=0.0)
    return Image(pixels, header, names, bad, data, frame, (int(origin[0]), int(origin[1])))


def _place_in_display(data: np.ndarray, header: ImageHeader) -> np.ndarray:
    dx, dy, dw, dh = header.data_window
    fx, fy, fw, fh = header.display_window
    if (dx, dy, dw, dh) == (fx, fy, fw, fh):
        return data
    out = np.zeros((fh, fw, data.shape[2]), data.dtype)
    x0, y0 = max(dx, fx), max(dy, fy)
    x1, y1 = min(dx + dw, fx + fw), min(dy + dh, fy + fh)
    if x1 > x0 and y1 > y0:
        out[y0 - fy : y1 - fy, x0 - fx : x1 - fx] = data[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
    return out


__all__ = [
    "HALF_MAX",
    "Image",
    "ImageHeader",
    "check_channel",
    "count_nonfinite",
    "read_header",
    "read_image",
]
