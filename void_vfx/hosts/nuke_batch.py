"""Command-line Nuke: send a VOID Remove node without the UI, wait, exit with the job's status.

``nuke -t <void-vfx>/hosts/nuke/void_send.py [--script shot.nk] --node VOIDRemove`` runs
:func:`main`. In ``-t`` there is no GUI event loop, so the Send runs inline on the main thread
(renders with ``nuke.execute``, submit, follow, read-back) and prints the node's status lines.
"""

from __future__ import annotations

import argparse
import sys

import nuke

from void_vfx.hosts import nuke_send

#: Exit codes: the job finished (0), failed (1), was cancelled (2), or never ran (3).
EXIT = {"done": 0, "failed": 1, "cancelled": 2}
NOT_RUN = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nuke -t void_send.py", description=__doc__.splitlines()[0])
    p.add_argument("--script", default="", help="the .nk script to open first")
    p.add_argument("--node", required=True, help="the VOID Remove node's name (Group.Node inside)")
    p.add_argument("--save", action="store_true", help="save the script after the read-back")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if nuke.GUI:
        print("void-vfx: run this with 'nuke -t', not inside the GUI", file=sys.stderr)
        return NOT_RUN
    if args.script:
        nuke.scriptOpen(args.script)
    group = nuke.toNode(args.node)
    if group is None or group.knob("send") is None or group.knob("void_state") is None:
        print(f"void-vfx: no VOID Remove node named {args.node!r} in the script", file=sys.stderr)
        return NOT_RUN
    sender = nuke_send.send(group)
    line = group["status"].value()
    print(f"void-vfx: {args.node}: {line}")
    if sender is None:
        return NOT_RUN
    if args.save and sender.state == "done":
        nuke.scriptSave()
    return EXIT.get(sender.state, NOT_RUN)
