"""The ``void-vfx`` command line.

Each subcommand lives in the module that owns its logic: this file only lists them. A command
module provides ``add_<name>_arguments(parser)`` and ``run_<name>(args) -> int`` (dashes in the
command name become underscores). Modules are imported only when their command is built, so
``void-vfx plan`` stays light.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from void_vfx import __version__
from void_vfx.cli.extras import missing_module_message
from void_vfx.errors import VoidVfxError

#: (command, module, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("plan", "void_vfx.cli.plan", "print the temporal window plan of a shot"),
    ("remove", "void_vfx.cli.remove", "remove an object from a shot through a server"),
    ("jobs", "void_vfx.cli.remove", "list the server's jobs"),
    ("cancel", "void_vfx.cli.remove", "cancel a job"),
    ("doctor", "void_vfx.cli.remove", "check GPU, weights, OCIO and server, and say what to fix"),
    ("conform", "void_vfx.cli.conform", "removals for every marked shot of an edit, conformed"),
    ("demo", "void_vfx.demo.run", "remove an object from a generated demo shot, end to end"),
    ("install", "void_vfx.cli.install", "hook void-vfx into a host: install nuke|resolve"),
    ("panel", "void_vfx.cli.panel", "open the job panel in a window of its own"),
    ("farm", "void_vfx.cli.farm", "write or submit a farm job: openjd bundle or OpenCue"),
]


def all_commands() -> list[tuple[str, str, str]]:
    """The core's commands and those the server package adds (``serve``, ``fetch-weights``)
    where it is installed."""
    from void_vfx.server_entry import server_api, server_installed

    extra = server_api().COMMANDS if server_installed() else []
    return COMMANDS + list(extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="void-vfx",
        description="VOID object and interaction removal for VFX plates.",
    )
    parser.add_argument("--version", action="version", version=f"void-vfx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, summary in all_commands():
        attr = name.replace("-", "_")
        try:
            module = importlib.import_module(module_name)
            add = getattr(module, f"add_{attr}_arguments")
            run = getattr(module, f"run_{attr}")
        except (ImportError, AttributeError) as exc:
            why = (missing_module_message(exc) if isinstance(exc, ImportError) else None) or exc
            p = sub.add_parser(name, help=f"{summary} (unavailable: {why})")
            p.set_defaults(_unavailable=f"{name} is unavailable: {why}")
            continue
        p = sub.add_parser(name, help=summary, description=summary)
        add(p)
        p.set_defaults(_run=run)
    return parser


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (it holds the command's options), else ``parser`` itself."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def unknown_option_message(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> str:
    """``unrecognized arguments`` with, for a misspelt option, the nearest one the command takes."""
    import difflib

    options: list[str] = []
    for action in command_parser(parser, command)._actions:
        options.extend(o for o in action.option_strings if o.startswith("--"))
    words = []
    for arg in extra:
        flag = arg.split("=", 1)[0]
        near = difflib.get_close_matches(flag, options, n=1, cutoff=0.6) if flag[:2] == "--" else []
        words.append(f"{arg} (did you mean {near[0]}?)" if near else arg)
    return f"unrecognized arguments: {' '.join(words)}; 'void-vfx {command} --help' lists them"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        command_parser(parser, args.command or "").print_usage(sys.stderr)
        print(
            f"void-vfx {args.command or ''}: error: "
            f"{unknown_option_message(parser, args.command or '', extra)}",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "_unavailable", None):
        print(f"void-vfx: {args._unavailable}", file=sys.stderr)
        return 2
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 1
    try:
        return int(run(args) or 0)
    except VoidVfxError as exc:
        print(f"void-vfx {args.command}: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        # A module of an optional extra that this install lacks: say what to install.
        text = missing_module_message(exc)
        if text is None:
            raise
        print(f"void-vfx {args.command}: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("void-vfx: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
