"""The lazy engine over HTTP on the full-size simulated burst: a cold chunk (computed on
request, CSLC included), a warm chunk, and zarr-over-HTTP read throughput. The API runs in
uvicorn on loopback in this process; requests go through httpx / xarray's HTTP store."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_cslc import _cube
from bench_serve import _cpu_s
from harness import Context, Result, Timing, benchmark

PRODUCT = "backscatter"  # needs one date's CSLC chunks: the common first request


class _Server:
    def __init__(self, cube: str, ard: str):
        import uvicorn

        from cube.api import create_app

        self.app = create_app(cube_url=cube, ard_url=ard, routers=("zarr",), allow_anonymous=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _setup(ctx: Context):
    from cube.products import Variant

    cube, burst_id, date = _cube(ctx)
    ard = tempfile.mkdtemp(prefix="sarcube-bench-ard-")
    server = _Server(cube, ard)
    engine = server.app.state.engine
    variant = Variant.of(PRODUCT)
    ny, nx = engine.chunk_counts(burst_id, "VV", variant)
    # chunks in the middle of the burst (all valid pixels), distinct for every timed request
    middle = [(ny // 2, j) for j in range(nx // 4, nx - nx // 4)] if not ctx.quick else \
        [(i, j) for i in range(ny) for j in range(nx)]
    return cube, burst_id, date, ard, server, engine, variant, middle


@benchmark("lazy_chunk_cold", goal="≤ 1 s for a first request (CSLC computed too)", max_seconds=1.0)
def bench_lazy_chunk_cold(ctx: Context) -> Result:
    """First request of a backscatter chunk (256 × 128 px at 20 m: 512 × 512 CSLC pixels) over
    HTTP: the CSLC chunk is computed and stored, then the backscatter chunk, then served.

    The reference is the same computation in process (``ArdEngine.chunk_bytes``, no HTTP) on
    other chunks of the same row, so the ratio is the cost of the request path.
    """
    import httpx

    from cube.products import ArdArray

    cube, burst_id, date, ard, server, engine, variant, middle = _setup(ctx)
    try:
        index = engine.stack(burst_id).dates.index(date)
        client = httpx.Client(base_url=server.url, timeout=300)
        n = max(1, min(ctx.repeat, (len(middle) - 1) // 2))
        cand_chunks, ref_chunks = middle[1:1 + n], middle[1 + n:1 + 2 * n]
        array = ArdArray(burst_id, "VV", variant, (date,))
        engine.chunk_bytes(array, *middle[0])  # warm numba, DEM, grid
        times = []
        for i, j in cand_chunks:
            t0 = time.perf_counter()
            r = client.get(f"/zarr/{burst_id}/{PRODUCT}/{PRODUCT}/c/{index}/{i}/{j}")
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200 and r.headers["X-Sarcube-Chunks-Computed"] == "2", r.headers
        ref = []
        for i, j in ref_chunks:
            t0 = time.perf_counter()
            engine.chunk_bytes(array, i, j)
            ref.append(time.perf_counter() - t0)
        client.close()
        return Result(candidate=Timing(times), reference=Timing(ref) if ref else None,
                      reference_name="in process, no HTTP",
                      size=f"{PRODUCT} chunk {variant.chunks} (+ its 512 × 512 CSLC chunk)")
    finally:
        server.close()
        shutil.rmtree(ard, ignore_errors=True)


@benchmark("lazy_chunk_warm", goal="≤ 20 ms (p50) for a stored chunk", max_seconds=0.020)
def bench_lazy_chunk_warm(ctx: Context) -> Result:
    """A stored backscatter chunk over HTTP (p50 of 50 requests, keep-alive).

    The reference reads the same chunk's bytes from the ARD store directly.
    """
    import httpx

    from cube.products import ArdArray

    cube, burst_id, date, ard, server, engine, variant, middle = _setup(ctx)
    try:
        index = engine.stack(burst_id).dates.index(date)
        i, j = middle[0]
        url = f"/zarr/{burst_id}/{PRODUCT}/{PRODUCT}/c/{index}/{i}/{j}"
        from cube.products import ArdArray

        with httpx.Client(base_url=server.url, timeout=300) as client:
            assert client.get(url).status_code == 200
            cand = _p50_timing(lambda: client.get(url).content, 50)
        path = ArdArray(burst_id, "VV", variant, (date,)).chunk_path(i, j)
        ref = _p50_timing(lambda: engine.ard.read_bytes(path), 50)
        return Result(candidate=cand, reference=ref, reference_name="ARD store read",
                      size=f"{PRODUCT} chunk {variant.chunks}",
                      extra={"p50_ms": 1e3 * statistics.median(cand.times)})
    finally:
        server.close()
        shutil.rmtree(ard, ignore_errors=True)


def _p50_timing(func, n: int) -> Timing:
    """``n`` timed calls, no warm-up beyond the caller's: ``Timing.median`` is the p50."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return Timing(times)


def server_process(cube: str, ard: str):
    """``sarcube serve`` (default settings: the Lambda-sized limits; anonymous reads) in its own
    process, as deployed: the client does not share its GIL. Yields (url, process)."""
    return _serving(lambda port: ["-m", "cube.cli", "serve", "--cube", cube, "--ard", ard,
                                  "--port", str(port), "--log-level", "warning", "--allow-anonymous"],
                    "/openapi.json")


@contextlib.contextmanager
def _serving(args, probe: str, env: dict[str, str] | None = None):
    """A server ``python *args(port)`` on a free port; yields (url, process) once ``GET probe`` answers."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, *args(port)], stdout=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{url}{probe}", timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(args(port))} did not start") from None
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.kill()
        proc.wait()


def _bare_copy(engine, burst_id: str, variant, keys: list[str], folder: Path) -> None:
    """The bytes of a product store's ``keys`` (and of its metadata documents) as files under ``folder``."""
    from cube.materialize import ProductStore

    store = ProductStore(engine, burst_id, "VV", variant)
    for key in [*store.keys(), *keys]:
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.fetch(key))


def _cpu_ms_per_chunk(func, chunks: int, runs: int, pid: int | None = None) -> tuple[float, float | None]:
    """CPU ms per chunk of this process (all its threads) and of process ``pid`` over ``runs`` calls."""
    before, server = resource.getrusage(resource.RUSAGE_SELF), _cpu_s(pid) if pid else 0.0
    for _ in range(runs):
        func()
    after = resource.getrusage(resource.RUSAGE_SELF)
    mine = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return 1e3 * mine / chunks, 1e3 * (_cpu_s(pid) - server) / chunks if pid else None


@benchmark("zarr_http_throughput", goal="≥ 0.8 of reading the ARD store directly", min_ratio=0.8,
           threads=None)
def bench_zarr_http_throughput(ctx: Context) -> Result:
    """Reading 8 stored CSLC chunks (512 × 512 complex64 each) with ``xr.open_zarr`` over HTTP,
    from ``sarcube serve`` in another process, versus ``xr.open_zarr`` on the ARD store on disk
    (the same client stack: xarray, dask, zarr-python; both decode).

    The ratio is direct time / HTTP time (1 = as fast as the local disk). ``extra`` also gives
    the ratio with zarr-python alone on both sides (no xarray or dask), which weighs the
    transfer more: server and client share this machine's two cores; and the CPU per chunk of
    the server and of this (client) process, over HTTP and directly (``cpu_*_ms_per_chunk``).
    The client is what ``xr.open_zarr(url)`` gives a user: fsspec's HTTP file system (aiohttp,
    connections kept alive), one request per chunk, as many at once as dask has threads.
    ``bare_asgi_ratio``: the same ratio with the same keys' bytes served by a bare ASGI app under
    uvicorn (``_bare_asgi``: no framework, no checks): what any Python server reaches here.
    """
    import xarray as xr
    import zarr

    from cube.materialize import ArdEngine
    from cube.products import ArdArray, Variant
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    ard = tempfile.mkdtemp(prefix="sarcube-bench-ard-")
    engine = ArdEngine(open_store(cube), open_store(ard))
    cslc = Variant.of("cslc")
    try:
        ny, nx = engine.chunk_counts(burst_id, "VV", cslc)
        i = ny // 2
        cols = range(nx // 4, min(nx, nx // 4 + (2 if ctx.quick else 8)))
        for j in cols:
            engine.chunk_bytes(ArdArray(burst_id, "VV", cslc, (date,)), i, j)
        cy, cx = cslc.chunks
        rows, cols_ = slice(i * cy, (i + 1) * cy), slice(cols[0] * cx, (cols[-1] + 1) * cx)
        index = sorted(engine.stack(burst_id).dates).index(date)
        array = ArdArray(burst_id, "VV", cslc, (date,)).path
        local = xr.open_zarr(str(Path(ard) / array.rsplit("/", 1)[0]), consolidated=False)[date]
        local_array = zarr.open_array(str(Path(ard) / array), mode="r")
        with server_process(cube, ard) as (url, proc):
            remote = xr.open_zarr(f"{url}/zarr/{burst_id}/cslc").cslc.isel(time=index)
            remote_array = zarr.open_group(f"{url}/zarr/{burst_id}/cslc", mode="r")["cslc"]

            def over_http():
                return remote.isel(y=rows, x=cols_).values

            def direct():
                return local.isel(y=rows, x=cols_).values

            np.testing.assert_array_equal(over_http(), direct())
            cand = ctx.time(over_http)
            ref = ctx.time(direct)
            zarr_http = ctx.time(lambda: remote_array[index, rows, cols_])
            zarr_direct = ctx.time(lambda: local_array[rows, cols_])
            runs = 20
            client_http, server = _cpu_ms_per_chunk(over_http, runs * len(cols), runs, pid=proc.pid)
            client_direct, _ = _cpu_ms_per_chunk(direct, runs * len(cols), runs)
        bare_root = Path(ard) / "bare"  # the same keys' bytes as files, served with no framework
        _bare_copy(engine, burst_id, cslc, ["x/c/0", "y/c/0", "time/c/0",
                                            *(f"cslc/c/{index}/{i}/{j}" for j in cols)], bare_root)
        here = str(Path(__file__).parent)
        with _serving(lambda port: ["-m", "uvicorn", "--app-dir", here, "_bare_asgi:app", "--port", str(port),
                                    "--log-level", "warning", "--lifespan", "off", "--ws", "none"],
                      "/zarr.json", {"BARE_ROOT": str(bare_root)}) as (url, _):
            bare = xr.open_zarr(url).cslc.isel(time=index)
            np.testing.assert_array_equal(bare.isel(y=rows, x=cols_).values, direct())
            bare_http = ctx.time(lambda: bare.isel(y=rows, x=cols_).values)
            ref_again = ctx.time(direct)
        mb = direct().nbytes / 1e6
        return Result(candidate=cand, reference=ref, reference_name="xr.open_zarr on the ARD store",
                      size=f"{len(cols)} CSLC chunks of 512 × 512 ({mb:.0f} MB complex64)",
                      extra={"http_MB_per_s": mb / cand.best, "direct_MB_per_s": mb / ref.best,
                             "zarr_python_ratio": zarr_direct.best / zarr_http.best,
                             "cpu_server_ms_per_chunk": server, "cpu_client_http_ms_per_chunk": client_http,
                             "cpu_client_direct_ms_per_chunk": client_direct,
                             "bare_asgi_ratio": ref_again.best / bare_http.best})
    finally:
        shutil.rmtree(ard, ignore_errors=True)
