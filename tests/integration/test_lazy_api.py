"""The lazy engine over real HTTP: uvicorn on loopback, read with xarray/zarr/httpx/http.client.

References are independent of the engine: products computed directly from the cube with the
kernels (``BurstStack.compute``), the ARD store read with zarr-python, GeoTIFFs with rasterio.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import xarray as xr
import zarr
from _live import serve

from cube.api import create_app
from cube.config import Settings
from cube.materialize._ard import decode_chunk
from cube.products import ArdArray, BurstStack, CoherenceOptions, Variant
from cube.storage import FileLeaseBackend, list_burst_groups, open_store
from tests.integration._users import API_KEYS, bearer

RTOL = 1e-4  # chunked vs whole-window sinc interpolation: float32 rounding only


@pytest.fixture(scope="module")
def cube_dir(tiny_cube) -> Path:
    return Path(tiny_cube.url)


@pytest.fixture(scope="module")
def burst(cube_dir) -> tuple[str, list[str]]:
    store = open_store(str(cube_dir))
    burst_id, pol = list_burst_groups(store)[0]
    return burst_id, sorted(BurstStack(store, burst_id, pol).dates)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_api(**settings):
    """create_app served by uvicorn in a thread of this process (so tests can read its engine)."""
    settings = {"allow_anonymous": True, "api_keys": API_KEYS, **settings}
    app = create_app(Settings(**settings), routers=("stac", "zarr", "ard", "analysis", "jobs"))
    with serve(app, limit_concurrency=200) as url:
        yield SimpleNamespace(app=app, url=url, engine=app.state.engine)


@pytest.fixture
def server(cube_dir, tmp_path):
    """A server with its own empty ARD store and job database."""
    with live_api(cube_url=str(cube_dir), ard_url=str(tmp_path / "ard.zarr"),
                jobs_url=str(tmp_path / "jobs.sqlite")) as s:
        yield s


def _direct(cube_dir, burst_id, product, dates, window=None, options=None):
    return BurstStack(open_store(str(cube_dir)), burst_id).compute(product, dates, window, options)


def test_coherence_chunk_over_http_equals_kernels_and_is_computed_once(server, cube_dir, burst):
    burst_id, dates = burst
    ds = xr.open_zarr(f"{server.url}/zarr/{burst_id}/coherence")
    assert ds.coherence.dims == ("reference_time", "secondary_time", "y", "x")
    assert ds.sizes["reference_time"] == ds.sizes["secondary_time"] == len(dates)
    cy, cx = Variant.of("coherence").chunks
    chunk = ds.coherence.isel(reference_time=0, secondary_time=2, y=slice(0, cy), x=slice(0, cx))
    got = chunk.values
    expected = _direct(cube_dir, burst_id, "coherence", [dates[0], dates[2]],
                       (slice(0, cy), slice(0, cx)))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-5)
    assert np.isfinite(got).mean() > 0.3  # the burst covers part of the grid
    computed = dict(server.engine.totals.computed)
    assert computed["coherence"] == 1 and computed["cslc"] >= 2  # two dates' CSLC chunks at least
    again = xr.open_zarr(f"{server.url}/zarr/{burst_id}/coherence").coherence.isel(
        reference_time=0, secondary_time=2, y=slice(0, cy), x=slice(0, cx)).values
    assert dict(server.engine.totals.computed) == computed  # the second read computes nothing
    np.testing.assert_array_equal(again, got)
    # only that chunk exists in the ARD store; the rest of the pair matrix was never computed
    variant_dir = Path(server.engine.ard.path(f"{burst_id}/vv/{Variant.of('coherence').key}"))
    assert [p.name for p in variant_dir.iterdir() if p.is_dir()] == [f"{dates[0]}_{dates[2]}"]


def test_stored_chunks_are_a_zarr_v3_array_and_match_http(server, burst):
    burst_id, dates = burst
    ds = xr.open_zarr(f"{server.url}/zarr/{burst_id}/cslc")
    over_http = ds.cslc.isel(time=1).values
    direct = zarr.open_array(server.engine.ard.path(f"{burst_id}/vv/{Variant.of('cslc').key}/{dates[1]}"),
                             mode="r")[:]
    np.testing.assert_array_equal(over_http, direct)
    assert ds.x.size == direct.shape[1] and ds.y.size == direct.shape[0]
    assert str(ds.time.values[1])[:19] == f"{dates[1][:4]}-{dates[1][4:6]}-{dates[1][6:8]}T{dates[1][9:11]}:" \
                                          f"{dates[1][11:13]}:{dates[1][13:15]}"


def test_fifty_concurrent_first_requests_compute_once(server, burst):
    burst_id, dates = burst
    key = f"/zarr/{burst_id}/cslc/cslc/c/0/0/1"
    with httpx.Client(base_url=server.url, timeout=120) as client, ThreadPoolExecutor(50) as pool:
        barrier = threading.Barrier(50)

        def get(_):
            barrier.wait()
            return client.get(key)

        responses = list(pool.map(get, range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.content for r in responses}) == 1
    assert sum(int(r.headers["X-Sarcube-Chunks-Computed"]) for r in responses) == 1
    assert server.engine.totals.computed["cslc"] == 1


def test_two_option_sets_are_two_variants(server, cube_dir, burst):
    burst_id, dates = burst
    default = xr.open_zarr(f"{server.url}/zarr/{burst_id}/coherence")
    wide = xr.open_zarr(f"{server.url}/zarr/{burst_id}/coherence/window=7x7")
    assert json.loads(wide.attrs["options"]) == {"window": [7, 7]}
    assert default.attrs["variant"] != wide.attrs["variant"]
    a = default.coherence.isel(reference_time=0, secondary_time=1, y=slice(0, 20), x=slice(0, 20)).values
    b = wide.coherence.isel(reference_time=0, secondary_time=1, y=slice(0, 20), x=slice(0, 20)).values
    np.testing.assert_allclose(a, _direct(cube_dir, burst_id, "coherence", dates[:2],
                                          (slice(0, 20), slice(0, 20))), rtol=RTOL, atol=1e-5)
    np.testing.assert_allclose(b, _direct(cube_dir, burst_id, "coherence", dates[:2], (slice(0, 20), slice(0, 20)),
                                          CoherenceOptions(window=(7, 7))), rtol=RTOL, atol=1e-5)
    assert wide.coherence.shape[2:] != default.coherence.shape[2:]
    keys = sorted(p.name for p in Path(server.engine.ard.path(f"{burst_id}/vv/coherence")).iterdir() if p.is_dir())
    assert len(keys) == 2 and all(k.startswith("v1-") for k in keys)


def _raw_get(url: str, path: str) -> tuple[int, dict]:
    """GET with the path sent exactly as given (clients normalise '..' away)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, json.loads(body) if body[:1] == b"{" else {}


BAD = [
    ("/zarr/{b}/cslc/../../cube.json", 400, "bad_key"),
    ("/zarr/{b}/cslc/%2e%2e/zarr.json", 400, "bad_key"),
    ("/zarr/{b}/cslc//etc/passwd", 400, "bad_key"),
    ("/zarr/t001_000001_iw1/cslc/zarr.json", 404, "not_found"),
    ("/zarr/{b}/sigma/zarr.json", 404, "not_found"),
    ("/zarr/{b}/cslc/cslc/c/9/0/0", 404, "not_found"),
    ("/zarr/{b}/cslc/cslc/c/0/99/0", 404, "not_found"),
    ("/zarr/{b}/cslc/nothing", 404, "not_found"),
    ("/zarr/{b}/coherence/window=0x7/zarr.json", 422, "invalid_options"),
    ("/zarr/{b}/coherence/size=7/zarr.json", 422, "invalid_options"),
    ("/zarr/{b}/coherence/window7x7/zarr.json", 404, "not_found"),
    ("/ard/coherence?burst_id={b}&reference=2024-01-06&secondary=2019-01-01", 404, "not_found"),
    ("/ard/backscatter?burst_id={b}&datetime=2030-01-01", 404, "not_found"),
    ("/ard/backscatter?burst_id={b}&datetime=yesterday", 400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&bbox=10,10,11,11", 400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&bbox=1,2,3", 400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&bbox=a,b,c,d", 400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&intersects=nojson", 400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&intersects=%7B%22type%22%3A%22Point%22%2C%22coordinates%22%3A%5B0%2C0%5D%7D",
     400, "bad_request"),
    ("/ard/backscatter?burst_id={b}&multilook=0x4", 422, "invalid_options"),
    ("/ard/backscatter?burst_id={b}&quantity=sigma9", 422, "invalid_options"),
    ("/ard/backscatter?burst_id={b}&format=png", 422, "invalid_request"),
    ("/ard/coherence?burst_id={b}", 400, "bad_request"),
    ("/ard/backscatter", 422, "invalid_request"),
    ("/point?lon=0&lat=0", 404, "not_found"),
    ("/point?lon=999&lat=0", 422, "invalid_request"),
    ("/point?lon=x&lat=0", 422, "invalid_request"),
    ("/jobs/nope", 404, "not_found"),
]


def test_openapi_docs_are_served(server):
    with httpx.Client(base_url=server.url) as c:
        spec = c.get("/openapi.json").json()
        assert {"/ard/{product}", "/point", "/zonal", "/jobs", "/jobs/{job_id}"} <= set(spec["paths"])
        assert c.get("/docs").status_code == 200


def test_zarr_keys_have_their_own_route_and_are_documented(server, burst):
    """GET and HEAD of a key go to ZarrKeys (the documenting router stays unloaded); other methods
    get the documented operation's 405; /openapi.json describes the operation."""
    from cube.api.app import LazyRoutes

    zarr_docs = next(r for r in server.app.router.routes if isinstance(r, LazyRoutes) and "/zarr" in r.prefixes)
    key = f"/zarr/{burst[0]}/cslc/zarr.json"
    with httpx.Client(base_url=server.url, timeout=60) as c:
        doc = c.get(key)
        head = c.head(key)
        assert doc.status_code == head.status_code == 200 and json.loads(doc.content)["node_type"] == "group"
        assert head.content == b"" and head.headers["content-length"] == str(len(doc.content))
        assert not zarr_docs.loaded
        post = c.post(key)
        assert (post.status_code, post.json()["code"]) == (405, "method_not_allowed")
        spec = c.get("/openapi.json").json()
    assert spec["paths"]["/zarr/{burst_id}/{product}/{path}"]["get"]["operationId"] == "zarr_key"


@pytest.mark.parametrize(("path", "status", "code"), BAD)
def test_bad_requests_get_clear_4xx(server, burst, path, status, code):
    got, body = _raw_get(server.url, path.format(b=burst[0]))
    assert (got, body.get("code")) == (status, code), body
    assert body["detail"]


def test_too_large_is_413_and_bad_zonal_is_400(cube_dir, tmp_path, burst):
    burst_id, _ = burst
    with live_api(cube_url=str(cube_dir), ard_url=str(tmp_path / "ard.zarr"), jobs_url=str(tmp_path / "j.sqlite"),
                max_response_mb=0.01) as s, httpx.Client(base_url=s.url, timeout=60) as c:
        r = c.get(f"/ard/cslc?burst_id={burst_id}")
        assert r.status_code == 413 and r.json()["code"] == "too_large" and "POST /jobs" in r.json()["detail"]
        for body in ({"features": {"type": "FeatureCollection", "features": []}},
                     {"features": {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]}},
                     {"product": "coherence", "options": {"window": [0, 1]}, "features": {}},
                     {"features": {"type": "FeatureCollection", "features": [
                         {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}]}}):
            r = c.post("/zonal", json=body)
            assert 400 <= r.status_code < 500 and r.json()["detail"], r.text


def test_ard_downloads_carry_crs_transform_and_provenance(server, cube_dir, burst):
    import rasterio

    burst_id, dates = burst
    with httpx.Client(base_url=server.url, timeout=120) as c:
        tif = c.get(f"/ard/backscatter?burst_id={burst_id}&datetime={_day(dates[0])}&db=true&format=tif")
        nc = c.get(f"/ard/coherence?burst_id={burst_id}&reference={_day(dates[0])}&secondary={_day(dates[1])}"
                   "&format=nc")
        zz = c.get(f"/ard/amplitude?burst_id={burst_id}&format=zarr")
    assert tif.status_code == 200, tif.text
    expected = _direct(cube_dir, burst_id, "backscatter", [dates[0]],
                       options=Variant.of("backscatter", {"db": True}).options)
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as src:
        assert src.crs.to_epsg() == BurstStack(open_store(str(cube_dir)), burst_id).grid.epsg
        assert src.count == 1 and src.shape == expected.shape
        np.testing.assert_allclose(src.read(1), expected, rtol=RTOL, atol=1e-3)
        g = BurstStack(open_store(str(cube_dir)), burst_id).grid
        assert (src.transform.c, src.transform.f, src.transform.a, src.transform.e) == (g.x0, g.y0, 4 * g.dx, -2 * g.dy)
        assert src.tags()["product"] == "backscatter" and json.loads(src.tags()["options"])["db"] is True
        assert src.driver == "GTiff" and src.overviews(1) is not None
    assert nc.status_code == 200, nc.text
    ds = xr.open_dataset(io.BytesIO(nc.content), engine="h5netcdf")
    np.testing.assert_allclose(ds.coherence.values[0], _direct(cube_dir, burst_id, "coherence", dates[:2]),
                               rtol=RTOL, atol=1e-5)
    assert ds.attrs["burst_id"] == burst_id and "spatial_ref" in ds.coords
    assert zz.status_code == 200
    assert "zarr.json" in zipfile.ZipFile(io.BytesIO(zz.content)).namelist()


def _day(date_key: str) -> str:
    return f"{date_key[:4]}-{date_key[4:6]}-{date_key[6:8]}"


def test_point_and_zonal_agree_with_the_zarr_view(server, burst):
    from pyproj import Transformer

    burst_id, dates = burst
    stack = server.engine.stack(burst_id)
    g = stack.grid
    ds = xr.open_zarr(f"{server.url}/zarr/{burst_id}/backscatter")
    row, col = ds.sizes["y"] // 2, ds.sizes["x"] // 2  # the middle of the grid: inside the data
    ly, lx = Variant.of("backscatter").options.looks
    x, y = g.x0 + (col + 0.5) * g.dx * lx, g.y0 - (row + 0.5) * g.dy * ly
    lon, lat = Transformer.from_crs(g.epsg, 4326, always_xy=True).transform(x, y)
    with httpx.Client(base_url=server.url, timeout=120) as c:
        r = c.get("/point", params={"lon": lon, "lat": lat, "product": "backscatter"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["row"], body["col"], body["burst_id"]) == (row, col, burst_id)
        assert [s["value"] for s in body["series"]] == pytest.approx(
            ds.backscatter.isel(y=row, x=col).values.tolist(), rel=1e-6)
        assert len(body["series"]) == len(dates)
        csv = c.get("/point", params={"lon": lon, "lat": lat, "product": "coherence", "format": "csv"})
        assert csv.status_code == 200 and csv.text.splitlines()[0] == "reference,secondary,value"
        # a parcel holding the centres of 5 x 5 product pixels around (row, col), edges 1/4 pixel in
        xs = g.x0 + np.array([col - 1.75, col + 2.75]) * g.dx * lx
        ys = g.y0 - np.array([row - 1.75, row + 2.75]) * g.dy * ly
        t = Transformer.from_crs(g.epsg, 4326, always_xy=True)
        ring = [list(t.transform(a, b)) for a, b in [(xs[0], ys[0]), (xs[1], ys[0]), (xs[1], ys[1]), (xs[0], ys[1])]]
        feature = {"type": "Feature", "id": "parcel-1", "properties": {},
                   "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}}
        z = c.post("/zonal", json={"product": "backscatter", "features": {"type": "FeatureCollection",
                                                                          "features": [feature]}})
    assert z.status_code == 200, z.text
    results = z.json()["results"]
    assert [r["id"] for r in results] == ["parcel-1"] * len(dates)
    block = ds.backscatter.isel(y=slice(row - 2, row + 3), x=slice(col - 2, col + 3)).values
    for r, values in zip(results, block, strict=True):
        assert r["count"] == 25
        assert r["mean"] == pytest.approx(float(np.mean(values)), rel=1e-5)
        assert r["median"] == pytest.approx(float(np.median(values)), rel=1e-5)


def test_ard_of_a_polygon_is_its_bounding_box_masked_outside(server, burst):
    """``/ard?intersects=`` a triangle: the bbox download where a pixel centre is inside, NaN elsewhere."""
    from pyproj import Transformer

    burst_id, dates = burst
    g = server.engine.stack(burst_id).grid
    ly, lx = Variant.of("backscatter").options.looks
    ds = xr.open_zarr(f"{server.url}/zarr/{burst_id}/backscatter")
    row, col = ds.sizes["y"] // 2, ds.sizes["x"] // 2
    # a triangle of about 12 x 12 product pixels, in grid metres, then lon/lat
    tri = np.array([[col - 6.2, row - 5.7], [col + 6.3, row - 5.9], [col + 0.1, row + 6.4]])
    utm = np.column_stack([g.x0 + tri[:, 0] * g.dx * lx, g.y0 - tri[:, 1] * g.dy * ly])
    to_ll = Transformer.from_crs(g.epsg, 4326, always_xy=True)
    ring = [list(to_ll.transform(x, y)) for x, y in utm]
    polygon = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    lons, lats = zip(*ring, strict=True)
    bbox = ",".join(f"{v:.10f}" for v in (min(lons), min(lats), max(lons), max(lats)))
    day = _day(dates[0])
    with httpx.Client(base_url=server.url, timeout=120) as c:
        query = {"burst_id": burst_id, "datetime": day, "format": "nc"}
        area = c.get("/ard/backscatter", params={**query, "intersects": json.dumps(polygon)})
        box = c.get("/ard/backscatter", params={**query, "bbox": bbox})
        both = c.get("/ard/backscatter", params={**query, "bbox": bbox, "intersects": json.dumps(polygon)})
    assert area.status_code == 200 and box.status_code == 200, (area.text, box.text)
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    a = xr.open_dataset(io.BytesIO(area.content), engine="h5netcdf")
    b = xr.open_dataset(io.BytesIO(box.content), engine="h5netcdf")
    assert a.sizes == b.sizes
    np.testing.assert_array_equal(a.x, b.x)
    # the reference: pixel centres inside the (UTM) triangle by the signs of the edge cross products
    xx, yy = np.meshgrid(a.x.values, a.y.values)
    signs = []
    for (x0, y0), (x1, y1) in zip(utm, np.roll(utm, -1, axis=0), strict=True):
        signs.append((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0))
    inside = (np.array(signs) > 0).all(axis=0) | (np.array(signs) < 0).all(axis=0)
    assert 50 < inside.sum() < inside.size - 50  # about 76 of 14 x 13
    values, full = a.backscatter.values[0], b.backscatter.values[0]
    np.testing.assert_array_equal(values[inside], full[inside])
    assert np.isnan(values[~inside]).all()


def test_more_chunks_than_allowed_becomes_a_job(cube_dir, tmp_path, burst):
    burst_id, dates = burst
    with live_api(cube_url=str(cube_dir), ard_url=str(tmp_path / "ard.zarr"), jobs_url=str(tmp_path / "j.sqlite"),
                max_chunks_per_request=1) as s, httpx.Client(base_url=s.url, timeout=120,
                                                             headers=bearer("alice")) as c:
        url = f"/ard/cslc?burst_id={burst_id}&datetime={_day(dates[0])}&format=nc"
        r = c.get(url)
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert location == f"/jobs/{r.json()['job_id']}"
        deadline = time.monotonic() + 300
        while (job := c.get(location).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.5)
        assert job["state"] == "succeeded", job
        assert (job["progress"]["done"], job["progress"]["total"], job["progress"]["remaining_s"]) == (1, 1, 0.0)
        (metrics,) = job["metrics"].values()
        assert metrics["chunks_computed"] == 2 and metrics["bytes_written"] > 0 and metrics["wall_s"] > 0
        assert job["cost"]["spent_usd"] > 0
        r = c.get(url)
        assert r.status_code == 200
        assert s.engine.totals.chunks_computed == 0  # the job computed them


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL of a server process")
def test_killed_worker_leaves_no_chunk_and_next_request_recomputes(cube_dir, tmp_path, burst):
    burst_id, dates = burst
    ard = tmp_path / "ard.zarr"
    env = {**os.environ, "SARCUBE_LEASE_TTL_S": "2", "SARCUBE_JOBS_URL": str(tmp_path / "j.sqlite")}
    variant = Variant.of("coherence")
    key = ArdArray(burst_id, "VV", variant, (dates[0], dates[1])).chunk_path(0, 0)
    leases = FileLeaseBackend(ard / ".leases")

    def serve() -> tuple[subprocess.Popen, int]:
        port = _free_port()
        log = tmp_path / f"server-{port}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "cube.cli", "serve", "--cube", str(cube_dir), "--ard",
                                     str(ard), "--port", str(port), "--log-level", "info", "--allow-anonymous"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
        # Ready when uvicorn says it listens, however long the imports take on a loaded machine
        # (pytest's timeout bounds the wait); a server that dies fails the test with its log.
        while "Uvicorn running on" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        r = httpx.get(f"http://127.0.0.1:{port}/zarr/{burst_id}/coherence/zarr.json", timeout=120)
        assert r.status_code == 200, r.text
        return proc, port

    proc, port = serve()
    request = threading.Thread(target=lambda: _try_get(f"http://127.0.0.1:{port}/zarr/{burst_id}/coherence/coherence/c/0/1/0/0"))
    request.start()
    while leases.peek(key) is None:  # the server holds the chunk's lease: it is computing
        assert request.is_alive(), "the request ended before the server took the chunk's lease"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    request.join()
    assert not (ard / key).exists()  # no chunk, and zarr reads fill for it
    time.sleep(2.1)  # the dead holder's lease expires
    proc, port = serve()
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/zarr/{burst_id}/coherence/coherence/c/0/1/0/0", timeout=120)
        assert r.status_code == 200 and r.headers["X-Sarcube-Chunks-Computed"] != "0"
        values = decode_chunk(r.content, variant)
        shape = BurstStack(open_store(str(cube_dir)), burst_id).shape("coherence")
        rows, cols = min(variant.chunks[0], shape[0]), min(variant.chunks[1], shape[1])
        np.testing.assert_allclose(values[:rows, :cols], _direct(cube_dir, burst_id, "coherence", dates[:2],
                                                                 (slice(0, rows), slice(0, cols))),
                                   rtol=RTOL, atol=1e-5)
        assert (ard / key).exists()
    finally:
        proc.kill()
        proc.wait()


def _try_get(url: str) -> None:
    try:
        httpx.get(url, timeout=120)
    except httpx.HTTPError:
        pass


def test_stac_says_which_products_are_materialized(server, burst):
    burst_id, dates = burst
    with httpx.Client(base_url=server.url, timeout=120) as c:
        def flags() -> dict[str, bool]:
            items = c.get("/stac/collections/amplitude/items", params={"limit": 100}).json()["features"]
            return {i["properties"]["datetime"]: i["properties"]["sarcube:materialized"]
                    for i in items if i["properties"]["sarcube:burst_id"] == burst_id}

        assert set(flags().values()) == {False}
        assert c.get(f"/ard/amplitude?burst_id={burst_id}&datetime={_day(dates[1])}&format=nc").status_code == 200
        after = flags()
    assert sorted(after.values()) == [False, False, True]
    assert after[[t for t in after if t.startswith(_day(dates[1]))][0]] is True
