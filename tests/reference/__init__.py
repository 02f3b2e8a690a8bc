"""Reference implementations the tests compare production code against (not shipped).

- :func:`sliding_coherence`: coherence with a centred sliding window (numba).
- :func:`mean_sample_coherence`, :func:`sample_coherence_draws`: the mean sample coherence by
  integrating its pdf (Touzi et al. 1999), and Monte Carlo draws of it (numpy, scipy).
- :func:`tops_carrier_phase`, :func:`tops_carrier_phase_at`, :func:`deramp`, :func:`reramp`:
  the TOPS carrier in two steps, φ then the rotation (numba).
- :func:`calibrate`: σ0/β0/γ0 of a radar-grid image from sparse calibration and noise LUTs
  (numba), ESA's bilinear interpolation on the whole grid: the reference for the backscatter
  product's calibration factors.
"""

from tests.reference._calibrate import calibrate
from tests.reference._coherence import sliding_coherence
from tests.reference._coherence_pdf import mean_sample_coherence, sample_coherence_draws
from tests.reference._tops import deramp, reramp, tops_carrier_phase, tops_carrier_phase_at

__all__ = ["calibrate", "deramp", "mean_sample_coherence", "reramp", "sample_coherence_draws",
           "sliding_coherence", "tops_carrier_phase",
           "tops_carrier_phase_at"]
