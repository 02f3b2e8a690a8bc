"""Map tiles through the app: a warm tile (its chunks stored) and a cold one (never computed).

The cube is bench_cslc's full-size simulated burst (one date; made once, kept in the temp
folder). Requests go through the ASGI app in process (httpx, no network), as a map client
asks: ``/tiles/backscatter/WebMercatorQuad/{z}/{x}/{y}.png?burst_id=…`` at the TileJSON's
maxzoom, 256 × 256, default rendering (dB, grey).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_cslc import _cube
from harness import Context, Result, Timing, benchmark, log

PRODUCT = "backscatter"


def _app(cube: str, tmp: Path, **settings):
    from cube.api import create_app

    return create_app(
        cube_url=cube, ard_url=str(tmp / "ard.zarr"), jobs_url=str(tmp / "jobs.sqlite"), allow_anonymous=True,
        **settings
    )


def _tiles(app, burst_id: str, n: int) -> tuple[list[str], list]:
    """Up to ``n`` tile paths at maxzoom around the middle of the burst's valid area, and
    their geometries (window, step) from the app's reader."""
    import morecantile

    from cube.api.tiles import TileCache, TileSource, burst_reader, view_of
    from cube.products import Variant

    engine = app.state.engine
    src = TileSource(
        engine, TileCache(engine), PRODUCT, Variant.of(PRODUCT), view_of(PRODUCT, None), "VV", 16
    )
    reader = burst_reader(
        src, src.layer_of(burst_id), morecantile.tms.get("WebMercatorQuad"), with_input=False
    )
    w, s, e, n_ = reader.get_geographic_bounds(reader.tms.rasterio_geographic_crs)
    z = reader.maxzoom
    centre = reader.tms.tile((w + e) / 2, (s + n_) / 2, z)
    found = []
    for dy in range(-2, 3):
        for dx in range(-3, 4):
            x, y = centre.x + dx, centre.y + dy
            try:
                g = reader.geometry(x, y, z)
            except Exception:  # noqa: BLE001 - outside the burst
                continue
            found.append(
                (-g.inside.mean(), f"/tiles/{PRODUCT}/WebMercatorQuad/{z}/{x}/{y}.png?burst_id={burst_id}", g)
            )
    found.sort(key=lambda f: f[0])  # most inside the grid first
    layer = src.layer_of(burst_id)
    return [f[1] for f in found[:n]], [(layer, f[2]) for f in found[:n]]


async def _get_all(app, paths: list[str]) -> list[tuple[float, int, int]]:
    """(seconds, status, chunks computed) of each GET, in order."""
    import httpx

    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for p in paths:
            t = time.perf_counter()
            r = await client.get(p)
            out.append(
                (time.perf_counter() - t, r.status_code, int(r.headers.get("x-sarcube-chunks-computed", -1)))
            )
            if r.status_code != 200:
                raise RuntimeError(f"{p}: {r.status_code} {r.text[:300]}")
    return out


@benchmark("tile_warm", goal="p50 ≤ 10 ms per 256² PNG tile, chunks stored", max_seconds=0.010, threads=None)
def bench_tile_warm(ctx: Context) -> Result:
    """A warm map tile: GET of a 256 × 256 PNG backscatter tile (dB, grey) at maxzoom whose
    chunks are stored, through the ASGI app. Candidate: p50 of batches of the tiles around the
    burst centre, as a map client asks them again (pans, zooms back): the app keeps their
    geometries and decoded chunks (``cube.api.tiles.cache``). ``extra.p50_caches_cleared_s``:
    the same with those caches emptied before every tile (a first view of stored chunks).
    Reference: reading the same tiles' product windows straight from the ARD store
    (``ArdEngine.read``), no tiling, warping or PNG."""
    from cube.materialize import read_pixels

    cube, burst_id, _ = _cube(ctx)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    try:
        app = _app(cube, tmp, max_chunks_per_request=256)
        paths, geoms = _tiles(app, burst_id, 12)
        first = asyncio.run(_get_all(app, paths))  # computes and stores every chunk
        log(f"[bench] tile_warm: {len(paths)} tiles, {sum(c for _, _, c in first)} chunks computed first")
        p50s = [
            statistics.median(t for t, _, _ in asyncio.run(_get_all(app, paths)))
            for _ in range(max(3, ctx.repeat))
        ]
        engine = app.state.engine
        all_times = [t for t, _, _ in asyncio.run(_get_all(app, paths))]
        cache = app.state.tile_cache
        cleared = []
        for _ in range(max(3, ctx.repeat)):
            for p in paths:
                cache.geometries.clear()
                cache.chunks.clear()
                cleared.append(asyncio.run(_get_all(app, [p]))[0][0])

        def read_windows():
            for layer, g in geoms:
                engine.read(layer.array, g.window)

        ref = ctx.time(read_windows, repeat=max(3, ctx.repeat))
        ref = Timing([t / len(geoms) for t in ref.times])
        layer, g = geoms[0]
        import numpy as np

        rows = np.floor(g.rows[g.inside]).astype(np.int64)
        cols = np.floor(g.cols[g.inside]).astype(np.int64)

        def gather_pixels():
            lay = layer
            read_pixels(engine, lay.array, rows, cols)

        gather = ctx.time(gather_pixels, repeat=max(3, ctx.repeat))
        return Result(
            Timing(p50s),
            ref,
            "ArdEngine.read of the tiles' windows",
            f"{len(paths)} tiles of 256 × 256 at z{paths[0].split('/')[4]}",
            {
                "p50_s": statistics.median(all_times),
                "max_s": max(all_times),
                "p50_caches_cleared_s": statistics.median(cleared),
                "window_pixels": int(
                    (g.window[0].stop - g.window[0].start) * (g.window[1].stop - g.window[1].start)
                ),
                "gather_pixels_s": gather.best,
            },
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@benchmark("tile_cold", goal="≤ 1.5 s per 256² PNG tile, nothing computed", max_seconds=1.5, threads=None)
def bench_tile_cold(ctx: Context) -> Result:
    """A cold map tile: the same request on an empty ARD store: its backscatter chunks and the
    CSLC chunks under them are computed, stored, then tiled. Each run has a new app and store,
    warmed as a map client does (its TileJSON first), numba warm (one untimed run first).
    Reference: the tile's product window computed directly from the cube
    (``BurstStack.compute``), with no store, lease or tiling."""
    from cube.products import BurstStack
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    times, chunks = [], []
    window = None
    for run in range(1 + max(3, min(ctx.repeat, 5))):
        tmp = Path(tempfile.mkdtemp(prefix="bench-tiles-cold-"))
        try:
            app = _app(cube, tmp, max_chunks_per_request=256)
            paths, geoms = _tiles(app, burst_id, 1)
            tilejson = f"/tiles/{PRODUCT}/WebMercatorQuad/tilejson.json?burst_id={burst_id}"
            asyncio.run(_get_all(app, [tilejson]))
            t, _, n = asyncio.run(_get_all(app, paths[:1]))[0]
            if run:  # the first run loads numba's cache
                times.append(t)
                chunks.append(n)
            window = geoms[0][1].window
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    stack = BurstStack(open_store(cube), burst_id)
    ref = ctx.time(lambda: stack.compute(PRODUCT, [date], window), repeat=2)
    return Result(
        Timing(times),
        ref,
        "BurstStack.compute of the tile's window",
        "256 × 256 tile",
        {
            "chunks_computed": chunks[0],
            "window": [window[0].start, window[0].stop, window[1].start, window[1].stop],
        },
    )
