"""What a fresh ``sarcube serve`` imports to answer its first requests.

A metadata request (``zarr.json``), a stored chunk and the STAC landing page need neither numba,
xarray, pandas nor zarr-python: those cost seconds of start-up (docs/performance.md,
``first_request``); the two zarr requests need neither numpy nor pydantic-settings (the STAC
landing imports them, with shapely and stac-fastapi). The server is the real command in its own process; the modules it holds
(``sys.modules``) are written out on SIGUSR1 and when it stops. (``-X importtime`` would miss the
routers: ``importlib.import_module`` bypasses its hook.)
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cube.materialize import ArdEngine
from cube.products import ArdArray, Variant
from cube.storage import list_burst_groups, open_store

ROOT = Path(__file__).resolve().parents[2]
#: Top-level packages the light requests must not import.
HEAVY = ("numba", "xarray", "pandas", "zarr", "dask")
#: ... and those the zarr requests (metadata, a stored chunk) must not import either (pydantic-settings
#: costs some 40 ms: the settings read the environment without it).
HEAVY_ZARR = (*HEAVY, "numpy", "pydantic_settings")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: ``sarcube serve ARGS`` that writes its ``sys.modules`` to the file ``sys.argv[1]`` when it stops,
#: and to ``<that file>.usr1`` on SIGUSR1.
SERVE = ("import atexit, runpy, signal, sys\n"
         "out = sys.argv.pop(1)\n"
         "def dump(path): open(path + '.tmp', 'w').write('\\n'.join(sorted(sys.modules)))\n"
         "def move(path): __import__('os').replace(path + '.tmp', path)\n"
         "signal.signal(signal.SIGUSR1, lambda *_: (dump(out + '.usr1'), move(out + '.usr1')))\n"
         "atexit.register(lambda: (dump(out), move(out)))\n"
         "sys.argv[0] = 'sarcube'\n"
         "runpy.run_module('cube.cli', run_name='__main__')\n")


def _heavy(imported: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported if m.split(".")[0] in packages)


@pytest.fixture(scope="module")
def stored(tiny_cube, tmp_path_factory):
    """(cube path, ARD path, burst ID, chunk key of a stored backscatter chunk, its stored bytes)."""
    ard = tmp_path_factory.mktemp("serve-imports") / "ard.zarr"
    engine = ArdEngine(tiny_cube, open_store(str(ard)))
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    dates = sorted(engine.stack(burst_id, pol).dates)
    ref = ArdArray(burst_id, pol, Variant.of("backscatter"), (dates[0],))
    raw = engine.chunk_bytes(ref, 0, 0)
    return tiny_cube.url, str(ard), burst_id, "backscatter/c/0/0/0", raw


def test_metadata_chunk_and_stac_landing_import_no_array_stack(stored, tmp_path):
    cube, ard, burst_id, chunk_key, raw = stored
    port = _free_port()
    modules = tmp_path / "modules.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(modules), "serve", "--cube", cube, "--ard", ard,
         "--port", str(port), "--log-level", "warning", "--allow-anonymous"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                try:
                    meta = client.get(f"/zarr/{burst_id}/backscatter/zarr.json")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, f"sarcube serve exited: {proc.communicate()[1][-2000:]}"
                    assert time.monotonic() < deadline, "sarcube serve did not start in 60 s"
                    time.sleep(0.05)
            chunk = client.get(f"/zarr/{burst_id}/backscatter/{chunk_key}")
            proc.send_signal(signal.SIGUSR1)  # the modules of the zarr requests alone
            zarr_modules = Path(f"{modules}.usr1")
            while not zarr_modules.exists():
                assert proc.poll() is None and time.monotonic() < deadline, "no module list on SIGUSR1"
                time.sleep(0.02)
            landing = client.get("/stac/")
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn stops, re-raises it, the atexit hook runs
        err = proc.communicate(timeout=20)[1]
    assert meta.status_code == 200, meta.text
    doc = json.loads(meta.content)
    assert doc["node_type"] == "group" and "backscatter" in doc["consolidated_metadata"]["metadata"]
    assert chunk.status_code == 200, chunk.text
    assert chunk.headers["X-Sarcube-Chunks-Computed"] == "0"
    assert chunk.content == raw  # served as stored
    assert landing.status_code == 200 and landing.json()["type"] == "Catalog", landing.text
    assert modules.exists(), f"sarcube serve wrote no module list: {err[-2000:]}"
    imported = set(modules.read_text().split())
    assert {"cube.api.zarr", "cube.api.stac"} <= imported, "the module list misses the routers"
    heavy = _heavy(imported, HEAVY)
    assert not heavy, f"the first requests import {sorted({m.split('.')[0] for m in heavy})}: {heavy[:10]}"
    imported = set(zarr_modules.read_text().split())
    assert "cube.api.zarr" in imported and "cube.api.stac" not in imported, "the module list is not the zarr one"
    heavy = _heavy(imported, HEAVY_ZARR)
    assert not heavy, f"zarr.json and a stored chunk import {sorted({m.split('.')[0] for m in heavy})}: {heavy[:10]}"
