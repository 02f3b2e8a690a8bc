"""Per-burst UTM grid and map-pixel radar positions, checked against pyproj and ESA's grid."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from conftest import shared_path

from cube.format import SPEED_OF_LIGHT
from cube.geometry import (
    BurstGrid,
    Dem,
    burst_footprint,
    burst_orbit,
    grid_coordinates,
    make_burst_grid,
    make_synthetic_dem,
    radar_positions,
    rdr2geo,
    solve_radar_nodes,
    utm_epsg,
)
from cube.ingest import open_safe

PAIR0 = ("hyp3-isce2/tests/data/packaging/slc/"
         "S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE")
AZORES = "SARProcessing.jl/test/testData/s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"


@pytest.fixture(scope="module")
def burst():
    return open_safe(str(shared_path(PAIR0))).bursts(swaths=["IW1"], polarizations=["VV"])[3]


@pytest.fixture(scope="module")
def grid(burst):
    return make_burst_grid(burst)


@pytest.fixture(scope="module")
def hills(burst):
    lons, lats = burst_footprint(burst, heights=(0.0,))
    bbox = (lons.min() - 0.05, lats.min() - 0.05, lons.max() + 0.05, lats.max() + 0.05)
    return make_synthetic_dem(bbox, posting_deg=1 / 1200, kind="hills", base_height=-20.0,
                              amplitude=3000.0, wavelength_m=8000.0)


def test_utm_zone_agrees_with_pyproj():
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    for lon, lat in [(-130.4, 52.3), (12.5, 41.9), (-27.2, 38.7), (151.2, -33.9), (0.01, -0.01)]:
        info = query_utm_crs_info(datum_name="WGS 84",
                                  area_of_interest=AreaOfInterest(lon, lat, lon, lat))
        codes = {int(i.code) for i in info}
        assert utm_epsg(lon, lat) in codes


@pytest.mark.parametrize("rel,swath,index", [(PAIR0, "IW1", 3), (AZORES, "IW3", 6)],
                         ids=["haida-gwaii-iw1", "azores-iw3"])
def test_burst_grid_is_snapped_and_covers_the_valid_footprint(rel, swath, index):
    from pyproj import Transformer

    bursts = open_safe(str(shared_path(rel))).bursts(swaths=[swath])
    b = [x for x in bursts if x.burst_index == index][0]
    nxt = [x for x in bursts if x.burst_index == index + 1]
    g = make_burst_grid(b)
    assert g.x0 % 5 == 0 and g.y0 % 10 == 0 and (g.dx, g.dy) == (5.0, 10.0)
    assert BurstGrid.model_validate_json(g.model_dump_json()) == g
    assert g.transform == (g.x0, 5.0, 0.0, g.y0, 0.0, -10.0)
    # ESA's grid rows at this burst's line 0 and at the next burst's line 0, interpolated
    # to the valid samples and lines, give the valid footprint; it must lie inside the grid
    top = sorted((p for p in b.geolocation_grid if p.line == 0), key=lambda p: p.pixel)
    bottom = sorted((p for p in nxt[0].geolocation_grid if p.line == 0), key=lambda p: p.pixel)
    to_utm = Transformer.from_crs(4326, g.epsg, always_xy=True)
    samples = np.linspace(b.first_valid_sample, b.last_valid_sample, 64)

    def row_xy(points):
        x, y = to_utm.transform([p.longitude for p in points], [p.latitude for p in points])
        pix = [p.pixel for p in points]
        return np.interp(samples, pix, x), np.interp(samples, pix, y)

    xt, yt = row_xy(top)
    xb, yb = row_xy(bottom)
    # the next burst's line 0 sits about (lines - overlap) lines later in time
    span = (nxt[0].sensing_start - b.sensing_start).total_seconds() / b.azimuth_time_interval
    xmin, ymin, xmax, ymax = g.bounds
    xs, ys = [], []
    for line in (b.first_valid_line, b.last_valid_line):
        f = line / span
        xs.append((1 - f) * np.asarray(xt) + f * np.asarray(xb))
        ys.append((1 - f) * np.asarray(yt) + f * np.asarray(yb))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert np.all((x > xmin + 50) & (x < xmax - 50))
    assert np.all((y > ymin + 50) & (y < ymax - 50))
    # ... and the grid is not much larger than that (margins: 200 m, plus the footprint's
    # shift in range over the heights it allows for)
    assert max(x.min() - xmin, xmax - x.max(), y.min() - ymin, ymax - y.max()) < 2000


def test_grid_coordinates_of_a_window(grid):
    x, y = grid_coordinates(grid, (slice(10, 20), slice(100, 130)))
    assert x.shape == (30,) and y.shape == (10,)
    assert x[0] == grid.x0 + 100.5 * 5.0 and y[0] == grid.y0 - 10.5 * 10.0
    assert np.all(np.diff(y) == -10.0) and np.all(np.diff(x) == 5.0)
    xf, yf = grid_coordinates(grid)
    assert xf.size == grid.width and yf.size == grid.height
    with pytest.raises(ValueError):
        grid_coordinates(grid, (slice(5, 5), slice(0, 10)))


def test_radar_positions_put_pixels_where_rdr2geo_says(burst, grid, hills):
    """(line, sample, DEM height) of a map pixel goes back, through rdr2geo and pyproj's
    UTM, to the centre of that pixel."""
    from pyproj import Transformer

    window = (slice(1500, 1800), slice(8000, 8400))
    line, sample = radar_positions(burst, grid, window, hills)
    x, y = grid_coordinates(grid, window)
    xx, yy = np.meshgrid(x, y)
    ok = np.isfinite(line)
    assert ok.mean() > 0.9
    pick = np.flatnonzero(ok.ravel())[::97]
    lon, lat = Transformer.from_crs(grid.epsg, 4326, always_xy=True).transform(
        xx.ravel()[pick], yy.ravel()[pick])
    h = hills.sample_lonlat(lon, lat)
    orbit = burst_orbit(burst)
    t = line.ravel()[pick] * burst.azimuth_time_interval
    rng = (burst.slant_range_time + sample.ravel()[pick] / burst.range_sampling_rate) * SPEED_OF_LIGHT / 2
    la, lo, _ = rdr2geo(orbit, t, rng, h)
    bx, by = Transformer.from_crs(4326, grid.epsg, always_xy=True).transform(lo, la)
    assert np.hypot(bx - xx.ravel()[pick], by - yy.ravel()[pick]).max() < 0.02  # m


@pytest.mark.parametrize("bistatic", [False, True])
def test_interpolated_positions_match_exact_geo2rdr(burst, grid, hills, bistatic):
    for window in [(slice(1500, 2012), slice(8000, 8512)), (slice(2600, 3112), slice(12000, 12512))]:
        line, sample = radar_positions(burst, grid, window, hills, bistatic=bistatic, mask="none")
        le, se = radar_positions(burst, grid, window, hills, bistatic=bistatic, method="exact",
                                 mask="none")
        assert np.isfinite(le).all()
        assert np.abs(line - le).max() < 1e-4
        assert np.abs(sample - se).max() < 1e-3


def test_radar_nodes_fill_row_blocks_with_the_exact_geo2rdr_positions(burst, grid, hills):
    """Blocks of rows filled from one set of nodes (as the whole-burst CSLC goes) match exact
    geo2rdr per pixel; a bad block or buffer is a ValueError naming it."""
    window = (slice(1500, 1700), slice(8000, 8300))
    nodes = solve_radar_nodes(burst, grid, window, hills, mask="none")
    le, se = radar_positions(burst, grid, window, hills, method="exact", mask="none")
    line, sample = np.empty((48, 300)), np.empty((48, 300))
    for b0 in range(0, 200, 48):
        n = min(48, 200 - b0)
        nodes.fill(b0, b0 + n, line[:n], sample[:n])
        assert np.abs(line[:n] - le[b0:b0 + n]).max() < 1e-4
        assert np.abs(sample[:n] - se[b0:b0 + n]).max() < 1e-3
    with pytest.raises(ValueError, match="rows"):
        nodes.fill(190, 210, line[:20], sample[:20])
    with pytest.raises(ValueError, match="sample must be float64"):
        nodes.fill(0, 10, line[:10], sample[:10, :100])


def _positions_reference(nodes, row0, row1):
    """``RadarNodes.fill`` in numpy, pixel by pixel as its docstring says: float64 (rows, cols) × 2."""
    q = nodes.nodes
    heights = nodes.heights.astype(np.float64)
    hr, hc = heights.shape
    ncoef = nodes.levels
    line = np.full((row1 - row0, nodes.cols), np.nan)
    sample = np.full_like(line, np.nan)
    for i in range(row0, row1):
        ci, fr = nodes.row_cell[i], nodes.row_frac[i]
        for j in range(nodes.cols):
            cj, fc = nodes.col_cell[j], nodes.col_frac[j]
            if not nodes.cell_on[ci, cj]:
                continue
            corners = q[:, ci:ci + 2, cj:cj + 2]
            v = ((1 - fr) * ((1 - fc) * corners[:, 0, 0] + fc * corners[:, 0, 1])
                 + fr * ((1 - fc) * corners[:, 1, 0] + fc * corners[:, 1, 1]))
            r, c = v[0], v[1]
            if not (-0.5 <= r <= hr - 0.5 and -0.5 <= c <= hc - 0.5):
                continue
            r, c = min(max(r, 0.0), hr - 1.0), min(max(c, 0.0), hc - 1.0)
            r0, c0 = min(int(r), max(hr - 2, 0)), min(int(c), max(hc - 2, 0))
            r1, c1 = min(r0 + 1, hr - 1), min(c0 + 1, hc - 1)
            dr, dc = r - r0, c - c0
            h = ((1 - dr) * ((1 - dc) * heights[r0, c0] + dc * heights[r0, c1])
                 + dr * ((1 - dc) * heights[r1, c0] + dc * heights[r1, c1]))
            if np.isnan(h):
                continue
            u = (h - nodes.h_centre) / nodes.h_scale
            lv = np.polyval(v[2:2 + ncoef][::-1], u)
            sv = np.polyval(v[2 + ncoef:2 + 2 * ncoef][::-1], u)
            b = nodes.box
            if b[0] <= lv <= b[1] and b[2] <= sv <= b[3]:
                line[i - row0, j], sample[i - row0, j] = lv, sv
    return line, sample


@pytest.mark.parametrize("levels", [1, 3, 4])
def test_radar_nodes_fill_matches_a_numpy_reference(burst, grid, hills, levels):
    """The position kernel (nodes → DEM height → polynomial in height, masked to the valid
    window) against the same arithmetic pixel by pixel in numpy, with a hole of no-data
    heights and cells outside the burst (NaN in both)."""
    window = (slice(1800, 1830), slice(150, 950))  # across the edge of the valid burst
    holed = hills.heights.copy()
    nodes = solve_radar_nodes(burst, grid, window, hills, mask="valid", height_levels=levels)
    rows = nodes.row_cell.size
    centre = np.nanmean(nodes.nodes[0]), np.nanmean(nodes.nodes[1])
    holed[int(centre[0]) - 3:int(centre[0]) + 3, int(centre[1]) - 4:int(centre[1]) + 4] = np.nan
    nodes = dataclasses.replace(nodes, heights=holed)
    line, sample = np.empty((rows, 800)), np.empty((rows, 800))
    nodes.fill(0, rows, line, sample)
    ref_l, ref_s = _positions_reference(nodes, 0, rows)
    assert np.array_equal(np.isnan(line), np.isnan(ref_l)) and np.array_equal(np.isnan(sample), np.isnan(ref_s))
    ok = np.isfinite(ref_l)
    assert 0.05 < ok.mean() < 0.95  # NaN from the hole and the mask
    assert levels > 1 or not nodes.cell_on.all()  # and cells skipped (one level: narrow cell ranges)
    assert np.abs(line[ok] - ref_l[ok]).max() < 1e-9 and np.abs(sample[ok] - ref_s[ok]).max() < 1e-8


def test_positions_in_a_projected_dem_and_masks(burst, grid):
    # a DEM on the grid's own UTM CRS (30 m, smooth heights): exercises the DEM transform
    x0, y1 = grid.x0 - 300.0, grid.y0 + 300.0
    cols, rows = int(grid.width * 5 / 30) + 20, int(grid.height * 10 / 30) + 20
    xx = x0 + (np.arange(cols) + 0.5) * 30.0
    yy = y1 - (np.arange(rows) + 0.5) * 30.0
    heights = (200 + 150 * np.sin(xx[None, :] / 3000.0) * np.cos(yy[:, None] / 2000.0)).astype(np.float32)
    dem = Dem(heights=heights, transform=(x0, 30.0, 0.0, y1, 0.0, -30.0), crs=grid.epsg)
    window = (slice(1000, 1512), slice(6000, 6512))
    line, sample = radar_positions(burst, grid, window, dem, mask="none")
    le, se = radar_positions(burst, grid, window, dem, method="exact", mask="none")
    assert np.abs(line - le).max() < 1e-4 and np.abs(sample - se).max() < 1e-3
    # masks: "burst" keeps lines/samples inside the burst, "valid" inside its valid window
    # (a band across all rows and a band across all columns)
    for band in [(slice(None), slice(8000, 8256)), (slice(1800, 1900), slice(None))]:
        full_l, full_s = radar_positions(burst, grid, band, dem, mask="valid")
        ok = np.isfinite(full_l)
        assert 0.1 < ok.mean() < 1.0  # a rotated strip inside its bounding box
        assert full_l[ok].min() >= burst.first_valid_line
        assert full_l[ok].max() <= burst.last_valid_line
        assert full_s[ok].min() >= burst.first_valid_sample
        assert full_s[ok].max() <= burst.last_valid_sample
        bl, bs = radar_positions(burst, grid, band, dem, mask="burst")
        inside = np.isfinite(bl)
        assert inside.sum() > ok.sum() and np.all(inside[ok])
        assert bl[inside].min() >= 0 and bl[inside].max() <= burst.lines - 1
    # no DEM: NaN
    far = Dem(heights=heights, transform=(x0 + 1e6, 30.0, 0.0, y1, 0.0, -30.0), crs=grid.epsg)
    nl, _ = radar_positions(burst, grid, window, far)
    assert np.isnan(nl).all()


def test_a_chunk_is_fast(burst, grid, hills):
    window = (slice(1536, 2048), slice(8192, 8704))
    radar_positions(burst, grid, window, hills)  # compile / load the kernels
    best = min(_timed(lambda: radar_positions(burst, grid, window, hills)) for _ in range(3))
    assert best < 0.15, f"one 512 x 512 chunk took {best:.3f} s"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@pytest.mark.slow
def test_full_burst_positions_time(burst, grid, hills):
    radar_positions(burst, grid, (slice(0, 64), slice(0, 64)), hills)
    elapsed = min(_timed(lambda: radar_positions(burst, grid, None, hills)) for _ in range(2))
    print(f"full burst grid {grid.height} x {grid.width}: {elapsed:.2f} s")
    assert elapsed < 5.0
