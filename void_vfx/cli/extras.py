"""What to install when a command needs a module that is not here: one line, never a traceback.

A module of an optional extra (``pyproject.toml``'s ``[project.optional-dependencies]``) that is
missing is named with the extra that brings it and the line that installs it: an editable
install from a clone gets ``pip install -e 'REPO[extra]'``, an install from the registry
``pip install 'void-vfx[extra]'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: Top-level import name -> the extra that installs it (one home for this table).
EXTRA_OF_MODULE = {
    "torch": "server",
    "torchvision": "server",
    "diffusers": "server",
    "transformers": "server",
    "safetensors": "server",
    "accelerate": "server",
    "sentencepiece": "server",
    "huggingface_hub": "server",
    "google": "server",  # protobuf
    "PySide6": "ui",
    "PySide2": "ui",
    "opentimelineio_contrib": "conform",
    "otio_fcpx_xml_adapter": "conform",
    "av": "conform",
    "openjd": "farm",
    "outline": "farm",
    "yaml": "farm",
    "tqdm": "dev",
    "psutil": "dev",
    "imageio": "dev",
    "imageio_ffmpeg": "dev",
}


def source_tree() -> Path | None:
    """The clone this package runs from (an editable install), or None for a registry install."""
    top = Path(__file__).resolve().parents[2]
    return top if (top / "pyproject.toml").is_file() and (top / "void_vfx").is_dir() else None


def install_line(extra: str) -> str:
    """The command that installs ``extra`` into this Python, for a clone or a registry install."""
    tree = source_tree()
    target = f"-e '{tree}[{extra}]'" if tree else f"'void-vfx[{extra}]'"
    return f"{sys.executable} -m pip install {target}"


def missing_module_message(exc: ImportError) -> str | None:
    """One line for an ImportError of a module an extra brings, or None for any other."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(name)
    if extra is None:
        return None
    return (
        f"this needs {name}, which is not installed here (the '{extra}' extra): "
        f"{install_line(extra)}"
    )
