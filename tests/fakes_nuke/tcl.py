"""The TCL that file and string knobs may hold, as far as Nuke scripts use it in paths.

Foundry's Python reference (``nuke.filename``): "All expressions in the filename are evaluated";
the Nuke user guide's file-path examples use ``[value root.name]``, ``[file dirname ...]``,
``[getenv NAME]`` and ``[python {...}]``; deadline-cloud-for-nuke's ``assets.py`` evaluates them
(``nuke.filename(node)``, ``knob.getEvaluatedValue()``) rather than sending the raw text. Frame and
view tokens (``%04d``, ``####``, ``%V``) are left as they are. A command not written here raises,
so a path the fake cannot evaluate fails the test instead of passing through raw.
"""

from __future__ import annotations

import os


def substitute(text: str, node) -> str:
    """``text`` with every ``[...]`` replaced by its value (innermost first, as TCL does)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "[":
            end = _closing(text, i)
            out.append(_command(substitute(text[i + 1 : end], node), node))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    depth, brace = 0, 0
    for j in range(start, len(text)):
        c = text[j]
        if c == "{":
            brace += 1
        elif c == "}":
            brace -= 1
        elif brace == 0 and c == "[":
            depth += 1
        elif brace == 0 and c == "]":
            depth -= 1
            if depth == 0:
                return j
    raise SyntaxError(f"fake nuke: unbalanced [ in {text!r}")


def _command(cmd: str, node) -> str:
    words = cmd.strip().split(None, 1)
    if not words:
        return ""
    head, rest = words[0], (words[1] if len(words) > 1 else "").strip()
    module = node._module
    if head == "value":
        owner_name, _, knob = rest.rpartition(".")
        owner = (
            module.root()
            if owner_name == "root"
            else (module.toNode(owner_name) if owner_name else node)
        )
        if knob == "name" and owner is module.root():
            return module.root().name()
        return str(owner[knob].value())
    if head == "file" and rest.startswith("dirname "):
        return os.path.dirname(rest[len("dirname ") :].strip())
    if head == "getenv":
        return os.environ.get(rest, "")
    if head == "python":
        code = rest[1:-1] if rest.startswith("{") and rest.endswith("}") else rest
        return str(eval(code, {"nuke": module}))  # noqa: S307 - Nuke evaluates it the same way
    raise NotImplementedError(f"fake nuke: TCL command {head!r} is not played by the fake")
