"""``void-vfx install resolve``: copy the Workspace > Scripts entry into the per-user folder.

Per-user Scripts folders (Blackmagic's scripting README): macOS
``~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts``, Windows
``%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts``, Linux
``~/.local/share/DaVinciResolve/Fusion/Scripts``; the ``Utility`` subfolder lists a script on
every page, ``Edit`` on the Edit page only. The copy has this repository's folder written into
it, so Resolve's Python finds ``void_vfx`` without any environment variable.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SCRIPT_NAME = "VOID Remove Object.py"
REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "hosts" / "resolve" / SCRIPT_NAME
PATH_LINE = 'VOID_VFX_PATH = ""'


def scripts_folder(platform: str | None = None, env: dict | None = None) -> Path:
    """The per-user Fusion/Scripts folder of Resolve on ``platform``."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform == "darwin":
        return (
            home
            / "Library"
            / "Application Support"
            / "Blackmagic Design"
            / "DaVinci Resolve"
            / "Fusion"
            / "Scripts"
        )
    if platform == "win32":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        return appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts"
    return home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--menu",
        choices=("Utility", "Edit"),
        default="Utility",
        help="Utility lists the script on every page, Edit on the Edit page only",
    )
    parser.add_argument("--scripts-dir", default="", help="the Fusion/Scripts folder to use")
    parser.add_argument(
        "--print", action="store_true", help="print where it would go, copy nothing"
    )


def script_text(repo: Path = REPO) -> str:
    text = SOURCE.read_text(encoding="utf-8")
    if PATH_LINE not in text:
        raise RuntimeError(f"{SOURCE}: the line {PATH_LINE!r} is missing; restore the file")
    return text.replace(PATH_LINE, f"VOID_VFX_PATH = {str(repo)!r}", 1)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.scripts_dir) if args.scripts_dir else scripts_folder()
    target = folder / args.menu / SCRIPT_NAME
    if args.print:
        print(f"would copy {SOURCE} to {target}")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(script_text(), encoding="utf-8")
    os.replace(tmp, target)
    print(f"installed {target}")
    print(f"restart Resolve, then choose Workspace > Scripts > {Path(SCRIPT_NAME).stem}")
    print(
        "Resolve's Python also needs rpyc. Find which Python Resolve runs (21.1 may use its own, "
        "e.g. /opt/resolve/ResolvePython on Linux): in Workspace > Console > Py3 type "
        "'import sys; print(sys.executable)', then run that Python with: -m pip install rpyc"
    )
    return 0
