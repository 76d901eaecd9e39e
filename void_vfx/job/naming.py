"""Where a job's outputs go and what they are called: ``<dir>/<name>_void_v001/<name>_void_v001.####.exr``.

This is the one place that decides it, from the spec alone: the client (stream mode, at download),
the server (path mode, at submit) and a farm's assemble task all call :func:`output_dir`,
:func:`output_stem` and :func:`reserve_for_spec`. A version folder is reserved with ``os.mkdir``,
which fails when the folder exists, so two jobs never share a version and an existing version is
never overwritten. Standard library only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from void_vfx.errors import SpecError

_FRAME_TOKEN = re.compile(r"(#+|@+|%0?\d*d|\$F\d*|\[-?\d+-?-?\d+\])")
_VERSION = re.compile(r"_v(\d{3,})$")


def plate_stem(pattern: str) -> str:
    """The plate's name without folder, frame token, extension or trailing separators.

    ``/shots/sh010/plate.####.exr`` -> ``plate``; ``sh010_bg_v003.%04d.exr`` -> ``sh010_bg_v003``.
    """
    name = os.path.basename(pattern)
    token = _FRAME_TOKEN.search(name)
    if token:
        name = name[: token.start()]
    else:
        name = re.sub(r"\.-?\d+(\.[A-Za-z0-9]+)$", r"\1", name)  # a concrete frame file
        name = os.path.splitext(name)[0]
    name = name.rstrip("._- ")
    return name or "plate"


@dataclass(frozen=True)
class OutputName:
    """A reserved output version: its folder and the frame pattern inside it."""

    version: int
    folder: str
    stem: str

    @property
    def pattern(self) -> str:
        """Frame pattern with a ``####`` token, e.g. ``.../plate_void_v001.####.exr``."""
        return os.path.join(self.folder, f"{self.stem}.####.exr")

    def path(self, frame: int, padding: int = 4) -> str:
        sign = "-" if frame < 0 else ""
        return os.path.join(self.folder, f"{self.stem}.{sign}{abs(frame):0{padding}d}.exr")


def existing_versions(out_dir: str, base: str) -> list[int]:
    """Versions of ``<base>_vNNN`` already in ``out_dir`` (folders or files)."""
    found = []
    if not os.path.isdir(out_dir):
        return found
    prefix = f"{base}_v"
    for entry in os.listdir(out_dir):
        if not entry.startswith(prefix):
            continue
        digits = re.match(r"(\d{3,})", entry[len(prefix) :])
        if digits:
            found.append(int(digits.group(1)))
    return sorted(found)


def reserve_output(
    plate_pattern: str, out_dir: str = "", *, name: str = "", version: int = 0, tag: str = "void"
) -> OutputName:
    """Reserve the next free version folder (or exactly ``version``) and return its names.

    ``out_dir`` empty means the current folder. ``name`` overrides the plate's stem.
    """
    out_dir = os.path.abspath(out_dir or os.getcwd())
    base = f"{name or plate_stem(plate_pattern)}_{tag}"
    os.makedirs(out_dir, exist_ok=True)
    if version:
        stem = f"{base}_v{version:03d}"
        folder = os.path.join(out_dir, stem)
        if version in existing_versions(out_dir, base):
            raise SpecError(
                "output.version",
                f"version {version} already exists at {folder}; outputs are never overwritten: "
                "choose another version or 0 for the next free one",
            )
        os.mkdir(folder)
        return OutputName(version, folder, stem)
    taken = existing_versions(out_dir, base)
    candidate = (taken[-1] + 1) if taken else 1
    while True:
        stem = f"{base}_v{candidate:03d}"
        folder = os.path.join(out_dir, stem)
        try:
            os.mkdir(folder)
        except FileExistsError:
            candidate += 1
            continue
        return OutputName(candidate, folder, stem)


def output_dir(spec: Any) -> str:
    """The folder that holds the version folders: ``output.dir``, else the current folder (never
    the plate's folder: facilities lock plate folders)."""
    return os.path.abspath(spec.output.dir or os.getcwd())


def output_base(spec: Any) -> str:
    """``<output.name or plate stem>_void``: the name every version of this output shares."""
    return f"{spec.output.name or plate_stem(spec.plate)}_void"


def output_stem(spec: Any) -> str:
    """The file stem of the outputs: ``<base>_vNNN`` once a version is fixed, else ``<base>``
    (a server's stream-mode results, renamed to the reserved version at download)."""
    base = output_base(spec)
    return f"{base}_v{spec.output.version:03d}" if spec.output.version else base


def reserve_for_spec(spec: Any, out_dir: str | None = None) -> OutputName:
    """Reserve the spec's version folder (``output.version``, or the next free one) in
    ``out_dir`` or :func:`output_dir`."""
    return reserve_output(
        spec.plate,
        out_dir or output_dir(spec),
        name=spec.output.name,
        version=spec.output.version,
    )
