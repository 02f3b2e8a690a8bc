"""What a tile shows of a product, and the 2-D layer a request names.

:class:`View` (one table :data:`VIEWS`) says what a tile shows; :class:`Layer` is one burst's
product variant at one date or pair, through a view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from affine import Affine

from cube.errors import InputError
from cube.geometry import ProductGrid
from cube.products import PRODUCTS, ArdArray, ProductOptions, Variant


@dataclass(frozen=True)
class View:
    """One way to show a product's values: a function of the values and the display defaults.

    ``apply(values, options)`` maps the product's array (any shape, its dtype) to float32 in
    ``units``; ``rescale`` (min, max) and ``colormap`` (a rio-tiler colormap name) are the
    defaults when the request has no ``rescale`` / ``colormap_name`` / ``colormap``.
    ``db_factor`` (10 for power, 20 for amplitude) when ``apply`` takes linear values to dB:
    clients draw ``/point`` values (linear) as the tiles show them. ``variable``: the variable
    of the product's Dataset shown (None: the product's own; ``components``, ``velocity_std``…).
    """

    name: str
    units: str
    rescale: tuple[float, float]
    colormap: str
    apply: Callable[[np.ndarray, ProductOptions], np.ndarray]
    description: str
    db_factor: float | None = None
    variable: str | None = None


def _f32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _db(factor: float) -> Callable[[np.ndarray, ProductOptions], np.ndarray]:
    """``factor``·log10(values) (NaN where ≤ 0), or the values when the variant is already dB."""

    def apply(values: np.ndarray, options: ProductOptions) -> np.ndarray:
        if getattr(options, "db", False):
            return _f32(values)
        v = np.abs(values) if np.iscomplexobj(values) else values
        with np.errstate(divide="ignore", invalid="ignore"):
            return _f32(np.where(v > 0, factor * np.log10(v), np.nan))

    return apply


def _linear(factor: float) -> Callable[[np.ndarray, ProductOptions], np.ndarray]:
    """The linear values (10^(v/factor) when the variant is stored in dB)."""

    def apply(values: np.ndarray, options: ProductOptions) -> np.ndarray:
        if getattr(options, "db", False):
            return _f32(10.0 ** (values / factor))
        return _f32(values)

    return apply


def _phase(values: np.ndarray, options: ProductOptions) -> np.ndarray:
    return _f32(np.angle(values))


def _value(values: np.ndarray, options: ProductOptions) -> np.ndarray:
    return _f32(values)


def _mm(values: np.ndarray, options: ProductOptions) -> np.ndarray:
    """Metres (displacement, velocity) as millimetres."""
    return _f32(values) * np.float32(1e3)


_PI = float(np.pi)
VIEWS: dict[str, dict[str, View]] = {
    "backscatter": {
        "db": View("db", "dB", (-25.0, 0.0), "gray", _db(10), "10·log10 of σ0/β0/γ0", 10),
        "linear": View("linear", "1", (0.0, 0.5), "gray", _linear(10), "linear power ratio"),
    },
    "amplitude": {
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(20), "20·log10 of the amplitude (DN)", 20),
        "linear": View("linear", "DN", (0.0, 500.0), "gray", _linear(20), "amplitude in DN"),
    },
    "coherence": {
        "value": View("value", "1", (0.0, 1.0), "viridis", _value, "coherence magnitude 0-1"),
    },
    "interferogram": {
        "phase": View("phase", "rad", (-_PI, _PI), "phase", _phase, "wrapped phase, cyclic colours"),
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(10), "10·log10 |interferogram| (DN²)", 10),
    },
    "cslc": {
        "db": View("db", "dB", (0.0, 60.0), "gray", _db(20), "20·log10 |CSLC| (DN)", 20),
        "phase": View("phase", "rad", (-_PI, _PI), "phase", _phase, "phase of the flattened CSLC"),
    },
    "unwrapped": {
        "phase": View("phase", "rad", (-10 * _PI, 10 * _PI), "rdbu_r", _value, "unwrapped phase, rad"),
        "components": View("components", "1", (0.0, 20.0), "tab20", _value,
                           "SNAPHU connected component (0 = none or masked)", variable="components"),
    },
    "displacement": {
        "mm": View("mm", "mm", (-50.0, 50.0), "rdbu_r", _mm,
                   "LOS displacement since the first date, mm, positive (red) towards the satellite"),
    },
    "velocity": {
        "mm_per_yr": View("mm_per_yr", "mm/yr", (-100.0, 100.0), "rdbu_r", _mm,
                          "LOS velocity over every date, mm/yr, positive (red) towards the satellite"),
        "std_mm_per_yr": View("std_mm_per_yr", "mm/yr", (0.0, 20.0), "viridis", _mm,
                              "standard error of the velocity, mm/yr", variable="velocity_std"),
        "temporal_coherence": View("temporal_coherence", "1", (0.0, 1.0), "viridis", _value,
                                   "temporal coherence of the inversion, 0-1", variable="temporal_coherence"),
        "residual_mm": View("residual_mm", "mm", (0.0, 10.0), "viridis", _mm,
                            "RMS misfit of the inverted pairs, mm", variable="residual"),
        "connected": View("connected", "1", (0.0, 1.0), "gray", _value,
                          "1: the pairs connect every date; 0: they do not", variable="connected"),
    },
}
"""Per product, its views; the first is the default. Every registered product has one."""

assert set(VIEWS) == set(PRODUCTS), "every product needs a row in VIEWS"


def view_of(product: str, name: str | None) -> View:
    """The named view of ``product`` (its default if None); InputError listing the views."""
    views = VIEWS[product]
    if name is None:
        return next(iter(views.values()))
    if name not in views:
        raise InputError(f"{product} has no view {name!r}; views: {', '.join(views)}")
    return views[name]


@dataclass(frozen=True)
class Layer:
    """One burst's 2-D layer.

    An array (a product variant at one date or pair, or no date for a per-burst product such as
    velocity) on its product grid, shown through a view. The mosaic's zoom range uses layers of
    no dates whatever the product: there they describe the grid only.
    """

    array: ArdArray
    view: View
    grid: ProductGrid

    @property
    def burst_id(self) -> str:
        """The layer's burst ID."""
        return self.array.burst_id

    @property
    def variant(self) -> Variant:
        """The layer's product variant."""
        return self.array.variant

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the product grid."""
        return self.grid.shape

    @property
    def transform(self) -> Affine:
        """Affine of the product grid (pixel corners), m."""
        return Affine.from_gdal(*self.grid.transform())

    @property
    def label(self) -> str:
        """``<burst> <product> <dates> <view>`` (logs)."""
        when = "_".join(self.array.dates) or "all dates"
        return f"{self.burst_id} {self.variant.product} {when} {self.view.name}"
