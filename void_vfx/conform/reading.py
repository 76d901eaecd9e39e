"""Reading an edit with OpenTimelineIO's adapters: which adapter, which rate, which problems.

The adapter comes from the extension (or ``--adapter``). EDLs carry no frame rate, so one must be
given. Files written by a newer OpenTimelineIO fail with a bare "unsupported schema version";
they are scanned first so the message names the schema and what to do.
"""

from __future__ import annotations

import os
import re
import zipfile
from fractions import Fraction

from void_vfx.errors import SpecError

#: Extension -> adapter name.
EXTENSIONS = {
    ".otio": "otio_json",
    ".otioz": "otioz",
    ".otiod": "otiod",
    ".edl": "cmx_3600",
    ".xml": "fcp_xml",
    ".fcpxml": "fcpx_xml",
    ".fcpxmld": "fcpx_xml",
    ".aaf": "AAF",
    ".ale": "ale",
    ".drp": "drp",
}
#: Adapter -> the package that provides it.
PACKAGES = {
    "cmx_3600": "otio-cmx3600-adapter",
    "fcp_xml": "otio-fcp-adapter",
    "fcpx_xml": "otio-fcpx-xml-adapter",
    "AAF": "otio-aaf-adapter",
    "ale": "otio-ale-adapter",
    "drp": "otio-drp-adapter",
}
NEEDS_RATE = ("cmx_3600",)
_SCHEMA = re.compile(r'"OTIO_SCHEMA"\s*:\s*"([A-Za-z0-9_]+)\.(\d+)"')
_EDL_EVENT = re.compile(r"^\s*\d+\s")
_TC = re.compile(r"\b(\d\d:\d\d:\d\d):(\d\d)\b")


def adapter_for(path: str, override: str | None = None) -> str:
    """The adapter name for ``path``; SpecError naming the known extensions."""
    if override:
        return override
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    if ext not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise SpecError(
            "timeline",
            f"{path}: unknown extension {ext or '(none)'}; known: {known}, "
            "or name the adapter with --adapter",
        )
    return EXTENSIONS[ext]


def installed_adapter(name: str):
    """The OTIO adapter object, or SpecError saying which package provides it."""
    import opentimelineio as otio

    if name not in otio.adapters.available_adapter_names():
        package = PACKAGES.get(name, f"an OTIO adapter named {name}")
        hint = " or export the timeline from Resolve as .otio" if name == "drp" else ""
        raise SpecError(
            "--adapter",
            f"no installed OpenTimelineIO adapter named {name!r}: pip install "
            f"{package}{hint} (installed: {', '.join(otio.adapters.available_adapter_names())})",
        )
    return otio.adapters.from_name(name)


def newer_schemas(path: str) -> list[str]:
    """Schemas in an .otio/.otioz/.otiod file newer than the installed OTIO reads."""
    import opentimelineio as otio

    text = ""
    if os.path.isdir(path):
        path = os.path.join(path, "content.otio")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                text = z.read("content.otio").decode("utf-8", "replace")
        else:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
    except (OSError, KeyError):
        return []
    known = otio.core.type_version_map()
    newer = set()
    for name, version in _SCHEMA.findall(text):
        if name in known and int(version) > known[name]:
            newer.add(f"{name}.{version} (installed reads {name}.{known[name]})")
    return sorted(newer)


def _newer_message(path: str, schemas: list[str]) -> str:
    import opentimelineio as otio

    return (
        f"{path} was written by a newer OpenTimelineIO than the installed {otio.__version__}: "
        f"it uses {', '.join(schemas)}. Upgrade (python3 -m pip install -U opentimelineio), or "
        "have the sender write older schemas (otiotool --downgrade, or write_to_file(..., "
        "target_schema_versions=otio.versioning.fetch_map('OTIO_CORE', "
        f"'{otio.__version__}')))"
    )


def drop_frame_edl(text: str) -> str:
    """An EDL whose FCM says DROP FRAME but whose timecodes use ':' gets ';' before the frames
    of each event and locator, so the adapter counts drop-frame timecode."""
    out, drop = [], False
    for line in text.splitlines(keepends=True):
        upper = line.strip().upper()
        if upper.startswith("FCM:"):
            drop = "NON" not in upper and "DROP" in upper
        elif drop and (_EDL_EVENT.match(line) or upper.startswith("* LOC:")):
            line = _TC.sub(r"\1;\2", line)
        out.append(line)
    return "".join(out)


def read_timeline(path: str, adapter: str | None = None, rate: Fraction | None = None):
    """(timeline, adapter name). SpecError for a missing rate, a missing adapter or a file
    written by a newer OTIO; the adapter's own error, with the file named, otherwise."""
    import opentimelineio as otio

    name = adapter_for(path, adapter)
    if not os.path.exists(path):
        raise SpecError("timeline", f"{path}: no such file")
    if name in NEEDS_RATE and rate is None:
        raise SpecError(
            "--rate",
            f"{path}: an EDL carries no frame rate; give it, e.g. --rate 24, "
            "--rate 23.976, --rate 25 or --rate 29.97df",
        )
    if name in ("otio_json", "otioz", "otiod"):
        schemas = newer_schemas(path)
        if schemas:
            raise SpecError("timeline", _newer_message(path, schemas))
    installed_adapter(name)
    if name == "fcpx_xml" and os.path.isdir(path):
        path = os.path.join(path, "Info.fcpxml")
    try:
        if name == "cmx_3600":
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = drop_frame_edl(fh.read())
            result = otio.adapters.read_from_string(text, "cmx_3600", rate=float(rate))
        else:
            result = otio.adapters.read_from_file(path, adapter_name=name)
    except otio.exceptions.UnsupportedSchemaError as exc:
        raise SpecError(
            "timeline", f"{path}: {exc}; {_newer_message(path, ['a newer schema'])}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - adapters raise anything; name the file and adapter
        raise SpecError("timeline", f"{path}: the {name} adapter cannot read it: {exc}") from exc
    return first_timeline(result, path), name


def first_timeline(result, path: str):
    """A Timeline from what an adapter returned (FCPX and AAF may return a collection)."""
    import opentimelineio as otio

    if isinstance(result, otio.schema.Timeline):
        return result
    found = []
    if isinstance(result, otio.schema.SerializableCollection):
        found = [t for t in result if isinstance(t, otio.schema.Timeline)]
    if not found:
        raise SpecError("timeline", f"{path}: holds no timeline")
    return found[0]
