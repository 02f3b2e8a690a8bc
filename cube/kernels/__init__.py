"""Numba kernels for Sentinel-1 ARD: arrays in, arrays out (no I/O, no xarray).

Every public function checks dtypes and shapes (``ValueError`` naming the parameter),
allocates its output and runs a private ``@numba.njit(cache=True)`` loop. NaN marks missing
data everywhere: kernels skip it in sums and return NaN where nothing valid is left.

- :func:`interferogram`, :func:`coherence`, :func:`multilook`: interferometry and averaging.
- :func:`make_sinc_table`, :func:`resample`: sinc interpolation at fractional positions.
- :func:`tops_carrier_terms`, :func:`tops_carrier_phase`, :func:`tops_carrier_phase_at`,
  :func:`deramp`, :func:`reramp`: the TOPS azimuth carrier (deramp = × exp(+jφ));
  :func:`tops_deramp` (carrier and deramp in one pass) and :func:`tops_reramp_at` (carrier,
  reramp and range flattening at fractional positions in one pass) for whole bursts.
- :func:`calibrate`: σ0/β0/γ0 from calibration and noise LUTs; :func:`interpolate_bilinear`
  samples such smooth LUTs at fractional positions.
"""

from ._bilinear import interpolate_bilinear
from ._calibrate import calibrate
from ._interferogram import coherence, interferogram
from ._multilook import multilook
from ._resample import make_sinc_table, resample
from ._tops import (
    deramp,
    reramp,
    tops_carrier_phase,
    tops_carrier_phase_at,
    tops_carrier_terms,
    tops_deramp,
    tops_reramp_at,
)

__all__ = [
    "calibrate",
    "coherence",
    "deramp",
    "interpolate_bilinear",
    "interferogram",
    "make_sinc_table",
    "multilook",
    "resample",
    "reramp",
    "tops_carrier_phase",
    "tops_carrier_phase_at",
    "tops_carrier_terms",
    "tops_deramp",
    "tops_reramp_at",
]
