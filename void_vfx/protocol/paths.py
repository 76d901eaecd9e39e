"""Where the user's void-vfx configuration lives: the token both ends read, the client's job notes.

Standard library only; the client and the server both import it (neither imports the other).
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/void-vfx``, else ``~/.config/void-vfx``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "void-vfx"


def default_token_path() -> Path:
    return config_dir() / "token"
