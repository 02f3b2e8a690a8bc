"""ARD products: an options model plus a pure function each, registered by name.

- ``cslc``: :func:`geocode_slc` — geocoded coregistered SLC on the burst ID's fixed grid;
- ``backscatter``: :func:`backscatter` — σ0/β0/γ0, optional noise removal, dB, looks;
- ``amplitude``: :func:`amplitude`;
- ``interferogram`` / ``coherence``: :func:`interferogram`, :func:`coherence` of two dates.

:class:`BurstStack` is the driver that reads the cube and computes any window of any
product; :data:`PRODUCTS` maps each name to its :class:`ProductSpec`.
"""

from cube.products._cslc import CslcOptions, CslcWindow, carrier_model, geocode_slc
from cube.products._dataset import product_dataset
from cube.products._options import ProductOptions, parse_segment
from cube.products._pairs import CoherenceOptions, InterferogramOptions, coherence, interferogram
from cube.products._radiometry import (
    AmplitudeOptions,
    BackscatterOptions,
    amplitude,
    backscatter,
    calibration_factors,
)
from cube.products._registry import PRODUCTS, ProductSpec
from cube.products._stack import (
    BurstStack,
    ensure_burst_grid,
    get_product,
    set_cube_dem,
)

__all__ = [
    "PRODUCTS",
    "AmplitudeOptions",
    "BackscatterOptions",
    "BurstStack",
    "CoherenceOptions",
    "CslcOptions",
    "CslcWindow",
    "InterferogramOptions",
    "ProductOptions",
    "ProductSpec",
    "amplitude",
    "backscatter",
    "calibration_factors",
    "carrier_model",
    "coherence",
    "ensure_burst_grid",
    "geocode_slc",
    "get_product",
    "interferogram",
    "parse_segment",
    "product_dataset",
    "set_cube_dem",
]
