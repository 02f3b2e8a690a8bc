"""WGS84 ellipsoid: geodetic (lat, lon, h) <-> ECEF, as numba kernels and numpy wrappers.

Latitudes and longitudes are in degrees, heights in metres above the WGS84 ellipsoid,
ECEF coordinates in metres.
"""

from __future__ import annotations

import math

import numba
import numpy as np

WGS84_A = 6378137.0  # semi-major axis, m
WGS84_F = 1.0 / 298.257223563  # flattening
WGS84_B = WGS84_A * (1.0 - WGS84_F)  # semi-minor axis, m
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)  # second eccentricity squared


@numba.njit(cache=True, inline="always")
def llh_to_ecef_scalar(lat_deg: float, lon_deg: float, h: float) -> tuple[float, float, float]:
    """ECEF (x, y, z) in m of a point at geodetic latitude/longitude (degrees) and height h (m)."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    s = math.sin(lat)
    c = math.cos(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    return (n + h) * c * math.cos(lon), (n + h) * c * math.sin(lon), (n * (1.0 - WGS84_E2) + h) * s


@numba.njit(cache=True)
def ecef_to_llh_scalar(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Geodetic (lat, lon in degrees, h in m) of an ECEF point (m).

    Bowring's parametric start, then two Newton refinements of the latitude; exact to well
    below a micrometre for any point between the Earth's centre region and GEO altitudes.
    """
    p = math.hypot(x, y)
    lon = math.atan2(y, x)
    if p < 1e-9:  # on the polar axis
        lat = math.copysign(math.pi / 2.0, z)
        return math.degrees(lat), math.degrees(lon), abs(z) - WGS84_B
    # Bowring (1976) initial value
    beta = math.atan2(z * WGS84_A, p * WGS84_B)
    sb = math.sin(beta)
    cb = math.cos(beta)
    lat = math.atan2(z + WGS84_EP2 * WGS84_B * sb * sb * sb, p - WGS84_E2 * WGS84_A * cb * cb * cb)
    for _ in range(2):
        s = math.sin(lat)
        n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
        lat = math.atan2(z + WGS84_E2 * n * s, p)
    s = math.sin(lat)
    c = math.cos(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    if abs(c) > 1e-3:
        h = p / c - n
    else:
        h = z / s - n * (1.0 - WGS84_E2)
    return math.degrees(lat), math.degrees(lon), h


@numba.njit(cache=True, inline="always")
def ellipsoid_normal(lat_deg: float, lon_deg: float) -> tuple[float, float, float]:
    """Unit outward normal of the ellipsoid (geodetic "up") at a latitude/longitude in degrees."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    c = math.cos(lat)
    return c * math.cos(lon), c * math.sin(lon), math.sin(lat)


@numba.njit(cache=True)
def _llh_to_ecef_array(lat, lon, h, out):
    for i in range(lat.size):
        out[i, 0], out[i, 1], out[i, 2] = llh_to_ecef_scalar(lat[i], lon[i], h[i])


@numba.njit(cache=True)
def _ecef_to_llh_array(xyz, out):
    for i in range(xyz.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = ecef_to_llh_scalar(xyz[i, 0], xyz[i, 1], xyz[i, 2])


def llh_to_ecef(lat: np.ndarray, lon: np.ndarray, height: np.ndarray) -> np.ndarray:
    """ECEF positions (..., 3) in m of geodetic points (degrees, degrees, m above WGS84).

    Inputs broadcast against each other; the output has their broadcast shape plus a last
    axis of length 3 (float64).
    """
    lat, lon, height = np.broadcast_arrays(
        np.asarray(lat, np.float64), np.asarray(lon, np.float64), np.asarray(height, np.float64)
    )
    shape = lat.shape
    out = np.empty((lat.size, 3))
    _llh_to_ecef_array(lat.ravel(), lon.ravel(), height.ravel(), out)
    return out.reshape(*shape, 3)


def ecef_to_llh(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geodetic latitude, longitude (degrees) and WGS84 height (m) of ECEF points (..., 3) in m."""
    xyz = np.asarray(xyz, np.float64)
    if xyz.shape[-1] != 3:
        raise ValueError(f"ECEF points need a last axis of length 3, got shape {xyz.shape}")
    shape = xyz.shape[:-1]
    flat = np.ascontiguousarray(xyz.reshape(-1, 3))
    out = np.empty_like(flat)
    _ecef_to_llh_array(flat, out)
    out = out.reshape(*shape, 3)
    return out[..., 0], out[..., 1], out[..., 2]
