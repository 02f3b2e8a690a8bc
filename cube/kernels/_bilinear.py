"""Bilinear interpolation of a real image at fractional (line, sample) positions."""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks


@numba.njit(cache=True, parallel=True)
def _bilinear(image: np.ndarray, az: np.ndarray, rg: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    rows, cols = image.shape
    n = az.shape[0]
    for k in numba.prange(n):
        y = az[k]
        x = rg[k]
        if not (y >= 0.0 and y <= rows - 1.0 and x >= 0.0 and x <= cols - 1.0):
            out[k] = math.nan
            continue
        i = min(int(y), rows - 2) if rows > 1 else 0
        j = min(int(x), cols - 2) if cols > 1 else 0
        fy = y - i
        fx = x - j
        i1 = i + 1 if rows > 1 else i
        j1 = j + 1 if cols > 1 else j
        out[k] = ((1.0 - fy) * ((1.0 - fx) * image[i, j] + fx * image[i, j1])
                  + fy * ((1.0 - fx) * image[i1, j] + fx * image[i1, j1]))


def interpolate_bilinear(image: np.ndarray, az_pos: np.ndarray, rg_pos: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a smooth real image (e.g. a dense calibration LUT).

    Parameters
    ----------
    image : numpy.ndarray
        float32 or float64, 2-D (lines, samples).
    az_pos, rg_pos : numpy.ndarray
        float64, same shape (any): fractional line and sample (pixel centres at integers).

    Returns
    -------
    numpy.ndarray
        float64, shape of ``az_pos``; NaN where a position is NaN or outside
        ``[0, lines - 1] × [0, samples - 1]``.
    """
    img = _checks.array(image, "image", (np.float32, np.float64), ndim=2)
    az = _checks.array(az_pos, "az_pos", (np.float64,))
    rg = _checks.array(rg_pos, "rg_pos", (np.float64,))
    if az.shape != rg.shape:
        raise ValueError(f"az_pos {az.shape} and rg_pos {rg.shape} must have the same shape")
    out = np.empty(az.shape, np.float64)
    _bilinear(img, az.reshape(-1), rg.reshape(-1), out.reshape(-1))
    return out
