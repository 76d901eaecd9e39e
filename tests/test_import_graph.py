"""Data flows one way: the server builds on the core, the core never imports the server, and
neither package has an import cycle (every import counts, also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"void_vfx": REPO / "void_vfx", "void_vfx_server": REPO / "server"}


def _modules(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _imports(module: str, path: Path, is_package: bool) -> set[str]:
    """Every module named by an import statement of ``path``, relative ones resolved."""
    found: set[str] = set()
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[: len(base) - node.level + 1]
                target = ".".join(stem + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    mods = _modules(package)
    graph = {}
    for name, path in mods.items():
        named = _imports(name, path, path.name == "__init__.py")
        # A module's own parent packages are always loaded first: not an edge of a cycle.
        graph[name] = {m for m in named if m in mods and m != name and not name.startswith(m + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_core_never_imports_the_server() -> None:
    offenders = []
    for name, path in _modules("void_vfx").items():
        for target in _imports(name, path, path.name == "__init__.py"):
            if target.split(".")[0] == "void_vfx_server":
                offenders.append(f"{path.relative_to(REPO)} imports {target}")
        if 'import_module("void_vfx_server' in path.read_text():
            offenders.append(f"{path.relative_to(REPO)} loads void_vfx_server by name")
    assert offenders == []


def test_the_server_does_import_the_core() -> None:
    """The check above would pass on an empty graph: the server's imports of the core are seen."""
    seen = set()
    for name, path in _modules("void_vfx_server").items():
        seen |= {
            t for t in _imports(name, path, path.name == "__init__.py") if t.startswith("void_vfx.")
        }
    assert "void_vfx.render.engine" in seen and "void_vfx.errors" in seen


def test_no_import_cycle_in_either_package() -> None:
    for package in PACKAGES:
        assert _cycle(_graph(package)) is None, package


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
