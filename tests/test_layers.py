"""The packages form a DAG, schemas <- paperlake <- assets <- pipelines, and the core never imports Dagster.
Inside the core, every module belongs to one stage; a stage imports only the stages below it, and no two
core modules import each other, directly or round a longer circle.

Every import statement counts, at module level or inside a function: a lazy import is still a dependency."""

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

LAYERS = ("schemas", "paperlake", "assets", "pipelines")  # each may import only those before it
NO_DAGSTER = ("schemas", "paperlake")
STAGES = {  # the core's stages, lowest first: each may import its own and those before it
    "base": {"config", "duck", "frames", "normalize", "parallel", "progress"},
    "lake": {"lake", "commit", "changes"},
    "ingest": {"landing", "decode", "dates", "parse", "entries", "validate", "ingest"},
    "resolve": {"match", "resolve"},
    "enrich": {"enrich"},
    "serve": {"fulltext", "warehouse", "audit", "report", "db", "diff", "digest"},
    "run": {"state", "plan", "steps"},
}
STAGE_OF = {module: stage for stage, modules in STAGES.items() for module in modules}


def core_imports(path: Path) -> set[str]:
    """The core modules a core module imports (`from paperlake import x`, `from paperlake.x import y`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "paperlake":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("paperlake."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("paperlake.")}
    return found - {path.stem}


def core_graph(root: Path) -> dict[str, set[str]]:
    """Module → the core modules it imports; a package (a folder of modules) counts as one module."""
    graph = {path.stem: core_imports(path) for path in sorted(root.glob("*.py")) if path.stem != "__init__"}
    for package in sorted(p for p in root.iterdir() if (p / "__init__.py").exists()):
        graph[package.name] = set().union(*map(core_imports, package.glob("*.py"))) - {package.name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, as the modules round it (depth-first search; each circle reported once)."""
    found, state = [], dict.fromkeys(graph, 0)  # 0 unseen, 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                found.append([*path[path.index(dep) :], dep])
            elif state.get(dep) == 0:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in graph:
        if state[module] == 0:
            visit(module, [module])
    return found


def imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file, relative imports resolved to its package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, package if node.level else (node.module or "").split(".")[0]))
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importer package, imported package, where) for every import between the layered packages."""
    return [
        (package, module, f"{path.relative_to(ROOT)}:{line}")
        for package in LAYERS
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imports(path, package)
        if module in LAYERS or module.startswith("dagster")
    ]


def test_every_import_points_down_the_layers():
    upward = [
        f"{where}: {package} imports {module}"
        for package, module, where in edges()
        if module in LAYERS and LAYERS.index(module) > LAYERS.index(package)
    ]
    assert upward == []


@pytest.mark.parametrize("package", NO_DAGSTER)
def test_the_core_and_the_contract_never_import_dagster(package):
    found = [
        where for importer, module, where in edges() if importer == package and module.startswith("dagster")
    ]
    assert found == []


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    """A guard on the guard: imports inside functions and relative imports are found, with their lines."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os\n\ndef f():\n    from pipelines import run\n    import dagster.x\n    from . import y\n"
    )
    assert imports(probe, "paperlake") == [(1, "os"), (4, "pipelines"), (5, "dagster"), (6, "paperlake")]


def test_no_import_circle_between_core_modules():
    assert circles(core_graph(ROOT / "paperlake")) == []


def test_every_core_module_has_a_stage_and_imports_only_stages_below():
    graph = core_graph(ROOT / "paperlake")
    assert set(graph) == set(STAGE_OF), "place each core module in a stage of STAGES"
    order = list(STAGES)
    upward = [
        f"{module} ({STAGE_OF[module]}) imports {dep} ({STAGE_OF[dep]})"
        for module, deps in graph.items()
        for dep in deps
        if order.index(STAGE_OF[dep]) > order.index(STAGE_OF[module])
    ]
    assert upward == []


def test_the_circle_and_stage_guards_see_what_they_must(tmp_path):
    """A guard on the guards: a two-module circle through a lazy import, a three-module circle and an
    upward import are each found."""
    (tmp_path / "a.py").write_text("from paperlake import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from paperlake.a import x\n")
    (tmp_path / "c.py").write_text("import paperlake.d\n")
    (tmp_path / "d.py").write_text("from paperlake.e import y\n")
    (tmp_path / "e.py").write_text("from paperlake import c, config\n")
    graph = core_graph(tmp_path)
    assert graph["e"] == {"c", "config"}
    assert sorted(map(sorted, circles(graph))) == [["a", "a", "b"], ["c", "c", "d", "e"]]
    assert circles({"x": {"y"}, "y": set()}) == []
