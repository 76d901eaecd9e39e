"""The EXR compressions, named as OpenImageIO and the job spec name them, in the order of their
value in an EXR header (OpenEXR's file layout: NO_COMPRESSION = 0 ... HTJ2K32 = 11).

The one list: the spec validates against it, the writer refuses anything else, the chunk reader
maps header values through it. Standard library only (the spec, which hosts import, reads it).
"""

from __future__ import annotations

COMPRESSIONS = (
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
