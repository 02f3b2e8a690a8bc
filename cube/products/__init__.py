"""ARD products: a registry of specs (options model, inputs, compute function), pure functions.

- ``cslc``: geocoded coregistered SLC on the burst ID's fixed grid (:func:`geocode_slc`);
- ``backscatter``: σ0/β0/γ0, optional noise removal, dB, looks;
- ``amplitude``;
- ``interferogram`` / ``coherence`` of two dates;
- ``unwrapped`` pairs, the ``displacement`` series and its ``velocity`` (made per burst by a job).

The registry, the options models and the addresses (:class:`Variant`, :class:`ArdArray`,
:class:`Selection`) import without numba or xarray. The compute side (:class:`BurstStack`, the
driver that reads the cube; :func:`geocode_slc`; :func:`product_dataset`) is imported on first
use of its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube import lazy_names
from cube.products._address import ALL_DATES, CSLC, CSLC_CHUNK, ArdArray, Selection, Variant, cslc_input
from cube.products._options import (
    AmplitudeOptions,
    BackscatterOptions,
    CoherenceOptions,
    CslcOptions,
    DisplacementOptions,
    FromCslcOptions,
    InterferogramOptions,
    MultilookedOptions,
    ProductOptions,
    UnwrappedOptions,
    VelocityOptions,
    WholeBurstOptions,
    parse_segment,
    parse_value,
)
from cube.products._registry import (
    PRODUCTS,
    Input,
    ProductSpec,
    VariableSpec,
    compute_product,
    get_product,
)

if TYPE_CHECKING:
    from cube.products._cslc import CslcWindow, SlcSource, carrier_model, geocode_slc, radar_window
    from cube.products._dataset import (
        ENCODERS,
        X_ATTRS,
        Y_ATTRS,
        product_dataset,
        provenance,
        split_complex,
        time_attrs,
        variable_attrs,
    )
    from cube.products._displacement import (
        Series,
        check_network,
        invert_series,
        network_pairs,
        reference_pixel,
        unwrap,
        velocity_fit,
        years_since_first,
    )
    from cube.products._pairs import coherence, interferogram
    from cube.products._radiometry import amplitude, backscatter, calibration_factors
    from cube.products._stack import BurstStack, ensure_burst_grid, set_cube_dem

_LAZY = {
    "CslcWindow": "_cslc", "SlcSource": "_cslc", "carrier_model": "_cslc", "geocode_slc": "_cslc",
    "radar_window": "_cslc", "product_dataset": "_dataset", "ENCODERS": "_dataset",
    "provenance": "_dataset", "split_complex": "_dataset", "X_ATTRS": "_dataset", "Y_ATTRS": "_dataset",
    "time_attrs": "_dataset", "variable_attrs": "_dataset", "coherence": "_pairs",
    "interferogram": "_pairs", "amplitude": "_radiometry", "backscatter": "_radiometry",
    "calibration_factors": "_radiometry", "BurstStack": "_stack", "ensure_burst_grid": "_stack",
    "set_cube_dem": "_stack", "Series": "_displacement", "check_network": "_displacement",
    "invert_series": "_displacement", "network_pairs": "_displacement", "reference_pixel": "_displacement",
    "unwrap": "_displacement", "velocity_fit": "_displacement", "years_since_first": "_displacement",
}


__getattr__ = lazy_names("cube.products", _LAZY)  # the compute side (it compiles numba kernels)


__all__ = [
    "ALL_DATES",
    "CSLC",
    "ENCODERS",
    "CSLC_CHUNK",
    "PRODUCTS",
    "X_ATTRS",
    "Y_ATTRS",
    "AmplitudeOptions",
    "ArdArray",
    "BackscatterOptions",
    "BurstStack",
    "CoherenceOptions",
    "CslcOptions",
    "CslcWindow",
    "DisplacementOptions",
    "Series",
    "UnwrappedOptions",
    "VariableSpec",
    "VelocityOptions",
    "check_network",
    "invert_series",
    "network_pairs",
    "reference_pixel",
    "unwrap",
    "velocity_fit",
    "years_since_first",
    "FromCslcOptions",
    "Input",
    "InterferogramOptions",
    "MultilookedOptions",
    "ProductOptions",
    "ProductSpec",
    "Selection",
    "SlcSource",
    "Variant",
    "WholeBurstOptions",
    "amplitude",
    "backscatter",
    "calibration_factors",
    "carrier_model",
    "coherence",
    "compute_product",
    "cslc_input",
    "ensure_burst_grid",
    "geocode_slc",
    "get_product",
    "interferogram",
    "parse_segment",
    "parse_value",
    "product_dataset",
    "provenance",
    "radar_window",
    "set_cube_dem",
    "split_complex",
    "time_attrs",
    "variable_attrs",
]
