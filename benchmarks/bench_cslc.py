"""CSLC benchmarks on a full-size simulated burst (1512 × 20000): a whole burst-date, and one
512 × 512 chunk in a fresh process. The simulated stack and its cube are made once and kept
in the temp folder between runs (about 2 minutes to make)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import ROOT, Context, Result, Timing, benchmark

CHUNK = 512


def _cube(ctx: Context) -> tuple[str, str, str]:
    """(cube path, burst ID, date key) of a one-date, one-burst simulated cube."""
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import list_burst_groups, open_store

    size = "tiny" if ctx.quick else "full"
    base = Path(tempfile.gettempdir()) / f"sarcube-bench-cslc-{size}-{os.getuid()}"
    cube = base / "cube"
    if not (cube / "cube.json").exists():
        stack = simulate_stack(base / "sim", dates=1, bursts=1, size=size, seed=3, progress=False)
        store = open_store(str(cube))
        ingest([str(p) for p in stack.safe_paths], store, progress=False)
        set_cube_dem(store, str(stack.truth_dir / "dem.tif"))
    store = open_store(str(cube))
    burst_id, pol = list_burst_groups(store)[0]
    from cube.products import BurstStack

    return str(cube), burst_id, BurstStack(store, burst_id, pol).dates[0]


@benchmark("cslc_burst", goal="≤ 1.5 s per burst-date (one core; ~0.5 s is the memory-bandwidth floor)",
           max_seconds=1.5)
def bench_cslc_burst(ctx: Context) -> Result:
    """CSLC of one whole burst-date onto its fixed grid (geo2rdr, deramp, sinc, reramp, flatten):
    the ``cslc`` product of the whole grid, as a job's worker computes it. ``extra`` has its
    user and system CPU seconds (the system share is mostly page faults of fresh arrays, which
    the worker's ``keep_freed_memory`` avoids).

    The reference is the interpolation step alone done with scipy (cubic-spline
    ``map_coordinates`` of the deramped burst at the same positions).
    """
    from scipy import ndimage

    from cube.config import keep_freed_memory
    from cube.products import BurstStack
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    keep_freed_memory()  # as a job's worker does (this process keeps it: a benchmark process)
    stack = BurstStack(open_store(cube), burst_id)
    _ = stack.grid, stack.dem
    out = stack.cslc(date)  # with its positions, for the reference
    cpu: list[tuple[float, float]] = []

    def product() -> None:
        before = resource.getrusage(resource.RUSAGE_SELF)
        stack.compute("cslc", [date])
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append((after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))

    cand = ctx.time(product, repeat=min(ctx.repeat, 3))
    burst = stack.burst(date)
    slc = stack.read_slc(date, 0, burst.lines, 0, burst.samples)
    ok = np.isfinite(out.line)
    pos = [out.line[ok], out.sample[ok]]

    def scipy_interp():
        ndimage.map_coordinates(slc.real, pos, order=3)
        ndimage.map_coordinates(slc.imag, pos, order=3)

    ref = ctx.time(scipy_interp, repeat=1)
    g = stack.grid
    return Result(candidate=cand, reference=ref, reference_name="scipy interpolation step",
                  size=f"grid {g.height} × {g.width}, burst {burst.lines} × {burst.samples}",
                  extra={"valid_pixels": int(ok.sum()), "user_cpu_s": min(u for u, _ in cpu),
                         "system_cpu_s": min(t for _, t in cpu)})


_CHUNK_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
from cube.products import BurstStack
from cube.storage import open_store
t1 = time.perf_counter()
cube, burst_id, date, r0, c0, n = sys.argv[1:7]
r0, c0, n = int(r0), int(c0), int(n)
stack = BurstStack(open_store(cube), burst_id)
data = stack.compute("cslc", [date], (slice(r0, r0 + n), slice(c0, c0 + n)))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "chunk_s": t2 - t1, "valid": float((data == data).mean())}))
"""


@benchmark("cslc_chunk_cold", goal="≤ 150 ms per 512 × 512 chunk from a cold cube",
           max_seconds=0.150)
def bench_cslc_chunk(ctx: Context) -> Result:
    """One 512 × 512 CSLC chunk from a cold cube: the cube opened, grid, DEM and metadata
    read, positions, SLC window read and interpolation (caches cleared; numba warm, as in a
    warm Lambda). ``extra.fresh_process_s`` is the same in a new process (imports excluded).

    The reference is the whole burst-date divided by its number of 512 × 512 chunks.
    """
    from cube.products import BurstStack, _cslc, _stack
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    stack = BurstStack(open_store(cube), burst_id)
    g = stack.grid
    n = min(CHUNK, g.height, g.width)
    column = stack.cslc(date, (slice(0, g.height), slice(g.width // 2, g.width // 2 + 1)))
    rows = np.flatnonzero(np.isfinite(column.line[:, 0]))
    r0 = int(max(0, min(rows[len(rows) // 2] - n // 2, g.height - n)))
    c0 = int(max(0, g.width // 2 - n // 2))
    window = (slice(r0, r0 + n), slice(c0, c0 + n))

    def cold_chunk():
        _stack._read_dem_cached.cache_clear()
        _cslc._HEIGHT_RANGES.clear()
        BurstStack(open_store(cube), burst_id).compute("cslc", [date], window)

    cand = ctx.time(cold_chunk, repeat=max(ctx.repeat, 5))
    whole = ctx.time(lambda: stack.cslc(date), repeat=1)
    chunks = (g.height * g.width) / (n * n)
    ref = Timing([t / chunks for t in whole.times])
    args = [cube, burst_id, date, str(r0), str(c0), str(n)]
    fresh = [json.loads(subprocess.run([sys.executable, "-c", _CHUNK_RUN, *args], cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout.splitlines()[-1])
             for _ in range(3)]
    return Result(candidate=cand, reference=ref, reference_name="whole burst ÷ chunks",
                  size=f"{n} × {n} pixels",
                  extra={"fresh_process_s": min(r["chunk_s"] for r in fresh),
                         "fresh_process_import_s": min(r["import_s"] for r in fresh),
                         "valid_fraction": fresh[0]["valid"]})


_PAIR_RUN = r"""
import json, resource, sys, time
c, w = time.process_time, time.perf_counter
out = {}
t = (c(), w())
def lap(name):
    global t
    now = (c(), w()); out[name] = {"cpu_s": now[0] - t[0], "wall_s": now[1] - t[1]}; t = now
from cube.config import WorkerSettings, keep_freed_memory, limit_blas_threads
threads = WorkerSettings().resolved_numba_threads()
assert limit_blas_threads(threads)  # as sarcube-worker, before numpy loads
from cube.jobs._worker import use_numba_threads
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, Variant
from cube.storage import open_store
threads = use_numba_threads(threads)
keep_freed_memory()
lap("imports")
cube, ard, burst, d0, d1 = sys.argv[1:6]
engine = ArdEngine(open_store(cube), open_store(ard))
stack = engine.stack(burst)
_ = stack.grid, [stack.burst(d) for d in (d0, d1)]
lap("open cube, grid, metadata")
_ = stack.dem
lap("DEM")
tally = Tally()
for d in (d0, d1):
    engine.fill(ArdArray(burst, "VV", Variant.of("cslc"), (d,)), None, tally)
    lap(f"CSLC {d[:8]} (read SLC, compute, store)")
engine.fill(ArdArray(burst, "VV", Variant.of("interferogram"), (d0, d1)), None, tally)
lap("interferogram (both CSLCs from the engine's memory, compute, store)")
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"phases": out, "numba_threads": threads, "chunks": tally.chunks_computed,
                  "bytes_written": tally.bytes_written,
                  "bytes_read": tally.bytes_read, "cslc_chunks_read": tally.hits,
                  "peak_rss_mb": usage.ru_maxrss / 1024}))
"""


def _fresh_pair(cube: str, burst: str, d0: str, d1: str, ard: Path) -> tuple[float, float, dict]:
    """(CPU s, wall s, the process's own report) of one fresh process computing the pair."""
    shutil.rmtree(ard, ignore_errors=True)
    # as in a deployed container: Python's bytecode cache warm (numba's too: NUMBA_CACHE_DIR)
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("SARCUBE_")}
    env["SARCUBE_NUMBA_THREADS"] = "1"  # a 1-vCPU worker (Fargate's default; a Dask worker process)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PAIR_RUN, cube, str(ard), burst, d0, d1], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"pair_fresh: the fresh process failed ({done.returncode}): {done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, json.loads(done.stdout.splitlines()[-1])


@benchmark("pair_fresh", goal="≤ 4 CPU s: cube → both CSLCs → interferogram stored, fresh process",
           max_seconds=4.0, threads=1)
def bench_pair_fresh(ctx: Context) -> Result:
    """A full burst pair end to end in a fresh process, in **CPU** seconds (the process's user +
    system time, interpreter start included): the cube opened, both dates' CSLC computed
    (``ArdEngine.fill``, as a job's worker does) and stored as chunks, then their interferogram
    computed from the CSLC arrays the engine kept in memory (``cslc_chunks_read``: CSLC chunks
    read back, 0) and stored. Numba's and Python's bytecode caches are
    warm, as in a deployed container. The process sets its numba threads as ``sarcube-worker``
    does, as a 1-vCPU worker (``SARCUBE_NUMBA_THREADS=1``). ``extra.phases`` says where the time goes.

    The reference is the same work in this process, already warm (imports done, numba loaded):
    the ratio is the share of the fresh process's CPU that is the work itself.
    """
    from bench_isce2 import _pair

    from cube.materialize import ArdEngine, Tally
    from cube.products import ArdArray, Variant
    from cube.storage import open_store

    cube, _, burst, (d0, d1) = _pair(ctx)
    work = Path(tempfile.mkdtemp(prefix="sarcube-bench-pair-"))
    try:
        _fresh_pair(str(cube), burst, d0, d1, work / "warmup")  # fills numba's and the bytecode caches
        runs = [_fresh_pair(str(cube), burst, d0, d1, work / f"ard{k}") for k in range(min(ctx.repeat, 3))]

        def warm() -> float:
            shutil.rmtree(work / "warm", ignore_errors=True)
            engine = ArdEngine(open_store(str(cube)), open_store(str(work / "warm")))
            c0 = time.process_time()
            for d in (d0, d1):
                engine.fill(ArdArray(burst, "VV", Variant.of("cslc"), (d,)), None, Tally())
            engine.fill(ArdArray(burst, "VV", Variant.of("interferogram"), (d0, d1)), None, Tally())
            return time.process_time() - c0

        warm()
        ref = Timing([warm() for _ in range(2)])
        best = min(runs, key=lambda r: r[0])
        stack = ArdEngine(open_store(str(cube))).stack(burst)
        b = stack.burst(d0)
        return Result(candidate=Timing([r[0] for r in runs]), reference=ref,
                      reference_name="same work in a warm process (CPU s)",
                      size=f"burst {b.lines} × {b.samples}, grid {stack.grid.height} × "
                           f"{stack.grid.width}, 2 dates",
                      extra={"wall_s": best[1], **best[2]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
