"""The product registry: each product's name, options model, inputs, compute function and version.

It imports no numba and no xarray: the API, the job file and the STAC layer read it cheaply.
A product's compute function is named ``"module:function"`` and imported on first use.

A compute function is called with its inputs, for each date of the product (one, or the
reference and secondary of a pair) in the order of :attr:`ProductSpec.inputs`, then the
options: ``interferogram(cslc_ref, cslc_sec, options)``. The inputs, resolved by whoever
drives the computation (the lazy engine, or :class:`BurstStack` directly), are

- ``slc``: a :class:`~cube.products._cslc.SlcSource` (the burst, grid window, DEM, pixel reader);
- ``cslc``: complex64 (rows, cols), the default-options CSLC of the fixed-grid window;
- ``cslc_window``: a :class:`~cube.products._cslc.CslcWindow` (that CSLC plus its burst positions);
- ``metadata``: the date's :class:`~cube.format.BurstMetadata`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from cube.errors import InputError, NotFoundError
from cube.products._options import (
    AmplitudeOptions,
    BackscatterOptions,
    CoherenceOptions,
    CslcOptions,
    DisplacementOptions,
    InterferogramOptions,
    ProductOptions,
    UnwrappedOptions,
    VelocityOptions,
)

if TYPE_CHECKING:
    import numpy as np

Input = Literal["slc", "cslc", "cslc_window", "metadata"]


@dataclass(frozen=True)
class VariableSpec:
    """One variable of a product's Dataset: its name, numpy dtype, units and long name.

    ``fill``: the value of pixels without data (NaN for floats; 0 for integer labels and flags).
    """

    name: str
    dtype: str
    units: str
    long_name: str
    fill: float = float("nan")

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:  # zarr v3 data_type names; Variant.kind reads them
            raise ValueError(f"variable {self.name}: dtype {self.dtype!r} is not one of "
                             f"{', '.join(sorted(DTYPE_NAMES))}")


DTYPE_NAMES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                         "float32", "float64", "complex64", "complex128"})
"""The dtypes a variable may have, spelled as numpy's names and zarr v3's ``data_type``."""


@dataclass(frozen=True)
class ProductSpec:
    """What a product is and how it is computed.

    ``version`` changes whenever the algorithm changes the values, so stored chunks of an older
    version are never served (it is part of the variant key).
    """

    name: str
    title: str
    description: str
    dates: Literal[0, 1, 2]
    """How many dates one array needs: 1 (per date), 2 (pair: reference, secondary) or 0 (per
    burst, dateless: one array over every date of the burst, such as a velocity)."""
    options: type[ProductOptions]
    version: str
    dtype: str
    units: str
    inputs: tuple[Input, ...]
    compute: str
    companions: tuple[VariableSpec, ...] = ()
    """Variables stored beside the product's own (same grid and dates), e.g. the connected
    components of an unwrapped pair: one Dataset, one array each."""
    follows: str = ""
    """A per-burst product made with this per-date product of the same options (velocity with
    displacement): it is current only while that product's latest date is stored; a date
    appended since makes a read answer 202 and a job, like an absent chunk."""

    @property
    def function(self) -> Callable[..., np.ndarray]:
        """The compute function (imported on first use)."""
        return _resolve(self.compute)

    @property
    def pair(self) -> bool:
        """Whether an array is a pair of dates (reference, secondary)."""
        return self.dates == 2

    @property
    def dateless(self) -> bool:
        """Whether the product has one array per burst, over all its dates (no time axis)."""
        return self.dates == 0

    @property
    def variables(self) -> tuple[VariableSpec, ...]:
        """The Dataset's variables: the product's own (named like it) first, then its companions."""
        return (VariableSpec(self.name, self.dtype, self.units, self.title), *self.companions)

    def variable(self, name: str) -> VariableSpec:
        """The variable ``name``; InputError listing the product's variables if it has none so named."""
        for v in self.variables:
            if v.name == name:
                return v
        raise InputError(f"{self.name} has no variable {name!r}; its variables: "
                         f"{', '.join(v.name for v in self.variables)}")

    def validate(self, options: ProductOptions | None) -> ProductOptions:
        """``options`` if it is this product's model (None = the defaults); InputError otherwise."""
        if options is None:
            return self.options()
        if not isinstance(options, self.options):
            raise InputError(f"{self.name}: options must be {self.options.__name__}, "
                             f"got {type(options).__name__}")
        return options


@cache
def _resolve(ref: str) -> Callable[..., np.ndarray]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


PRODUCTS: dict[str, ProductSpec] = {
    spec.name: spec
    for spec in [
        ProductSpec("cslc", "Geocoded coregistered SLC",
                    "Each date's burst geocoded onto the burst ID's fixed UTM grid (5 m × 10 m), "
                    "TOPS deramped, sinc-interpolated, reramped and flattened (4πR/λ removed)",
                    1, CslcOptions, "1", "complex64", "1",
                    ("slc",), "cube.products._cslc:cslc"),
        ProductSpec("backscatter", "Calibrated backscatter",
                    "σ0, β0 or γ0 from ESA's calibration LUTs, thermal noise removed, multilooked",
                    1, BackscatterOptions, "1", "float32", "1",
                    ("cslc_window", "metadata"), "cube.products._radiometry:backscatter"),
        ProductSpec("amplitude", "Amplitude", "√(mean |CSLC|²) in DN, multilooked",
                    1, AmplitudeOptions, "1", "float32", "1",
                    ("cslc",), "cube.products._radiometry:amplitude"),
        ProductSpec("interferogram", "Interferogram",
                    "mean(ref · conj(sec)) of two dates' CSLCs, multilooked (phase: radians of the "
                    "complex value; +4π/λ·Δd_LOS, positive towards the satellite)",
                    2, InterferogramOptions, "1", "complex64", "1",
                    ("cslc",), "cube.products._pairs:interferogram"),
        ProductSpec("coherence", "Coherence",
                    "|Σ ref·conj(sec)| / √(Σ|ref|² Σ|sec|²) over the estimator window",
                    2, CoherenceOptions, "1", "float32", "1",
                    ("cslc",), "cube.products._pairs:coherence"),
        ProductSpec("unwrapped", "Unwrapped phase",
                    "SNAPHU's unwrapped phase of the multilooked interferogram (ref · conj(sec)), masked "
                    "by coherence, rad; beside it, components: its connected components. Made per pair "
                    "and burst by a job",
                    2, UnwrappedOptions, "2", "float32", "rad",
                    ("metadata",), "cube.products._displacement:made_by_job",
                    (VariableSpec("components", "int32", "1", "SNAPHU connected component (1, 2, …; "
                                  "0 = none or masked)", 0),)),
        ProductSpec("displacement", "LOS displacement",
                    "Line-of-sight displacement since the first date, positive towards the satellite, "
                    "relative to a reference point: weighted SBAS inversion of the unwrapped pairs of a "
                    "network. Made per burst by a job",
                    1, DisplacementOptions, "1", "float32", "m",
                    ("metadata",), "cube.products._displacement:made_by_job"),
        ProductSpec("velocity", "LOS velocity",
                    "Line fitted to a burst's whole displacement series, m/yr, positive towards the "
                    "satellite; beside it its standard error and the inversion's temporal coherence, "
                    "residual and connected flag. One array per burst (no time axis), made by a job",
                    0, VelocityOptions, "2", "float32", "m/yr",
                    ("metadata",), "cube.products._displacement:made_by_job",
                    (VariableSpec("velocity_std", "float32", "m/yr", "standard error of the velocity"),
                     VariableSpec("temporal_coherence", "float32", "1",
                                  "temporal coherence of the inversion, |Σ exp(j·misfit)| / pairs"),
                     VariableSpec("residual", "float32", "m", "RMS misfit of the inverted pairs"),
                     VariableSpec("connected", "uint8", "1",
                                  "1: the pixel's pairs connect every date; 0: they do not (NaN series)",
                                  0)),
                    follows="displacement"),
    ]
}


def get_product(name: str) -> ProductSpec:
    """The registered product ``name``; ``NotFoundError`` listing the others if unknown."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise NotFoundError(f"unknown product {name!r}; products: {', '.join(PRODUCTS)}") from None


InputSource = Callable[[Input, str], object]
"""``source(input, date_key)``: one input of one date over the window being computed."""


def compute_product(spec: ProductSpec, options: ProductOptions, dates: tuple[str, ...],
                    source: InputSource) -> np.ndarray:
    """One window of a product from its inputs: the spec's function over each date's inputs."""
    if len(dates) != spec.dates:
        raise InputError(f"{spec.name} needs {spec.dates} date(s), got {len(dates)}")
    args = [source(name, date) for date in dates for name in spec.inputs]
    return spec.function(*args, options)
