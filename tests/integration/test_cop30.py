"""The Copernicus DEM read the production way (tiles by 1° cell, windows, cached per cube) from
a SeaweedFS bucket laid out as the public one: tiles cut from the real Rome DEM and from the
simulator's DEM (made orthometric with PROJ's EGM96), checked against rasterio and the truth."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import s3fs
import tifffile
from conftest import shared_path

from cube.cli import main
from cube.errors import NotFoundError
from cube.geometry import GeoidStandInWarning, cop30_orthometric, cop30_tile_name, find_geoid_file, read_dem
from cube.products import BurstStack, set_cube_dem
from cube.simulate._tiff import write_dem_geotiff
from cube.storage import list_burst_groups

rasterio = pytest.importorskip("rasterio")

ROME = "sarsen/tests/data/Rome-30m-DEM.tif"
ARCSEC = 1.0 / 3600.0
EGM96_GTX = "/usr/share/proj/egm96_15.gtx"


def _tiff(heights: np.ndarray, x0: float, y0: float, dx: float, dy: float, tile: int = 1024) -> bytes:
    """A float32 GeoTIFF tagged EPSG:4326 only, as the Copernicus DEM COGs are."""
    keys = (1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326)
    extratags = [(33550, "d", 3, (dx, dy, 0.0), False), (33922, "d", 6, (0, 0, 0, x0, y0, 0), False),
                 (34735, "H", len(keys), keys, False)]
    buf = io.BytesIO()
    tifffile.imwrite(buf, heights.astype(np.float32), tile=(tile, tile), compression="zlib",
                     extratags=extratags)
    return buf.getvalue()


def _key(lat: int, lon: int) -> str:
    name = cop30_tile_name(lat, lon)
    return f"{name}/{name}.tif"


def _proj_undulation(lat, lon):
    """EGM96 N (m) from PROJ's vgridshift with proj-data's grid: independent of cube.geometry."""
    from pyproj import Transformer

    t = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +inv +proj=vgridshift +grids={EGM96_GTX} +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    return -np.asarray(t.transform(np.asarray(lon, float), np.asarray(lat, float), np.zeros(np.shape(lat)))[2])


@pytest.fixture(scope="module")
def rome_bucket(s3_server):
    """Two full-size COP30 tiles (under a prefix of the session's bucket: SeaweedFS has few volumes) (3600², 1024² COG tiles) holding the Rome DEM where it lies.

    The Rome DEM's pixel centres are on whole arc-seconds as COP30's are: its rows north of 42°
    go to cell N42 E012, the others to N41 E012; the rest of each tile is smooth made-up terrain.
    """
    with rasterio.open(shared_path(ROME)) as src:
        rome = src.read(1).astype(np.float32)
        t = src.transform
    col0 = round((t.c - (12.0 - 0.5 * ARCSEC)) / ARCSEC)
    i = np.arange(3600, dtype=np.float32)
    fill = np.round((300 + 80 * np.sin(i / 300)[:, None] * np.cos(i / 170)[None, :]) * 2) / 2
    fs = s3fs.S3FileSystem(**s3_server["storage_options"])
    sizes = {}
    for lat in (41, 42):
        tile = fill.copy()
        y0 = lat + 1 + 0.5 * ARCSEC
        row0 = round((y0 - t.f) / ARCSEC)  # tile row of Rome row 0 (negative: north of the tile)
        r0, r1 = max(row0, 0), min(row0 + rome.shape[0], 3600)
        tile[r0:r1, col0:col0 + rome.shape[1]] = rome[r0 - row0:r1 - row0]
        data = _tiff(tile, 12.0 - 0.5 * ARCSEC, y0, ARCSEC, ARCSEC)
        fs.pipe(f"cubes/cop30-rome/{_key(lat, 12)}", data)
        sizes[_key(lat, 12)] = len(data)
    return {"url": "s3://cubes/cop30-rome", "options": s3_server["storage_options"], "sizes": sizes,
            "rome": rome, "transform": t}


def test_cop30_windows_across_two_tiles_equal_the_rome_dem(rome_bucket):
    bbox = (12.47, 41.97, 12.53, 42.03)  # crosses 42° N: both tiles
    stats: dict = {}
    heights, transform, source = cop30_orthometric(bbox, rome_bucket["url"], rome_bucket["options"],
                                                   margin_pixels=0, stats=stats)
    assert sorted(stats["tiles"]) == sorted(rome_bucket["sizes"]) and not stats["missing"]
    assert "Copernicus_DSM_COG_10_N41_00_E012_00_DEM" in source
    # windows, never whole tiles: a few COG tiles and headers of each object
    assert 0 < stats["bytes_fetched"] < 0.3 * sum(rome_bucket["sizes"].values())
    t = rome_bucket["transform"]
    col0, row0 = round((transform[0] - t.c) / t.a), round((transform[3] - t.f) / t.e)
    assert transform[1] == pytest.approx(t.a) and transform[5] == pytest.approx(t.e)
    rows, cols = heights.shape
    assert heights.shape[0] > 200 and 0 <= row0 and row0 + rows <= 360
    np.testing.assert_array_equal(heights, rome_bucket["rome"][row0:row0 + rows, col0:col0 + cols])
    with pytest.raises(NotFoundError, match="no Copernicus DEM tile covers"):
        cop30_orthometric((20.1, 10.1, 20.2, 10.2), rome_bucket["url"], rome_bucket["options"])


def _cells(heights, x0, y0, dx, dy):
    """Split a north-up EPSG:4326 raster (dy < 0) into the 1° cells of its pixel centres."""
    rows, cols = heights.shape
    lat_cell = np.floor(y0 + (np.arange(rows) + 0.5) * dy - 1e-9).astype(int)
    lon_cell = np.floor(x0 + (np.arange(cols) + 0.5) * dx + 1e-9).astype(int)
    for la in np.unique(lat_cell):
        for lo in np.unique(lon_cell):
            r, c = np.nonzero(lat_cell == la)[0], np.nonzero(lon_cell == lo)[0]
            yield int(la), int(lo), heights[r[0]:r[-1] + 1, c[0]:c[-1] + 1], x0 + c[0] * dx, y0 + r[0] * dy


def test_sarcube_dem_cop30_on_the_simulated_cube(tiny_cube, tiny_stack, s3_env, capsys):
    """Simulated terrain as COP30 tiles of orthometric heights: geocoding with the geoid applied
    lands on the simulator's truth; without it, it does not."""
    truth_tif = str(tiny_stack.truth_dir / "dem.tif")
    with rasterio.open(truth_tif) as src:
        h = src.read(1).astype(np.float64)
        t = src.transform
        rows, cols = np.indices(h.shape)
        lon, lat = rasterio.transform.xy(t, rows.ravel(), cols.ravel())
    n = _proj_undulation(np.array(lat), np.array(lon)).reshape(h.shape)
    assert np.abs(n).min() > 5.0  # a geoid that matters where the simulator puts its scene
    ortho = h - n
    fs = s3fs.S3FileSystem(**s3_env["storage_options"])
    keys = []
    for la, lo, part, x0, y0 in _cells(ortho, t.c, t.f, t.a, t.e):
        keys.append(f"cubes/cop30-sim/{_key(la, lo)}")
        fs.pipe(keys[-1], _tiff(part, x0, y0, t.a, -t.e, tile=256))
    stack_args = (tiny_cube, *list_burst_groups(tiny_cube)[0])
    with warnings.catch_warnings(record=True) as stand_ins:
        warnings.simplefilter("always", GeoidStandInWarning)
        _check_cop30_cube(tiny_cube, truth_tif, stack_args, ortho, keys, t, fs, s3_env["endpoint_url"],
                          capsys, stand_ins)


def _check_cop30_cube(tiny_cube, truth_tif, stack_args, ortho, keys, t, fs, endpoint, capsys, stand_ins):
    try:
        assert main(["dem", tiny_cube.url, "cop30", "--cop30-url", "s3://cubes/cop30-sim",
                     "--endpoint-url", endpoint]) == 0
        out = capsys.readouterr().out
        egm2008 = find_geoid_file("egm2008")
        assert "heights above EGM2008" in out
        assert ("EGM96 from /usr/share/proj/egm96_15.gtx will stand in" in out) == (egm2008 is None)
        stack = BurstStack(*stack_args)
        dem = stack.dem  # every read of an EGM2008 DEM with EGM96 standing in warns
        assert dem.vertical_datum == "egm2008" and dem.source.startswith("cop30:s3://cubes/cop30-sim")
        truth = read_dem(truth_tif)
        x0, dx, _, y0, _, dy = dem.transform
        r, c = np.indices(dem.shape)
        want = truth.sample(x0 + (c + 0.5) * dx, y0 + (r + 0.5) * dy)
        ok = np.isfinite(want)
        assert ok.mean() > 0.9
        if egm2008 is None:  # EGM96 stands in: exactly the simulator's ellipsoidal heights back
            assert any(issubclass(w.category, GeoidStandInWarning) for w in stand_ins)
            assert "stand-in for egm2008" in dem.geoid
            np.testing.assert_allclose(dem.heights[ok], want[ok], atol=0.01)
        else:  # EGM2008 applied: off by EGM2008 - EGM96, decimetres to a few metres
            assert np.abs(dem.heights[ok] - want[ok]).max() < 3.0
        date = stack.dates[0]
        gh, gw = stack.grid.height // 2, stack.grid.width // 2
        window = (slice(gh - 32, gh + 32), slice(gw - 32, gw + 32))
        line, sample = stack.positions(date, window)
        ds = stack.dataset(stack.selection("amplitude", [(date,)], window))
        assert ds.attrs["dem_vertical_datum"] == "egm2008" and ds.attrs["geoid"] == dem.geoid

        # the windows are cached in the cube: the bucket is no longer read
        assert tiny_cube.fs.glob(tiny_cube.path("dem/cop30-*/*.tif"))
        fs.rm(keys)
        again = BurstStack(*stack_args).dem
        np.testing.assert_array_equal(again.heights, dem.heights)

        # the truth: the simulator's own ellipsoidal DEM
        set_cube_dem(tiny_cube, truth_tif)
        t_line, t_sample = BurstStack(*stack_args).positions(date, window)
        both = np.isfinite(t_line) & np.isfinite(line)
        assert both.mean() > 0.5
        if egm2008 is None:
            assert np.abs(line - t_line)[both].max() < 1e-3 and np.abs(sample - t_sample)[both].max() < 1e-2

        # orthometric heights taken as ellipsoidal (no geoid): the same pixels land elsewhere
        for key, part in zip(keys, _cells(ortho, t.c, t.f, t.a, t.e), strict=True):
            fs.pipe(key, _tiff(part[2], part[3], part[4], t.a, -t.e, tile=256))
        assert main(["dem", tiny_cube.url, "cop30", "--cop30-url", "s3://cubes/cop30-sim", "--endpoint-url",
                     endpoint, "--vertical-datum", "ellipsoid"]) == 0
        assert "geoid: none applied" in capsys.readouterr().out
        n_line, n_sample = BurstStack(*stack_args).positions(date, window)
        both &= np.isfinite(n_sample)
        assert np.abs(n_sample - t_sample)[both].min() > 1.0  # whole pixels off, everywhere
    finally:
        set_cube_dem(tiny_cube, truth_tif)


def test_sarcube_dem_reports_the_datum_and_refuses_bad_dems(tiny_cube, tiny_stack, tmp_path, capsys):
    truth_tif = str(tiny_stack.truth_dir / "dem.tif")
    try:
        assert main(["dem", tiny_cube.url, str(shared_path(ROME))]) == 0
        out = capsys.readouterr().out
        assert "heights above EGM96 (the file says EPSG:9707" in out
        assert "geoid: EGM96 from /usr/share/proj/egm96_15.gtx" in out
        # the Rome DEM does not cover the simulated bursts
        stack = BurstStack(tiny_cube, *list_burst_groups(tiny_cube)[0])
        with pytest.raises(NotFoundError, match="does not cover"):
            _ = stack.dem
        # a DEM over half the burst
        truth = np.load(tiny_stack.truth_dir / "truth.npz")
        half = truth["dem_lon"].size // 2
        write_dem_geotiff(tmp_path / "half.tif", truth["dem_lat"], truth["dem_lon"][:half],
                          truth["dem_height"][:, :half])
        assert main(["dem", tiny_cube.url, str(tmp_path / "half.tif")]) == 0
        with pytest.raises(NotFoundError, match="covers only part of burst"):
            _ = BurstStack(tiny_cube, *list_burst_groups(tiny_cube)[0]).dem
        plain = tmp_path / "plain.tif"
        tifffile.imwrite(plain, np.ones((8, 8), np.float32))
        assert main(["dem", tiny_cube.url, str(plain)]) == 2
        assert "not a GeoTIFF" in capsys.readouterr().err
        nodatum = tmp_path / "nodatum.tif"
        nodatum.write_bytes(_tiff(np.ones((16, 16)), 12.0, 42.0, ARCSEC, ARCSEC, tile=16))
        assert main(["dem", tiny_cube.url, str(nodatum)]) == 2
        assert "--vertical-datum" in capsys.readouterr().err
        assert main(["dem", tiny_cube.url, str(nodatum), "--vertical-datum", "egm96"]) == 0
        assert "heights above EGM96 (the file names no vertical CRS; --vertical-datum egm96)" in \
            capsys.readouterr().out
    finally:
        set_cube_dem(tiny_cube, truth_tif)


def test_sarcube_geoid_prints_the_undulation(capsys):
    want = _proj_undulation(np.array([41.9, 40.0]), np.array([12.5, -100.0]))
    assert main(["geoid", "12.5", "41.9"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(want[0], abs=0.001)
    assert main(["geoid", "--", "-100", "40"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(want[1], abs=0.001)
    assert main(["geoid", "12.5", "95"]) == 2
    assert "outside -90..90" in capsys.readouterr().err
    if find_geoid_file("egm2008") is None:
        assert main(["geoid", "12.5", "41.9", "--model", "egm2008"]) == 2
        assert "no EGM2008 geoid grid" in capsys.readouterr().err
