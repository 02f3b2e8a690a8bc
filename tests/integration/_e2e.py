"""End-to-end checks of products against the simulator's truth, shared by the tiny-stack tests
(``test_cslc_e2e.py``), the full-size ones (``test_fullsize_e2e.py``) and ``make bench``
(``benchmarks/bench_fullsize.py``).

Phase errors are judged against the Cramér–Rao bound (CRB) of the interferometric phase for the
truth's coherence and the window's effective number of looks, so that speckle noise is told
apart from a systematic error whatever the seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from cube.geometry import grid_coordinates, transformer
from cube.kernels import multilook
from cube.products import BurstStack, CoherenceOptions, InterferogramOptions

# The simulator's processing windows (docs/simulator.md): generalised Hamming, coefficient 0.75,
# over the processed bandwidth of each axis (IW2: 313 Hz of 486.5 Hz, 48.3 MHz of 64.35 MHz).
WINDOW_COEFFICIENT = 0.75
CALIBRATION_BETA = 237.0


def crb_phase_std(gamma: np.ndarray, looks: float) -> np.ndarray:
    """Cramér–Rao bound of the multilooked interferometric phase, rad (shape of ``gamma``).

    σ_φ = √((1 − γ²) / (2 L γ²)) for L independent looks of coherence γ (Rodriguez & Martin,
    "Theory and design of interferometric synthetic aperture radars", IEE Proc. F 139(2), 1992,
    eq. 56; Bamler & Hartl, "Synthetic aperture radar interferometry", Inverse Problems 14, 1998,
    eq. 42). The maximum-likelihood (multilook) phase reaches it for L ≳ 10 at γ > 0.8.
    """
    g = np.clip(np.asarray(gamma, np.float64), 1e-6, 1.0 - 1e-12)
    return np.sqrt((1.0 - g**2) / (2.0 * looks * g**2))


def spectrum_correlation(ratio: float, offsets: np.ndarray) -> np.ndarray:
    """Correlation coefficient of a band-limited field at sample ``offsets`` (any shape).

    The field's spectrum is a generalised Hamming window (coefficient 0.75) over ``ratio`` of the
    sampling rate: ρ(x) = ∫ W(f)² cos(2π f x) df / ∫ W(f)² df, f in cycles per sample.
    """
    f = np.linspace(-ratio / 2, ratio / 2, 801)
    w2 = (WINDOW_COEFFICIENT + (1 - WINDOW_COEFFICIENT) * np.cos(2 * np.pi * f / ratio)) ** 2
    x = np.asarray(offsets, np.float64)
    rho = np.cos(2 * np.pi * np.multiply.outer(x, f)) @ w2
    return rho / w2.sum()


def effective_looks(line: np.ndarray, sample: np.ndarray, ratios: tuple[float, float]) -> float:
    """Effective number of independent looks of a window of map pixels.

    ``line``/``sample`` are the radar positions of the window's pixels (any shape); map pixels
    oversample the radar resolution and neighbouring radar samples are correlated (band-limited
    spectrum, ``ratios`` = processed bandwidth / sampling rate in azimuth and range), so
    L = N² / Σ_ij |ρ_az(Δl_ij) ρ_rg(Δs_ij)|² (the equivalent number of looks of N correlated
    samples), not N.
    """
    ln, sm = np.ravel(line), np.ravel(sample)
    ok = np.isfinite(ln) & np.isfinite(sm)
    ln, sm = ln[ok], sm[ok]
    rho = (spectrum_correlation(ratios[0], ln[:, None] - ln[None, :])
           * spectrum_correlation(ratios[1], sm[:, None] - sm[None, :]))
    return float(ln.size**2 / np.sum(rho**2))


def product_lonlat(stack: BurstStack, looks: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (deg) of the centres of the product pixels for ``looks``."""
    x, y = grid_coordinates(stack.grid)
    xx, yy = np.meshgrid(x, y)
    lon, lat = transformer(stack.grid.epsg, 4326).transform(xx, yy)
    return multilook(lon, looks), multilook(lat, looks)


def burst_ratios(stack: BurstStack, date: str) -> tuple[float, float]:
    """Processed bandwidth / sampling rate (azimuth, range) of a date's burst."""
    b = stack.burst(date)
    return (b.azimuth_bandwidth * b.azimuth_time_interval, b.range_bandwidth / b.range_sampling_rate)


def window_looks(stack: BurstStack, date: str, looks: tuple[int, int]) -> float:
    """Effective looks of a ``looks`` window at the centre of the burst's valid area."""
    line, sample = stack.positions(date)
    rows, cols = np.nonzero(np.isfinite(line))
    r0 = int(np.median(rows)) // looks[0] * looks[0]
    c0 = int(np.median(cols)) // looks[1] * looks[1]
    win = (slice(r0, r0 + looks[0]), slice(c0, c0 + looks[1]))
    return effective_looks(line[win], sample[win], burst_ratios(stack, date))


def nesz(truth, burst_index: int, date_index: int, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Thermal noise in σ0 units (linear, ESA's ellipsoid convention) at burst positions.

    The truth's noise power at its sample pixels × sin θ_e / β², interpolated linearly in
    (line, sample) (shape of ``line``).
    """
    sel = truth["sample_burst"] == burst_index
    lines = np.unique(truth["sample_line"][sel])
    samples = np.unique(truth["sample_sample"][sel])
    values = (truth["sample_noise_power"][date_index][sel] * np.sin(np.radians(
        truth["sample_incidence"][date_index][sel])) / CALIBRATION_BETA**2).reshape(lines.size, samples.size)
    interp = RegularGridInterpolator((lines, samples), values, bounds_error=False, fill_value=None)
    return interp(np.stack([np.ravel(line), np.ravel(sample)], axis=-1)).reshape(np.shape(line))


def snr_coherence(truth, burst_index: int, date_index: int, lat: np.ndarray, lon: np.ndarray,
                  line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Coherence loss by thermal noise, SNR / (1 + SNR), at product pixels (shape of ``lat``).

    SNR = true σ0 / :func:`nesz`. Exact on flat ground; on slopes σ0 and the ellipsoid σ0 differ
    by the terrain factor (stable areas, where the phase is checked, are mostly flat).
    """
    snr = truth.interp("sigma0", lat, lon) / nesz(truth, burst_index, date_index, line, sample)
    return snr / (1.0 + snr)


def window_coherence(stack: BurstStack, truth, burst_index: int, pair: tuple[int, int],
                     looks: tuple[int, int], cells: np.ndarray, line: np.ndarray,
                     sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True coherence of multilook windows: (temporal, with the thermal-noise loss), each (n,).

    ``cells`` (n, 2) are (row, col) of product pixels, ``line``/``sample`` (n,) their mean burst
    position. A window mixing land covers (urban edges) is not described by the coherence at its
    centre: the signal of each map pixel p has power ∝ σ0_p and coherence γ_p, so the window's
    coherence is Σ σ0_p γ_p / √((Σ σ0_p + N n_i)(Σ σ0_p + N n_j)), n the NESZ of each date
    (:func:`nesz`) and N the window's pixels.
    """
    i, j = pair
    x, y = grid_coordinates(stack.grid)
    dr, dc = np.meshgrid(np.arange(looks[0]), np.arange(looks[1]), indexing="ij")
    rows = cells[:, 0, None] * looks[0] + dr.ravel()[None]
    cols = cells[:, 1, None] * looks[1] + dc.ravel()[None]
    lon, lat = transformer(stack.grid.epsg, 4326).transform(x[cols], y[rows])
    sigma0 = truth.interp("sigma0", lat, lon)
    gamma = truth.coherence(lat, lon)[..., i, j]
    coherent = np.sum(sigma0 * gamma, axis=1)
    power = np.sum(sigma0, axis=1)
    noise = [sigma0.shape[1] * nesz(truth, burst_index, k, line, sample) for k in pair]
    return coherent / power, coherent / np.sqrt((power + noise[0]) * (power + noise[1]))


def _looked_positions(stack: BurstStack, dates: tuple[str, str], looks: tuple[int, int]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean burst line and sample of the first date in each window; NaN unless every pixel of
    the window is inside both dates' valid bursts (a partly covered window has fewer looks)."""
    line, sample = stack.positions(dates[0])
    other = stack.positions(dates[1])[0]
    full = multilook((np.isfinite(line) & np.isfinite(other)).astype(np.float64), looks) == 1.0
    return np.where(full, multilook(line, looks), np.nan), np.where(full, multilook(sample, looks), np.nan)


@dataclasses.dataclass
class LookedPair:
    """A pair product's windows that lie wholly inside both dates' bursts, flattened (n,)."""

    values: np.ndarray  # the product's values there
    where: np.ndarray  # bool (rows, cols): those windows in the product
    lon: np.ndarray  # degrees, window centre
    lat: np.ndarray
    line: np.ndarray  # mean burst line and sample of the first date (:func:`_looked_positions`)
    sample: np.ndarray


def looked_pair(stack: BurstStack, pair: tuple[int, int], options: InterferogramOptions | CoherenceOptions
                ) -> LookedPair:
    """The pair product ``options`` makes (interferogram, coherence), at its whole windows."""
    dates = (stack.dates[pair[0]], stack.dates[pair[1]])
    product = "coherence" if isinstance(options, CoherenceOptions) else "interferogram"
    values = stack.compute(product, list(dates), options=options)
    lon, lat = product_lonlat(stack, options.looks)
    line, sample = _looked_positions(stack, dates, options.looks)
    ok = np.isfinite(values) & np.isfinite(line)
    return LookedPair(values[ok], ok, lon[ok], lat[ok], line[ok], sample[ok])


@dataclasses.dataclass
class PhaseFigures:
    """Interferometric phase against the truth at pixels of true coherence > 0.8."""

    rms: float  # rad, RMS of the residual phase
    bias: float  # rad, mean residual (circular)
    crb: float  # rad, √(mean CRB²) over the same pixels
    looks: float  # effective looks of the window
    pixels: int
    azimuth_bins: list[float]  # rad, mean residual (true γ > 0.5) in 8 bins of burst line
    quadratic: float  # rad, a of the least-squares fit a·(2η/T)² + b to that residual

    @property
    def ratio(self) -> float:
        """Measured RMS ÷ CRB."""
        return self.rms / self.crb


def phase_figures(stack: BurstStack, truth, burst_index: int, pair: tuple[int, int],
                  looks: tuple[int, int]) -> PhaseFigures:
    """Multilooked interferogram of ``pair`` against the truth's deformation phase difference.

    No offset is removed. Windows whose true (power-weighted, temporal) coherence exceeds 0.8 are
    judged; the coherence of the CRB also has the thermal-noise loss (:func:`window_coherence`).
    """
    i, j = pair
    d_i = stack.dates[i]
    ifg = looked_pair(stack, pair, InterferogramOptions(multilook=looks))
    lat, lon, line, sample = ifg.lat, ifg.lon, ifg.line, ifg.sample
    def_phase = truth.interp("def_phase", lat, lon)
    gamma_centre = truth.coherence(lat, lon)[..., i, j]
    residual = ifg.values * np.exp(-1j * (def_phase[i] - def_phase[j]))
    # windows of high coherence: candidates by the centre's, then the whole window's (power-weighted)
    cand = np.flatnonzero(gamma_centre > 0.7)
    gamma_t, gamma = window_coherence(stack, truth, burst_index, pair, looks,
                                      np.argwhere(ifg.where)[cand], line[cand], sample[cand])
    high = cand[gamma_t > 0.8]
    gamma = gamma[gamma_t > 0.8]
    phase = np.angle(residual[high])
    n_looks = window_looks(stack, d_i, looks)
    # the azimuth profile uses every pixel of true coherence > 0.5: high-coherence (urban)
    # ground covers only part of a burst
    mid = gamma_centre > 0.5
    x = 2 * line[mid] / stack.burst(d_i).lines - 1  # 2η/T
    bins = np.clip(((x + 1) / 2 * 8).astype(int), 0, 7)
    profile = np.angle(residual[mid])
    design = np.stack([x**2, np.ones_like(x)], axis=-1)
    coef = np.linalg.lstsq(design, profile, rcond=None)[0]
    return PhaseFigures(
        rms=float(np.sqrt(np.mean(phase**2))),
        bias=float(np.angle(np.mean(np.exp(1j * phase)))),
        crb=float(np.sqrt(np.mean(crb_phase_std(gamma, n_looks) ** 2))),
        looks=n_looks, pixels=int(high.size),
        azimuth_bins=[float(np.angle(np.mean(np.exp(1j * profile[bins == k])))) if np.any(bins == k)
                      else float("nan") for k in range(8)],
        quadratic=float(coef[0]),
    )


def coherence_bins(stack: BurstStack, truth, burst_index: int, pair: tuple[int, int],
                   window: tuple[int, int], edges: np.ndarray) -> list[tuple[float, float, int, float]]:
    """(low, high, pixels, mean bias) per bin of true coherence.

    The true coherence includes the thermal-noise loss of both dates (:func:`snr_coherence`).
    """
    i, j = pair
    coh = looked_pair(stack, pair, CoherenceOptions(window=window))
    lat, lon, line, sample = coh.lat, coh.lon, coh.line, coh.sample
    gamma = truth.coherence(lat, lon)[..., i, j] * np.sqrt(
        snr_coherence(truth, burst_index, i, lat, lon, line, sample)
        * snr_coherence(truth, burst_index, j, lat, lon, line, sample))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (gamma >= lo) & (gamma < hi)
        out.append((float(lo), float(hi), int(sel.sum()),
                    float(np.mean(coh.values[sel] - gamma[sel])) if sel.any() else float("nan")))
    return out


def geolocation_errors(stack: BurstStack, truth, burst_index: int, date_index: int) -> np.ndarray:
    """(P, 2) error (lines, samples) of the product geometry at the truth's sample pixels.

    Each truth sample pixel's ground point (lat/lon) is placed on the map grid; the burst
    position the product computed there (``positions``, interpolated linearly) is compared
    with the pixel the simulator put that ground point at.
    """
    date = stack.dates[date_index]
    line, sample = stack.positions(date)
    x, y = grid_coordinates(stack.grid)
    sel = truth["sample_burst"] == burst_index
    px, py = transformer(4326, stack.grid.epsg).transform(truth["sample_lon"][date_index][sel],
                                                           truth["sample_lat"][date_index][sel])
    pts = np.stack([py, px], axis=-1)
    order = np.argsort(y)
    got_l = RegularGridInterpolator((y[order], x), line[order], bounds_error=False)(pts)
    got_s = RegularGridInterpolator((y[order], x), sample[order], bounds_error=False)(pts)
    return np.stack([got_l - truth["sample_line"][sel], got_s - truth["sample_sample"][sel]], axis=-1)


def sigma0_flat_homogeneous(stack: BurstStack, truth, looks: tuple[int, int] = (2, 4),
                            min_pixels: int = 300) -> list[tuple[str, int, float, float]]:
    """(date, region, mean measured σ0, mean true σ0) where the ground is flat (< 1.5°) and one
    land cover (weight > 0.98), per date and region with at least ``min_pixels`` pixels."""
    from cube.products import BackscatterOptions

    opts = BackscatterOptions(multilook=looks)
    lat_axis, lon_axis = truth["dem_lat"], truth["dem_lon"]
    north_m = lat_axis * 110_540.0
    east_m = lon_axis * 111_320.0 * np.cos(np.radians(lat_axis.mean()))
    gy, gx = np.gradient(truth["dem_height"], north_m, east_m)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    lon, lat = product_lonlat(stack, opts.looks)
    out = []
    for date in stack.dates:
        s0 = stack.compute("backscatter", [date], options=opts)
        ok = np.isfinite(s0)
        weights = truth.interp("region_weights", lat[ok], lon[ok])
        true = truth.interp("sigma0", lat[ok], lon[ok])
        li = np.clip(np.searchsorted(lat_axis, lat[ok]), 0, lat_axis.size - 1)
        lj = np.clip(np.searchsorted(lon_axis, lon[ok]), 0, lon_axis.size - 1)
        level = slope[li, lj] < 1.5
        for region in range(3):
            sel = level & (weights[region] > 0.98)
            if sel.sum() >= min_pixels:
                out.append((date, region, float(np.mean(s0[ok][sel])), float(np.mean(true[sel]))))
    return out
