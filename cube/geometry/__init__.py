"""Geometry: orbit interpolation, zero-Doppler rdr2geo/geo2rdr, DEM, per-burst UTM grid.

Pure functions over ``cube.format`` models and numpy arrays; the only I/O is ``read_dem``,
``read_cop30`` and ``load_geoid``. Units and conventions are in docs/geometry.md: times are float64
seconds since an interpolator's ``epoch`` (naive UTC), slant ranges one-way metres (the
``*_times`` functions take two-way slant-range times in seconds, as the annotation does),
heights metres above the WGS84 ellipsoid, angles in degrees.

Each name is imported on first use (module ``__getattr__``): ``ProductGrid`` and ``BurstGrid``
(``_grid``) need no numba, so the API's metadata requests load no kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube import lazy_names

if TYPE_CHECKING:
    from cube.geometry._baseline import compute_baseline, pair_baseline, select_common_burst
    from cube.geometry._cop30 import (
        COP30_DATUM,
        COP30_PUBLIC_OPTIONS,
        COP30_PUBLIC_URL,
        cop30_orthometric,
        cop30_tile_name,
        cop30_tiles,
        dem_geotiff_bytes,
        read_cop30,
    )
    from cube.geometry._dem import (
        DATUM_CRS,
        VERTICAL_DATUMS,
        Dem,
        DemInfo,
        bilinear_height,
        check_vertical_datum,
        dem_info,
        make_synthetic_dem,
        read_dem,
        to_ellipsoidal,
        vertical_datum_of,
    )
    from cube.geometry._ellipsoid import WGS84_A, WGS84_B, WGS84_E2, WGS84_F, ecef_to_llh, llh_to_ecef
    from cube.geometry._geocode import RadarNodes, radar_positions, solve_radar_nodes
    from cube.geometry._geoid import (
        GeoidGrid,
        GeoidStandInWarning,
        find_geoid_file,
        geoid_for_datum,
        load_geoid,
    )
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
        GRID_MARGIN_M,
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

#: submodule → the names it gives this package.
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "_baseline": ("compute_baseline", "pair_baseline", "select_common_burst"),
    "_cop30": (
        "COP30_DATUM",
        "COP30_PUBLIC_OPTIONS",
        "COP30_PUBLIC_URL",
        "cop30_orthometric",
        "cop30_tile_name",
        "cop30_tiles",
        "dem_geotiff_bytes",
        "read_cop30",
    ),
    "_dem": (
        "DATUM_CRS",
        "Dem",
        "DemInfo",
        "VERTICAL_DATUMS",
        "bilinear_height",
        "check_vertical_datum",
        "dem_info",
        "make_synthetic_dem",
        "read_dem",
        "to_ellipsoidal",
        "vertical_datum_of",
    ),
    "_ellipsoid": ("WGS84_A", "WGS84_B", "WGS84_E2", "WGS84_F", "ecef_to_llh", "llh_to_ecef"),
    "_geocode": ("RadarNodes", "radar_positions", "solve_radar_nodes"),
    "_geoid": ("GeoidGrid", "GeoidStandInWarning", "find_geoid_file", "geoid_for_datum", "load_geoid"),
    "_geolocate": (
        "geo2rdr_times",
        "geolocate",
        "geolocate_lines",
        "geolocate_times",
        "locate_lines",
        "locate_times",
        "rdr2geo_times",
    ),
    "_grid": (
        "BurstGrid",
        "GRID_MARGIN_M",
        "ProductGrid",
        "Window",
        "burst_footprint",
        "grid_coordinates",
        "make_burst_grid",
        "transformer",
        "utm_epsg",
        "window_bounds",
    ),
    "_orbit": (
        "OrbitInterpolator",
        "burst_orbit",
        "make_orbit_interpolator",
        "merge_orbits",
        "seconds_since",
        "to_datetime64",
    ),
    "_radar": ("geo2rdr", "rdr2geo"),
    "_timing": (
        "NOMINAL_BISTATIC_REFERENCE_S",
        "SwathTiming",
        "estimate_bistatic_reference",
        "make_swath_timing",
    ),
}
_LAZY = {name: module for module, names in _SUBMODULES.items() for name in names}


__getattr__ = lazy_names("cube.geometry", _LAZY)


__all__ = [
    "RadarNodes",
    "GRID_MARGIN_M",
    "COP30_DATUM",
    "COP30_PUBLIC_OPTIONS",
    "COP30_PUBLIC_URL",
    "DATUM_CRS",
    "NOMINAL_BISTATIC_REFERENCE_S",
    "VERTICAL_DATUMS",
    "WGS84_A",
    "WGS84_B",
    "WGS84_E2",
    "WGS84_F",
    "BurstGrid",
    "Dem",
    "DemInfo",
    "GeoidGrid",
    "GeoidStandInWarning",
    "OrbitInterpolator",
    "ProductGrid",
    "SwathTiming",
    "Window",
    "bilinear_height",
    "burst_footprint",
    "burst_orbit",
    "check_vertical_datum",
    "compute_baseline",
    "cop30_orthometric",
    "cop30_tile_name",
    "cop30_tiles",
    "dem_geotiff_bytes",
    "dem_info",
    "ecef_to_llh",
    "estimate_bistatic_reference",
    "find_geoid_file",
    "geo2rdr",
    "geoid_for_datum",
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
    "solve_radar_nodes",
    "rdr2geo",
    "rdr2geo_times",
    "read_cop30",
    "read_dem",
    "select_common_burst",
    "seconds_since",
    "to_datetime64",
    "to_ellipsoidal",
    "transformer",
    "utm_epsg",
    "vertical_datum_of",
    "window_bounds",
]
