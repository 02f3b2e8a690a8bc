"""Geometry: orbit interpolation, zero-Doppler rdr2geo/geo2rdr, DEM, per-burst UTM grid.

Pure functions over ``cube.format`` models and numpy arrays; the only I/O is ``read_dem``
(and ``load_geoid``). Units and conventions are in docs/geometry.md: times are float64
seconds since an interpolator's ``epoch`` (naive UTC), slant ranges one-way metres (the
``*_times`` functions take two-way slant-range times in seconds, as the annotation does),
heights metres above the WGS84 ellipsoid, angles in degrees.
"""

from cube.geometry._baseline import compute_baseline, pair_baseline, select_common_burst
from cube.geometry._dem import (
    Dem,
    GeoidGrid,
    bilinear_height,
    load_geoid,
    make_synthetic_dem,
    read_dem,
)
from cube.geometry._ellipsoid import (
    WGS84_A,
    WGS84_B,
    WGS84_E2,
    WGS84_F,
    ecef_to_llh,
    llh_to_ecef,
)
from cube.geometry._geocode import radar_positions
from cube.geometry._geolocate import (
    geo2rdr_times,
    geolocate,
    geolocate_lines,
    geolocate_times,
    locate_lines,
    locate_times,
    rdr2geo_times,
)
from cube.geometry._grid import (
    BurstGrid,
    ProductGrid,
    Window,
    burst_footprint,
    grid_coordinates,
    make_burst_grid,
    transformer,
    utm_epsg,
    window_bounds,
)
from cube.geometry._orbit import (
    OrbitInterpolator,
    burst_orbit,
    make_orbit_interpolator,
    merge_orbits,
    seconds_since,
    to_datetime64,
)
from cube.geometry._radar import geo2rdr, rdr2geo
from cube.geometry._timing import (
    NOMINAL_BISTATIC_REFERENCE_S,
    SwathTiming,
    estimate_bistatic_reference,
    make_swath_timing,
)

__all__ = [
    "NOMINAL_BISTATIC_REFERENCE_S",
    "WGS84_A",
    "WGS84_B",
    "WGS84_E2",
    "WGS84_F",
    "BurstGrid",
    "Dem",
    "GeoidGrid",
    "OrbitInterpolator",
    "ProductGrid",
    "SwathTiming",
    "Window",
    "bilinear_height",
    "burst_footprint",
    "burst_orbit",
    "compute_baseline",
    "ecef_to_llh",
    "estimate_bistatic_reference",
    "geo2rdr",
    "geo2rdr_times",
    "geolocate",
    "geolocate_lines",
    "geolocate_times",
    "grid_coordinates",
    "llh_to_ecef",
    "load_geoid",
    "locate_lines",
    "locate_times",
    "make_burst_grid",
    "make_orbit_interpolator",
    "make_swath_timing",
    "make_synthetic_dem",
    "merge_orbits",
    "pair_baseline",
    "radar_positions",
    "rdr2geo",
    "rdr2geo_times",
    "read_dem",
    "select_common_burst",
    "seconds_since",
    "to_datetime64",
    "transformer",
    "utm_epsg",
    "window_bounds",
]
