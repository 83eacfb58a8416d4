"""The shape of the code: the import graph has no cycle, the core names no benchmark, the wheel holds every
module of the tree."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zcbench.registry import list_benchmarks

REPO = Path(__file__).resolve().parents[1]
#: import name -> folder of the repository (pyproject.toml / setup.py map them the same way)
ROOTS = {"zcbench": "zcbench", "zcbench.proxies": "proxies", "zcbench.baselines": "baselines",
         "zcbench.benchmarks": "benchmarks", "zcbench.figures": "figures"}
#: the CLI may name a default benchmark (`--bench nb201`); nothing else under zcbench/ may
CLI_MODULES = {"zcbench.cli", "zcbench.cli_figures", "zcbench.clikit"}


def package_modules() -> dict[str, Path]:
    """Every module of the zcbench namespace with its source file."""
    modules = {}
    for package, root in ROOTS.items():
        for path in sorted((REPO / root).rglob("*.py")):
            parts = list(path.relative_to(REPO / root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = package_modules()


def imports_of(name: str, path: Path) -> set[str]:
    """The zcbench modules `name` imports anywhere in its code (lazy imports inside functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `from zcbench.store import Store` -> zcbench.store
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def test_the_import_graph_has_no_cycle():
    graph = {name: imports_of(name, path) for name, path in MODULES.items()}
    assert len(graph) > 50
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def _names_in_code(path: Path) -> set[str]:
    """String constants and identifiers of a module, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names.add(node.value)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.split(".")[1:2] not in (["benchmarks"],)
                                          and m not in CLI_MODULES))
def test_the_core_names_no_benchmark(module):
    """The core, the proxies and the figures find benchmarks through the registry; each benchmark keeps its own
    facts (datasets, readers, ground truth, the paper's numbers)."""
    benchmarks = set(list_benchmarks())
    mentioned = {text for text in _names_in_code(MODULES[module])
                 if any(bench in text.lower().replace("-", "") for bench in benchmarks)}
    assert not mentioned, f"{module} names a benchmark: {sorted(mentioned)}"


def test_a_built_wheel_holds_every_module_and_data_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("zcbench-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{name.replace('.', '/')}{'/__init__' if path.name == '__init__.py' else ''}.py"
                for name, path in MODULES.items()}
    missing = sorted(expected - inside)
    assert not missing, f"modules missing from the wheel: {missing}"
    data = {"zcbench/" + str(p.relative_to(REPO)) for p in (REPO / "benchmarks").rglob("*.txt")}
    assert data and not sorted(data - inside), f"data files missing from the wheel: {sorted(data - inside)}"
