"""Which mattes go with a shot: named in metadata, else found by a naming convention.

Metadata ``void_vfx`` keys ``matte`` (the object to remove), ``affected`` (what it affects) or
``quadmask`` (a ready quadmask) name frame patterns. Without them each template below is tried in
order, with ``{dir}`` the plate's folder, ``{stem}`` its name without frame number or extension,
``{clip}`` the clip's name and ``{reel}`` its reel (both made safe for file names). Mattes carry
the plate's file frame numbers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from void_vfx.conform.locate import PathMap, find_existing_folder
from void_vfx.job.naming import plate_stem
from void_vfx.media.sequences import find_sequence

DEFAULT_TEMPLATES = {
    "primary": (
        "{dir}/{stem}_matte.####.exr",
        "{dir}/matte/{stem}_matte.####.exr",
        "{dir}/../matte/{stem}_matte.####.exr",
    ),
    "affected": ("{dir}/{stem}_affected.####.exr", "{dir}/matte/{stem}_affected.####.exr"),
    "quadmask": ("{dir}/{stem}_quadmask.####.exr", "{dir}/matte/{stem}_quadmask.####.exr"),
}
METADATA_KEYS = {"primary": "matte", "affected": "affected", "quadmask": "quadmask"}


@dataclass(frozen=True)
class FoundMatte:
    role: str
    pattern: str
    channel: str
    how: str


def safe_name(text: str) -> str:
    """A clip or reel name as a file-name part: ``ZZ100_501 (LAY3)`` -> ``ZZ100_501_LAY3``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "clip"


def _has_frames(pattern: str) -> bool:

    seq = find_sequence(pattern)
    try:
        return bool(seq.scan().frames)
    except Exception:  # noqa: BLE001 - an unreadable folder is simply not a match
        return False


def _default_channel(pattern: str, frame: int) -> str:
    """``a`` when the matte has alpha, else its first channel (a Y, R or RGB matte)."""
    from void_vfx.media.image_io import read_header

    seq = find_sequence(pattern)
    scan = seq.scan()
    path = scan.files.get(frame) or (scan.files[scan.frames[0]] if scan.frames else None)
    if path is None:
        return "a"
    names = [n.lower() for n in read_header(path).channel_names]
    if "a" in names or not names:
        return "a"
    return names[0]


def find_mattes(
    meta: dict,
    plate: str,
    clip: str,
    reel: str,
    paths: PathMap,
    templates: dict[str, tuple[str, ...]] | None = None,
    first_frame: int = 0,
) -> tuple[list[FoundMatte], list[str]]:
    """The mattes for a shot (possibly none) and every place that was looked at."""

    templates = {**DEFAULT_TEMPLATES, **(templates or {})}
    fields = {
        "dir": os.path.dirname(plate) or ".",
        "stem": plate_stem(plate),
        "clip": safe_name(clip),
        "reel": safe_name(reel or clip),
    }
    found: list[FoundMatte] = []
    looked: list[str] = []
    for role, key in METADATA_KEYS.items():
        value = meta.get(key)
        if isinstance(value, dict):
            value, channel = value.get("path"), value.get("channel")
        else:
            channel = meta.get(f"{key}_channel")
        if isinstance(value, str) and value.strip():
            pattern, _note = find_existing_folder(paths.apply(value.strip()))
            ch = channel or _default_channel(pattern, first_frame)
            found.append(FoundMatte(role, pattern, str(ch), f"metadata {key}"))
    if found:
        return found, looked
    for role in ("quadmask", "primary", "affected"):
        if role == "affected" and not any(f.role == "primary" for f in found):
            continue
        if role == "primary" and found:
            continue
        for template in templates.get(role, ()):
            pattern = os.path.normpath(template.format(**fields))
            looked.append(pattern)
            if _has_frames(pattern):
                ch = _default_channel(pattern, first_frame)
                found.append(FoundMatte(role, pattern, ch, f"naming convention {template}"))
                break
    return found, looked
