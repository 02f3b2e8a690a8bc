"""The product registry: each product's name, options model, dtype, units and version."""

from __future__ import annotations

from dataclasses import dataclass

from cube.products._cslc import CslcOptions
from cube.products._options import ProductOptions
from cube.products._pairs import CoherenceOptions, InterferogramOptions
from cube.products._radiometry import AmplitudeOptions, BackscatterOptions


@dataclass(frozen=True)
class ProductSpec:
    """What a product is. ``version`` changes whenever its algorithm changes its values, so
    stored chunks of an older version are never served (part of the variant key)."""

    name: str
    title: str
    description: str
    pair: bool
    options: type[ProductOptions]
    version: str
    dtype: str
    units: str


PRODUCTS: dict[str, ProductSpec] = {
    spec.name: spec
    for spec in [
        ProductSpec("cslc", "Geocoded coregistered SLC",
                    "Each date's burst geocoded onto the burst ID's fixed UTM grid (5 m × 10 m), "
                    "TOPS deramped, sinc-interpolated, reramped and flattened (4πR/λ removed)",
                    False, CslcOptions, "1", "complex64", "1"),
        ProductSpec("backscatter", "Calibrated backscatter",
                    "σ0, β0 or γ0 from ESA's calibration LUTs, thermal noise removed, multilooked",
                    False, BackscatterOptions, "1", "float32", "1"),
        ProductSpec("amplitude", "Amplitude", "√(mean |CSLC|²) in DN, multilooked",
                    False, AmplitudeOptions, "1", "float32", "1"),
        ProductSpec("interferogram", "Interferogram",
                    "mean(ref · conj(sec)) of two dates' CSLCs, multilooked (phase: radians of the "
                    "complex value; +4π/λ·Δd_LOS, positive towards the satellite)",
                    True, InterferogramOptions, "1", "complex64", "1"),
        ProductSpec("coherence", "Coherence",
                    "|Σ ref·conj(sec)| / √(Σ|ref|² Σ|sec|²) over the estimator window",
                    True, CoherenceOptions, "1", "float32", "1"),
    ]
}
