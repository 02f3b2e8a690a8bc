"""DEM reading, datums and geoids: the real Rome DEM against rasterio, EGM96 against PROJ and NGA."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import tifffile
from conftest import shared_path

from cube.errors import InvalidSourceError, NotFoundError
from cube.geometry import (
    GeoidGrid,
    GeoidStandInWarning,
    bilinear_height,
    dem_info,
    find_geoid_file,
    geoid_for_datum,
    load_geoid,
    make_synthetic_dem,
    read_dem,
)

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


EGM96_GTX = "/usr/share/proj/egm96_15.gtx"  # Debian's proj-data (make setup and CI install it)
# NGA's published EGM96 test values (lat, lon, N m; the egm96 README's INTPT.DAT/OUTINTPT.DAT),
# computed from the full harmonic model: the 15' grid interpolated bilinearly is within 6 cm.
NGA_EGM96 = [(38.6281550, 269.7791550, -31.628), (-14.6212170, 305.0211140, -2.969),
             (46.8743190, 102.4487290, -43.575), (-23.6174460, 133.8747120, 15.871),
             (38.6254730, 359.9995000, 50.066), (-0.4667440, 0.0023000, 17.329)]


def _proj_undulation(lat, lon, grid=EGM96_GTX):
    """N from PROJ's own vgridshift with the same grid (pyproj; h = 0 maps to H = -N)."""
    from pyproj import Transformer

    t = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +inv +proj=vgridshift +grids={grid} +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return -np.asarray(t.transform(lon, lat, np.zeros(lon.shape))[2])


def test_egm96_from_proj_data_matches_proj_and_nga():
    geoid = load_geoid("egm96")  # no skip: make setup and CI install proj-data
    assert geoid.name == "egm96:egm96_15.gtx" and find_geoid_file("egm96") == EGM96_GTX
    lat = np.array([0.0, 41.9, -33.9, 89.9, -89.9, 27.99, 10.0, 10.0, 51.5])
    lon = np.array([0.0, 12.5, 151.2, 0.0, 0.0, 86.93, 179.9, -179.95, -0.13])
    np.testing.assert_allclose(geoid.undulation(lat, lon), _proj_undulation(lat, lon), atol=0.05)
    # the same with PROJ's EPSG transformation WGS 84 -> WGS 84 + EGM96 height (cs2cs, Debian's PROJ)
    cs2cs = shutil.which("cs2cs")
    if cs2cs is not None:
        rows = "\n".join(f"{a} {b} 0" for a, b in zip(lat, lon, strict=True))
        out = subprocess.run([cs2cs, "-f", "%.4f", "EPSG:4979", "EPSG:9707"], input=rows,
                             capture_output=True, text=True, check=True, env={"PROJ_NETWORK": "OFF"})
        h = np.array([float(line.split()[2]) for line in out.stdout.splitlines()])
        np.testing.assert_allclose(geoid.undulation(lat, lon), -h, atol=0.05)
    nga = np.array(NGA_EGM96)
    np.testing.assert_allclose(geoid.undulation(nga[:, 0], nga[:, 1]), nga[:, 2], atol=0.06)
    assert geoid.undulation(0.0, 0.0) == pytest.approx(17.16, abs=0.01)


def test_gtx_reader_matches_gdal():
    rasterio = pytest.importorskip("rasterio")
    geoid = load_geoid("egm96", path=EGM96_GTX)
    with rasterio.open(EGM96_GTX) as src:
        gdal = src.read(1)
        t = src.transform
    # GDAL shows the grid north-up with its outer corner half a cell beyond the nodes
    assert np.array_equal(gdal[::-1], geoid.values)
    assert (t.c + 0.5 * t.a, t.f + (gdal.shape[0] - 0.5) * t.e) == pytest.approx((geoid.lon0, geoid.lat0))


def test_rome_dem_heights_are_orthometric_plus_egm96():
    rasterio = pytest.importorskip("rasterio")
    path = str(shared_path(ROME))
    dem = read_dem(path)  # EPSG:9707 in the file: EGM96 from proj-data
    assert dem.vertical_datum == "egm96" and dem.geoid == "egm96:egm96_15.gtx"
    with rasterio.open(path) as src:
        raw = src.read(1).astype(np.float64)
        valid = raw != src.nodata
        rows, cols = np.nonzero(valid)
        lon, lat = rasterio.transform.xy(src.transform, rows, cols)
    n = _proj_undulation(np.array(lat), np.array(lon))
    assert 48.4 < n.min() and n.max() < 48.8  # Rome: about 48.5 m
    np.testing.assert_allclose(dem.heights[rows, cols], raw[rows, cols] + n, atol=2e-3)


def test_egm2008_is_applied_or_egm96_stands_in_with_a_warning():
    grid = find_geoid_file("egm2008")
    if grid is None:  # these machines: no EGM2008 grid
        with pytest.warns(GeoidStandInWarning, match="EGM96 applied"):
            g = geoid_for_datum("egm2008")
        assert g.name == "egm96:egm96_15.gtx (stand-in for egm2008: no EGM2008 grid here)"
        with pytest.raises(NotFoundError, match="us_nga_egm08_25.tif"):
            geoid_for_datum("egm2008", stand_in=False)
    else:  # the container images: PROJ-data's grid
        g = geoid_for_datum("egm2008")
        assert g.model == "egm2008"
    # EGM2008 - EGM96 is decimetres at Rome (docs/geometry.md): either grid is near 48.5 m
    assert 48.2 < g.undulation(41.9, 12.5) < 48.8


def test_geoid_netcdf_grid(tmp_path):
    h5py = pytest.importorskip("h5py")
    lat = np.linspace(90, -90, 361)
    lon = np.linspace(0, 360, 721)
    values = (20 * np.cos(np.radians(lat))[:, None] * np.sin(np.radians(lon))[None, :]).astype(np.float32)
    with h5py.File(tmp_path / "g.nc", "w") as f:
        f["lat"], f["lon"], f["geoid_h"] = lat, lon, values
    g = load_geoid("egm2008", path=str(tmp_path / "g.nc"))
    pts = (np.array([10.0, -45.25, 60.0]), np.array([-90.0, 170.5, 359.9]))
    want = 20 * np.cos(np.radians(pts[0])) * np.sin(np.radians(pts[1]))
    np.testing.assert_allclose(g.undulation(*pts), want, atol=0.01)


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


def _write_keys(path, geokeys):
    extratags = [
        (33550, "d", 3, (0.001, 0.001, 0.0), False),
        (33922, "d", 6, (0.0, 0.0, 0.0, 10.0, 45.0, 0.0), False),
        (34735, "H", len(geokeys), tuple(geokeys), False),
    ]
    tifffile.imwrite(path, np.ones((8, 8), np.float32), extratags=extratags)


def test_vertical_datum_detection_and_bad_crs(tmp_path):
    assert dem_info(str(shared_path(ROME))).vertical_datum == "egm96"  # compound EPSG:9707
    cases = {
        "egm2008": [1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 4096, 0, 1, 3855],
        "egm2008c": [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 9518],
        "ellipsoid": [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4979],
        None: [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326],
        "EPSG:5703": [1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 4096, 0, 1, 5703],
    }
    for name, keys in cases.items():
        _write_keys(tmp_path / f"{name}.tif", keys)
        info = dem_info(str(tmp_path / f"{name}.tif"))
        assert info.crs == 4326 and info.vertical_datum == (name[:7] if name == "egm2008c" else name)
        assert info.bounds == pytest.approx((10.0, 44.992, 10.008, 45.0))
    with pytest.raises(InvalidSourceError, match="unknown vertical datum EPSG:5703"):
        read_dem(str(tmp_path / "EPSG:5703.tif"))
    with pytest.raises(InvalidSourceError, match="does not say what its heights are relative to"):
        read_dem(str(tmp_path / "None.tif"))
    _write_keys(tmp_path / "nocrs.tif", [1, 1, 0, 2, 1024, 0, 1, 2, 1025, 0, 1, 1])
    with pytest.raises(InvalidSourceError, match="names no EPSG horizontal CRS"):
        dem_info(str(tmp_path / "nocrs.tif"))
    tifffile.imwrite(tmp_path / "plain.tif", np.ones((8, 8), np.float32))
    with pytest.raises(InvalidSourceError, match="not a GeoTIFF"):
        read_dem(str(tmp_path / "plain.tif"))
