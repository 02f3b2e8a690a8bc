"""Bounded work per request: the cost check, /zonal's per-parcel masks, Lambda-sized defaults.

The masks are compared with shapely's ``contains`` asked pixel centre by pixel centre over the
whole window; the defaults with the limits of the deployment in template.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from shapely.affinity import rotate

from cube.api._common import TooLargeError
from cube.api._plan import Cost
from cube.api.point import parcel_masks
from cube.config import Settings

ROOT = Path(__file__).resolve().parents[2]
# the window: 60 rows × 80 columns of 20 m pixels, pixel centres at x0 + 10 + 20 k, y0 - 10 - 20 k
X0, Y0, PX = 500_000.0, 4_200_000.0, 20.0
XS = X0 + (np.arange(80) + 0.5) * PX
YS = Y0 - (np.arange(60) + 0.5) * PX


def _parcels() -> list:
    rng = np.random.default_rng(5)
    out = []
    for _ in range(12):  # rotated rectangles of 60–400 m, some across the window's edges
        cx, cy = X0 + rng.uniform(-100, 1700), Y0 - rng.uniform(-100, 1300)
        w, h = rng.uniform(60, 400, 2)
        out.append(rotate(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng.uniform(0, 90)))
    centre = lambda c, r: (X0 + (c + 0.5) * PX, Y0 - (r + 0.5) * PX)  # noqa: E731
    out += [
        # edges through pixel centres, bounds exactly on them: boundary centres are not inside
        shapely.box(*centre(10, 20), *centre(15, 12)),
        shapely.Polygon([centre(30, 5), centre(40, 5), centre(30, 15)]),  # a triangle
        shapely.box(X0 + 800, Y0 - 600, X0 + 1200, Y0 - 200).difference(  # a field with a hole
            shapely.box(X0 + 900, Y0 - 500, X0 + 1100, Y0 - 300)),
        shapely.MultiPolygon([shapely.box(X0 + 50, Y0 - 1150, X0 + 250, Y0 - 1000),
                              shapely.box(X0 + 1400, Y0 - 300, X0 + 1550, Y0 - 150)]),
        shapely.box(X0 + 3000, Y0 - 300, X0 + 3200, Y0 - 100),  # outside the window
        shapely.box(X0 + 512, Y0 - 515, X0 + 518, Y0 - 505),  # smaller than a pixel, on no centre
    ]
    return out


def test_parcel_masks_equal_contains_at_every_pixel_centre():
    parcels = _parcels()
    got = parcel_masks(np.asarray(parcels, dtype=object), XS, YS)
    for geom, (rows, cols, mask) in zip(parcels, got, strict=True):
        full = np.zeros((YS.size, XS.size), bool)
        full[rows, cols] = mask
        expected = np.array([[geom.contains(shapely.Point(x, y)) for x in XS] for y in YS])
        np.testing.assert_array_equal(full, expected, err_msg=geom.wkt)
        # the mask covers the parcel's box, not the window
        x0, y0, x1, y1 = geom.bounds
        assert mask.size <= (x1 - x0 + PX) * (y1 - y0 + PX) / PX**2
    assert sum(m.sum() for _, _, m in got) > 200  # the case is not trivially empty
    assert got[-2][2].size == 0 and got[-1][2].sum() == 0


def _settings(**kw) -> Settings:
    return Settings(cube_url="/nowhere", **kw)


def test_cost_check_names_the_figure_the_limit_and_what_to_do():
    s = _settings(max_response_mb=2, max_zonal_pixels=1000, max_chunks_per_request=4)
    big = Cost("/ard/cslc", pixels=300_000, date_sets=1, response_bytes=2_400_000)
    with pytest.raises(TooLargeError) as e:
        big.check(s)
    assert "2.4 MB" in str(e.value) and "2 MB" in str(e.value) and "POST /jobs" in str(e.value)
    zonal = Cost("/zonal backscatter", pixels=400, date_sets=2, response_bytes=800, parcels=4, parcel_pixels=101)
    with pytest.raises(TooLargeError) as e:
        zonal.check(s)
    assert "1002 pixel visits" in str(e.value) and "1000" in str(e.value) and "fewer" in str(e.value)
    ok = Cost("/zonal backscatter", pixels=400, date_sets=2, response_bytes=800, parcels=4, parcel_pixels=100)
    assert ok.zonal_pixels == 1000 and ok.check(s) is False
    assert Cost("/point coherence", 1, 9, 1800, chunks=4).check(s) is False
    assert Cost("/point coherence", 1, 9, 1800, chunks=5).check(s) is True  # → 202 + job


def _template() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !Ref, !Sub...: not needed
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


def test_default_limits_fit_the_lambda_functions_of_the_template():
    s = _settings()
    t = _template()
    default_timeout = t["Globals"]["Function"]["Timeout"]
    for name in ("ArdFunction", "ZarrFunction", "TilesFunction"):
        env = t["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {})
        env = {**t["Globals"]["Function"]["Environment"]["Variables"], **env}
        timeout = t["Resources"][name]["Properties"].get("Timeout", default_timeout)
        wait = float(env.get("SARCUBE_WAIT_S", s.wait_s))
        ttl = float(env.get("SARCUBE_LEASE_TTL_S", s.lease_ttl_s))
        response_mb = float(env.get("SARCUBE_MAX_RESPONSE_MB", s.max_response_mb))
        # a request that waited its longest still has time to read and answer
        assert wait <= timeout - 5, (name, wait, timeout)
        # a crashed holder's lease expires while a request waits for it: the waiter takes over
        assert ttl < wait, (name, ttl, wait)
        # 6 MB Lambda payload; binary bodies (COG, NetCDF, zip) go base64-encoded: × 4/3
        assert response_mb * 4 / 3 <= 6.0, (name, response_mb)


def test_a_zarr_chunk_of_every_product_fits_one_response():
    """/zarr answers one chunk per request: its raw bytes fit the default response limit."""
    from cube.products import Variant
    from cube.products._registry import PRODUCTS

    limit = _settings().max_response_mb * 1e6
    for name in PRODUCTS:
        v = Variant.of(name)
        cy, cx = v.chunks
        assert cy * cx * v.dtype.itemsize <= limit, (name, v.chunks, v.dtype)
