"""Numba kernels for Sentinel-1 ARD: arrays in, arrays out (no I/O, no xarray).

Every public function checks dtypes and shapes (``ValueError`` naming the parameter),
allocates its output and runs a private ``@numba.njit(cache=True)`` loop. NaN marks missing
data everywhere: kernels skip it in sums and return NaN where nothing valid is left. Each one
is used by ``cube.products``; slower two-step references live in ``tests/reference``.

- :func:`interferogram_and_coherence`, :func:`multilook`, :func:`valid_fraction`:
  interferometry, averaging and the share of valid pixels over non-overlapping windows;
  :func:`effective_looks`, :func:`expected_sample_coherence` and :func:`remove_coherence_bias`:
  the coherence bias removal of Touzi et al. (1999).
- :func:`make_sinc_table`, :func:`resample`: sinc interpolation at fractional positions.
- :func:`tops_carrier_terms`: the range-dependent TOPS carrier terms; :func:`tops_deramp`
  (carrier and deramp = × exp(+jφ) in one pass) and :func:`tops_reramp_at` (carrier, reramp
  and range flattening at fractional positions in one pass) for whole bursts.
- :func:`interpolate_bilinear` samples smooth LUTs at fractional positions.
- :func:`sbas_invert`: weighted small-baseline inversion of unwrapped pairs per pixel;
  :func:`phase_weight` its weights from coherence.
"""

from ._bilinear import interpolate_bilinear
from ._coherence_bias import effective_looks, expected_sample_coherence, remove_coherence_bias
from ._interferogram import interferogram_and_coherence
from ._multilook import multilook, valid_fraction
from ._resample import make_sinc_table, resample
from ._sbas import phase_weight, sbas_invert
from ._tops import tops_carrier_terms, tops_deramp, tops_reramp_at

__all__ = [
    "effective_looks",
    "expected_sample_coherence",
    "interferogram_and_coherence",
    "interpolate_bilinear",
    "make_sinc_table",
    "multilook",
    "phase_weight",
    "remove_coherence_bias",
    "resample",
    "sbas_invert",
    "tops_carrier_terms",
    "tops_deramp",
    "tops_reramp_at",
    "valid_fraction",
]
