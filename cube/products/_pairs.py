"""Interferogram and coherence of two CSLC windows of the same grid window: pure functions."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from cube.kernels import interferogram_and_coherence
from cube.products._options import LookPair, Looks, ProductOptions


class InterferogramOptions(ProductOptions):
    """Options of the multilooked complex interferogram ``mean(ref · conj(sec))``."""

    multilook: LookPair = Field(
        (2, 4), description="grid rows × cols averaged per output pixel (2 × 4 = 20 m × 20 m)"
    )

    @property
    def looks(self) -> Looks:
        return self.multilook


class CoherenceOptions(ProductOptions):
    """Options of the coherence magnitude |Σ ref·conj(sec)| / √(Σ|ref|² Σ|sec|²)."""

    window: LookPair = Field(
        (5, 10), description="estimator window, grid rows × cols (one output pixel per window)"
    )

    @property
    def looks(self) -> Looks:
        return self.window



def interferogram(ref: np.ndarray, sec: np.ndarray, options: InterferogramOptions) -> np.ndarray:
    """Multilooked interferogram of two complex64 CSLC windows (rows, cols).

    Returns complex64 (rows // ly, cols // lx) in DN², NaN where a window has no valid pixel.
    """
    ifg, _ = interferogram_and_coherence(ref, sec, options.looks)
    return ifg


def coherence(ref: np.ndarray, sec: np.ndarray, options: CoherenceOptions) -> np.ndarray:
    """Coherence of two complex64 CSLC windows over non-overlapping estimator windows.

    Returns float32 (rows // wy, cols // wx) in [0, 1], NaN where a window has no valid pixel.
    """
    _, coh = interferogram_and_coherence(ref, sec, options.looks)
    return coh
