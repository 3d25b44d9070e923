"""The house: rooms with names, imports that point down, no circle, and a small package root."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "momento"

# Each room may import only from rooms on lower floors (and from itself): values at the bottom, then the pure
# media helpers, the adapters, the catalog's search, the features (accounts, jobs, uploads, sharing), the
# operators' tools, and at the top the web and the command line. The package's own __init__ (the factory that
# wires everything) stands above them all.
FLOORS = [
    {"errors"}, {"formats"}, {"models"},
    {"media"}, {"config"}, {"extensions", "memory"}, {"aws"},
    {"storage"}, {"catalog"}, {"search"}, {"migrate"}, {"backends"},
    {"accounts"}, {"jobs"}, {"uploads"}, {"sharing"},
    {"ops"}, {"observe"},
    {"web"}, {"cli"},
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """The momento modules a module imports (relative imports resolved), wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("momento"):
                known = modules()
                submodules = {f"{target}.{alias.name}" for alias in node.names} & set(known)
                found.update(submodules)
                if len(submodules) < len(node.names):  # names defined in the module itself
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("momento"))
    known = modules()
    return {t for t in found if t in known and t != name}


def room(name: str) -> str:
    """momento.uploads.tus -> uploads; momento -> the factory."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "momento"


def test_every_room_has_a_floor():
    rooms = {room(name) for name in modules()} - {"momento"}
    assert rooms <= set(FLOOR), f"rooms without a floor: {sorted(rooms - set(FLOOR))}"


def test_imports_point_down():
    upward = []
    for name, path in modules().items():
        here = room(name)
        if here == "momento":
            continue
        for target in imports(name, path):
            there = room(target)
            if there == "momento" or (there != here and FLOOR[there] >= FLOOR[here]):
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that run up or sideways:\n" + "\n".join(sorted(upward))


def test_no_circle():
    graph = {name: imports(name, path) for name, path in modules().items()}
    graph = {n: {t for t in targets if not n.startswith(t + ".")} for n, targets in graph.items()}  # a package's own __init__
    seen, stack, circles = set(), [], []

    def visit(node):
        if node in stack:
            circles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        stack.pop()

    for name in sorted(graph):
        visit(name)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_a_small_package_root():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= 12, root


@pytest.mark.parametrize("name", sorted(n for n, p in modules().items() if p.name == "__init__.py"))
def test_every_package_says_what_it_holds(name):
    text = modules()[name].read_text()
    assert ast.get_docstring(ast.parse(text)), f"{name} has no docstring"
