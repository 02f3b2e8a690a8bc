"""``/zonal`` with 2,000 field-sized parcels spread over a full-size burst: p50 latency over HTTP
and the server's peak RSS. The server is ``sarcube serve`` in its own process (its RSS is the
request's alone); the burst's backscatter chunks are stored first, so the request computes
nothing and measures the statistics path."""

from __future__ import annotations

import shutil
import tempfile
import time

import numpy as np
from bench_cslc import _cube
from bench_lazy import server_process
from harness import Context, Result, Timing, benchmark

PRODUCT = "backscatter"
PARCELS = 2000
OLD_SUBSET = 50  # the old method holds one whole-window mask per parcel: measured on a subset


def _parcels(values: np.ndarray, grid, looks: tuple[int, int], n: int, seed: int = 11):
    """``n`` rotated squares of 100–300 m on valid pixels: (GeoJSON features in lon/lat,
    shapely polygons in the grid's CRS)."""
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    ly, lx = looks
    rows, cols = np.nonzero(np.isfinite(values))
    pick = rng.choice(rows.size, n, replace=False)
    cx = grid.x0 + (cols[pick] + 0.5) * grid.dx * lx
    cy = grid.y0 - (rows[pick] + 0.5) * grid.dy * ly
    side = rng.uniform(100, 300, n)
    angle = rng.uniform(0, np.pi / 2, n)
    to_lonlat = Transformer.from_crs(grid.epsg, 4326, always_xy=True)
    features, polygons = [], []
    unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    for k in range(n):
        c, s = np.cos(angle[k]), np.sin(angle[k])
        corners = unit @ np.array([[c, s], [-s, c]]) * side[k] + [cx[k], cy[k]]
        lon, lat = to_lonlat.transform(corners[:, 0], corners[:, 1])
        ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
        features.append({"type": "Feature", "id": f"field-{k}", "properties": {},
                         "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}})
        polygons.append(shapely.Polygon(corners))
    return features, polygons


def _whole_window_masks(polygons, xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> list:
    """The method /zonal used before: one mask of the whole window per parcel, then statistics."""
    import shapely

    xx, yy = np.meshgrid(xs, ys)
    masks = [shapely.contains_xy(p, xx, yy) for p in polygons]
    out = []
    for mask in masks:
        v = values[mask]
        v = v[np.isfinite(v)]
        out.append((v.size, float(v.mean()) if v.size else None))
    return out


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


@benchmark("zonal_parcels", goal="p50 ≤ 5 s for 2,000 parcels on a burst; ≤ 200 MB RSS growth",
           max_seconds=5.0, threads=None)
def bench_zonal_parcels(ctx: Context) -> Result:
    """POST /zonal with 2,000 field-sized parcels (rotated squares of 100–300 m) spread over a
    whole full-size burst (backscatter, 20 m: 1671 × 3625 pixels, one date), over HTTP from
    ``sarcube serve`` in another process with its default (Lambda-sized) limits.

    The reference is the method /zonal used before (a mask of the whole window per parcel), in
    process on the same stored values: measured on 50 parcels, its time scaled to 2,000 (each
    mask costs the same). At 2,000 parcels it would hold 2,000 whole-window masks (12 GB here).
    ``extra`` gives the server's peak RSS growth and the time to read the window alone.
    """
    import httpx
    import shapely

    from cube.materialize import ArdEngine
    from cube.products import ArdArray, Variant
    from cube.storage import open_store

    cube, burst_id, date = _cube(ctx)
    ard = tempfile.mkdtemp(prefix="sarcube-bench-zonal-ard-")
    try:
        engine = ArdEngine(open_store(cube), open_store(ard))
        variant = Variant.of(PRODUCT)
        t0 = time.perf_counter()
        values = engine.read(ArdArray(burst_id, "VV", variant, (date,)))  # stores every chunk of the burst
        store_s = time.perf_counter() - t0
        read = ctx.time(lambda: engine.read(ArdArray(burst_id, "VV", variant, (date,))), repeat=3)
        grid = engine.stack(burst_id).grid
        looks = variant.options.looks
        n = 200 if ctx.quick else PARCELS
        features, polygons = _parcels(values, grid, looks, n)
        body = {"product": PRODUCT, "burst_id": burst_id,
                "features": {"type": "FeatureCollection", "features": features}}
        with server_process(cube, ard) as (url, proc), httpx.Client(base_url=url, timeout=600) as client:
            warm = {**body, "features": {"type": "FeatureCollection", "features": features[:10]}}
            r = client.post("/zonal", json=warm)
            assert r.status_code == 200, r.text
            rss0 = _status_kb(proc.pid, "VmRSS")
            times = []
            for _ in range(max(1, ctx.repeat)):
                t0 = time.perf_counter()
                r = client.post("/zonal", json=body)
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            peak = _status_kb(proc.pid, "VmHWM")
        results = r.json()["results"]
        assert len(results) == n and all(x["count"] > 0 for x in results)
        rows, cols = values.shape
        xs = grid.x0 + (np.arange(cols) + 0.5) * grid.dx * looks[1]
        ys = grid.y0 - (np.arange(rows) + 0.5) * grid.dy * looks[0]
        k = min(OLD_SUBSET, n)
        old_out: list = []
        old = ctx.time(lambda: old_out.append(_whole_window_masks(polygons[:k], xs, ys, values)),
                       repeat=1, warmup=0)
        # the two methods agree on the subset (up to the parcels' lon/lat round trip)
        counts = [c for c, _ in old_out[0]]
        got = [x["count"] for x in results[:k]]
        close = sum(abs(a - b) <= 1 for a, b in zip(counts, got, strict=True))
        assert close == k, (counts, got)
        area = float(np.sum(shapely.area(np.asarray(polygons, dtype=object))))
        cand = Timing(times)
        return Result(
            candidate=cand,
            reference=Timing([t * n / k for t in old.times]),
            reference_name=f"whole-window masks (old), {k} parcels × {n // k}",
            size=f"{n} parcels, {rows} × {cols} px window, 1 date",
            extra={
                "p50_s": cand.median,
                "server_rss_before_MB": rss0 / 1024,
                "server_peak_rss_MB": peak / 1024,
                "server_peak_rss_growth_MB": (peak - rss0) / 1024,
                "read_window_s": read.best,
                "old_method_subset_s": old.best,
                "old_method_masks_GB_at_n": n * rows * cols / 1e9,
                "parcel_area_km2": area / 1e6,
                "store_chunks_s": store_s,
            },
        )
    finally:
        shutil.rmtree(ard, ignore_errors=True)
