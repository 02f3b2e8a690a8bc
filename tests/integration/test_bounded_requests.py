"""Bounded work per request over real HTTP (uvicorn on loopback, the tiny simulated cube).

/zonal statistics are checked against an independent reference: the product computed directly
from the cube (``BurstStack.compute``, no engine, no chunks) and, per pixel centre, shapely's
``contains`` on the parcel projected with pyproj. The limits answer 413 (naming the figure and
the limit) or 202 + job before any chunk is read.
"""

from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import shapely
from _live import serve
from pyproj import Transformer
from shapely.affinity import rotate

from cube.api import create_app
from cube.config import Settings
from cube.products import BurstStack, Variant
from cube.storage import list_burst_groups
from tests.integration._users import API_KEYS, bearer

RTOL = 1e-4  # chunked vs whole-grid sinc interpolation: float32 rounding only


@contextlib.contextmanager
def live_api(**settings):
    """The analysis, jobs and ARD routers on uvicorn, for alice (`_users.KEYS`): a job needs an owner."""
    app = create_app(Settings(api_keys=API_KEYS, **settings), routers=("analysis", "jobs", "ard"))
    with serve(app) as url:
        yield SimpleNamespace(app=app, url=url, engine=app.state.engine)


@pytest.fixture(scope="module")
def case(tiny_cube):
    """The burst, its dates, grid, backscatter of every date (whole grid) and parcels on it."""
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(tiny_cube, burst_id, pol)
    dates = sorted(stack.dates)
    variant = Variant.of("backscatter")
    values = [stack.compute("backscatter", (d,), None, variant.options) for d in dates]
    g = stack.grid
    ly, lx = variant.options.looks
    px, py = g.dx * lx, g.dy * ly
    rng = np.random.default_rng(7)
    rows, cols = np.nonzero(np.isfinite(values[0]))
    parcels = []
    for k in rng.choice(rows.size, 6, replace=False):  # rotated rectangles of 1.5–5 pixels
        cx, cy = g.x0 + (cols[k] + 0.5) * px, g.y0 - (rows[k] + 0.5) * py
        w, h = rng.uniform(1.5, 5, 2) * (px, py)
        parcels.append(rotate(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng.uniform(0, 90)))
    cx, cy = g.x0 + (cols[0] + 0.5) * px, g.y0 - (rows[0] + 0.5) * py
    ring = shapely.box(cx - 3.3 * px, cy - 3.3 * py, cx + 3.3 * px, cy + 3.3 * py)
    parcels.append(ring.difference(shapely.box(cx - 1.1 * px, cy - 1.1 * py, cx + 1.1 * px, cy + 1.1 * py)))
    parcels.append(shapely.MultiPolygon([parcels[0], parcels[1]]))
    to_lonlat = Transformer.from_crs(g.epsg, 4326, always_xy=True)
    lonlat = [shapely.transform(p, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
              for p in parcels]
    features = [{"type": "Feature", "id": f"p{i}", "properties": {}, "geometry": shapely.geometry.mapping(p)}
                for i, p in enumerate(lonlat)]
    return SimpleNamespace(burst_id=burst_id, dates=dates, grid=g, values=values, pixel=(px, py),
                           lonlat=lonlat, features={"type": "FeatureCollection", "features": features})


def _reference(case, geom_lonlat) -> list[tuple[int, float | None, float | None]]:
    """(count, mean, median) per date: pixel centres inside the parcel, by shapely ``contains``."""
    g, (px, py) = case.grid, case.pixel
    to_grid = Transformer.from_crs(4326, g.epsg, always_xy=True)
    geom = shapely.transform(geom_lonlat, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1])))
    rows, cols = case.values[0].shape
    inside = [(r, c) for r in range(rows) for c in range(cols)
              if geom.contains(shapely.Point(g.x0 + (c + 0.5) * px, g.y0 - (r + 0.5) * py))]
    out = []
    for values in case.values:
        v = np.array([values[r, c] for r, c in inside])
        v = v[np.isfinite(v)]
        out.append((v.size, float(v.mean()) if v.size else None, float(np.median(v)) if v.size else None))
    return out


def test_zonal_statistics_equal_contains_per_pixel_centre(case, tiny_cube, tmp_path):
    with live_api(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard.zarr"),
                  jobs_url=str(tmp_path / "j.sqlite"), max_chunks_per_request=1000) as s, \
            httpx.Client(base_url=s.url, timeout=120, headers=bearer("alice")) as c:
        r = c.post("/zonal", json={"product": "backscatter", "burst_id": case.burst_id, "features": case.features})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(case.lonlat) * len(case.dates)
    for i, geom in enumerate(case.lonlat):
        got = [x for x in results if x["id"] == f"p{i}"]
        for x, (count, mean, median) in zip(got, _reference(case, geom), strict=True):
            assert x["count"] == count, (i, x)
            assert x["mean"] == pytest.approx(mean, rel=RTOL) and x["median"] == pytest.approx(median, rel=RTOL)
    assert sum(x["count"] for x in results) > 50  # parcels of several pixels each, on valid pixels


def test_zonal_over_the_pixel_limit_is_413_before_reading(case, tiny_cube, tmp_path):
    with live_api(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard.zarr"),
                  jobs_url=str(tmp_path / "j.sqlite"), max_zonal_pixels=100) as s, \
            httpx.Client(base_url=s.url, timeout=120, headers=bearer("alice")) as c:
        r = c.post("/zonal", json={"product": "backscatter", "burst_id": case.burst_id, "features": case.features})
        assert s.engine.totals.chunks_computed == 0 and s.engine.totals.hits == 0
    assert r.status_code == 413 and r.json()["code"] == "too_large", r.text
    detail = r.json()["detail"]
    assert "pixel visits" in detail and "limit of 100" in detail and "SARCUBE_MAX_ZONAL_PIXELS" in detail
    assert f"× {len(case.dates)} date(s)" in detail


def test_zonal_needing_too_many_chunks_starts_a_job_then_answers(case, tiny_cube, tmp_path):
    body = {"product": "backscatter", "burst_id": case.burst_id, "features": case.features}  # every date
    with live_api(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard.zarr"),
                  jobs_url=str(tmp_path / "j.sqlite"), max_chunks_per_request=1) as s, \
            httpx.Client(base_url=s.url, timeout=120, headers=bearer("alice")) as c:
        r = c.post("/zonal", json=body)
        assert r.status_code == 202, r.text
        assert s.engine.totals.chunks_computed == 0
        location = r.headers["Location"]
        assert location == r.json()["location"] and "repeat the request" in r.json()["detail"]
        deadline = time.monotonic() + 300
        while (job := c.get(location).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["state"] == "succeeded", job
        r = c.post("/zonal", json=body)
        assert r.status_code == 200, r.text
        assert s.engine.totals.chunks_computed == 0  # the job computed them
    assert len(r.json()["results"]) == len(case.lonlat) * len(case.dates)
