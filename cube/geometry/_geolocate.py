"""Point geolocation for the CLI: swath (line, sample) or (time, range time) ↔ (lat, lon, h).

All heights are metres above the WGS84 ellipsoid. Slant-range times are two-way seconds,
as in the annotation. Azimuth times are zero-Doppler UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from cube.format import SPEED_OF_LIGHT, BurstMetadata, Orbit
from cube.geometry._orbit import OrbitInterpolator, make_orbit_interpolator, to_datetime64
from cube.geometry._radar import geo2rdr, rdr2geo
from cube.geometry._timing import SwathTiming, make_swath_timing


def geolocate_lines(
    timing: SwathTiming, line, sample, height
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Swath (line, sample, ellipsoidal height m) → (lat °, lon °, height m), float64 arrays."""
    t, tau = timing.lines_to_times(line, sample)
    timing.orbit.check_coverage(t)
    h = np.broadcast_to(np.asarray(height, np.float64), t.shape)
    return rdr2geo(timing.orbit, t, tau * (SPEED_OF_LIGHT / 2.0), h)


def locate_lines(
    timing: SwathTiming, lat, lon, height
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat °, lon °, ellipsoidal height m) → (swath line, sample, burst index).

    Lines and samples are fractional, 0-based, in the measurement TIFF of the swath; the
    burst index points into ``timing.bursts``. See ``cube.geometry._timing`` for which burst
    a point in a burst overlap goes to.
    """
    t_guess = 0.5 * (timing.start[0] + timing.start[-1])
    t, rng = geo2rdr(timing.orbit, lat, lon, height, t_guess=t_guess)
    tau = rng * (2.0 / SPEED_OF_LIGHT)
    return timing.times_to_lines(t, tau)


def geolocate_times(
    timing: SwathTiming, azimuth_time, slant_range_time, height
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(zero-Doppler UTC time, two-way range time s, height m) → (lat °, lon °, height m).

    ``azimuth_time``: datetimes, ``datetime64`` or ISO 8601 UTC strings.
    """
    t = timing.orbit.seconds(np.asarray(to_datetime64(azimuth_time)))
    tau = np.asarray(slant_range_time, np.float64)
    return rdr2geo(timing.orbit, t, tau * (SPEED_OF_LIGHT / 2.0), height)


def locate_times(timing: SwathTiming, lat, lon, height) -> tuple[np.ndarray, np.ndarray]:
    """(lat °, lon °, height m) → (zero-Doppler time ``datetime64[ns]``, two-way range time s)."""
    t_guess = 0.5 * (timing.start[0] + timing.start[-1])
    t, rng = geo2rdr(timing.orbit, lat, lon, height, t_guess=t_guess)
    return timing.orbit.to_datetime64(t), rng * (2.0 / SPEED_OF_LIGHT)


def _interpolator(orbit: Orbit | OrbitInterpolator) -> OrbitInterpolator:
    return orbit if isinstance(orbit, OrbitInterpolator) else make_orbit_interpolator(orbit)


def rdr2geo_times(
    orbit: Orbit | OrbitInterpolator, azimuth_time, slant_range_time, height=0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rdr2geo with annotation-style inputs: UTC times and two-way slant-range times.

    ``azimuth_time``: datetimes, ``datetime64`` or ISO 8601 UTC strings (zero Doppler);
    ``slant_range_time``: two-way, s; ``height``: m above WGS84.
    Returns (lat °, lon °, height m) arrays of the broadcast input shape.
    """
    interp = _interpolator(orbit)
    t = interp.seconds(to_datetime64(azimuth_time))
    rng = np.asarray(slant_range_time, np.float64) * (SPEED_OF_LIGHT / 2.0)
    return rdr2geo(interp, t, rng, height)


def geo2rdr_times(
    orbit: Orbit | OrbitInterpolator, lat, lon, height=0.0
) -> tuple[np.ndarray, np.ndarray]:
    """geo2rdr returning UTC zero-Doppler times (``datetime64[ns]``) and two-way range times (s)."""
    interp = _interpolator(orbit)
    t, rng = geo2rdr(interp, lat, lon, height)
    return interp.to_datetime64(t), rng * (2.0 / SPEED_OF_LIGHT)


def geolocate(
    bursts: list[BurstMetadata],
    points: Sequence | np.ndarray,
    mode: Literal["lines", "times"] = "lines",
    inverse: bool = False,
    bistatic: bool = False,
) -> dict[str, np.ndarray]:
    """Geolocate points of one swath/polarization of one product (the ``geolocate`` CLI).

    Parameters
    ----------
    bursts : list of BurstMetadata
        The bursts of one swath and polarization of one product (``product.bursts(
        swaths=["IW1"], polarizations=["VV"])``); their orbits are merged.
    points : (n, 3) rows
        - ``mode="lines"``, forward: ``line sample height`` (swath TIFF line and sample,
          0-based, fractional allowed; height m above WGS84).
        - ``mode="times"``, forward: ``azimuth_time slant_range_time height``; the time is an
          ISO 8601 UTC string (``2025-04-06T02:20:09.449102``, a trailing ``Z`` allowed) or a
          ``datetime64``; the range time is two-way, s.
        - inverse (either mode): ``lat lon height`` (degrees, degrees, m above WGS84).
    mode : "lines" or "times"
    inverse : bool
        False: radar → ground. True: ground → radar.
    bistatic : bool
        Apply the IPF's range-dependent bistatic residual in line mode (matches ESA's
        geolocationGrid to centimetres; off by default, see ``cube.geometry._timing``).

    Returns
    -------
    dict of 1-D arrays (length n), by column name:
        forward: ``latitude``, ``longitude`` (degrees), ``height`` (m, WGS84);
        inverse lines: ``line``, ``sample`` (float64), ``burst_index`` (int, index of the
        burst in its swath), ``burst_id``;
        inverse times: ``azimuth_time`` (``datetime64[ns]``, UTC), ``slant_range_time``
        (two-way, s).
    """
    if mode not in ("lines", "times"):
        raise ValueError(f"mode must be 'lines' or 'times', not {mode!r}")
    timing = make_swath_timing(bursts, bistatic=bistatic)
    rows = _rows(points)
    if inverse or mode == "lines":
        data = np.asarray([[_number(v) for v in row] for row in rows], dtype=np.float64)
        data = data.reshape(-1, 3)
        a, b, c = data[:, 0], data[:, 1], data[:, 2]
    if inverse:
        if mode == "lines":
            line, sample, k = locate_lines(timing, a, b, c)
            index = np.array([timing.bursts[i].burst_index for i in k.ravel()], np.int64)
            ids = np.array([timing.bursts[i].burst_id for i in k.ravel()], dtype=object)
            return {"line": line, "sample": sample, "burst_index": index, "burst_id": ids}
        t, tau = locate_times(timing, a, b, c)
        return {"azimuth_time": t, "slant_range_time": tau}
    if mode == "lines":
        lat, lon, h = geolocate_lines(timing, a, b, c)
    else:
        times = to_datetime64([row[0] for row in rows])
        tau = np.array([_number(row[1]) for row in rows], np.float64)
        h = np.array([_number(row[2]) for row in rows], np.float64)
        lat, lon, h = geolocate_times(timing, times, tau, h)
    return {"latitude": lat, "longitude": lon, "height": h}


def _rows(points) -> list:
    if isinstance(points, np.ndarray):
        if points.ndim == 1 and points.dtype.names:
            return [tuple(r) for r in points]
        arr = np.atleast_2d(points)
        if arr.shape[-1] != 3:
            raise ValueError(f"points need 3 columns, got shape {points.shape}")
        return list(arr)
    rows = list(points)
    for i, row in enumerate(rows):
        if len(row) != 3:
            raise ValueError(f"point {i} has {len(row)} values, expected 3: {row!r}")
    return rows


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
