"""Forward geometry of the simulator: WGS84, zero-Doppler rdr2geo on a DEM, and geo2rdr.

Angles in degrees in the public-facing arrays (lat/lon), radians internally; heights are
ellipsoidal (WGS84) metres; times are seconds of day (UTC); ranges are one-way slant ranges (m).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._constants import WGS84_A, WGS84_B, WGS84_E2
from ._orbit import Orbit

DemFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lat_deg, lon_deg) -> height m


def llh_to_ecef(lat: np.ndarray, lon: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Geodetic lat/lon (deg) and ellipsoidal height (m) -> ECEF (..., 3) m."""
    la, lo = np.radians(lat), np.radians(lon)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(la) ** 2)
    x = (n + h) * np.cos(la) * np.cos(lo)
    y = (n + h) * np.cos(la) * np.sin(lo)
    z = (n * (1.0 - WGS84_E2) + h) * np.sin(la)
    return np.stack([x, y, z], axis=-1)


def ecef_to_llh(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF (..., 3) m -> (lat deg, lon deg, h m).

    Bowring's method with two refinements (sub-millimetre near the Earth's surface).
    """
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    p = np.hypot(x, y)
    ep2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2
    beta = np.arctan2(WGS84_A * z, WGS84_B * p)
    for _ in range(2):
        lat = np.arctan2(z + ep2 * WGS84_B * np.sin(beta) ** 3, p - WGS84_E2 * WGS84_A * np.cos(beta) ** 3)
        beta = np.arctan2(WGS84_B * np.sin(lat), WGS84_A * np.cos(lat))
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    cos_lat = np.cos(lat)
    h = np.where(
        np.abs(cos_lat) > 1e-6,
        p / np.where(np.abs(cos_lat) > 1e-6, cos_lat, 1.0) - n,
        np.abs(z) - WGS84_B,
    )
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), h


def ellipsoid_normal(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit ellipsoid normal (..., 3) at geodetic lat/lon (deg)."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def enu_basis(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local east, north, up unit vectors (..., 3) at lat/lon (deg)."""
    la, lo = np.radians(lat), np.radians(lon)
    east = np.stack([-np.sin(lo), np.cos(lo), np.zeros_like(lo)], axis=-1)
    north = np.stack([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)], axis=-1)
    return east, north, ellipsoid_normal(lat, lon)


def rdr2geo(
    t: np.ndarray, slant_range: np.ndarray, orbit: Orbit, dem: DemFunction, iterations: int = 30,
    tol: float = 1e-4,
) -> np.ndarray:
    """Ground point (..., 3) ECEF on the DEM surface seen at zero Doppler.

    The point is seen at time ``t`` and slant range ``slant_range`` (right-looking).

    The point is parametrised by the look angle θ in the zero-Doppler plane,
    X(θ) = P + R (cos θ d + sin θ s), d the downward unit vector ⟂ V and s = d × v the right side;
    θ is found with a safeguarded secant iteration on h(X(θ)) − dem(lat, lon).
    """
    t, slant_range = np.broadcast_arrays(np.asarray(t, float), np.asarray(slant_range, float))
    p = orbit.position_at(t)
    v = orbit.velocity_at(t)
    vhat = v / np.linalg.norm(v, axis=-1, keepdims=True)
    down = -(p - np.sum(p * vhat, axis=-1, keepdims=True) * vhat)
    down /= np.linalg.norm(down, axis=-1, keepdims=True)
    side = np.cross(down, vhat)
    r = slant_range[..., None]

    def point(theta: np.ndarray) -> np.ndarray:
        return p + r * (np.cos(theta)[..., None] * down + np.sin(theta)[..., None] * side)

    def residual(theta: np.ndarray) -> np.ndarray:
        lat, lon, h = ecef_to_llh(point(theta))
        return h - dem(lat, lon)

    # first guess: sphere of the local ellipsoid radius below the satellite
    lat_s, _, _ = ecef_to_llh(p)
    rho = WGS84_A * np.sqrt((1 - WGS84_E2) / (1 - WGS84_E2 * np.cos(np.radians(lat_s)) ** 2))
    pn = np.linalg.norm(p, axis=-1)
    cos_t = (pn**2 + slant_range**2 - rho**2) / (2 * pn * slant_range)
    theta0 = np.arccos(np.clip(cos_t, -1, 1))
    theta1 = theta0 + 1e-3
    f0, f1 = residual(theta0), residual(theta1)
    for _ in range(iterations):
        denom = np.where(np.abs(f1 - f0) > 1e-12, f1 - f0, 1e-12)
        theta2 = theta1 - f1 * (theta1 - theta0) / denom
        theta2 = np.clip(theta2, theta1 - 0.05, theta1 + 0.05)
        theta0, f0 = theta1, f1
        theta1, f1 = theta2, residual(theta2)
        if np.all(np.abs(f1) < tol):
            break
    return point(theta1)


def geo2rdr(xyz: np.ndarray, orbit: Orbit, t_guess: float, iterations: int = 10
            ) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler time (s of day) and slant range (m) of ground points ``xyz`` (..., 3)."""
    t = np.full(xyz.shape[:-1], float(t_guess))
    for _ in range(iterations):
        p, v, a = orbit.position_at(t), orbit.velocity_at(t), orbit.acceleration_at(t)
        d = xyz - p
        f = np.sum(d * v, axis=-1)
        df = -np.sum(v * v, axis=-1) + np.sum(d * a, axis=-1)
        step = f / df
        t = t - step
        if np.max(np.abs(step)) < 1e-10:
            break
    return t, np.linalg.norm(xyz - orbit.position_at(t), axis=-1)


def look_geometry(xyz: np.ndarray, t: np.ndarray, orbit: Orbit) -> dict[str, np.ndarray]:
    """Geometry at ground points ``xyz`` (..., 3) seen from ``orbit`` at times ``t``.

    Returns unit look vector ``look`` (satellite -> target, ECEF), ellipsoid ``incidence`` and
    ``elevation`` (off-nadir look) angles in degrees, and ``lat``/``lon``/``height``.
    """
    p = orbit.position_at(t)
    look = xyz - p
    look /= np.linalg.norm(look, axis=-1, keepdims=True)
    lat, lon, h = ecef_to_llh(xyz)
    normal = ellipsoid_normal(lat, lon)
    incidence = np.degrees(np.arccos(np.clip(-np.sum(look * normal, axis=-1), -1, 1)))
    lat_s, lon_s, _ = ecef_to_llh(p)
    nadir = -ellipsoid_normal(lat_s, lon_s)
    elevation = np.degrees(np.arccos(np.clip(np.sum(look * nadir, axis=-1), -1, 1)))
    return {"look": look, "incidence": incidence, "elevation": elevation, "lat": lat, "lon": lon,
            "height": h}
