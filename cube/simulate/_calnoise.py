"""Calibration and noise annotation: LUT model and XML writers (ESA conventions).

Calibration: σ0 = |DN|² / sigmaNought², β0 = |DN|² / betaNought², γ0 = |DN|² / gamma²,
with betaNought constant, sigmaNought = betaNought / sqrt(sin θ), gamma = betaNought / sqrt(tan θ)
(θ: ellipsoid incidence angle). Thermal noise power (DN²) at (line, pixel) is
noiseRangeLut(pixel) × noiseAzimuthLut(line), both linearly interpolated (IPF ≥ 2.9 layout).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from lxml import etree

from . import _constants as C
from ._annotation import AnnotationData, ads_header
from ._xml import array, f6, int_array, sub, sub_list

NOISE_AZIMUTH_SCALLOPING = 0.12  # azimuth LUT = 1 + 0.12 (2η / T_burst)² within each burst


def q6(x: np.ndarray) -> np.ndarray:
    """Round to what ``%.6e`` writes, so LUT values in XML and in the pixels agree."""
    return np.array([float(f"{v:.6e}") for v in np.ravel(x)]).reshape(np.shape(x))


def nesz_db(sample: np.ndarray, layout) -> np.ndarray:
    """Noise-equivalent σ0 (dB) across the full real sub-swath.

    −23.5 dB at its centre, 4 dB higher at the swath edges (elevation antenna pattern).
    """
    offset = (layout.slant_range_time - layout.swath.slant_range_time) * C.RANGE_SAMPLING_RATE
    u = (np.asarray(sample) + offset) / layout.swath.full_samples
    return -23.5 + 4.0 * (2.0 * u - 1.0) ** 2


@dataclasses.dataclass
class Luts:
    """Calibration and noise LUTs of one product (values rounded as written)."""

    pixel: np.ndarray  # (p,) LUT sample positions
    sigma_nought: np.ndarray  # (p,)
    beta_nought: np.ndarray
    gamma: np.ndarray
    noise_range: np.ndarray  # (p,) DN²
    azimuth_line: np.ndarray  # (a,) image lines of the azimuth noise LUT
    noise_azimuth: np.ndarray  # (a,)

    def noise_power(self, lines: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Thermal noise power (len(lines), len(samples)) DN² at image lines and samples."""
        rng = np.interp(samples, self.pixel, self.noise_range)
        az = np.interp(lines, self.azimuth_line, self.noise_azimuth)
        return az[:, None] * rng[None, :]


def make_luts(layout, incidence_deg: np.ndarray) -> Luts:
    """LUTs from the ellipsoid incidence angle (deg) at every LUT pixel (step 40 + last)."""
    pixel = np.unique(np.append(np.arange(0, layout.samples, 40), layout.samples - 1))
    inc = np.radians(np.interp(pixel, np.linspace(0, layout.samples - 1, len(incidence_deg)),
                               incidence_deg))
    beta = np.full(pixel.shape, C.CALIBRATION_BETA)
    sigma = q6(beta / np.sqrt(np.sin(inc)))
    gamma = q6(beta / np.sqrt(np.tan(inc)))
    noise = q6(10 ** (nesz_db(pixel, layout) / 10) * sigma**2)
    step = max(1, layout.lines_per_burst // 150)
    in_burst = np.append(np.arange(0, layout.lines_per_burst, step), layout.lines_per_burst - 1)
    in_burst = np.unique(in_burst)
    half = layout.lines_per_burst / 2
    az_one = 1 + NOISE_AZIMUTH_SCALLOPING * ((in_burst - half) / half) ** 2
    lines = np.concatenate([b * layout.lines_per_burst + in_burst for b in range(layout.bursts)])
    return Luts(pixel, sigma, q6(beta), gamma, noise, lines, q6(np.tile(az_one, layout.bursts)))


def _vector_lines(a: AnnotationData) -> list[tuple[float, int]]:
    """(azimuth time, line) of LUT vectors: before, at start and middle of every burst, after."""
    ati, n = C.AZIMUTH_TIME_INTERVAL, a.lines_per_burst
    out = [(a.bursts[0].sod - n // 2 * ati, -(n // 2))]
    for b, burst in enumerate(a.bursts):
        out += [(burst.sod, b * n), (burst.sod + n // 2 * ati, b * n + n // 2)]
    last = a.bursts[-1].sod + (n - 1) * ati
    out += [(last, a.lines - 1), (last + n // 2 * ati, a.lines - 1 + n // 2)]
    return out


def build_calibration(a: AnnotationData, luts: Luts) -> etree._Element:
    root = etree.Element("calibration")
    ads_header(root, a)
    info = sub(root, "calibrationInformation")
    sub(info, "absoluteCalibrationConstant", f6(1.0))
    vectors = _vector_lines(a)
    lst = sub_list(root, "calibrationVectorList", len(vectors))
    n = len(luts.pixel)
    for t, line in vectors:
        v = sub(lst, "calibrationVector")
        sub(v, "azimuthTime", a.t(t))
        sub(v, "line", line)
        sub(v, "pixel", int_array(luts.pixel), count=n)
        sub(v, "sigmaNought", array(luts.sigma_nought), count=n)
        sub(v, "betaNought", array(luts.beta_nought), count=n)
        sub(v, "gamma", array(luts.gamma), count=n)
        sub(v, "dn", array(luts.beta_nought), count=n)
    return root


def build_noise(a: AnnotationData, luts: Luts) -> etree._Element:
    root = etree.Element("noise")
    ads_header(root, a)
    n = len(luts.pixel)
    lst = sub_list(root, "noiseRangeVectorList", len(a.bursts))
    for b, burst in enumerate(a.bursts):
        v = sub(lst, "noiseRangeVector")
        sub(v, "azimuthTime", a.t(burst.sod))
        sub(v, "line", b * a.lines_per_burst)
        sub(v, "pixel", int_array(luts.pixel), count=n)
        sub(v, "noiseRangeLut", array(luts.noise_range), count=n)
    lst = sub_list(root, "noiseAzimuthVectorList", 1)
    v = sub(lst, "noiseAzimuthVector")
    sub(v, "swath", a.swath)
    sub(v, "firstAzimuthLine", 0)
    sub(v, "firstRangeSample", 0)
    sub(v, "lastAzimuthLine", a.lines - 1)
    sub(v, "lastRangeSample", a.samples - 1)
    m = len(luts.azimuth_line)
    sub(v, "line", int_array(luts.azimuth_line), count=m)
    sub(v, "noiseAzimuthLut", array(luts.noise_azimuth), count=m)
    return root

