"""Ground truth of a simulated stack: ``truth/truth.npz`` + ``truth/README.json`` (and a reader)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from . import _constants as C
from ._geometry import enu_basis, geo2rdr, llh_to_ecef
from ._layout import Acquisition, Layout
from ._orbit import Orbit
from ._physics import map_radar
from ._scene import (
    REGION_GAMMA_INF,
    REGION_INCIDENCE_EXPONENT,
    REGION_NAMES,
    REGION_SIGMA0_DB,
    REGION_TAU_DAYS,
    Scene,
    coherence_matrices,
    mixed_coherence,
)
from ._tiff import write_dem_geotiff

FORMAT_VERSION = 1

DESCRIPTION = {
    "format": "sarcube simulator truth, numpy .npz (truth.npz) described by this file",
    "conventions": {
        "heights": "WGS84 ellipsoidal metres",
        "angles": "degrees",
        "phase": "SLC phase convention exp(-j 4 pi R / lambda); deformation phase "
                 "phase_def = -4 pi / lambda * dR = +4 pi / lambda * d_los, with d_los the "
                 "line-of-sight displacement in metres, positive towards the satellite; "
                 "interferogram s_i * conj(s_j) at a common ground point has phase "
                 "-4 pi (R_i - R_j) / lambda + phase_def_i - phase_def_j",
        "sigma0": "true sigma0 per unit ground area at the local incidence angle; beta0 = "
                  "sigma0 / cos(psi) (Ulander projection angle); E|DN|^2 = betaNought^2 * beta0 "
                  "+ thermal noise power (DN^2)",
        "coherence": "temporal coherence of the signal (without thermal noise) between dates; "
                     "with land-cover weights w_r the field of date k is "
                     "sum_j (sum_r sqrt(w_r) L_r[k, j]) z_j (normalised), L_r = chol[r]",
        "sample pixels": "burst index, line within burst, sample (0-based) of the SLC bursts",
    },
    "arrays": {
        "dates": "(N,) str ISO dates",
        "days": "(N,) days since the first date",
        "time_factor": "(N,) deformation scaling (displacement = time_factor * displacement_enu)",
        "cross_track, radial": "(N,) m, orbit offset of each date from the reference orbit",
        "baseline_perp": "(N,) m, perpendicular baseline w.r.t. date 0 at the DEM centre: "
                         "(P_k - P_0) . unit(V x look)",
        "dem_lat, dem_lon": "(ny,), (nx,) deg, axes of the DEM grid (lat increasing)",
        "dem_height": "(ny, nx) float64 m, ellipsoidal DEM (the simulator's terrain)",
        "dem.tif": "the same DEM as a float32 GeoTIFF (EPSG:4326, heights above WGS84, "
                   "VerticalCSTypeGeoKey 4979)",
        "dem_egm96.tif": "the same terrain as real DEMs give it: orthometric heights H = h - N "
                         "above EGM96 (VerticalCSTypeGeoKey 5773; N by PROJ's vgridshift with "
                         "proj-data's egm96_15.gtx); written where that grid is installed",
        "region_weights": "(3, ny, nx) land-cover weights (stable, grassland, forest), sum 1",
        "sigma0": "(ny, nx) linear true sigma0 (reference geometry local incidence)",
        "sigma0_db": "(ny, nx) dB",
        "displacement_enu": "(3, ny, nx) m, Mogi displacement east/north/up for time factor 1",
        "def_phase": "(N, ny, nx) rad, deformation phase of each date on the DEM grid",
        "los_displacement": "(N, ny, nx) m, line-of-sight displacement of each date since the "
                            "first on the DEM grid, positive towards the satellite "
                            "(def_phase = 4 pi / lambda * los_displacement)",
        "chol": "(3, N, N) Cholesky factors of the per-region coherence matrices",
        "coherence_regions": "(3, N, N) per-region temporal coherence matrices",
        "sample_burst, sample_line, sample_sample": "(P,) sample pixel indices",
        "sample_lat, sample_lon, sample_height": "(N, P) ground point of each sample pixel",
        "sample_incidence, sample_local_incidence": "(N, P) deg (ellipsoid / terrain)",
        "sample_def_phase": "(N, P) rad",
        "sample_sigma0, sample_beta0": "(N, P) linear",
        "sample_signal_power, sample_noise_power": "(N, P) expected |DN|^2 of signal / noise",
        "sample_weights": "(N, 3, P) land-cover weights",
        "sample_coherence": "(N, P, N, N) temporal coherence at the ground point of date k's "
                            "sample pixel",
        "sample_ref_line, sample_ref_sample": "(N, P) position in the reference strip",
        "orbit_time, orbit_position, orbit_velocity": "reference (unperturbed) orbit, s of day",
    },
}


DEM_MARGIN_M = 1500.0
"""m of DEM beyond 0.7 × the scene's extent each way: a burst's product grid spans its footprint
at heights up to ~800 m (~1.2 km nearer in ground range) plus a 200 m margin, and tiny bursts,
adjacent since their cycle follows their length, no longer widen the scene much."""

EGM96_GRIDS = ("/usr/share/proj/egm96_15.gtx", "/usr/local/share/proj/egm96_15.gtx")


def egm96_grid_file() -> str | None:
    """Debian proj-data's EGM96 grid (make setup installs it), or None."""
    return next((p for p in EGM96_GRIDS if Path(p).is_file()), None)


def proj_undulation(lat: np.ndarray, lon: np.ndarray, grid: str) -> np.ndarray:
    """EGM96 undulation N (m) by PROJ's vgridshift: the truth stays independent of cube.geometry."""
    from pyproj import Transformer

    t = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        f"+step +inv +proj=vgridshift +grids={grid} +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return -np.asarray(t.transform(lon.ravel(), lat.ravel(), np.zeros(lon.size))[2]).reshape(lon.shape)


class TruthWriter:
    """Accumulates per-date truth while the stack is simulated."""

    def __init__(self, path: Path, layout: Layout, scene: Scene, acqs: list[Acquisition],
                 ref: Orbit, strip, chol: np.ndarray, days: np.ndarray) -> None:
        self.path, self.layout, self.scene, self.acqs, self.ref = path, layout, scene, acqs, ref
        self.strip, self.chol = strip, chol
        half_e, half_n = 0.7 * scene.extent_e + DEM_MARGIN_M, 0.7 * scene.extent_n + DEM_MARGIN_M
        step = max(10.0, 2 * max(half_e, half_n) / 1200)
        e = np.arange(-half_e, half_e + step, step)
        n = np.arange(-half_n, half_n + step, step)
        lat, _ = scene.local_to_latlon(0 * n, n)
        _, lon = scene.local_to_latlon(e, 0 * e)
        self.lat, self.lon = lat, lon
        glat, glon = np.meshgrid(lat, lon, indexing="ij")
        self.height = scene.dem(glat, glon)
        self.xyz = llh_to_ecef(glat, glon, self.height)
        self.weights = scene.region_weights(glat, glon)
        t_mid = layout.first_burst_sod + layout.bursts * layout.burst_cycle / 2
        t_ref, _ = geo2rdr(self.xyz, ref, t_mid)
        look = self.xyz - ref.position_at(t_ref)
        look /= np.linalg.norm(look, axis=-1, keepdims=True)
        normal = scene.surface_normal(glat, glon)
        local = np.degrees(np.arccos(np.clip(-np.sum(look * normal, axis=-1), -1, 1)))
        self.sigma0 = scene.sigma0(glat, glon, local)
        enu = scene.mogi_enu(glat, glon, self.height)
        east, north, up = enu_basis(glat, glon)
        self.disp_ecef = enu[..., :1] * east + enu[..., 1:2] * north + enu[..., 2:3] * up
        self.disp_enu = np.moveaxis(enu, -1, 0)
        self.t_mid = t_mid
        self.days = days
        self.samples = self._sample_pixels()
        self.per_date: list[dict[str, np.ndarray]] = []

    def _sample_pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lay = self.layout
        lines = np.round(np.linspace(lay.invalid_lines + 2,
                                     lay.lines_per_burst - lay.invalid_lines - 3, 4)).astype(int)
        samples = np.round(np.linspace(lay.first_valid_sample + 2, lay.last_valid_sample - 2, 5)).astype(int)
        b, li, s = np.meshgrid(np.arange(lay.bursts), lines, samples, indexing="ij")
        return b.ravel(), li.ravel(), s.ravel()

    def add_date(self, acq: Acquisition, luts) -> None:
        """Exact truth at the sample pixels and deformation phase on the DEM grid of one date."""
        b, li, s = self.samples
        lay = self.layout
        t = acq.burst_sod[b] + li * C.AZIMUTH_TIME_INTERVAL
        m = map_radar(t, lay.slant_range(s), acq.orbit, self.ref, self.scene, acq.time_factor,
                      self.strip.t0, self.strip.r0)
        sigma0 = np.sum(m["weights"] * m["sigma0_regions"], axis=0)
        beta0 = sigma0 * m["area"]
        noise = np.array([luts.noise_power(np.array([bb * lay.lines_per_burst + ll]), np.array([ss]))[0, 0]
                          for bb, ll, ss in zip(b, li, s, strict=True)])
        t_date, _ = geo2rdr(self.xyz, acq.orbit, self.t_mid)
        look = self.xyz - acq.orbit.position_at(t_date)
        look /= np.linalg.norm(look, axis=-1, keepdims=True)
        d_los = -np.sum(self.disp_ecef * look, axis=-1)
        self.per_date.append({
            "sample_lat": m["lat"], "sample_lon": m["lon"], "sample_height": m["height"],
            "sample_incidence": m["incidence"], "sample_local_incidence": m["local_incidence"],
            "sample_def_phase": m["phase_def"], "sample_sigma0": sigma0, "sample_beta0": beta0,
            "sample_signal_power": C.CALIBRATION_BETA**2 * beta0, "sample_noise_power": noise,
            "sample_weights": m["weights"], "sample_coherence": mixed_coherence(m["weights"], self.chol),
            "sample_ref_line": m["ref_line"], "sample_ref_sample": m["ref_sample"],
            "def_phase": (4 * np.pi / C.WAVELENGTH * d_los * acq.time_factor).astype(np.float32),
            "los_displacement": (d_los * acq.time_factor).astype(np.float32),
        })

    def _baselines(self) -> np.ndarray:
        """B_perp (m) of every date relative to date 0, at the DEM grid centre.

        (P_k − P_0) · unit(V × look), P at the zero-Doppler times of that point.
        """
        c = self.xyz[self.xyz.shape[0] // 2, self.xyz.shape[1] // 2][None]
        o0 = self.acqs[0].orbit
        t0, _ = geo2rdr(c, o0, self.t_mid)
        p0, v0 = o0.position_at(t0)[0], o0.velocity_at(t0)[0]
        perp = np.cross(v0, c[0] - p0)
        perp /= np.linalg.norm(perp)
        return np.array([(a.orbit.position_at(geo2rdr(c, a.orbit, self.t_mid)[0])[0] - p0) @ perp
                         for a in self.acqs])

    def write(self, safe_names: list[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        stacked: dict[str, Any] = {k: np.stack([d[k] for d in self.per_date]) for k in self.per_date[0]}
        b, li, s = self.samples
        np.savez(
            self.path / "truth.npz",
            dates=np.array([a.date.isoformat() for a in self.acqs]), days=self.days,
            time_factor=np.array([a.time_factor for a in self.acqs]),
            cross_track=np.array([a.cross_track for a in self.acqs]),
            radial=np.array([a.radial for a in self.acqs]), baseline_perp=self._baselines(),
            dem_lat=self.lat, dem_lon=self.lon, dem_height=self.height,
            region_weights=self.weights.astype(np.float32), sigma0=self.sigma0.astype(np.float32),
            sigma0_db=(10 * np.log10(self.sigma0)).astype(np.float32),
            displacement_enu=self.disp_enu.astype(np.float32),
            chol=self.chol, coherence_regions=coherence_matrices(self.days),
            sample_burst=b, sample_line=li, sample_sample=s,
            orbit_time=self.ref.time, orbit_position=self.ref.position, orbit_velocity=self.ref.velocity,
            **stacked,
        )
        write_dem_geotiff(self.path / "dem.tif", self.lat, self.lon, self.height)
        grid = egm96_grid_file()
        if grid is not None:  # the same terrain as real DEMs give it: above the geoid
            glat, glon = np.meshgrid(self.lat, self.lon, indexing="ij")
            orthometric = self.height - proj_undulation(glat, glon, grid)
            write_dem_geotiff(self.path / "dem_egm96.tif", self.lat, self.lon, orthometric, 5773)
        readme: dict[str, Any] = dict(DESCRIPTION)
        readme.update({
            "format_version": FORMAT_VERSION,
            "safe_names": safe_names,
            "wavelength_m": C.WAVELENGTH,
            "regions": {name: {"sigma0_db_at_35deg": float(REGION_SIGMA0_DB[i]),
                               "incidence_exponent": float(REGION_INCIDENCE_EXPONENT[i]),
                               "gamma_inf": float(REGION_GAMMA_INF[i]),
                               "tau_days": float(REGION_TAU_DAYS[i])}
                        for i, name in enumerate(REGION_NAMES)},
            "coherence_model": "gamma(dt) = gamma_inf + (1 - gamma_inf) exp(-|dt| / tau)",
            "scene": {k: v for k, v in dataclasses.asdict(self.scene).items()},
        })
        (self.path / "README.json").write_text(json.dumps(readme, indent=2, default=float))


@dataclasses.dataclass
class Truth:
    """Reader of ``truth/``: ``arrays`` holds every npz array, ``readme`` the JSON."""

    arrays: dict[str, np.ndarray]
    readme: dict

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def interp(self, name: str, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of a DEM-grid array (..., ny, nx) at lat/lon (deg)."""
        values = self.arrays[name]
        lead = values.shape[:-2]
        flat = values.reshape(-1, *values.shape[-2:])
        pts = np.stack([np.ravel(lat), np.ravel(lon)], axis=-1)
        out = np.stack([RegularGridInterpolator((self["dem_lat"], self["dem_lon"]), v)(pts) for v in flat])
        return out.reshape(*lead, *np.shape(lat))

    def coherence(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """True temporal coherence matrices (..., N, N) at lat/lon (deg)."""
        w = self.interp("region_weights", lat, lon)
        return mixed_coherence(w, self["chol"])


def load_truth(truth_dir: str | Path) -> Truth:
    """Read ``truth.npz`` and ``README.json`` from a simulator truth directory."""
    truth_dir = Path(truth_dir)
    with np.load(truth_dir / "truth.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return Truth(arrays, json.loads((truth_dir / "README.json").read_text()))
