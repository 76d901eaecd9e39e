"""EXR scanline files at the level of their compressed chunks: re-encode some rows, copy the rest.

A single-part scanline EXR is a header, a table of chunk offsets, and chunks of a fixed number
of rows (1 for none/rle/zips, 16 for zip/pxr24, 32 for piz/b44/b44a/dwaa/htj2k32, 256 for
dwab/htj2k256), each compressed on its own and tagged with its first row. A frame in which a
removal changed some rows can therefore be written as the plate's own chunk bytes with only the
chunks over the changed rows encoded anew: every other pixel keeps the plate's bits, even under a
lossy codec, and the codec runs over a fraction of the frame. The layout is OpenEXR's "File
Layout" document (openexr.com/en/latest/OpenEXRFileLayout.html).

Only what this needs is read: tiled, deep and multi-part files are not handled here (callers
encode those whole).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from void_vfx.errors import ImageIOError

MAGIC = b"\x76\x2f\x31\x01"
_TILED, _LONG_NAMES, _NON_IMAGE, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
#: Compression names by their value in the header, and the rows of one chunk for each.
CODECS = (
    "none",
    "rle",
    "zips",
    "zip",
    "piz",
    "pxr24",
    "b44",
    "b44a",
    "dwaa",
    "dwab",
    "htj2k256",
    "htj2k32",
)
ROWS_PER_CHUNK = (1, 1, 1, 16, 32, 16, 32, 32, 32, 256, 256, 32)
_INCREASING_Y = 0
_MAX_HEADER = 16 * 1024 * 1024  # far above any real header; a bound for damaged files


@dataclass(frozen=True)
class Channel:
    name: str
    pixel_type: int  # 0 uint, 1 half, 2 float
    x_sampling: int
    y_sampling: int


@dataclass(frozen=True)
class ScanlineFile:
    """One single-part scanline EXR held in memory, with what splicing needs from its header."""

    path: str
    data: bytes
    header_end: int  # where the chunk offset table starts
    attributes: dict[str, tuple[str, int, int]]  # name -> (type, value offset, value size)
    data_window: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax (inclusive, as stored)
    display_window: tuple[int, int, int, int]
    compression: int
    line_order: int
    channels: tuple[Channel, ...]
    offsets: tuple[int, ...]

    @property
    def codec(self) -> str:
        return CODECS[self.compression]

    @property
    def rows_per_chunk(self) -> int:
        return ROWS_PER_CHUNK[self.compression]

    @property
    def height(self) -> int:
        return self.data_window[3] - self.data_window[1] + 1

    def chunk(self, i: int) -> memoryview:
        """Chunk ``i`` as stored (its row and size fields included), checked against the table."""
        start = self.offsets[i]
        if start + 8 > len(self.data):
            raise _damaged(self.path, f"chunk {i} starts past the end of the file")
        y, size = struct.unpack_from("<ii", self.data, start)
        if y != self.data_window[1] + i * self.rows_per_chunk or size < 0:
            raise _damaged(self.path, f"chunk {i} is tagged row {y} with {size} bytes")
        if start + 8 + size > len(self.data):
            raise _damaged(self.path, f"chunk {i} runs past the end of the file")
        return memoryview(self.data)[start : start + 8 + size]

    def chunk_rows(self, y0: int, y1: int) -> tuple[int, int]:
        """Rows ``y0:y1`` (counted from the data window's top) widened to whole chunks."""
        n = self.rows_per_chunk
        return (y0 // n) * n, min(self.height, -(-y1 // n) * n)


def _damaged(path: str, why: str) -> ImageIOError:
    return ImageIOError(f"{path}: {why}; the file is truncated or damaged: re-render or re-copy it")


def _cstring(data: bytes, pos: int, limit: int, path: str) -> tuple[str, int]:
    end = data.find(b"\0", pos, pos + limit + 1)
    if end < 0:
        raise _damaged(path, "a header name is unterminated")
    return data[pos:end].decode("latin-1"), end + 1


def _channels(value: bytes, path: str) -> tuple[Channel, ...]:
    out, pos = [], 0
    while pos < len(value) and value[pos] != 0:
        name, pos = _cstring(value, pos, 255, path)
        if pos + 16 > len(value):
            raise _damaged(path, "the channel list is cut short")
        ptype, _linear, xs, ys = struct.unpack_from("<iB3xii", value, pos)
        out.append(Channel(name, ptype, xs, ys))
        pos += 16
    return tuple(out)


def read_scanline_file(path: str) -> ScanlineFile | None:
    """The file at ``path`` parsed down to its chunk table, or None when it is not a
    single-part scanline EXR with a known compression and increasing line order (tiled, deep,
    multi-part and other files are left to a whole-frame encode). A damaged header or chunk
    table raises :class:`ImageIOError` naming the file."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8 or head[:4] != MAGIC:
            return None
        flags = struct.unpack_from("<i", head, 4)[0]
        if flags & (_TILED | _NON_IMAGE | _MULTIPART):
            return None
        data = head + fh.read()  # the file is copied from, so it is read once, whole
    limit = 255 if flags & _LONG_NAMES else 31
    attrs: dict[str, tuple[str, int, int]] = {}
    pos = 8
    while True:
        if pos >= min(len(data), _MAX_HEADER):
            raise _damaged(path, "the header has no end")
        if data[pos] == 0:
            pos += 1
            break
        name, pos = _cstring(data, pos, limit, path)
        kind, pos = _cstring(data, pos, limit, path)
        if pos + 4 > len(data):
            raise _damaged(path, f"attribute {name} is cut short")
        size = struct.unpack_from("<i", data, pos)[0]
        pos += 4
        if size < 0 or pos + size > len(data):
            raise _damaged(path, f"attribute {name} runs past the end of the file")
        attrs[name] = (kind, pos, size)
        pos += size

    def value(name: str, kind: str, size: int) -> bytes:
        if name not in attrs or attrs[name][0] != kind or attrs[name][2] != size:
            raise _damaged(path, f"the header lacks a valid {name}")
        _, at, n = attrs[name]
        return data[at : at + n]

    compression = value("compression", "compression", 1)[0]
    line_order = value("lineOrder", "lineOrder", 1)[0]
    if compression >= len(CODECS) or line_order != _INCREASING_Y:
        return None
    dw = struct.unpack("<4i", value("dataWindow", "box2i", 16))
    disp = struct.unpack("<4i", value("displayWindow", "box2i", 16))
    if "channels" not in attrs or attrs["channels"][0] != "chlist":
        raise _damaged(path, "the header lacks a channel list")
    _, at, n = attrs["channels"]
    channels = _channels(data[at : at + n], path)
    height = dw[3] - dw[1] + 1
    if height <= 0 or dw[2] < dw[0]:
        raise _damaged(path, f"the data window {dw} is empty")
    count = -(-height // ROWS_PER_CHUNK[compression])
    if pos + 8 * count > len(data):
        raise _damaged(path, "the chunk table runs past the end of the file")
    offsets = struct.unpack_from(f"<{count}Q", data, pos)
    first = pos + 8 * count
    if any(o < first or o >= len(data) for o in offsets):
        raise _damaged(path, "the chunk table points outside the file (an unfinished write?)")
    return ScanlineFile(
        path, data, pos, attrs, dw, disp, compression, line_order, channels, offsets
    )


def splice(plate: ScanlineFile, band: ScanlineFile, target: str) -> str:
    """Write ``target``: ``band``'s header over ``plate``'s data window, ``band``'s chunks over
    the rows it covers and ``plate``'s chunk bytes everywhere else.

    ``band`` is a file encoded by the caller over whole chunks of the plate (its data window
    the plate's columns and a run of its chunk rows) with the plate's compression, channels and
    display window; anything else is refused. Written under a temporary name and renamed into
    place; the plate itself is never the target.
    """
    from void_vfx.atomic import atomic_target

    if os.path.realpath(target) == os.path.realpath(plate.path):
        raise ImageIOError(
            f"{target}: refusing to write over a source image; choose another output"
        )
    n = plate.rows_per_chunk
    first = (band.data_window[1] - plate.data_window[1]) // n
    fits = (
        band.compression == plate.compression
        and band.channels == plate.channels
        and band.display_window == plate.display_window
        and band.data_window[0] == plate.data_window[0]
        and band.data_window[2] == plate.data_window[2]
        and (band.data_window[1] - plate.data_window[1]) % n == 0
        and band.data_window[1] >= plate.data_window[1]
        and band.data_window[3] <= plate.data_window[3]
        and (band.data_window[3] == plate.data_window[3] or band.height % n == 0)
    )
    if not fits:
        raise ImageIOError(
            f"{band.path}: its rows {band.data_window} do not line up with the chunks of "
            f"{plate.path} {plate.data_window}, {plate.codec}; this is a bug in void-vfx: report it"
        )
    header = bytearray(band.data[: band.header_end])
    _, at, _ = band.attributes["dataWindow"]
    header[at : at + 16] = struct.pack("<4i", *plate.data_window)
    if "chunkCount" in band.attributes:  # only multi-part and deep files carry it; kept right
        _, at, _ = band.attributes["chunkCount"]
        header[at : at + 4] = struct.pack("<i", len(plate.offsets))
    last = first + len(band.offsets)
    chunks = [
        band.chunk(i - first) if first <= i < last else plate.chunk(i)
        for i in range(len(plate.offsets))
    ]
    offsets, pos = [], len(header) + 8 * len(chunks)
    for c in chunks:
        offsets.append(pos)
        pos += len(c)
    with atomic_target(target, ".tmp.exr") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(struct.pack(f"<{len(offsets)}Q", *offsets))
            fh.writelines(chunks)
    return target
