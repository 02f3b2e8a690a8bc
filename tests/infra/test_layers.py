"""layers/: the ApiLayer build script and its requirements, checked without building (the build
downloads wheels; it is run by hand or by sam build).

The import check walks the source of the API handler and the routers it serves (AST, no import),
follows ``cube.*`` and ``functions.*`` (the Lambda glue) imports through the repository, and asks, for every third-party module, whether
the layer installs its distribution (the requirements plus their dependencies in uv.lock).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra import _chain

REPO = _chain.REPO
LAYERS = REPO / "layers"
BUILD = LAYERS / "build.sh"
BASH = "/bin/bash"

#: What the ApiFunction serves (template.yaml routes): its handler and these routers.
API_ROOTS = ["functions/api/handler.py", "cube/api/stac.py", "cube/api/viewer/__init__.py"]
#: Distributions the python3.11 Lambda runtime provides.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
#: Imports inside functions that the zip function may lack, keyed by (importing module, imported
#: cube package), with why that is acceptable. Everything else must be in the layer.
LAZY_OUTSIDE_LAYER = {
    ("functions.lambda_glue", "cube.api"):
        "image_function() builds the image functions' app (numba); the zip function calls only "
        "make_powertools, lambda_settings and make_http_handler",
    ("cube.config", "cube.materialize"):
        "make_engine() builds the lazy engine (numba) of the image functions; the zip function "
        "reads the settings only",
    ("cube.api", "cube.api"):
        "cube/api/__init__.py imports the app factory on first use of cube.api.create_app; the zip "
        "function imports cube.api.stac only",
    ("cube.catalog._index", "cube.geometry"):
        "pair baselines: computed when the index is written (ingest, the keep-up image), not read",
    ("cube.catalog._index_store", "cube.geometry"):
        "burst grids: computed when a date is indexed (ingest), not when /stac reads the index",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, dict]:
    return {_norm(p["name"]): p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}


def _requirements(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(_norm(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0]))
    return names


def _layer_distributions() -> set[str]:
    """The requirements and everything they depend on in uv.lock (markers ignored, extras not taken)."""
    lock = _lock()
    todo, seen = list(_requirements(LAYERS / "requirements.txt")), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [_norm(d["name"]) for d in lock[name].get("dependencies", [])]
    return seen


# ---------------------------------------------------------------------------------------- import walk


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    module: str  # absolute dotted name imported
    lazy: bool  # inside a function body


def _module_file(name: str, handler_dir: Path) -> Path | None:
    parts = name.split(".")
    for base in (REPO, handler_dir):
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def _imports(path: Path, module: str) -> list[Import]:
    """Imports of one file; ``if TYPE_CHECKING:`` blocks skipped, relative imports made absolute."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.orelse:
                    visit(sub, lazy)
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(Import(module, a.name, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                out.append(Import(module, target, lazy))
                # "from pkg import sub" may name a submodule.
                out.extend(Import(module, f"{target}.{a.name}", lazy) for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return out


Gates = frozenset[tuple[str, str]]


def _walk(roots: list[Path]) -> tuple[list[tuple[Import, Gates]], set[str]]:
    """Third-party imports reachable from ``roots``, each with its gates: the lazy (importer, cube
    package) edges on the way there (empty if reached through module-level imports only)."""
    found: list[tuple[Import, Gates]] = []
    seen: dict[str, list[Gates]] = {}
    handler_dir = REPO / "functions" / "api"
    local = {p.stem for p in handler_dir.glob("*.py")} if handler_dir.is_dir() else set()
    stack: list[tuple[str, Path, Gates]] = []
    for root in roots:
        rel = root.relative_to(REPO).with_suffix("")
        name = rel.name if root.parent == handler_dir else ".".join(rel.parts)
        stack.append((name, root, frozenset()))
    while stack:
        name, path, gates = stack.pop()
        if any(g <= gates for g in seen.get(name, [])):
            continue  # already reached with no more lazy edges than this
        seen.setdefault(name, []).append(gates)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parts = name.split(".")
        for i in range(1, len(parts)):
            f = _module_file(".".join(parts[:i]), handler_dir)
            if f is not None:
                stack.append((".".join(parts[:i]), f, gates))
        for imp in _imports(path, name):
            top = imp.module.split(".")[0]
            if top in ("cube", "functions") or top in local:
                f = _module_file(imp.module, handler_dir)
                if f is not None:
                    edge = (name, ".".join(imp.module.split(".")[:2]))
                    stack.append((imp.module, f, gates | {edge} if imp.lazy else gates))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.append((imp, gates | {(name, top)} if imp.lazy else gates))
    return found, set(seen)


def test_requirements_are_locked_and_the_overrides_apply() -> None:
    lock = _lock()
    names = _requirements(LAYERS / "requirements.txt")
    assert names and len(names) == len(set(names))
    assert [n for n in names if n not in lock] == []
    # Nothing heavy: the functions that compute chunks are container images.
    assert not {"numba", "llvmlite", "scipy", "titiler-xarray", "dask", "rasterio"} & _layer_distributions()
    # Each Amazon Linux 2 override bounds a package the layer installs, below its locked version.
    for name in _requirements(LAYERS / "al2-overrides.txt"):
        assert name in _layer_distributions(), name
    overrides = {_norm(m.group(1)): m.group(2) for m in
                 re.finditer(r"^([\w.-]+)<([\d.]+)$", (LAYERS / "al2-overrides.txt").read_text(), re.M)}
    for name, bound in overrides.items():
        locked = tuple(int(x) for x in lock[name]["version"].split(".")[:2])
        assert locked >= tuple(int(x) for x in bound.split(".")[:2]), f"{name}: the override is not needed"


def test_api_function_imports_are_in_the_layer() -> None:
    roots = [REPO / r for r in API_ROOTS if (REPO / r).is_file()]
    assert roots, "none of the API function's modules exist"
    provided = _layer_distributions() | RUNTIME
    dists = {k: {_norm(d) for d in v} for k, v in importlib.metadata.packages_distributions().items()}
    found, visited = _walk(roots)
    assert "cube.api.stac" in visited or "handler" in visited
    assert "functions.lambda_glue" in visited
    missing: dict[tuple[str, str], str] = {}
    for imp, gates in sorted(found, key=lambda f: len(f[1]), reverse=True):  # the most direct path wins
        top = imp.module.split(".")[0]
        owners = dists.get(top)
        if gates & set(LAZY_OUTSIDE_LAYER):
            continue  # e.g. isce, imported lazily by the ISCE2 engine and installed by conda only
        assert owners, f"{imp.importer} imports {top}, which no installed distribution provides"
        if owners & provided:
            continue
        via = f", reached lazily through {', '.join(f'{a} → {b}' for a, b in sorted(gates))}" if gates else ""
        missing[(imp.importer, top)] = f"{imp.importer}: import {imp.module} ({', '.join(sorted(owners))}){via}"
    assert not missing, "the ApiLayer lacks:\n" + "\n".join(sorted(missing.values()))


def test_build_script_syntax() -> None:
    subprocess.run([BASH, "-n", str(BUILD)], check=True)


@pytest.mark.parametrize(("arch", "platform"), [("x86_64", "x86_64-manylinux2014"),
                                                 ("arm64", "aarch64-manylinux2014")])
def test_dry_run_targets_the_lambda_platform(arch: str, platform: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([BASH, str(BUILD), "--dry-run", "--arch", arch, "--out", str(out)],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "UV": "uv"})
    commands = [line[2:] for line in run.stdout.splitlines() if line.startswith("+ ")]
    install = next(c for c in commands if " pip install " in c)
    assert f"--target {out}/python " in install
    assert f"--python-platform {platform} " in install and "--python-version 3.11 " in install
    assert "--only-binary=:all:" in install and f"-r {LAYERS}/requirements.txt" in install
    assert "--link-mode copy" in install  # never edit files hard-linked into uv's cache
    export = next(c for c in commands if " export " in c)
    assert "--frozen" in export and "--no-dev" in export
    assert any(c == f"cp -R {REPO}/cube {out}/python/cube" for c in commands)
    # the Lambda glue the handler imports is not in the cube package
    assert f"cp {REPO}/functions/__init__.py {REPO}/functions/lambda_glue.py {out}/python/functions/" in commands
    assert not out.exists()  # a dry run writes nothing


def test_arch_from_the_environment() -> None:
    run = subprocess.run([BASH, str(BUILD), "--dry-run"], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "UV": "uv", "ARCH": "arm64"})
    assert "--python-platform aarch64-manylinux2014 " in run.stdout


def test_bad_arguments_are_refused() -> None:
    for args in (["--arch", "ppc64le"], ["--bogus"]):
        run = subprocess.run([BASH, str(BUILD), "--dry-run", *args], capture_output=True, text=True)
        assert run.returncode == 2 and "build.sh:" in run.stderr


def test_makefile_target_for_sam_build(tmp_path: Path) -> None:
    """sam build runs `make build-ApiLayer` with ARTIFACTS_DIR; the target builds there."""
    run = subprocess.run(["make", "-n", "-f", str(LAYERS / "Makefile"), "build-ApiLayer",
                          f"ARTIFACTS_DIR={tmp_path}"], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert f'build.sh" --arch "x86_64" --out "{tmp_path}"' in run.stdout
    sam = _chain.load_template()["Resources"]["ApiLayer"]
    assert sam["Metadata"]["BuildMethod"] == "makefile" and sam["Properties"]["ContentUri"] == "layers/"
