"""STAC footprints outline each burst's own valid lines and samples.

- Real ESA products: the corners of each burst's footprint are where ESA's geolocation grid
  puts the first and last valid line × the first and last valid sample. The reference reads
  the annotation XML itself and interpolates the whole swath's grid (scipy, linear on a
  triangulation over zero-Doppler time × pixel), so it shares no code with the catalog.
- The tiny simulated stack: every truth sample pixel (the simulator's own geolocation of
  pixels inside the valid window) lies inside its burst's footprint, and the footprint is
  not much larger than those samples' hull; consecutive bursts overlap slightly, as real ones.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely.geometry
from conftest import shared_path
from lxml import etree
from pyproj import Geod
from scipy.interpolate import LinearNDInterpolator

from cube.catalog import make_slc_item
from cube.ingest import open_safe
from cube.simulate import load_truth

SAFES = [
    "xarray-sentinel/tests/data/S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE",
    "sarsen/tests/data/S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE",
]
GEOD = Geod(ellps="WGS84")
# corners on the first valid line lie between the burst's own grid rows: interpolation, ~5 m.
# The last valid line lies past the burst's next grid row (the next burst's start), where the
# footprint extends the burst's two rows and the reference interpolates the swath's next two;
# both are lines through points at terrain height, and they differ by up to ~180 m over the
# relief of these scenes (0-5 m on the swath's last burst, which has the same rows).
FIRST_LINE_TOLERANCE_M = 30.0
LAST_LINE_TOLERANCE_M = 250.0


def _time(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def _esa_corners(annotation) -> dict[str, list[tuple[float, float]]]:
    """Azimuth time of each burst's first valid line → its 4 corners (lon, lat), from the XML."""
    ati = float(annotation.findtext("imageAnnotation/imageInformation/azimuthTimeInterval"))
    points = annotation.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    t = np.array([_time(p.findtext("azimuthTime")) for p in points])
    t0 = t.min()
    xy = np.column_stack([t - t0, [float(p.findtext("pixel")) for p in points]])
    lonlat = np.array([[float(p.findtext("longitude")), float(p.findtext("latitude"))] for p in points])
    interp = LinearNDInterpolator(xy, lonlat)
    corners = {}
    for burst in annotation.findall("swathTiming/burstList/burst"):
        first = np.array(burst.findtext("firstValidSample").split(), int)
        last = np.array(burst.findtext("lastValidSample").split(), int)
        valid = np.flatnonzero(first >= 0)
        l0, l1 = valid[0], valid[-1]
        s0, s1 = max(first[l0], first[l1]), min(last[l0], last[l1])
        start = _time(burst.findtext("azimuthTime")) - t0
        ta, tb = start + l0 * ati, start + l1 * ati
        at = np.array([[ta, s0], [ta, s1], [tb, s1], [tb, s0]], float)
        corners[burst.findtext("azimuthTime")] = [tuple(c) for c in interp(at)]
    return corners


@pytest.mark.parametrize("rel", SAFES, ids=lambda r: r.split("/")[-1][:40])
def test_real_footprints_are_the_grid_at_the_valid_lines(rel):
    safe = shared_path(rel)
    expected = {}
    for xml in sorted((safe / "annotation").glob("s1*.xml")):
        root = etree.parse(str(xml)).getroot()
        key = (root.findtext("adsHeader/swath"), root.findtext("adsHeader/polarisation"))
        expected.update({(*key, t): c for t, c in _esa_corners(root).items()})
    bursts = open_safe(str(safe)).bursts()
    assert len(bursts) >= 9
    for burst in bursts:
        ring = make_slc_item(burst, "file:///cube").geometry["coordinates"][0]
        n = (len(ring) - 1) // 2
        got = [ring[0], ring[n - 1], ring[n], ring[2 * n - 1]]
        want = expected[(burst.swath, burst.polarization,
                         burst.sensing_start.isoformat(timespec="microseconds"))]
        tolerance = [FIRST_LINE_TOLERANCE_M] * 2 + [LAST_LINE_TOLERANCE_M] * 2
        for (lon, lat), (elon, elat), tol in zip(got, want, tolerance, strict=True):
            distance = GEOD.inv(lon, lat, elon, elat)[2]
            assert distance < tol, (burst.burst_id, burst.swath, distance)
        # the valid lines of one burst: ~20 km along track, not the grid's rows around it
        along = GEOD.inv(*ring[0], *ring[2 * n - 1])[2]
        assert 19e3 < along < 22e3, (burst.burst_id, along)


def _hull_area_m2(lon: np.ndarray, lat: np.ndarray) -> float:
    hull = shapely.geometry.MultiPoint(np.column_stack([lon, lat])).convex_hull
    return abs(GEOD.geometry_area_perimeter(hull)[0])


def test_tiny_footprints_hold_their_valid_pixels_and_overlap_like_real_bursts(tiny_stack, tiny_cube):
    truth = load_truth(tiny_stack.truth_dir)
    dates = truth["dates"].tolist()
    items = [tiny_cube.read_json(f"catalog/{p}") for p in tiny_cube.find("catalog") if p.endswith(".json")]
    assert len(items) == 6
    by_date: dict[str, list] = {}
    for item in items:
        k = dates.index(item["properties"]["datetime"][:10])
        b = item["properties"]["sarcube:burst_index"]
        footprint = shapely.geometry.shape(item["geometry"])
        in_burst = truth["sample_burst"] == b
        lon, lat = truth["sample_lon"][k][in_burst], truth["sample_lat"][k][in_burst]
        # every sample pixel (≥ 2 pixels inside the valid window) is inside, up to the terrain:
        # the outline joins grid points at their heights by straight lines, while a pixel on a
        # hill 100 m above them sits ~140 m nearer the sensor (incidence ~35°)
        outside = [footprint.exterior.distance(shapely.geometry.Point(x, y)) * 111e3  # m, at most
                   for x, y in zip(lon, lat, strict=True)
                   if not footprint.contains(shapely.geometry.Point(x, y))]
        assert max(outside, default=0) < 150, (item["id"], outside)
        assert len(outside) <= len(lon) // 4, (item["id"], outside)
        area = abs(GEOD.geometry_area_perimeter(footprint)[0])
        ratio = area / _hull_area_m2(lon, lat)
        assert 1.0 < ratio < 1.15, (item["id"], ratio)  # the gap between bursts is not in it
        by_date.setdefault(item["properties"]["datetime"][:10], []).append((b, footprint))
    for footprints in by_date.values():
        (_, a), (_, b) = sorted(footprints, key=lambda f: f[0])
        overlap = a.intersection(b).area / a.area
        assert 0.03 < overlap < 0.15, overlap  # adjacent, slightly overlapping (real: ~8 %)
