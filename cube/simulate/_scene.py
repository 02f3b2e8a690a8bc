"""The simulated ground scene: DEM, land cover, σ0, temporal coherence and a Mogi source.

The scene is defined analytically in local east/north metres (E, N) around a centre
(lat0, lon0); ``dem``, ``region_weights``, ``sigma0`` and ``mogi_enu`` take geodetic lat/lon in
degrees. Heights are WGS84 ellipsoidal metres.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._constants import WAVELENGTH, WGS84_A, WGS84_E2
from ._geometry import enu_basis

REGION_NAMES = ("stable", "grassland", "forest")
# per region: σ0 at 35° local incidence (dB), incidence exponent p (σ0 ∝ cos(θ_loc)^p),
# long-term coherence γ∞ and decorrelation time τ (days): γ(Δt) = γ∞ + (1 − γ∞) exp(−|Δt|/τ)
REGION_SIGMA0_DB = np.array([-4.0, -12.0, -8.0])
REGION_INCIDENCE_EXPONENT = np.array([1.5, 2.0, 1.0])
REGION_GAMMA_INF = np.array([0.93, 0.25, 0.05])
REGION_TAU_DAYS = np.array([48.0, 24.0, 10.0])
POISSON_RATIO = 0.25


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, float32 (land-cover weights are evaluated on full bursts)."""
    return np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * np.asarray(x, np.float32)))


@dataclasses.dataclass(frozen=True)
class Hill:
    east: float  # m
    north: float  # m
    amplitude: float  # m
    sigma: float  # m


@dataclasses.dataclass(frozen=True)
class Scene:
    """Analytic scene around (lat0, lon0); ``extent_e`` × ``extent_n`` metres cover all bursts.

    Features are laid out per burst footprint (bursts may be far apart: the burst cycle is the
    real one at every size), so that every burst sees hills, a stable (urban) area, grassland
    and forest; the Mogi source sits under the middle burst.
    """

    lat0: float
    lon0: float
    extent_e: float
    extent_n: float
    base_height: float
    slope_e: float  # dh/dE, m/m
    slope_n: float  # dh/dN, m/m
    hills: tuple[Hill, ...]
    urban_centers: tuple[tuple[float, float], ...]  # (E, N) m, one ellipse per burst
    urban_radii: tuple[float, float]  # m
    forest_threshold: float  # m of hill height above which forest dominates
    mogi_east: float
    mogi_north: float
    mogi_depth: float  # m below base_height
    mogi_volume: float  # m³, volume change at time factor 1

    @classmethod
    def build(cls, lat0: float, lon0: float, extent_e: float, extent_n: float,
              burst_centers: list[tuple[float, float]], burst_e: float, burst_n: float) -> Scene:
        """Deterministic layout scaled to the burst footprint.

        Each burst is ``burst_e`` × ``burst_n`` m, centred at ``burst_centers`` (E, N) m.
        """
        small = min(burst_e, burst_n)
        sig = 0.18 * small
        amp = min(350.0, 0.4 * sig * np.exp(0.5))  # steepest slope ≤ 0.4 (22°): no layover
        hills = []
        for e, n in burst_centers:
            hills += [Hill(e + 0.22 * burst_e, n + 0.25 * burst_n, amp, sig),
                      Hill(e - 0.20 * burst_e, n - 0.22 * burst_n, 0.7 * amp, 0.8 * sig)]
        depth = float(np.clip(0.9 * small, 2000.0, 4000.0))
        # volume so that the last date sees ~2.5 fringes (≈ 7 cm) of uplift above the source
        uplift = 2.5 * WAVELENGTH / 2 / 0.8
        volume = uplift * np.pi * depth**2 / (1 - POISSON_RATIO)
        mid_e, mid_n = burst_centers[len(burst_centers) // 2]
        return cls(
            lat0=lat0, lon0=lon0, extent_e=extent_e, extent_n=extent_n, base_height=150.0,
            slope_e=0.004, slope_n=-0.003, hills=tuple(hills),
            urban_centers=tuple((e - 0.25 * burst_e, n + 0.2 * burst_n) for e, n in burst_centers),
            urban_radii=(0.2 * burst_e, 0.18 * burst_n),
            forest_threshold=0.35 * amp,
            mogi_east=mid_e + 0.05 * burst_e, mogi_north=mid_n - 0.05 * burst_n,
            mogi_depth=depth, mogi_volume=float(volume),
        )

    # -- coordinates ---------------------------------------------------------------------------
    def local_en(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local (E, N) metres of lat/lon (deg): meridian/prime-vertical radii at lat0."""
        s2 = np.sin(np.radians(self.lat0)) ** 2
        m = WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * s2) ** 1.5
        n = WGS84_A / np.sqrt(1 - WGS84_E2 * s2)
        east = np.radians(np.asarray(lon) - self.lon0) * n * np.cos(np.radians(self.lat0))
        north = np.radians(np.asarray(lat) - self.lat0) * m
        return east, north

    def local_to_latlon(self, east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s2 = np.sin(np.radians(self.lat0)) ** 2
        m = WGS84_A * (1 - WGS84_E2) / (1 - WGS84_E2 * s2) ** 1.5
        n = WGS84_A / np.sqrt(1 - WGS84_E2 * s2)
        lat = self.lat0 + np.degrees(np.asarray(north) / m)
        lon = self.lon0 + np.degrees(np.asarray(east) / (n * np.cos(np.radians(self.lat0))))
        return lat, lon

    # -- DEM -----------------------------------------------------------------------------------
    def _hills(self, e: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h = np.zeros(np.shape(e))
        he = np.zeros(np.shape(e))
        hn = np.zeros(np.shape(e))
        for hill in self.hills:
            de, dn = e - hill.east, n - hill.north
            g = hill.amplitude * np.exp(-(de**2 + dn**2) / (2 * hill.sigma**2))
            h += g
            he -= g * de / hill.sigma**2
            hn -= g * dn / hill.sigma**2
        return h, he, hn

    def dem(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Ellipsoidal height (m) at lat/lon (deg)."""
        e, n = self.local_en(lat, lon)
        return self.base_height + self.slope_e * e + self.slope_n * n + self._hills(e, n)[0]

    def dem_gradient(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(dh/dE, dh/dN), dimensionless."""
        e, n = self.local_en(lat, lon)
        _, he, hn = self._hills(e, n)
        return self.slope_e + he, self.slope_n + hn

    # -- land cover, σ0, coherence ---------------------------------------------------------------
    def cover_args(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Smooth land-cover arguments.

        Normalised distance to the nearest urban-ellipse centre and hill height (m). Land cover =
        :meth:`weights_from_args` of them (sharp edges).
        """
        e, n = self.local_en(lat, lon)
        rho = np.min([np.hypot((e - ce) / self.urban_radii[0], (n - cn) / self.urban_radii[1])
                      for ce, cn in self.urban_centers], axis=0)
        return rho, self._hills(e, n)[0]

    def weights_from_args(self, rho: np.ndarray, hill: np.ndarray) -> np.ndarray:
        """Land-cover weights (3, ...) summing to 1: stable (urban), grassland, forest."""
        w_urban = _sigmoid((1.0 - rho) / 0.05)
        w_forest = (1.0 - w_urban) * _sigmoid((hill - self.forest_threshold) / 15.0)
        return np.stack([w_urban, 1.0 - w_urban - w_forest, w_forest])

    def region_weights(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Land-cover weights (3, ...) at lat/lon (deg)."""
        return self.weights_from_args(*self.cover_args(lat, lon))

    def sigma0(self, lat: np.ndarray, lon: np.ndarray, local_incidence_deg: np.ndarray) -> np.ndarray:
        """True σ0 (linear, per unit ground area) at the local incidence angle (deg)."""
        return np.sum(self.region_weights(lat, lon) * region_sigma0(local_incidence_deg), axis=0)

    def surface_normal(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Unit terrain normal (..., 3) in ECEF."""
        ge, gn = self.dem_gradient(lat, lon)
        east, north, up = enu_basis(lat, lon)
        normal = -ge[..., None] * east - gn[..., None] * north + up
        return normal / np.linalg.norm(normal, axis=-1, keepdims=True)

    # -- deformation ---------------------------------------------------------------------------
    def mogi_enu(self, lat: np.ndarray, lon: np.ndarray, height: np.ndarray) -> np.ndarray:
        """Mogi displacement (..., 3) east/north/up in metres for time factor 1.

        u = (1 − ν)/π · ΔV · (dE, dN, dz) / r³ with dz the vertical distance from the source
        (``mogi_depth`` below ``base_height``) to the point.
        """
        e, n = self.local_en(lat, lon)
        de, dn = e - self.mogi_east, n - self.mogi_north
        dz = self.mogi_depth + (np.asarray(height) - self.base_height)
        r3 = (de**2 + dn**2 + dz**2) ** 1.5
        c = (1 - POISSON_RATIO) / np.pi * self.mogi_volume
        return np.stack([c * de / r3, c * dn / r3, c * dz / r3], axis=-1)


def region_sigma0(local_incidence_deg: np.ndarray) -> np.ndarray:
    """σ0 (linear) of each land-cover region (3, ...) at the local incidence angle (deg)."""
    ratio = np.clip(np.cos(np.radians(local_incidence_deg)), 1e-3, None) / np.cos(np.radians(35.0))
    shape = (3,) + (1,) * np.ndim(ratio)
    return (10 ** (REGION_SIGMA0_DB.reshape(shape) / 10)
            * ratio[None] ** REGION_INCIDENCE_EXPONENT.reshape(shape))


def coherence_matrices(days: np.ndarray) -> np.ndarray:
    """Per-region temporal coherence matrices (3, N, N) for acquisition days (N,)."""
    dt = np.abs(days[:, None] - days[None, :])
    g_inf = REGION_GAMMA_INF[:, None, None]
    return g_inf + (1 - g_inf) * np.exp(-dt[None] / REGION_TAU_DAYS[:, None, None])


def mixed_coherence(weights: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Coherence matrices (..., N, N) where land-cover weights (3, ...) mix the regions.

    The simulated field of date k is u_k ∝ Σ_j (Σ_r sqrt(w_r) L_r[k, j]) z_j with L_r the
    Cholesky factors ``chol`` (3, N, N) and z_j independent unit fields, hence γ = norm(M Mᵀ).
    """
    m = np.einsum("r...,rkj->...kj", np.sqrt(np.clip(weights, 0, None)), chol)
    cov = m @ np.swapaxes(m, -1, -2)
    d = np.sqrt(np.einsum("...kk->...k", cov))
    return cov / (d[..., :, None] * d[..., None, :])
