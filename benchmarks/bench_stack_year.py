"""A year of bursts on one machine: a full-size simulated stack through the Dask executor."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness import ROOT, log

SEED = 16


def cache_root() -> Path:
    """Where simulated stacks and their cubes are kept between runs (outside the repository)."""
    env = os.environ
    base = env.get("SARCUBE_BENCH_CACHE") or env.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sarcube-bench"


def _sources_hash(*packages: str) -> str:
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((ROOT / "cube" / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_cube(dates: int, size: str) -> tuple[Path, str]:
    """(cube path, burst ID) of a ``dates`` × 1 burst simulated cube with its DEM, made once.

    The SAFEs are keyed on the simulator's sources and the parameters, the cube on those and
    the sources that write it (ingest, format, storage, catalog, products).
    """
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import list_burst_groups, open_store

    sim_key = f"sim-{size}-d{dates}-b1-s{SEED}-{_sources_hash('simulate')}"
    sim = cache_root() / sim_key
    if not (sim / "done").exists():
        log(f"[stack_year] simulating {dates} {size} dates into {sim} ...")
        stack = simulate_stack(sim, dates=dates, bursts=1, size=size, seed=SEED, progress=False)
        (sim / "done").write_text("\n".join(str(p) for p in stack.safe_paths) + "\n")
    safes = (sim / "done").read_text().split()
    writers = _sources_hash("ingest", "format", "storage", "catalog", "products")
    cube = cache_root() / f"cube-{sim_key}-{writers}"
    if not (cube / "done").exists():
        log(f"[stack_year] ingesting into {cube} ...")
        store = open_store(str(cube / "cube"))
        ingest(safes, store, progress=False)
        set_cube_dem(store, str(sim / "truth" / "dem.tif"))
        (cube / "done").write_text("ok\n")
    return cube / "cube", list_burst_groups(open_store(str(cube / "cube")))[0][0]
