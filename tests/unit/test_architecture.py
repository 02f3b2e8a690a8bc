"""The layers of ``cube/`` as docs/architecture.md draws them, checked on the source (AST).

- Packages import only the packages below them (``LAYERS``), so no import cycle can form
  between packages; inside ``cube/`` no import cycle exists at all, not even through an
  import inside a function.
- Another package is used through its public names: no ``from cube.x._module import ...``
  and no ``_private`` name across packages.
- Only ``cube/api`` imports fastapi or starlette; nothing in ``cube/`` imports Mangum or
  aws-lambda-powertools (the Lambda glue is in ``functions/``), and boto3 is imported only
  inside functions (never when a module is imported).
- The registry, the options and the addresses import without numba or xarray.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CUBE = ROOT / "cube"

#: package → the cube packages (and top-level modules) it may import, besides itself.
BASE = {"cube", "cube.errors"}
LAYERS: dict[str, set[str]] = {
    "cube.errors": set(),
    "cube.format": BASE,
    "cube.kernels": BASE,
    "cube.geometry": BASE | {"cube.format", "cube.kernels"},
    "cube.storage": BASE | {"cube.format"},
    "cube.products": BASE | {"cube.format", "cube.kernels", "cube.geometry", "cube.storage"},
    "cube.catalog": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products"},
    "cube.ingest": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products", "cube.catalog"},
    "cube.simulate": BASE | {"cube.format", "cube.geometry", "cube.kernels"},
    "cube.materialize": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products"},
    "cube.config": BASE | {"cube.storage", "cube.materialize"},
    "cube.isce2": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products", "cube.materialize"},
    "cube.jobs": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products", "cube.materialize",
                         "cube.config", "cube.isce2"},
    "cube.keepup": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products", "cube.materialize",
                           "cube.catalog", "cube.ingest", "cube.jobs"},
    "cube.verify": BASE | {"cube.format", "cube.storage", "cube.products", "cube.materialize", "cube.ingest"},
    "cube.api": BASE | {"cube.format", "cube.geometry", "cube.storage", "cube.products", "cube.materialize",
                        "cube.catalog", "cube.config", "cube.jobs", "cube.keepup"},
    "cube.demo": BASE | {"cube.ingest", "cube.products", "cube.storage", "cube.simulate", "cube.api"},
    "cube.cli": {"*"},  # the command line may use everything (each command imports what it needs)
    "cube": set(),
}
WEB = ("fastapi", "starlette")
NEVER = ("mangum", "aws_lambda_powertools")


def _modules() -> dict[str, Path]:
    out = {}
    for path in CUBE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _package(module: str) -> str:
    """``cube.x`` of any module of package ``cube.x`` (or the top-level module itself)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) of the imports that run when ``module`` is imported:
    module level, outside ``if TYPE_CHECKING:`` and outside functions."""
    tree = ast.parse(MODULES[module].read_text())
    found: list[tuple[str, list[str], int]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((a.name, [], node.lineno) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.append((_absolute(module, node), [a.name for a in node.names], node.lineno))
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return found


def _all_imports(module: str) -> list[tuple[str, list[str], int]]:
    """Every import of ``module``, wherever it is (functions included)."""
    tree = ast.parse(MODULES[module].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((_absolute(module, node), [a.name for a in node.names], node.lineno))
    return found


def _target(imported: str, names: list[str]) -> list[str]:
    """The cube modules whose names an import statement needs: the submodules of ``from pkg
    import submodule`` (not ``pkg``, which may still be initializing), else the module."""
    submodules = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in MODULES]
    if submodules and len(submodules) == len(names):
        return submodules
    return ([imported] if imported in MODULES else []) + submodules


def test_every_package_has_a_layer():
    missing = sorted({_package(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"packages without a layer in LAYERS (and docs/architecture.md): {missing}"


def test_packages_import_only_the_layers_below_them():
    bad = []
    for module in MODULES:
        allowed = LAYERS[_package(module)]
        if "*" in allowed:
            continue
        for imported, _, line in _all_imports(module):
            if not imported.startswith("cube"):
                continue
            target = _package(imported)
            if target != _package(module) and target not in allowed:
                bad.append(f"{module}:{line} imports {imported}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycle_in_cube():
    """Not even through imports inside functions (which would only hide a cycle)."""
    graph = {m: set() for m in MODULES}
    for module in MODULES:
        for imported, names, _ in _all_imports(module):
            graph[module].update(t for t in _target(imported, names) if t != module)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(sorted(c)) for c in cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                out.append(component)
    return out


def test_no_reach_into_another_package():
    bad = []
    for module in MODULES:
        for imported, names, line in _all_imports(module):
            if not imported.startswith("cube.") or _package(imported) == _package(module):
                continue
            if any(p.startswith("_") for p in imported.split(".")):
                bad.append(f"{module}:{line} imports the private module {imported}")
            bad += [f"{module}:{line} imports the private name {imported}.{n}" for n in names
                    if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


def test_web_and_lambda_libraries_stay_where_they_belong():
    bad = []
    for module in MODULES:
        for imported, _, line in _all_imports(module):
            top = imported.split(".")[0]
            if top in NEVER:
                bad.append(f"{module}:{line} imports {imported} (Lambda glue belongs in functions/)")
            if top in WEB and _package(module) != "cube.api":
                bad.append(f"{module}:{line} imports {imported} (web code belongs in cube/api)")
        for imported, _, line in _top_level_imports(module):
            if imported.split(".")[0] in ("boto3", "botocore"):
                bad.append(f"{module}:{line} imports {imported} at import time (import it where it is used)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["cube.products", "cube.format", "cube.config"])
def test_metadata_imports_without_numba_or_xarray(module):
    if module not in MODULES:
        pytest.fail(f"{module} is missing")
    code = (f"import sys, {module}; heavy = [m for m in ('numba', 'xarray', 'zarr', 'fastapi') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"import {module} loads {out.stdout.strip()}"


#: What ``sarcube --help`` and ``sarcube info`` must not load (seconds of imports between them).
CLI_HEAVY = ("numpy", "numba", "xarray", "pandas", "zarr", "tifffile", "fastapi", "cube.storage", "cube.catalog")
INFO_SAFE = "xarray-sentinel/tests/data/S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE"


@pytest.mark.parametrize("argv", [["--help"], ["info", "--json", "SAFE"]], ids=["help", "info"])
def test_cli_metadata_commands_stay_light(argv):
    """``sarcube --help`` and ``sarcube info`` import none of the array, storage or web stacks."""
    from conftest import shared_path

    argv = [str(shared_path(INFO_SAFE)) if a == "SAFE" else a for a in argv]
    code = ("import contextlib, io, sys\nfrom cube.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        code = main(sys.argv[1:])\n    except SystemExit as exc:\n        code = exc.code\n"
            f"heavy = [m for m in {CLI_HEAVY!r} if m in sys.modules]\n"
            "print(code, len(out.getvalue()), ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, cwd=ROOT)
    status, length, heavy = (out.stdout.split() + [""])[:3]
    assert status == "0" and int(length) > 200, f"sarcube {' '.join(argv)} failed: {out.stdout}{out.stderr}"
    assert not heavy, f"sarcube {' '.join(argv)} loads {heavy}"
