"""Backscatter (β0/σ0/γ0) and amplitude from CSLC windows: pure functions."""

from __future__ import annotations

import numpy as np

from cube.errors import MissingElementError
from cube.format import BurstMetadata
from cube.kernels import interpolate_bilinear, multilook
from cube.products._cslc import CslcWindow
from cube.products._options import AmplitudeOptions, BackscatterOptions

_LUT_FIELD = {"sigma0": "sigma_nought", "beta0": "beta_nought", "gamma0": "gamma"}


def _where(burst: BurstMetadata) -> str:
    return f"burst {burst.burst_id} {burst.polarization} {burst.date_key} (product {burst.product_id})"


def _checked(burst: BurstMetadata, vectors, field: str, what: str, remedy: str) -> list:
    """``vectors`` if they form a usable LUT; else MissingElementError naming what is missing.

    ``what`` names the annotation (e.g. "calibration annotation (calibration-*.xml)"),
    ``remedy`` what the caller can do instead.
    """
    if not vectors:
        raise MissingElementError(f"{_where(burst)} has no {what}: {remedy}")
    for v in vectors:
        values = getattr(v, field)
        if len(v.pixel) == 0 or len(values) != len(v.pixel):
            raise MissingElementError(
                f"{_where(burst)}: the {what} vector at line {v.line} has {len(v.pixel)} pixels and "
                f"{len(values)} {field} values; re-ingest the product from a complete SAFE"
            )
    return vectors


def _common_pixels(vectors, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lines, pixels, values) of LUT vectors, each resampled to the first vector's pixels."""
    pixels = np.asarray(vectors[0].pixel, np.float64)
    lines = np.array([v.line for v in vectors], np.float64)
    values = np.array([np.interp(pixels, v.pixel, getattr(v, field)) for v in vectors], np.float32)
    order = np.argsort(lines, kind="stable")
    lines, values = lines[order], values[order]
    keep = np.concatenate([[True], np.diff(lines) > 0])
    return lines[keep], pixels, values[keep]


def _noise_azimuth(burst: BurstMetadata, sample: float) -> tuple[np.ndarray, np.ndarray] | None:
    blocks = [b for b in burst.noise_azimuth if b.first_range_sample <= sample <= b.last_range_sample]
    if not blocks:
        return None
    b = blocks[0]
    return np.asarray(b.line, np.float64), np.asarray(b.noise_azimuth_lut, np.float32)


def _lut_at(lut: tuple[np.ndarray, ...], line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Bilinear value of a sparse (lines, pixels, values) LUT at fractional positions.

    Piecewise-linear index maps make this exactly ESA's bilinear LUT interpolation, held
    constant beyond the first/last LUT line and pixel.
    """
    lines, pixels, values = lut
    row = np.interp(line, lines, np.arange(lines.size, dtype=np.float64))
    col = np.interp(sample, pixels, np.arange(pixels.size, dtype=np.float64))
    row[~np.isfinite(line)] = np.nan
    return interpolate_bilinear(values, row, col)


def calibration_factors(
    burst: BurstMetadata, line: np.ndarray, sample: np.ndarray, quantity: str, denoise: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ``1/A²`` and ``N/A²`` (float64, shape of ``line``) at fractional radar positions.

    ``A`` is the quantity's calibration LUT and ``N = noiseRange(line, sample) ·
    noiseAzimuth(line)`` the thermal noise power (DN²), interpolated bilinearly as ESA
    specifies; ``N/A²`` is 0 without ``denoise``. ``calibrated = |DN|² / A² − N / A²``.

    MissingElementError (one line, naming the burst and the annotation) if the burst has no
    calibration LUT, or no noise LUT while ``denoise`` asks for one.
    """
    field = _LUT_FIELD[quantity]
    cal = _checked(burst, burst.calibration, field, "calibration annotation (calibration-*.xml)",
                   "calibrated backscatter needs it; ingest the SAFE with its annotation/calibration/ "
                   "folder, or ask for amplitude (uncalibrated DN), which needs none")
    a = _lut_at(_common_pixels(cal, field), line, sample)
    gain = 1.0 / (a * a)
    if not denoise:
        return gain, np.zeros_like(gain)
    ranges = _checked(burst, burst.noise_range, "noise_range_lut", "noise annotation (noise-*.xml)",
                      "pass denoise=false, or ingest the SAFE with its annotation/calibration/noise-*.xml")
    noise = _lut_at(_common_pixels(ranges, "noise_range_lut"), line, sample)
    ok = np.isfinite(sample)
    az = _noise_azimuth(burst, float(np.median(sample[ok])) if ok.any() else 0.0)
    if az is not None:
        noise = noise * np.interp(line, az[0], az[1])
    return gain, noise * gain


def backscatter(window: CslcWindow, burst: BurstMetadata, options: BackscatterOptions) -> np.ndarray:
    """Calibrated backscatter of a CSLC window, multilooked.

    Returns float32 (rows // ly, cols // lx): linear power ratio (or dB), NaN where no pixel
    of a look window is valid (dB: also where the noise-removed mean is ≤ 0).
    """
    gain, noise = calibration_factors(burst, window.line, window.sample, options.quantity, options.denoise)
    power = (np.abs(window.data.astype(np.complex128)) ** 2 * gain - noise).astype(np.float32)
    out = multilook(power, options.looks)
    if options.db:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(out > 0, 10 * np.log10(out), np.nan).astype(np.float32)
    return out


def amplitude(cslc: np.ndarray, options: AmplitudeOptions) -> np.ndarray:
    """Amplitude √(mean |CSLC|²) of complex64 CSLC pixels (DN), multilooked; float32, NaN where empty."""
    power = multilook((np.abs(cslc) ** 2).astype(np.float32), options.looks)
    if options.db:
        with np.errstate(divide="ignore"):
            return (10 * np.log10(power)).astype(np.float32)
    return np.sqrt(power).astype(np.float32)
