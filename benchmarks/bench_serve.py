"""Start-up costs a user feels: the first request to a fresh ``sarcube serve``, and the CLI's
metadata commands (``sarcube --help``, ``sarcube info``), each in a fresh process.

The cube of the first request is bench_cslc's simulated burst (one date; made once, kept in the
temp folder) with one backscatter chunk stored; numba's cache is warm (``run.py`` sets a cache
folder shared by the benchmarks), and so is Python's bytecode cache: every process runs without
``PYTHONDONTWRITEBYTECODE`` after an untimed warm-up run, as a second start on any machine or a
deployed image (``layers/build.sh`` compiles bytecode) has it. ``extra.*cold*`` gives the same
start with no bytecode cache at all (every module compiled from source: an empty
``PYTHONPYCACHEPREFIX``). The references are measured in the same run, in the same environment:
a fresh Python that imports what any FastAPI server imports (fastapi, uvicorn), and
``python -c pass``.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cslc import _cube
from harness import ROOT, Context, Result, Timing, benchmark

INFO_SAFE = (ROOT.parent / "shared" / "data" / "sentinel1" / "xarray-sentinel" / "tests" / "data"
             / "S1A_IW_SLC__1SDH_20220414T102209_20220414T102236_042768_051AA4_E677.SAFE")


_NO_CACHE = tempfile.mkdtemp(prefix="sarcube-bench-no-pycache-")


def _env(bytecode: bool = True) -> dict[str, str]:
    """The environment of a timed process: Python's bytecode cache written and read, or none at all."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if not bytecode:
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=_NO_CACHE)
    return env


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: A FastAPI app of one plain route served by uvicorn as ``sarcube serve`` runs it (``sys.argv[1]``: the
#: port): the floor of any FastAPI server's first answer, start-up and request included.
MINIMAL_SERVER = """
import sys
import fastapi, uvicorn
from starlette.responses import Response
from starlette.routing import Route
app = fastapi.FastAPI()
app.router.routes.append(Route("/zarr.json", lambda request: Response(b"{}", media_type="application/json")))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="none")
"""


def _first_response(cube: str, ard: str, path: str, timeout_s: float = 300, cpu: list | None = None,
                    bytecode: bool = True, minimal: bool = False) -> float:
    """Seconds from spawning ``sarcube serve`` to the first 200 answer to ``GET path``.

    ``cpu`` gets the server's CPU seconds at that moment (the figure that does not grow with the
    machine's load); ``bytecode``: see `_env`; ``minimal``: `MINIMAL_SERVER` instead.
    """
    import httpx

    port = _port()
    t0 = time.perf_counter()
    args = (["-c", MINIMAL_SERVER, str(port)] if minimal else
            ["-m", "cube.cli", "serve", "--cube", cube, "--ard", ard, "--port", str(port), "--log-level",
             "warning", "--allow-anonymous"])
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT, env=_env(bytecode))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s) as client:
            while True:
                try:
                    r = client.get(path)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                        err = proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
                        raise RuntimeError(f"sarcube serve did not start: {err}") from None
                    time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        if cpu is not None:
            cpu.append(_cpu_s(proc.pid))
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
        return elapsed
    finally:
        proc.kill()
        proc.wait()


def _fresh(code: str, cpu: list | None = None, bytecode: bool = True) -> float:
    """Wall seconds of a fresh ``python -c code`` (``cpu`` gets its CPU seconds; ``bytecode``: `_env`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_env(bytecode))
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed


@benchmark("first_request", goal="≤ 0.5 s from start to the first answer (numba cache warm)",
           max_seconds=0.5, threads=None)
def bench_first_request(ctx: Context) -> Result:
    """First request to a fresh ``sarcube serve`` (its own process, anonymous reads): the time from
    spawning it to the first 200 answer to ``GET /zarr/{burst}/backscatter/zarr.json``, the first
    request of ``xr.open_zarr(url)``, caches warm (numba's and Python's bytecode: see the module).
    ``extra`` gives the same for a stored backscatter chunk of ``/zarr`` and the STAC landing page,
    ``cpu_*_s`` the server's CPU seconds when it answered (on a loaded machine the wall time grows,
    the CPU time much less), and ``*cold*`` the metadata request and the reference with no bytecode
    cache. Reference: a fresh Python importing fastapi and uvicorn (the floor of any FastAPI
    server); ``extra.minimal_server_s``: the first answer of a FastAPI app of one plain route run
    by uvicorn as ``sarcube serve`` runs it (that floor with uvicorn's start-up and a request)."""
    from cube.materialize import ArdEngine
    from cube.products import ArdArray, Variant
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    ard = tempfile.mkdtemp(prefix="sarcube-bench-first-")
    try:
        engine = ArdEngine(open_store(cube), open_store(ard))
        variant = Variant.of("backscatter")
        ny, nx = engine.chunk_counts(burst_id, "VV", variant)
        i, j = ny // 2, nx // 2
        engine.chunk_bytes(ArdArray(burst_id, "VV", variant, (date,)), i, j)
        index = engine.stack(burst_id).dates.index(date)
        n = 3
        metadata = f"/zarr/{burst_id}/backscatter/zarr.json"
        cpu: dict[str, list] = {"metadata": [], "chunk": [], "stac": [], "floor": [], "cold": [],
                                "cold_floor": [], "minimal_server": []}
        cold_s = _first_response(cube, ard, metadata, cpu=cpu["cold"], bytecode=False)
        cold_floor_s = _fresh("import fastapi, uvicorn", cpu=cpu["cold_floor"], bytecode=False)
        chunk = f"/zarr/{burst_id}/backscatter/backscatter/c/{index}/{i}/{j}"
        for path in (chunk, "/stac/"):  # warm-up: writes the bytecode cache of what serving imports
            _first_response(cube, ard, path)
        cand = Timing([_first_response(cube, ard, metadata, cpu=cpu["metadata"]) for _ in range(n)])
        extra = {
            "request": f"GET {metadata}",
            "chunk_s": min(_first_response(cube, ard, chunk, cpu=cpu["chunk"]) for _ in range(n)),
            "stac_landing_s": min(_first_response(cube, ard, "/stac/", cpu=cpu["stac"]) for _ in range(n)),
            "cold_s": cold_s,
            "cold_floor_s": cold_floor_s,
        }
        ref = Timing([_fresh("import fastapi, uvicorn", cpu=cpu["floor"]) for _ in range(n)])
        extra["minimal_server_s"] = min(_first_response(cube, ard, "/zarr.json", cpu=cpu["minimal_server"],
                                                        minimal=True) for _ in range(n))
        extra["python_pass_s"] = min(_fresh("pass") for _ in range(n))
        extra.update({f"cpu_{k}_s": min(v) for k, v in cpu.items()})
        return Result(candidate=cand, reference=ref, reference_name="fresh python: import fastapi, uvicorn",
                      size="one burst, one stored backscatter chunk", extra=extra)
    finally:
        shutil.rmtree(ard, ignore_errors=True)


@benchmark("cli_info", goal="≤ 0.5 s for sarcube info and sarcube --help", max_seconds=0.5, threads=None)
def bench_cli_info(ctx: Context) -> Result:
    """``sarcube info SAFE`` (every burst's metadata of a real IW SLC product's annotation XML)
    in a fresh process, as a user runs it (the
    ``sarcube`` entry point), bytecode cache warm (see the module). ``extra.help_s``:
    ``sarcube --help``; ``cpu_*_s``: their CPU seconds (load-independent); ``cold_info_s``: info
    with no bytecode cache. Reference: ``python -c pass``."""
    if not INFO_SAFE.is_dir():
        raise FileNotFoundError(f"{INFO_SAFE} not found: clone the repo beside shared/")
    sarcube = str(Path(sys.executable).with_name("sarcube"))
    n = max(3, ctx.repeat)

    cpu: dict[str, list] = {"info": [], "help": [], "cold": []}

    def run(*args: str, bytecode: bool = True) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sarcube, *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, env=_env(bytecode))
        elapsed = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        cpu[args[0].strip("-") if bytecode else "cold"].append(used)
        return elapsed

    cold_s = run("info", str(INFO_SAFE), bytecode=False)
    run("info", str(INFO_SAFE))  # warm-up: writes the bytecode cache of what info imports
    cand = Timing([run("info", str(INFO_SAFE)) for _ in range(n)])
    help_s = Timing([run("--help") for _ in range(n)])
    ref = Timing([_fresh("pass") for _ in range(n)])
    return Result(candidate=cand, reference=ref, reference_name="python -c pass",
                  size="one IW SLC SAFE (9 bursts)",
                  extra={"help_s": help_s.best, "help_median_s": help_s.median,
                         "cpu_info_s": min(cpu["info"]), "cpu_help_s": min(cpu["help"]),
                         "cold_info_s": cold_s, "cpu_cold_info_s": cpu["cold"][0]})
