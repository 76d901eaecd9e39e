"""The refusing base of every fake Resolve object."""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


class Strict:
    """Unknown attributes raise, naming the object: the fake knows only the documented calls."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"fake Resolve: {type(self).__name__} has no {name}() among the documented calls "
            "void-vfx uses; add it to tests/fakes_resolve only if Resolve's README documents it"
        )


def new_id() -> str:
    return f"{next(_ids):08x}-fake"


def need(kind, value, what: str):
    """Refuse a wrongly typed argument as Resolve's bindings would (they raise TypeError)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"fake Resolve: {what} must be {kind}, got {value!r}")
    return value
