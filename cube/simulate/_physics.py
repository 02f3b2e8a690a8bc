"""Radar-to-ground mapping of simulated pixels and the quantities the signal model needs."""

from __future__ import annotations

import numpy as np

from ._constants import AZIMUTH_TIME_INTERVAL, RANGE_PIXEL_SPACING, WAVELENGTH
from ._geometry import enu_basis, geo2rdr, look_geometry, rdr2geo
from ._orbit import Orbit
from ._scene import Scene, region_sigma0


def map_radar(t: np.ndarray, slant_range: np.ndarray, orbit: Orbit, ref_orbit: Orbit,
              scene: Scene, time_factor: float, strip_t0: float, strip_r0: float) -> dict[str, np.ndarray]:
    """Simulate the geometry of the radar samples of one date.

    The samples are at zero-Doppler time ``t`` (s of day) and one-way ``slant_range`` (m), of
    the same shape.

    Returns, per sample: ground ``lat``/``lon``/``height``; ellipsoid ``incidence``,
    ``local_incidence`` and ``elevation`` (deg); the position in the reference strip
    (``ref_line``, ``ref_sample``); ``phase_geo`` = −4π/λ (R − R_ref) (rad); ``phase_def`` =
    4π/λ · d_LOS (rad, d_LOS the Mogi displacement towards the satellite); ``area`` = 1/cos ψ
    (ground/slant area ratio, Ulander's projection angle ψ); ``sigma0_regions`` (3, ...) σ0 of each
    land-cover region at the local incidence; ``weights`` (3, ...) land-cover weights and the smooth
    arguments they are computed from (``cover_rho``, ``cover_hill``).
    """
    xyz = rdr2geo(t, slant_range, orbit, scene.dem)
    g = look_geometry(xyz, t, orbit)
    t_ref, r_ref = geo2rdr(xyz, ref_orbit, float(np.mean(t)))
    normal = scene.surface_normal(g["lat"], g["lon"])
    look = g["look"]
    local = np.degrees(np.arccos(np.clip(-np.sum(look * normal, axis=-1), -1, 1)))
    v = orbit.velocity_at(t)
    plane = np.cross(v, look)
    plane /= np.linalg.norm(plane, axis=-1, keepdims=True)
    cos_psi = np.abs(np.sum(normal * plane, axis=-1))
    east, north, up = enu_basis(g["lat"], g["lon"])
    enu = scene.mogi_enu(g["lat"], g["lon"], g["height"])
    disp = enu[..., :1] * east + enu[..., 1:2] * north + enu[..., 2:3] * up
    d_los = -np.sum(disp * look, axis=-1)
    rho, hill = scene.cover_args(g["lat"], g["lon"])
    return {
        "lat": g["lat"], "lon": g["lon"], "height": g["height"],
        "incidence": g["incidence"], "elevation": g["elevation"], "local_incidence": local,
        "ref_line": (t_ref - strip_t0) / AZIMUTH_TIME_INTERVAL,
        "ref_sample": (r_ref - strip_r0) / RANGE_PIXEL_SPACING,
        "phase_geo": -4 * np.pi / WAVELENGTH * (slant_range - r_ref),
        "phase_def": 4 * np.pi / WAVELENGTH * d_los * time_factor,
        "area": 1.0 / np.clip(cos_psi, 1e-3, None),
        "sigma0_regions": region_sigma0(local),
        "cover_rho": rho, "cover_hill": hill, "weights": scene.weights_from_args(rho, hill),
    }


def fm_rate(t: float, tau: np.ndarray, orbit: Orbit, scene: Scene) -> np.ndarray:
    """Azimuth FM rate (Hz/s) at time ``t`` for two-way slant range times ``tau`` (n,).

    ka = −2/λ · (|V|² − (X − P)·A) / R, with X the zero-Doppler ground point.
    """
    r = tau * 299_792_458.0 / 2
    tt = np.full_like(r, t)
    xyz = rdr2geo(tt, r, orbit, scene.dem)
    p, v, a = orbit.position_at(tt), orbit.velocity_at(tt), orbit.acceleration_at(tt)
    return -2 / WAVELENGTH * (np.sum(v * v, axis=-1) - np.sum((xyz - p) * a, axis=-1)) / r
