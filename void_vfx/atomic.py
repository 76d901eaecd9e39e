"""Write-then-rename: a reader never sees a half-written output, a failure leaves no stray file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_target(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a hidden temporary name in ``path``'s folder; rename it onto ``path`` on success.

    The name ends in ``suffix`` so that writers choosing a format by extension (OpenImageIO,
    ffmpeg) still see the right one. On any error the temporary file is removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
