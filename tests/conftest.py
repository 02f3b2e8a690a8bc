"""Shared fixtures: the real ESA files in ../shared, a tiny simulated stack, a SeaweedFS server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
S1 = SHARED / "data" / "sentinel1"
# tests/ goes last on the path (for ``from _live import serve``): first, its packages (functions,
# jobs, ...) would shadow the repository's own ``functions`` package (the Lambda glue).
sys.path.append(str(Path(__file__).parent))


def shared_path(rel: str) -> Path:
    """A path under ../shared/data/sentinel1; skip the test if ../shared is absent."""
    if not S1.is_dir():
        pytest.skip(f"real Sentinel-1 files not found at {S1}: clone the repo beside shared/")
    return S1 / rel


@pytest.fixture(scope="session")
def tiny_stack(tmp_path_factory):
    """A tiny simulated stack: 3 dates × 2 bursts of IW2 VV (seconds to make)."""
    from cube.simulate import simulate_stack

    return simulate_stack(tmp_path_factory.mktemp("sim"), dates=3, bursts=2, size="tiny", seed=7)


@pytest.fixture(scope="session")
def tiny_cube(tiny_stack, tmp_path_factory):
    """The tiny stack ingested into a local cube, its DEM recorded: a CubeStore (restore what you change)."""
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.storage import open_store

    store = open_store(str(tmp_path_factory.mktemp("tiny-cube") / "cube"))
    ingest([str(p) for p in tiny_stack.safe_paths], store, progress=False)
    set_cube_dem(store, str(tiny_stack.truth_dir / "dem.tif"))
    return store


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server on loopback with one bucket, ``cubes``."""
    from _seaweed import seaweed_s3, storage_options

    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        import s3fs

        fs = s3fs.S3FileSystem(**storage_options(server))
        fs.mkdir("cubes")
        server["storage_options"] = storage_options(server)
        yield server


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Standard AWS environment variables pointing at the loopback server."""
    for key, value in s3_server["env"].items():
        monkeypatch.setenv(key, value)
    return s3_server


os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".tools" / "numba-cache"))
