"""The base of every fake Resolve object: absent calls answer None, as in real Resolve."""

from __future__ import annotations

import itertools

from fakes_resolve import versions

_ids = itertools.count(1)
#: Every absent call a test's code asked for, as "Kind.Name" (a test may assert it is empty).
ASKED_ABSENT: list[str] = []


class Strict:
    """Unknown attributes raise, naming the object (the UIManager fake's widgets)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"fake Resolve: {type(self).__name__} has no {name}() among the documented calls "
            "void-vfx uses; add it to tests/fakes_resolve only if Resolve's README documents it"
        )


class ResolveObject:
    """A scripting object of the emulated version (``versions.EMU``).

    A call the object lacks, or that the emulated version lacks (``versions.SINCE``), reads as
    None and is left out of ``dir()``: samuelgursky/davinci-resolve-mcp api-limitations.md,
    "hasattr() / getattr()", measured on Studio 19.1.3.7: getattr of an absent name returns None
    and ``dir()`` is the reliable probe; calling the None raises TypeError.
    """

    KIND = ""

    def __getattribute__(self, name: str):
        if name[:1].isupper():
            kind = type(self).KIND
            if kind and not versions.EMU.has(kind, name):
                ASKED_ABSENT.append(f"{kind}.{name}")
                return None
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str):
        if name.startswith("_") or not name[:1].isupper():
            raise AttributeError(name)
        ASKED_ABSENT.append(f"{type(self).KIND or type(self).__name__}.{name}")
        return None

    def __dir__(self):
        kind = type(self).KIND
        return [n for n in object.__dir__(self) if not kind or versions.EMU.has(kind, n)]


def new_id() -> str:
    return f"{next(_ids):08x}-fake"


def need(kind, value, what: str):
    """Refuse a wrongly typed argument as Resolve's bindings would (they raise TypeError)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"fake Resolve: {what} must be {kind}, got {value!r}")
    return value
