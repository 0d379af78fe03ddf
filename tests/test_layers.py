"""The package's layer rule, read from the source with ``ast`` (nothing is imported).

Every import statement counts, at module level or inside a function, and so do
``importlib.import_module("videomt...")`` calls with a constant name. A module may import its own
part of the package (``videomt.data.x`` -> ``videomt.data.y``) and the parts of lower layers,
never a part of its own layer or of a higher one, and no chain of imports may lead back to where
it started.
"""

from __future__ import annotations

import ast
import functools
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "videomt"

# Parts of the package (the first name after ``videomt.``), bottom layer first.
LAYERS: list[set[str]] = [
    {"errors"},
    {"utils"},
    {"config", "cli"},
    {"data", "modeling"},
    {"postprocess", "checkpoint"},
    {"model", "hub"},
    {"evaluation"},
    {"engine", "inference"},
    {""},  # the package's __init__: the public entry points
]
LAYER_OF_PART = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def package_modules() -> dict[str, str]:
    """{dotted module name: file path} of every ``.py`` file of the package."""
    modules = {}
    for folder, subfolders, files in os.walk(os.path.join(ROOT, PACKAGE)):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            dotted = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
            modules[dotted.removesuffix(".__init__")] = path
    return modules


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(absolute dotted name, line) of everything the module's code imports; ``from P import n``
    gives ``P.n`` (which :func:`import_graph` reads as ``P`` when ``P.n`` is not a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # the package holding the module, then one level up per extra dot
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else None
            called = function.id if isinstance(function, ast.Name) else called
            first = node.args[0] if node.args else None
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    found.append((first.value, node.lineno))
    return found


@functools.cache
def import_graph() -> dict[str, dict[str, int]]:
    """{module: {imported package module: first line}}; a name that is not a module counts as
    its nearest enclosing module (``from .x import f`` -> ``x``)."""
    modules = package_modules()
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
        for name, line in imported_names(tree, module, path.endswith("__init__.py")):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                graph[module].setdefault(name, line)
    return graph


def part_of(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as a closed path of module names, or None (depth-first search)."""
    state: dict[str, str] = {}  # module -> "open" while on the current path, "done" after
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module) for module in package_modules()}
    unplaced = sorted(parts - set(LAYER_OF_PART))
    assert not unplaced, f"parts of videomt in no layer of tests/test_layers.py: {unplaced}"


def test_imports_only_go_downwards():
    graph = import_graph()
    upward = []
    for module, targets in sorted(graph.items()):
        source_part = part_of(module)
        for target, line in sorted(targets.items()):
            target_part = part_of(target)
            if source_part == target_part or source_part not in LAYER_OF_PART:
                continue
            if LAYER_OF_PART.get(target_part, -1) >= LAYER_OF_PART[source_part]:
                upward.append(f"{module} (line {line}) imports {target}")
    assert not upward, "imports that do not go to a lower layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    graph = {"videomt.data.a": {"videomt.data.b": 1}, "videomt.data.b": {"videomt.data.a": 3}}
    assert find_cycle(graph) == ["videomt.data.a", "videomt.data.b", "videomt.data.a"]
    assert find_cycle({"videomt.data.a": {"videomt.utils.x": 1}, "videomt.utils.x": {}}) is None
    tree = ast.parse("from ..engine import trainer\nimport videomt.utils.files\n")
    names = imported_names(tree, "videomt.data.build", is_package=False)
    assert ("videomt.engine.trainer", 1) in names and ("videomt.utils.files", 2) in names
    assert LAYER_OF_PART["engine"] > LAYER_OF_PART["data"]
