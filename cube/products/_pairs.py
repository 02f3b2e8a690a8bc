"""Interferogram and coherence of two CSLC windows of the same grid window: pure functions."""

from __future__ import annotations

import numpy as np

from cube.kernels import effective_looks, interferogram_and_coherence, remove_coherence_bias, valid_fraction
from cube.products._options import CoherenceOptions, InterferogramOptions


def interferogram(ref: np.ndarray, sec: np.ndarray, options: InterferogramOptions) -> np.ndarray:
    """Multilooked interferogram of two complex64 CSLC windows (rows, cols).

    Returns complex64 (rows // ly, cols // lx) in DN², NaN where a window has no valid pixel.
    """
    ifg, _ = interferogram_and_coherence(ref, sec, options.looks)
    return ifg


def coherence(ref: np.ndarray, sec: np.ndarray, options: CoherenceOptions) -> np.ndarray:
    """Coherence of two complex64 CSLC windows over non-overlapping estimator windows.

    Returns float32 (rows // wy, cols // wx) in [0, 1], NaN where a window has no valid pixel.
    ``estimator="debiased"``: the bias-removed coherence (Touzi et al. 1999) with the effective
    looks L measured over this window pair (`effective_looks`), scaled by each estimator
    window's share of valid pixels.
    """
    _, coh = interferogram_and_coherence(ref, sec, options.looks)
    if options.estimator == "sample":
        return coh
    share = valid_fraction(ref, sec, options.looks)
    return remove_coherence_bias(coh, effective_looks(ref, sec, options.looks) * share)
