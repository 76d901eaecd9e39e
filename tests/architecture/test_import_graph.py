"""Data flows one way: the server builds on the core, the core never imports the server, and
neither package has an import cycle (every import counts, also those inside functions)."""

from __future__ import annotations

import ast
import fnmatch
import functools
from pathlib import Path

import pytest

from void_vfx import HOST_MODULES

REPO = Path(__file__).resolve().parents[2]
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


@functools.cache
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


def _package_of(module: str) -> str:
    """``void_vfx.render.job`` -> ``void_vfx.render``; a top-level module is its own package."""
    return ".".join(module.split(".")[:2])


def _package_graph(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, targets in _graph(package).items():
        graph.setdefault(_package_of(name), set())
        for target in targets:
            if _package_of(target) != _package_of(name):
                graph[_package_of(name)].add(_package_of(target))
                graph.setdefault(_package_of(target), set())
    return graph


def test_no_import_cycle_between_subpackages() -> None:
    """Subpackages layer too (job above media, cli above demo): no two import each other,
    directly or round a longer loop."""
    for package in PACKAGES:
        graph = _package_graph(package)
        assert len(graph) > 5, graph  # the graph is seen
        assert _cycle(graph) is None, package


def _load_time_imports(module: str, path: Path) -> set[str]:
    """The modules ``path`` imports when it loads: top-level statements, also under ``try`` and
    ``if`` (not ``if TYPE_CHECKING``), never inside functions."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imports_of(module, node, is_package))
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                walk(node.body)
                walk(node.orelse)

    walk(ast.parse(path.read_text(), str(path)).body)
    return found


def _imports_of(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        stem = base[: len(base) - node.level + 1]
        target = ".".join(stem + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return {target} | {f"{target}.{alias.name}" for alias in node.names}


def test_host_modules_load_only_host_modules() -> None:
    """What a host module loads is a host module itself, so void_vfx.HOST_MODULES is the whole
    set a host's Python needs (tests/hosts/test_host_imports.py imports each without numpy)."""
    mods = _modules("void_vfx")
    assert set(HOST_MODULES) <= set(mods), set(HOST_MODULES) - set(mods)
    outside = []
    for name in HOST_MODULES:
        for target in _load_time_imports(name, mods[name]):
            if target in mods and target not in HOST_MODULES:
                outside.append(f"{mods[name].relative_to(REPO)} loads {target}")
    assert outside == [], (
        "a host module loads a module outside void_vfx.HOST_MODULES: import it inside the "
        "function that needs it, or (if it loads with the standard library and rpyc alone) add "
        f"it to HOST_MODULES and to pyproject's per-file ignores: {outside}"
    )


def _expand(pattern: str) -> list[str]:
    """A ruff glob's ``{a,b}`` alternatives, expanded."""
    head, brace, rest = pattern.partition("{")
    if not brace:
        return [pattern]
    inner, _, tail = rest.partition("}")
    return [x for alt in inner.split(",") for x in _expand(head + alt + tail)]


def test_ruff_lints_every_host_module_for_python39() -> None:
    """Host modules run on Nuke 14's Python 3.9: pyproject relaxes the rules that would ask for
    3.10 syntax (B905 zip(strict=), UP038 isinstance(x, A | B)) on each of them."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    ignores = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"][
        "per-file-ignores"
    ]
    relaxed = [pattern for pattern, rules in ignores.items() if {"B905", "UP038"} <= set(rules)]
    globs = [g for pattern in relaxed for g in _expand(pattern)]
    mods = _modules("void_vfx")
    missed = [
        str(mods[name].relative_to(REPO))
        for name in HOST_MODULES
        if not any(fnmatch.fnmatch(str(mods[name].relative_to(REPO)), g) for g in globs)
    ]
    assert missed == [], f"add these host modules to pyproject's per-file ignores: {missed}"
    assert _expand("a/{b,c}/{d,e}.py") == ["a/b/d.py", "a/b/e.py", "a/c/d.py", "a/c/e.py"]
