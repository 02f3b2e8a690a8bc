"""Orchestration of :func:`cube.simulate.simulate_stack`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import numpy as np
from scipy.interpolate import BSpline, RectBivariateSpline
from tqdm import tqdm

from . import _constants as C
from ._annotation import AnnotationData, BurstRecord, DcEstimate, build_annotation
from ._aux import write_map_overlay, write_orbit_file
from ._calnoise import build_calibration, build_noise, make_luts, q6
from ._geometry import ecef_to_llh, enu_basis, look_geometry, rdr2geo
from ._layout import Acquisition, Layout, make_acquisitions, quantize, round_us, seed_orbit, time_str
from ._manifest import ManifestInfo, build_manifest
from ._physics import fm_rate, map_radar
from ._scene import Scene, coherence_matrices
from ._signal import (
    KERNEL_TAPS,
    assemble_burst,
    bandlimited_field,
    mix_fields,
    nonzero_moments,
    sinc_kernel_table,
    spline_rows,
    tops_carrier_terms,
)
from ._tiff import write_cint16_tiff
from ._truth import TruthWriter
from ._xml import write

ATI = C.AZIMUTH_TIME_INTERVAL
DR = C.RANGE_PIXEL_SPACING
SENSING_MINUS_ZERO_DOPPLER = 1.026380  # s, burst sensingTime − azimuthTime (IW2, real products)
DATATAKE_LEAD = 274.798978  # s, first burst zero-Doppler time − datatake start (real product)
SMOOTH_KEYS = ("ref_line", "ref_sample", "phase", "cover_rho", "cover_hill")
#: Lines simulated at once: bounds the memory of the full-resolution temporaries.
BLOCK_LINES = 128


@dataclasses.dataclass(frozen=True)
class Strip:
    """Reference radar grid (unperturbed orbit) carrying the band-limited reflectivity."""

    t0: float  # s of day of line 0
    r0: float  # m, slant range of sample 0
    lines: int
    samples: int


def _coarse_axis(n: int, step: int, max_points: int) -> np.ndarray:
    return np.unique(np.round(np.linspace(0, n - 1, min(max_points, n // step + 2))))


class _Spline:
    """Bicubic interpolating spline of a smooth coarse field (lc, sc), evaluated on full-grid rows.

    The same spline as ``RectBivariateSpline(..., kx=3, ky=3)``, evaluated as the tensor product
    B_l · C · B_sᵀ with sparse B-spline design matrices: the range product is done once, each
    azimuth block then costs 4 multiply-adds per pixel.
    """

    def __init__(self, lines_c: np.ndarray, samples_c: np.ndarray, values: np.ndarray,
                 samples: np.ndarray) -> None:
        spline = RectBivariateSpline(lines_c, samples_c, values, kx=3, ky=3)
        tl, ts = spline.get_knots()
        coeffs = spline.get_coeffs().reshape(len(tl) - 4, len(ts) - 4)
        self._tl = tl
        self._by = np.ascontiguousarray((BSpline.design_matrix(samples.astype(float), ts, 3) @ coeffs.T).T)

    def rows(self, lines: np.ndarray) -> np.ndarray:
        """float64 (len(lines), samples) values at full-grid ``lines`` (within the coarse span)."""
        d = BSpline.design_matrix(lines.astype(float), self._tl, 3)  # CSR, 4 entries a row
        return spline_rows(self._by, d.indices.reshape(len(lines), 4), d.data.reshape(len(lines), 4))


def _scene_for(layout: Layout) -> Scene:
    """Scene laid out on the reference burst footprints (flat guess at the base height)."""
    ref = seed_orbit()
    duration = layout.lines_per_burst * ATI
    starts = layout.first_burst_sod + layout.burst_cycle * np.arange(layout.bursts)
    t = np.concatenate([starts[:, None] + [0.0, 0.0, duration, duration, duration / 2]]).ravel()
    corners = layout.slant_range(np.array([0, layout.samples - 1, 0, layout.samples - 1,
                                           (layout.samples - 1) / 2]))
    r = np.tile(corners, layout.bursts)
    xyz = rdr2geo(t, r, ref, lambda lat, lon: np.full(np.shape(lat), 150.0))
    g = look_geometry(xyz, t, ref)
    lat, lon = g["lat"].reshape(-1, 5), g["lon"].reshape(-1, 5)
    probe = Scene.build(float(lat[:, 4].mean()), float(lon[:, 4].mean()), 1, 1, [(0, 0)], 1, 1)
    e, n = probe.local_en(lat, lon)
    return Scene.build(probe.lat0, probe.lon0, float(np.ptp(e[:, :4])), float(np.ptp(n[:, :4])),
                       list(zip(e[:, 4], n[:, 4], strict=True)), float(np.ptp(e[0, :4])),
                       float(np.ptp(n[0, :4])))


def _burst_grid(layout: Layout, acq: Acquisition, b: int, lines: np.ndarray, samples: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler times and slant ranges (len(lines), len(samples)) of burst ``b``."""
    t = acq.burst_sod[b] + lines[:, None] * ATI + 0 * samples[None, :]
    r = layout.slant_range(samples)[None, :] + 0 * t
    return t, r


def _make_strip(maps: list[list[dict]], layout: Layout) -> Strip:
    """Smallest reference grid holding every mapped sample plus the interpolation kernel."""
    lines = np.concatenate([m["ref_line"].ravel() for per_date in maps for m in per_date])
    samples = np.concatenate([m["ref_sample"].ravel() for per_date in maps for m in per_date])
    margin = KERNEL_TAPS + 8
    l0 = math.floor(lines.min()) - margin
    s0 = math.floor(samples.min()) - margin
    return Strip(
        t0=layout.first_burst_sod + l0 * ATI,
        r0=layout.near_range + s0 * DR,
        lines=math.ceil(lines.max()) + margin - l0 + 1,
        samples=math.ceil(samples.max()) + margin - s0 + 1,
    )


def _reflectivity(strip: Strip, scene: Scene, layout: Layout, days: np.ndarray, seed: int,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speckle fields, land-cover mixing weights and Cholesky factors of the strip.

    Returns the independent unit speckle fields z_j (dates, lines, samples), the mixing weights
    m_r = sqrt(w_r) (3, lines, samples) and the Cholesky factors (3, N, N).
    """
    ref = seed_orbit()
    lc = _coarse_axis(strip.lines, 8, 129)
    sc = _coarse_axis(strip.samples, 16, 257)
    t = strip.t0 + lc[:, None] * ATI + 0 * sc[None, :]
    r = strip.r0 + sc[None, :] * DR + 0 * t
    g = look_geometry(rdr2geo(t, r, ref, scene.dem), t, ref)
    ss = np.arange(strip.samples)
    args = [_Spline(lc, sc, a, ss) for a in scene.cover_args(g["lat"], g["lon"])]
    mix = np.empty((3, strip.lines, strip.samples), np.float32)
    for l0 in range(0, strip.lines, BLOCK_LINES):
        ls = np.arange(l0, min(l0 + BLOCK_LINES, strip.lines))
        mix[:, ls[0]:ls[-1] + 1] = np.sqrt(scene.weights_from_args(*(a.rows(ls) for a in args)))
    ratios = (layout.swath.azimuth_bandwidth * ATI, layout.swath.range_bandwidth / C.RANGE_SAMPLING_RATE)
    fields = np.empty((len(days), strip.lines, strip.samples), np.complex64)
    for j in range(len(days)):
        fields[j] = bandlimited_field((strip.lines, strip.samples), ratios,
                                      np.random.default_rng([seed, 2, j]))
    chol = np.linalg.cholesky(coherence_matrices(days))
    return fields, mix, chol


def _date_field(k: int, fields: np.ndarray, mix: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """u_k = Σ_j (Σ_r m_r L_r[k, j]) z_j, normalised to unit variance everywhere (complex64)."""
    return mix_fields(fields, mix, chol[:, k, : k + 1].astype(np.float32))


def _dc_estimates(layout: Layout, acq: Acquisition, seed: int) -> list[DcEstimate]:
    """One Doppler estimate per burst centre, plus one before and one after (like the IPF)."""
    rng = np.random.default_rng([seed, 4, acq.index])
    f0 = rng.uniform(-15.0, 15.0)
    t0 = quantize(layout.slant_range_time - 2.94e-4)
    half = layout.lines_per_burst / 2 * ATI
    centres = [acq.burst_sod[0] - layout.burst_cycle + half]
    centres += [s + half for s in acq.burst_sod] + [acq.burst_sod[-1] + layout.burst_cycle + half]
    tau = np.linspace(layout.slant_range_time,
                      layout.slant_range_time + (layout.samples - 1) / C.RANGE_SAMPLING_RATE, 20)
    out = []
    for c in centres:
        data = q6(np.array([f0 + rng.normal(0, 2.0), 1.5e4 + rng.normal(0, 2e3), -2.0e7]))
        geom = q6(np.array([rng.normal(-0.3, 0.3), 3.0e2 + rng.normal(0, 50), -8.0e4]))
        fine = np.polynomial.polynomial.polyval(tau - t0, data) + rng.normal(0, 3.0, tau.size)
        out.append(DcEstimate(round_us(c), t0, geom, data, 3.0, round_us(c - half),
                              round_us(c + half), tau, fine))
    return out


#: The TOPS carrier of a burst: kt (Hz/s), η_ref (s), f_ηc (Hz) per reference-strip sample, and
#: the burst mid time relative to the strip start (s).
Carrier = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def _reference_carriers(layout: Layout, acq: Acquisition, scene: Scene, strip: Strip) -> list[Carrier]:
    """The TOPS carrier terms (kt, η_ref, f_ηc per strip sample) of each burst, the same for every date.

    Physics: a focused target's response is carrier-free at its peak; the carrier only shapes
    the phase around it. The deramped fields of two dates therefore differ by the smooth phase
    ψ_k − ψ_ref (timing offsets δ give 2π f_inst δ, Doppler differences 2π Δf_ηc η), while
    the SLCs agree at a ground point. With the reflectivity field u defined as the deramped
    field of a reference carrier ψ_ref, every date's SLC is u · exp(jψ_ref), ψ_ref tied to the
    ground in both coordinates: η is the zero-Doppler time of the pixel's ground point on the
    reference orbit (reference-strip line, relative to the nominal burst mid time) and τ its
    slant range time from the reference orbit (reference-strip sample), not the date's own
    sample: with the date's sample, dates whose orbits differ by ΔR in range would see
    k_t(τ + 2ΔR/c) ≠ k_t(τ), a phase π Δk_t η² between them (≈ 0.6 rad at the edges of a
    full-size burst for ΔR ≈ 60 m, see docs/simulator.md). The mean Doppler centroid of
    ``_dc_estimates`` (whose per-date offsets then play the part of estimation errors) and the
    first date's FM rate and speed complete ψ_ref. Processing with the annotated (per-date)
    polynomials sees a residual Doppler offset of a few to ~20 Hz, as with real data.
    """
    tau = 2 * (strip.r0 + np.arange(strip.samples) * DR) / C.SPEED_OF_LIGHT
    dc_t0 = quantize(layout.slant_range_time - 2.94e-4)
    mids = layout.first_burst_sod + np.arange(layout.bursts) * layout.burst_cycle \
        + layout.lines_per_burst / 2 * ATI
    fm_poly = _fm_polynomials(layout, acq, scene, mids)
    return [(*tops_carrier_terms(tau, layout.slant_range_time, np.array([0.0, 1.5e4, -2.0e7]), dc_t0,
                                 fm_poly[b], layout.slant_range_time,
                                 float(np.linalg.norm(acq.orbit.velocity_at(mid))),
                                 np.radians(layout.swath.steering_rate_deg), C.WAVELENGTH),
             mid - strip.t0)
            for b, mid in enumerate(mids)]


def _nearest(times: np.ndarray, t: float) -> int:
    return int(np.argmin(np.abs(np.asarray(times) - t)))


def _burst_ids(layout: Layout, acq: Acquisition, anx_times: list[float]) -> tuple[list[int], list[int]]:
    """ESA relative and absolute burst ids.

    1 + ⌊(Δt_mid + (orbit − 1) T_orb − T_pre) / T_beam⌋ for the first burst, consecutive afterwards
    (tiny bursts are shorter than real ones).
    """
    mid = anx_times[0] + layout.lines_per_burst / 2 * ATI

    def first_id(orbit: int) -> int:
        return 1 + math.floor((mid + (orbit - 1) * C.ORBIT_PERIOD - C.BURST_ID_T_PRE) / C.BURST_ID_T_BEAM)

    rel, ab = first_id(acq.relative_orbit), first_id(acq.absolute_orbit)
    return [rel + b for b in range(layout.bursts)], [ab + b for b in range(layout.bursts)]


def _geolocation_grid(layout: Layout, acq: Acquisition, scene: Scene) -> dict[str, np.ndarray]:
    """Geolocation grid: burst-start lines and the last line × ~21 (tiny: 11) pixels."""
    n_lines = layout.lines_per_burst * layout.bursts
    lines = np.array([b * layout.lines_per_burst for b in range(layout.bursts)] + [n_lines - 1])
    n_pix = 21 if layout.samples > 2000 else 11
    pixels = np.round(np.linspace(0, layout.samples - 1, n_pix)).astype(int)
    burst = np.minimum(lines // layout.lines_per_burst, layout.bursts - 1)
    t_line = acq.burst_sod[burst] + (lines - burst * layout.lines_per_burst) * ATI
    t = t_line[:, None] + 0 * pixels[None, :]
    r = layout.slant_range(pixels)[None, :] + 0 * t
    g = look_geometry(rdr2geo(t, r, acq.orbit, scene.dem), t, acq.orbit)
    return {"azimuth_sod": t, "tau": 2 * r / C.SPEED_OF_LIGHT, "line": lines[:, None] + 0 * pixels,
            "pixel": pixels[None, :] + 0 * lines[:, None], "lat": g["lat"], "lon": g["lon"],
            "height": g["height"], "incidence": g["incidence"], "elevation": g["elevation"]}


def _names(layout: Layout, acq: Acquisition) -> tuple[str, str]:
    """(SAFE folder name, file stem shared by annotation, calibration, noise and measurement)."""
    start = acq.burst_sod[0]
    stop = acq.burst_sod[-1] + (layout.lines_per_burst - 1) * ATI

    def stamp(sod: float, sep: str) -> str:
        return time_str(acq.date, sod)[:19].replace("-", "").replace(":", "").replace("T", sep)

    pol = layout.polarization
    code = {"VV": "SV", "HH": "SH", "VH": "DV", "HV": "DH"}[pol]
    safe = (f"{acq.mission}_IW_SLC__1S{code}_{stamp(start, 'T')}_{stamp(stop, 'T')}_"
            f"{acq.absolute_orbit:06d}_{acq.datatake:06X}_{acq.unique_id}.SAFE")
    image_number = int(layout.swath.name[-1])
    stem = (f"{acq.mission.lower()}-{layout.swath.name.lower()}-slc-{pol.lower()}-"
            f"{stamp(start, 't')}-{stamp(stop, 't')}-{acq.absolute_orbit:06d}-"
            f"{acq.datatake:06x}-{image_number:03d}")
    return safe, stem


def _fm_polynomials(layout: Layout, acq: Acquisition, scene: Scene, times: np.ndarray) -> np.ndarray:
    """Azimuth FM rate polynomials (len(times), 3) in τ − slantRangeTime, fitted to the geometry."""
    t0 = layout.slant_range_time
    tau = np.linspace(t0, t0 + (layout.samples - 1) / C.RANGE_SAMPLING_RATE, 9)
    return np.array([[quantize(c) for c in np.polynomial.polynomial.polyfit(
        tau - t0, fm_rate(t, tau, acq.orbit, scene), 2)] for t in times])


def _simulate_burst(layout: Layout, acq: Acquisition, b: int, coarse: dict[str, np.ndarray],
                    scene: Scene, field: np.ndarray, luts, carrier: Carrier,
                    seed: int, out: np.ndarray) -> None:
    """Fill ``out`` (lines per burst, samples, 2) int16 with burst ``b`` of one date.

    Works in blocks of ``BLOCK_LINES`` lines: the smooth geometry is splined, and the pixels
    assembled, one block at a time (the same values as the whole burst at once).
    """
    lines_c = _coarse_axis(layout.lines_per_burst, 8, 65)
    samples_c = _coarse_axis(layout.samples, 16, 257)
    samples = np.arange(layout.samples)
    coarse = dict(coarse, phase=coarse["phase_geo"] + coarse["phase_def"])
    splines = {k: _Spline(lines_c, samples_c, coarse[k], samples) for k in SMOOTH_KEYS}
    beta_splines = [_Spline(lines_c, samples_c, coarse["sigma0_regions"][r] * coarse["area"], samples)
                    for r in range(3)]
    ratios = (layout.swath.azimuth_bandwidth * ATI, layout.swath.range_bandwidth / C.RANGE_SAMPLING_RATE)
    noise = bandlimited_field((layout.lines_per_burst, layout.samples), ratios,
                              np.random.default_rng([seed, 3, acq.index, b]))
    # The carrier is one ground-locked function for every date: a focused target is
    # carrier-free at its peak, so the reramped SLCs of two dates agree at a ground point
    # whatever each date's burst timing and Doppler centroid (see _reference_carriers).
    kt, eta_ref, fdc, eta_origin = carrier
    first_valid, last_valid = layout.valid_window()
    table = sinc_kernel_table()
    for l0 in range(0, layout.lines_per_burst, BLOCK_LINES):
        lines = np.arange(l0, min(l0 + BLOCK_LINES, layout.lines_per_burst))
        full = {k: sp.rows(lines) for k, sp in splines.items()}
        # land cover has sharp edges: weights from the splined smooth arguments, not splined weights
        weights = scene.weights_from_args(full["cover_rho"], full["cover_hill"])
        beta0 = sum(weights[r] * beta_splines[r].rows(lines) for r in range(3))
        amp = (C.CALIBRATION_BETA * np.sqrt(beta0)).astype(np.float32)
        block_noise = noise[lines] * np.sqrt(luts.noise_power(b * layout.lines_per_burst + lines,
                                                              samples)).astype(np.float32)
        eta = full["ref_line"] * ATI - eta_origin  # zero-Doppler time of the ground point, reference orbit
        assemble_burst(field, full["ref_line"], full["ref_sample"], amp, full["phase"], block_noise,
                       eta, kt, eta_ref, fdc, first_valid[lines], last_valid[lines], table,
                       out[l0:l0 + len(lines)])


def simulate(out_dir: Path, dates: int, bursts: int, size: str, seed: int, swath: str,
             polarization: str, progress: bool, deformation: str = "linear") -> tuple[list[Path], Path]:
    """Write the SAFE folders and the truth; return (SAFE paths by date, truth dir)."""
    layout = Layout.build(swath, polarization, size, bursts)
    acqs = make_acquisitions(layout, dates, seed, deformation)
    scene = _scene_for(layout)
    ref = seed_orbit()

    # 1. coarse radar -> ground -> reference-strip mapping of every burst of every date
    lines_c = _coarse_axis(layout.lines_per_burst, 8, 65)
    samples_c = _coarse_axis(layout.samples, 16, 257)
    origin = (layout.first_burst_sod, layout.near_range)
    maps = [[map_radar(*_burst_grid(layout, a, b, lines_c, samples_c), a.orbit, ref, scene,
                       a.time_factor, *origin) for b in range(bursts)] for a in acqs]
    strip = _make_strip(maps, layout)
    for per_date in maps:
        for m in per_date:
            m["ref_line"] += (origin[0] - strip.t0) / ATI
            m["ref_sample"] += (origin[1] - strip.r0) / DR

    # 2. correlated speckle on the reference strip, then every date in turn
    days = np.array([a.days for a in acqs])
    fields, mix, chol = _reflectivity(strip, scene, layout, days, seed)
    truth = TruthWriter(out_dir / "truth", layout, scene, acqs, ref, strip, chol, days)
    out_dir.mkdir(parents=True, exist_ok=True)
    safe_paths = []
    carriers = _reference_carriers(layout, acqs[0], scene, strip)
    for acq in tqdm(acqs, desc="simulate", unit="date", disable=not progress):
        field = _date_field(acq.index, fields, mix, chol)
        grid = _geolocation_grid(layout, acq, scene)
        luts = make_luts(layout, grid["incidence"][0])
        dcs = _dc_estimates(layout, acq, seed)
        fm_poly = _fm_polynomials(layout, acq, scene, np.array([d.sod for d in dcs]))
        pairs = np.zeros((bursts * layout.lines_per_burst, layout.samples, 2), np.int16)
        for b in range(bursts):
            rows = slice(b * layout.lines_per_burst, (b + 1) * layout.lines_per_burst)
            _simulate_burst(layout, acq, b, maps[acq.index][b], scene, field, luts, carriers[b],
                            seed, pairs[rows])
        truth.add_date(acq, luts)
        safe_paths.append(_write_product(out_dir, layout, acq, scene, pairs, grid, luts, dcs, fm_poly))
    truth.write([p.name for p in safe_paths])
    return safe_paths, truth.path


def _annotation_data(layout: Layout, acq: Acquisition, scene: Scene, pairs: np.ndarray,
                     grid: dict[str, np.ndarray], offsets: list[int], dcs: list[DcEstimate],
                     fm_poly: np.ndarray) -> AnnotationData:
    start = acq.burst_sod[0]
    stop = acq.burst_sod[-1] + (layout.lines_per_burst - 1) * ATI
    anx = C.SEED_ANX_SECONDS_OF_DAY
    anx_times = [quantize(s - anx) for s in acq.burst_sod]
    ids, abs_ids = _burst_ids(layout, acq, anx_times)
    first_valid, last_valid = layout.valid_window()
    sensing_shift = layout.sensing_cycle - layout.burst_cycle  # 0 at full size
    records = [BurstRecord(s, anx_times[b], round_us(s + SENSING_MINUS_ZERO_DOPPLER + b * sensing_shift),
                           offsets[b * layout.lines_per_burst], first_valid, last_valid, ids[b],
                           abs_ids[b]) for b, s in enumerate(acq.burst_sod)]
    centre = len(grid["lat"]) // 2, grid["lat"].shape[1] // 2
    mid_t = grid["azimuth_sod"][centre]
    v = acq.orbit.velocity_at(mid_t)
    east, north, _ = enu_basis(*ecef_to_llh(acq.orbit.position_at(mid_t))[:2])  # at nadir
    r_mid = layout.slant_range((layout.samples - 1) / 2)
    ground = rdr2geo(np.array([mid_t, mid_t + 1.0]), np.array([r_mid, r_mid]), acq.orbit, scene.dem)
    n_terrain = math.ceil((stop - start) / 10) + 3
    elevation = grid["elevation"][:-1]  # one antenna pattern per burst (burst-start lines)
    return AnnotationData(
        mission=acq.mission, swath=layout.swath.name, polarization=layout.polarization,
        date=acq.date, start_sod=start, stop_sod=stop, absolute_orbit=acq.absolute_orbit,
        datatake=acq.datatake, image_number=int(layout.swath.name[-1]),
        platform_heading=float(np.degrees(np.arctan2(v @ east, v @ north))),
        steering_rate_deg=layout.swath.steering_rate_deg,
        range_bandwidth=layout.swath.range_bandwidth, azimuth_bandwidth=layout.swath.azimuth_bandwidth,
        orbit_sod=acq.orbit.time, orbit_pos=acq.orbit.position, orbit_vel=acq.orbit.velocity,
        anx_sod=anx, datatake_start_sod=round_us(C.SEED_FIRST_BURST_SECONDS_OF_DAY - DATATAKE_LEAD),
        terrain_sod=start - 10.0 + 10.0 * np.arange(n_terrain),
        terrain_height=np.full(n_terrain, float(np.mean(grid["height"]))),
        fm_sod=np.array([d.sod for d in dcs]), fm_t0=layout.slant_range_time, fm_poly=fm_poly,
        dc=dcs, slant_range_time=layout.slant_range_time,
        azimuth_pixel_spacing=float(np.linalg.norm(ground[1] - ground[0]) * ATI),
        samples=layout.samples, lines_per_burst=layout.lines_per_burst,
        incidence_mid=float(grid["incidence"][centre]),
        stats=nonzero_moments(pairs),
        bursts=records, antenna_tau=grid["tau"][0], antenna_elevation=elevation,
        antenna_incidence=grid["incidence"][:-1],
        antenna_pattern=1e14 * np.sinc((elevation[0] - elevation[0].mean()) / 4.0) * np.exp(0.1j),
        antenna_roll=elevation.mean(axis=1) - 2.0,
        grid=grid, mean_height=float(np.mean(grid["height"])),
    )


def _write_product(out_dir: Path, layout: Layout, acq: Acquisition, scene: Scene, pairs: np.ndarray,
                   grid: dict[str, np.ndarray], luts, dcs: list[DcEstimate],
                   fm_poly: np.ndarray) -> Path:
    """Write measurement, annotation, calibration, noise and manifest of one date."""
    safe_name, stem = _names(layout, acq)
    safe = out_dir / safe_name
    for sub_dir in ("annotation/calibration", "measurement"):
        (safe / sub_dir).mkdir(parents=True, exist_ok=True)
    start = acq.burst_sod[0]
    stop = acq.burst_sod[-1] + (layout.lines_per_burst - 1) * ATI
    gcps = np.column_stack([grid["pixel"].ravel(), grid["line"].ravel(), grid["lon"].ravel(),
                            grid["lat"].ravel(), grid["height"].ravel()])
    tiff_rel = f"measurement/{stem}.tiff"
    stamp = time_str(acq.date, stop)[:19].replace("-", ":").replace("T", " ")
    offsets = write_cint16_tiff(safe / tiff_rel, pairs, gcps,
                                description=f"Sentinel-1{acq.mission[-1]} IW SLC L1",
                                software="Sentinel-1 IPF 003.91 (sarcube simulator)", datetime_str=stamp)
    ann = _annotation_data(layout, acq, scene, pairs, grid, offsets, dcs, fm_poly)
    anx = ann.anx_sod
    files = [("s1Level1ProductSchema", f"annotation/{stem}.xml"),
             ("s1Level1NoiseSchema", f"annotation/calibration/noise-{stem}.xml"),
             ("s1Level1CalibrationSchema", f"annotation/calibration/calibration-{stem}.xml"),
             ("s1Level1MeasurementSchema", tiff_rel)]
    write(build_annotation(ann), safe / files[0][1])
    write(build_noise(ann, luts), safe / files[1][1])
    write(build_calibration(ann, luts), safe / files[2][1])
    corners = [(grid["lat"][i, j], grid["lon"][i, j]) for i, j in ((0, 0), (0, -1), (-1, -1), (-1, 0))]
    processed = dt.datetime.combine(acq.date, dt.time()) + dt.timedelta(seconds=stop + 3 * 3600)
    info = ManifestInfo(
        mission_letter=acq.mission[-1], swath=layout.swath.name, polarizations=[layout.polarization],
        absolute_orbit=acq.absolute_orbit, relative_orbit=acq.relative_orbit,
        cycle=(acq.absolute_orbit - 73) // 175 + 1, anx_time=time_str(acq.date, anx),
        datatake=acq.datatake, start_time=time_str(acq.date, start), stop_time=time_str(acq.date, stop),
        start_anx_ms=(start - anx) * 1e3, stop_anx_ms=(stop - anx) * 1e3,
        segment_start=time_str(acq.date, C.SEED_FIRST_BURST_SECONDS_OF_DAY - DATATAKE_LEAD),
        processing_start=processed.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        processing_stop=(processed + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        footprint=corners,
    )
    write_map_overlay(safe, grid["lat"], grid["lon"])
    files.append(("s1Level1MapOverlaySchema", "preview/map-overlay.kml"))
    write(build_manifest(safe, files, info), safe / "manifest.safe")
    write_orbit_file(out_dir, acq, start, stop)
    return safe
