"""Put void-vfx on Nuke's plug-in path: a marked block in ``~/.nuke/init.py`` (idempotent).

The block adds this checkout's ``hosts/nuke`` with ``nuke.pluginAddPath`` (whose init.py puts
void-vfx on ``sys.path``, menu.py registers the node and panel) and a folder holding copies of
rpyc and plumbum, pure-Python packages Nuke's own Python lacks. ``--print`` shows the block and
changes nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
from pathlib import Path

from void_vfx.atomic import atomic_target

BEGIN, END = "# >>> void-vfx >>>", "# <<< void-vfx <<<"
LIB = "void_vfx_lib"
VENDORED = ("rpyc", "plumbum")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--print", action="store_true", help="print the init.py lines; write nothing")
    p.add_argument("--nuke-dir", default="~/.nuke", help="Nuke's user folder (default ~/.nuke)")
    p.add_argument(
        "--no-rpyc",
        action="store_true",
        help="do not copy rpyc/plumbum (Nuke's Python has them already)",
    )


def plugin_dir() -> Path:
    """This checkout's ``hosts/nuke``; an error when void-vfx was installed without it."""
    import void_vfx

    folder = Path(void_vfx.__file__).resolve().parents[1] / "hosts" / "nuke"
    if not (folder / "menu.py").is_file():
        from void_vfx.errors import SpecError

        raise SpecError("install", f"{folder} is missing: install void-vfx from a checkout")
    return folder


def block(plugin: Path, lib: Path | None) -> str:
    lines = [BEGIN, "import nuke"]
    if lib is not None:
        lines += ["import sys", f"sys.path.insert(0, {str(lib)!r})"]
    lines += [f"nuke.pluginAddPath({str(plugin)!r})", END]
    return "\n".join(lines) + "\n"


def with_block(text: str, new_block: str) -> str:
    """``text`` with its void-vfx block replaced by ``new_block`` (appended when absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        return text[:start] + new_block + text[end + len(END) :].lstrip("\n")
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + new_block


def copy_packages(lib: Path) -> None:
    for name in VENDORED:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            from void_vfx.errors import SpecError

            raise SpecError("install", f"{name} is not installed here: pip install {name}")
        target = lib / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            list(spec.submodule_search_locations)[0],
            target,
            ignore=shutil.ignore_patterns("__pycache__"),
        )


def run(args: argparse.Namespace) -> int:
    nuke_dir = Path(os.path.expanduser(args.nuke_dir))
    lib = None if args.no_rpyc else nuke_dir / LIB
    text = block(plugin_dir(), lib)
    if args.print:
        print(text, end="")
        if lib is not None:
            print(f"# and copy {', '.join(VENDORED)} into {lib}")
        return 0
    init = nuke_dir / "init.py"
    old = init.read_text() if init.is_file() else ""
    new = with_block(old, text)
    if lib is not None:
        copy_packages(lib)
    if new == old:
        print(f"void-vfx: {init} already loads void-vfx")
        return 0
    with atomic_target(init, suffix=".py") as tmp:
        Path(tmp).write_text(new)
    print(f"void-vfx: added the void-vfx lines to {init}; restart Nuke, then Tab > VOID Remove")
    return 0
