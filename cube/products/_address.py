"""Where a product value lives: a variant of a product, and the address of one stored array.

- :class:`Variant`: a product with one set of options at one algorithm version (and, for a
  product with companion variables, which of its variables);
- :class:`ArdArray`: one burst × polarization × variant × date (or pair, or no date for a
  per-burst product): one 2-D array of the ARD store, with its path and its chunks' paths;
- :class:`Selection`: what a request or a job reads: arrays of one burst and a product-grid window.

No I/O and no numba here: the API, the job file, keep-up and the engine all pass these around.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from cube.format import iso
from cube.products._options import ProductOptions
from cube.products._registry import ProductSpec, VariableSpec, get_product

if TYPE_CHECKING:
    import numpy as np

    from cube.geometry import Window

CSLC_CHUNK = 512
"""Rows and columns of the fixed grid per chunk; a product chunk covers about that much ground."""
ALL_DATES = "all_dates"
"""The path segment of a per-burst (dateless) array: it covers every date of the burst."""
_KINDS = {"complex": "c", "float": "f", "int": "i", "uint": "u"}


@dataclass(frozen=True)
class Variant:
    """A product with one set of options at one algorithm version: what a chunk belongs to.

    ``variable``: which variable of the product's Dataset (None: the product's own, named like
    it); a product's companion variables (:attr:`ProductSpec.companions`) share its options.
    """

    product: str
    options: ProductOptions
    variable: str | None = None

    @classmethod
    def of(cls, product: str, options: ProductOptions | dict | None = None) -> Variant:
        """The variant of ``product`` with ``options`` (a model, a dict, or None = defaults)."""
        spec = get_product(product)
        if isinstance(options, dict):
            options = spec.options.model_validate(options)
        elif options is not None and not isinstance(options, spec.options):
            raise TypeError(f"{product}: options must be {spec.options.__name__}")
        return cls(product, options if options is not None else spec.options())

    @property
    def spec(self) -> ProductSpec:
        """The product's registry entry."""
        return get_product(self.product)

    def at(self, variable: str) -> Variant:
        """The same variant's variable ``variable`` (InputError if the product has none so named)."""
        self.spec.variable(variable)
        return Variant(self.product, self.options, None if variable == self.product else variable)

    @property
    def variables(self) -> list[Variant]:
        """The variant of each variable of the product's Dataset, the product's own first."""
        return [self.at(v.name) for v in self.spec.variables]

    @property
    def var(self) -> VariableSpec:
        """The variable's spec (name, dtype, units, long name, fill)."""
        return self.spec.variable(self.variable or self.product)

    @cached_property
    def key(self) -> str:
        """``<product>/v<version>-<digest>``: the variant (all its variables), provenance's name."""
        return f"{self.product}/v{self.spec.version}-{self.options.digest()}"

    @cached_property
    def folder(self) -> str:
        """The variable's folder under a burst group.

        The key, then ``/<variable>`` when the product has companion variables
        (``unwrapped/v2-…/components``).
        """
        return f"{self.key}/{self.var.name}" if self.spec.companions else self.key

    @property
    def looks(self) -> tuple[int, int]:
        """(rows, cols) of the fixed grid per product pixel."""
        return self.options.looks

    @cached_property
    def chunks(self) -> tuple[int, int]:
        """(rows, cols) of the product grid per chunk: about CSLC_CHUNK grid pixels each way."""
        ly, lx = self.options.looks
        return max(1, CSLC_CHUNK // ly), max(1, CSLC_CHUNK // lx)

    @property
    def dtype(self) -> np.dtype:
        """The variable's numpy dtype."""
        import numpy as np  # for arrays only: metadata needs `kind` alone

        return np.dtype(self.var.dtype)

    @property
    def kind(self) -> str:
        """The kind of the variable's dtype, as numpy spells it: 'c' complex, 'f' float, 'i'/'u' integer."""
        return _KINDS[self.var.dtype.rstrip("0123456789")]  # a name VariableSpec checked

    @property
    def fill_value(self) -> complex | float | int:
        """The value of pixels without data: NaN (NaN+NaNj complex), the variable's fill for integers."""
        if self.kind == "c":
            return complex(float("nan"), float("nan"))
        return int(self.var.fill) if self.kind in "iu" else float("nan")


@dataclass(frozen=True)
class ArdArray:
    """One stored product array: a burst ID, a polarization, a variant and its date (or pair).

    ``dates`` holds one date key, (reference, secondary) for a pair product, or nothing for a
    per-burst product (its array covers every date of the burst; path segment ``all_dates``).
    """

    burst_id: str
    polarization: str
    variant: Variant
    dates: tuple[str, ...]

    @classmethod
    def cslc(cls, burst_id: str, polarization: str, date: str) -> ArdArray:
        """The default CSLC of one date: every other product is computed from it."""
        return cls(burst_id, polarization, CSLC, (date,))

    @property
    def product(self) -> str:
        """The product name."""
        return self.variant.product

    @cached_property
    def path(self) -> str:
        """The array's folder relative to the ARD store root."""
        when = "_".join(self.dates) or ALL_DATES
        return f"{self.burst_id}/{self.polarization.lower()}/{self.variant.folder}/{when}"

    def chunk_path(self, i: int, j: int) -> str:
        """Chunk (i, j) relative to the ARD store root."""
        return f"{self.path}/c/{i}/{j}"

    def __str__(self) -> str:
        when = "_".join(self.dates) or ALL_DATES
        return f"{self.burst_id} {self.polarization} {self.variant.folder} {when}"


CSLC = Variant.of("cslc")
"""The CSLC every other product is computed from (default options)."""


def cslc_input(options: ProductOptions) -> Variant:
    """The CSLC variant a product with these options is computed from (its ``engine``)."""
    engine = getattr(options, "engine", "native")
    return CSLC if engine == "native" else Variant.of("cslc", {"engine": engine})


@dataclass(frozen=True)
class Selection:
    """What one request or one job product reads: arrays of one burst and variant, one window.

    ``arrays`` holds one :class:`ArdArray` per date (or pair), in time order (a per-burst
    product: one, ``date_sets == ((),)``); ``window`` is a window of the product grid (rows,
    cols after looks).
    """

    burst_id: str
    polarization: str
    variant: Variant
    date_sets: tuple[tuple[str, ...], ...]
    window: Window

    @property
    def arrays(self) -> list[ArdArray]:
        """One address per date (or pair)."""
        return [ArdArray(self.burst_id, self.polarization, self.variant, d) for d in self.date_sets]

    @property
    def pixels(self) -> int:
        """Product pixels of the window."""
        return (self.window[0].stop - self.window[0].start) * (self.window[1].stop - self.window[1].start)

    @property
    def window_bounds(self) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the window."""
        return self.window[0].start, self.window[0].stop, self.window[1].start, self.window[1].stop

    def at(self, variable: str) -> Selection:
        """The same selection of the variant's variable ``variable``."""
        return Selection(self.burst_id, self.polarization, self.variant.at(variable), self.date_sets,
                         self.window)

    def labels(self) -> list[dict[str, str]]:
        """Each date set as JSON fields.

        ``datetime`` or ``reference``/``secondary`` (RFC 3339); none for a per-burst product.
        """
        if self.variant.spec.dateless:
            return [{} for _ in self.date_sets]
        if self.variant.spec.pair:
            return [{"reference": iso(a), "secondary": iso(b)} for a, b in self.date_sets]
        return [{"datetime": iso(d)} for (d,) in self.date_sets]
