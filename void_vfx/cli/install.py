"""``void-vfx install nuke|resolve``: hook void-vfx into a host's start-up.

Each target is a module providing ``add_arguments(parser)`` and ``run(args) -> int``; a target
whose module is not in this installation is listed with a message saying so.
"""

from __future__ import annotations

import argparse
import importlib

#: target -> the module that installs it
TARGETS = {"nuke": "void_vfx.hosts.nuke_install", "resolve": "void_vfx.hosts.resolve_install"}


def add_install_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    sub.required = True
    for target, module_name in TARGETS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as ex:
            if ex.name != module_name:
                raise
            t = sub.add_parser(target, help=f"{target} (not available in this installation)")
            t.set_defaults(
                _unavailable=f"install {target} is not available: this installation has no "
                f"{module_name}; update void-vfx to a version that has it"
            )
            continue
        t = sub.add_parser(target, help=(module.__doc__ or target).strip().splitlines()[0])
        module.add_arguments(t)
        t.set_defaults(_install=module.run)


def run_install(args: argparse.Namespace) -> int:
    return int(args._install(args) or 0)
