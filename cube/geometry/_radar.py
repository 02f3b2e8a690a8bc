"""Zero-Doppler range-Doppler geometry: rdr2geo and geo2rdr, vectorised with numba.

Conventions
-----------
- Times are float64 seconds since the orbit interpolator's ``epoch`` (naive UTC).
- ``slant_range`` here is the **one-way** range in metres. Sentinel-1 annotations give
  two-way slant-range *times* τ; the range is ``R = c τ / 2``. The wrappers that take
  times say so in their names (``slant_range_time``).
- Heights are metres above the WGS84 ellipsoid; latitude/longitude in degrees.
- Sentinel-1 looks to the right of the flight direction: ``look_side = +1`` (right) is the
  default; ``-1`` is a left-looking sensor.
- Zero Doppler: the target lies in the plane through the antenna perpendicular to its
  velocity, ``(X - P(t)) · V(t) = 0``, which is how the IPF focuses and annotates the SLC.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from cube.format import SPEED_OF_LIGHT
from cube.geometry._ellipsoid import (
    WGS84_A,
    WGS84_E2,
    ecef_to_llh_scalar,
    ellipsoid_normal,
    llh_to_ecef_scalar,
)
from cube.geometry._orbit import OrbitInterpolator, orbit_pos_vel, orbit_state

RDR2GEO_TOL_M = 1e-6  # stop when the height residual is below this, m
GEO2RDR_TOL_S = 1e-10  # stop when the azimuth-time update is below this, s
MAX_ITER = 30


@numba.njit(cache=True)
def rdr2geo_scalar(breaks, centre, half, coeffs, t, rng, h, look_side, state):
    """Target (lat, lon, h) seen at time ``t`` (s), one-way range ``rng`` (m), height ``h`` (m).

    Solves the zero-Doppler circle for the look angle by Newton's method on the geodetic
    height (whose gradient w.r.t. the ECEF position is the ellipsoid normal). ``state`` is
    a scratch array of 6 floats. Returns NaNs if there is no solution (range shorter than
    the satellite's height above the surface).
    """
    orbit_pos_vel(breaks, centre, half, coeffs, t, state)
    px, py, pz = state[0], state[1], state[2]
    vx, vy, vz = state[3], state[4], state[5]
    vn = math.sqrt(vx * vx + vy * vy + vz * vz)
    vx /= vn
    vy /= vn
    vz /= vn
    # down direction: -P made perpendicular to v
    pn = math.sqrt(px * px + py * py + pz * pz)
    dot = -(px * vx + py * vy + pz * vz) / pn
    nx = -px / pn - dot * vx
    ny = -py / pn - dot * vy
    nz = -pz / pn - dot * vz
    nn = math.sqrt(nx * nx + ny * ny + nz * nz)
    nx /= nn
    ny /= nn
    nz /= nn
    # cross-track direction: n x v points to the right of the flight direction
    cx = look_side * (ny * vz - nz * vy)
    cy = look_side * (nz * vx - nx * vz)
    cz = look_side * (nx * vy - ny * vx)
    # initial look angle from a sphere of the local geocentric radius (+ h)
    slat, _, sh = ecef_to_llh_scalar(px, py, pz)
    s = math.sin(math.radians(slat))
    r_local = WGS84_A * math.sqrt((1.0 - WGS84_E2 * (2.0 - WGS84_E2) * s * s)
                                  / (1.0 - WGS84_E2 * s * s)) + h
    cos_theta = (pn * pn + rng * rng - r_local * r_local) / (2.0 * pn * rng)
    if cos_theta > 1.0:
        return math.nan, math.nan, math.nan
    theta = math.acos(cos_theta)
    lat = math.nan
    lon = math.nan
    hh = math.nan
    for _ in range(MAX_ITER):
        ct = math.cos(theta)
        st = math.sin(theta)
        x = px + rng * (ct * nx + st * cx)
        y = py + rng * (ct * ny + st * cy)
        z = pz + rng * (ct * nz + st * cz)
        lat, lon, hh = ecef_to_llh_scalar(x, y, z)
        resid = hh - h
        if abs(resid) < RDR2GEO_TOL_M:
            break
        ux, uy, uz = ellipsoid_normal(lat, lon)
        # d(height)/d(theta) = up . dX/dtheta
        deriv = rng * (ux * (-st * nx + ct * cx) + uy * (-st * ny + ct * cy)
                       + uz * (-st * nz + ct * cz))
        if deriv == 0.0:
            break
        theta -= resid / deriv
    return lat, lon, hh


@numba.njit(cache=True)
def geo2rdr_scalar(breaks, centre, half, coeffs, x, y, z, t_guess, state):
    """Zero-Doppler time (s) and one-way range (m) of the ECEF point (x, y, z).

    Newton's method on f(t) = (X - P(t)) · V(t), with f'(t) = -|V|² + (X - P) · A.
    ``state`` is a scratch array of 9 floats. Returns NaNs if it does not converge.
    """
    t = t_guess
    for _ in range(MAX_ITER):
        orbit_state(breaks, centre, half, coeffs, t, state)
        dx = x - state[0]
        dy = y - state[1]
        dz = z - state[2]
        f = dx * state[3] + dy * state[4] + dz * state[5]
        fp = (-(state[3] * state[3] + state[4] * state[4] + state[5] * state[5])
              + dx * state[6] + dy * state[7] + dz * state[8])
        dt = f / fp
        t -= dt
        if abs(dt) < max(GEO2RDR_TOL_S, abs(t) * 4e-16):
            orbit_state(breaks, centre, half, coeffs, t, state)
            dx = x - state[0]
            dy = y - state[1]
            dz = z - state[2]
            return t, math.sqrt(dx * dx + dy * dy + dz * dz)
    return math.nan, math.nan


@numba.njit(cache=True, parallel=True)
def _rdr2geo_array(breaks, centre, half, coeffs, t, rng, h, look_side, out):
    n = t.size
    for i in numba.prange(n):
        state = np.empty(6)
        out[i, 0], out[i, 1], out[i, 2] = rdr2geo_scalar(
            breaks, centre, half, coeffs, t[i], rng[i], h[i], look_side, state
        )


@numba.njit(cache=True, parallel=True)
def _geo2rdr_array(breaks, centre, half, coeffs, lat, lon, h, t_guess, out):
    n = lat.size
    nblocks = (n + 255) // 256
    for b in numba.prange(nblocks):
        state = np.empty(9)
        guess = t_guess
        for i in range(b * 256, min(n, (b + 1) * 256)):
            x, y, z = llh_to_ecef_scalar(lat[i], lon[i], h[i])
            t, r = geo2rdr_scalar(breaks, centre, half, coeffs, x, y, z, guess, state)
            if t != t:  # retry from the middle of the orbit
                t, r = geo2rdr_scalar(breaks, centre, half, coeffs, x, y, z, t_guess, state)
            out[i, 0] = t
            out[i, 1] = r
            if t == t:
                guess = t


def _flat(*arrays):
    arrs = np.broadcast_arrays(*[np.asarray(a, np.float64) for a in arrays])
    return arrs[0].shape, [np.ascontiguousarray(a.ravel()) for a in arrs]


def rdr2geo(
    orbit: OrbitInterpolator,
    azimuth_time: np.ndarray | float,
    slant_range: np.ndarray | float,
    height: np.ndarray | float = 0.0,
    look_side: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler rdr2geo: (time, one-way range, height) → (lat, lon, height).

    Parameters
    ----------
    orbit : OrbitInterpolator
    azimuth_time : array, float64
        Zero-Doppler azimuth times, s since ``orbit.epoch``.
    slant_range : array, float64
        One-way slant ranges, m (``c * two_way_time / 2``).
    height : array, float64
        Target heights above the WGS84 ellipsoid, m.
    look_side : int
        +1 right-looking (Sentinel-1), -1 left-looking.

    Returns
    -------
    lat, lon, height : arrays of the broadcast input shape, float64 (degrees, degrees, m).
    NaN where the range does not reach the ellipsoid at that height.
    """
    if look_side not in (1, -1):
        raise ValueError(f"look_side must be +1 (right) or -1 (left), not {look_side}")
    shape, (t, r, h) = _flat(azimuth_time, slant_range, height)
    orbit.check_coverage(t)
    out = np.empty((t.size, 3))
    _rdr2geo_array(orbit.breaks, orbit.centre, orbit.half, orbit.coeffs, t, r, h,
                   float(look_side), out)
    return out[:, 0].reshape(shape), out[:, 1].reshape(shape), out[:, 2].reshape(shape)


def geo2rdr(
    orbit: OrbitInterpolator,
    lat: np.ndarray | float,
    lon: np.ndarray | float,
    height: np.ndarray | float = 0.0,
    t_guess: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler geo2rdr: (lat, lon, height) → (azimuth time, one-way slant range).

    Newton iteration on the zero-Doppler condition, started from ``t_guess`` (s since
    ``orbit.epoch``; default the middle of the orbit) and then from each previous solution.

    Returns
    -------
    azimuth_time : array float64, s since ``orbit.epoch``
    slant_range : array float64, one-way, m
    NaN where Newton did not converge. Raises OrbitCoverageError if a solution falls
    outside the state vectors (the orbit does not cover that point).
    """
    shape, (la, lo, h) = _flat(lat, lon, height)
    if t_guess is None:
        t_guess = 0.5 * (orbit.t_min + orbit.t_max)
    out = np.empty((la.size, 2))
    _geo2rdr_array(orbit.breaks, orbit.centre, orbit.half, orbit.coeffs, la, lo, h,
                   float(t_guess), out)
    orbit.check_coverage(out[:, 0], margin=1.0)
    return out[:, 0].reshape(shape), out[:, 1].reshape(shape)


def range_to_time(slant_range: np.ndarray | float) -> np.ndarray | float:
    """Two-way slant-range time (s) of a one-way slant range (m)."""
    return 2.0 * np.asarray(slant_range) / SPEED_OF_LIGHT


def time_to_range(slant_range_time: np.ndarray | float) -> np.ndarray | float:
    """One-way slant range (m) of a two-way slant-range time (s)."""
    return np.asarray(slant_range_time) * (SPEED_OF_LIGHT / 2.0)
