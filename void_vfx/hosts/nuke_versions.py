"""The VOID Remove node's version knob: which result versions exist and where their frames are.

Results are ``<out>/<name>_void_v001/<name>_void_v001.####.exr`` (:mod:`void_vfx.job.naming`).
Standard library only.
"""

from __future__ import annotations

import os
import re

from void_vfx.job.naming import OUTPUT_SUFFIX, existing_versions

NONE = "none"


def version_base(name: str) -> str:
    return f"{name}{OUTPUT_SUFFIX}"


def version_items(out_dir: str, name: str) -> list[str]:
    """``["none", "v001", "v002", ...]`` for the versions on disk."""
    return [NONE] + [f"v{v:03d}" for v in existing_versions(out_dir, version_base(name))]


def version_number(item: str) -> int:
    """``"v002"`` -> 2; ``"none"`` -> 0."""
    m = re.fullmatch(r"v(\d{3,})", item or "")
    return int(m.group(1)) if m else 0


def version_sequence(out_dir: str, name: str, item: str) -> tuple[str, int, int] | None:
    """(``####`` pattern, first, last) of a version's frames, or None when it has none."""
    number = version_number(item)
    if not number:
        return None
    stem = f"{version_base(name)}_v{number:03d}"
    folder = os.path.join(out_dir, stem)
    if not os.path.isdir(folder):
        return None
    found = re.compile(re.escape(stem) + r"\.(-?\d+)\.exr$")
    frames, padding = [], 4
    for entry in os.listdir(folder):
        m = found.match(entry)
        if m:
            frames.append(int(m.group(1)))
            padding = len(m.group(1).lstrip("-"))
    if not frames:
        return None
    return os.path.join(folder, f"{stem}.{'#' * padding}.exr"), min(frames), max(frames)


def version_of_path(path: str, name: str) -> str:
    """The version item of a result file (``.../plate_void_v002.1001.exr`` -> ``v002``)."""
    m = re.search(re.escape(version_base(name)) + r"_v(\d{3,})", os.path.basename(path))
    return f"v{int(m.group(1)):03d}" if m else NONE
