"""The mean sample coherence by numerical integration of its pdf (numpy + scipy, no numba).

Touzi et al. (1999, IEEE TGRS 37(1), eq. 10): for L independent looks and true coherence γ,
the sample coherence D has the density

    p(D) = 2 (L − 1) (1 − γ²)^L D (1 − D²)^(L − 2) ₂F₁(L, L; 1; γ² D²),   0 ≤ D ≤ 1

(integer L ≥ 2). The reference for `cube.kernels.expected_sample_coherence`, which sums the
₃F₂ series of the mean instead.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad
from scipy.special import hyp2f1


def mean_sample_coherence(gamma: float, looks: int) -> float:
    """E[D] = ∫ D p(D) dD for ``looks`` ≥ 2 independent looks (adaptive quadrature)."""

    def density(d: float) -> float:
        return (2 * (looks - 1) * (1 - gamma**2) ** looks * d * (1 - d * d) ** (looks - 2)
                * hyp2f1(looks, looks, 1, gamma**2 * d * d))

    value, _ = quad(lambda d: d * density(d), 0.0, 1.0, limit=200, epsabs=1e-12)
    return float(value)


def sample_coherence_draws(gamma: float, looks: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sample coherences of ``looks`` independent circular Gaussian pairs of coherence γ."""
    a = rng.standard_normal((n, looks)) + 1j * rng.standard_normal((n, looks))
    e = rng.standard_normal((n, looks)) + 1j * rng.standard_normal((n, looks))
    b = gamma * a + np.sqrt(1 - gamma**2) * e
    num = np.abs(np.sum(a * np.conj(b), axis=1))
    return num / np.sqrt(np.sum(np.abs(a) ** 2, axis=1) * np.sum(np.abs(b) ** 2, axis=1))
