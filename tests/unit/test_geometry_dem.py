"""DEM reading and geoid conversion: the real Rome DEM against rasterio's reading of it."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import shared_path

from cube.errors import InvalidSourceError, NotFoundError
from cube.geometry import GeoidGrid, bilinear_height, load_geoid, make_synthetic_dem, read_dem

ROME = "sarsen/tests/data/Rome-30m-DEM.tif"


def _constant_geoid(value: float = 47.0) -> GeoidGrid:
    values = np.full((181, 361), value, np.float32)
    return GeoidGrid(values=values, lat0=-90.0, lon0=-180.0, dlat=1.0, dlon=1.0, name="const")


def test_rome_dem_georeferencing_and_values_match_rasterio():
    rasterio = pytest.importorskip("rasterio")
    path = str(shared_path(ROME))
    dem = read_dem(path, geoid=_constant_geoid(47.0))
    with rasterio.open(path) as src:
        raw = src.read(1).astype(np.float64)
        t = src.transform
        assert dem.transform == pytest.approx((t.c, t.a, 0.0, t.f, 0.0, t.e), abs=1e-12)
        assert src.crs.to_epsg() in (4326, 9707)
        nodata = src.nodata
    assert dem.crs == 4326 and dem.vertical_datum == "egm96" and dem.geoid == "const"
    valid = raw != nodata
    assert np.allclose(dem.heights[valid], raw[valid] + 47.0, atol=1e-3)
    assert np.isnan(dem.heights[~valid]).all()
    # a bbox reads a window with the same georeferencing
    part = read_dem(path, bbox=(12.50, 42.00, 12.52, 42.01), geoid=_constant_geoid(47.0))
    x0, dx, _, y0, _, dy = part.transform
    col0 = round((x0 - t.c) / t.a)
    row0 = round((y0 - t.f) / t.e)
    rows, cols = part.shape
    assert np.allclose(part.heights, raw[row0:row0 + rows, col0:col0 + cols] + 47.0, atol=1e-3)
    assert part.bounds[0] <= 12.50 and part.bounds[2] >= 12.52
    assert part.bounds[1] <= 42.00 and part.bounds[3] >= 42.01
    with pytest.raises(NotFoundError):
        read_dem(path, bbox=(0.0, 0.0, 0.1, 0.1), geoid=_constant_geoid())


def test_rome_dem_with_the_real_egm96_if_available():
    try:
        geoid = load_geoid("egm96")
    except NotFoundError as exc:
        pytest.skip(f"no EGM96 grid installed here: {exc}")
    # published EGM96 undulations: 17.16 m at (0, 0); Rome ~ 48.5 m
    assert geoid.undulation(0.0, 0.0) == pytest.approx(17.16, abs=0.05)
    dem = read_dem(str(shared_path(ROME)))
    assert 45 < np.nanmin(dem.heights) - 0.0 and np.nanmax(dem.heights) < 230


def test_geoid_grid_is_bilinear_and_wraps_longitude():
    lat = np.linspace(-90, 90, 181)
    lon = np.linspace(-180, 180, 361)
    values = (lat[:, None] * 0.1 + lon[None, :] * 0.01).astype(np.float32)
    g = GeoidGrid(values=values, lat0=-90.0, lon0=-180.0, dlat=1.0, dlon=1.0)
    assert g.undulation(10.5, 20.25) == pytest.approx(1.05 + 0.2025, abs=1e-5)
    assert g.undulation(10.0, 200.0) == pytest.approx(g.undulation(10.0, -160.0), abs=1e-6)


def test_geoid_npz_and_geotiff_loaders(tmp_path):
    lat = np.arange(-90, 90.1, 0.5)
    lon = np.arange(-180, 180.1, 0.5)
    cm = np.rint((30 * np.sin(np.radians(lat))[:, None] + 0.05 * lon[None, :]) * 100).astype(np.int32)
    d2 = np.diff(np.diff(cm, axis=1, prepend=0), axis=0, prepend=0).astype(np.int16)
    np.savez(tmp_path / "g.npz", latitudes=lat, longitudes=lon, undulation_d2=d2)
    g = load_geoid("egm96", path=str(tmp_path / "g.npz"))
    assert np.allclose(g.values, cm / 100.0, atol=1e-4)
    # a PROJ-style GeoTIFF grid (north-up, pixel is area)
    values = (cm[::-1] / 100.0).astype(np.float32)
    extratags = [
        (33550, "d", 3, (0.5, 0.5, 0.0), False),
        (33922, "d", 6, (0.0, 0.0, 0.0, -180.25, 90.25, 0.0), False),
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326), False),
    ]
    tifffile.imwrite(tmp_path / "g.tif", values, extratags=extratags)
    gt = load_geoid("egm96", path=str(tmp_path / "g.tif"))
    pts = (np.array([-33.3, 0.0, 51.7]), np.array([151.2, 0.0, -0.1]))
    assert np.allclose(gt.undulation(*pts), g.undulation(*pts), atol=1e-4)


def _write_dem(path, heights, vertical=None, nodata=None, pixel_is_point=False):
    keys = [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 2 if pixel_is_point else 1, 2048, 0, 1, 4326]
    if vertical:
        keys[3] += 1
        keys += [4096, 0, 1, vertical]
    extratags = [
        (33550, "d", 3, (0.001, 0.001, 0.0), False),
        (33922, "d", 6, (0.0, 0.0, 0.0, 10.0, 45.0, 0.0), False),
        (34735, "H", len(keys), tuple(keys), False),
    ]
    if nodata is not None:
        extratags.append((42113, "s", 0, str(nodata), False))
    tifffile.imwrite(path, heights, extratags=extratags, tile=(16, 16))


def test_vertical_datum_keys_nodata_and_pixel_is_point(tmp_path):
    h = np.arange(40 * 50, dtype=np.int16).reshape(40, 50)
    h[0, 0] = -9999
    _write_dem(tmp_path / "e.tif", h, vertical=3855, nodata=-9999)
    dem = read_dem(str(tmp_path / "e.tif"), geoid=_constant_geoid(10.0))
    assert dem.vertical_datum == "egm2008"
    assert np.isnan(dem.heights[0, 0]) and dem.heights[0, 1] == 11.0
    assert dem.transform[0] == pytest.approx(10.0) and dem.transform[3] == pytest.approx(45.0)
    # a tiled read of a window equals the same window of the full read
    part = read_dem(str(tmp_path / "e.tif"), bbox=(10.0105, 44.975, 10.0301, 44.99),
                    geoid=_constant_geoid(10.0), margin_pixels=0)
    x0, _, _, y0, _, _ = part.transform
    r0, c0 = round((45.0 - y0) / 0.001), round((x0 - 10.0) / 0.001)
    assert np.array_equal(part.heights, dem.heights[r0:r0 + part.shape[0], c0:c0 + part.shape[1]])
    # no vertical key: the caller must say
    _write_dem(tmp_path / "n.tif", h)
    with pytest.raises(InvalidSourceError, match="vertical_datum"):
        read_dem(str(tmp_path / "n.tif"))
    ell = read_dem(str(tmp_path / "n.tif"), vertical_datum="ellipsoid")
    assert ell.heights[3, 4] == h[3, 4]
    # PixelIsPoint: the tiepoint is the centre of pixel (0, 0)
    _write_dem(tmp_path / "p.tif", h, pixel_is_point=True)
    pt = read_dem(str(tmp_path / "p.tif"), vertical_datum="ellipsoid")
    assert pt.transform[0] == pytest.approx(10.0 - 0.0005)
    assert pt.transform[3] == pytest.approx(45.0 + 0.0005)
    with pytest.raises(NotFoundError):
        read_dem(str(tmp_path / "missing.tif"))


def test_synthetic_dem_and_bilinear_lookup():
    dem = make_synthetic_dem((10.0, 45.0, 10.1, 45.05), posting_deg=0.001, kind="ramp",
                             base_height=100.0, amplitude=100.0)
    assert dem.shape == (50, 100) and dem.crs == 4326
    # the ramp is linear in longitude, so bilinear sampling is exact inside
    lon = np.array([10.0123, 10.0577, 10.09])
    h = dem.sample_lonlat(lon, np.array([45.01, 45.02, 45.04]))
    assert np.allclose(h, 100.0 + 100.0 * (lon - 10.0) / 0.1, atol=1e-3)
    assert np.isnan(dem.sample_lonlat(np.array([9.9]), np.array([45.01]))).all()
    assert np.isnan(bilinear_height(dem.heights, -1.0, 3.0))
    for kind in ("flat", "hills", "rough"):
        d = make_synthetic_dem((10.0, 45.0, 10.01, 45.01), posting_deg=0.001, kind=kind)
        assert np.isfinite(d.heights).all()
    with pytest.raises(ValueError):
        make_synthetic_dem((10.0, 45.0, 10.01, 45.01), kind="volcano")
