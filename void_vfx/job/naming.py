"""Where a job's outputs go and what they are called:
``<dir>/<name>_void_v001/<name>_void_v001.####.exr``.

This is the one place that decides it, from the spec alone: the client (stream mode, at download),
the server (path mode, at submit) and a farm's assemble task all call :func:`output_dir`,
:func:`output_stem` and :func:`reserve_for_spec`. A version folder is reserved with ``os.mkdir``,
which fails when the folder exists, so two jobs never share a version and an existing version is
never overwritten. Standard library only.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from void_vfx.errors import SpecError

_FRAME_TOKEN = re.compile(r"(#+|@+|%0?\d*d|\$F\d*|\[-?\d+-?-?\d+\])")
_VERSION = re.compile(r"_v(\d{3,})$")
#: The longest name of one folder or file (most file systems take 255 bytes).
MAX_COMPONENT_BYTES = 240
#: The highest output version number (``_v9999``).
MAX_VERSION = 9999
#: What every output's name carries after the plate's (or ``output.name``): ``plate_void_v001``.
OUTPUT_TAG = "void"
OUTPUT_SUFFIX = f"_{OUTPUT_TAG}"


def safe_component(name: object, what: str = "name") -> str:
    """``name`` if it is one plain path component, else SpecError saying why.

    Every name that becomes part of a path (output name, stem, version folder, upload and result
    names) passes here where it is used, so none can climb out of its folder: refused are ``.``,
    ``..``, ``/``, ``\\``, ``:`` (a drive on Windows), control and other invisible characters,
    a leading dot (hidden) or dash, and names too long for a file system. Spaces and letters of
    any script are fine (``my plàte``).
    """
    if type(name) is not str or not name:
        raise SpecError(what, f"{name!r}: must be a non-empty name")
    bad = None
    if name in (".", ".."):
        bad = "is '.' or '..'"
    elif any(c in "/\\:" for c in name):
        bad = "contains '/', '\\' or ':' (a name, not a path)"
    elif any(unicodedata.category(c)[0] == "C" for c in name):
        bad = "contains a control or invisible character"
    elif name[0] in ".-" or name != name.strip():
        bad = "starts with '.' or '-', or starts or ends with a space"
    elif len(name.encode("utf-8", "replace")) > MAX_COMPONENT_BYTES:
        bad = f"is longer than {MAX_COMPONENT_BYTES} bytes"
    if bad:
        raise SpecError(what, f"{name!r} {bad}; give a plain name such as sh010_plate")
    return name


#: Image file endings that make an ``-o`` argument a file pattern rather than a folder.
_IMAGE_ENDINGS = (".exr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


def split_output_pattern(text: str) -> tuple[str, str] | None:
    """``(folder, name)`` when ``text`` names output files rather than a folder (Nuke's habit:
    ``out/sh010_clean.####.exr``), else None. The files then go into a version folder of that
    name in that folder, as every output does: ``out/sh010_clean_void_v001/...``."""
    base = os.path.basename(text.rstrip("/\\"))
    if not (_FRAME_TOKEN.search(base) or base.lower().endswith(_IMAGE_ENDINGS)):
        return None
    return os.path.dirname(text) or ".", plate_stem(base)


def join_component(folder: str, name: str, what: str = "name") -> str:
    """``folder/name`` for a checked single component ``name``."""
    return os.path.join(folder, safe_component(name, what))


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
    name = name.rstrip("._- ").lstrip(".- ")
    try:
        return safe_component(name, "plate") if name else "plate"
    except SpecError:
        return "plate"  # a name no folder may carry: the outputs are called plate_void


@dataclass(frozen=True)
class OutputName:
    """A reserved output version: its folder and the frame pattern inside it."""

    version: int
    folder: str
    stem: str

    @property
    def pattern(self) -> str:
        """Frame pattern with a ``####`` token, e.g. ``.../plate_void_v001.####.exr``."""
        return join_component(self.folder, f"{safe_component(self.stem, 'stem')}.####.exr")

    def path(self, frame: int, padding: int = 4) -> str:
        sign = "-" if frame < 0 else ""
        stem = safe_component(self.stem, "stem")
        return join_component(self.folder, f"{stem}.{sign}{abs(frame):0{padding}d}.exr")


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
    plate_pattern: str,
    out_dir: str = "",
    *,
    name: str = "",
    version: int = 0,
    tag: str = OUTPUT_TAG,
) -> OutputName:
    """Reserve the next free version folder (or exactly ``version``) and return its names.

    ``out_dir`` empty means the current folder. ``name`` overrides the plate's stem.
    """
    out_dir = os.path.abspath(out_dir or os.getcwd())
    base = safe_component(
        f"{safe_component(name, 'output.name') if name else plate_stem(plate_pattern)}_{tag}",
        "output.name",
    )
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise SpecError(
            "output.version", f"{version!r} must be 0..{MAX_VERSION} (0 = next free version)"
        )
    os.makedirs(out_dir, exist_ok=True)
    if version:
        stem = f"{base}_v{version:03d}"
        folder = join_component(out_dir, stem, "output.version")
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
        folder = join_component(out_dir, stem, "output.version")
        try:
            os.mkdir(folder)
        except FileExistsError:
            candidate += 1
            continue
        return OutputName(candidate, folder, stem)


def plate_folder(pattern: str) -> str:
    """The absolute folder that holds the plate's frames."""
    return os.path.dirname(os.path.abspath(os.path.expanduser(pattern)))


def _inside(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies below it (both absolute; links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def output_dir(spec: Any) -> str:
    """The folder that holds the version folders: ``output.dir``, else the current folder.

    Never the plate's folder, nor one below it when the current folder is taken by default:
    facilities lock plate folders, and a version folder among the plates is one nobody asked
    for. SpecError naming ``-o`` then, before anything is created.
    """
    explicit = bool(spec.output.dir)
    out = os.path.abspath(spec.output.dir or os.getcwd())
    plates = plate_folder(spec.plate)
    if os.path.realpath(out) == os.path.realpath(plates) or (not explicit and _inside(out, plates)):
        how = "-o" if explicit else "the current folder, the default of -o,"
        raise SpecError(
            "output.dir",
            f"{how} is {out}, {'the plate' if out == plates else 'under the plate'}'s folder "
            f"{plates}: nothing is written among the plates; give an output folder elsewhere, "
            "e.g. -o ~/void_out (output.dir in a --spec file)",
        )
    return out


def output_base(spec: Any) -> str:
    """``<output.name or plate stem>_void``: the name every version of this output shares."""
    name = safe_component(spec.output.name, "output.name") if spec.output.name else None
    return f"{name or plate_stem(spec.plate)}{OUTPUT_SUFFIX}"


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
