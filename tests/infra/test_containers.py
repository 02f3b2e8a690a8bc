"""containers/ and functions/Dockerfile.image: every platform runs the same worker entrypoint,
the manifests parse, the scripts run, and the numba cache is built and carried where it is used.

Platform facts the checks encode (not read back from the files): ECS container overrides replace
the image's CMD, Cloud Run and Container Apps ``command`` replaces the ENTRYPOINT and ``args`` the
CMD, SLURM numbers array tasks in ``SLURM_ARRAY_TASK_ID``, Cloud Run tasks in
``CLOUD_RUN_TASK_INDEX``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import _chain

REPO = _chain.REPO
CONTAINERS = REPO / "containers"
WORKER_DOCKERFILE = CONTAINERS / "worker" / "Dockerfile"
LAMBDA_DOCKERFILE = REPO / "functions" / "Dockerfile.image"
SBATCH = CONTAINERS / "slurm" / "sarcube-array.sbatch"
BASH = shutil.which("bash") or "/bin/bash"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines, buf = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf += line.removesuffix("\\") + " "
        if not line.endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
            buf = ""
    return lines


def _exec_form(dockerfile: Path, instruction: str) -> list[str]:
    values = [json.loads(a) for i, a in _instructions(dockerfile) if i == instruction]
    assert values, f"{dockerfile.name} has no {instruction}"
    return values[-1]


def _fill(path: Path, **values: str) -> dict[str, Any]:
    """The manifest after ``envsubst '${A} ${B} ...'``: only ${NAME} forms, so the shell's $VAR stay."""
    text = path.read_text()
    names = set(re.findall(r"\$\{(\w+)\}", text))
    assert names <= set(values), f"{path.name}: no sample value for {sorted(names - set(values))}"
    return yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))


SAMPLE = {
    "IMAGE": "registry.invalid/sarcube-worker:1", "REGION": "europe-west1", "LOCATION": "westeurope",
    "SERVICE_ACCOUNT": "worker@project.iam.gserviceaccount.com", "JOB_URL": "s3://bucket/jobs/j1/job.json",
    "BURST_COUNT": "27", "PARALLELISM": "10", "CUBE_URL": "s3://bucket/cube", "ARD_URL": "s3://bucket/ard",
    "CATALOG_URL": "s3://bucket/catalog", "S3_ENDPOINT": "https://storage.invalid",
    "ENVIRONMENT_ID": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env",
    "ACR_SERVER": "registry.invalid",
}


def _worker_call(args: list[str]) -> list[str]:
    """The sarcube-worker argv a container's ``sh -c`` args run (shell words, quotes removed)."""
    assert args[:2] == ["sh", "-c"], args
    words = shlex.split(args[2])
    assert words[0] == "exec"
    return words[1:]


# ---------------------------------------------------------------------------------------- worker image


def test_worker_image_entrypoint_is_sarcube_worker() -> None:
    base = next(a for i, a in _instructions(WORKER_DOCKERFILE) if i == "FROM")
    assert base.startswith("mambaorg/micromamba:")
    entrypoint = _exec_form(WORKER_DOCKERFILE, "ENTRYPOINT")
    # micromamba's activation script, then the worker: arguments come from CMD or the platform.
    assert entrypoint == ["/usr/local/bin/_entrypoint.sh", "sarcube-worker"]
    assert _exec_form(WORKER_DOCKERFILE, "CMD") == ["--help"]


def test_worker_environment_has_isce2_from_conda_forge_and_the_package() -> None:
    env = yaml.safe_load((CONTAINERS / "worker" / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    names = {re.split(r"[=<>! ]", d.split("::")[-1])[0]: d for d in deps if isinstance(d, str)}
    assert names["isce2"].startswith("conda-forge::")
    # the same ISCE2 as `make isce2` builds from source for development and CI
    built = re.search(r"^ISCE2_VERSION := (\S+)$", (CONTAINERS.parent / "Makefile").read_text(), re.M).group(1)
    assert names["isce2"] == f"conda-forge::isce2={built}"
    assert names["python"] == "python=3.11"
    assert {"gdal", "pip"} <= set(names)
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict)]
    # pip installs the repository copy the Dockerfile puts there.
    assert pip == ["/opt/sarcube"]
    copies = [a for i, a in _instructions(WORKER_DOCKERFILE) if i == "COPY"]
    assert any(c.endswith(" /opt/sarcube/") and "pyproject.toml" in c for c in copies)
    assert any(c.endswith(" /opt/sarcube/cube/") for c in copies)


def test_package_declares_the_worker_entrypoint() -> None:
    """Every image and manifest here calls ``sarcube-worker``: pyproject must install it."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("scripts", {})
    assert "sarcube-worker" in scripts, "pyproject.toml [project.scripts] has no sarcube-worker"


def test_state_machine_passes_worker_arguments() -> None:
    """ECS overrides replace CMD, so the state machine's command is sarcube-worker's arguments."""
    sam = _chain.load_template()
    state = sam["Resources"]["FanoutStateMachine"]["Properties"]["Definition"]["States"]["FanOut"]
    task = state["ItemProcessor"]["States"]["RunBurst"]
    (override,) = task["Parameters"]["Overrides"]["ContainerOverrides"]
    args = re.fullmatch(r"States\.Array\((.*)\)", override["Command.$"]).group(1).split(", ")
    assert args[0] == "'--job'" and args[2] == "'--burst-index'"
    assert _exec_form(WORKER_DOCKERFILE, "ENTRYPOINT")[-1] == "sarcube-worker"


def test_cloud_run_job_runs_one_task_per_burst() -> None:
    job = _fill(CONTAINERS / "cloudrun-job.yaml", **SAMPLE)
    assert (job["apiVersion"], job["kind"]) == ("run.googleapis.com/v1", "Job")
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 27 and execution["parallelism"] == 10
    (container,) = execution["template"]["spec"]["containers"]
    assert container["image"] == SAMPLE["IMAGE"]
    assert container["command"] == _exec_form(WORKER_DOCKERFILE, "ENTRYPOINT")[:1]
    assert _worker_call(container["args"]) == ["sarcube-worker", "--job", "$SARCUBE_JOB",
                                               "--burst-index", "$CLOUD_RUN_TASK_INDEX"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SARCUBE_JOB"] == SAMPLE["JOB_URL"] and env["SARCUBE_CUBE_URL"] == SAMPLE["CUBE_URL"]


def test_container_apps_job_runs_a_burst_per_execution() -> None:
    job = _fill(CONTAINERS / "aca-job.yaml", **SAMPLE)
    assert job["type"] == "Microsoft.App/jobs"
    config = job["properties"]["configuration"]
    assert config["triggerType"] == "Manual"
    assert config["manualTriggerConfig"] == {"parallelism": 1, "replicaCompletionCount": 1}
    (container,) = job["properties"]["template"]["containers"]
    assert container["command"] == _exec_form(WORKER_DOCKERFILE, "ENTRYPOINT")[:1]
    assert _worker_call(container["args"]) == ["sarcube-worker", "--job", "$SARCUBE_JOB",
                                               "--burst-index", "$SARCUBE_BURST_INDEX"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SARCUBE_BURST_INDEX"] == "0" and env["SARCUBE_JOB"] == SAMPLE["JOB_URL"]


def test_singularity_definition_runs_the_worker() -> None:
    text = (CONTAINERS / "worker" / "worker.def").read_text()
    header = dict(re.findall(r"^(Bootstrap|From):\s*(\S+)", text, re.M))
    assert header["Bootstrap"] in ("docker-daemon", "docker")
    assert header["From"].split(":")[0].endswith("sarcube-worker")
    runscript = re.search(r"^%runscript\n(.*?)(?=^%|\Z)", text, re.M | re.S).group(1)
    assert runscript.split() == ["exec", "sarcube-worker", '"$@"']


def test_slurm_script_parses() -> None:
    subprocess.run([BASH, "-n", str(SBATCH)], check=True)
    assert re.search(r"^#SBATCH --array=", SBATCH.read_text(), re.M)


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_slurm_array_task_runs_its_burst(tmp_path: Path) -> None:
    """Run the sbatch script as array task 3 with a stand-in container runtime that records its argv."""
    bin_dir, scratch = tmp_path / "bin", tmp_path / "scratch"
    bin_dir.mkdir()
    scratch.mkdir()
    log = tmp_path / "calls"
    # The stand-in: log argv (one call per line); "cp" calls get done on the host.
    _fake(bin_dir, "apptainer", f'printf "%s\\n" "$*" >> "{log}"\n'
          'if [ "$3" = cp ]; then shift 3; mkdir -p "$3"; fi\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(scratch), "USER": "u",
           "SARCUBE_JOB": "/data/job.json", "SARCUBE_SIF": "/images/w.sif", "SLURM_ARRAY_TASK_ID": "3",
           "SLURM_CPUS_PER_TASK": "4"}
    subprocess.run([BASH, str(SBATCH)], env=env, check=True, capture_output=True)
    calls = log.read_text().splitlines()
    cache = f"{scratch}/sarcube-numba-cache-u"
    assert calls[0] == f"exec /images/w.sif cp -R /opt/numba-cache/. {cache}/"
    assert calls[-1] == (f"exec --bind {cache} /images/w.sif sarcube-worker --job /data/job.json "
                         "--burst-index 3")
    # The cache is copied once per node: a second task skips the copy.
    subprocess.run([BASH, str(SBATCH)], env={**env, "SLURM_ARRAY_TASK_ID": "4"}, check=True, capture_output=True)
    assert [c for c in log.read_text().splitlines() if " cp " in c] == calls[:1]
    # Without a job file the script refuses to start.
    bad = subprocess.run([BASH, str(SBATCH)], env={k: v for k, v in env.items() if k != "SARCUBE_JOB"},
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "SARCUBE_JOB" in bad.stderr


# ---------------------------------------------------------------------------------------- Lambda image


def test_lambda_image_base_and_entrypoint() -> None:
    instructions = _instructions(LAMBDA_DOCKERFILE)
    base = next(a for i, a in instructions if i == "FROM")
    # Not the Amazon Linux 2 Lambda base: the locked numpy/numba wheels need glibc >= 2.27.
    assert base == "python:${PYTHON_VERSION}-slim-bookworm"
    runs = " ".join(a for i, a in instructions if i == "RUN")
    assert "uv export --frozen --no-dev" in runs and "--require-hashes" in runs
    assert "awslambdaric" in runs
    assert "NUMBA_CACHE_DIR=/opt/numba-cache python /tmp/warm_numba.py" in runs
    entry = _exec_form(LAMBDA_DOCKERFILE, "ENTRYPOINT")
    copied = {a.split()[-1]: a.split()[-2] for i, a in instructions if i == "COPY"}
    assert copied[entry[0]] == "containers/lambda-entrypoint.sh"
    assert _exec_form(LAMBDA_DOCKERFILE, "CMD") == ["functions.tiles.handler.handler"]


@pytest.mark.parametrize("dockerfile", [WORKER_DOCKERFILE, LAMBDA_DOCKERFILE], ids=["worker", "lambda"])
def test_dockerignore_keeps_what_the_dockerfile_copies(dockerfile: Path) -> None:
    """The per-Dockerfile ignore file excludes everything but the COPY sources."""
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    kept = [p[1:].rstrip("/") for p in ignore if p.startswith("!")]
    assert "*" in ignore
    for i, args in _instructions(dockerfile):
        if i != "COPY" or "--from" in args:
            continue
        for src in [w for w in args.split()[:-1] if not w.startswith("--")]:
            assert any(src.rstrip("/") == k or src.startswith(k + "/") for k in kept), f"{src} is ignored"
            assert (REPO / src).exists(), f"{dockerfile.name} copies {src}, which does not exist"


def test_lambda_entrypoint_copies_the_cache_once(tmp_path: Path) -> None:
    src, dst, bin_dir = tmp_path / "opt-cache", tmp_path / "tmp-cache", tmp_path / "bin"
    (src / "kernels_abc").mkdir(parents=True)
    (src / "kernels_abc" / "_tops._rotate-288.py311.nbi").write_bytes(b"index")
    bin_dir.mkdir()
    log = tmp_path / "python-argv"
    _fake(bin_dir, "python", f'printf "%s\\n" "$*" >> "{log}"\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SARCUBE_NUMBA_CACHE_SRC": str(src), "NUMBA_CACHE_DIR": str(dst),
           "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
    script = str(CONTAINERS / "lambda-entrypoint.sh")
    subprocess.run(["sh", script, "functions.zarr.handler.handler"], env=env, check=True)
    assert (dst / "kernels_abc" / "_tops._rotate-288.py311.nbi").read_bytes() == b"index"
    assert log.read_text().splitlines() == ["-m awslambdaric functions.zarr.handler.handler"]
    # A warm start (marker present) does not copy again.
    (src / "kernels_abc" / "new.nbi").write_bytes(b"x")
    subprocess.run(["sh", script, "functions.ard.handler.handler"], env=env, check=True)
    assert not (dst / "kernels_abc" / "new.nbi").exists()


# ---------------------------------------------------------------------------------------- numba cache


def _njit_functions() -> set[tuple[str, str]]:
    """(module, function) of every ``numba.njit(cache=True)`` kernel not inlined into its callers."""
    out = set()
    for path in sorted((REPO / "cube" / "kernels").glob("_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if not (isinstance(dec, ast.Call) and ast.unparse(dec.func) in ("numba.njit", "njit")):
                    continue
                kw = {k.arg: ast.unparse(k.value) for k in dec.keywords}
                if kw.get("cache") == "True" and kw.get("inline") != "'always'":
                    out.add((path.stem, node.name))
    return out


def test_warm_up_calls_every_public_kernel() -> None:
    import cube.kernels

    source = (CONTAINERS / "warm_numba.py").read_text()
    called = set(re.findall(r"\bk\.(\w+)\(", source))
    public = {n for n in cube.kernels.__all__ if callable(getattr(cube.kernels, n))}
    assert public <= called, f"warm_numba.py does not compile {sorted(public - called)}"


@pytest.mark.slow
def test_warm_up_fills_the_cache_for_every_kernel(tmp_path: Path) -> None:
    """Compile everything (about 20 s) into an empty cache: one index per njit kernel."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_CPU_NAME": "generic"}
    run = subprocess.run([sys.executable, str(CONTAINERS / "warm_numba.py")], env=env, cwd=REPO,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    indexed = {tuple(p.name.split(".", 2)[:2]) for p in tmp_path.rglob("*.nbi")}
    indexed = {(mod, fn.rsplit("-", 1)[0]) for mod, fn in indexed}
    assert _njit_functions() <= indexed, sorted(_njit_functions() - indexed)
