"""EXR scanline files at the level of their compressed chunks: re-encode some rows, copy the rest.

A single-part scanline EXR is a header, a table of chunk offsets, and chunks of a fixed number
of rows (1 for none/rle/zips, 16 for zip/pxr24, 32 for piz/b44/b44a/dwaa/htj2k32, 256 for
dwab/htj2k256), each compressed on its own and tagged with its first row. A frame in which a
removal changed some rows can therefore be written as the plate's own chunk bytes with only the
chunks over the changed rows encoded anew: every other pixel keeps the plate's bits, even under a
lossy codec, and the codec runs over a fraction of the frame. The layout is OpenEXR's "File
Layout" document (openexr.com/en/latest/OpenEXRFileLayout.html).

Only what this needs is read (the header, the chunk table, each chunk's row and size); chunks
are copied file to file, in the kernel where it can. Tiled, deep and multi-part files are not
handled here (callers encode those whole).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from void_vfx.atomic import atomic_target
from void_vfx.errors import ImageIOError
from void_vfx.media.exr_codecs import COMPRESSIONS
from void_vfx.media.source_files import open_binary

MAGIC = b"\x76\x2f\x31\x01"
_TILED, _LONG_NAMES, _NON_IMAGE, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
#: Compression names by their value in the header (the spec's list is in that order), and the
#: rows of one chunk for each.
CODECS = COMPRESSIONS
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
    """One single-part scanline EXR: its header and chunk table in memory, and where each chunk
    lies in the file (checked against the table), so chunks can be copied without being read."""

    path: str
    head: bytes  # the header and the chunk offset table, as stored
    header_end: int  # where the chunk offset table starts
    attributes: dict[str, tuple[str, int, int]]  # name -> (type, value offset, value size)
    data_window: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax (inclusive, as stored)
    display_window: tuple[int, int, int, int]
    compression: int
    line_order: int
    channels: tuple[Channel, ...]
    spans: tuple[tuple[int, int], ...]  # per chunk: (file offset, bytes with its row and size)

    @property
    def codec(self) -> str:
        return CODECS[self.compression]

    @property
    def rows_per_chunk(self) -> int:
        return ROWS_PER_CHUNK[self.compression]

    @property
    def height(self) -> int:
        return self.data_window[3] - self.data_window[1] + 1

    def chunk_rows(self, y0: int, y1: int) -> tuple[int, int]:
        """Rows ``y0:y1`` (counted from the data window's top) widened to whole chunks."""
        n = self.rows_per_chunk
        return (y0 // n) * n, min(self.height, -(-y1 // n) * n)


def _damaged(path: str, why: str) -> ImageIOError:
    return ImageIOError(f"{path}: {why}; the file is truncated or damaged: re-render or re-copy it")


class _Prefix:
    """The start of a file, read as far as parsing needs (headers are small; files are not)."""

    def __init__(self, fh, path: str, size: int) -> None:
        self.fh, self.path, self.size = fh, path, size
        self.buf = fh.read(min(size, 64 * 1024))

    def need(self, end: int, what: str) -> None:
        if end > self.size:
            raise _damaged(self.path, f"{what} runs past the end of the file")
        if end > len(self.buf):
            self.buf += self.fh.read(max(end, 2 * len(self.buf)) - len(self.buf))

    def cstring(self, pos: int, limit: int) -> tuple[str, int]:
        while True:
            end = self.buf.find(b"\0", pos, pos + limit + 1)
            if end >= 0:
                return self.buf[pos:end].decode("latin-1"), end + 1
            if len(self.buf) >= min(self.size, pos + limit + 1):
                raise _damaged(self.path, "a header name is unterminated")
            self.need(min(self.size, pos + limit + 1), "the header")


def _channels(value: bytes, path: str) -> tuple[Channel, ...]:
    out, pos = [], 0
    while pos < len(value) and value[pos] != 0:
        end = value.find(b"\0", pos, pos + 256)
        if end < 0:
            raise _damaged(path, "a channel name is unterminated")
        name, pos = value[pos:end].decode("latin-1"), end + 1
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
    table raises :class:`ImageIOError` naming the file. Only the header, the table and each
    chunk's 8-byte row and size are read."""
    with open_binary(path) as fh:  # checked under a server (no link, inside its roots)
        size = os.fstat(fh.fileno()).st_size
        f = _Prefix(fh, path, size)
        if len(f.buf) < 8 or f.buf[:4] != MAGIC:
            return None
        flags = struct.unpack_from("<i", f.buf, 4)[0]
        if flags & (_TILED | _NON_IMAGE | _MULTIPART):
            return None
        limit = 255 if flags & _LONG_NAMES else 31
        attrs: dict[str, tuple[str, int, int]] = {}
        pos = 8
        while True:
            if pos >= _MAX_HEADER:
                raise _damaged(path, "the header has no end")
            f.need(pos + 1, "the header")
            if f.buf[pos] == 0:
                pos += 1
                break
            name, pos = f.cstring(pos, limit)
            kind, pos = f.cstring(pos, limit)
            f.need(pos + 4, f"attribute {name}")
            n = struct.unpack_from("<i", f.buf, pos)[0]
            pos += 4
            if n < 0:
                raise _damaged(path, f"attribute {name} has a negative size")
            f.need(pos + n, f"attribute {name}")
            attrs[name] = (kind, pos, n)
            pos += n
        data = f.buf

        def value(name: str, kind: str, n: int) -> bytes:
            if name not in attrs or attrs[name][0] != kind or attrs[name][2] != n:
                raise _damaged(path, f"the header lacks a valid {name}")
            _, at, _ = attrs[name]
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
        rows = ROWS_PER_CHUNK[compression]
        count = -(-height // rows)
        f.need(pos + 8 * count, "the chunk table")
        offsets = struct.unpack_from(f"<{count}Q", f.buf, pos)
        first = pos + 8 * count
        if any(o < first or o + 8 > size for o in offsets):
            raise _damaged(path, "the chunk table points outside the file (an unfinished write?)")
        spans = []
        for i, o in enumerate(offsets):
            fh.seek(o)
            y, n = struct.unpack("<ii", fh.read(8))
            if y != dw[1] + i * rows or n < 0:
                raise _damaged(path, f"chunk {i} is tagged row {y} with {n} bytes")
            if o + 8 + n > size:
                raise _damaged(path, f"chunk {i} runs past the end of the file")
            spans.append((o, 8 + n))
        head = f.buf[:first]
    return ScanlineFile(
        path, head, pos, attrs, dw, disp, compression, line_order, channels, tuple(spans)
    )


def _copy_range(src, dst, start: int, length: int) -> None:
    """``length`` bytes of file ``src`` from ``start`` onto the end of file ``dst`` (both
    binary file objects): in the kernel where it can (``copy_file_range``, Linux), else
    through a buffer (any system)."""
    done = 0
    if hasattr(os, "copy_file_range"):
        dst.flush()
        out = dst.fileno()
        try:
            while done < length:
                n = os.copy_file_range(src.fileno(), out, length - done, start + done)
                if n == 0:
                    break
                done += n
        except OSError:
            pass  # a file system that cannot: copy the rest through a buffer
        dst.seek(0, os.SEEK_END)
    src.seek(start + done)
    while done < length:
        block = src.read(min(length - done, 8 << 20))
        if not block:
            raise ImageIOError(f"{src.name}: ends before byte {start + length}; re-copy it")
        dst.write(block)
        done += len(block)


def splice(plate: ScanlineFile, band: ScanlineFile, target: str) -> str:
    """Write ``target``: ``band``'s header over ``plate``'s data window, ``band``'s chunks over
    the rows it covers and ``plate``'s chunk bytes everywhere else.

    ``band`` is a file encoded by the caller over whole chunks of the plate (its data window
    the plate's columns and a run of its chunk rows) with the plate's compression, channels and
    display window; anything else is refused. Written under a temporary name and renamed into
    place; the plate itself is never the target.
    """

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
    header = bytearray(band.head[: band.header_end])
    _, at, _ = band.attributes["dataWindow"]
    header[at : at + 16] = struct.pack("<4i", *plate.data_window)
    if "chunkCount" in band.attributes:  # only multi-part and deep files carry it; kept right
        _, at, _ = band.attributes["chunkCount"]
        header[at : at + 4] = struct.pack("<i", len(plate.spans))
    last = first + len(band.spans)
    # (source, file offset, bytes) per output chunk, then merged into runs contiguous in both.
    pieces = [
        (1, *band.spans[i - first]) if first <= i < last else (0, *plate.spans[i])
        for i in range(len(plate.spans))
    ]
    offsets, pos = [], len(header) + 8 * len(pieces)
    for _, _, length in pieces:
        offsets.append(pos)
        pos += length
    runs: list[list[int]] = []
    for src, start, length in pieces:
        if runs and runs[-1][0] == src and runs[-1][1] + runs[-1][2] == start:
            runs[-1][2] += length
        else:
            runs.append([src, start, length])
    with atomic_target(target, ".tmp.exr") as tmp:
        with open_binary(plate.path) as p, open(band.path, "rb") as b, open(tmp, "wb") as out:
            out.write(bytes(header) + struct.pack(f"<{len(offsets)}Q", *offsets))
            for src, start, length in runs:
                _copy_range((p, b)[src], out, start, length)
    return target
