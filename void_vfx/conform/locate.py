"""Media paths as editorial files write them, turned into paths on this machine.

Edits carry ``file://localhost/D%3a/media/a.mov``, ``file://C:/Users/a.mov`` (Avid: the drive
where a URL's host goes), ``S:\\path\\to\\a.0001.exr``, paths of another
mount (``/mnt/show`` here, ``/Volumes/show`` there) and folders whose trailing space was lost or
added on the way. ``--map FROM=TO`` rewrites prefixes (Windows prefixes match case-insensitively
with either slash); a folder that is not found is looked up again ignoring surrounding spaces.
Standard library only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from void_vfx.errors import SpecError

_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass(frozen=True)
class PathMap:
    """Prefix rewrites from ``--map FROM=TO``, tried in the order given."""

    pairs: tuple[tuple[str, str], ...] = ()
    #: Folder that relative paths in the edit are relative to (the edit file's folder).
    base: str = ""
    notes: list[str] = field(default_factory=list, compare=False)

    @classmethod
    def parse(cls, items: list[str] | None, base: str = "") -> PathMap:
        pairs = []
        for item in items or ():
            src, sep, dst = item.partition("=")
            if not sep or not src.strip() or not dst.strip():
                raise SpecError("--map", f"{item!r}: write FROM=TO, e.g. --map S:/shows=/mnt/shows")
            pairs.append((_slashes(src.strip()).rstrip("/"), dst.strip().rstrip("/\\")))
        return cls(tuple(pairs), base)

    def apply(self, path: str) -> str:
        """The local path for ``path`` (a URL, a Windows path or a POSIX path)."""
        text = _slashes(url_to_path(path))
        for src, dst in self.pairs:
            windows = bool(_DRIVE.match(src + "/"))
            head = text[: len(src)]
            same = head.lower() == src.lower() if windows else head == src
            if same and (len(text) == len(src) or text[len(src)] == "/"):
                text = dst + text[len(src) :]
                break
        if _DRIVE.match(text):
            raise SpecError(
                "media",
                f"{path}: a Windows path with no --map for its drive; add e.g. "
                f"--map {text[:2]}/=/mnt/{text[0].lower()}",
            )
        if not os.path.isabs(text) and self.base:
            text = os.path.join(self.base, text)
        return text


def _slashes(text: str) -> str:
    """Backslashes to slashes where the path is a Windows one (a drive or a UNC share)."""
    if _DRIVE.match(text) or text.startswith("\\\\"):
        return text.replace("\\", "/")
    return text


def url_to_path(url: str) -> str:
    """``file://`` URLs (with or without a host, percent-encoded) to plain paths."""
    text = str(url).strip()
    if not text.lower().startswith("file:"):
        return text
    parsed = urlparse(text)
    path = unquote(parsed.path)
    host = unquote(parsed.netloc)
    if re.match(r"^/[A-Za-z]:", path):  # file:///D:/media or file://localhost/D%3a/media
        path = path[1:]
    elif re.match(r"^[A-Za-z][:|]$", host):  # file://C:/Users/... as Avid writes it: a drive
        path = f"{host[0]}:{path or '/'}"
    elif parsed.netloc and parsed.netloc.lower() != "localhost":
        path = f"//{parsed.netloc}{path}"  # a UNC share: file://server/share/a.mov
    return path


def find_existing(path: str) -> tuple[str, str]:
    """``path`` if it exists; else the same path with folders matched ignoring surrounding
    whitespace (``"sh010 "`` for ``"sh010"`` and the reverse). Returns (path, note)."""
    if os.path.exists(path) or not os.path.isabs(path):
        return path, ""
    parts = path.split("/")
    current = "/"
    changed = False
    for part in parts[1:]:
        if not part:
            continue
        candidate = os.path.join(current, part)
        if not os.path.exists(candidate):
            try:
                names = os.listdir(current)
            except OSError:
                return path, ""
            alike = [n for n in names if n.strip() == part.strip()]
            if len(alike) != 1:
                return path, ""
            candidate = os.path.join(current, alike[0])
            changed = True
        current = candidate
    if changed:
        return current, f"{path!r} not found; using {current!r} (differs only in spaces)"
    return path, ""


def find_existing_folder(pattern: str) -> tuple[str, str]:
    """:func:`find_existing` on the folder of a frame pattern."""
    folder, name = os.path.split(pattern)
    found, note = find_existing(folder)
    return os.path.join(found, name), note
