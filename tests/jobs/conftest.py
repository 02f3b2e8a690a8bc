"""Fixtures of the job tests: a 4-burst simulated cube, the job over it, ARD chunk listings and
independent references (the lazy engine on its own ARD store, the products computed directly)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cube.jobs._spec import JobSpec
from cube.materialize import ArdEngine
from cube.products import ArdArray, BurstStack, Variant
from cube.storage import list_burst_groups, open_store

#: Product-grid windows of the test job: one chunk of each product, a few CSLC chunks under them.
BACKSCATTER_WINDOW = (40, 104, 40, 104)
COHERENCE_WINDOW = (10, 50, 5, 45)


def upload_cube(fs: Any, cube: Path, dest: str) -> None:
    """Copy a local cube to the bucket path ``dest``, without its ``.leases`` and ``ard.zarr``.

    Other tests' engines open and close the local SQLite lease database meanwhile, whose
    ``-wal``/``-shm`` files come and go (a recursive put then fails on a vanished file).
    """
    files = [p for p in cube.rglob("*") if p.is_file()
             and not {".leases", "ard.zarr"} & set(p.relative_to(cube).parts)]
    fs.put([str(p) for p in files], [f"{dest}/{p.relative_to(cube).as_posix()}" for p in files])


@pytest.fixture(scope="session")
def cube4(tmp_path_factory) -> Path:
    """A cube of 4 simulated bursts × 2 dates (12 days apart), tiny size, with its DEM (~10 s)."""
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack

    root = tmp_path_factory.mktemp("jobs4")
    stack = simulate_stack(root / "sim", dates=2, bursts=4, size="tiny", seed=11)
    store = open_store(str(root / "cube"))
    ingest([str(p) for p in stack.safe_paths], store, progress=False)
    set_cube_dem(store, str(stack.truth_dir / "dem.tif"))
    assert len(list_burst_groups(store)) == 4
    return root / "cube"


@pytest.fixture(scope="session")
def bursts4(cube4) -> list[str]:
    return [b for b, _ in list_burst_groups(open_store(str(cube4)))]


def job_bursts(burst_ids: list[str]) -> list[dict[str, Any]]:
    """Each burst: backscatter of every date and coherence of the pair rule, one chunk each."""
    return [{"burst_id": b, "products": [
        {"product": "backscatter", "window": list(BACKSCATTER_WINDOW)},
        {"product": "coherence", "window": list(COHERENCE_WINDOW)},
    ]} for b in burst_ids]


def make_spec(cube_url: str, ard_url: str, burst_ids: list[str], storage_options: dict | None = None) -> JobSpec:
    return JobSpec(cube_url=cube_url, ard_url=ard_url, storage_options=storage_options or {},
                   bursts=job_bursts(burst_ids))


def expected_chunks_per_burst(cube_dir: Path, burst_id: str) -> int:
    """Chunks one burst of `job_bursts` computes, from the grid arithmetic alone: each product's
    chunks over its window per date set, plus the CSLC chunks under those windows per date."""
    dates = BurstStack(open_store(str(cube_dir)), burst_id).dates
    cslc = Variant.of("cslc")
    total, cslc_chunks = 0, set()
    for product, (r0, r1, c0, c1), sets in (("backscatter", BACKSCATTER_WINDOW, len(dates)),
                                            ("coherence", COHERENCE_WINDOW, len(dates) - 1)):
        v = Variant.of(product)
        cy, cx = v.chunks
        n = (math.ceil(r1 / cy) - r0 // cy) * (math.ceil(c1 / cx) - c0 // cx)
        total += n * sets
        ly, lx = v.options.looks
        gy, gx = cslc.chunks
        cslc_chunks |= {(i, j) for i in range(r0 * ly // gy, math.ceil(r1 * ly / gy))
                        for j in range(c0 * lx // gx, math.ceil(c1 * lx / gx))}
    return total + len(cslc_chunks) * len(dates)


def local_chunks(ard_dir: Path) -> dict[str, bytes]:
    """Every chunk object (``.../c/<i>/<j>``) of a local ARD store, by relative path."""
    out = {}
    for path in ard_dir.rglob("*"):
        rel = path.relative_to(ard_dir).as_posix()
        if path.is_file() and "/c/" in rel and not rel.startswith(".leases"):
            out[rel] = path.read_bytes()
    return out


def reference_reads(cube_dir: Path, scratch: Path, burst_id: str) -> dict[tuple, np.ndarray]:
    """The job's windows of one burst from the lazy engine on a fresh ARD store of its own."""
    engine = ArdEngine(open_store(str(cube_dir)), open_store(str(scratch)))
    return read_job_windows(engine, burst_id)


def read_job_windows(engine: ArdEngine, burst_id: str, tally=None) -> dict[tuple, np.ndarray]:
    """{(product, dates): array} of `job_bursts`'s windows read through ``engine``."""
    dates = sorted(engine.stack(burst_id, "VV").dates)
    out = {}
    for product, (r0, r1, c0, c1), sets in (
        ("backscatter", BACKSCATTER_WINDOW, [(d,) for d in dates]),
        ("coherence", COHERENCE_WINDOW, [(dates[0], dates[1])]),
    ):
        v = Variant.of(product)
        for ds in sets:
            out[(product, ds)] = engine.read(ArdArray(burst_id, "VV", v, ds), (slice(r0, r1), slice(c0, c1)), tally)
    return out


def worker_env(**extra: str) -> dict[str, str]:
    """The test process environment without the variables the worker reads, plus ``extra``."""
    names = ("SARCUBE_", "AWS_BATCH_JOB_ARRAY_INDEX", "CLOUD_RUN_TASK_INDEX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    env.update(extra)
    return env


def wait_for_job(jobs, job_id: str, timeout_s: float = 180.0):
    """The job record once it leaves queued/running (fails the test past ``timeout_s``)."""
    import time

    deadline = time.monotonic() + timeout_s
    while (record := jobs.get(job_id)).state in ("queued", "running"):
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    return record
