"""STAC item search over the embedded SQLite index with 100 000 items, through the ASGI app."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import statistics
import tempfile
import time

from harness import Context, Result, Timing, benchmark, log

T0 = dt.datetime(2019, 1, 3, 17, 25, 41, 250000, tzinfo=dt.UTC)
FILTER = ("\"sat:orbit_state\" = 'ascending' AND \"sarcube:swath\" IN ('IW1', 'IW2') "
          "AND A_CONTAINS(\"sar:polarizations\", ('VV'))")


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _slc_item(burst_id: str, swath: str, track: int, state: str, t: dt.datetime, lon: float,
              lat: float, pols: list[str]) -> dict:
    """A synthetic SLC item shaped as ingest writes it (a 22-vertex ~25 × 80 km footprint)."""
    near = [(lon + 0.03 * k, lat + 0.005 * k) for k in range(11)]
    far = [(x + 0.05, y + 0.18) for x, y in reversed(near)]
    ring = [list(p) for p in [*near, *far, near[0]]]
    lons, lats = zip(*[*near, *far], strict=True)
    key = t.strftime("%Y%m%dT%H%M%S.%f")
    return {
        "type": "Feature", "stac_version": "1.1.0", "stac_extensions": [],
        "id": f"{burst_id}_{key}", "collection": "sentinel-1-slc-bursts",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": _iso(t), "start_datetime": _iso(t),
            "end_datetime": _iso(t + dt.timedelta(seconds=3.1)), "platform": "sentinel-1a",
            "constellation": "sentinel-1", "instruments": ["c-sar"], "sarcube:burst_id": burst_id,
            "sarcube:swath": swath, "sarcube:date_key": key, "sar:instrument_mode": "IW",
            "sar:frequency_band": "C", "sar:polarizations": pols, "sar:product_type": "SLC",
            "sat:orbit_state": state, "sat:relative_orbit": track, "sat:absolute_orbit": 30000 + track,
        },
        "links": [], "assets": {"vv": {"href": f"s3://bucket/cube/slc.zarr/{burst_id}/vv",
                                       "type": "application/vnd+zarr", "roles": ["data"]}},
    }


def build_index(path: str, n_bursts: int, n_dates: int, products) -> dict:
    """``n_bursts`` burst IDs × ``n_dates`` dates (12-day repeat) over Europe; return its counts."""
    from cube.catalog import DateRecord, StacIndex

    rng = random.Random(0)
    records = []
    for b, (lon, lat) in enumerate(burst_positions(n_bursts)):
        swath = ("IW1", "IW2", "IW3")[b % 3]
        track = 1 + (b // 3) % 175
        state = "ascending" if b % 2 else "descending"
        pols = ["VH", "VV"] if b % 4 else ["VV"]
        burst_id = f"t{track:03d}_{100000 + b:06d}_{swath.lower()}"
        for d in range(n_dates):
            t = T0 + dt.timedelta(days=12 * d, microseconds=rng.randint(-2000, 2000), seconds=b)
            records.append(DateRecord(item=_slc_item(burst_id, swath, track, state, t, lon, lat, pols)))
    with StacIndex.open(path, readonly=False) as idx:
        idx.upsert_dates(records, products)
        return idx.stats()


def burst_positions(n_bursts: int) -> list[tuple[float, float]]:
    """South-west corners (lon, lat) of the bursts' footprints: random over Europe."""
    rng = random.Random(0)
    return [(rng.uniform(-10, 30), rng.uniform(36, 70)) for _ in range(n_bursts)]


def _queries(n: int, seed: int, n_bursts: int, n_dates: int) -> list[dict]:
    """Random 1° boxes near a burst (most hold one or a few bursts), 90 days within the
    dates, the filter."""
    rng = random.Random(seed)
    where = burst_positions(n_bursts)
    out = []
    for _ in range(n):
        lon, lat = rng.choice(where)
        x, y = lon + rng.uniform(-0.9, 0.3), lat + rng.uniform(-0.9, 0.15)
        t = T0 + dt.timedelta(days=rng.uniform(-30, max(0, 12 * n_dates - 60)))
        out.append({"bbox": f"{x:.4f},{y:.4f},{x + 1:.4f},{y + 1:.4f}",
                    "datetime": f"{_iso(t)}/{_iso(t + dt.timedelta(days=90))}",
                    "filter": FILTER, "limit": "10"})
    return out


@benchmark("stac_search", goal="p50 ≤ 100 ms at 100 000 items", max_seconds=0.100, threads=None)
def bench_stac_search(ctx: Context) -> Result:
    """GET /search with bbox (1°) + datetime (90 days) + CQL2 filter, limit 10, 100 000 items.

    Through the ASGI app (httpx, in process: no network or server overhead), over the SQLite
    index with its R*Tree. Candidate times are the p50 of batches of 30 random queries; the
    reference is the same queries answered by a Python scan over every item (shapely + cql2).
    """
    n_bursts, n_dates = (40, 25) if ctx.quick else (120, 70)
    tmp = tempfile.mkdtemp(prefix="bench-stac-")
    try:
        return _run(ctx, tmp, n_bursts, n_dates)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


BROAD = {
    "no_parameters": {},
    "filter_only": {"filter": FILTER},
    "filter_sorted_ascending": {"filter": FILTER, "sortby": "+datetime"},
    "one_burst_id": {"filter": "\"sarcube:burst_id\" = 't001_100000_iw1'"},
    "pairs_12_days": {"collections": "coherence", "filter": "\"sarcube:temporal_baseline_days\" < 13"},
    "whole_area_3_months": {"bbox": "-10,36,30,70",
                            "datetime": "2019-06-01T00:00:00Z/2019-09-01T00:00:00Z"},
    "limit_100": {"limit": "100"},
    "sorted_by_relative_orbit": {"sortby": "-sat:relative_orbit"},
}


def _run(ctx: Context, tmp: str, n_bursts: int, n_dates: int) -> Result:
    import cql2
    import httpx
    import shapely
    import shapely.geometry

    from cube.api.stac import make_stac_app
    from cube.catalog import INDEX_PATH, SearchQuery, StacIndex, make_item
    from cube.catalog._stac_items import UrlRoots, product_infos
    from cube.products import PRODUCTS

    cube = os.path.join(tmp, "cube")
    path = os.path.join(cube, INDEX_PATH)
    os.makedirs(os.path.dirname(path))
    t0 = time.perf_counter()
    stats = build_index(path, n_bursts, n_dates, product_infos(PRODUCTS))
    build_s = time.perf_counter() - t0
    log(f"[bench] stac_search: index of {stats['items']} items built in {build_s:.1f} s")
    app = make_stac_app(cube)

    async def run(queries: list[dict]) -> list[float]:
        times = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bench") as client:
            for q in queries:
                t = time.perf_counter()
                r = await client.get("/search", params=q)
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(r.text)
        return times

    asyncio.run(run(_queries(5, 99, n_bursts, n_dates)))  # warm-up
    batches = max(3, ctx.repeat)
    per_query: list[float] = []
    p50s = []
    for b in range(batches):
        times = asyncio.run(run(_queries(30, b, n_bursts, n_dates)))
        per_query += times
        p50s.append(statistics.median(times))
    hits = asyncio.run(_hits(app, _queries(30, 0, n_bursts, n_dates)))
    broad = {f"{name}_p50_s": statistics.median(asyncio.run(run([q] * 7))) for name, q in BROAD.items()}
    per_query.sort()
    p95 = per_query[int(0.95 * (len(per_query) - 1))]

    # the reference: every item built once, then each query answered by a Python scan
    idx = StacIndex.open(path)
    roots = UrlRoots("http://bench", "http://bench")
    items = [make_item(r, roots, PRODUCTS) for r in idx.search(SearchQuery(limit=10**7)).rows]
    geoms = [shapely.geometry.shape(i["geometry"]) for i in items]
    shapely.prepare(geoms)
    flt = cql2.parse_text(FILTER)

    def scan(q: dict) -> list[str]:
        box = shapely.box(*map(float, q["bbox"].split(",")))
        lo, hi = q["datetime"].split("/")
        hits = []
        for item, g in zip(items, geoms, strict=True):
            p = item["properties"]
            if p["start_datetime"] <= hi and p["end_datetime"] >= lo and g.intersects(box):
                try:
                    if flt.matches(item):
                        hits.append(item["id"])
                except Exception:  # noqa: BLE001 - cql2 'unknown': no match
                    pass
        return hits

    by_id = {i["id"]: i for i in items}
    ref_queries = _queries(3, 0, n_bursts, n_dates)
    ref_times = []
    for q in ref_queries:
        t = time.perf_counter()
        want = scan(q)
        ref_times.append(time.perf_counter() - t)
        got = asyncio.run(_ids(app, q))
        # the default order: datetime (start for pairs) descending, then id ascending
        want.sort()
        want.sort(key=lambda i: by_id[i]["properties"]["datetime"]
                  or by_id[i]["properties"]["start_datetime"], reverse=True)
        if got != want[:10]:
            raise AssertionError(f"search disagrees with the scan for {q}: {got} != {want[:10]}")
    size_mb = os.path.getsize(path) / 1e6
    t = time.perf_counter()
    StacIndex.open(path).search(SearchQuery(limit=1))
    open_s = time.perf_counter() - t
    return Result(
        Timing(p50s), Timing(ref_times), "Python scan of every item (shapely + cql2)",
        f"{stats['items']} items ({stats['dates']} burst dates)",
        {"p50_s": statistics.median(per_query), "p95_s": p95, "queries": len(per_query),
         "queries_with_results": hits,
         "index_build_s": build_s, "index_size_mb": size_mb, "cold_open_and_first_query_s": open_s,
         "items": stats["items"], "filter": FILTER, **broad},
    )


async def _hits(app, queries: list[dict]) -> float:
    """Fraction of the queries with at least one result."""
    n = 0
    for q in queries:
        n += bool(await _ids(app, q))
    return n / len(queries)


async def _ids(app, q: dict) -> list[str]:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        r = await c.get("/search", params=q)
        return [f["id"] for f in r.json()["features"]]
