"""CSLC benchmarks on a full-size simulated burst (1512 × 20000): a whole burst-date, and one
512 × 512 chunk in a fresh process. The simulated stack and its cube are made once and kept
in the temp folder between runs (about 2 minutes to make)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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


@benchmark("cslc_burst", goal="≤ 5 s per burst-date (one core)", max_seconds=5.0)
def bench_cslc_burst(ctx: Context) -> Result:
    """CSLC of one whole burst-date onto its fixed grid (geo2rdr, deramp, sinc, reramp, flatten).

    The reference is the interpolation step alone done with scipy (cubic-spline
    ``map_coordinates`` of the deramped burst at the same positions).
    """
    from scipy import ndimage

    from cube.products import BurstStack
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    stack = BurstStack(open_store(cube), burst_id)
    _ = stack.grid, stack.dem
    out = stack.cslc(date)
    cand = ctx.time(lambda: stack.cslc(date), repeat=min(ctx.repeat, 3))
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
                  extra={"valid_pixels": int(ok.sum())})


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
