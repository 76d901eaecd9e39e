"""The folders a path-mode job may read from and write to (``serve --allow-read/--allow-write``).

A token holder who claims path mode names files on the server's own disks, so every such path
is resolved (symlinks too) and must land inside one of the server's roots. Hidden folders and
files (``~/.ssh``, ``~/.config``...) are refused even inside a root, and so are the server's own
data and configuration folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from void_vfx.errors import ServerError
from void_vfx.job.naming import output_dir
from void_vfx.job.spec import file_patterns
from void_vfx.media.sequences import find_sequence


def default_roots() -> tuple[Path, ...]:
    """The user's home folder. Not the system temporary folder: every local user can write
    there, so links planted in it could steer a job to files of the server's user."""
    return (Path.home(),)


class Roots:
    """Allowed read and write roots, and folders that are never allowed (the server's own)."""

    def __init__(
        self,
        read: Iterable[str | os.PathLike] | None = None,
        write: Iterable[str | os.PathLike] | None = None,
        private: Iterable[str | os.PathLike] = (),
    ) -> None:
        self.read = _resolved(read, "--allow-read")
        self.write = _resolved(write, "--allow-write")
        self.private = tuple(Path(os.path.realpath(p)) for p in private)

    def describe(self) -> str:
        return f"read {', '.join(map(str, self.read))}; write {', '.join(map(str, self.write))}"

    def check(self, path: str | os.PathLike, kind: str, what: str) -> Path:
        """``path`` resolved, if it is inside a ``kind`` ("read" or "write") root; else
        ServerError naming the option that would allow it."""
        if not os.path.isabs(path):
            raise ServerError(f"{what}: path mode needs absolute paths, got {str(path)!r}")
        real = Path(os.path.realpath(path))
        roots = self.read if kind == "read" else self.write
        option = "--allow-read" if kind == "read" else "--allow-write"
        for root in self.private:
            if real == root or root in real.parents:
                raise ServerError(f"{what}: {path} is inside the server's own folder {root}")
        for root in roots:
            if real == root or root in real.parents:
                rel = real.relative_to(root).parts
                if any(p.startswith(".") for p in rel):
                    raise ServerError(f"{what}: {path} is in a hidden folder or file")
                return real
        raise ServerError(
            f"{what}: {path} (resolved {real}) is outside the folders this server may {kind} "
            f"({', '.join(map(str, roots))}); start it with {option} {real.parent}, or send "
            "the files with --files stream"
        )

    def inside(self, real: str, kind: str) -> bool:
        """True when the real path ``real`` may be used for ``kind`` (no exception)."""
        try:
            self.check(real, kind, "file")
            return True
        except ServerError:
            return False

    def check_spec(self, spec: Any) -> None:
        """A path-mode JobSpec: every source's folder and files readable, the output writable."""
        for field, pattern in file_patterns(spec).items():
            seq = find_sequence(pattern)
            self.check(seq.directory or ".", "read", field)
            if seq.is_still:
                self.check(seq.path(), "read", field)
                continue
            for frame_path in seq.scan().files.values():
                self.check(frame_path, "read", field)
        self.check(output_dir(spec), "write", "output.dir")


def _resolved(paths: Iterable[str | os.PathLike] | None, option: str) -> tuple[Path, ...]:
    chosen = default_roots() if paths is None else tuple(paths)
    out = []
    for p in chosen:
        if not os.path.isabs(p):
            raise ServerError(f"{option} {p}: give an absolute folder")
        out.append(Path(os.path.realpath(p)))
    return tuple(out)
